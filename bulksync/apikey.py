"""The API key: checked before it goes in the ``Authorization`` header, where a
character that no header can carry would fail the first request obscurely."""

from __future__ import annotations

import unicodedata

from bulksync.errors import ConfigError


def check_api_key(api_key: str) -> str:
    """The key without the spaces around it, or ``ConfigError`` if there is none or it has
    a character an HTTP header cannot carry (not ASCII, or a control character).

    The message says which character it is and what kind, never the key itself.
    """
    key = api_key.strip()
    if not key:
        raise ConfigError(
            "No NextStep API key. Give it with --api-key or the NEXTSTEP_API_KEY "
            "environment variable (or try the sandbox with --sandbox)."
        )
    for position, char in enumerate(key, 1):
        if char.isascii() and char.isprintable():
            continue
        raise ConfigError(
            f"The API key cannot be sent: its character {position} is {kind_of(char)}, "
            "which no HTTP header can carry. Copy the key from NextStep and paste it again "
            "(--api-key or NEXTSTEP_API_KEY)."
        )
    return key


def kind_of(char: str) -> str:
    """What ``char`` is, said without showing it: ``a tab``, ``a no-break space`` …"""
    if char in "\r\n":
        return "a line break"
    if char == "\t":
        return "a tab"
    if char == " ":
        return "a space"
    category = unicodedata.category(char)
    if category == "Cc":
        return "a control character"
    if category == "Cf":
        return "an invisible formatting character (such as a zero-width space)"
    if category in ("Zs", "Zl", "Zp"):
        return "a space that is not ASCII (such as a no-break space)"
    if not char.isascii():
        return "a letter or sign that is not ASCII (such as é, or a typographic quote or dash)"
    return "a printable ASCII character"

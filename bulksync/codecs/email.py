"""The ``email`` element: an email address, checked when edited."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import email_validator

from bulksync.codecs.base import CellError
from bulksync.codecs.text import TextCodec
from bulksync.model import JSON


@dataclass(frozen=True)
class EmailCodec(TextCodec):
    width: ClassVar[float] = 26
    prompt: ClassVar[str] = "An email address."

    def check(self, value: JSON, options: Sequence[str] = ()) -> tuple[JSON, str | None]:
        if value is None:
            return value, None
        text = str(value).strip()
        problem = _not_an_email(text)
        if problem is not None:
            raise CellError("not_an_email", f"{text!r} is not an email address: {problem}")
        return text, None


@functools.lru_cache(maxsize=4096)
def _not_an_email(text: str) -> str | None:
    """Why ``text`` is not an email address (email_validator's words), or None.

    The answer depends on the text alone, and a sheet often holds one address many
    times (a person's, in each of their runs): each distinct text is checked once.
    """
    try:
        email_validator.validate_email(text, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        return str(exc)
    return None

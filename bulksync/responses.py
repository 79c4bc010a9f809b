"""Reading NextStep's answers: error envelopes into exceptions, with the key redacted.

Every text a server sends may end up on a terminal or in a file (``journal.jsonl``,
``results.csv``, ``errors.csv``), and a server or proxy may echo the request's
``Authorization`` header in it, as it was or encoded (in a URL, in HTML, in JSON). So
server text passes ``redact`` here, where it becomes part of an exception, and
everything downstream is clean. Text quoted in part is redacted whole first, then cut
(``Answers.excerpt``): cut first, a key that runs past the cut would leave its start.
"""

from __future__ import annotations

import datetime as dt
import functools
import html.entities
import json
import math
import re
from email.utils import parsedate_to_datetime
from typing import Final

import httpx

from bulksync.errors import (
    ApiError,
    ApiValidationError,
    AuthError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    ResponseError,
    ServerError,
)

REDACTED: Final = "[redacted]"

# A bearer token runs to the next space, quote or closing bracket.
_BEARER: Final = re.compile(r"(?i)\b(bearer)(?:\s+|%20|\+)(?!\[redacted\])[^\s\"'<>,;)}\]]+")

ERROR_CLASSES: Final[dict[int, type[ApiError]]] = {
    400: ApiValidationError,
    401: AuthError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    422: ApiValidationError,
    429: RateLimitedError,
}


def _entity_names() -> dict[str, list[str]]:
    """The names an HTML page may give a character: "amp;", "sol;", and the old "amp"."""
    names: dict[str, list[str]] = {}
    for name, char in html.entities.html5.items():
        names.setdefault(char, []).append(name)
    return names


_ENTITIES: Final = _entity_names()


def redact(text: str, secret: str | None) -> str:
    """``text`` without ``secret`` (as it is, or percent-encoded, HTML-escaped or
    JSON-escaped, in any mix) and without any ``Bearer …`` token."""
    if secret:
        text = _echoes(secret).sub(REDACTED, text)
    return _BEARER.sub(rf"\1 {REDACTED}", text)


@functools.lru_cache(maxsize=4)
def _echoes(secret: str) -> re.Pattern[str]:
    """A pattern for ``secret`` with each character in any way a server may write it.

    Case is ignored: hex digits and entity names come in either case, and the key in
    another case is no less the key.
    """
    return re.compile("".join(_spellings(char) for char in secret), re.IGNORECASE)


def _spellings(char: str) -> str:
    code = ord(char)
    ways = {
        re.escape(char),
        "".join(f"%{byte:02x}" for byte in char.encode()),  # quote()
        f"&#0*{code};?",  # HTML, where the ";" may be left out
        f"&#x0*{code:x};?",
        *(re.escape(f"&{name}") for name in _ENTITIES.get(char, ())),
    }
    if code <= 0xFFFF:
        ways.add(rf"\\u{code:04x}")  # JSON
    if char in '"\\/':
        ways.add(re.escape(f"\\{char}"))  # JSON: \" \\ \/
    if char == " ":
        ways.add(r"\+")  # quote_plus()
    # Longest first: "&amp;" before "&amp", so that the ";" is not left behind.
    return "(?:" + "|".join(sorted(ways, key=len, reverse=True)) + ")"


def retry_after_seconds(raw: str, *, now: float) -> float | None:
    """Seconds a ``Retry-After`` value asks to wait, from ``now`` (a Unix time).

    Whole or decimal seconds (``inf`` is forever), or an HTTP date (a date gone by is 0).
    None for anything else: empty, garbage, negative, NaN.
    """
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (ValueError, TypeError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # "-0000": UTC, as every HTTP date is
            when = when.replace(tzinfo=dt.UTC)
        return max(when.timestamp() - now, 0.0)
    if math.isnan(seconds) or seconds < 0:
        return None
    return seconds


def span(seconds: float) -> str:
    """``45 s``, ``20 min``, ``3 h``, ``12 days``, ``more than 100 years``."""
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            if unit == "days" and seconds > 36_500 * size:
                return "more than 100 years"
            return f"{seconds / size:,.0f} {unit}"
    return f"{seconds:.0f} s"


def until(now: float, seconds: float) -> str:
    """The local time ``seconds`` after ``now``: ``14:05:00``, with the date if not soon."""
    try:
        when = dt.datetime.fromtimestamp(now + seconds).astimezone()
    except (OverflowError, OSError, ValueError):
        return "the end of time"
    return when.strftime("%H:%M:%S" if seconds < 12 * 3600 else "%Y-%m-%d %H:%M:%S %Z")


class Answers:
    """Turns one client's failed answers into exceptions; knows the key only to hide it."""

    def __init__(self, base_url: str, secret: str) -> None:
        self.base_url = base_url
        self._secret = secret

    def __repr__(self) -> str:
        return f"Answers({self.base_url!r})"

    def redact(self, text: str) -> str:
        return redact(text, self._secret)

    def excerpt(self, text: str, limit: int) -> str:
        """The start of ``text`` redacted, about ``limit`` characters long.

        Redacted whole, then cut: a key that runs past the cut is gone, not left in
        part. A ``[redacted]`` the cut would split is kept whole.
        """
        clean = self.redact(text)
        end = limit
        for start in range(max(limit - len(REDACTED) + 1, 0), limit):
            if clean.startswith(REDACTED, start):
                end = start + len(REDACTED)
                break
        return clean[:end]

    def url(self, response: httpx.Response, path: str) -> str:
        return self.redact(str(response.request.url) if response.request else path)

    def shape_error(self, method: str, path: str, what: str) -> ResponseError:
        return ResponseError(
            f"NextStep's answer to {method} /{path.split('?')[0]} has an unexpected shape: "
            f"{self.redact(what)}. Is {self.base_url} a NextStep API (check --base-url)?",
            method=method,
            url=self.redact(f"{self.base_url}/{path}"),
            status=200,
        )

    def not_json(self, response: httpx.Response, method: str, path: str) -> ResponseError:
        kind = response.headers.get("Content-Type", "no content type").split(";")[0]
        start = self.excerpt(response.text.strip().replace("\n", " "), 60)
        return ResponseError(
            f"NextStep's answer to {method} /{path} ({response.status_code}, "
            f"{self.redact(kind)}) is not JSON: it starts {start!r}. Is {self.base_url} a "
            "NextStep API (check --base-url)?",
            method=method,
            url=self.url(response, path),
            status=response.status_code,
        )

    def api_error(
        self, response: httpx.Response, method: str, path: str, *, rate_limited: str = ""
    ) -> ApiError | ResponseError:
        """The exception for an error answer; ``rate_limited`` is the text for a 429."""
        try:
            document = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self.not_json(response, method, path)
        error = document.get("error") if isinstance(document, dict) else None
        if not isinstance(error, dict):
            return self.shape_error(
                method, path, f'a {response.status_code} without an "error" object'
            )
        code = self.redact(str(error.get("code") or "error"))
        server_message = self.redact(str(error.get("message") or ""))
        status = response.status_code
        cls = ERROR_CLASSES.get(status, ServerError if status >= 500 else ApiError)
        where = f"{method} /{path}"
        if cls is AuthError:
            text = (
                f"NextStep refused the API key ({status} {code}: {server_message}). "
                "Check --api-key or the NEXTSTEP_API_KEY environment variable."
            )
        elif cls is ForbiddenError:
            text = (
                f"NextStep forbids {where} ({status} {code}: {server_message}). The key's "
                "subscription may have expired or its user may lack permission."
            )
        elif cls is RateLimitedError and rate_limited:
            text = rate_limited
        else:
            text = f"{where}: {status} {code}: {server_message}"
        return cls(
            text,
            status=status,
            code=code,
            server_message=server_message,
            method=method,
            url=self.url(response, path),
        )

"""NextStep's rules for element values, as the sandbox enforces them.

This is the emulated *server*. It deliberately shares no code with bulksync's own
codecs (``bulksync.codecs``): were both sides to use one validator, a bug in it would
pass every test. The messages follow the documented example::

    Invalid value for dropdown "Department". Must be one of: Engineering, Marketing, Sales
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from email_validator import EmailNotValidError, validate_email

WRITABLE_TYPES = frozenset(
    {
        "shortText",
        "longText",
        "email",
        "website",
        "number",
        "date",
        "checkbox",
        "dropdown",
        "multichoice",
    }
)
DISPLAY_ONLY_TYPES = frozenset({"text", "image", "video", "lineBreak"})

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_URL = re.compile(r"https?://[^\s/?#]+\.[^\s/?#]+([/?#]\S*)?\Z", re.IGNORECASE)


class RuleError(Exception):
    """A request breaks a rule; carries the HTTP status, error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def invalid(message: str) -> RuleError:
    return RuleError(400, "validation_error", message)


def empty_value(element_type: str) -> Any:
    """The value of an element nobody filled in (Part B)."""
    if element_type == "multichoice":
        return []
    if element_type == "checkbox":
        return False
    return None


def is_valid_email(value: str) -> bool:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _text(element: Mapping[str, Any], value: Any, prefix: str) -> Any:
    if not isinstance(value, str):
        raise invalid(f"{prefix} Must be a string")
    return value


def _email(element: Mapping[str, Any], value: Any, prefix: str) -> Any:
    if not isinstance(value, str) or not is_valid_email(value):
        raise invalid(f"{prefix} Must be a valid email address")
    return value


def _website(element: Mapping[str, Any], value: Any, prefix: str) -> Any:
    if not isinstance(value, str) or not _URL.match(value):
        raise invalid(f"{prefix} Must be a valid http or https URL")
    return value


def _number(element: Mapping[str, Any], value: Any, prefix: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid(f"{prefix} Must be a number")
    return value


def _date(element: Mapping[str, Any], value: Any, prefix: str) -> Any:
    if not isinstance(value, str) or not _DATE.match(value):
        raise invalid(f"{prefix} Must be an ISO 8601 date (YYYY-MM-DD)")
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise invalid(f"{prefix} Must be an ISO 8601 date (YYYY-MM-DD)") from None
    return value


def _checkbox(element: Mapping[str, Any], value: Any, prefix: str) -> Any:
    if not isinstance(value, bool):
        raise invalid(f"{prefix} Must be true or false")
    return value


def _options(element: Mapping[str, Any]) -> list[str]:
    return [str(o) for o in element.get("options") or ()]


def _dropdown(element: Mapping[str, Any], value: Any, prefix: str) -> Any:
    options = _options(element)
    if not isinstance(value, str) or value not in options:
        raise invalid(f"{prefix} Must be one of: {', '.join(options)}")
    return value


def _multichoice(element: Mapping[str, Any], value: Any, prefix: str) -> Any:
    options = _options(element)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(f"{prefix} Must be a list of options")
    wrong = [v for v in value if v not in options]
    if wrong:
        raise invalid(f"{prefix} Must be one of: {', '.join(options)}")
    return list(dict.fromkeys(value))


_CHECKS: Final[Mapping[str, Callable[[Mapping[str, Any], Any, str], Any]]] = {
    "shortText": _text,
    "longText": _text,
    "email": _email,
    "website": _website,
    "number": _number,
    "date": _date,
    "checkbox": _checkbox,
    "dropdown": _dropdown,
    "multichoice": _multichoice,
}
"""One check per writable type: the value to store, or ``RuleError`` (with ``prefix``)."""


def check_value(element: Mapping[str, Any], value: Any) -> Any:
    """The value to store for a write of ``value`` to ``element``; ``RuleError`` if invalid."""
    kind = element["type"]
    label = element.get("label") or element["id"]
    if element.get("display_only") or kind in DISPLAY_ONLY_TYPES:
        raise invalid(f'Element "{label}" is display-only ({kind}) and cannot be written')
    if value is None:
        return empty_value(kind)
    check = _CHECKS.get(kind)
    if check is None:
        raise invalid(f'Element "{label}" has type {kind!r}, which cannot be written')
    return check(element, value, f'Invalid value for {kind} "{label}".')

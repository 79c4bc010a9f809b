"""One codec per field type: how a value is written to a cell, read back, and compared.

A *field* is one editable value of a task: a writable form element (``shortText`` …
``multichoice``), the task's completion, or its assignee. Adding an element type is
adding one codec here and registering it in ``CODECS``.

Values on the API side are JSON (``None``, str, int, float, bool, list of str). On the
sheet side a cell holds ``None``, str, int, float, bool or ``datetime.date``. Reading a
cell gives the API value, or raises ``CellError`` with a code and a message that says
how to fix it.

Empty values: text, number, date, dropdown and assignee are ``None`` when empty (an
empty text ``""`` is the same empty value); multichoice is ``[]``; checkbox and
completion are ``False``. ``equal`` compares with each type's own equality.
"""

from __future__ import annotations

import datetime as dt
import decimal
import difflib
import math
import re
import unicodedata
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

import email_validator

from bulksync.model import JSON

CellValue = str | int | float | bool | dt.date | None

COMPLETION: Final = "completed"
ASSIGNEE: Final = "assignee"
MULTI_SEPARATOR: Final = "; "

DISPLAY_ONLY_TYPES: Final = frozenset({"text", "image", "video", "lineBreak"})


class UnholdableValue(str):
    """Text that a cell shows but that would not read back as the value it stands for."""

    __slots__ = ()


MAX_CELL_TEXT: Final = 32_767
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def unholdable(value: CellValue, *, xml: bool) -> str | None:
    """Why a spreadsheet cell cannot hold ``value`` exactly, or None.

    ``xml`` is for xlsx, whose XML cannot carry control characters; a CSV can, but a
    spreadsheet app that opens it still keeps 32,767 characters and 15 digits.
    """
    if isinstance(value, UnholdableValue):
        return "options that cannot be told apart in one cell"
    if isinstance(value, str):
        if len(value) > MAX_CELL_TEXT:
            return (
                f"{len(value):,} characters, more than a spreadsheet cell holds ({MAX_CELL_TEXT:,})"
            )
        if xml and _XML_ILLEGAL.search(value):
            return "control characters that a spreadsheet cannot hold"
    elif (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and float(f"{value:.15g}") != value
    ):
        return "more than the 15 significant digits a spreadsheet keeps"
    return None


def nfc(text: str) -> str:
    """``text`` in Unicode normal form NFC (the form most apps save)."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


class CellError(ValueError):
    """A cell's content is not a valid value of its field."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_TRUE = frozenset({"true", "yes", "1", "y"})
_FALSE = frozenset({"false", "no", "0", "n", ""})


def _text_of(raw: CellValue) -> str:
    """A cell as the text a person sees (a number typed into a text cell: ``123``)."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "TRUE" if raw else "FALSE"
    if isinstance(raw, float) and raw.is_integer() and abs(raw) < 2**53:
        return str(int(raw))
    if isinstance(raw, dt.datetime):
        return raw.isoformat(sep=" ")
    if isinstance(raw, dt.date):
        return raw.isoformat()
    return str(raw)


@dataclass(frozen=True)
class Codec:
    """The base codec: text values."""

    kind: str
    label: ClassVar[str] = "text"

    def empty(self) -> JSON:
        return None

    def canonical(self, value: JSON) -> JSON:
        """The one spelling of a value that ``equal`` compares.

        Text is compared in Unicode normal form NFC: an app that saves "é" as e + ◌́
        (NFD) shows the same text, and that is no edit.
        """
        if value is None or value == "":
            return None
        return nfc(str(value).replace("\r\n", "\n").replace("\r", "\n"))

    def equal(self, a: JSON, b: JSON) -> bool:
        return bool(self.canonical(a) == self.canonical(b))

    def holds(self, value: JSON) -> bool:
        """Whether ``value`` is a value of this type as the API gives it (empty included).

        NextStep validates what it is sent, but a value stored before a field changed
        type, or by another client, may not be one; such a value compares unequal to
        every valid one, and an edit over it is refused.
        """
        return value is None or isinstance(value, str)

    def to_cell(self, value: JSON, options: Sequence[str] = ()) -> CellValue:
        """What goes into an xlsx cell."""
        return None if value is None else str(value)

    def to_text(self, value: JSON, options: Sequence[str] = ()) -> str:
        """What goes into a CSV cell (before formula escaping)."""
        cell = self.to_cell(value, options)
        return _text_of(cell)

    def from_cell(self, raw: CellValue, options: Sequence[str] = ()) -> JSON:
        """The API value of a cell; ``CellError`` if it is not one."""
        text = _text_of(raw)
        return text if text else None

    def read_note(self, raw: CellValue) -> str | None:
        """A warning about how an edited cell was read (digits of another script), or None."""
        return None

    def check(self, value: JSON, options: Sequence[str] = ()) -> tuple[JSON, str | None]:
        """An edited value checked against the field's rules.

        Returns the value to write (normalised where that is safe) and a warning about
        the normalisation, or raises ``CellError``. Only edited values are checked: a
        value that stays as exported is never written, so it never blocks an import.
        """
        return value, None


@dataclass(frozen=True)
class NumberCodec(Codec):
    label: ClassVar[str] = "number"

    def canonical(self, value: JSON) -> JSON:
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return repr(value)  # not a number: equal to nothing but itself
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() and abs(number) < 2**53 else number

    def holds(self, value: JSON) -> bool:
        return value is None or (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )

    def to_cell(self, value: JSON, options: Sequence[str] = ()) -> CellValue:
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        number = self.canonical(value)
        # Not a number (stored so by another client): shown as the text it is.
        return number if isinstance(number, int | float) else str(value)

    def to_text(self, value: JSON, options: Sequence[str] = ()) -> str:
        if value is None:
            return ""
        number = self.canonical(value)
        if isinstance(number, float):
            return repr(number)
        return str(number) if isinstance(number, int) else str(value)

    def from_cell(self, raw: CellValue, options: Sequence[str] = ()) -> JSON:
        """The number a cell holds, exactly as NextStep would store it, or ``CellError``.

        NextStep keeps a number as JSON, a 64-bit float: a number typed as text that
        no float holds exactly (past 2**53, 20 digits, 1e-400) is refused rather than
        rounded. Digits of other scripts (``１２３``, ``١٢٣``) are read; ``read_note``
        warns about them.
        """
        if raw is None or raw == "":
            return None
        if isinstance(raw, (bool, dt.date)):
            raise CellError("not_a_number", f"{_text_of(raw)!r} is not a number; type a number")
        if isinstance(raw, int | float):
            number = float(raw)
            exact = isinstance(raw, float) or int(number) == raw
        else:
            text = _ascii_number(raw.strip())
            if not _NUMBER.fullmatch(text):
                raise CellError(
                    "not_a_number",
                    f"{raw!r} is not a number; type digits with a '.' for decimals, "
                    "no thousands separators or units",
                )
            number = float(text)
            exact = math.isfinite(number) and decimal.Decimal(text) == decimal.Decimal(repr(number))
        if not exact or not math.isfinite(number):
            raise CellError("inexact_number", _inexact(_text_of(raw).strip(), number))
        return int(number) if number.is_integer() and abs(number) < 2**53 else number

    def read_note(self, raw: CellValue) -> str | None:
        if not isinstance(raw, str):
            return None
        text = raw.strip()
        ascii_text = _ascii_number(text)
        if ascii_text == text or not _NUMBER.fullmatch(ascii_text):
            return None
        return (
            f"{text!r} has digits or signs of another script, read as {ascii_text}; type "
            "ASCII digits 0-9 to be sure the number is the one you mean"
        )


_NUMBER: Final = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)
_SIGNS: Final = str.maketrans({"\u2212": "-", "\u066b": ".", "\u066c": ","})
"""Minus sign, Arabic decimal and thousands separators (NFKC keeps them)."""


def _ascii_number(text: str) -> str:
    """``text`` with digits of any script as 0-9, full-width forms and signs as ASCII."""
    text = unicodedata.normalize("NFKC", text).translate(_SIGNS)
    if text.isascii():
        return text
    return "".join(
        str(unicodedata.decimal(c))
        if not c.isascii() and unicodedata.decimal(c, None) is not None
        else c
        for c in text
    )


def _inexact(text: str, number: float) -> str:
    if not math.isfinite(number):
        became = "beyond the largest number NextStep can store (about 1.8e308)"
    else:
        shown = str(int(number)) if number.is_integer() else repr(number)
        became = f"not a number NextStep can store exactly: it would become {shown}"
    return (
        f"{text!r} is {became}. NextStep keeps numbers as 64-bit floating point (about 15 "
        "significant digits; whole numbers up to 9,007,199,254,740,992). Round it, or keep "
        "long identifiers such as account numbers in a text field"
    )


@dataclass(frozen=True)
class DateCodec(Codec):
    label: ClassVar[str] = "date"

    def canonical(self, value: JSON) -> JSON:
        if value is None or value == "":
            return None
        return str(value)[:10]

    def to_cell(self, value: JSON, options: Sequence[str] = ()) -> CellValue:
        if value is None:
            return None
        try:
            day = dt.date.fromisoformat(str(value)[:10])
        except ValueError:
            return str(value)
        # Spreadsheets count days from 1900; an earlier date stays ISO text.
        return day if day.year >= 1900 else day.isoformat()

    def to_text(self, value: JSON, options: Sequence[str] = ()) -> str:
        return "" if value is None else str(value)[:10]

    def from_cell(self, raw: CellValue, options: Sequence[str] = ()) -> JSON:
        if raw is None or raw == "":
            return None
        if isinstance(raw, dt.datetime):
            if raw.time() != dt.time():
                raise CellError("not_a_date", f"{_text_of(raw)} has a time; give only a date")
            return raw.date().isoformat()
        if isinstance(raw, dt.date):
            return raw.isoformat()
        text = _text_of(raw).strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            try:
                return dt.date.fromisoformat(text).isoformat()
            except ValueError:
                raise CellError("not_a_date", f"{text!r} is not a date in the calendar") from None
        raise CellError(
            "not_a_date",
            f"{text!r} is not an ISO date; write it as YYYY-MM-DD (for example 2026-03-04)",
        )


@dataclass(frozen=True)
class BooleanCodec(Codec):
    label: ClassVar[str] = "TRUE/FALSE"

    def empty(self) -> JSON:
        return False

    def canonical(self, value: JSON) -> JSON:
        return bool(value)

    def holds(self, value: JSON) -> bool:
        return value is None or isinstance(value, bool)

    def to_cell(self, value: JSON, options: Sequence[str] = ()) -> CellValue:
        return bool(value)

    def to_text(self, value: JSON, options: Sequence[str] = ()) -> str:
        return "TRUE" if value else "FALSE"

    def from_cell(self, raw: CellValue, options: Sequence[str] = ()) -> JSON:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int | float) and raw in (0, 1):
            return bool(raw)
        text = _text_of(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise CellError("not_a_boolean", f"{_text_of(raw)!r} is not TRUE or FALSE")


@dataclass(frozen=True)
class EmailCodec(Codec):
    label: ClassVar[str] = "email address"

    def check(self, value: JSON, options: Sequence[str] = ()) -> tuple[JSON, str | None]:
        if value is None:
            return value, None
        text = str(value).strip()
        try:
            email_validator.validate_email(text, check_deliverability=False)
        except email_validator.EmailNotValidError as exc:
            raise CellError("not_an_email", f"{text!r} is not an email address: {exc}") from None
        return text, None


@dataclass(frozen=True)
class WebsiteCodec(Codec):
    label: ClassVar[str] = "http(s) address"

    def check(self, value: JSON, options: Sequence[str] = ()) -> tuple[JSON, str | None]:
        if value is None:
            return value, None
        text = str(value).strip()
        parts = urllib.parse.urlsplit(text)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname or " " in text:
            raise CellError(
                "not_a_url",
                f"{text!r} is not a web address; write it in full, for example "
                "https://example.com/page",
            )
        return text, None


@dataclass(frozen=True)
class AssigneeCodec(Codec):
    label: ClassVar[str] = "user id or email"

    def check(self, value: JSON, options: Sequence[str] = ()) -> tuple[JSON, str | None]:
        if value is None:
            return value, None
        text = str(value).strip()
        if "@" in text:
            return EmailCodec("email").check(text, options)
        if not _USER_ID.fullmatch(text):
            raise CellError(
                "not_an_assignee",
                f"{text!r} is neither a user id (such as usr_ana) nor an email address; "
                "leave the cell empty to unassign",
            )
        return text, None


_USER_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")


def _closest(text: str, options: Sequence[str]) -> str:
    lowered = {o.lower(): o for o in options}
    close = difflib.get_close_matches(text.lower(), list(lowered), n=1, cutoff=0.6)
    if close:
        return f"; did you mean {lowered[close[0]]!r}?"
    shown = ", ".join(options[:8]) + (" …" if len(options) > 8 else "")
    return f"; the options are: {shown}"


def _as_option(item: str, options: Sequence[str]) -> tuple[str, bool]:
    """The option an item names, and whether only its case differed; CellError if none.

    Compared in NFC: the option is returned as NextStep spells it.
    """
    text = nfc(item.strip())
    same = [o for o in options if nfc(o) == text]
    if same:
        return same[0], False
    by_case = [o for o in options if nfc(o).lower() == text.lower()]
    if len(by_case) == 1:
        return by_case[0], True
    raise CellError("not_an_option", f"{text!r} is not one of the options{_closest(text, options)}")


@dataclass(frozen=True)
class DropdownCodec(Codec):
    label: ClassVar[str] = "one of the options"

    def check(self, value: JSON, options: Sequence[str] = ()) -> tuple[JSON, str | None]:
        if value is None or not options:
            return value, None
        option, by_case = _as_option(str(value), options)
        if by_case:
            return option, f"{str(value).strip()!r} taken as the option {option!r}"
        return option, None


@dataclass(frozen=True)
class MultichoiceCodec(Codec):
    label: ClassVar[str] = "options separated by ;"

    def empty(self) -> JSON:
        return []

    def canonical(self, value: JSON) -> JSON:
        if not value:
            return frozenset()
        if not isinstance(value, list):
            return repr(value)  # not a list: equal to nothing but itself
        return frozenset(nfc(str(item)) for item in value)

    def holds(self, value: JSON) -> bool:
        return value is None or (
            isinstance(value, list) and all(isinstance(item, str) for item in value)
        )

    def to_cell(self, value: JSON, options: Sequence[str] = ()) -> CellValue:
        """Items joined by "; ", or by line breaks where options hold "; " themselves.

        An encoding that would not read back as the same items is refused: the cell is
        then exported locked (see ``sheets.xlsx.unholdable``).
        """
        if not value:
            return None
        for separator in (MULTI_SEPARATOR, "\n"):
            text = separator.join(value)
            items, unknown = split_multichoice(text, options or value)
            if not unknown and items == list(dict.fromkeys(value)):
                return text
        return UnholdableValue(MULTI_SEPARATOR.join(value))

    def from_cell(self, raw: CellValue, options: Sequence[str] = ()) -> JSON:
        text = _text_of(raw)
        items, unknown = split_multichoice(text, options)
        if unknown:
            return items + unknown  # validation names the unknown items
        return items

    def check(self, value: JSON, options: Sequence[str] = ()) -> tuple[JSON, str | None]:
        if not value or not options or not isinstance(value, list):
            return value, None
        chosen: list[str] = []
        renamed: list[str] = []
        wrong: list[str] = []
        for item in value:
            try:
                option, by_case = _as_option(str(item), options)
            except CellError as exc:
                wrong.append(exc.message)
                continue
            if option not in chosen:
                chosen.append(option)
                if by_case:
                    renamed.append(f"{str(item).strip()!r} as {option!r}")
        if wrong:
            raise CellError("not_an_option", "; ".join(wrong))
        return chosen, ("taken " + ", ".join(renamed)) if renamed else None


def split_multichoice(text: str, options: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split a multichoice cell into known options and unknown parts.

    Items are separated by ``;``, ``,`` or line breaks, but an option that itself holds
    a separator ("Keyboard, US layout") is matched whole: at each place the longest
    option that fits wins. Duplicates are dropped; the order is the cell's.
    """
    # Matched in NFC; each item is returned as the option is spelled.
    spelled = {nfc(o): o for o in options}
    by_length = sorted(spelled, key=len, reverse=True)
    text = nfc(text)
    separators = ";,\n\r"
    items: list[str] = []
    unknown: list[str] = []
    pos, end = 0, len(text)
    while pos < end:
        while pos < end and (text[pos] in separators or text[pos].isspace()):
            pos += 1
        if pos >= end:
            break
        match = None
        for option in by_length:
            if option and text.startswith(option, pos):
                after = pos + len(option)
                rest = text[after:].lstrip(" \t")
                if not rest or rest[0] in separators:
                    match = option
                    break
        if match is not None:
            if spelled[match] not in items:
                items.append(spelled[match])
            pos += len(match)
            continue
        stop = pos
        while stop < end and text[stop] not in separators:
            stop += 1
        part = text[pos:stop].strip()
        if part and part not in unknown:
            unknown.append(part)
        pos = stop
    return items, unknown


CODECS: Final[dict[str, Codec]] = {
    "shortText": Codec("shortText"),
    "longText": Codec("longText"),
    "email": EmailCodec("email"),
    "website": WebsiteCodec("website"),
    "number": NumberCodec("number"),
    "date": DateCodec("date"),
    "checkbox": BooleanCodec("checkbox"),
    "dropdown": DropdownCodec("dropdown"),
    "multichoice": MultichoiceCodec("multichoice"),
    COMPLETION: BooleanCodec(COMPLETION),
    ASSIGNEE: AssigneeCodec(ASSIGNEE),
}


def codec_for(kind: str) -> Codec:
    """The codec of a field type; unknown types are treated as text."""
    return CODECS.get(kind) or Codec(kind)


def is_writable(kind: str) -> bool:
    """An element type bulksync can write (display-only and unknown types are not)."""
    return kind in CODECS and kind not in (COMPLETION, ASSIGNEE)

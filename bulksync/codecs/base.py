"""The base codec, and what every codec shares: cell values, cell errors, NFC, cell limits."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import ftfy

from bulksync.model import JSON

CellValue = str | int | float | bool | dt.date | None

ListSource = Callable[[tuple[str, ...]], str]
"""Puts a list of options where a spreadsheet's list validation can point, and returns
that range (``='_lists'!$A$1:$A$3``); the same options give the same range."""


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


def garbled(shown: str, exported: str) -> bool:
    """Whether ``shown`` is ``exported`` after a program read its UTF-8 as another
    character set (Latin-1, Windows-1252 …) and saved it again: ``Müller`` as
    ``MÃ¼ller``. ``ftfy`` knows the garblings; bytes that Windows-1252 has no
    character for (``Á`` is C3 81) it cannot undo, so the ways programs read those are
    also made and compared (``_misread``)."""
    if shown == exported or exported.isascii() or shown.isascii():
        return False
    if nfc(ftfy.fix_encoding(shown)) == nfc(exported):
        return True
    return nfc(shown) in _misread(exported.encode("utf-8"))


def lost_characters(shown: str, exported: str) -> bool:
    """Whether ``shown`` is ``exported`` saved in a legacy character set that cannot hold
    some of its characters, each written as ``?`` (``渡辺 直美`` as ``?? ??``)."""
    if "?" not in shown or shown == exported or exported.isascii():
        return False
    return any(
        shown == exported.encode(charset, "replace").decode(charset)
        for charset in ("cp1252", "latin-1", "ascii")
    )


def _misread(data: bytes) -> set[str]:
    """``data`` as programs that take UTF-8 for Windows-1252 read it: bytes that
    character set has no character for become U+FFFD, stay C1 controls (Latin-1), or,
    in LibreOffice, private-use characters U+F181 … U+F19D."""

    def one(byte: int) -> str:
        try:
            return bytes([byte]).decode("cp1252")
        except UnicodeDecodeError:
            return chr(0xF100 + byte)

    return {
        data.decode("cp1252", "replace"),
        data.decode("latin-1"),
        "".join(one(b) for b in data),
    }


def nfc(text: str) -> str:
    """``text`` in Unicode normal form NFC (the form most apps save)."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


class CellError(ValueError):
    """A cell's content is not a valid value of its field."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def text_of(raw: CellValue) -> str:
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
    """The base codec: a value shown and read as plain text.

    An element type bulksync does not know gets this codec (and is not writable); each
    known type has a subclass that says, besides how a value is written, read, compared
    and checked, how its cells look: the export's Type and Allowed values columns
    (``label``, ``hint``), column ``width``, xlsx cell format and data validation, and
    whether a CSV keeps its cells as text.
    """

    kind: str

    width: ClassVar[float] = 18
    """The width of a runs-layout column of this type, in characters."""
    hint_text: ClassVar[str] = ""
    """The Allowed values cell of a field with no options."""
    prompt: ClassVar[str] = "Text."
    """The input message an xlsx cell of this type shows when selected."""
    csv_text: ClassVar[bool] = False
    """A CSV cell of this type is text: one that a spreadsheet would read as a number,
    a date or an error value (``007``, ``2026-01-31``, ``#N/A``) keeps an apostrophe."""

    @property
    def label(self) -> str:
        """The Type column: the element type as NextStep names it."""
        return self.kind

    def hint(self, options: Sequence[str] = ()) -> str:
        """The Allowed values column: the options, or what the type takes."""
        return "; ".join(options) if options else self.hint_text

    def xlsx_format(self) -> dict[str, Any]:
        """xlsxwriter format properties of a value cell of this type."""
        return {}

    def xlsx_validation(self, options: tuple[str, ...], lists: ListSource) -> dict[str, Any]:
        """The xlsx data validation of a value cell (``validate`` and what it needs)."""
        return {"validate": "any"}

    def empty(self) -> JSON:
        return None

    def is_cleared(self, value: JSON) -> bool:
        """Whether ``value`` leaves a required field unfilled (``False`` fills a checkbox)."""
        return self.equal(value, self.empty())

    def canonical(self, value: JSON) -> JSON:
        """The one spelling of a value that ``equal`` compares.

        Text is compared in Unicode normal form NFC: an app that saves "é" as e + ◌́
        (NFD) shows the same text, and that is no edit.
        """
        if value is None or value == "":
            return None
        return nfc(str(value).replace("\r\n", "\n").replace("\r", "\n"))

    def equal(self, a: JSON, b: JSON) -> bool:
        if type(a) is type(b) and type(a) in _SCALARS and a == b:
            return True  # one value (most comparisons): its spellings are alike too
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
        return text_of(cell)

    def from_cell(self, raw: CellValue, options: Sequence[str] = ()) -> JSON:
        """The API value of a cell; ``CellError`` if it is not one."""
        text = text_of(raw)
        return text if text else None

    def converted(self, raw: CellValue, base: JSON, *, number_cell: bool) -> str | None:
        """Why an edited cell (an xlsx number cell, ``number_cell``, or a CSV cell as an
        app saved it) holds what an app made of what was typed, not what was typed; or
        None. Text-like types say when digits became a number (``0296`` → 296)."""
        return None

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


_SCALARS: Final = frozenset({str, int, float, bool, type(None)})
"""Types whose equal values spell alike: a list's items may not (``[False] == [0]``)."""

"""The ``date`` element: an ISO date (``YYYY-MM-DD``), a date cell in a spreadsheet."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from bulksync.codecs.base import CellError, CellValue, Codec, ListSource, text_of
from bulksync.model import JSON

_MIDNIGHT: Final = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2})[ T]00:00(?::00(?:\.0+)?)?$")
_YEAR_FIRST: Final = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})")
"""A date with the year first: ISO (``2026-12-31``), or as Gnumeric writes a CSV
(``2026/12/31``), or with dots (``2026.1.5``). Year first, it cannot be read two ways;
``03/04/2026`` can (March or April), and stays an error."""


@dataclass(frozen=True)
class DateCodec(Codec):
    width: ClassVar[float] = 12
    hint_text: ClassVar[str] = "YYYY-MM-DD"
    prompt: ClassVar[str] = "A date (YYYY-MM-DD)."

    def xlsx_format(self) -> dict[str, Any]:
        return {"num_format": "yyyy-mm-dd"}

    def xlsx_validation(self, options: tuple[str, ...], lists: ListSource) -> dict[str, Any]:
        return {
            "validate": "date",
            "criteria": "between",
            "minimum": dt.date(1900, 1, 1),
            "maximum": dt.date(9999, 12, 31),
        }

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

    def read_note(self, raw: CellValue) -> str | None:
        text = raw.strip() if isinstance(raw, str) else ""
        if _YEAR_FIRST.fullmatch(text) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return f"{text!r} was read as the date {self.from_cell(text)}"
        return None

    def from_cell(self, raw: CellValue, options: Sequence[str] = ()) -> JSON:
        if raw is None or raw == "":
            return None
        if isinstance(raw, dt.datetime):
            if raw.time() != dt.time():
                raise CellError("not_a_date", f"{text_of(raw)} has a time; give only a date")
            return raw.date().isoformat()
        if isinstance(raw, dt.date):
            return raw.isoformat()
        # A date written out as text at midnight (pandas' read_excel(dtype=str) writes
        # ``2026-12-31 00:00:00``): the same date, with no time to lose.
        text = _MIDNIGHT.sub(r"\1", text_of(raw).strip())
        year_first = _YEAR_FIRST.fullmatch(text)
        if year_first:
            try:
                return dt.date(*map(int, year_first.group(1, 3, 4))).isoformat()
            except ValueError:
                raise CellError(
                    "not_a_date",
                    f"{text!r} is not a date in the calendar (that month has fewer days, or "
                    "there is no such month); check the day and the month, YYYY-MM-DD",
                ) from None
        raise CellError(
            "not_a_date",
            f"{text!r} is not an ISO date; write it as YYYY-MM-DD (for example 2026-03-04)",
        )

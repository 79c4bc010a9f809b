"""How a cell of an xlsx export is written: its format, and its value typed, on the data
sheet and on its hidden mirror (``xlsx``'s building blocks, each made once per kind of
cell rather than per cell)."""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from typing import Any, Final

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from bulksync.codecs import CellValue, codec_for
from bulksync.sheets.layout import Takes

GREY: Final = "#EDEDED"
_FORMULA_LEAD = ("=", "+", "-", "@")


class Formats:
    """The workbook's cell formats, each added to the workbook once."""

    def __init__(self, book: xlsxwriter.Workbook) -> None:
        self.book = book
        self._cache: dict[tuple[tuple[str, Any], ...], Format] = {}
        self._values: dict[tuple[str | None, bool, bool, bool, bool], tuple[Format, Format]] = {}

    def get(self, **props: Any) -> Format:
        key = tuple(sorted(props.items()))
        if key not in self._cache:
            self._cache[key] = self.book.add_format(props)
        return self._cache[key]

    def header(self) -> Format:
        return self.get(bold=True, bg_color="#D9E1F2", border=1, text_wrap=True, valign="top")

    @cached_property
    def context(self) -> Format:
        return self.get(bg_color=GREY, locked=True, valign="top")

    @cached_property
    def na(self) -> Format:
        """A cell of a field the run does not have."""
        return self.get(bg_color=GREY, italic=True, font_color="#808080", locked=True)

    @cached_property
    def context_date(self) -> Format:
        return self.get(bg_color=GREY, locked=True, valign="top", num_format="yyyy-mm-dd")

    def new(self, takes: Takes) -> Format:
        """An empty, editable cell of a row for a run to start (also a column's format,
        for rows appended below)."""
        return self.value(takes.kind, None, locked=False)

    def value(self, kind: str | None, value: CellValue, *, locked: bool) -> Format:
        return self.value_and_base(kind, value, locked=locked)[0]

    def value_and_base(
        self, kind: str | None, value: CellValue, *, locked: bool
    ) -> tuple[Format, Format]:
        """A value cell's format, and its copy's on the mirror (the same, locked): one
        look-up for both, cached by what tells formats apart."""
        if isinstance(value, str):
            key = (kind, False, value.startswith(_FORMULA_LEAD), "\n" in value, locked)
        else:
            key = (kind, isinstance(value, dt.date), False, False, locked)
        found = self._values.get(key)
        if found is None:
            found = self._values[key] = (
                self._value(*key[:-1], locked=locked),
                self._value(*key[:-1], locked=True),
            )
        return found

    def _value(
        self, kind: str | None, is_date: bool, formula_lead: bool, lines: bool, *, locked: bool
    ) -> Format:
        props: dict[str, Any] = {"locked": locked, "valign": "top"}
        if lines:
            props["text_wrap"] = True  # every line shows, not the first only
        if locked:
            props["bg_color"] = GREY
            props["font_color"] = "#595959"
        if is_date:
            props["num_format"] = "yyyy-mm-dd"
        if formula_lead:
            props["quote_prefix"] = True  # stays text when a person edits the cell
        if kind is not None:
            props |= codec_for(kind).xlsx_format()
        return self.get(**props)


class Both:
    """The data sheet and its mirror: a cell written to both, typed once.

    The writing methods of the two sheets are looked up once per type of value, not
    once per cell."""

    def __init__(self, data: Worksheet, mirror: Worksheet) -> None:
        self.data, self.mirror = data, mirror
        self._by_type = {
            kind: (getattr(data, method), getattr(mirror, method))
            for kind, method in _METHOD_OF_TYPE.items()
        }

    def write(self, row: int, col: int, value: CellValue, fmt: Format, mirror_fmt: Format) -> None:
        """A cell, typed, on the data sheet and (the same value) on its mirror."""
        both = self._by_type.get(type(value))
        if both is None or value == "":
            method, value = _typed(value)
            both = (getattr(self.data, method), getattr(self.mirror, method))
        both[0](row, col, value, fmt)
        both[1](row, col, value, mirror_fmt)


_METHOD_OF_TYPE: Final = {
    str: "write_string",
    bool: "write_boolean",
    int: "write_number",
    float: "write_number",
}
"""The worksheet method that writes a value, by its exact type (a look-up, where a chain
of isinstance tests is slower for every cell; other types take the chain)."""


def _typed(value: CellValue) -> tuple[str, Any]:
    """The worksheet method that writes ``value``, and the value as it is written."""
    if value is None or value == "":
        return "write_blank", None
    method = _METHOD_OF_TYPE.get(type(value))
    if method is not None:
        return method, value
    if isinstance(value, bool):
        return "write_boolean", value
    if isinstance(value, int | float):
        return "write_number", value
    if isinstance(value, dt.date):
        return "write_datetime", dt.datetime.combine(value, dt.time())
    return "write_string", value

"""Writing an export to xlsx (xlsxwriter) and reading it back (python-calamine).

The workbook: a visible "About" sheet first; the data sheet ("Fields" or "Runs"); and
hidden sheets: ``_lists`` (dropdown options, so lists longer than Excel's 255-character
inline limit work), ``_base`` (the exported values at the same addresses, for the
conditional formatting that marks edited cells) and ``_bulksync`` (metadata and the
base snapshot). Written in xlsxwriter's constant-memory mode, row by row.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Final

import xlsxwriter
import xlsxwriter.exceptions
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_cell_to_rowcol, xl_col_to_name, xl_rowcol_to_cell
from xlsxwriter.worksheet import Worksheet

from bulksync.codecs import CellValue, codec_for, unholdable
from bulksync.errors import SheetError
from bulksync.sheets.layout import Cell, Grid, Layout
from bulksync.sheets.meta import BaseWriter, ExportMeta, chunks, locked_as_unholdable
from bulksync.snapshot import FieldValue

MAX_ROWS: Final = 1_048_576
META_SHEET: Final = "_bulksync"
LISTS_SHEET: Final = "_lists"
BASE_SHEET: Final = "_base"
_ILLEGAL_SHOWN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_FORMULA_LEAD = ("=", "+", "-", "@")

GREY: Final = "#EDEDED"
EDITED: Final = "#FFE699"

Validations = dict[tuple[str, tuple[str, ...], bool], dict[int, list[list[int]]]]
"""Value cells to validate alike, by (kind, options, required), then column: row spans."""


def header_rows(layout: Layout) -> int:
    """Rows above the data: tasks has one; runs has groups, hidden keys, labels."""
    return 1 if layout is Layout.TASKS else 3


class _Formats:
    def __init__(self, book: xlsxwriter.Workbook) -> None:
        self.book = book
        self._cache: dict[tuple[tuple[str, Any], ...], Format] = {}
        self._values: dict[tuple[str | None, bool, bool, bool], Format] = {}

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

    def value(self, kind: str | None, value: CellValue, *, locked: bool) -> Format:
        is_date = isinstance(value, dt.date)
        formula_lead = isinstance(value, str) and value.startswith(_FORMULA_LEAD)
        key = (kind, is_date, formula_lead, locked)
        found = self._values.get(key)
        if found is None:
            found = self._values[key] = self._value(kind, is_date, formula_lead, locked=locked)
        return found

    def _value(
        self, kind: str | None, is_date: bool, formula_lead: bool, *, locked: bool
    ) -> Format:
        props: dict[str, Any] = {"locked": locked, "valign": "top"}
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


def _write(sheet: Worksheet, row: int, col: int, value: CellValue, fmt: Format) -> None:
    _write_both(sheet, None, row, col, value, fmt, fmt)


def _write_both(
    data: Worksheet,
    mirror: Worksheet | None,
    row: int,
    col: int,
    value: CellValue,
    fmt: Format,
    mirror_fmt: Format,
) -> None:
    """A cell, typed, on the data sheet and (the same value) on its mirror."""
    written: CellValue | dt.datetime
    if value is None or value == "":
        method, written = "write_blank", None
    elif isinstance(value, bool):
        method, written = "write_boolean", value
    elif isinstance(value, int | float):
        method, written = "write_number", value
    elif isinstance(value, dt.date):
        method, written = "write_datetime", dt.datetime.combine(value, dt.time())
    else:
        method, written = "write_string", value
    getattr(data, method)(row, col, written, fmt)
    if mirror is not None:
        getattr(mirror, method)(row, col, written, mirror_fmt)


def write_xlsx(
    grid: Grid, meta: ExportMeta, path: Path, about: Sequence[str], *, max_rows: int = MAX_ROWS
) -> int:
    """Write the grid; return the number of values written."""
    first_data_row = header_rows(grid.layout)
    if grid.row_count + first_data_row > max_rows:
        raise SheetError(
            f"The {grid.layout.value} layout needs {grid.row_count:,} rows, more than an xlsx "
            f"worksheet holds ({max_rows - 1:,}). Export with --layout runs, or to a .csv file."
        )
    book = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    formats = _Formats(book)
    about_sheet = book.add_worksheet("About")
    data = book.add_worksheet(grid.sheet)
    lists = book.add_worksheet(LISTS_SHEET)
    mirror = book.add_worksheet(BASE_SHEET)
    meta_sheet = _MetaSheet(book.add_worksheet(META_SHEET), meta)
    for hidden in (lists, mirror, meta_sheet.sheet):
        hidden.hide()
    about_sheet.activate()
    _write_about(about_sheet, formats, about)

    for col, column in enumerate(grid.columns):
        data.set_column(col, col, column.width, None, {"hidden": column.hidden})
    _write_headers(grid, data, formats)

    base = BaseWriter(grid.context, meta_sheet.emit)
    rows = _Rows(data, mirror, formats, base, first_data_row)
    for row_cells in grid.rows:
        rows.write(row_cells)
    if rows.last >= first_data_row:
        data.autofilter(first_data_row - 1, 0, rows.last, len(grid.columns) - 1)
        _add_validations(data, lists, rows.validations)
        _highlight_edits(data, formats, sorted(rows.value_cols), first_data_row, rows.last)
    data.freeze_panes(first_data_row, 1 if grid.layout is Layout.RUNS else 0)
    data.protect(
        "",
        {
            "autofilter": True,
            "sort": True,
            "format_columns": True,
            "format_rows": True,
            "select_locked_cells": True,
            "select_unlocked_cells": True,
        },
    )
    meta_sheet.finish(base.shared_json())  # finishes the last run's document first
    try:
        book.close()
    except xlsxwriter.exceptions.FileCreateError as exc:
        # xlsxwriter's wrapper of the OSError (a full disk, no permission): the OSError.
        cause = exc.__context__
        raise cause if isinstance(cause, OSError) else OSError(str(exc)) from exc
    return len(base)


class _MetaSheet:
    """The hidden metadata sheet: the metadata, a row per run's base document, the shared
    part last."""

    def __init__(self, sheet: Worksheet, meta: ExportMeta) -> None:
        self.sheet = sheet
        self.row = 0
        sheet.write_string(0, 0, "meta")
        sheet.write_string(0, 1, json.dumps(meta.as_dict(), ensure_ascii=False))

    def emit(self, run_id: str, document: str) -> None:
        self.row += 1
        self.sheet.write_string(self.row, 0, "run")
        self.sheet.write_string(self.row, 1, run_id)
        for i, piece in enumerate(chunks(document), start=2):
            self.sheet.write_string(self.row, i, piece)

    def finish(self, shared: str) -> None:
        self.sheet.write_string(self.row + 1, 0, "shared")
        for i, piece in enumerate(chunks(shared), start=1):
            self.sheet.write_string(self.row + 1, i, piece)


class _Rows:
    """Writes the data rows, with their mirror, and notes which cells to validate."""

    def __init__(
        self,
        data: Worksheet,
        mirror: Worksheet,
        formats: _Formats,
        base: BaseWriter,
        first_data_row: int,
    ) -> None:
        self.data, self.mirror, self.formats, self.base = data, mirror, formats, base
        self.last = first_data_row - 1
        """The last row written."""
        self.validations: Validations = defaultdict(lambda: defaultdict(list))
        self.value_cols: set[int] = set()

    def write(self, cells: Sequence[Cell]) -> None:
        self.last += 1
        row = self.last
        for col, cell in enumerate(cells):
            if cell.field is None:
                # The mirror holds context and id cells too: import compares whole rows
                # with it, and only rows that differ are read cell by cell.
                _write_context(self.data, self.mirror, row, col, cell, self.formats)
                continue
            self.value_cols.add(col)
            field = _write_value(self.data, self.mirror, row, col, cell, self.formats)
            self.base.add(field)
            if field.spec.locked is None:
                spec = field.spec
                spans = self.validations[(spec.kind, spec.options, spec.required)][col]
                if spans and spans[-1][1] == row - 1:
                    spans[-1][1] = row
                else:
                    spans.append([row, row])


def _highlight_edits(
    data: Worksheet, formats: _Formats, value_cols: Sequence[int], first_row: int, last_row: int
) -> None:
    """Value cells that differ from the hidden copy of the exported ones turn yellow."""
    for col in value_cols:
        top = xl_rowcol_to_cell(first_row, col)
        data.conditional_format(
            first_row,
            col,
            last_row,
            col,
            {
                "type": "formula",
                "criteria": f"=NOT(EXACT({top},'{BASE_SHEET}'!{top}))",
                "format": formats.get(bg_color=EDITED, bold=True),
            },
        )


def _write_about(sheet: Worksheet, formats: _Formats, lines: Sequence[str]) -> None:
    sheet.set_column(0, 0, 110)
    title = formats.get(bold=True, font_size=14)
    body = formats.get(text_wrap=True, valign="top")
    for row, line in enumerate(lines):
        sheet.write_string(row, 0, line, title if row == 0 else body)


def _write_headers(grid: Grid, data: Worksheet, formats: _Formats) -> None:
    header = formats.header()
    if grid.layout is Layout.TASKS:
        for col, column in enumerate(grid.columns):
            data.write_string(0, col, column.title, header)
        return
    # Runs: task titles over their columns, hidden column keys, then field labels.
    group_fmt = formats.get(
        bold=True, bg_color="#B4C6E7", border=1, align="center", valign="vcenter", text_wrap=True
    )
    spans: list[tuple[int, int, str]] = []
    for col, column in enumerate(grid.columns):
        if spans and column.group and spans[-1][2] == column.group and spans[-1][1] == col - 1:
            spans[-1] = (spans[-1][0], col, column.group)
        else:
            spans.append((col, col, column.group))
    data.set_row(0, 30)
    for first, last, title in spans:
        if first == last:
            data.write_string(0, first, title, group_fmt)
        else:
            data.merge_range(0, first, 0, last, title, group_fmt)
    data.set_row(1, None, None, {"hidden": True})
    for col, column in enumerate(grid.columns):
        data.write_string(1, col, column.key, formats.context)
    data.set_row(2, 30)
    for col, column in enumerate(grid.columns):
        data.write_string(2, col, column.title, header)


def _write_context(
    data: Worksheet, mirror: Worksheet, row: int, col: int, cell: Cell, fmt: _Formats
) -> None:
    if cell.na:
        data.write_string(
            row, col, "n/a", fmt.get(bg_color=GREY, italic=True, font_color="#808080", locked=True)
        )
        # The same "n/a" in the mirror, or the highlighting marks it as an edit.
        mirror.write_string(row, col, "n/a")
        return
    _write_both(data, mirror, row, col, cell.value, fmt.context, fmt.context)


def _write_value(
    data: Worksheet, mirror: Worksheet, row: int, col: int, cell: Cell, formats: _Formats
) -> FieldValue:
    field = cell.field
    assert field is not None
    value = cell.value
    why = unholdable(value, xml=True)
    if why is not None:
        # Never truncated silently: locked, marked, and left as it is in NextStep.
        field = locked_as_unholdable(field, why)
        shown = _ILLEGAL_SHOWN.sub("\N{REPLACEMENT CHARACTER}", str(value))[:200] + " …"
        data.write_string(row, col, shown, formats.value(field.spec.kind, shown, locked=True))
        data.write_comment(
            row,
            col,
            f"Not editable here: this value has {why}. bulksync "
            "leaves it as it is in NextStep; edit it there.",
        )
        mirror.write_string(row, col, shown)
        return field
    kind = field.spec.kind
    locked = field.spec.locked is not None
    _write_both(
        data,
        mirror,
        row,
        col,
        value,
        formats.value(kind, value, locked=locked),
        formats.value(kind, value, locked=True),
    )
    return field


def _ranges(spans: list[list[int]], col: int) -> list[str]:
    """Spans of consecutive rows of one column as A1 ranges."""
    out: list[str] = []
    for start, end in spans:
        a, b = xl_rowcol_to_cell(start, col), xl_rowcol_to_cell(end, col)
        out.append(a if a == b else f"{a}:{b}")
    return out


def _add_validations(data: Worksheet, lists: Worksheet, groups: Validations) -> None:
    """One data validation per group of cells alike, its rule as their codec says."""
    list_ranges: dict[tuple[str, ...], str] = {}

    def listed(options: tuple[str, ...]) -> str:
        """The options, once, in a column of the hidden lists sheet; their range."""
        if options not in list_ranges:
            list_col = len(list_ranges)
            for i, option in enumerate(options):
                lists.write_string(i, list_col, option)
            letter = xl_col_to_name(list_col)
            list_ranges[options] = f"='{LISTS_SHEET}'!${letter}$1:${letter}${len(options)}"
        return list_ranges[options]

    for (kind, options, required), by_col in groups.items():
        ranges = [r for col, spans in sorted(by_col.items()) for r in _ranges(spans, col)]
        codec = codec_for(kind)
        rule: dict[str, Any] = {
            "input_title": f"{kind}{' · required' if required else ''}"[:32],
            "input_message": codec.prompt[:255],
            "error_type": "warning",
        }
        rule |= codec.xlsx_validation(options, listed)
        # Excel stores one sqref per rule; keep each under its size limit.
        for i in range(0, len(ranges), 2000):
            part = ranges[i : i + 2000]
            first = part[0].split(":")[0]
            row, col = xl_cell_to_rowcol(first)
            data.data_validation(row, col, row, col, rule | {"multi_range": " ".join(part)})

"""Writing an export to xlsx (xlsxwriter) and reading it back (python-calamine).

The workbook: a visible "About" sheet first; the data sheet ("Fields" or "Runs"); and
hidden, protected sheets, named so that a person who sees them (Gnumeric shows hidden
sheets) leaves them alone: ``_lists (do not edit)`` (dropdown options, so lists longer
than Excel's 255-character inline limit work), ``_base (do not edit)`` (the exported
rows at the same addresses, for the conditional formatting that marks edited cells)
and ``_bulksync (do not edit)`` (metadata and the base snapshot). Written in
xlsxwriter's constant-memory mode, row by row.

The data sheet is not protected unless asked (``protect``): LibreOffice and Excel
refuse to sort a protected sheet whose range holds locked cells. Read-only cells are
grey and say so when selected; import refuses a change of one, naming the cell.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import xlsxwriter
import xlsxwriter.exceptions
from xlsxwriter.worksheet import Worksheet

from bulksync.codecs import unholdable
from bulksync.errors import SheetError
from bulksync.sheets.layout import NA, ROW_KEY, Cell, Grid, Layout, Takes
from bulksync.sheets.meta import (
    UNHOLDABLE,
    BaseWriter,
    ExportMeta,
    chunks,
    locked_as_unholdable,
)
from bulksync.sheets.xlsx_cells import GREY as GREY
from bulksync.sheets.xlsx_cells import Both, Formats
from bulksync.sheets.xlsx_rules import (
    APPENDED_ROWS,
    EDITED,
    Spans,
    Validations,
    add_read_only,
    add_span,
    add_validations,
    highlight_edits,
    new_spans,
)
from bulksync.sheets.xlsx_rules import BASE_SHEET as BASE_SHEET
from bulksync.sheets.xlsx_rules import LISTS_SHEET as LISTS_SHEET
from bulksync.sheets.xlsx_rules import MAX_ROWS as MAX_ROWS
from bulksync.snapshot import FieldSpec, FieldValue

META_SHEET: Final = "_bulksync (do not edit)"
OLD_META_SHEET: Final = "_bulksync"
"""The metadata sheet's name up to sheet format 3: found, so that such a file is refused
with "export again" rather than called no bulksync export."""
_ILLEGAL_SHOWN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

MAX_LINES: Final = 8
"""A row grows to show this many lines of its tallest multi-line value at most."""
LINE_HEIGHT: Final = 15


def header_rows(layout: Layout) -> int:
    """Rows above the data: tasks has one; runs has groups, hidden keys, labels."""
    return 1 if layout is Layout.TASKS else 3


def write_xlsx(
    grid: Grid,
    meta: ExportMeta,
    path: Path,
    about: Sequence[str],
    *,
    max_rows: int = MAX_ROWS,
    protect: bool = False,
) -> int:
    """Write the grid; return the number of values written.

    ``protect`` locks the data sheet's read-only cells (sorting is then refused).
    """
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
    formats = Formats(book)
    about_sheet = book.add_worksheet("About")
    data = book.add_worksheet(grid.sheet)
    lists = book.add_worksheet(LISTS_SHEET)
    mirror = book.add_worksheet(BASE_SHEET)
    meta_sheet = _MetaSheet(book.add_worksheet(META_SHEET), meta)
    for hidden in (lists, mirror, meta_sheet.sheet):
        hidden.hide()
        hidden.protect()  # nobody sorts these; a person who unhides one cannot change it
    about_sheet.activate()
    _write_about(about_sheet, formats, about)

    columns = (*grid.columns, ROW_KEY)
    key_col = len(grid.columns)
    launch = grid.launch or (None,) * len(grid.columns)
    for col, column in enumerate(columns):
        takes = launch[col] if col < key_col else None
        # A row appended below the last takes a run to start: editable, formatted so.
        fmt = formats.new(takes) if takes else None
        data.set_column(col, col, column.width, fmt, {"hidden": column.hidden})
    _write_headers(grid, data, formats)

    base = BaseWriter(grid.context, meta_sheet.emit)
    rows = _Rows(data, mirror, formats, base, first_data_row)
    for row_cells in grid.rows:
        rows.write(row_cells)
    last_run = rows.last
    for _ in range(grid.new_rows):
        rows.write_new(grid)
    rows.launch_rules(grid, last_run + 1, min(rows.last + APPENDED_ROWS, max_rows - 1))
    add_validations(data, lists, rows.validations)
    if rows.last >= first_data_row:
        # The filter range holds the hidden id and key columns: a sort moves them along.
        data.autofilter(first_data_row - 1, 0, rows.last, key_col)
        add_read_only(data, rows.read_only, grid, first_data_row, last_run)
        edited = formats.get(bg_color=EDITED, bold=True)
        highlight_edits(data, edited, sorted(rows.value_cols), key_col, first_data_row, rows.last)
        if rows.last > last_run:
            # A new row's title, due date and starter: typed ones turn yellow too.
            highlight_edits(data, edited, rows.new_context_cols, key_col, last_run + 1, rows.last)
    data.freeze_panes(first_data_row, _frozen_columns(grid.layout))
    _print_setup(data, grid.layout, first_data_row)
    if protect:
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
        formats: Formats,
        base: BaseWriter,
        first_data_row: int,
    ) -> None:
        self.data, self.mirror, self.formats, self.base = data, mirror, formats, base
        self.both = Both(data, mirror)
        self.last = first_data_row - 1
        """The last row written."""
        self.validations: Validations = defaultdict(new_spans)
        self._alike: dict[tuple[str, tuple[str, ...], bool], Spans] = {}
        self.read_only: dict[str, Spans] = defaultdict(new_spans)
        """Read-only value cells by why they are (their input message)."""
        self.value_cols: set[int] = set()
        self.new_context_cols: list[int] = []
        """Context columns that a row for a run to start fills (title, due date …)."""

    def _next(self, width: int) -> int:
        """Start the next row with its key: the row's number, which stays with it when
        the rows are sorted, and by which the highlighting finds its exported copy on
        the _base sheet."""
        self.last += 1
        row = self.last
        self.data.write_number(row, width, row + 1, self.formats.context)
        self.mirror.write_number(row, width, row + 1)
        return row

    def write(self, cells: Sequence[Cell]) -> None:
        lines = max((c.value.count("\n") + 1 for c in cells if isinstance(c.value, str)), default=1)
        if lines > 1:  # set before the row is written (constant-memory mode)
            self.data.set_row(self.last + 1, min(lines, MAX_LINES) * LINE_HEIGHT)
        row = self._next(len(cells))
        for col, cell in enumerate(cells):
            if cell.field is None:
                # The mirror holds context and id cells too: import compares whole rows
                # with it, and only rows that differ are read cell by cell.
                _write_context(self.both, row, col, cell, self.formats)
                continue
            self.value_cols.add(col)
            field = _write_value(self.both, row, col, cell, self.formats)
            self.base.add(field)
            spec = field.spec
            if spec.locked is None:
                add_span(self._validated_alike(spec), col, row)
            elif not spec.locked.startswith(UNHOLDABLE):  # those have a comment, and stay
                add_span(self.read_only[spec.locked], col, row)

    def _validated_alike(self, spec: FieldSpec) -> Spans:
        """The cells validated as a cell of this field is, found by a plain tuple (making
        a ``Takes`` for every cell is slower)."""
        alike = (spec.kind, spec.options, spec.required)
        found = self._alike.get(alike)
        if found is None:
            found = self._alike[alike] = self.validations[Takes(*alike)]
        return found

    def write_new(self, grid: Grid) -> None:
        """An empty row for a run to start: editable where a run started from the
        template takes a value, grey elsewhere (n/a in a field the template no longer
        has). Its mirror row is as empty, so that a row left empty reads as exported."""
        row = self._next(len(grid.columns))
        for col, (column, takes) in enumerate(zip(grid.columns, grid.launch, strict=True)):
            if takes is not None:
                self.data.write_blank(row, col, None, self.formats.new(takes))
            elif column.kind is not None:
                _write_context(self.both, row, col, NA, self.formats)
            else:
                self.data.write_blank(row, col, None, self.formats.context)

    def launch_rules(self, grid: Grid, first: int, last: int) -> None:
        """The validation of the rows for runs to start, ``first`` to ``last`` (the new
        rows, and the rows a person may append below them)."""
        for col, (column, takes) in enumerate(zip(grid.columns, grid.launch, strict=False)):
            if takes is None or last < first:
                continue
            add_span(self.validations[takes], col, first, last)
            if first <= self.last:
                if column.kind is None:
                    self.new_context_cols.append(col)
                else:
                    self.value_cols.add(col)


def _frozen_columns(layout: Layout) -> int:
    """Columns that stay in view: the run (runs); run, section, task and field (tasks)."""
    return 1 if layout is Layout.RUNS else 4


ABOUT_WIDTH: Final = 110
"""The About sheet's column, in characters."""


def _print_setup(data: Worksheet, layout: Layout, first_data_row: int) -> None:
    """A printed data sheet: landscape, its header rows on every page, and what a row is
    about kept in view (the tasks layout fits its few columns to the page's width; the
    runs layout, wide by nature, repeats the run's title column on each page)."""
    data.set_landscape()
    data.repeat_rows(0, first_data_row - 1)
    if layout is Layout.TASKS:
        data.fit_to_pages(1, 0)
    else:
        data.repeat_columns(0, 0)


def _write_about(sheet: Worksheet, formats: Formats, lines: Sequence[str]) -> None:
    sheet.set_column(0, 0, ABOUT_WIDTH)
    sheet.fit_to_pages(1, 0)  # printed, a line is not cut at the page's edge
    title = formats.get(bold=True, font_size=14)
    body = formats.get(text_wrap=True, valign="top")
    for row, line in enumerate(lines):
        if row == 0:
            sheet.write_string(row, 0, line, title)
            continue
        # Rows are as tall as their wrapped lines: an app that does not fit the height
        # to wrapped text on opening (LibreOffice) would cut the line at the edge.
        wrapped = -(-len(line) // int(ABOUT_WIDTH * 0.9)) or 1
        if wrapped > 1:
            sheet.set_row(row, wrapped * LINE_HEIGHT)
        sheet.write_string(row, 0, line, body)


def _write_headers(grid: Grid, data: Worksheet, formats: Formats) -> None:
    header = formats.header()
    key_col = len(grid.columns)
    if grid.layout is Layout.TASKS:
        for col, column in enumerate((*grid.columns, ROW_KEY)):
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
    for col, column in enumerate((*grid.columns, ROW_KEY)):
        data.write_string(1, col, column.key, formats.context)
    data.set_row(2, 30)
    for col, column in enumerate(grid.columns):
        data.write_string(2, col, column.title, header)
    data.write_string(2, key_col, ROW_KEY.title, header)


def _write_context(both: Both, row: int, col: int, cell: Cell, fmt: Formats) -> None:
    if cell.na:
        both.data.write_string(row, col, "n/a", fmt.na)
        # The same "n/a" in the mirror, or the highlighting marks it as an edit.
        both.mirror.write_string(row, col, "n/a")
        return
    context = fmt.context_date if isinstance(cell.value, dt.date) else fmt.context
    both.write(row, col, cell.value, context, context)


def _write_value(both: Both, row: int, col: int, cell: Cell, formats: Formats) -> FieldValue:
    field = cell.field
    assert field is not None
    value = cell.value
    why = unholdable(value, xml=True)
    if why is not None:
        # Never truncated silently: locked, marked, and left as it is in NextStep.
        field = locked_as_unholdable(field, why)
        shown = _ILLEGAL_SHOWN.sub("\N{REPLACEMENT CHARACTER}", str(value))[:200] + " …"
        both.data.write_string(row, col, shown, formats.value(field.spec.kind, shown, locked=True))
        both.data.write_comment(
            row,
            col,
            f"Not editable here: this value has {why}. bulksync "
            "leaves it as it is in NextStep; edit it there.",
        )
        both.mirror.write_string(row, col, shown)
        return field
    spec = field.spec
    fmt, mirror_fmt = formats.value_and_base(spec.kind, value, locked=spec.locked is not None)
    both.write(row, col, value, fmt, mirror_fmt)
    return field

"""The rules of an xlsx data sheet: data validation, read-only input messages, and the
conditional formats that mark edited cells.

Each is written once for many cells: xlsxwriter keeps every rule in memory until the
file is closed, so cells alike share one rule over a list of ranges.
"""

from __future__ import annotations

import itertools
from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

from xlsxwriter.format import Format
from xlsxwriter.utility import xl_cell_to_rowcol, xl_col_to_name, xl_rowcol_to_cell
from xlsxwriter.worksheet import Worksheet

from bulksync.codecs import ListSource, codec_for
from bulksync.sheets.layout import Grid, Takes

MAX_ROWS: Final = 1_048_576
LISTS_SHEET: Final = "_lists (do not edit)"
BASE_SHEET: Final = "_base (do not edit)"

Spans = dict[int, "array[int]"]
"""Cells by column: spans of consecutive rows, each two numbers (first and last row) of
an array: the tasks layout has a span per value, and 300,000 lists of two would hold
more memory than every other part of the export."""
Validations = dict[Takes, Spans]
"""Cells to validate alike, by what they take (kind, options, required …), then column:
row spans."""

READ_ONLY: Final = "bulksync refuses a change here at import, naming the cell."
EDITED: Final = "#FFE699"
"""The fill of an edited cell."""


APPENDED_ROWS: Final = 200
"""Rows below the last written row whose cells get the validation of a row for a run to
start, so that a row a person appends at the bottom has the same dropdowns and checks."""
EMAIL_CHECK: Final = 'ISNUMBER(FIND("@",{cell}))'
"""The ``email`` check of a cell (``Takes.check``): it has an @ in it."""


def new_spans() -> Spans:
    """Spans to ``add_span`` to, column by column."""
    return defaultdict(lambda: array("l"))


def add_span(spans: Spans, col: int, row: int, last: int | None = None) -> None:
    """Add a cell (or the rows ``row`` to ``last``) to its column's spans (rows come in
    order)."""
    last = row if last is None else last
    found = spans[col]
    if found and found[-1] == row - 1:
        found[-1] = last
    else:
        found.append(row)
        found.append(last)


def highlight_edits(
    data: Worksheet,
    edited: Format,
    value_cols: Sequence[int],
    key_col: int,
    first_row: int,
    last_row: int,
) -> None:
    """Value cells that differ from their exported copy on the hidden _base sheet turn yellow.

    The copy is found by the row's hidden key (its row number at export), not by the
    cell's address, so the marks stay right after a sort: ``INDEX`` of one column at
    one row, constant time in LibreOffice and Excel alike, where a ``MATCH`` of the ids
    would search the ids of every row for every cell shown. Both sides are compared as
    text (``&""``): LibreOffice 7.4's print renderer aborts on a condition that
    compares two boolean cells (``A100<>B100`` over two FALSE cells), so no rule
    compares cells as they are. A row without a key (one a person added) is not marked.
    """
    key = xl_rowcol_to_cell(first_row, key_col, col_abs=True)
    for col in value_cols:
        top = xl_rowcol_to_cell(first_row, col)
        letter = xl_col_to_name(col)
        exported = f"INDEX('{BASE_SHEET}'!${letter}$1:${letter}${MAX_ROWS},{key})"
        data.conditional_format(
            first_row,
            col,
            last_row,
            col,
            {
                "type": "formula",
                "criteria": f'=AND(ISNUMBER({key}),NOT(EXACT({top}&"",{exported}&"")))',
                "format": edited,
            },
        )


def _ranges(spans: Spans) -> Iterator[str]:
    """Spans of consecutive rows as A1 ranges, column by column, made as they are taken."""
    for col, found in sorted(spans.items()):
        for i in range(0, len(found), 2):
            a, b = xl_rowcol_to_cell(found[i], col), xl_rowcol_to_cell(found[i + 1], col)
            yield a if a == b else f"{a}:{b}"


def add_read_only(
    data: Worksheet, read_only: dict[str, Spans], grid: Grid, first_row: int, last_row: int
) -> None:
    """An input message on each read-only cell: grey says little, and an unprotected
    sheet lets a person type there (import then refuses the change, naming the cell).

    The context columns' message covers the runs' rows, ``first_row`` to ``last_row``;
    the rows for runs to start below them have rules of their own."""
    context = [
        col
        for col, column in enumerate(grid.columns)
        if column.kind is None and not column.hidden and column.key not in ("value",)
    ]
    context_group = (
        "context: what the export showed",
        [f"{xl_rowcol_to_cell(first_row, c)}:{xl_rowcol_to_cell(last_row, c)}" for c in context],
    )
    groups: list[tuple[str, Iterable[str]]] = [context_group]
    groups += [(why, _ranges(by_col)) for why, by_col in read_only.items()]
    if last_row < first_row:
        groups = groups[1:]  # no runs: no context cells
    for why, ranges in groups:
        rule: dict[str, Any] = {
            "validate": "any",
            "input_title": "read-only",
            "input_message": f"read-only: {why}; {READ_ONLY}"[:255],
        }
        _validate(data, ranges, rule)


def _validate(data: Worksheet, ranges: Iterable[str], rule: dict[str, Any]) -> None:
    """One rule over many ranges; Excel stores one sqref per rule, kept under its limit."""
    taken = iter(ranges)
    while part := list(itertools.islice(taken, 2000)):
        row, col = xl_cell_to_rowcol(part[0].split(":")[0])
        data.data_validation(row, col, row, col, rule | {"multi_range": " ".join(part)})


def add_validations(data: Worksheet, lists: Worksheet, groups: Validations) -> None:
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

    for takes, by_col in groups.items():
        ranges = _ranges(by_col)
        top = next(ranges, None)
        if top is not None:
            rule = _rule(takes, top.split(":")[0], listed)
            _validate(data, itertools.chain([top], ranges), rule)


def _rule(takes: Takes, top: str, listed: ListSource) -> dict[str, Any]:
    """The data validation of cells that take ``takes``; ``top``, the first cell (a
    custom formula is written for it, and moves with each cell)."""
    kind, options, required = takes.kind, takes.options, takes.required
    codec = codec_for(kind)
    rule: dict[str, Any] = {
        "input_title": (takes.title or f"{kind}{' · required' if required else ''}")[:32],
        "input_message": (takes.prompt or codec.prompt)[:255],
        "error_type": "warning",
    }
    rule |= codec.xlsx_validation(options, listed)
    if takes.check == "email":
        rule |= {
            "validate": "custom",
            "value": "=" + EMAIL_CHECK.format(cell=top),
            "error_title": (takes.title or "Email")[:32],
            "error_message": "Write the email address of a member of the NextStep team "
            "(name@example.com).",
        }
    return rule

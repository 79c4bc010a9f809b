"""Reading a bulksync xlsx back with python-calamine (a fast Rust reader)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import python_calamine

from bulksync.errors import SheetError
from bulksync.fields import CellValue
from bulksync.sheets.layout import Layout
from bulksync.sheets.meta import ExportMeta, read_base
from bulksync.sheets.reading import Sheet, run_cells, task_cells
from bulksync.sheets.xlsx import META_SHEET, header_rows
from bulksync.snapshot import FieldKey, FieldValue

Base = Mapping[FieldKey, FieldValue]


def read_xlsx(path: Path) -> Sheet:
    where = str(path)
    try:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
    except (python_calamine.CalamineError, OSError, ValueError) as exc:
        raise SheetError(f"{where} cannot be read as an xlsx workbook: {exc}") from None
    names = book.sheet_names
    if META_SHEET not in names:
        raise SheetError(
            f"{where} is not a bulksync export (it has no hidden {META_SHEET} sheet). "
            "Export the runs with `bulksync export` and edit that file."
        )
    meta_rows = book.get_sheet_by_name(META_SHEET).to_python(skip_empty_area=False)
    meta_raw = next((r[1] for r in meta_rows if r and r[0] == "meta"), None)
    try:
        meta = ExportMeta.from_dict(json.loads(str(meta_raw)), where)
    except (TypeError, ValueError):
        raise SheetError(f"{where} has damaged bulksync metadata; export again.") from None
    base = read_base("".join(str(r[1]) for r in meta_rows if r and r[0] == "base"), where)
    if meta.sheet not in names:
        raise SheetError(f"{where} has no sheet named {meta.sheet!r}; was it renamed?")
    rows = book.get_sheet_by_name(meta.sheet).to_python(skip_empty_area=False)
    layout = Layout(meta.layout)
    if layout is Layout.TASKS:
        return _tasks(where, meta, base, rows)
    return _runs(where, meta, base, rows)


def _at(row: Sequence[Any], col: int) -> CellValue:
    """calamine gives '' for an empty cell; bulksync says None."""
    if col >= len(row) or row[col] == "":
        return None
    return row[col]  # type: ignore[no-any-return]


def _tasks(where: str, meta: ExportMeta, base: Base, rows: Sequence[Sequence[Any]]) -> Sheet:
    if not rows:
        raise SheetError(f"{where}: the {meta.sheet} sheet is empty.")
    header = [str(h) for h in rows[0]]
    cells, problems = task_cells(header, rows[1:], first_row=2, prefix=meta.sheet, cell_at=_at)
    return Sheet(where, meta, base, tuple(cells), tuple(problems))


def _runs(where: str, meta: ExportMeta, base: Base, rows: Sequence[Sequence[Any]]) -> Sheet:
    first = header_rows(Layout.RUNS)
    if len(rows) < first:
        raise SheetError(f"{where}: the {meta.sheet} sheet lost its header rows.")
    keys = [str(k) for k in rows[1]]
    if "run_id" not in keys:
        raise SheetError(f"{where}: the {meta.sheet} sheet lost its run_id column.")
    cells = run_cells(
        rows[first:], keys=keys, base=base, first_row=first + 1, prefix=meta.sheet, cell_at=_at
    )
    return Sheet(where, meta, base, tuple(cells))

"""What a sheet holds once read: its metadata, base snapshot and cells by field."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bulksync.errors import SheetError
from bulksync.fields import CellError, CellValue, codec_for
from bulksync.model import JSON
from bulksync.sheets.layout import TASK_ID_COLUMNS
from bulksync.sheets.meta import UNHOLDABLE, ExportMeta
from bulksync.snapshot import FieldKey, FieldValue


@dataclass(frozen=True, slots=True)
class SheetCell:
    """One value cell as the file holds it, with where it is."""

    key: FieldKey
    ref: str
    """Where the cell is, as a person finds it: ``Fields!H14`` or ``file.csv!H14``."""
    raw: CellValue


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A row whose ids cannot be used (edited, missing, unknown)."""

    ref: str
    code: str
    message: str


@dataclass(frozen=True)
class Sheet:
    """A bulksync sheet as read from a file."""

    path: str
    meta: ExportMeta
    base: Mapping[FieldKey, FieldValue]
    cells: tuple[SheetCell, ...]
    row_problems: tuple[RowProblem, ...] = field(default=())

    def decode(self) -> tuple[dict[FieldKey, JSON], list[tuple[SheetCell, CellError]]]:
        """Every cell's API value by field, and the cells that hold no valid value.

        A field that is locked (completed run, skipped task, a value no cell could hold)
        reads as its base value: what the sheet shows there is not an edit.
        """
        values: dict[FieldKey, JSON] = {}
        errors: list[tuple[SheetCell, CellError]] = []
        for cell in self.cells:
            base = self.base.get(cell.key)
            if base is None:
                continue
            if base.spec.locked and base.spec.locked.startswith(UNHOLDABLE):
                values[cell.key] = base.value
                continue
            try:
                values[cell.key] = codec_for(base.spec.kind).from_cell(cell.raw, base.spec.options)
            except CellError as exc:
                errors.append((cell, exc))
        return values, errors


CellAt = Callable[[Sequence[Any], int], CellValue]
"""Reads the cell at a column of a row as bulksync sees it (None when empty)."""


def task_cells(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    first_row: int,
    prefix: str,
    cell_at: CellAt,
) -> tuple[list[SheetCell], list[RowProblem]]:
    """Value cells of the tasks layout, one per row, keyed by the row's id columns."""
    try:
        value_col = list(header).index("Value")
        id_cols = [list(header).index(name) for name in TASK_ID_COLUMNS]
    except ValueError:
        raise SheetError(
            f"{prefix}: the header lacks the Value or id columns "
            f"({', '.join(TASK_ID_COLUMNS)}); were columns deleted or renamed?"
        ) from None
    cells: list[SheetCell] = []
    problems: list[RowProblem] = []
    for number, row in enumerate(rows, start=first_row):
        ids = [str(cell_at(row, c) or "").strip() for c in id_cols]
        value = cell_at(row, value_col)
        if not any(ids):
            if value is not None:
                problems.append(
                    RowProblem(
                        f"{prefix}!A{number}",
                        "no_ids",
                        "This row has no ids: bulksync adds no rows.",
                    )
                )
            continue
        cells.append(SheetCell(FieldKey(*ids), f"{prefix}!{col_name(value_col)}{number}", value))
    return cells, problems


def run_cells(
    rows: Iterable[Sequence[Any]],
    *,
    keys: Sequence[str],
    base: Mapping[FieldKey, FieldValue],
    first_row: int,
    prefix: str,
    cell_at: CellAt,
) -> list[SheetCell]:
    """Value cells of the runs layout: each row a run, each ``TASK:FIELD`` column a field."""
    run_col = keys.index("run_id")
    task_of = {(k.run_id, v.spec.template_task_id): k.task_id for k, v in base.items()}
    columns = [(col, *key.partition(":")) for col, key in enumerate(keys)]
    cells: list[SheetCell] = []
    for number, row in enumerate(rows, start=first_row):
        run_id = str(cell_at(row, run_col) or "").strip()
        if not run_id:
            continue
        for col, template_task_id, sep, field_id in columns:
            task_id = task_of.get((run_id, template_task_id)) if sep else None
            if task_id is None:
                continue  # not a field column, or n/a: the run has no such task
            ref = f"{prefix}!{col_name(col)}{number}"
            cells.append(SheetCell(FieldKey(run_id, task_id, field_id), ref, cell_at(row, col)))
    return cells


def col_name(index: int) -> str:
    """The spreadsheet letters of a 0-based column index (0 → A, 27 → AB)."""
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name

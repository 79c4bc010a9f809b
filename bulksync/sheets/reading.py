"""What a sheet holds once read: its metadata, base snapshot and cells by field.

The readers of both formats hand their rows to ``task_cells`` or ``run_cells``, which
match each value cell to its field by the row's ids (never by position or label) and
report every row that cannot be used: no ids, ids the export does not know, the same
ids twice, a context cell (run, task, field label …) that no longer shows what was
exported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from bulksync.errors import SheetError
from bulksync.fields import CellError, CellValue, codec_for
from bulksync.model import JSON
from bulksync.sheets.layout import (
    RUN_CONTEXT_COLUMNS,
    TASK_COLUMNS,
    TASK_ID_COLUMNS,
    Context,
    allowed_values,
    type_label,
)
from bulksync.sheets.meta import UNHOLDABLE, ExportMeta
from bulksync.snapshot import FieldKey, FieldValue


@dataclass(frozen=True, slots=True)
class SheetCell:
    """One value cell as the file holds it, with where it is."""

    key: FieldKey
    ref: str
    """Where the cell is, as a person finds it: ``Fields!H14`` or ``file.csv!H14``."""
    raw: CellValue
    template_task_id: str | None = None
    """Set only when reading without a base snapshot: the runs layout's column names a
    template task, and which task of the run that is becomes known from live state."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A cell that cannot be imported as it stands: ids edited, missing, unknown, twice."""

    ref: str
    code: str
    message: str
    key: FieldKey | None = None
    value: str | None = None


@dataclass(frozen=True, slots=True)
class Special:
    """A cell that holds no plain value: a formula (with its cached value) or an error."""

    code: str
    """``formula`` or ``error_value``"""
    text: str
    """The formula or the error as the spreadsheet shows it (``=A1*2``, ``#N/A``)."""
    cached: bool = False
    """A formula whose last computed value was saved with the file."""


@dataclass(frozen=True)
class Sheet:
    """A bulksync sheet as read from a file."""

    path: str
    meta: ExportMeta
    base: Mapping[FieldKey, FieldValue]
    cells: tuple[SheetCell, ...]
    row_problems: tuple[RowProblem, ...] = field(default=())
    special: Mapping[str, Special] = field(default_factory=dict)
    """Formula and error cells by ref."""
    has_base: bool = True
    context: Context | None = None
    """What the context cells showed at export (None for older exports, or no base)."""

    def decode(self) -> tuple[dict[FieldKey, JSON], list[tuple[SheetCell, CellError]]]:
        """Every cell's API value by field, and the cells that hold no valid value.

        A field that is locked because no cell could hold its value reads as its base
        value: what the sheet shows there is not an edit.
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

_CONTEXT_FIX: Final = (
    "Context cells are not imported; put back what the export showed, or export again."
)


def _shown(raw: CellValue) -> str:
    if raw is None:
        return ""
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw).strip()


class _Matcher:
    """Keys seen so far, to report ids that are unknown or used twice."""

    def __init__(self, base: Mapping[FieldKey, FieldValue], *, checked: bool) -> None:
        self.base = base
        self.checked = checked
        self.seen: dict[FieldKey, str] = {}
        self.problems: list[RowProblem] = []
        self.twice: set[FieldKey] = set()

    def accept(self, key: FieldKey, ref: str, raw: CellValue, what: str) -> bool:
        if self.checked and key not in self.base:
            self.problems.append(
                RowProblem(
                    ref,
                    "unknown_ids",
                    f"{what} is not in this export: were the ids edited, or the row "
                    "copied from another sheet? bulksync adds no rows; undo the edit.",
                    key,
                    _shown(raw),
                )
            )
            return False
        first = self.seen.setdefault(key, ref)
        if first != ref:
            self.twice.add(key)
            self.problems.append(
                RowProblem(
                    ref,
                    "duplicate_ids",
                    f"{what} is also at {first}; keep one of the two rows.",
                    key,
                    _shown(raw),
                )
            )
            return False
        return True

    def cells(self, cells: list[SheetCell]) -> list[SheetCell]:
        """The cells, without any whose key was used twice (neither copy is trusted)."""
        if not self.twice:
            return cells
        return [c for c in cells if c.key not in self.twice]


def task_cells(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    first_row: int,
    prefix: str,
    cell_at: CellAt,
    base: Mapping[FieldKey, FieldValue],
    context: Context | None,
    checked: bool = True,
) -> tuple[list[SheetCell], list[RowProblem]]:
    """Value cells of the tasks layout, one per row, keyed by the row's id columns."""
    names = list(header)
    try:
        value_col = names.index("Value")
        id_cols = [names.index(name) for name in TASK_ID_COLUMNS]
    except ValueError:
        raise SheetError(
            f"{prefix}: the header lacks the Value or id columns "
            f"({', '.join(TASK_ID_COLUMNS)}); were columns deleted or renamed?"
        ) from None
    context_cols = [
        (names.index(c.title), c.key)
        for c in TASK_COLUMNS[:7]
        if c.title in names and context is not None
    ]
    value_letter = col_name(value_col)
    matcher = _Matcher(base, checked=checked)
    cells: list[SheetCell] = []
    for number, row in enumerate(rows, start=first_row):
        ids = [_shown(cell_at(row, c)) for c in id_cols]
        value = cell_at(row, value_col)
        ref = f"{prefix}!{value_letter}{number}"
        if not all(ids):
            if any(ids) or value is not None:
                matcher.problems.append(
                    RowProblem(
                        f"{prefix}!A{number}",
                        "no_ids",
                        "This row lacks its ids (run_id, task_id, field_id): bulksync adds "
                        "no rows and needs the ids to know which value a row holds. "
                        "Delete the row, or undo the edit of its id cells.",
                        value=_shown(value),
                    )
                )
            continue
        key = FieldKey(*ids)
        if not matcher.accept(key, ref, value, f"The value of run {ids[0]}, task {ids[1]}"):
            continue
        cells.append(SheetCell(key, ref, value))
        if context_cols and context is not None:
            found = base.get(key)
            if found is not None:
                _check_task_context(
                    matcher.problems, context, found, row, number, prefix, context_cols, cell_at
                )
    return matcher.cells(cells), matcher.problems


def _check_task_context(
    problems: list[RowProblem],
    context: Context,
    field: FieldValue,
    row: Sequence[Any],
    number: int,
    prefix: str,
    columns: Sequence[tuple[int, str]],
    cell_at: CellAt,
) -> None:
    spec = field.spec
    run = context.runs.get(spec.key.run_id, ("", ""))
    task = context.tasks.get(spec.key.run_id, {}).get(spec.key.task_id, ("", ""))
    expected = {
        "run": run[0],
        "section": task[1],
        "task": task[0],
        "field": spec.label,
        "type": type_label(spec.kind),
        "required": "yes" if spec.required else "",
        "options": allowed_values(spec),
    }
    for col, name in columns:
        shown = _shown(cell_at(row, col))
        if shown != expected[name].strip():
            problems.append(
                RowProblem(
                    f"{prefix}!{col_name(col)}{number}",
                    "context_edited",
                    f"This {name} cell was {expected[name]!r} at export. {_CONTEXT_FIX}",
                    spec.key,
                    shown,
                )
            )


def run_cells(
    rows: Iterable[Sequence[Any]],
    *,
    keys: Sequence[str],
    base: Mapping[FieldKey, FieldValue],
    first_row: int,
    prefix: str,
    cell_at: CellAt,
    context: Context | None,
    checked: bool = True,
) -> tuple[list[SheetCell], list[RowProblem]]:
    """Value cells of the runs layout: each row a run, each ``TASK:FIELD`` column a field.

    Without a base snapshot (``checked=False``) each cell names its template task and
    the task id is found later, from live state.
    """
    run_col = keys.index("run_id")
    task_of = {(k.run_id, v.spec.template_task_id): k.task_id for k, v in base.items()}
    runs_known = {k.run_id for k in base}
    columns = [(col, *key.partition(":")) for col, key in enumerate(keys)]
    context_cols = [
        (keys.index(c.key), i)
        for i, c in enumerate(RUN_CONTEXT_COLUMNS[:2])
        if c.key in keys and context is not None
    ]
    seen: dict[str, int] = {}
    problems: list[RowProblem] = []
    cells: list[SheetCell] = []
    twice: set[str] = set()
    for number, row in enumerate(rows, start=first_row):
        run_id = _shown(cell_at(row, run_col))
        if not run_id:
            if any(cell_at(row, col) is not None for col, _, sep, _ in columns if sep):
                problems.append(
                    RowProblem(
                        f"{prefix}!{col_name(run_col)}{number}",
                        "no_ids",
                        "This row has values but no run_id: bulksync adds no runs. Delete "
                        "the row, or undo the edit of its run_id cell.",
                    )
                )
            continue
        ref = f"{prefix}!{col_name(run_col)}{number}"
        if checked and run_id not in runs_known:
            problems.append(
                RowProblem(
                    ref,
                    "unknown_ids",
                    f"Run {run_id} is not in this export: was the run_id cell edited, or "
                    "the row copied from another sheet? Undo the edit.",
                    value=run_id,
                )
            )
            continue
        if run_id in seen:
            twice.add(run_id)
            problems.append(
                RowProblem(
                    ref,
                    "duplicate_ids",
                    f"Run {run_id} is also in row {seen[run_id]}; keep one of the two rows.",
                    value=run_id,
                )
            )
            continue
        seen[run_id] = number
        if context is not None and run_id in context.runs:
            for col, i in context_cols:
                expected = context.runs[run_id][i]
                shown = _shown(cell_at(row, col))
                if shown != expected.strip():
                    problems.append(
                        RowProblem(
                            f"{prefix}!{col_name(col)}{number}",
                            "context_edited",
                            f"This {RUN_CONTEXT_COLUMNS[i].key} cell was {expected!r} at "
                            f"export. {_CONTEXT_FIX}",
                            value=shown,
                        )
                    )
        for col, template_task_id, sep, field_id in columns:
            if not sep:
                continue  # not a field column
            if not checked:
                cells.append(
                    SheetCell(
                        FieldKey(run_id, "", field_id),
                        f"{prefix}!{col_name(col)}{number}",
                        cell_at(row, col),
                        template_task_id,
                    )
                )
                continue
            task_id = task_of.get((run_id, template_task_id))
            key = FieldKey(run_id, task_id or "", field_id)
            if key not in base:
                # n/a: the run has no such task or field; a value typed there is an error.
                raw = cell_at(row, col)
                if raw is not None and _shown(raw) != "n/a":
                    problems.append(
                        RowProblem(
                            f"{prefix}!{col_name(col)}{number}",
                            "not_applicable",
                            f"Run {run_id} has no such field (it was made from another "
                            "version of the template); leave the cell as n/a.",
                            value=_shown(raw),
                        )
                    )
                continue
            ref = f"{prefix}!{col_name(col)}{number}"
            cells.append(SheetCell(key, ref, cell_at(row, col)))
    if twice:
        cells = [c for c in cells if c.key.run_id not in twice]
    return cells, problems


def col_name(index: int) -> str:
    """The spreadsheet letters of a 0-based column index (0 → A, 27 → AB)."""
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name

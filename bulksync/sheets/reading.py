"""What a sheet holds once read: its metadata, base snapshot and cells by field.

The readers of both formats hand their rows to ``task_cells`` or ``run_cells``, which
match each value cell to its field by the row's ids (never by position or label) and
report every row that cannot be used: no ids, ids the export does not know, the same
ids twice, a context cell (run, task, field label …) that no longer shows what was
exported.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from bulksync.codecs import CellError, CellValue, codec_for, nfc
from bulksync.errors import SheetError
from bulksync.model import JSON
from bulksync.perf import cycle_collector_paused
from bulksync.sheets.layout import (
    RUN_CONTEXT_COLUMNS,
    TASK_COLUMNS,
    TASK_ID_COLUMNS,
    allowed_values,
    type_label,
)
from bulksync.sheets.meta import UNHOLDABLE, BaseSnapshot, ExportMeta
from bulksync.snapshot import FieldKey, FieldValue


class SheetCell(NamedTuple):
    """One value cell as the file holds it, with where it is (a named tuple: one is made
    per value cell read)."""

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
    """A cell that holds no plain value: a formula (with its cached value) or an error;
    or a number the reader rounded."""

    code: str
    """``formula``, ``error_value``, ``formula_text`` (a CSV cell that starts with
    ``=``) or ``inexact_number`` (an xlsx number cell saved with digits no float holds)"""
    text: str
    """The formula or the error as the spreadsheet shows it (``=A1*2``, ``#N/A``); the
    number's digits as saved."""
    cached: bool = False
    """A formula whose last computed value was saved with the file."""


@dataclass(frozen=True)
class Sheet:
    """A bulksync sheet as read from a file."""

    path: str
    meta: ExportMeta
    base: BaseSnapshot
    cells: tuple[SheetCell, ...]
    """The value cells; read with ``only_edited``, only those that may hold an edit."""
    row_problems: tuple[RowProblem, ...] = field(default=())
    special: Mapping[str, Special] = field(default_factory=dict)
    """Formula and error cells by ref."""
    has_base: bool = True

    def decode(self) -> tuple[dict[FieldKey, JSON], list[tuple[SheetCell, CellError]]]:
        """Every cell's API value by field, and the cells that hold no valid value.

        A field that is locked because no cell could hold its value reads as its base
        value: what the sheet shows there is not an edit.
        """
        values: dict[FieldKey, JSON] = {}
        errors: list[tuple[SheetCell, CellError]] = []
        with cycle_collector_paused():
            self._decode_into(values, errors)
        return values, errors

    def raw(self, cell: SheetCell) -> CellValue:
        """What the cell holds: its value as read, but a number cell saved with digits no
        float holds (``9007199254740993``) as those digits, which the reader rounded."""
        special = self.special.get(cell.ref)
        raw = cell.raw
        if (
            special is not None
            and special.code == "inexact_number"
            and isinstance(raw, int | float)
            and not isinstance(raw, bool)
        ):
            return special.text
        return raw

    def _decode_into(
        self, values: dict[FieldKey, JSON], errors: list[tuple[SheetCell, CellError]]
    ) -> None:
        special = self.special
        for cell in self.cells:
            base = self.base.get(cell.key)
            if base is None:
                continue
            if base.spec.locked and base.spec.locked.startswith(UNHOLDABLE):
                values[cell.key] = base.value
                continue
            raw = self.raw(cell) if special else cell.raw
            try:
                values[cell.key] = codec_for(base.spec.kind).from_cell(raw, base.spec.options)
            except CellError as exc:
                errors.append((cell, exc))


CellAt = Callable[[Sequence[Any], int], CellValue]
"""Reads the cell at a column of a row as bulksync sees it (None when empty)."""

_CONTEXT_FIX: Final = (
    "Context cells are not imported; put back what the export showed, or export again."
)
_IDS_FIX: Final = (
    "Context cells are not imported, and the row's hidden ids (run_id, task_id, field_id) "
    "say which value it holds: put back what the export showed in both, or export again."
)


def _shown(raw: CellValue) -> str:
    """A context or id cell as compared with the export: trimmed, in NFC."""
    if raw is None:
        return ""
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return nfc(str(raw).strip())


def _context_problem(
    ref: str, name: str, expected: str, shown: str, key: FieldKey | None, *, ids: bool = False
) -> RowProblem:
    """A context cell that differs from the export; ``ids``: or the row's ids were edited."""
    if ids:
        message = f"This {name} cell was {expected!r} at export for this row's ids. {_IDS_FIX}"
    else:
        message = f"This {name} cell was {expected!r} at export. {_CONTEXT_FIX}"
    return RowProblem(ref, "context_edited", message, key, shown)


def task_cells(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    first_row: int,
    prefix: str,
    cell_at: CellAt,
    base: BaseSnapshot,
    checked: bool = True,
    mirror: Sequence[Sequence[Any]] | None = None,
    special_rows: Container[int] = (),
) -> tuple[list[SheetCell], list[RowProblem]]:
    """Value cells of the tasks layout, one per row, keyed by the row's id columns.

    With ``mirror`` (the exported rows, from the hidden ``_base`` sheet), a row equal
    to the exported row at its place is skipped whole: it holds no edit. A row with the
    same ids as its exported row is compared cell by cell with it. Only a row that
    moved (sorted) or is not the export's is checked against the base snapshot.
    """
    names = list(header)
    try:
        value_col = names.index("Value")
        id_cols = [names.index(name) for name in TASK_ID_COLUMNS]
    except ValueError:
        raise SheetError(
            f"{prefix}: the header lacks the Value or id columns "
            f"({', '.join(TASK_ID_COLUMNS)}); were columns deleted or renamed?"
        ) from None
    context_cols = [(names.index(c.title), c.key) for c in TASK_COLUMNS[:7] if c.title in names]
    value_letter = col_name(value_col)
    cells: list[SheetCell] = []
    problems: list[RowProblem] = []
    moved: dict[FieldKey, str] = {}
    read_at: dict[FieldKey, str] = {}
    """Where each cell read so far is: a key read twice is a duplicate."""
    twice: set[FieldKey] = set()
    for index, row in enumerate(rows):
        number = first_row + index
        exported = mirror[index] if mirror is not None and index < len(mirror) else None
        # A formula or error cell reads as its value (calamine): such a row is read whole.
        look_all = number in special_rows
        if exported is not None and row == exported and not look_all:
            continue  # as exported
        ids = [_shown(cell_at(row, c)) for c in id_cols]
        value = cell_at(row, value_col)
        ref = f"{prefix}!{value_letter}{number}"
        if not all(ids):
            if any(ids) or value is not None:
                problems.append(
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
        what = f"The value of run {ids[0]}, task {ids[1]}"
        in_place = exported is not None and ids == [_shown(cell_at(exported, c)) for c in id_cols]
        if (
            exported is not None
            and in_place
            and value == cell_at(exported, value_col)
            and not look_all
            and checked
        ):
            # In its place, unedited: the exported row shows what every cell held. (A row
            # with an edit is checked against the base snapshot: the hidden copy may have
            # been edited too.)
            for col, name in context_cols:
                was, now = _shown(cell_at(exported, col)), _shown(cell_at(row, col))
                if was != now:
                    problems.append(
                        _context_problem(f"{prefix}!{col_name(col)}{number}", name, was, now, key)
                    )
            continue
        if checked and key not in base:
            problems.append(
                RowProblem(
                    ref,
                    "unknown_ids",
                    f"{what} is not in this export: were the ids edited, or the row "
                    "copied from another sheet? bulksync adds no rows; undo the edit.",
                    key,
                    _shown(value),
                )
            )
            continue
        if key in read_at:
            twice.add(key)
            problems.append(_duplicate(ref, f"{what} is also at {read_at[key]}", key, value))
            continue
        read_at[key] = ref
        if not in_place:
            moved[key] = ref
        # A row whose context does not match its ids may hold another field's value:
        # its value is not read.
        if not checked or _check_task_context(
            problems, base, base[key], row, number, prefix, context_cols, cell_at
        ):
            cells.append(SheetCell(key, ref, value))
    if moved and mirror is not None:
        # A moved row may repeat the ids of a row that is still in its place.
        alone = {k: ref for k, ref in moved.items() if k not in twice}
        twice |= _also_in_place(alone, rows, mirror, id_cols, cell_at, first_row, prefix, problems)
    if twice:
        cells = [c for c in cells if c.key not in twice]
    return cells, problems


def _duplicate(ref: str, where: str, key: FieldKey | None, value: CellValue) -> RowProblem:
    return RowProblem(
        ref, "duplicate_ids", f"{where}; keep one of the two rows.", key, _shown(value)
    )


def _also_in_place(
    moved: Mapping[FieldKey, str],
    rows: Sequence[Sequence[Any]],
    mirror: Sequence[Sequence[Any]],
    id_cols: Sequence[int],
    cell_at: CellAt,
    first_row: int,
    prefix: str,
    problems: list[RowProblem],
) -> set[FieldKey]:
    found: set[FieldKey] = set()
    for index, exported in enumerate(mirror):
        key = FieldKey(*(_shown(cell_at(exported, c)) for c in id_cols))
        if key not in moved or index >= len(rows):
            continue
        if FieldKey(*(_shown(cell_at(rows[index], c)) for c in id_cols)) == key:
            found.add(key)
            problems.append(
                _duplicate(moved[key], f"These ids are also in row {first_row + index}", key, None)
            )
    return found


def _check_task_context(
    problems: list[RowProblem],
    base: BaseSnapshot,
    field: FieldValue,
    row: Sequence[Any],
    number: int,
    prefix: str,
    columns: Sequence[tuple[int, str]],
    cell_at: CellAt,
) -> bool:
    """Whether the row's context cells show what the export showed for its ids."""
    spec = field.spec
    run = base.run(spec.key.run_id)
    if run is None:
        return True
    task = run.tasks.get(spec.key.task_id, ("", ""))
    expected = {
        "run": run.title,
        "section": task[1],
        "task": task[0],
        "field": spec.label,
        "type": type_label(spec),
        "required": "yes" if spec.required else "",
        "options": allowed_values(spec),
    }
    fine = True
    for col, name in columns:
        shown = _shown(cell_at(row, col))
        if shown != _shown(expected[name]):
            problems.append(
                _context_problem(
                    f"{prefix}!{col_name(col)}{number}",
                    name,
                    expected[name],
                    shown,
                    spec.key,
                    ids=True,
                )
            )
            fine = False
    return fine


def run_cells(
    rows: Sequence[Sequence[Any]],
    *,
    keys: Sequence[str],
    base: BaseSnapshot,
    first_row: int,
    prefix: str,
    cell_at: CellAt,
    checked: bool = True,
    mirror: Sequence[Sequence[Any]] | None = None,
    special_rows: Container[int] = (),
) -> tuple[list[SheetCell], list[RowProblem]]:
    """Value cells of the runs layout: each row a run, each ``TASK:FIELD`` column a field.

    With ``mirror``, a row equal to its exported row is skipped whole, and a row of the
    same run as its exported row yields only the cells that differ from it. Without a
    base snapshot (``checked=False``) each cell names its template task, and the task
    id is found later, from live state.
    """
    run_col = keys.index("run_id")
    columns = [
        (col, template_task_id, field_id)
        for col, key in enumerate(keys)
        for template_task_id, sep, field_id in [key.partition(":")]
        if sep
    ]
    context_cols = [
        (keys.index(c.key), i) for i, c in enumerate(RUN_CONTEXT_COLUMNS[:2]) if c.key in keys
    ]
    letters = [f"{prefix}!{col_name(col)}" for col in range(len(keys))]
    seen: dict[str, int] = {}
    problems: list[RowProblem] = []
    cells: list[SheetCell] = []
    twice: set[str] = set()
    for index, row in enumerate(rows):
        number = first_row + index
        exported = mirror[index] if mirror is not None and index < len(mirror) else None
        # A formula or error cell reads as its value (calamine): such a row is read whole.
        look_all = number in special_rows
        run_id = _shown(cell_at(row, run_col))
        if exported is not None and row == exported and run_id not in seen and not look_all:
            seen[run_id] = number
            continue  # as exported
        if not run_id:
            if any(cell_at(row, col) is not None for col, _, _ in columns):
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
        run = base.run(run_id)
        if checked and run is None:
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
                _duplicate(ref, f"Run {run_id} is also in row {seen[run_id]}", None, run_id)
            )
            continue
        seen[run_id] = number
        in_place = exported is not None and _shown(cell_at(exported, run_col)) == run_id
        if run is not None:
            for col, i in context_cols:
                expected = (run.title, run.status)[i]
                shown = _shown(cell_at(row, col))
                if shown != _shown(expected):
                    name = RUN_CONTEXT_COLUMNS[i].key
                    problems.append(
                        _context_problem(
                            f"{prefix}!{col_name(col)}{number}",
                            name,
                            expected,
                            shown,
                            FieldKey(run_id, "", name),
                        )
                    )
        todo = columns
        if in_place and exported is not None and not look_all and len(row) == len(exported):
            # Only the cells that differ from the exported row.
            differ = {
                i for i, (now, was) in enumerate(zip(row, exported, strict=True)) if now != was
            }
            todo = [c for c in columns if c[0] in differ]
        for col, template_task_id, field_id in todo:
            raw = cell_at(row, col)
            if in_place and exported is not None and raw == cell_at(exported, col) and not look_all:
                continue  # as exported
            cell_ref = f"{letters[col]}{number}"
            if not checked:
                key = FieldKey(run_id, "", field_id)
                cells.append(SheetCell(key, cell_ref, raw, template_task_id))
                continue
            assert run is not None
            key = FieldKey(run_id, run.task_of.get(template_task_id, ""), field_id)
            if key not in run:
                # n/a: the run has no such task or field; a value typed there is an error.
                if raw is not None and _shown(raw) != "n/a":
                    problems.append(
                        RowProblem(
                            cell_ref,
                            "not_applicable",
                            f"Run {run_id} has no such field (it was made from another "
                            "version of the template); leave the cell as n/a.",
                            FieldKey(run_id, "", field_id),
                            _shown(raw),
                        )
                    )
                continue
            cells.append(SheetCell(key, cell_ref, raw))
    if twice:
        cells = [c for c in cells if c.key.run_id not in twice]
    return cells, problems


def check_column_keys(
    keys: Sequence[str],
    labels: Sequence[str],
    exported: Sequence[Sequence[str]],
    ref_of: Callable[[int], str],
    *,
    fix: str,
) -> tuple[list[str], list[RowProblem]]:
    """The runs layout's column keys checked against the columns the export wrote.

    Each key must be one the export wrote, once, on a column that shows that key's task
    and field label (``labels``: ``Task › Field`` as the sheet shows it): keys swapped
    between columns would read an edit of one field as an edit of another. Returns the
    keys with every refused one blanked (its column is not read) and the problems, at
    ``ref_of(col)``; ``fix`` says how to put a key back.
    """
    label_of = {key: _shown(f"{group} › {title}") for key, group, title in exported}
    key_of = {label: key for key, label in label_of.items()}
    checked = list(keys)
    problems: list[RowProblem] = []
    first: dict[str, int] = {}
    for col, key in enumerate(keys):
        label = _shown(labels[col]) if col < len(labels) else ""
        if ":" not in key and not (key == "" and label in key_of):
            continue
        right = key_of.get(label)
        put_back = (
            f"Put back {right!r}, the key the export wrote for {label!r}{fix}"
            if right
            else f"Put back the key the export wrote{fix}"
        )
        if key in first:
            message = (
                f"The column key {key!r} is also the key of column {col_name(first[key])}. "
                f"{put_back}, or export again."
            )
        elif key not in label_of:
            message = (
                f"The column key {key!r} of the column {label!r} is not one this export "
                f"wrote. {put_back}, or export again."
            )
        elif label_of[key] != label:
            message = (
                f"The column key {key!r} is the key of the column {label_of[key]!r}, but "
                f"this column shows {label!r}: were keys swapped or edited? An edit here "
                f"would be written to the wrong field. {put_back}, or export again."
            )
        else:
            first[key] = col
            continue
        checked[col] = ""
        problems.append(RowProblem(ref_of(col), "column_key", message, value=key))
    return checked, problems


def col_name(index: int) -> str:
    """The spreadsheet letters of a 0-based column index (0 → A, 27 → AB)."""
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name

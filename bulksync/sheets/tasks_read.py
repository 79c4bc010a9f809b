"""Reading the tasks layout: one value per row, found by the row's hidden ids.

Each row is one of: as exported (skipped whole), without ids, in its place and
unedited (its context compared with the exported row), or a row to read (its ids
known once, its context as the export showed it for those ids).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from typing import Any

from bulksync.codecs import CellValue
from bulksync.errors import SheetError
from bulksync.sheets.layout import (
    ROW_KEY,
    TASK_COLUMNS,
    TASK_ID_COLUMNS,
    allowed_values,
    type_label,
)
from bulksync.sheets.meta import BaseSnapshot, RunBase
from bulksync.sheets.reading import (
    CellAt,
    RowProblem,
    SheetCell,
    as_shown,
    col_name,
    context_problem,
    duplicate_problem,
    ignored_column,
    missing_problem,
)
from bulksync.snapshot import FieldKey, FieldValue


def task_cells(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    first_row: int,
    prefix: str,
    cell_at: CellAt,
    base: BaseSnapshot,
    checked: bool = True,
    mirror: Sequence[Sequence[Any]] | None = None,
    special_rows: Container[int] = (),
    rows_exported: int | None = None,
    exported_of: Callable[[int, Sequence[Any]], Sequence[Any] | None] | None = None,
) -> tuple[list[SheetCell], list[RowProblem]]:
    """Value cells of the tasks layout, one per row, keyed by the row's id columns.

    ``rows_exported``, the number of rows the export wrote: how many the sheet no longer
    has is said (a warning: deleted rows are left alone), as is a column of the
    header that bulksync did not write.

    With ``mirror`` (the exported rows, from the hidden ``_base`` sheet), a row equal
    to the exported row at its place is skipped whole: it holds no edit. A row with the
    same ids as its exported row is compared cell by cell with it. Only a row that
    moved (sorted) or is not the export's is checked against the base snapshot.
    ``exported_of(index, row)``, called once per row in order, is the mirror given row
    by row where the file has none (a CSV's digests): the row itself when it is as
    exported (skipped whole, as a row equal to its mirror row is), else None.
    """
    reader = _TaskRows(header, prefix, cell_at, base, checked=checked)
    exported_rows = len(mirror) if mirror is not None else 0
    in_place = bytearray(exported_rows)  # 1: the row has its exported row's ids
    for index, row in enumerate(rows):
        if exported_of is not None:
            exported = exported_of(index, row)
        else:
            exported = mirror[index] if mirror is not None and index < exported_rows else None
        number = first_row + index
        # A formula or error cell reads as its value (calamine): such a row is read whole.
        look_all = number in special_rows
        if exported is row and not look_all:
            # As exported by a CSV's digest (most rows): counted, not read.
            reader.as_exported += 1
            in_place_now = True
        else:
            in_place_now = reader.row(row, number, exported, look_all=look_all)
        if in_place_now and index < exported_rows:  # rows past the mirror's: appended
            in_place[index] = 1
    if reader.moved and mirror is not None:
        reader.also_in_place(in_place, mirror, first_row)
    if rows_exported is not None and checked:
        missing = rows_exported - reader.as_exported - len(reader.present - reader.unknown)
        if missing > 0:
            reader.problems.append(missing_problem(missing, "value"))
    return reader.result()


class _TaskRows:
    """What the rows of a tasks-layout sheet read as, row by row."""

    def __init__(
        self,
        header: Sequence[str],
        prefix: str,
        cell_at: CellAt,
        base: BaseSnapshot,
        *,
        checked: bool,
    ) -> None:
        names = list(header)
        try:
            self.value_col = names.index("Value")
            self.id_cols = [names.index(name) for name in TASK_ID_COLUMNS]
        except ValueError:
            raise SheetError(
                f"{prefix}: the header lacks the Value or id columns "
                f"({', '.join(TASK_ID_COLUMNS)}); were columns deleted or renamed?"
            ) from None
        self.context_cols = [
            (names.index(c.title), c.key) for c in TASK_COLUMNS[:7] if c.title in names
        ]
        self.value_letter = col_name(self.value_col)
        ours = {c.title for c in (*TASK_COLUMNS, ROW_KEY)}
        self.problems: list[RowProblem] = [
            ignored_column(f"{prefix}!{col_name(col)}1", col, name.strip())
            for col, name in enumerate(names)
            if name and name.strip() and name not in ours
        ]
        self.present: set[FieldKey] = set()
        """Ids of the rows read that are not as exported at their place."""
        self.as_exported = 0
        """Rows as exported at their place (skipped unread, as an unedited row costs)."""
        """The ids of every row: the values of the export the sheet still has."""
        self.unknown: set[FieldKey] = set()
        self.prefix, self.cell_at, self.base, self.checked = prefix, cell_at, base, checked
        self.cells: list[SheetCell] = []
        self.moved: dict[FieldKey, str] = {}
        self.read_at: dict[FieldKey, str] = {}
        """Where each cell read so far is: a key read twice is a duplicate."""
        self.twice: set[FieldKey] = set()

    def result(self) -> tuple[list[SheetCell], list[RowProblem]]:
        cells = self.cells
        if self.twice:
            cells = [c for c in cells if c.key not in self.twice]
        return cells, self.problems

    def ids(self, row: Sequence[Any]) -> list[str]:
        return [as_shown(self.cell_at(row, c)) for c in self.id_cols]

    def row(
        self, row: Sequence[Any], number: int, exported: Sequence[Any] | None, *, look_all: bool
    ) -> bool:
        """Read one row; whether it has the ids of the exported row at its place."""
        if exported is not None and row == exported and not look_all:
            self.as_exported += 1  # its ids are those of the exported row at its place
            return True
        ids = self.ids(row)
        if all(ids):
            self.present.add(FieldKey(*ids))
        value = self.cell_at(row, self.value_col)
        in_place = exported is not None and ids == self.ids(exported)
        if not all(ids):
            if any(ids) or value is not None:
                self._no_ids(number, value)
            return in_place
        key = FieldKey(*ids)
        if (
            exported is not None
            and in_place
            and value == self.cell_at(exported, self.value_col)
            and not look_all
            and self.checked
        ):
            # In its place, unedited: the exported row shows what every cell held. (A row
            # with an edit is checked against the base snapshot: the hidden copy may have
            # been edited too.)
            self._compare_context(row, exported, number, key)
            return True
        self._read(row, number, key, value, in_place=in_place)
        return in_place

    def _no_ids(self, number: int, value: CellValue) -> None:
        self.problems.append(
            RowProblem(
                f"{self.prefix}!A{number}",
                "no_ids",
                "This row lacks its ids (run_id, task_id, field_id), which say which "
                "value a row holds: delete the row, or undo the edit of its id cells. To "
                "start new runs, fill the empty rows of a launch sheet (bulksync export "
                "--template ID --new N) in the runs layout.",
                value=as_shown(value),
            )
        )

    def _compare_context(
        self, row: Sequence[Any], exported: Sequence[Any], number: int, key: FieldKey
    ) -> None:
        """Context cells of an unedited row in its place, against the exported row."""
        for col, name in self.context_cols:
            was, now = as_shown(self.cell_at(exported, col)), as_shown(self.cell_at(row, col))
            if was != now:
                ref = f"{self.prefix}!{col_name(col)}{number}"
                self.problems.append(context_problem(ref, name, was, now, key))

    def _read(
        self, row: Sequence[Any], number: int, key: FieldKey, value: CellValue, *, in_place: bool
    ) -> None:
        """A row that may hold an edit: its ids known and read once, its context right."""
        ref = f"{self.prefix}!{self.value_letter}{number}"
        what = f"The value of run {key.run_id}, task {key.task_id}"
        found = self._base_field(key) if self.checked else None
        if self.checked and found is None:
            self.unknown.add(key)
            self.problems.append(
                RowProblem(
                    ref,
                    "unknown_ids",
                    f"{what} is not in this export: were the ids edited, or the row "
                    "copied from another sheet? bulksync adds no rows; undo the edit.",
                    key,
                    as_shown(value),
                )
            )
            return
        if key in self.read_at:
            self.twice.add(key)
            where = f"{what} is also at {self.read_at[key]}"
            self.problems.append(duplicate_problem(ref, where, key, value))
            return
        self.read_at[key] = ref
        if not in_place:
            self.moved[key] = ref
        # A row whose context does not match its ids may hold another field's value:
        # its value is not read.
        if found is None:  # no base snapshot: the field is found in live state
            self.cells.append(SheetCell(key, ref, value))
        elif self._context_fits(*found, row, number):
            self.cells.append(SheetCell(key, ref, value, base=found[1]))

    def _base_field(self, key: FieldKey) -> tuple[RunBase, FieldValue] | None:
        """The run and the field of ``key`` in the base snapshot, or None if it has none."""
        run = self.base.run(key.run_id)
        if run is None:
            return None
        field = run.get(key)
        return None if field is None else (run, field)

    def _context_fits(
        self, run: RunBase, field: FieldValue, row: Sequence[Any], number: int
    ) -> bool:
        """Whether the row's context cells show what the export showed for its ids."""
        spec = field.spec
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
        for col, name in self.context_cols:
            raw = self.cell_at(row, col)
            if raw == expected[name]:
                continue  # the text exported: shown alike (most cells; no need to normalise)
            shown = as_shown(raw)
            if shown != as_shown(expected[name]):
                ref = f"{self.prefix}!{col_name(col)}{number}"
                problem = context_problem(ref, name, expected[name], shown, spec.key, ids=True)
                self.problems.append(problem)
                # Garbled by a wrong character set, it still shows the ids' context.
                fine = fine and problem.code == "mojibake"
        return fine

    def also_in_place(
        self, in_place: bytearray, mirror: Sequence[Sequence[Any]], first_row: int
    ) -> None:
        """Moved rows whose ids are also those of a row still in its place (``in_place``:
        1 at the index of each row that has its exported row's ids): duplicates."""
        moved: Mapping[FieldKey, str] = {
            k: ref for k, ref in self.moved.items() if k not in self.twice
        }
        found: set[FieldKey] = set()
        for index, exported in enumerate(mirror):
            key = FieldKey(*self.ids(exported))
            if key in moved and index < len(in_place) and in_place[index]:
                found.add(key)
                where = f"These ids are also in row {first_row + index}"
                self.problems.append(duplicate_problem(moved[key], where, key, None))
        self.twice |= found

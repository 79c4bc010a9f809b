"""Reading the runs layout: a run per row, a field per ``TEMPLATE_TASK_ID:FIELD`` column.

A row is one of: as exported (skipped whole), empty, without a run id (a run to start:
a ``NewRow``), of a run not in the export or read already (a problem), or a run's row:
its context cells (title, status, due date, started by) compared with the export, then
its value cells read one by one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import replace
from typing import Any, Final, NamedTuple

from bulksync.codecs import CellError, CellValue, codec_for, garbled
from bulksync.sheets.layout import ROW_KEY, RUN_CONTEXT_COLUMNS
from bulksync.sheets.meta import BaseSnapshot, RunBase
from bulksync.sheets.reading import (
    CellAt,
    NewRow,
    RowProblem,
    SheetCell,
    as_shown,
    col_name,
    columns_differing,
    context_problem,
    duplicate_problem,
    garbled_message,
    ignored_column,
    missing_problem,
)
from bulksync.snapshot import FieldKey

ValueColumn = tuple[int, str, str]
"""A value column: its index, template task id and field id."""

RUN_ATTRIBUTES: Final = {
    "run": "title",
    "status": "status",
    "due_date": "due_date",
    "started_by": "started_by",
}
"""The runs layout's context columns, by key, and what of the run each shows."""
NEW_ROW_COLUMNS: Final = ("run", "due_date", "started_by")
"""The context cells a new row fills in: the title, due date and who starts the run."""


class RunCells(NamedTuple):
    cells: list[SheetCell]
    problems: list[RowProblem]
    new_rows: list[NewRow]


def run_cells(
    rows: Iterable[Sequence[Any]],
    *,
    keys: Sequence[str],
    base: BaseSnapshot,
    first_row: int,
    prefix: str,
    cell_at: CellAt,
    checked: bool = True,
    mirror: Sequence[Sequence[Any]] | None = None,
    special_rows: Container[int] = (),
    titles: Sequence[str] | None = None,
    title_ref: Callable[[int], str] | None = None,
    refused: Container[int] = (),
    exported_of: Callable[[int, Sequence[Any]], Sequence[Any] | None] | None = None,
) -> RunCells:
    """Value cells of the runs layout: each row a run, each ``TASK:FIELD`` column a field;
    and the rows without a run id that hold something (runs to start).

    With ``mirror``, a row equal to its exported row is skipped whole, and a row of the
    same run as its exported row yields only the cells that differ from it. Without a
    base snapshot (``checked=False``) each cell names its template task, and the task
    id is found later, from live state.

    The runs of the export that no row holds (deleted) are said, as a warning; so is,
    with ``titles`` (each column's title as shown, at ``title_ref(col)``), a column
    bulksync did not write; a column whose key was refused (in ``refused``) is not
    one of those. ``exported_of(index, row)``, called once per row in order, is the
    mirror given row by row, as far as the file knows it (a CSV's digests): the row
    itself when it is as exported, else its cells as exported where known and some
    other text elsewhere, or None.
    """
    reader = _RunRows(keys, prefix, cell_at, base, checked=checked)
    if titles is not None and title_ref is not None:
        reader.problems.extend(foreign_columns(keys, titles, title_ref, refused))
    reader.mirror, reader.first_row = mirror, first_row
    for index, row in enumerate(rows):
        if exported_of is not None:
            exported = exported_of(index, row)
        else:
            exported = mirror[index] if mirror is not None and index < len(mirror) else None
        number = first_row + index
        # A formula or error cell reads as its value (calamine): such a row is read whole.
        reader.row(row, number, exported, look_all=number in special_rows)
    return reader.result()


class _RunRows:
    """What the rows of a runs-layout sheet read as, row by row."""

    def __init__(
        self,
        keys: Sequence[str],
        prefix: str,
        cell_at: CellAt,
        base: BaseSnapshot,
        *,
        checked: bool,
    ) -> None:
        self.run_col = keys.index("run_id")
        self.columns: list[ValueColumn] = [
            (col, template_task_id, field_id)
            for col, key in enumerate(keys)
            for template_task_id, sep, field_id in [key.partition(":")]
            if sep
        ]
        self.column_at = {column[0]: column for column in self.columns}
        """The value columns by index."""
        self.context_cols = [(keys.index(k), k) for k in RUN_ATTRIBUTES if k in keys]
        self.key_col = keys.index(ROW_KEY.key) if ROW_KEY.key in keys else None
        self.mirror: Sequence[Sequence[Any]] | None = None
        self.first_row = 0
        self.letters = [f"{prefix}!{col_name(col)}" for col in range(len(keys))]
        self.prefix, self.cell_at, self.base, self.checked = prefix, cell_at, base, checked
        self.seen: dict[str, int] = {}
        """The row each run was found in."""
        self.problems: list[RowProblem] = []
        self.cells: list[SheetCell] = []
        self.twice: set[str] = set()
        self.new_rows: list[NewRow] = []

    def result(self) -> RunCells:
        if self.checked:
            missing = sum(1 for run_id in self.base.run_ids() if run_id not in self.seen)
            if missing:
                self.problems.append(missing_problem(missing, "run"))
        cells = self.cells
        if self.twice:
            cells = [c for c in cells if c.key.run_id not in self.twice]
        return RunCells(cells, self.problems, self.new_rows)

    def row(
        self, row: Sequence[Any], number: int, exported: Sequence[Any] | None, *, look_all: bool
    ) -> None:
        run_id = as_shown(self.cell_at(row, self.run_col))
        if exported is not None and row == exported and run_id not in self.seen and not look_all:
            self.seen[run_id] = number
            return  # as exported
        if not run_id:
            self._new_row(row, number)
            return
        run = self.base.run(run_id)
        if not self._first_of_known_run(run_id, run, number):
            return
        self.seen[run_id] = number
        in_place = exported is not None and as_shown(self.cell_at(exported, self.run_col)) == run_id
        # Compared with the exported row only when the row is the run's, and read as is.
        same_run = exported if in_place and not look_all else None
        differ = None if same_run is None else columns_differing(row, same_run)
        if run is not None:
            self._compare_context(row, number, run_id, run, differ)
        read = self.cells_of_run if self.checked else self.cells_unchecked
        for col, template_task_id, field_id in self._changed_columns(differ):
            raw = self.cell_at(row, col)
            if same_run is not None and raw == self.cell_at(same_run, col):
                continue  # as exported
            read(f"{self.letters[col]}{number}", raw, run_id, run, template_task_id, field_id)

    def _new_row(self, row: Sequence[Any], number: int) -> None:
        """A row without a run id: a run to start, if anything is in it but ``n/a`` (what
        the export writes in a new row's columns the template no longer has; planning
        tells that from a value typed as "n/a" by the column)."""
        cells = tuple(
            SheetCell(FieldKey("", "", field_id), f"{self.letters[col]}{number}", raw, tt_id)
            for col, tt_id, field_id in self.columns
            if (raw := self.cell_at(row, col)) is not None and as_shown(raw) != ""
        )
        context = {
            key: (f"{self.letters[col]}{number}", raw)
            for col, key in self.context_cols
            if key in NEW_ROW_COLUMNS
            and (raw := self.cell_at(row, col)) is not None
            and as_shown(raw)
        }
        if not (context or any(as_shown(c.raw) != "n/a" for c in cells)):
            return
        row_key = "" if self.key_col is None else as_shown(self.cell_at(row, self.key_col))
        cleared = self._cleared_run(row, number, row_key)
        if cleared is not None:
            self.problems.append(cleared)
            return
        self.new_rows.append(NewRow(number, context, cells, row_key))

    def _cleared_run(self, row: Sequence[Any], number: int, row_key: str) -> RowProblem | None:
        """A row of an exported run whose run_id was cleared (not a run to start): its
        hidden row key is that of a run's row at export, or its Status is filled in."""
        ref = f"{self.prefix}!{col_name(self.run_col)}{number}"
        exported = self._exported_row(row_key)
        was = as_shown(self.cell_at(exported, self.run_col)) if exported is not None else ""
        if was:
            return RowProblem(
                ref,
                "no_ids",
                f"This row was run {was}'s at export (its hidden row key says so), and its "
                f"run_id cell is empty now, so it would start a copy of that run: put back "
                f"{was!r}, or delete the row. A run to start goes in an empty row.",
                value="",
            )
        status = next((c for c, k in self.context_cols if k == "status"), None)
        if status is not None and as_shown(self.cell_at(row, status)):
            return RowProblem(
                ref,
                "no_ids",
                "This row has a Status but no run_id: if it is a run of the export whose "
                "run_id was cleared, put the run_id back; if it is a run to start, clear its "
                "Status (NextStep sets it).",
                value="",
            )
        return None

    def _exported_row(self, row_key: str) -> Sequence[Any] | None:
        """The row of the hidden copy that had this row key at export."""
        if self.mirror is None or not row_key.isdigit():
            return None
        index = int(row_key) - self.first_row
        return self.mirror[index] if 0 <= index < len(self.mirror) else None

    def _first_of_known_run(self, run_id: str, run: RunBase | None, number: int) -> bool:
        """Whether the row's run is in the export and this is the first row of it."""
        ref = f"{self.letters[self.run_col]}{number}"
        if self.checked and run is None:
            self.problems.append(
                RowProblem(
                    ref,
                    "unknown_ids",
                    f"Run {run_id} is not in this export: was the run_id cell edited, or "
                    "the row copied from another sheet? Undo the edit.",
                    value=run_id,
                )
            )
            return False
        if run_id in self.seen:
            self.twice.add(run_id)
            where = f"Run {run_id} is also in row {self.seen[run_id]}"
            self.problems.append(duplicate_problem(ref, where, None, run_id))
            return False
        return True

    def _compare_context(
        self, row: Sequence[Any], number: int, run_id: str, run: RunBase, differ: set[int] | None
    ) -> None:
        """The run's context cells (title, status, due date, started by), against the
        export; of a row told apart from its exported row (``differ``: the columns that
        are not as exported, None if unknown), only the cells not as exported."""
        for col, name in self.context_cols:
            if differ is not None and col not in differ:
                continue  # as exported, so as the base has it: the export wrote both
            expected = str(getattr(run, RUN_ATTRIBUTES[name], "") or "")
            raw = self.cell_at(row, col)
            if raw == expected and (name != "due_date" or _ISO_DAY.fullmatch(expected)):
                continue  # the text exported (most cells): it reads back as itself
            shown = _due_date(raw) if name == "due_date" else as_shown(raw)
            if shown != as_shown(expected):
                ref = f"{self.prefix}!{col_name(col)}{number}"
                key = FieldKey(run_id, "", name)
                self.problems.append(context_problem(ref, name, expected, shown, key))

    def _changed_columns(self, differ: set[int] | None) -> Sequence[ValueColumn]:
        """The value columns to read: of a row told apart from its exported row, only
        the cells that differ (a streamed xlsx row tells them from its cells' bytes,
        none decoded); else all."""
        if differ is None:
            return self.columns
        column_at = self.column_at
        return [column_at[i] for i in sorted(differ) if i in column_at]

    def cells_unchecked(
        self,
        ref: str,
        raw: CellValue,
        run_id: str,
        run: RunBase | None,
        template_task_id: str,
        field_id: str,
    ) -> None:
        """A cell read without a base snapshot: its task is found later, from live state."""
        self.cells.append(SheetCell(FieldKey(run_id, "", field_id), ref, raw, template_task_id))

    def cells_of_run(
        self,
        ref: str,
        raw: CellValue,
        run_id: str,
        run: RunBase | None,
        template_task_id: str,
        field_id: str,
    ) -> None:
        """A cell of a run in the base snapshot; n/a where the run has no such field."""
        assert run is not None
        key = FieldKey(run_id, run.task_of.get(template_task_id, ""), field_id)
        base = run.get(key)
        if base is not None:
            self.cells.append(SheetCell(key, ref, raw, base=base))
        elif raw is not None and as_shown(raw) != "n/a":
            # n/a: the run has no such task or field; a value typed there is an error.
            self.problems.append(
                RowProblem(
                    ref,
                    "not_applicable",
                    f"Run {run_id} has no such field (it was made from another "
                    "version of the template); leave the cell as n/a.",
                    FieldKey(run_id, "", field_id),
                    as_shown(raw),
                )
            )


_ISO_DAY: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
"""A due date as the export writes it; one that reads as another date (``2026-1-5``)
is compared as read."""


def _due_date(raw: CellValue) -> str:
    """A due date cell as compared with the export: a date cell (or text) as YYYY-MM-DD."""
    try:
        return str(codec_for("date").from_cell(raw) or "")
    except CellError:
        return as_shown(raw)


# The hidden row key (the highlighting's way to a row's exported copy) is bulksync's too.
_CONTEXT_NAMES = frozenset(n for c in (*RUN_CONTEXT_COLUMNS, ROW_KEY) for n in (c.key, c.title))


def foreign_columns(
    keys: Sequence[str],
    titles: Sequence[str],
    ref_of: Callable[[int], str],
    refused: Container[int],
) -> list[RowProblem]:
    """Columns with a title or key that bulksync did not write (a person's notes)."""
    found = []
    for col, key in enumerate(keys):
        title = as_shown(titles[col]) if col < len(titles) else ""
        name = as_shown(key)
        if not (name or title) or ":" in name or name in _CONTEXT_NAMES:
            continue
        if col not in refused:
            found.append(ignored_column(ref_of(col), col, title or name))
    return found


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
    label_of = {key: as_shown(f"{group} › {title}") for key, group, title in exported}
    key_of = {label: key for key, label in label_of.items()}
    checked = list(keys)
    problems: list[RowProblem] = []
    first: dict[str, int] = {}
    for col, key in enumerate(keys):
        label = as_shown(labels[col]) if col < len(labels) else ""
        if ":" not in key and not (key == "" and label in key_of):
            continue
        right = key_of.get(label)
        put_back = (
            f"Put back {right!r}, the key the export wrote for {label!r}{fix}"
            if right
            else f"Put back the key the export wrote{fix}"
        )
        if key not in first and key in label_of and garbled(label, label_of[key]):
            # The right key, its label garbled by a wrong character set: said once.
            first[key] = col
            if not any(p.code == "mojibake" for p in problems):
                problem = RowProblem(ref_of(col), "mojibake", garbled_message(label_of[key]))
                problems.append(replace(problem, value=label))
            continue
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

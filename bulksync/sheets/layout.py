"""The two layouts of an export, as a grid of cells that any writer can put to a file.

* ``tasks``: one row per editable value; it reads like a run's form, top to bottom.
* ``runs``: one row per run, one column per (task, field) of the template.

Both carry the ids import needs: the tasks layout in id columns at the right, the runs
layout in its run id column and a row of column keys (``TEMPLATE_TASK_ID:FIELD``).

The runs layout also says, column by column, what a row for a run to start takes
(``Grid.launch``): a launch sheet (``new_rows``) has such empty rows below the runs, and
every runs-layout xlsx gives rows appended at the bottom the same validation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, NamedTuple

from bulksync.codecs import ASSIGNEE, COMPLETION, CellValue, codec_for, is_writable
from bulksync.errors import ConfigError
from bulksync.model import JSON, Run
from bulksync.snapshot import (
    FieldSpec,
    FieldValue,
    Snapshot,
    editable_ids,
    field_labels,
    task_fields,
)


class Layout(StrEnum):
    TASKS = "tasks"
    RUNS = "runs"


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str
    group: str = ""
    width: float = 14.0
    hidden: bool = False
    kind: str | None = None
    """The field type of a runs-layout value column."""


class Cell(NamedTuple):
    """A cell of the grid. A named tuple, like ``FieldSpec``: one is made per cell of a
    sheet, and a tuple is made at C speed where a frozen dataclass sets each field in
    turn."""

    value: CellValue
    field: FieldValue | None = None
    """Set on a value cell: the field and its exported value."""
    na: bool = False
    """The run has no such field (made from another template version)."""
    shows: tuple[JSON] | None = None
    """Set when the cell shows another value than its field's base value: a value to
    retry, in the CSV of values that failed (the base is what NextStep holds)."""


NA = Cell(None, na=True)


class Takes(NamedTuple):
    """What a cell takes: its value's type (a codec's kind), and how a spreadsheet checks
    and explains it. The cells alike share one xlsx data validation."""

    kind: str
    options: tuple[str, ...] = ()
    required: bool = False
    title: str = ""
    """The input message's title, where the kind does not say enough (``Run title``)."""
    prompt: str = ""
    """The input message, where the codec's own does not say enough."""
    check: str = ""
    """A check besides the codec's: ``email``, the value has an ``@``."""


TAKES_TITLE: Final = Takes(
    "shortText",
    required=True,
    title="Run title · required",
    prompt="Title of the run to start (required). A row left empty starts no run.",
)
TAKES_DUE_DATE: Final = Takes(
    "date", title="Due date", prompt="The due date of the run to start (optional), YYYY-MM-DD."
)
TAKES_STARTED_BY: Final = Takes(
    "email",
    title="Started by",
    prompt="Optional: the email address of the team member who starts the run (a member "
    "of the NextStep team).",
    check="email",
)


def due_date_of(run: Run) -> str:
    """The date part (``YYYY-MM-DD``) of a run's due date; "" when it has none."""
    return (run.due_date or "")[:10]


class Context:
    """What a run's context cells show (titles, status, due date, who started it,
    sections), for the base snapshot.

    Computed run by run from the snapshot as the export is written, so that nothing
    about all runs at once is held beside the snapshot itself.
    """

    def __init__(self, snapshot: Snapshot | None = None) -> None:
        self._snapshot = snapshot
        self._runs = {run.id: run for run in snapshot.runs} if snapshot else {}

    def of_run(self, run_id: str) -> dict[str, Any]:
        """The run's context cells (``run_fields``), and its tasks' titles and sections."""
        found = self.run_fields(run_id)
        snapshot = self._snapshot
        if snapshot is not None and run_id in self._runs:
            sections = snapshot.section_titles
            found["tasks"] = {
                t.id: [t.title, sections.get(t.section_id or "", "")]
                for t in snapshot.tasks.get(run_id, ())
            }
        return found

    def run_fields(self, run_id: str) -> dict[str, Any]:
        """What the run's own context cells show, without its tasks (``tasks`` empty)."""
        snapshot, run = self._snapshot, self._runs.get(run_id)
        if snapshot is None or run is None:
            return {"title": "", "status": "", "due_date": "", "started_by": "", "tasks": {}}
        return {
            "title": run.title,
            "status": run.status,
            "due_date": due_date_of(run),
            "started_by": run.started_by or "",
            "read_at": snapshot.read_at.get(run_id, ""),
            "tasks": {},
        }


@dataclass(frozen=True)
class Grid:
    layout: Layout
    sheet: str
    columns: tuple[Column, ...]
    rows: Iterator[list[Cell]]
    row_count: int
    """The rows written: one per run (or value), and the new rows."""
    context: Context = field(default_factory=Context)
    new_rows: int = 0
    """Empty rows for runs to start, after the runs' rows (runs layout)."""
    launch: tuple[Takes | None, ...] = ()
    """Per column, what a row for a run to start takes there: None where such a row has
    nothing to give (status, ids; n/a in a value column the template no longer has).
    Empty for the tasks layout, and for a runs layout without the template's tasks."""
    values: int = 0
    """The editable values the rows hold, counted in the pass that sized the grid (so
    that a snapshot read from disk is not read once more to count them)."""
    snapshot: Snapshot | None = None
    """What the rows are made of, for a writer that makes its cells from it itself (the
    CSV's: text, with no ``Cell`` per cell); None for a grid given only as cells."""
    assignees: bool = False
    """Whether each task's assignee is a value of the rows (with ``snapshot``)."""


TASK_COLUMNS = (
    Column("run", "Run", width=30),
    Column("section", "Section", width=18),
    Column("task", "Task", width=30),
    Column("field", "Field", width=24),
    Column("type", "Type", width=12),
    Column("required", "Required", width=9),
    Column("options", "Allowed values", width=30),
    Column("value", "Value", width=36),
    Column("run_id", "run_id", width=16, hidden=True),
    Column("task_id", "task_id", width=16, hidden=True),
    Column("field_id", "field_id", width=16, hidden=True),
)
TASK_ID_COLUMNS = ("run_id", "task_id", "field_id")
ROW_KEY = Column("bulksync_row", "bulksync row", width=8, hidden=True)
"""The xlsx data sheet's last, hidden column: each row's number at export, which moves
with the row when the rows are sorted; the edit highlighting finds the row's exported
copy by it. Not in a CSV, and not read by import."""
RUN_CONTEXT_COLUMNS = (
    Column("run", "Run", width=34),
    Column("status", "Status", width=10),
    Column("due_date", "Due date", width=12),
    Column("started_by", "Started by", width=26),
    Column("run_id", "run_id", width=16, hidden=True),
)
RUN_LAUNCH: Final[dict[str, Takes | None]] = {
    "run": TAKES_TITLE,
    "status": None,
    "due_date": TAKES_DUE_DATE,
    "started_by": TAKES_STARTED_BY,
    "run_id": None,
}
"""What a row for a run to start takes in each context column."""


def type_label(spec: FieldSpec) -> str:
    """The Type cell of a field: its element type, as its codec names it."""
    return codec_for(spec.kind).label


def allowed_values(spec: FieldSpec) -> str:
    """The Allowed values cell of a field: its options, or what its type takes."""
    return codec_for(spec.kind).hint(spec.options)


def value_cell(field: FieldValue) -> Cell:
    spec = field.spec
    return Cell(codec_for(spec.kind).to_cell(field.value, spec.options), field)


def tasks_grid(snapshot: Snapshot, *, assignees: bool = True) -> Grid:
    """One row per editable value."""
    count = snapshot.count_fields(assignees=assignees)

    def rows() -> Iterator[list[Cell]]:
        # A field's Type and Allowed values cells, made once per kind and options.
        described: dict[tuple[str, tuple[str, ...]], tuple[Cell, Cell]] = {}
        for run in snapshot.runs:
            run_title = Cell(run.title)
            for task in snapshot.tasks.get(run.id, ()):
                section = Cell(snapshot.section_titles.get(task.section_id or "", ""))
                task_title = Cell(task.title)
                for value in task_fields(run, task, assignees=assignees):
                    spec = value.spec
                    about = described.get((spec.kind, spec.options))
                    if about is None:
                        about = described[spec.kind, spec.options] = (
                            Cell(type_label(spec)),
                            Cell(allowed_values(spec)),
                        )
                    yield [
                        run_title,
                        section,
                        task_title,
                        Cell(spec.label),
                        about[0],
                        Cell("yes" if spec.required else ""),
                        about[1],
                        value_cell(value),
                        Cell(spec.key.run_id),
                        Cell(spec.key.task_id),
                        Cell(spec.key.field),
                    ]

    return Grid(
        Layout.TASKS,
        "Fields",
        TASK_COLUMNS,
        rows(),
        count,
        Context(snapshot),
        values=count,
        snapshot=snapshot,
        assignees=assignees,
    )


def runs_grid(snapshot: Snapshot, *, assignees: bool = False, new_rows: int = 0) -> Grid:
    """One row per run, one column per (template task, field); then ``new_rows`` empty
    rows for runs to start."""
    templates = {run.template_id for run in snapshot.runs}
    if len(templates) > 1:
        raise ConfigError(
            f"The runs layout shows runs of one template, but these runs come from "
            f"{len(templates)} ({', '.join(sorted(templates))}). Export them one template "
            "at a time, or use --layout tasks."
        )
    if new_rows and not snapshot.template_tasks:
        raise ConfigError(
            "Rows for runs to start need the template's tasks: read the snapshot with "
            "fetch_snapshot(..., with_template=True)."
        )
    columns, takes = _template_columns(snapshot, assignees=assignees)
    values = _add_run_columns(columns, snapshot, assignees=assignees)
    value_columns = list(columns.values())
    dates = codec_for("date")
    first = len(RUN_CONTEXT_COLUMNS)
    position = {column.key: col for col, column in enumerate(value_columns, start=first)}

    def rows() -> Iterator[list[Cell]]:
        for run in snapshot.runs:
            row = [
                Cell(run.title),
                Cell(run.status),
                Cell(dates.to_cell(due_date_of(run) or None)),
                Cell(run.started_by),
                Cell(run.id),
                *(NA,) * len(value_columns),  # n/a where the run has no such field
            ]
            for task in snapshot.tasks.get(run.id, ()):
                for value in task_fields(run, task, assignees=assignees):
                    key = f"{value.spec.template_task_id}:{value.spec.key.field}"
                    row[position[key]] = value_cell(value)  # a later one of a key wins
            yield row

    launch: tuple[Takes | None, ...] = ()
    if snapshot.template_tasks:
        launch = (
            *(RUN_LAUNCH[c.key] for c in RUN_CONTEXT_COLUMNS),
            *(takes.get(c.key) for c in value_columns),
        )
    return Grid(
        Layout.RUNS,
        "Runs",
        RUN_CONTEXT_COLUMNS + tuple(value_columns),
        rows(),
        len(snapshot.runs) + new_rows,
        Context(snapshot),
        new_rows=new_rows,
        launch=launch,
        values=values,
        snapshot=snapshot,
        assignees=assignees,
    )


def _column(key: str, title: str, group: str, kind: str) -> Column:
    return Column(key, title, group, codec_for(kind).width, kind=kind)


def _template_columns(
    snapshot: Snapshot, *, assignees: bool
) -> tuple[dict[str, Column], dict[str, Takes]]:
    """The value columns of the template's tasks, by key, in the template's order; and
    what each takes in a run started from the template now."""
    columns: dict[str, Column] = {}
    takes: dict[str, Takes] = {}
    for tt in snapshot.template_tasks:
        key = f"{tt.id}:{COMPLETION}"
        columns[key] = _column(key, "Completed", tt.title, COMPLETION)
        takes[key] = Takes(COMPLETION)
        if assignees:
            key = f"{tt.id}:{ASSIGNEE}"
            columns[key] = _column(key, "Assignee", tt.title, ASSIGNEE)
            takes[key] = Takes(ASSIGNEE)
        for element in tt.elements:
            if element.display_only or not is_writable(element.type):
                continue
            key = f"{tt.id}:{element.id}"
            columns[key] = _column(key, element.label or element.id, tt.title, element.type)
            takes[key] = Takes(element.type, element.options, element.required)
    return columns, takes


def _add_run_columns(columns: dict[str, Column], snapshot: Snapshot, *, assignees: bool) -> int:
    """Columns for fields the runs have but the template no longer does; return how many
    values the runs have.

    This pass keeps only column keys; each run's fields are made again as its row is
    written, so memory does not grow with the number of runs. A task whose fields all
    have a column already (the field ids seen with its template task) is only counted.
    """
    values = 0
    per_task = 2 if assignees else 1
    seen: dict[str | None, set[str]] = {}
    """Field ids that have a column, by template task id."""
    for run in snapshot.runs:
        for task in snapshot.tasks.get(run.id, ()):
            ids = editable_ids(task)
            values += len(ids) + per_task
            known = seen.get(task.template_task_id)
            if known is not None and known.issuperset(ids):
                continue  # completion and assignee were seen with the first task
            known = seen.setdefault(task.template_task_id, set())
            for field_id, kind, label in field_labels(task, assignees=assignees):
                key = f"{task.template_task_id}:{field_id}"
                if key not in columns:
                    columns[key] = _column(key, label, task.title, kind)
                known.add(field_id)
    return values


def build_grid(
    snapshot: Snapshot, layout: Layout, *, assignees: bool | None = None, new_rows: int = 0
) -> Grid:
    if layout is Layout.TASKS:
        if new_rows:
            raise ConfigError(
                "Rows for runs to start are a runs-layout thing: export with --layout runs."
            )
        return tasks_grid(snapshot, assignees=True if assignees is None else assignees)
    return runs_grid(snapshot, assignees=bool(assignees), new_rows=new_rows)

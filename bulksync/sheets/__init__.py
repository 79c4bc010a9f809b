"""Spreadsheets: the export layouts, and the xlsx and CSV writers and readers.

``write_export`` puts a ``Snapshot`` into a file; ``read_sheet`` reads any file that
export wrote (also after a spreadsheet app re-saved it) into a ``Sheet``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import io
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bulksync.errors import SheetError, StorageError
from bulksync.perf import cycle_collector_paused
from bulksync.sheets.csvfile import read_csv, sidecar, write_csv
from bulksync.sheets.layout import (
    TASK_COLUMNS,
    Cell,
    Column,
    Context,
    Grid,
    Layout,
    allowed_values,
    build_grid,
    type_label,
)
from bulksync.sheets.meta import ExportMeta
from bulksync.sheets.reading import Sheet, SheetCell
from bulksync.sheets.xlsx import MAX_ROWS, write_xlsx
from bulksync.sheets.xlsx_read import read_xlsx
from bulksync.snapshot import FieldValue, Snapshot
from bulksync.version import __version__

if TYPE_CHECKING:
    from bulksync.plans import Change

__all__ = [
    "ExportResult",
    "Layout",
    "Sheet",
    "SheetCell",
    "check_output",
    "read_sheet",
    "write_export",
    "write_retry_csv",
]

SUFFIXES = (".xlsx", ".csv")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    layout: Layout
    runs: int
    values: int
    sidecar: Path | None = None
    new_rows: int = 0
    """Empty rows written for runs to start."""


def check_output(path: Path, *, protect: bool = False) -> None:
    """Refuse a path export cannot write, before anything is read from NextStep."""
    if _suffix(path) == ".csv" and protect:
        raise SheetError("--protect is for .xlsx files; a CSV file has no sheet protection.")
    if path.exists() and path.is_dir():
        raise SheetError(f"{path} is a directory; name a file to write.")


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise SheetError(
            f"{path.name}: bulksync writes and reads .xlsx and .csv files; name the file "
            "with one of those endings."
        )
    return suffix


def about_lines(snapshot: Snapshot, meta: ExportMeta, *, protect: bool = False) -> list[str]:
    runs_layout = meta.layout == Layout.RUNS.value
    if snapshot.template_id and runs_layout and meta.new_rows and not snapshot.runs:
        what = f"template {snapshot.template_id}, without its runs"
    elif snapshot.template_id and runs_layout:
        what = f"all runs of template {snapshot.template_id}"
    else:
        what = f"{meta.runs} run(s)"
    new = f", {meta.new_rows} empty rows for runs to start" if meta.new_rows else ""
    return [
        "bulksync export of NextStep process runs",
        "",
        f"What: {what}: {meta.runs} runs, {meta.values} editable values{new}, "
        f"{meta.layout} layout (sheet {meta.sheet!r}).",
        f"When: {meta.exported_at} (UTC), from {meta.host}, by bulksync {meta.bulksync_version}.",
        "",
        "How to edit:",
        "• Change values in the white cells only. Grey cells are context or read-only: values "
        "of completed runs and skipped tasks, and values a spreadsheet cell cannot hold"
        + (
            "; the sheet is protected, so they cannot be changed."
            if protect
            else "; import refuses a change of one and names the cell."
        ),
        "• Edited cells turn yellow. Dropdown cells offer their options; multichoice cells "
        "take options separated by ';'. Completion and checkboxes are TRUE or FALSE; dates "
        "are YYYY-MM-DD. Text cells keep what you type as text (a leading zero, a long "
        "reference number).",
        (
            "• Filter as you like. The sheet is protected (exported with --protect), so "
            "LibreOffice and Excel refuse to sort it; export without --protect to sort."
            if protect
            else "• Sort and filter as you like: edited cells stay yellow after a sort. "
            "Deleting a row changes nothing."
        )
        + " Do not edit the hidden columns (run_id, task_id, field_id, bulksync row): "
        "import reads the ids, and the highlighting finds each row's exported copy by its "
        "bulksync row.",
        *(_how_to_start(snapshot, meta) if runs_layout else ()),
        "",
        "The hidden sheets (a spreadsheet app may show them; do not edit them):",
        "• _bulksync (do not edit): the export's metadata and every exported value, what "
        "import compares your edits with;",
        "• _base (do not edit): a copy of the exported rows, for the yellow marks and a fast "
        "import;",
        "• _lists (do not edit): the options of the dropdown cells.",
        "",
        "How to import:",
        "• bulksync import THIS_FILE --dry-run   shows what would change, every cell that "
        "needs fixing, and conflicts with edits made in NextStep since this export "
        "(--report review.html writes a page for a reviewer);",
        "• bulksync import THIS_FILE             applies it, with a journal; running it again "
        "applies nothing twice, and bulksync undo reverts it.",
    ]


def _how_to_start(snapshot: Snapshot, meta: ExportMeta) -> list[str]:
    """The About sheet's part on starting runs from new rows (runs layout)."""
    where = (
        f"one of the {meta.new_rows} empty rows at the bottom, or a row appended below them"
        if meta.new_rows
        else "a row appended below the last run"
    )
    template = snapshot.template
    unpublished = (
        [
            f"• Template {template.id} ({template.title}) is not published: NextStep starts "
            "no run from it until it is published there."
        ]
        if template is not None and not template.is_published
        else []
    )
    return [
        "",
        "How to start runs:",
        f"• Fill {where}, one row per run to start. Run (the new run's title) is "
        "required; Due date (YYYY-MM-DD) and Started by (the email address of a member of "
        "the NextStep team) are optional. Leave Status and the hidden run_id empty.",
        "• The values in the row's field columns are filled in as the run starts; "
        "completion ticks (TRUE) and assignees are set right after it starts.",
        "• A row left empty is ignored. Importing the same sheet again never starts a run twice.",
        "• bulksync undo cannot delete a run: a run started by mistake must be archived in "
        "NextStep.",
        *unpublished,
    ]


def write_export(
    snapshot: Snapshot,
    path: Path,
    *,
    layout: Layout | None = None,
    assignees: bool | None = None,
    now: dt.datetime | None = None,
    max_rows: int = MAX_ROWS,
    protect: bool = False,
    new_rows: int = 0,
    export_id: str | None = None,
) -> ExportResult:
    """Write the snapshot to ``path`` (.xlsx or .csv) in a layout.

    ``now`` is the export's time and ``export_id`` its id (random by default), both
    recorded in the file; a resumed export passes those of its first attempt, so that
    it writes the file the uninterrupted export would have written.

    An xlsx data sheet is not protected, so that it can be sorted; ``protect`` locks
    its read-only cells (LibreOffice and Excel then refuse to sort it). A CSV has no
    protection: ``protect`` is refused for one.

    ``new_rows`` (runs layout, with the template's tasks) adds that many empty rows after
    the runs' rows, for runs to start: a launch sheet. In an xlsx they are editable
    wherever a run started from the template now takes a value, and validated as the
    runs' cells are; in a CSV every cell of them is empty.
    """
    check_output(path, protect=protect)
    suffix = _suffix(path)
    layout = layout or (Layout.RUNS if snapshot.template_tasks else Layout.TASKS)
    grid = build_grid(snapshot, layout, assignees=assignees, new_rows=new_rows)
    with_assignees = layout is Layout.TASKS if assignees is None else assignees
    meta = ExportMeta(
        bulksync_version=__version__,
        host=snapshot.host,
        exported_at=(now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        layout=layout.value,
        sheet=grid.sheet,
        runs=len(snapshot.runs),
        values=grid.values,
        template_id=snapshot.template_id,
        assignees=with_assignees,
        export_id=export_id or secrets.token_hex(6),
        columns=[(c.key, c.group, c.title) for c in grid.columns if c.kind]
        if layout is Layout.RUNS
        else (),
        new_rows=grid.new_rows,
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with cycle_collector_paused():
            if suffix == ".csv":
                values = write_csv(grid, meta, path)
                return ExportResult(path, layout, meta.runs, values, sidecar(path), meta.new_rows)
            about = about_lines(snapshot, meta, protect=protect)
            values = write_xlsx(grid, meta, path, about, max_rows=max_rows, protect=protect)
        return ExportResult(path, layout, meta.runs, values, new_rows=meta.new_rows)
    except OSError as exc:
        failure = StorageError(
            f"Cannot write {path}: {exc.strerror or exc}. Nothing changed in NextStep; free "
            "some space, or write elsewhere with -o."
        )
        # The failed writer's frames hold xlsxwriter's half-written zip file, which
        # complains (a traceback on stderr) when it is collected: let it go here, muted.
        with contextlib.redirect_stderr(io.StringIO()):
            chained: BaseException | None = exc
            while chained is not None:
                chained.__traceback__ = None
                chained = chained.__context__
            gc.collect()
    raise failure


def read_sheet(
    path: Path, *, encoding: str | None = None, no_base: bool = False, only_edited: bool = False
) -> Sheet:
    """Read a file that ``write_export`` wrote, as is or re-saved by a spreadsheet app.

    ``no_base`` accepts a CSV without its base snapshot (a hand-made one): its cells
    are then matched to fields from live state (see ``bulksync.validate``).
    ``only_edited`` keeps only the cells that may hold an edit, where the file says
    (an xlsx compares its rows with the hidden copy of the exported ones, a CSV each
    row's digest with the one its sidecar recorded); import uses
    it, and it is what makes importing a large, lightly edited workbook fast.
    """
    if not path.exists():
        raise SheetError(f"{path} does not exist.")
    if path.is_dir():
        raise SheetError(f"{path} is a directory; name the sheet file to import.")
    with cycle_collector_paused():
        if _suffix(path) == ".csv":
            return read_csv(path, encoding, no_base=no_base, only_edited=only_edited)
        if encoding:
            raise SheetError("--encoding is for CSV files; an xlsx file says its own encoding.")
        return read_xlsx(path, only_edited=only_edited)


class _RetryContext(Context):
    """Context cells of a retry sheet: the titles the import reported."""

    def __init__(self, runs: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self._given = runs

    def of_run(self, run_id: str) -> dict[str, Any]:
        return self._given.get(run_id) or super().of_run(run_id)


RETRY_COLUMNS = (*TASK_COLUMNS, Column("problem", "Problem", width=60))


def write_retry_csv(path: Path, items: Sequence[tuple[Change, str]], *, host: str) -> int:
    """A tasks-layout CSV (with its base sidecar) of values to try again.

    Each row shows the value that was meant and, in a last column, what went wrong; its
    base is the value NextStep holds (``change.live``), so importing the file after
    fixing the values is an ordinary import, with the same three-way check. Values whose
    field is not known are left out.
    """
    problems = {id(change): problem for change, problem in items}
    fields = [c for c, _ in items if c.spec is not None]
    runs: dict[str, dict[str, Any]] = {}
    for change in fields:
        run = runs.setdefault(
            change.key.run_id, {"title": change.run_title, "status": "active", "tasks": {}}
        )
        run["tasks"][change.key.task_id] = [change.task_title, ""]

    def rows() -> Iterator[list[Cell]]:
        for change in fields:
            assert change.spec is not None
            value = FieldValue(change.spec, change.live)
            yield [
                Cell(change.run_title),
                Cell(""),
                Cell(change.task_title),
                Cell(change.spec.label),
                Cell(type_label(change.spec)),
                Cell("yes" if change.spec.required else ""),
                Cell(allowed_values(change.spec)),
                Cell(None, value, shows=(change.sheet,)),
                Cell(change.key.run_id),
                Cell(change.key.task_id),
                Cell(change.key.field),
                Cell(problems[id(change)]),
            ]

    grid = Grid(Layout.TASKS, "Fields", RETRY_COLUMNS, rows(), len(fields), _RetryContext(runs))
    meta = ExportMeta(
        bulksync_version=__version__,
        host=host,
        exported_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        layout=Layout.TASKS.value,
        sheet=grid.sheet,
        runs=len(runs),
        values=len(fields),
        export_id=secrets.token_hex(6),
    )
    return write_csv(grid, meta, path)

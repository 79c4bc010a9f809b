"""Starting runs from Python: rows given as mappings, started as a sheet's new rows are.

``start_runs`` makes the rows into the new rows of a runs-layout ``Sheet`` (each value
a cell, at a place such as ``rows[3]['Legal name']``) and runs the stages an import of
such a sheet runs: ``plan_import`` decodes and checks every value with the codecs and
plans the runs to start (``launch_plan``), and ``apply_plan`` starts them, journalled
(``launch_apply``). Nothing is sent while an error stands.

Never twice: the journals go in run directories under ``state_dir``, all of one
``batch``, and each call reads what the earlier calls of the batch started
(``journal.started_rows``), by row: its title and which of the rows with that title it
is. A call again with the same batch (after a crash, or just again) starts no row
twice; a row whose POST went and whose answer was lost is looked for before it is
started. The batch's first call stands for a sheet's export: a run with a row's title
started since then that the batch did not start is a conflict (not started, unless
``on_conflict="mine"``).
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from bulksync.apply import apply_plan
from bulksync.client import NextStepClient
from bulksync.codecs import MULTI_SEPARATOR, CellValue, codec_for
from bulksync.diff import plan_import
from bulksync.fetch import LiveState
from bulksync.issues import Issue, IssueCode, Severity
from bulksync.journal import started_rows
from bulksync.launch import StartResultKind
from bulksync.launch_plan import title_key
from bulksync.model import Run, TemplateTask
from bulksync.plans import ApplyResult, ImportOptions, OnConflict, Plan
from bulksync.rundir import RunOf, export_run_dirs, made_at, new_run_dir, writer_lock
from bulksync.sheets.layout import Column, Layout, runs_grid
from bulksync.sheets.meta import BaseSnapshot, ExportMeta
from bulksync.sheets.reading import NewRow, Sheet, SheetCell
from bulksync.snapshot import FieldKey, Snapshot
from bulksync.version import __version__

Progress = Callable[[int, int], None]
"""Called with (requests done, requests in all) as the runs are started."""

CONTEXT: Final = {"title": "run", "due_date": "due_date", "started_by": "started_by"}
"""A row's own keys, and the runs layout's column each stands for."""
_STARTED: Final = (StartResultKind.STARTED, StartResultKind.ADOPTED)


@dataclass(frozen=True)
class Launch:
    """What ``start_runs`` came to."""

    plan: Plan
    """The plan: its ``errors`` and ``warnings`` (``Issue``s whose ``cell`` is the row
    and key, ``rows[3]['Legal name']``), and its ``creates``, a ``Start`` per row (run
    to start, started already by an earlier call of the batch, or a conflict)."""
    result: ApplyResult | None
    """What starting the runs came to (``result.starts``, a ``StartResult`` per run
    started); None for a dry run, while an error stands, or when there was nothing to
    send: then nothing was sent."""
    runs: list[Run]
    """The runs this call started (or, after a lost answer, found and took as a row's),
    in the order of the rows, as NextStep gave them."""
    run_dir: Path | None
    """The run directory of this call (``journal.jsonl``, ``results.csv``), under
    ``state_dir``; None when nothing was sent."""

    @property
    def errors(self) -> tuple[Issue, ...]:
        """The plan's errors: while there is one, nothing is sent."""
        return self.plan.errors


def start_runs(
    client: NextStepClient,
    template_id: str,
    rows: Iterable[Mapping[str, Any]],
    *,
    state_dir: Path | str,
    batch: str,
    on_conflict: OnConflict | str = "skip",
    dry_run: bool = False,
    progress: Progress | None = None,
) -> Launch:
    """Start a run of the template per row, with the row's values; never one twice.

    A row has a ``title`` and, optionally, a ``due_date`` and ``started_by`` (a team
    member's email), and values keyed by the runs layout's column key
    (``TEMPLATE_TASK_ID:ELEMENT_ID``, ``…:completed``, ``…:assignee``), by ``"Task ›
    Field"`` or by a field's label alone when no other field of the template has it.
    Each value is read as a sheet's cell is (a list as the text export writes for it),
    with the same checks; a key that names no field is an error. Nothing is sent while
    an error stands, nor in a ``dry_run``.

    ``batch`` and ``state_dir`` make a rerun safe: the run directories of a batch are
    under ``state_dir``, and a row that an earlier call of the batch started (matched
    by its title, and which of the rows with that title it is) is not started again.
    Raises ``LockedError`` when another call writes from ``state_dir`` to the same
    NextStep, and ``TypeError`` for a row that is not a mapping or a value of a type no
    cell holds (a dict).
    """
    if not batch.strip():
        raise ValueError("batch must name the batch: it is what makes a rerun safe")
    if not template_id or not template_id.strip():
        raise ValueError("template_id must name the template the runs are started from")
    rows = list(rows)
    sheet_path = Path(state_dir) / f"batch-{re.sub(r'[^A-Za-z0-9_-]+', '_', batch)[:80]}"
    run_of = RunOf.sheet(sheet_path, exported_from=client.host, exported_at=f"batch {batch}")
    options = ImportOptions(on_conflict=OnConflict(on_conflict))
    lock: AbstractContextManager[None] = nullcontext()
    if not dry_run:
        command = f"bulksync.start_runs(batch={batch!r})"
        lock = writer_lock(sheet_path, client.host, command=command)
    with lock:
        dirs = export_run_dirs(
            sheet_path, exported_from=run_of.exported_from, exported_at=run_of.exported_at
        )
        live = LiveState(client)
        began = (made_at(dirs[0]) if dirs else None) or _now()
        sheet, issues = _sheet(rows, template_id, live, path=sheet_path, began=began)
        ledger = started_rows(dirs)
        plan = plan_import(
            sheet, live.read, host=client.host, options=options, source=live, ledger=ledger
        )
        plan = replace(plan, errors=(*issues, *plan.errors))
        if dry_run or plan.errors or not plan.has_work:
            return Launch(plan, None, [], None)
        run_dir = new_run_dir(sheet_path, run_of=run_of)
        result = apply_plan(plan, client, run_dir, progress=progress, live=live)
    runs = [s.run for s in result.starts if s.run is not None and s.result in _STARTED]
    return Launch(plan, result, runs, run_dir)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def _sheet(
    rows: Sequence[Mapping[str, Any]],
    template_id: str,
    live: LiveState,
    *,
    path: Path,
    began: str,
) -> tuple[Sheet, list[Issue]]:
    """The rows as the new rows of a runs-layout sheet of the template, and the errors
    of keys that name no field (for a template that exists)."""
    template = live.template(template_id)
    tasks = live.template_tasks(template_id) if template is not None else []
    columns = _Columns(tasks)
    new_rows: list[NewRow] = []
    issues: list[Issue] = []
    for number, row in enumerate(rows):
        new_row, found = _new_row(number, row, columns, known=template is not None)
        new_rows.append(new_row)
        issues.extend(found)
    meta = ExportMeta(
        bulksync_version=__version__,
        host=live.client.host,
        exported_at=began,
        layout=Layout.RUNS.value,
        sheet="rows",
        runs=0,
        values=0,
        template_id=template_id,
        columns=[(c.key, c.group, c.title) for c in columns.all],
    )
    sheet = Sheet(str(path), meta, BaseSnapshot(), (), new_rows=tuple(new_rows))
    return sheet, issues


class _Columns:
    """The runs layout's value columns of a template (as an export makes them), found
    by key, by ``Task › Field`` or by a label that only one of them has."""

    def __init__(self, tasks: Sequence[TemplateTask]) -> None:
        snapshot = Snapshot("", "", (), {}, template_tasks=tuple(tasks))
        self.all = [c for c in runs_grid(snapshot, assignees=True).columns if c.kind]
        self.by_key = {c.key: c for c in self.all}
        self.options = {
            f"{task.id}:{element.id}": element.options
            for task in tasks
            for element in task.elements
        }
        self.by_name: dict[str, list[Column]] = {}
        for column in self.all:
            for name in (f"{column.group} › {column.title}", column.title):
                self.by_name.setdefault(title_key(name), []).append(column)

    def find(self, key: str) -> Column | str:
        """The column ``key`` names, or why there is none."""
        if key in self.by_key:
            return self.by_key[key]
        found = self.by_name.get(title_key(key), [])
        if len(found) == 1:
            return found[0]
        if found:
            names = ", ".join(f"{c.group} › {c.title} ({c.key})" for c in found)
            return f"{key!r} is the label of {len(found)} fields ({names}): name one of them"
        return (
            f"The template has no field {key!r}: name a field by its column key "
            "(TEMPLATE_TASK_ID:ELEMENT_ID, or …:completed, …:assignee), as 'Task › Field', "
            "or by its label when no other field has it."
        )


def _new_row(
    number: int, row: Mapping[str, Any], columns: _Columns, *, known: bool
) -> tuple[NewRow, list[Issue]]:
    """A row as a new row of the sheet: its own cells, and a cell per value."""

    if not isinstance(row, Mapping):
        raise TypeError(f"rows[{number}] is a {type(row).__name__}, not a mapping of key to value")

    def ref(key: str) -> str:
        return f"rows[{number}][{key!r}]"

    context = {"run": (ref("title"), None)} | {
        CONTEXT[key]: (ref(key), _cell(value, "shortText", (), ref(key)))
        for key, value in row.items()
        if key in CONTEXT
    }
    cells: list[SheetCell] = []
    issues: list[Issue] = []
    seen: dict[str, str] = {}
    for key, value in row.items():
        if key in CONTEXT or not known:
            continue
        column = columns.find(str(key))
        if isinstance(column, str):
            issues.append(_key_issue(ref(key), column, value))
            continue
        if column.key in seen:
            message = f"{seen[column.key]} names the same field ({column.key}): give it once."
            issues.append(_key_issue(ref(key), message, value))
            continue
        seen[column.key] = ref(key)
        tt_id, _, field = column.key.partition(":")
        options = columns.options.get(column.key, ())
        raw = _cell(value, column.kind or "", options, ref(key))
        cells.append(SheetCell(FieldKey("", "", field), ref(key), raw, tt_id))
    return NewRow(number, context, tuple(cells)), issues


def _key_issue(ref: str, message: str, value: Any) -> Issue:
    shown = value if isinstance(value, str) else repr(value)
    return Issue(Severity.ERROR, IssueCode.NOT_IN_TEMPLATE, message, ref, value=shown)


def _cell(value: Any, kind: str, options: Sequence[str], ref: str) -> CellValue:
    """A Python value as the cell a sheet would hold: a value a cell holds as it is, a
    list as the text export writes for it, a number of another type as its digits."""
    if _missing(value):
        return None  # pandas' NaN and NaT, None: an empty cell
    if isinstance(value, str | bool | int | float | dt.date):
        return value
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
        if kind == "multichoice":
            return codec_for(kind).to_text(items, options)
        return MULTI_SEPARATOR.join(items)
    if isinstance(value, numbers.Number):
        return str(value)
    raise TypeError(
        f"{ref}: a {type(value).__name__} is not a value a run can start with; give a str, "
        "int, float, bool, datetime.date, a list of str (a multichoice) or None"
    )


def _missing(value: Any) -> bool:
    """None, NaN, and pandas' NaT and NA: what a DataFrame's ``to_dict("records")`` gives
    for an empty cell."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return type(value).__name__ in ("NaTType", "NAType")

"""The three-way diff: what an edited sheet asks for, checked against its base and live
state, as a ``Plan``.

``plan_import`` reads nothing by itself: it takes a ``Sheet`` and a function that reads
live tasks of runs, and calls that function for the runs with at least one edited value
(an unedited sheet costs no request), once per ``READ_BATCH`` runs, each run once.
Per value, with base B (from the file), sheet S and live L, compared with the field
type's own equality (``classify``):

* S = B: unchanged; nothing is written, whatever L is (someone else's edit survives);
* S ≠ B, L = B: a change;
* S ≠ B, L = S: already done;
* S ≠ B, L ≠ B, L ≠ S: a conflict, written only with ``on_conflict="mine"``.

Without a base snapshot (``--no-base``) B is taken to be L: every difference from live
is a change, and edits made by others since the export are overwritten.

The plan is one PATCH per task, with its fields, completion and assignee together.
Requests that only set fields go first, then those that complete tasks; the request
that completes a run's last open task goes after every other request of the import,
because NextStep locks a completed run (``send_order``).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

from bulksync.baseurl import same_host
from bulksync.codecs import ASSIGNEE, COMPLETION, CellError, Codec, codec_for, text_of
from bulksync.errors import SheetError
from bulksync.issues import Issue, IssueCode, Severity
from bulksync.launch import Started
from bulksync.launch_plan import TemplateSource, plan_starts
from bulksync.model import JSON, Task
from bulksync.perf import cycle_collector_paused
from bulksync.plans import Change, ImportOptions, LiveReader, OnConflict, Outcome, Patch, Plan
from bulksync.sheets.meta import BaseSnapshot
from bulksync.sheets.reading import Sheet
from bulksync.snapshot import FieldKey, FieldSpec, FieldValue, live_field
from bulksync.validate import Edit, Edits, edits, edits_without_base, file_issues, row_issues


def classify(codec: Codec, base: JSON, sheet: JSON, live: JSON) -> Outcome:
    """The three-way rule for a value edited from ``base`` to ``sheet`` (S ≠ B is decided
    before): live as the base, a change; live as the sheet, done already; else a
    conflict. Used by the plan, by apply's checks before and after sending, and by undo.
    """
    if codec.equal(live, base):
        return Outcome.CHANGE
    if codec.equal(live, sheet):
        return Outcome.ALREADY_DONE
    return Outcome.CONFLICT


def make_change(
    *,
    key: FieldKey,
    cell: str,
    spec: FieldSpec,
    base: JSON,
    sheet: JSON,
    live: FieldValue,
    outcome: Outcome,
    on_conflict: OnConflict,
    task_title: str,
    run_title: str,
) -> Change:
    """The ``Change`` of a classified edit (of the import, or of an undo).

    A plan holds a change per edited value, so what it holds is shared where it can
    be: the field as it was exported (its strings shared by every run of the export)
    when it is still the same in NextStep, and the exported value when the live one is
    the same text."""
    written = outcome is Outcome.CHANGE or (
        outcome is Outcome.CONFLICT and on_conflict is OnConflict.MINE
    )
    live_spec = live.spec if live.spec.locked is None else live.spec._replace(locked=None)
    live_value = live.value
    return Change(
        key=key,
        cell=cell,
        kind=spec.kind,
        label=spec.label,
        base=base,
        sheet=sheet,
        live=base if type(live_value) is str and live_value == base else live_value,
        outcome=outcome,
        written=written,
        task_title=task_title,
        run_title=run_title,
        spec=spec if live_spec == spec else live_spec,
    )


# -- planning ------------------------------------------------------------------------------


def plan_import(
    sheet: Sheet,
    read_live: LiveReader,
    *,
    host: str,
    options: ImportOptions | None = None,
    source: TemplateSource | None = None,
    ledger: Mapping[str, Started] | None = None,
) -> Plan:
    """The plan for an edited sheet: changes, conflicts, errors, and the PATCHes to send;
    and the runs its new rows start (``bulksync.launch_plan``), read from ``source``
    (which is read only when the sheet has new rows) and checked against ``ledger``,
    what the journals of the sheet's earlier imports say they started."""
    with cycle_collector_paused():
        plan = _plan(sheet, read_live, host, options or ImportOptions())
        if not sheet.new_rows:
            return plan
        starts, issues = plan_starts(sheet, source, ledger=ledger, options=options)
    errors = tuple(i for i in issues if i.severity is Severity.ERROR)
    warnings = tuple(i for i in issues if i.severity is Severity.WARNING)
    return replace(
        plan,
        creates=tuple(starts),
        template_id=sheet.meta.template_id,
        errors=plan.errors + errors,
        warnings=plan.warnings + warnings,
    )


def _plan(sheet: Sheet, read_live: LiveReader, host: str, options: ImportOptions) -> Plan:
    meta = sheet.meta
    if sheet.has_base and meta.host and not same_host(meta.host, host) and not options.force:
        raise SheetError(
            f"{sheet.path} was exported from {meta.host}, and this import would go to {host}. "
            "Import it where it came from, or give --force (in Python: force=True) if the two "
            "are meant to be the same team."
        )
    issues = row_issues(sheet)
    if not sheet.has_base:
        issues.append(Issue.of(IssueCode.NO_BASE))
    titles = _Titles(sheet.base)
    found, runs, checked, completing = _checked(sheet, read_live, options, titles)
    issues.extend(found.issues)
    issues[:0] = file_issues(issues)
    outcomes: dict[Outcome, list[Change]] = {o: [] for o in Outcome}
    for change, found_issues in checked:
        issues.extend(found_issues)
        if change is not None:
            outcomes[change.outcome].append(change)
    patches, completes = _build_patches(
        [*outcomes[Outcome.CHANGE], *outcomes[Outcome.CONFLICT]], completing, titles
    )
    titled = [_titled(i, sheet, titles) for i in issues]
    return Plan(
        sheet.path,
        host,
        meta.host,
        meta.exported_at,
        sheet.has_base,
        options.on_conflict,
        changes=tuple(outcomes[Outcome.CHANGE]),
        already_done=tuple(outcomes[Outcome.ALREADY_DONE]),
        conflicts=tuple(outcomes[Outcome.CONFLICT]),
        errors=tuple(i for i in titled if i.severity is Severity.ERROR),
        warnings=tuple(i for i in titled if i.severity is Severity.WARNING),
        patches=tuple(patches),
        unchanged=found.unchanged,
        runs_read=len(runs),
        completes_runs=tuple(completes),
    )


_Checked = tuple[Change | None, tuple[Issue, ...]]
"""An edit checked against live state: its change (None when it cannot be imported),
and what the checks found."""

READ_BATCH = 200
"""Runs read from live state at a time while planning: what is kept of a batch once its
edits are checked is their changes, so planning an edit of every run of a large sheet
does not hold every run's tasks at once."""


def _checked(
    sheet: Sheet, read_live: LiveReader, options: ImportOptions, titles: _Titles
) -> tuple[Edits, list[str], list[_Checked], dict[str, _RunDone | None]]:
    """The sheet's edits, the runs read, each edit checked against live state (in the
    edits' order), and the state of each live run that a change completes a task of.

    With a base snapshot only the runs with edits are read, ``READ_BATCH`` at a time;
    without, every run of the sheet at once (its fields come from live state)."""
    if not sheet.has_base:
        runs = sorted({c.key.run_id for c in sheet.cells})
        live = read_live(runs) if runs else {}
        found = edits_without_base(sheet, options, live)
        live_runs = {run_id: _LiveRun.of(tasks) for run_id, tasks in live.items()}
        every = [_check(e, live_runs.get(e.cell.key.run_id), options, titles) for e in found.edits]
        return found, runs, every, {r: _done(run) for r, run in live_runs.items()}
    found = edits(sheet, options)
    of_run: dict[str, list[int]] = {}
    for index, edit in enumerate(found.edits):
        of_run.setdefault(edit.cell.key.run_id, []).append(index)
    runs = sorted(of_run)
    checked: list[_Checked] = [(None, ())] * len(found.edits)
    completing: dict[str, _RunDone | None] = {}
    for start in range(0, len(runs), READ_BATCH):
        batch = runs[start : start + READ_BATCH]
        live = read_live(batch)
        for run_id in batch:
            run = _LiveRun.of(live.get(run_id))
            for index in of_run[run_id]:
                checked[index] = _check(found.edits[index], run, options, titles)
                if found.edits[index].cell.key.field == COMPLETION:
                    completing[run_id] = _done(run)
        # Reading leaves reference cycles (the HTTP client's responses) that only the
        # cycle collector frees, and planning pauses it: the batch's go now.
        gc.collect(0)
    return found, runs, checked, completing


def _titled(issue: Issue, sheet: Sheet, titles: _Titles) -> Issue:
    """The issue with the run, task and field names a person knows them by."""
    key = issue.key
    if key is None:
        return issue
    base = sheet.base.get(key)
    label = (
        base.spec.label
        if base
        else {COMPLETION: "Completed", ASSIGNEE: "Assignee"}.get(key.field, key.field)
    )
    return replace(
        issue, run_title=titles.run(key.run_id), task_title=titles.task(key, None), label=label
    )


class _Titles:
    """Run and task titles for the report: from the export's context, else from live."""

    def __init__(self, base: BaseSnapshot) -> None:
        self.base = base
        self._runs: dict[str, str] = {}
        """Run titles found so far: the base keeps few runs parsed."""
        self._tasks: dict[str, str] = {}
        """Each task title read live, once: every run of a template has the same ones,
        and a change keeps its task's (issue 13: a plan of 20,000 changes)."""

    def run(self, run_id: str) -> str:
        title = self._runs.get(run_id)
        if title is None:
            run = self.base.run(run_id)
            title = self._runs[run_id] = run.title if run is not None and run.title else run_id
        return title

    def task(self, key: FieldKey, live: Task | None) -> str:
        if live is not None:
            return self._tasks.setdefault(live.title, live.title)
        run = self.base.run(key.run_id)
        return run.tasks.get(key.task_id, ("", ""))[0] if run is not None else ""


@dataclass(frozen=True)
class _LiveRun:
    tasks: Mapping[str, Task]
    completed: bool
    """Every task completed or skipped: NextStep has completed and locked the run."""

    @classmethod
    def of(cls, tasks: Sequence[Task] | None) -> _LiveRun | None:
        if tasks is None:
            return None
        return cls(
            {t.id: t for t in tasks},
            bool(tasks) and all(t.completed or t.skipped for t in tasks),
        )


class _RunDone(NamedTuple):
    """Of a live run, what completing it depends on: kept, instead of the run's tasks
    and values, for each run a change completes a task of until the plan is made."""

    completed: bool
    """NextStep has completed and locked the run."""
    done: Mapping[str, bool]
    """Each task, by id: completed or skipped."""
    skipped: Mapping[str, bool]


def _done(run: _LiveRun | None) -> _RunDone | None:
    if run is None:
        return None
    tasks = run.tasks.values()
    return _RunDone(
        run.completed,
        {t.id: t.completed or t.skipped for t in tasks},
        {task_id: t.skipped for task_id, t in run.tasks.items()},
    )


def _check(edit: Edit, run: _LiveRun | None, options: ImportOptions, titles: _Titles) -> _Checked:
    """The edit checked against live state and classified, and what the checks found;
    no change (and an error) when it cannot be imported."""
    cell, base, value = edit.cell, edit.base, edit.value
    key, spec = cell.key, base.spec
    found = _live_of(edit, run)
    if isinstance(found, Issue):
        return None, (replace(found, cell=cell.ref, key=key, value=text_of(cell.raw)),)
    task, live = found
    codec = codec_for(spec.kind)
    issues: tuple[Issue, ...] = ()  # a list per edit would be held until the plan is made
    if live.spec.options != spec.options:
        shown = text_of(cell.raw)
        try:
            value, _ = codec.check(value, live.spec.options)
        except CellError as exc:
            removed = Issue.of(IssueCode.OPTION_REMOVED, label=spec.label, reason=exc.message)
            return None, (replace(removed, cell=cell.ref, key=key, value=shown),)
        issues = (Issue.of(IssueCode.OPTIONS_CHANGED, cell.ref, key, shown, label=spec.label),)
    change = make_change(
        key=key,
        cell=cell.ref,
        spec=spec,
        base=base.value,
        sheet=value,
        live=live,
        outcome=classify(codec, base.value, value, live.value),
        on_conflict=options.on_conflict,
        task_title=titles.task(key, task),
        run_title=titles.run(key.run_id),
    )
    return change, issues


def _live_of(edit: Edit, run: _LiveRun | None) -> tuple[Task, FieldValue] | Issue:
    """The edited field's task and live value, or the error that it cannot be written."""
    key, spec = edit.cell.key, edit.base.spec
    if run is None:
        return Issue.of(IssueCode.RUN_NOT_FOUND, run_id=key.run_id)
    task = run.tasks.get(key.task_id)
    if task is None:
        return Issue.of(IssueCode.TASK_GONE, task_id=key.task_id, run_id=key.run_id)
    if run.completed:
        return Issue.of(IssueCode.RUN_COMPLETED, run_id=key.run_id)
    live = live_field(task, key)
    if live is None:
        return Issue.of(IssueCode.FIELD_GONE, title=task.title, label=spec.label)
    if live.spec.locked:
        return Issue.of(IssueCode.LOCKED, locked=live.spec.locked)
    if live.spec.kind != spec.kind:
        return Issue.of(IssueCode.TYPE_CHANGED, label=spec.label, was=spec.kind, now=live.spec.kind)
    if not codec_for(spec.kind).holds(live.value):
        return Issue.of(IssueCode.LIVE_INVALID, held=live.value, kind=spec.kind, label=spec.label)
    return task, live


# -- patches -------------------------------------------------------------------------------


def build_patches(
    changes: Iterable[Change], live: Mapping[str, Sequence[Task] | None]
) -> tuple[list[Patch], list[tuple[str, str]]]:
    """The written changes grouped into PATCHes, in the order they must be sent, and
    (run id, run id) of each run they complete; ``live`` is each run's tasks."""
    runs = {run_id: _done(_LiveRun.of(tasks)) for run_id, tasks in live.items()}
    return _build_patches(changes, runs, _Titles(BaseSnapshot()))


def _build_patches(
    changes: Iterable[Change], runs: Mapping[str, _RunDone | None], titles: _Titles
) -> tuple[list[Patch], list[tuple[str, str]]]:
    patches: dict[tuple[str, str], Patch] = {}
    for change in changes:
        if not change.written:
            continue
        key = change.key
        patch = patches.get((key.run_id, key.task_id))
        if patch is None:
            patch = patches[key.run_id, key.task_id] = Patch(key.run_id, key.task_id)
        patch.add(change)
    completes: list[tuple[str, str]] = []
    for run_id, run_patches in _completing(patches.values()).items():
        if _mark_run_completion(runs.get(run_id), run_patches):
            completes.append((run_id, titles.run(run_id)))
    return send_order(patches.values()), completes


def _completing(patches: Iterable[Patch]) -> dict[str, list[Patch]]:
    """The patches that set a completion, by run."""
    completing: dict[str, list[Patch]] = {}
    for patch in patches:
        if patch.completed is not None:
            completing.setdefault(patch.run_id, []).append(patch)
    return completing


def _mark_run_completion(run: _RunDone | None, run_patches: list[Patch]) -> bool:
    """Whether the run ends up with every task completed or skipped; if so, its last
    completing patch is marked as the one that completes it."""
    if run is None or run.completed:
        return False
    done = dict(run.done)
    for p in run_patches:
        done[p.task_id] = bool(p.completed) or run.skipped[p.task_id]
    last = [p for p in run_patches if p.completed]
    if done and all(done.values()) and last:
        last[-1].completes_run = True
        return True
    return False


def send_order(patches: Iterable[Patch]) -> list[Patch]:
    """The order PATCHes go in (stable): field-only requests, then those that complete
    tasks, then those that complete runs (NextStep locks a completed run)."""
    return sorted(patches, key=lambda p: (p.completes_run, p.completed is True))


def by_run(patches: Sequence[Patch]) -> dict[str, list[Patch]]:
    """The patches grouped by run, runs in the order of their first patch, each run's
    patches in ``send_order``."""
    runs: dict[str, list[Patch]] = {}
    for patch in patches:
        runs.setdefault(patch.run_id, []).append(patch)
    return {run_id: send_order(run_patches) for run_id, run_patches in runs.items()}

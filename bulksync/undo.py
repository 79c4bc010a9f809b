"""Undoing an import: the plan that puts back what its journal says it wrote."""

from __future__ import annotations

from pathlib import Path

from bulksync.codecs import codec_for
from bulksync.diff import build_patches, classify, make_change
from bulksync.issues import UNDO_GONE, Issue, IssueCode
from bulksync.journal import Written, started_runs, written_values
from bulksync.model import Task
from bulksync.plans import Change, LiveReader, OnConflict, Outcome, Plan
from bulksync.snapshot import FieldKey, live_field


def plan_undo(run_dir: Path, read_live: LiveReader, host: str) -> Plan:
    """The plan that puts back what one import wrote, checked three ways.

    The runs the import started are listed (``Plan.started_runs``), not undone: the API
    cannot delete a run, and their ticks and assignees are left as they are.

    For each value the import wrote, the written value is the base and the value it
    replaced is the edit: a value still as written is changed back; one already back
    is done; one someone changed since is a conflict and is left alone. Raises
    ``SheetError`` if ``run_dir`` is not a readable run directory.
    """
    written = written_values(run_dir)
    live = read_live(sorted({w.run_id for w in written})) if written else {}
    outcomes: dict[Outcome, list[Change]] = {o: [] for o in Outcome}
    errors: list[Issue] = []
    for value in written:
        tasks = live.get(value.run_id)
        task = next((t for t in tasks or () if t.id == value.task_id), None)
        change = _undo(value, task)
        if isinstance(change, Issue):
            errors.append(change)
        else:
            outcomes[change.outcome].append(change)
    patches, completes = build_patches(
        [*outcomes[Outcome.CHANGE], *outcomes[Outcome.CONFLICT]], live
    )
    return Plan(
        str(run_dir),
        host,
        host,
        "",
        True,
        OnConflict.SKIP,
        changes=tuple(outcomes[Outcome.CHANGE]),
        already_done=tuple(outcomes[Outcome.ALREADY_DONE]),
        conflicts=tuple(outcomes[Outcome.CONFLICT]),
        errors=tuple(errors),
        patches=tuple(patches),
        runs_read=len(live),
        completes_runs=tuple(completes),
        started_runs=tuple(started_runs(run_dir)),
    )


def _undo(value: Written, task: Task | None) -> Change | Issue:
    """Putting back one written value, classified; or why there is nothing to undo."""
    key = FieldKey(value.run_id, value.task_id, value.field)
    if task is None:
        return Issue.of(
            IssueCode.TASK_GONE,
            key=key,
            template=UNDO_GONE[IssueCode.TASK_GONE],
            task_id=value.task_id,
            run_id=value.run_id,
        )
    found = live_field(task, key)
    if found is None:
        return Issue.of(
            IssueCode.FIELD_GONE,
            key=key,
            template=UNDO_GONE[IssueCode.FIELD_GONE],
            title=task.title,
            field=value.field,
        )
    return make_change(
        key=key,
        cell="",
        spec=found.spec,
        base=value.after,
        sheet=value.before,
        live=found,
        outcome=classify(codec_for(found.spec.kind), value.after, value.before, found.value),
        on_conflict=OnConflict.SKIP,
        task_title=task.title,
        run_title=value.run_id,
    )

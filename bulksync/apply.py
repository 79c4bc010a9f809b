"""Applying an import plan: paced PATCHes, a write-ahead journal, verification, undo.

``apply_plan`` sends the plan's PATCHes (the plan of ``bulksync.importing``, made from
live state read just before) through the client, which keeps to the rate limit and
sends a few at once. For every PATCH the journal records, before it is sent, what it
means to write and the values it replaces, and after, what came of it; each line is
flushed and fsync'ed, so Ctrl-C, a crash or ``kill -9`` leave a journal that says
exactly what may have been applied. Running the same import again plans from live
state: values already applied are "already done", nothing is applied twice.

Requests go in three waves, each wave's requests in parallel: those that only set
fields, then those that complete tasks, then those that complete a run (NextStep locks
a run once it is completed, so nothing of that run may come after).

A PATCH whose outcome is unknown (timeout, 5xx, dropped connection) is never resent
blindly: the task is read back and each value re-classified: applied, still to do
(then sent once more), or changed by someone else meanwhile (a conflict).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Final

from bulksync.client import UNSET, NextStepClient
from bulksync.errors import ApiError, BulksyncError, OutcomeUnknownError
from bulksync.fields import codec_for
from bulksync.importing import (
    Change,
    ImportPlan,
    OnConflict,
    Outcome,
    Patch,
    Problem,
    build_patches,
    describe,
    live_field,
)
from bulksync.model import JSON, Task
from bulksync.private import private_file
from bulksync.rundir import ERRORS, JOURNAL, PLAN, RESULTS, journal_of, merge_results, read_journal
from bulksync.sheets import write_retry_csv
from bulksync.sheets.csvfile import sidecar
from bulksync.snapshot import FieldKey


class Result(StrEnum):
    APPLIED = "applied"
    ALREADY_DONE = "already_done"
    CONFLICT = "conflict"
    FAILED = "failed"
    NOT_SENT = "not_sent"
    """--fail-fast stopped the import before this value was sent."""


@dataclass(frozen=True, slots=True)
class ValueResult:
    change: Change
    result: Result
    message: str = ""
    stored: JSON = None
    """What NextStep holds after the request (for a silent coercion, not what was sent)."""
    stored_known: bool = False


@dataclass
class ApplyReport:
    run_dir: Path
    results: list[ValueResult] = field(default_factory=list)
    requests: int = 0

    def count(self, result: Result) -> int:
        return sum(1 for r in self.results if r.result is result)

    @property
    def failed(self) -> int:
        return self.count(Result.FAILED) + self.count(Result.NOT_SENT)

    def summary(self) -> dict[str, int]:
        return {r.value: self.count(r) for r in Result} | {"patches_sent": self.requests}


class Journal:
    """An append-only JSON-lines file; every line is on disk before ``record`` returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._handle: IO[str] = private_file(path).open("a", encoding="utf-8")

    def record(self, event: str, **fields: Any) -> None:
        line = json.dumps(
            {"at": _now(), "event": event, **fields}, ensure_ascii=False, separators=(",", ":")
        )
        with self._lock:
            self._handle.write(line + "\n")
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()


def apply_plan(
    plan: ImportPlan,
    client: NextStepClient,
    run_dir: Path,
    *,
    patches: Sequence[Patch] | None = None,
    fail_fast: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ApplyReport:
    """Send the plan's PATCHes (or some of them, for a canary), journalling each."""
    plan_file = run_dir / PLAN
    if not plan_file.exists():
        private_file(plan_file).write_text(
            json.dumps(plan.as_dict(), ensure_ascii=False, indent=2), encoding="utf-8"
        )
    journal = Journal(run_dir / JOURNAL)
    report = ApplyReport(run_dir)
    patches = plan.patches if patches is None else patches
    stop = threading.Event()
    done = 0
    lock = threading.Lock()
    journal.record("start", file=plan.path, host=plan.host, patches=len(patches))

    def send(patch: Patch) -> list[ValueResult]:
        nonlocal done
        if stop.is_set():
            outcome = [
                ValueResult(c, Result.NOT_SENT, "not sent: --fail-fast") for c in patch.changes
            ]
        else:
            outcome = _send(patch, client, journal)
            with lock:
                report.requests += 1
            if fail_fast and any(r.result is Result.FAILED for r in outcome):
                stop.set()
        with lock:
            done += 1
            if progress:
                progress(done, len(patches))
        return outcome

    try:
        for wave in _waves(patches):
            for outcome in client.map(send, wave):
                report.results.extend(outcome)
    finally:
        journal.record("end", summary=report.summary())
        journal.close()
        write_results(report, run_dir, host=plan.host)
    return report


def _waves(patches: Sequence[Patch]) -> Iterable[list[Patch]]:
    fields_only = [p for p in patches if not p.completed and not p.completes_run]
    completing = [p for p in patches if p.completed and not p.completes_run]
    closing = [p for p in patches if p.completes_run]
    return [wave for wave in (fields_only, completing, closing) if wave]


MAX_UNKNOWN: Final = 4
"""Tries of one PATCH whose outcome stays unknown before its values are called failed."""


def _send(
    patch: Patch, client: NextStepClient, journal: Journal, attempt: int = 1
) -> list[ValueResult]:
    body = patch.body()
    before = {c.key.field: c.live for c in patch.changes}
    journal.record("intent", run_id=patch.run_id, task_id=patch.task_id, body=body, before=before)
    try:
        task = _patch(client, patch)
    except OutcomeUnknownError as exc:
        journal.record("unknown", run_id=patch.run_id, task_id=patch.task_id, error=str(exc))
        return _after_unknown(patch, client, journal, attempt)
    except ApiError as exc:
        message = f"NextStep refused the request: {exc.message} ({exc.code})"
        journal.record(
            "failed", run_id=patch.run_id, task_id=patch.task_id, code=exc.code, error=exc.message
        )
        return [ValueResult(c, Result.FAILED, message) for c in patch.changes]
    except BulksyncError as exc:
        journal.record("failed", run_id=patch.run_id, task_id=patch.task_id, error=str(exc))
        return [ValueResult(c, Result.FAILED, str(exc)) for c in patch.changes]
    return _verified(patch, task, journal)


def _patch(client: NextStepClient, patch: Patch) -> Task:
    return client.patch_task(
        patch.run_id,
        patch.task_id,
        completed=UNSET if patch.completed is None else patch.completed,
        assignee=patch.assignee if patch.sets_assignee else UNSET,
        elements=patch.elements or None,
    )


def _value_of(task: Task, change: Change) -> JSON:
    found = live_field(task, change.key)
    return None if found is None else found.value


def _verified(patch: Patch, task: Task, journal: Journal) -> list[ValueResult]:
    """Each value compared with what NextStep says it holds now (silent coercions fail)."""
    results = []
    for change in patch.changes:
        stored = _value_of(task, change)
        if codec_for(change.kind).equal(stored, change.sheet):
            results.append(ValueResult(change, Result.APPLIED, stored=stored, stored_known=True))
        else:
            results.append(
                ValueResult(
                    change,
                    Result.FAILED,
                    f"NextStep stored {describe(stored)!r} instead of {describe(change.sheet)!r}",
                    stored,
                    stored_known=True,
                )
            )
    journal.record(
        "applied",
        run_id=patch.run_id,
        task_id=patch.task_id,
        values={r.change.key.field: r.stored for r in results},
        verified=all(r.result is Result.APPLIED for r in results),
    )
    return results


def _after_unknown(
    patch: Patch, client: NextStepClient, journal: Journal, attempt: int
) -> list[ValueResult]:
    """Read the task back; send once more only what is still to do."""
    try:
        task = client.get_task(patch.run_id, patch.task_id)
    except BulksyncError as exc:
        message = f"the outcome is unknown and the task could not be read back: {exc}"
        return [ValueResult(c, Result.FAILED, message) for c in patch.changes]
    results: list[ValueResult] = []
    todo: list[Change] = []
    for change in patch.changes:
        codec = codec_for(change.kind)
        live = _value_of(task, change)
        if codec.equal(live, change.sheet):
            results.append(ValueResult(change, Result.APPLIED, stored=live))
        elif codec.equal(live, change.live):
            todo.append(change)
        else:
            results.append(
                ValueResult(
                    change,
                    Result.CONFLICT,
                    f"changed in NextStep meanwhile to {describe(live)!r}; not overwritten",
                    live,
                )
            )
    journal.record(
        "reread",
        run_id=patch.run_id,
        task_id=patch.task_id,
        values={r.change.key.field: r.stored for r in results if r.result is Result.APPLIED},
        todo=[c.key.field for c in todo],
    )
    if todo and attempt >= MAX_UNKNOWN:
        message = f"NextStep did not answer {attempt} times; the value is still as it was"
        results.extend(ValueResult(c, Result.FAILED, message) for c in todo)
    elif todo:
        again = Patch(patch.run_id, patch.task_id)
        for change in todo:
            again.add(change)
        results.extend(_send(again, client, journal, attempt + 1))
    return results


# -- results files ---------------------------------------------------------------------


RESULT_COLUMNS: Final = (
    "cell",
    "run",
    "task",
    "field",
    "run_id",
    "task_id",
    "field_id",
    "before",
    "after",
    "result",
    "message",
)


def write_results(
    report: ApplyReport, run_dir: Path, *, host: str = "", already_done: Sequence[Change] = ()
) -> None:
    """``results.csv``, a row per value; ``errors.csv``, the values that failed or were
    not sent, as a sheet to fix and import again (``bulksync import errors.csv``).

    ``results.csv`` covers the whole import, also when it was resumed: the rows of
    earlier attempts in ``run_dir`` are merged in (``rundir.merge_results``), and the
    values the plan found ``already_done`` are listed as such.
    """
    rows = merge_results(
        run_dir,
        [_result_row(r) for r in report.results],
        [_result_row(ValueResult(c, Result.ALREADY_DONE)) for c in already_done],
    )
    with private_file(run_dir / RESULTS).open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(RESULT_COLUMNS)
        writer.writerows(rows)
    retry = [
        (
            r.change._replace(live=r.stored) if r.stored_known else r.change,
            f"{r.result.value}: {r.message}",
        )
        for r in report.results
        if r.result in (Result.FAILED, Result.NOT_SENT)
    ]
    private_file(sidecar(private_file(run_dir / ERRORS)))
    write_retry_csv(run_dir / ERRORS, retry, host=host)


def result_dicts(report: ApplyReport) -> list[dict[str, Any]]:
    """The results as the JSON report carries them."""
    return [
        {
            "cell": r.change.cell,
            "run_id": r.change.key.run_id,
            "task_id": r.change.key.task_id,
            "field": r.change.key.field,
            "label": r.change.label,
            "before": r.change.live,
            "after": r.change.sheet,
            "result": r.result.value,
            "message": r.message,
        }
        for r in report.results
    ]


def _result_row(result: ValueResult) -> list[str]:
    change = result.change
    return [
        change.cell,
        change.run_title,
        change.task_title,
        change.label,
        change.key.run_id,
        change.key.task_id,
        change.key.field,
        describe(change.live),
        describe(change.sheet),
        result.result.value,
        result.message,
    ]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


# -- undo ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    """A value an import wrote: what it replaced and what it wrote."""

    run_id: str
    task_id: str
    field: str
    before: JSON
    after: JSON


def written_values(run_dir: Path) -> list[Written]:
    """What the import in ``run_dir`` wrote, from its journal (verified answers only)."""
    path = journal_of(run_dir)
    befores: dict[tuple[str, str], dict[str, JSON]] = {}
    written: dict[tuple[str, str, str], Written] = {}
    for event in read_journal(path):
        key = (event.get("run_id", ""), event.get("task_id", ""))
        if event.get("event") == "intent":
            befores.setdefault(key, {}).update(event.get("before", {}))
        elif event.get("event") in ("applied", "reread"):
            for name, value in event.get("values", {}).items():
                before = befores.get(key, {}).get(name)
                written[(*key, name)] = Written(*key, name, before, value)
    return list(written.values())


def plan_undo(
    run_dir: Path, read_live: Callable[[Sequence[str]], dict[str, list[Task] | None]], host: str
) -> ImportPlan:
    """The plan that puts back what one import wrote, checked three ways.

    For each value the import wrote, the written value is the base and the value it
    replaced is the edit: a value still as written is changed back; one already back
    is done; one someone changed since is a conflict and is left alone.
    """
    written = written_values(run_dir)
    plan = ImportPlan(str(run_dir), host, host, "", True, OnConflict.SKIP)
    live = read_live(sorted({w.run_id for w in written})) if written else {}
    plan.runs_read = len(live)
    for value in written:
        tasks = live.get(value.run_id)
        task = next((t for t in tasks or () if t.id == value.task_id), None)
        key = FieldKey(value.run_id, value.task_id, value.field)
        if task is None:
            plan.errors.append(
                Problem(
                    "error",
                    "task_gone",
                    f"Task {value.task_id} of run {value.run_id} "
                    "no longer exists in NextStep; nothing to undo there.",
                    None,
                    key,
                )
            )
            continue
        found = live_field(task, key)
        if found is None:
            plan.errors.append(
                Problem(
                    "error",
                    "field_gone",
                    f"Task {task.title!r} no longer has the field {value.field}; nothing to "
                    "undo there.",
                    None,
                    key,
                )
            )
            continue
        codec = codec_for(found.spec.kind)
        current = found.value
        if codec.equal(current, value.after):
            outcome = Outcome.CHANGE
        elif codec.equal(current, value.before):
            outcome = Outcome.ALREADY_DONE
        else:
            outcome = Outcome.CONFLICT
        change = Change(
            key,
            "",
            found.spec.kind,
            found.spec.label,
            value.after,
            value.before,
            current,
            outcome,
            outcome is Outcome.CHANGE,
            task.title,
            value.run_id,
            found.spec._replace(locked=None),
        )
        {
            Outcome.CHANGE: plan.changes,
            Outcome.ALREADY_DONE: plan.already_done,
            Outcome.CONFLICT: plan.conflicts,
        }[outcome].append(change)
    build_patches(plan, live)
    return plan

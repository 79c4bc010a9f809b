"""Applying an import plan: paced PATCHes, a write-ahead journal, verification, undo.

``apply_plan`` sends the plan's PATCHes (the plan of ``bulksync.importing``) through the
client, which keeps to the rate limit and sends a few at once. It goes run by run: each
run's tasks are read right before its first PATCH (or the plan's read is used, if it is
at most ``max_read_age`` seconds old), every planned value is checked against that read,
and what moved since the plan is not written (a conflict; or done already). Then the
run's field-only requests, its completing ones and, last, the one that completes the
run (NextStep locks a completed run). A few runs go at once.

For every PATCH the journal records, before it is sent, what it means to write and the
values it replaces (from that fresh read), and after, what came of it; each line is
flushed and fsync'ed, so Ctrl-C, a crash or ``kill -9`` leave a journal that says
exactly what may have been applied. If the journal cannot be written (a full disk)
nothing more is sent. Running the same import again plans from live state: values
already applied are "already done", nothing is applied twice.

A PATCH whose outcome is unknown (timeout, 5xx, dropped connection, an answer that
cannot be read) is never resent blindly: the task is read back and each value
re-classified: applied, still to do (then sent once more), or changed by someone else
meanwhile (a conflict).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Final

from bulksync.client import UNSET, NextStepClient
from bulksync.codecs import ASSIGNEE, COMPLETION, codec_for
from bulksync.errors import (
    ApiError,
    BulksyncError,
    OutcomeUnknownError,
    RateLimitedError,
    StorageError,
)
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
from bulksync.live import LiveState, Reading
from bulksync.model import JSON, Task
from bulksync.private import private_file
from bulksync.rundir import ERRORS, JOURNAL, PLAN, RESULTS, journal_of, merge_results, read_journal
from bulksync.sheets import write_retry_csv
from bulksync.sheets.csvfile import guard, sidecar
from bulksync.snapshot import FieldKey

MAX_READ_AGE: Final = 2.0
"""Seconds a run's read may be old when its first PATCH goes; older, it is read again."""


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
    """An append-only JSON-lines file; every line is on disk before ``record`` returns.

    A line that cannot be written (a full disk) raises ``StorageError``, and the journal
    refuses every line after it: an intent that is not on disk is never sent.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.broken: StorageError | None = None
        try:
            self._handle: IO[str] = private_file(path).open("a", encoding="utf-8")
        except OSError as exc:
            raise _storage_error(path, exc) from None

    def record(self, event: str, **fields: Any) -> None:
        line = json.dumps(
            {"at": _now(), "event": event, **fields}, ensure_ascii=False, separators=(",", ":")
        )
        with self._lock:
            if self.broken is not None:
                raise self.broken
            try:
                self._handle.write(line + "\n")
                self._handle.flush()
                os.fsync(self._handle.fileno())
            except OSError as exc:
                self.broken = _storage_error(self.path, exc)
                raise self.broken from None

    def close(self) -> None:
        # What could not be flushed was reported when it was recorded.
        with contextlib.suppress(OSError):
            self._handle.close()


def _storage_error(path: Path, exc: OSError) -> StorageError:
    return StorageError(
        f"Cannot write {path}: {exc.strerror or exc}. Every request sent so far is in the "
        "journal; nothing more is sent. Free some space (or fix the folder's permissions), "
        "then run the same import again with --resume: it re-reads what was sent."
    )


def apply_plan(
    plan: ImportPlan,
    client: NextStepClient,
    run_dir: Path,
    *,
    patches: Sequence[Patch] | None = None,
    fail_fast: bool = False,
    progress: Callable[[int, int], None] | None = None,
    live: LiveState | None = None,
    max_read_age: float = MAX_READ_AGE,
) -> ApplyReport:
    """Send the plan's PATCHes (or some of them, for a canary), run by run, journalling each.

    ``live`` holds the reads the plan was made from; a run's read is used again if it is
    at most ``max_read_age`` seconds old when the run's turn comes, else the run is read
    again. Raises ``StorageError`` (after recording what it can) if the journal cannot be
    written; the values not sent then are in the report as failed.
    """
    plan_file = run_dir / PLAN
    try:
        if not plan_file.exists():
            private_file(plan_file).write_text(
                json.dumps(plan.as_dict(), ensure_ascii=False, indent=2), encoding="utf-8"
            )
    except OSError as exc:
        raise _storage_error(plan_file, exc) from None
    journal = Journal(run_dir / JOURNAL)
    sender = _Sender(
        plan,
        client,
        journal,
        live or LiveState(client),
        max_read_age=max_read_age,
        fail_fast=fail_fast,
        progress=progress,
    )
    chosen = plan.patches if patches is None else patches
    sender.total = len(chosen)
    try:
        journal.record("start", file=plan.path, host=plan.host, patches=len(chosen))
        for outcome in client.map(sender.run, list(_by_run(chosen).items())):
            sender.report.results.extend(outcome)
    finally:
        with contextlib.suppress(StorageError):
            journal.record("end", summary=sender.report.summary())
        journal.close()
        try:
            write_results(sender.report, run_dir, host=plan.host)
        except OSError as exc:
            if journal.broken is None:
                raise _storage_error(run_dir / RESULTS, exc) from None
    if journal.broken is not None:
        raise journal.broken
    return sender.report


def _by_run(patches: Sequence[Patch]) -> dict[str, list[Patch]]:
    """The patches grouped by run, runs in the order of their first patch; within a run,
    field-only requests, then completing ones, then the one that completes the run."""
    runs: dict[str, list[Patch]] = {}
    for patch in patches:
        runs.setdefault(patch.run_id, []).append(patch)
    for run_patches in runs.values():
        run_patches.sort(key=lambda p: (p.completes_run, p.completed is True))
    return runs


_STOPPED: Final = "not sent: the import stopped before it (--fail-fast or a full disk)"


class _Sender:
    """Carries out the patches of one run at a time (several runs at once)."""

    def __init__(
        self,
        plan: ImportPlan,
        client: NextStepClient,
        journal: Journal,
        live: LiveState,
        *,
        max_read_age: float,
        fail_fast: bool,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.plan = plan
        self.client = client
        self.journal = journal
        self.live = live
        self.max_read_age = max_read_age
        self.fail_fast = fail_fast
        self.progress = progress
        self.report = ApplyReport(journal.path.parent)
        self.stop = threading.Event()
        self.total = 0
        self._done = 0
        self._lock = threading.Lock()

    def run(self, item: tuple[str, list[Patch]]) -> list[ValueResult]:
        run_id, patches = item
        if self.stop.is_set():
            return self._skipped(patches)
        # The run's read and its PATCHes take their places in the rate limit together,
        # so that the window between them is latency, not the limit's rhythm.
        with self.client.limiter.reserved(len(patches) + 1):
            return self._run(run_id, patches)

    def _run(self, run_id: str, patches: list[Patch]) -> list[ValueResult]:
        results: list[ValueResult] = []
        for number, patch in enumerate(patches):
            if self.stop.is_set():
                results.extend(self._skipped(patches[number:]))
                break
            try:
                outcome = self._one(run_id, patch)
            except BulksyncError as exc:
                message = f"the run could not be read before writing, so nothing was sent: {exc}"
                results.extend(self._skipped(patches[number:], Result.FAILED, message))
                if self.fail_fast:
                    self.stop.set()
                break
            results.extend(outcome)
            if self.fail_fast and any(r.result is Result.FAILED for r in outcome):
                self.stop.set()
            self._advance(1)
        return results

    def _one(self, run_id: str, patch: Patch) -> list[ValueResult]:
        """One PATCH, checked against a read of its run that is fresh when it goes.

        The places for a read and the PATCH are taken first (inside the run's
        reservation, they are there already): only then is the read's age known for
        what it will be when the PATCH goes. A 429 on the PATCH (another tool spending
        the same key) means NextStep did nothing: wait, check again, send again.
        """
        tries = self.client.max_rate_limit_waits + 1
        for _ in range(tries):
            with self.client.limiter.reserved(2):
                # The run's latest read (the plan's, or one made for an earlier PATCH),
                # or a new one if that is older than max_read_age.
                reading = self.live.fresh(run_id, self.max_read_age)
                todo, settled = _recheck(patch, reading, self.plan.on_conflict)
                if not todo.changes:
                    return settled
                if self.stop.is_set():  # --fail-fast stopped the import during the read
                    return settled + [
                        ValueResult(c, Result.NOT_SENT, _STOPPED) for c in todo.changes
                    ]
                age = self.live.clock() - reading.at
                try:
                    outcome = _send(
                        todo,
                        self.client,
                        self.journal,
                        read_age=round(age, 3),
                        max_wait=max(0.0, self.max_read_age - age),
                    )
                except _RateLimited:
                    # NextStep did nothing. Try again; past max_read_age, on a new read.
                    continue
                except StorageError as exc:
                    self.stop.set()
                    outcome = [
                        ValueResult(c, Result.FAILED, f"not confirmed: {exc.message}")
                        for c in todo.changes
                    ]
                with self._lock:
                    self.report.requests += 1
                return settled + outcome
        message = f"NextStep answered 429 (rate limited) {tries} times; not sent"
        return [ValueResult(c, Result.FAILED, message) for c in patch.changes]

    def _skipped(
        self,
        patches: Sequence[Patch],
        result: Result = Result.NOT_SENT,
        message: str = "",
    ) -> list[ValueResult]:
        message = message or _STOPPED
        self._advance(len(patches))
        return [ValueResult(c, result, message) for p in patches for c in p.changes]

    def _advance(self, count: int) -> None:
        with self._lock:
            self._done += count
            if self.progress:
                self.progress(self._done, self.total)


def _recheck(
    patch: Patch, reading: Reading, on_conflict: OnConflict
) -> tuple[Patch, list[ValueResult]]:
    """What of the patch is still to send, checked against a fresh read of its run.

    A value still as planned is sent; one already as the sheet wants it is done; one
    someone changed since the plan is a conflict (sent over only with
    ``--on-conflict mine``, its fresh value recorded as what it replaces).
    """
    todo = Patch(patch.run_id, patch.task_id, completes_run=patch.completes_run)
    tasks = reading.tasks
    task = next((t for t in tasks or () if t.id == patch.task_id), None)
    if tasks is None or task is None:
        what = "run" if tasks is None else "task"
        message = f"the {what} no longer exists in NextStep (deleted since the plan); not sent"
        return todo, [ValueResult(c, Result.FAILED, message) for c in patch.changes]
    if tasks and all(t.completed or t.skipped for t in tasks):
        message = "the run was completed in NextStep since the plan, which locks it; not sent"
        return todo, [ValueResult(c, Result.FAILED, message) for c in patch.changes]
    settled: list[ValueResult] = []
    for change in patch.changes:
        found = live_field(task, change.key)
        if found is None:
            settled.append(
                ValueResult(change, Result.FAILED, "the field is gone from the task; not sent")
            )
            continue
        codec = codec_for(change.kind)
        now = found.value
        if codec.equal(now, change.live):
            todo.add(change)
        elif codec.equal(now, change.sheet):
            settled.append(ValueResult(change._replace(live=now), Result.ALREADY_DONE, stored=now))
        elif on_conflict is OnConflict.MINE:
            todo.add(change._replace(live=now))
        else:
            settled.append(
                ValueResult(
                    change._replace(live=now),
                    Result.CONFLICT,
                    f"changed in NextStep meanwhile to {describe(now)!r}; not overwritten",
                    now,
                )
            )
    return todo, settled


MAX_UNKNOWN: Final = 4
"""Tries of one PATCH whose outcome stays unknown before its values are called failed."""


class _RateLimited(Exception):
    """A PATCH was answered 429: nothing was applied; check the run again, then resend."""


def _send(
    patch: Patch,
    client: NextStepClient,
    journal: Journal,
    attempt: int = 1,
    *,
    read_age: float | None = None,
    max_wait: float | None = None,
) -> list[ValueResult]:
    body = patch.body()
    before = {c.key.field: c.live for c in patch.changes}
    extra = {} if read_age is None else {"read_age": read_age}
    journal.record(
        "intent", run_id=patch.run_id, task_id=patch.task_id, body=body, before=before, **extra
    )
    try:
        task = _patch(client, patch, max_wait)
    except RateLimitedError as exc:
        journal.record("rate_limited", run_id=patch.run_id, task_id=patch.task_id, error=str(exc))
        raise _RateLimited from None
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


def _patch(client: NextStepClient, patch: Patch, max_wait: float | None) -> Task:
    return client.patch_task(
        patch.run_id,
        patch.task_id,
        completed=UNSET if patch.completed is None else patch.completed,
        assignee=patch.assignee if patch.sets_assignee else UNSET,
        elements=patch.elements or None,
        max_wait=max_wait,
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
    """A row of results.csv; a text a spreadsheet would run as a formula gets an apostrophe."""
    change = result.change
    row = [
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
    return [guard(text, as_text=False) for text in row]


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
    """What the import in ``run_dir`` wrote or may have written, from its journal.

    A value counts when an answer showed it stored (``applied``, or a re-read after an
    unknown outcome), and also when its request went out and no answer was ever
    recorded (the process died, or the disk filled, between the PATCH and its journal
    line): such a value may be written, and undo's three-way check decides from live
    state (still as sent: put back; as before: nothing was written; else: a conflict).
    A request NextStep refused wrote nothing (a PATCH is all or nothing).
    """
    path = journal_of(run_dir)
    befores: dict[tuple[str, str], dict[str, JSON]] = {}
    # Per task, the request sent last and not answered yet; one that a later request of
    # the same task found still open (its answer was lost) is kept in ``unanswered``.
    open_intents: dict[tuple[str, str], tuple[dict[str, JSON], dict[str, JSON]]] = {}
    unanswered: list[tuple[tuple[str, str], dict[str, JSON], dict[str, JSON]]] = []
    written: dict[tuple[str, str, str], Written] = {}
    for event in read_journal(path):
        key = (event.get("run_id", ""), event.get("task_id", ""))
        kind = event.get("event")
        if kind == "intent":
            if key in open_intents:
                unanswered.append((key, *open_intents[key]))
            replaced = dict(event.get("before", {}))
            befores.setdefault(key, {}).update(replaced)
            open_intents[key] = (_body_values(event.get("body", {})), replaced)
        elif kind in ("applied", "reread"):
            open_intents.pop(key, None)
            for name, value in event.get("values", {}).items():
                before = befores.get(key, {}).get(name)
                written[(*key, name)] = Written(*key, name, before, value)
        elif kind in ("failed", "rate_limited"):
            open_intents.pop(key, None)  # refused: a PATCH is all or nothing
    unanswered.extend((key, *sent) for key, sent in open_intents.items())
    for key, values, before in unanswered:
        for name, value in values.items():
            if (*key, name) not in written:
                written[(*key, name)] = Written(*key, name, before.get(name), value)
    return list(written.values())


def _body_values(body: dict[str, Any]) -> dict[str, JSON]:
    """The values a PATCH body sends, by field (completion and assignee included)."""
    values: dict[str, JSON] = {e["id"]: e["value"] for e in body.get("custom_elements", [])}
    if "completed" in body:
        values[COMPLETION] = body["completed"]
    if "assignee" in body:
        values[ASSIGNEE] = body["assignee"]
    return values


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

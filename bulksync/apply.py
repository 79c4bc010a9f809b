"""Applying an import plan: paced PATCHes, a write-ahead journal, verification, a canary.

``apply_plan`` sends the plan's PATCHes (the plan of ``bulksync.diff``) through the
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
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final

from bulksync.client import NextStepClient
from bulksync.codecs import codec_for
from bulksync.diff import by_run, classify
from bulksync.errors import (
    BulksyncError,
    StorageError,
)
from bulksync.fetch import LiveState, Reading
from bulksync.journal import Journal, keep_plan, storage_error
from bulksync.launch import Start, StartOutcome, StartResult, StartResultKind
from bulksync.launch_apply import Starter
from bulksync.model import Task
from bulksync.patching import RateLimited, send_patch
from bulksync.plans import (
    ApplyResult,
    CanaryReport,
    OnConflict,
    Outcome,
    Patch,
    Plan,
    Result,
    ValueResult,
    describe,
)
from bulksync.results import write_results
from bulksync.rundir import JOURNAL, PLAN, RESULTS
from bulksync.snapshot import live_field

MAX_READ_AGE: Final = 2.0
"""Seconds a run's read may be old when its first PATCH goes; older, it is read again."""

Progress = Callable[[int, int], None]
"""Called with (requests done, requests in the batch) as a batch is sent."""


_CANARY_STOPPED: Final = "not sent: the import stopped after the canary"


def apply_plan(
    plan: Plan,
    client: NextStepClient,
    run_dir: Path,
    *,
    canary: int | None = None,
    confirm_rest: Callable[[CanaryReport], bool] | None = None,
    fail_fast: bool = False,
    progress: Progress | None = None,
    live: LiveState | None = None,
    max_read_age: float = MAX_READ_AGE,
) -> ApplyResult:
    """Send the plan's PATCHes, run by run, journalling each; then start its runs
    (``launch_apply``); write the results files.

    With ``canary``, the first ``canary`` requests (a run to start counts as one) go
    first; the rest goes only if each of their values was applied and verified (each
    run started) and ``confirm_rest`` (if given) says yes, else the rest is in the
    result as not sent. ``progress`` is called with (done,
    total) for each batch. ``live`` holds the reads the plan was made from; a run's read
    is used again if it is at most ``max_read_age`` seconds old when the run's turn
    comes, else the run is read again. The plan's conflicts that are not written are
    in the result too. Raises ``StorageError`` (after recording what it can) if the
    journal cannot be written.
    """
    live = live or LiveState(client)
    units: list[Patch | Start] = [*plan.patches, *plan.start_work]
    claimed: set[str] = set()  # runs started by this apply: never another row's
    batches = [units]
    if canary is not None and canary < len(units):
        batches = [units[:canary], units[canary:]]
    done = ApplyResult(run_dir)
    for number, batch in enumerate(batches):
        if number == 1 and not _go_on(done, canary or 0, len(batch), confirm_rest):
            done = done.plus(_not_sent(run_dir, batch, _CANARY_STOPPED))
            break
        patches = [u for u in batch if isinstance(u, Patch)]
        starts = [u for u in batch if isinstance(u, Start)]
        if patches:
            done = done.plus(
                _apply_batch(
                    plan,
                    client,
                    run_dir,
                    patches,
                    fail_fast=fail_fast,
                    progress=progress,
                    live=live,
                    max_read_age=max_read_age,
                )
            )
        if starts and fail_fast and done.failed:
            done = done.plus(_not_sent(run_dir, starts, _STOPPED))
        elif starts:
            done = done.plus(
                start_runs(
                    plan,
                    client,
                    run_dir,
                    starts,
                    fail_fast=fail_fast,
                    progress=progress,
                    claimed=claimed,
                )
            )
    in_order = sorted(_not_started(plan) + done.starts, key=lambda r: r.start.row)
    result = replace(done, unwritten=plan.unwritten(), starts=tuple(in_order))
    write_results(
        result, run_dir, host=plan.host, already_done=plan.already_done, link=run_link(client)
    )
    return result


def run_link(client: NextStepClient) -> Callable[[str], str]:
    """A run's address in the API, from its id (what results.csv gives a started run)."""
    base = str(client.base_url).rstrip("/")
    return lambda run_id: f"{base}/process-runs/{run_id}"


def _not_sent(run_dir: Path, units: Sequence[Patch | Start], message: str) -> ApplyResult:
    """The values and runs to start of ``units``, as not sent."""
    values = tuple(
        ValueResult(c, Result.NOT_SENT, message)
        for u in units
        if isinstance(u, Patch)
        for c in u.changes
    )
    starts = tuple(
        StartResult(u, StartResultKind.NOT_SENT, message=message)
        for u in units
        if isinstance(u, Start)
    )
    return ApplyResult(run_dir, values, starts=starts)


def _not_started(plan: Plan) -> tuple[StartResult, ...]:
    """The new rows the plan does not send: started already, or in conflict."""
    kinds = {
        StartOutcome.STARTED: StartResultKind.ALREADY_STARTED,
        StartOutcome.CONFLICT: StartResultKind.CONFLICT,
    }
    return tuple(
        StartResult(s, kinds[s.outcome], s.run_id, s.note)
        for s in plan.creates
        if not s.written and s.outcome in kinds
    )


def _go_on(
    done: ApplyResult,
    canary: int,
    rest: int,
    confirm_rest: Callable[[CanaryReport], bool] | None,
) -> bool:
    """Whether the rest goes after the canary: all of it applied, and confirmed."""
    failed = sum(1 for r in done.sent if r.result is not Result.APPLIED)
    failed += sum(1 for s in done.starts if s.result not in _STARTED or s.then_failed)
    applied = len(done.sent) + len(done.starts) - failed
    report = CanaryReport(canary, applied, failed, rest)
    confirmed = confirm_rest(report) if confirm_rest is not None else True
    return confirmed and not report.failed


_STARTED: Final = (
    StartResultKind.STARTED,
    StartResultKind.ADOPTED,
    StartResultKind.ALREADY_STARTED,
)


def start_runs(
    plan: Plan,
    client: NextStepClient,
    run_dir: Path,
    starts: Sequence[Start],
    *,
    fail_fast: bool = False,
    progress: Progress | None = None,
    claimed: set[str] | None = None,
) -> ApplyResult:
    """Start the plan's runs (``launch_apply.Starter``) with the journal; results.csv
    says what came of them also when cut short. ``claimed`` holds the runs started by
    earlier batches of the same apply (the canary's), and gets this batch's."""
    keep_plan(run_dir / PLAN, plan.as_dict())
    journal = Journal(run_dir / JOURNAL)
    total, done = sum(s.requests for s in starts), 0
    lock = threading.Lock()

    def advance(count: int) -> None:
        nonlocal done
        with lock:
            done += count
            if progress:
                progress(done, total)

    if progress:
        progress(0, total)
    starter = Starter(client, journal, fail_fast=fail_fast, advance=advance, claimed=claimed)
    results: list[StartResult] = []
    try:
        journal.record("start", file=plan.path, host=plan.host, runs=total)
        results = starter.start_all(starts)
    finally:
        journal.close()
    report = ApplyResult(run_dir, tuple(starter.values), (), starter.requests, tuple(results))
    if journal.broken is not None:
        write_results(report, run_dir, host=plan.host, link=run_link(client))
        raise journal.broken
    return report


def _apply_batch(
    plan: Plan,
    client: NextStepClient,
    run_dir: Path,
    patches: Sequence[Patch],
    *,
    fail_fast: bool,
    progress: Progress | None,
    live: LiveState,
    max_read_age: float,
) -> ApplyResult:
    """Send some of the plan's PATCHes with the journal; results.csv says what came of
    them also when the batch is cut short."""
    keep_plan(run_dir / PLAN, plan.as_dict())
    journal = Journal(run_dir / JOURNAL)
    sender = _Sender(
        plan,
        client,
        journal,
        live,
        max_read_age=max_read_age,
        fail_fast=fail_fast,
        progress=progress,
    )
    sender.total = len(patches)
    if progress:
        progress(0, len(patches))  # the bar shows from the start of the batch
    try:
        journal.record("start", file=plan.path, host=plan.host, patches=len(patches))
        for outcome in client.map(sender.run, list(by_run(patches).items())):
            sender.results.extend(outcome)
    finally:
        with contextlib.suppress(StorageError):
            journal.record("end", summary=sender.report().summary())
        journal.close()
        try:
            write_results(sender.report(), run_dir, host=plan.host)
        except OSError as exc:
            if journal.broken is None:
                raise storage_error(run_dir / RESULTS, exc) from None
    if journal.broken is not None:
        raise journal.broken
    return sender.report()


_STOPPED: Final = "not sent: the import stopped before it (--fail-fast or a full disk)"


class _Sender:
    """Carries out the patches of one run at a time (several runs at once)."""

    def __init__(
        self,
        plan: Plan,
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
        self.results: list[ValueResult] = []
        self.requests = 0
        self.stop = threading.Event()
        self.total = 0
        self._done = 0
        self._lock = threading.Lock()

    def report(self) -> ApplyResult:
        """What was sent so far."""
        return ApplyResult(self.journal.path.parent, tuple(self.results), (), self.requests)

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
                    outcome = send_patch(
                        todo,
                        self.client,
                        self.journal,
                        read_age=round(age, 3),
                        max_wait=max(0.0, self.max_read_age - age),
                    )
                except RateLimited:
                    # NextStep did nothing. Try again; past max_read_age, on a new read.
                    continue
                except StorageError as exc:
                    self.stop.set()
                    outcome = [
                        ValueResult(c, Result.FAILED, f"not confirmed: {exc.message}")
                        for c in todo.changes
                    ]
                with self._lock:
                    self.requests += 1
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
    gone = _gone(tasks, task)
    if gone:
        return todo, [ValueResult(c, Result.FAILED, gone) for c in patch.changes]
    assert task is not None
    settled: list[ValueResult] = []
    for change in patch.changes:
        found = live_field(task, change.key)
        if found is None:
            settled.append(
                ValueResult(change, Result.FAILED, "the field is gone from the task; not sent")
            )
            continue
        now = found.value
        outcome = classify(codec_for(change.kind), change.live, change.sheet, now)
        if outcome is Outcome.CHANGE:
            todo.add(change)
        elif outcome is Outcome.ALREADY_DONE:
            settled.append(ValueResult(change.with_live(now), Result.ALREADY_DONE, stored=now))
        elif on_conflict is OnConflict.MINE:
            todo.add(change.with_live(now))
        else:
            message = f"changed in NextStep meanwhile to {describe(now)!r}; not overwritten"
            settled.append(ValueResult(change.with_live(now), Result.CONFLICT, message, now))
    return todo, settled


def _gone(tasks: Sequence[Task] | None, task: Task | None) -> str:
    """Why nothing of a task's patch can be sent now ("" when it can)."""
    if tasks is None or task is None:
        what = "run" if tasks is None else "task"
        return f"the {what} no longer exists in NextStep (deleted since the plan); not sent"
    if tasks and all(t.completed or t.skipped for t in tasks):
        return "the run was completed in NextStep since the plan, which locks it; not sent"
    return ""

"""Starting the runs of a plan: a journalled POST per new row, never sent twice.

For each run to start (``launch.Start``), the journal records before the POST what it
sends (``start_intent``: the row's key, the body, and the template's runs that already
had its title) and after, the run it started (``started``) or that NextStep refused it
(``start_failed``: a POST is all or nothing, so no run was started). Then the run's
ticks and assignees, which the POST cannot carry, are set: its tasks are read once and
a PATCH sent per task, journalled like any PATCH (``patching.send_patch``); and
``start_done`` records that the row is finished.

A POST whose answer is lost (a timeout, a dropped connection, a 5xx) is never resent
blindly, because NextStep has no idempotency key: the template's newest runs are
listed, and a run with the row's title that was not there before (``Start.known``) and
that no other row took is this row's run if its pre-filled values are the row's
(``start_adopted``). Only when there is none is the POST sent again; when there are
runs that may be it but their values differ, nothing is sent and the row fails with
what was found. The same search runs first for a row whose POST an earlier import sent
and was cut off before recording its answer (``Start.unsure``).

Rows with the same title are started one after the other, so that one's run is never
taken for another's; other rows go a few at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Final

from bulksync.client import NextStepClient
from bulksync.codecs import codec_for
from bulksync.errors import ApiError, BulksyncError, OutcomeUnknownError, StorageError
from bulksync.journal import Journal
from bulksync.launch import Start, StartResult, StartResultKind, Then, created_since
from bulksync.launch_plan import title_key
from bulksync.model import Run, Task
from bulksync.patching import send_patch
from bulksync.plans import Change, Outcome, Patch, Result, ValueResult
from bulksync.snapshot import FieldKey, live_field

MAX_UNKNOWN: Final = 4
"""POSTs of one row whose answer is lost (and no run found) before the row fails."""
SEARCH_LIMIT: Final = 1000
"""Newest runs of the template looked through for a lost POST's run, at most."""

Advance = Callable[[int], None]


class Starter:
    """Starts a plan's runs through a client, journalled; one per apply."""

    def __init__(
        self,
        client: NextStepClient,
        journal: Journal,
        *,
        fail_fast: bool = False,
        advance: Advance | None = None,
        claimed: set[str] | None = None,
    ) -> None:
        self.client = client
        self.journal = journal
        self.fail_fast = fail_fast
        self.advance = advance
        self.stop = threading.Event()
        self.requests = 0
        """Requests sent: POSTs, reads of the new runs' tasks, PATCHes."""
        self.values: list[ValueResult] = []
        """What came of each tick and assignee of the runs started."""
        self._claimed: set[str] = set() if claimed is None else claimed
        """Runs started, adopted or finished by this apply: never another row's."""
        self._lock = threading.Lock()

    def start_all(self, starts: Sequence[Start]) -> list[StartResult]:
        """Start every run (same titles one after the other); results in ``starts``' order."""
        groups: dict[str, list[Start]] = {}
        for start in starts:
            groups.setdefault(title_key(start.title), []).append(start)
        done: dict[int, StartResult] = {}
        for group in self.client.map(self._group, list(groups.values())):
            done.update((id(r.start), r) for r in group)
        return [done[id(s)] for s in starts]

    def _group(self, starts: list[Start]) -> list[StartResult]:
        results = []
        for start in starts:
            if self.stop.is_set():
                result = StartResult(start, StartResultKind.NOT_SENT, message=_STOPPED)
            else:
                result = self._one(start)
            if result.result is StartResultKind.FAILED and self.fail_fast:
                self.stop.set()
            results.append(result)
            if self.advance:
                self.advance(start.requests)  # the requests it was planned to take
        return results

    def _one(self, start: Start) -> StartResult:
        try:
            run: Run | None = None
            run_id: str | None = start.run_id
            if run_id:
                kind, message = StartResultKind.ALREADY_STARTED, ""
                self._claim(run_id)
                # Its ticks are set by this import, on a run it did not start: undo
                # leaves them (see journal.written_values).
                self.journal.record("start_resumed", key=start.key, run_id=run_id)
            else:
                kind, run, message = self._started(start)
                run_id = run.id if run else None
            if run_id is None:
                return StartResult(start, kind, None, message)
            failed = self._then(start, run_id)
        except StorageError as exc:
            self.stop.set()
            return StartResult(start, StartResultKind.FAILED, None, f"not confirmed: {exc.message}")
        return StartResult(start, kind, run_id, message, then_failed=failed, run=run)

    # -- the POST ------------------------------------------------------------------------

    def _started(self, start: Start) -> tuple[StartResultKind, Run | None, str]:
        """The row's run: started now, or found after a lost answer; or why there is none."""
        attempt = 0
        search = start.unsure
        while True:
            if search:
                try:
                    found = self._search(start)
                except StorageError:
                    raise
                except BulksyncError as exc:
                    # The row alone fails, and its journal says the answer was lost: the
                    # next import looks for its run again (``Start.unsure``).
                    found = f"{_UNTOLD}: {exc}"
                if isinstance(found, str):
                    return StartResultKind.FAILED, None, found
                if found is not None:
                    return self._adopt(start, found)
            attempt += 1
            if attempt > MAX_UNKNOWN:
                message = f"NextStep did not answer {MAX_UNKNOWN} times and no run was started"
                return StartResultKind.FAILED, None, message
            outcome = self._post(start)
            if outcome is not None:
                return outcome
            search = True

    def _post(self, start: Start) -> tuple[StartResultKind, Run | None, str] | None:
        """One POST; None when its answer was lost."""
        body = start.body()
        known = sorted(set(start.known) | self._claimed_now())
        self.journal.record(
            "start_intent",
            key=start.key,
            row=start.row,
            row_key=start.row_key,
            title=start.title,
            body=body,
            known=known,
        )
        try:
            with self._lock:
                self.requests += 1
            run = self.client.create_run_body(body)
        except OutcomeUnknownError as exc:
            self.journal.record("start_unknown", key=start.key, error=str(exc))
            return None
        except ApiError as exc:
            self.journal.record("start_failed", key=start.key, code=exc.code, error=exc.message)
            message = f"NextStep refused to start it: {exc.message} ({exc.code})"
            return StartResultKind.FAILED, None, message
        except BulksyncError as exc:
            self.journal.record("start_failed", key=start.key, error=str(exc))
            return StartResultKind.FAILED, None, str(exc)
        self._claim(run.id)
        self.journal.record("started", key=start.key, run_id=run.id, title=start.title)
        return StartResultKind.STARTED, run, ""

    def _adopt(self, start: Start, run: Run) -> tuple[StartResultKind, Run | None, str]:
        self._claim(run.id)
        self.journal.record("start_adopted", key=start.key, run_id=run.id, title=start.title)
        return StartResultKind.ADOPTED, run, ""  # the reports say what adopted means

    def _search(self, start: Start) -> Run | str | None:
        """The run a lost POST of this row started: the run, None when there is none
        (sending again is safe), or why it cannot be told (then nothing is sent)."""
        name = title_key(start.title)
        known = set(start.known) | self._claimed_now()
        candidates = []
        self.journal.record("start_search", key=start.key)
        for seen, run in enumerate(self.client.iter_runs(template_id=start.template_id)):
            if seen >= SEARCH_LIMIT or not created_since(run, start.since or None):
                break
            if title_key(run.title) == name and run.id not in known:
                candidates.append(run)
        if not candidates:
            return None
        matching = [run for run in candidates if self._same_values(start, run.id)]
        if len(matching) == 1:
            return matching[0]
        ids = ", ".join(r.id for r in candidates)
        return (
            f"its request's answer was lost, and runs titled {start.title!r} appeared "
            f"({ids}) whose values are not this row's alone: not started again. Check them "
            "in NextStep, and delete this row or archive the extra runs"
        )

    def _same_values(self, start: Start, run_id: str) -> bool:
        """Whether the run holds every value the row pre-fills."""
        tasks = {t.template_task_id: t for t in self._tasks(run_id)}
        for value in start.values:
            task = tasks.get(value.template_task_id)
            element = task.element(value.element_id) if task else None
            if element is None or not codec_for(value.kind).equal(element.value, value.value):
                return False
        return True

    def _tasks(self, run_id: str) -> list[Task]:
        with self._lock:
            self.requests += 1
        return self.client.run_tasks(run_id)

    def _claim(self, run_id: str) -> None:
        with self._lock:
            self._claimed.add(run_id)

    def _claimed_now(self) -> set[str]:
        with self._lock:
            return set(self._claimed)

    # -- ticks and assignees -------------------------------------------------------------

    def _then(self, start: Start, run_id: str) -> int:
        """Set the row's ticks and assignees on its run; how many could not be."""
        if not start.then:
            self.journal.record("start_done", key=start.key)
            return 0
        try:
            tasks = {t.template_task_id: t for t in self._tasks(run_id)}
        except BulksyncError as exc:
            results = [_then_failed(start, run_id, then, str(exc)) for then in start.then]
            self._keep(results)
            return len(results)
        failed = 0
        for template_task_id in start.then_tasks:
            task = tasks.get(template_task_id)
            results = self._then_task(start, run_id, template_task_id, task)
            self._keep(results)
            failed += sum(1 for r in results if r.result not in _SET)
        if not failed:
            self.journal.record("start_done", key=start.key, run_id=run_id)
        return failed

    def _then_task(
        self, start: Start, run_id: str, template_task_id: str, task: Task | None
    ) -> list[ValueResult]:
        thens = [t for t in start.then if t.template_task_id == template_task_id]
        if task is None:
            return [_then_failed(start, run_id, t, "the new run has no such task") for t in thens]
        patch = Patch(run_id, task.id)
        done: list[ValueResult] = []
        for then in thens:
            key = FieldKey(run_id, task.id, then.field)
            live = live_field(task, key)
            assert live is not None  # completion and assignee: every task has them
            change = Change(
                key=key,
                cell=then.cell,
                kind=then.field,
                label=then.label,
                base=live.value,
                sheet=then.value,
                live=live.value,
                outcome=Outcome.CHANGE,
                written=True,
                task_title=task.title,
                run_title=start.title,
                spec=live.spec,
            )
            if codec_for(then.field).equal(live.value, then.value):
                done.append(ValueResult(change, Result.ALREADY_DONE, stored=live.value))
            else:
                patch.add(change)
        if not patch.changes:
            return done
        with self._lock:
            self.requests += 1
        return done + send_patch(patch, self.client, self.journal)

    def _keep(self, results: list[ValueResult]) -> None:
        with self._lock:
            self.values.extend(results)


_SET: Final = (Result.APPLIED, Result.ALREADY_DONE)
_UNTOLD: Final = (
    "its request's answer was lost, and NextStep could not be asked whether it started "
    "the run, so it is not started again (importing again looks for it again)"
)
_STOPPED: Final = "not started: the import stopped before it (--fail-fast or a full disk)"


def _then_failed(start: Start, run_id: str, then: Then, message: str) -> ValueResult:
    change = Change(
        key=FieldKey(run_id, "", then.field),
        cell=then.cell,
        kind=then.field,
        label=then.label,
        base=None,
        sheet=then.value,
        live=None,
        outcome=Outcome.CHANGE,
        written=True,
        task_title=then.task_title,
        run_title=start.title,
    )
    return ValueResult(change, Result.FAILED, f"not set on the new run {run_id}: {message}")

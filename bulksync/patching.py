"""Sending one PATCH of a plan: journalled before and after, verified, and after a lost
answer re-read, never resent blindly.

``send_patch`` is what applying a plan (``bulksync.apply``) and setting the ticks and
assignees of a run just started (``bulksync.launch_apply``) send each PATCH with.
"""

from __future__ import annotations

from typing import Final

from bulksync.client import NextStepClient
from bulksync.codecs import codec_for
from bulksync.diff import classify
from bulksync.errors import ApiError, BulksyncError, OutcomeUnknownError, RateLimitedError
from bulksync.journal import Journal
from bulksync.model import JSON, Task
from bulksync.plans import Change, Outcome, Patch, Result, ValueResult, describe
from bulksync.snapshot import live_field

MAX_UNKNOWN: Final = 4
"""Tries of one PATCH whose outcome stays unknown before its values are called failed."""


class RateLimited(Exception):
    """A PATCH was answered 429: nothing was applied; check the run again, then resend."""


def send_patch(
    patch: Patch,
    client: NextStepClient,
    journal: Journal,
    attempt: int = 1,
    *,
    read_age: float | None = None,
    max_wait: float | None = None,
) -> list[ValueResult]:
    """One PATCH, journalled before and after; an unknown outcome is re-read, never
    resent blindly (``_after_unknown``); what NextStep stored is verified."""
    body = patch.body()
    before = {c.key.field: c.live for c in patch.changes}
    extra = {} if read_age is None else {"read_age": read_age}
    journal.record(
        "intent", run_id=patch.run_id, task_id=patch.task_id, body=body, before=before, **extra
    )
    try:
        task = client.patch_task_body(patch.run_id, patch.task_id, body, max_wait=max_wait)
    except RateLimitedError as exc:
        journal.record("rate_limited", run_id=patch.run_id, task_id=patch.task_id, error=str(exc))
        raise RateLimited from None
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
        live = _value_of(task, change)
        # The three-way rule seen from the request that may have gone: the value it
        # writes is the base and the value it replaces the edit, so that, as before,
        # live = sheet is checked first (applied), then live = what it replaces (still
        # to do), and anything else is a conflict.
        outcome = classify(codec_for(change.kind), change.sheet, change.live, live)
        if outcome is Outcome.CHANGE:
            results.append(ValueResult(change, Result.APPLIED, stored=live))
        elif outcome is Outcome.ALREADY_DONE:
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
        results.extend(send_patch(again, client, journal, attempt + 1))
    return results

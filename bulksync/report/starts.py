"""Runs to start (the sheet's new rows) as the reports say them.

The phrases are shared by the text and HTML reports, so that a reviewer reading the
page and a person at the terminal read the same words: what a run is started with,
what is set once it exists, why a row is not started, and what came of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from bulksync.codecs import COMPLETION
from bulksync.launch import Start, StartOutcome, StartResult, StartResultKind, Then
from bulksync.plans import ApplyResult, Plan
from bulksync.report.values import marked

UNDO_NOTE: Final = (
    "bulksync undo cannot delete the runs this import starts: NextStep's API has no way "
    "to; they would have to be archived in NextStep."
)
NO_ACTOR: Final = "the API key"
"""Who starts a run without ``actor_email``: NextStep records the key's user (``api``)."""


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def one_line(text: str) -> str:
    """Text on one line, as a row of the reports has it (line breaks as spaces)."""
    return " ".join(text.split())


def start_status(start: Start) -> str:
    """Why a new row is not started (or is, despite a conflict); empty for a plain start."""
    if start.outcome is StartOutcome.STARTED:
        pending = "; its ticks and assignees not set yet are set now" if start.written else ""
        return (
            "started already by an earlier import of this sheet: "
            f"run {start.run_id or '?'}; not started again{pending}"
        )
    if start.unsure:
        return start.note or "an earlier import was cut off sending it: looked for first"
    if start.outcome is StartOutcome.CONFLICT:
        note = start.note or (
            f"a run titled {start.title!r} was started since the export"
            + (f" ({', '.join(start.found)})" if start.found else "")
        )
        if start.written:
            return f"{note}; started anyway: --on-conflict mine"
        return f"{note}; not started; --on-conflict mine starts another"
    return ""


def start_details(start: Start) -> str:
    """``due 2026-12-01 · started by ana@example.com``."""
    due = f"due {start.due_date}" if start.due_date else "no due date"
    return f"{due} · started by {start.actor_email or NO_ACTOR}"


def prefill_texts(start: Start) -> list[str]:
    """Each pre-filled value: ``Task › Field = value``."""
    return [
        f"{p.task_title or p.template_task_id} › {p.label or p.element_id} = "
        + one_line(marked(p.value))
        for p in start.values
    ]


def then_text(then: Then) -> str:
    """A tick or an assignee set once the run exists: ``completes Task X``."""
    task = then.task_title or then.template_task_id
    if then.field == COMPLETION:
        return f"completes {task}" if then.value else f"leaves {task} open"
    if then.value in (None, "", []):
        return f"leaves {task} unassigned"
    return f"assigns {task} to {one_line(marked(then.value))}"


def then_texts(start: Start) -> list[str]:
    return [then_text(t) for t in start.then]


def requests_phrase(plan: Plan) -> str:
    """The requests a plan sends: ``9 requests (2 PATCH requests; 3 POST requests to
    start runs, and 4 to read their tasks and set ticks and assignees)``; the ticks of
    runs started already by an earlier import are counted as such."""
    work = plan.start_work
    if not work:
        return _plural(plan.requests, "PATCH request")
    starts = plan.starts
    then = sum(s.requests for s in work) - len(starts)
    parts = []
    if plan.patches:
        parts.append(_plural(len(plan.patches), "PATCH request"))
    if starts:
        runs = "a run" if len(starts) == 1 else "runs"
        parts.append(f"{_plural(len(starts), 'POST request')} to start {runs}")
    if then:
        whose = "their" if len(work) > 1 else "its"
        if len(work) > len(starts):  # runs started already, ticks still to set
            whose = "the new runs'"
        tail = f"{then} to read {whose} tasks and set ticks and assignees"
        if starts:
            parts[-1] += f", and {tail}"
        else:
            parts.append(tail)
    return f"{_plural(plan.requests, 'request')} ({'; '.join(parts)})"


def creates_counts(plan: Plan) -> list[str]:
    """The summary line's counts of new rows: to start, started already, in conflict."""
    if not plan.creates:
        return []
    held = [s.outcome for s in plan.creates if not s.written]
    started, conflicts = held.count(StartOutcome.STARTED), held.count(StartOutcome.CONFLICT)
    counts = [f"{_plural(len(plan.starts), 'run')} to start"]
    if started:
        counts.append(f"{started} started already")
    if conflicts:
        counts.append(f"{_plural(conflicts, 'new row')} in conflict")
    return counts


def start_lines(start: Start) -> list[str]:
    """A run to start in the terminal report: its title, then one line per detail."""
    status = start_status(start)
    lines = [one_line(start.title)]
    if start.written:
        lines.append(start_details(start))
        lines.extend(prefill_texts(start))
        then = then_texts(start)
        if then:
            lines.append("then: " + "; ".join(then))
    if status:
        lines.append(one_line(status))
    return lines


_RESULT_WORDS: Final = {
    StartResultKind.STARTED: "started",
    StartResultKind.ADOPTED: "adopted",
    StartResultKind.ALREADY_STARTED: "started already",
    StartResultKind.CONFLICT: "not started (conflict)",
    StartResultKind.FAILED: "failed",
    StartResultKind.NOT_SENT: "not sent",
}


def result_text(result: StartResult) -> str:
    """What came of a run to start: ``started: run run_123``, ``failed: <message>``."""
    word = _RESULT_WORDS[result.result]
    parts = []
    if result.run_id:
        parts.append(f"run {result.run_id}")
    if result.result is StartResultKind.ADOPTED:
        parts.append("its POST's answer was lost; the run it started was found and taken")
    if result.message:
        parts.append(one_line(result.message))
    if result.then_failed:
        parts.append(
            f"{_plural(result.then_failed, 'tick or assignee')} of it could not be set "
            "(see results.csv)"
        )
    return f"{word}: {'; '.join(parts)}" if parts else word


@dataclass(frozen=True, slots=True)
class StartRow:
    """A run to start as a row of the HTML report's table."""

    start: Start
    details: str
    values: Sequence[str]
    then: Sequence[str]
    status: str
    result: StartResult | None
    done: str
    """What came of it, after applying (``result_text``); empty before."""

    @property
    def tag(self) -> str:
        """The outcome in a word or two, beside ``status``: ``to start``, ``skipped``
        (started already), ``conflict``."""
        outcome = self.start.outcome
        if outcome is StartOutcome.CONFLICT:
            return "conflict"
        return "skipped" if outcome is StartOutcome.STARTED else "to start"

    @property
    def bad(self) -> bool:
        """Not started as planned: failed or not sent."""
        return self.result is not None and self.result.result in (
            StartResultKind.FAILED,
            StartResultKind.NOT_SENT,
        )


def start_rows(plan: Plan, result: ApplyResult | None = None) -> list[StartRow]:
    """The plan's new rows, each with its phrases and (after applying) its result."""
    results = {} if result is None else {r.start.key: r for r in result.starts}
    return [
        StartRow(
            start=s,
            details=start_details(s),
            values=prefill_texts(s),
            then=then_texts(s),
            status=start_status(s),
            result=results.get(s.key),
            done=result_text(results[s.key]) if s.key in results else "",
        )
        for s in plan.creates
    ]

"""The values passed between the stages of an import: changes, patches, plans, and what
applying a plan came to.

validate → ``Issue`` records (``bulksync.issues``); diff → a frozen ``Plan`` of
``Change`` values grouped into ``Patch`` requests, and of runs to start
(``bulksync.launch``); apply → an ``ApplyResult`` of a ``ValueResult`` per value.
``Plan.exit_code`` and ``ApplyResult.exit_code`` are the only mapping from these
outcomes to exit codes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from bulksync.codecs import ASSIGNEE, COMPLETION
from bulksync.errors import ExitCode
from bulksync.issues import Issue
from bulksync.launch import Start, StartOutcome, StartResult, StartResultKind
from bulksync.model import JSON, UNSET, Task, task_patch_body
from bulksync.snapshot import FieldKey, FieldSpec

LiveReader = Callable[[Sequence[str]], Mapping[str, Sequence[Task] | None]]
"""Reads the live tasks of runs: run id → its tasks, or None for a run that is gone."""


# -- the plan ------------------------------------------------------------------------------


class Outcome(StrEnum):
    CHANGE = "change"
    ALREADY_DONE = "already_done"
    CONFLICT = "conflict"


class OnConflict(StrEnum):
    SKIP = "skip"
    MINE = "mine"


@dataclass(frozen=True)
class ImportOptions:
    force: bool = False
    """Import a sheet exported from another API host."""
    on_conflict: OnConflict = OnConflict.SKIP
    accept_formulas: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One edited value and what the import does with it."""

    key: FieldKey
    cell: str
    kind: str
    label: str
    base: JSON
    sheet: JSON
    live: JSON
    outcome: Outcome
    written: bool
    """Sent to NextStep: every change, and conflicts under ``--on-conflict mine``."""
    task_title: str = ""
    run_title: str = ""
    spec: FieldSpec | None = None
    """The field as NextStep has it now (type, label, options), where known."""

    def with_live(self, live: JSON) -> Change:
        """The same change, against a newer live value."""
        return replace(self, live=live)


@dataclass(slots=True)
class Patch:
    """One PATCH request: a task's changed fields, completion and assignee."""

    run_id: str
    task_id: str
    _: KW_ONLY  # the rest by name: ``elements`` was the third field once (issue 13)
    completed: bool | None = None
    assignee: JSON = None
    sets_assignee: bool = False
    changes: list[Change] = field(default_factory=list)
    completes_run: bool = False
    """NextStep marks the run completed (and locks it) once this request is applied."""

    def add(self, change: Change) -> None:
        """Carry this change's value too (a field, the completion or the assignee)."""
        self.changes.append(change)
        if change.key.field == COMPLETION:
            self.completed = bool(change.sheet)
        elif change.key.field == ASSIGNEE:
            self.sets_assignee = True
            self.assignee = change.sheet

    @property
    def elements(self) -> dict[str, JSON]:
        """The form fields this request sets, by element id: made from its changes when
        asked for, not kept (a plan holds a patch per edited task: 20,000 at 10,000
        runs with a tenth of their values edited, issue 13)."""
        return {
            c.key.field: c.sheet for c in self.changes if c.key.field not in (COMPLETION, ASSIGNEE)
        }

    def body(self) -> dict[str, JSON]:
        """The request body, as the API documents it."""
        return task_patch_body(
            completed=UNSET if self.completed is None else self.completed,
            assignee=self.assignee if self.sets_assignee else UNSET,
            elements=self.elements,
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a dry run reports, and everything an apply would send."""

    path: str
    host: str
    exported_from: str
    exported_at: str
    has_base: bool
    on_conflict: OnConflict
    changes: tuple[Change, ...] = ()
    already_done: tuple[Change, ...] = ()
    conflicts: tuple[Change, ...] = ()
    errors: tuple[Issue, ...] = ()
    warnings: tuple[Issue, ...] = ()
    patches: tuple[Patch, ...] = ()
    """In the order they must be sent (``bulksync.diff.send_order``)."""
    unchanged: int = 0
    runs_read: int = 0
    completes_runs: tuple[tuple[str, str], ...] = ()
    """(run id, title) of each run this import completes."""
    creates: tuple[Start, ...] = ()
    """The sheet's new rows: runs to start, started already, or conflicts."""
    template_id: str | None = None
    """The template the sheet's new rows start runs of."""
    started_runs: tuple[tuple[str, str], ...] = ()
    """Undo: (run id, title) of each run the undone import started, which undo cannot
    delete (NextStep's API has no way to): they must be archived in NextStep."""

    @property
    def starts(self) -> tuple[Start, ...]:
        """The runs this import starts: a POST each."""
        return tuple(s for s in self.creates if s.written and not s.run_id)

    @property
    def start_work(self) -> tuple[Start, ...]:
        """The new rows the apply sends something for: the runs it starts, and the runs
        started already whose ticks and assignees are not all set yet."""
        return tuple(s for s in self.creates if s.written)

    @property
    def requests(self) -> int:
        """Requests the apply sends when all goes well: PATCHes, and per run to start
        its POST (and the read and PATCHes of its ticks and assignees)."""
        return len(self.patches) + sum(s.requests for s in self.start_work)

    @property
    def has_work(self) -> bool:
        """Something to send: a PATCH, a run to start, ticks of a run started already."""
        return bool(self.patches or self.start_work)

    def summary(self) -> dict[str, int]:
        return {
            "creates": len(self.starts),
            "changes": len(self.changes),
            "conflicts": len(self.conflicts),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "requests": self.requests,
            "already_done": len(self.already_done),
            "unchanged": self.unchanged,
            "runs_read": self.runs_read,
        }

    def exit_code(self, *, detailed: bool = False) -> ExitCode:
        """0 when clean; errors before conflicts; with ``detailed``, pending changes."""
        if self.errors:
            return ExitCode.INVALID
        skipped = [s for s in self.creates if s.outcome is StartOutcome.CONFLICT]
        if (self.conflicts or skipped) and self.on_conflict is OnConflict.SKIP:
            return ExitCode.CONFLICTS
        if detailed and self.has_work:
            return ExitCode.CHANGES
        return ExitCode.OK

    def unwritten(self) -> tuple[ValueResult, ...]:
        """The conflicts not written, as results of applying (someone else's edits)."""
        return tuple(
            ValueResult(
                c,
                Result.CONFLICT,
                f"changed in NextStep since the export to {describe(c.live)!r}; not written "
                "(--on-conflict mine would write it)",
                c.live,
            )
            for c in self.conflicts
            if not c.written
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON report (documented in docs/import.md), before applying."""
        return {
            key: list(value) if isinstance(value, Iterator) else value
            for key, value in self.json_fields()
        }

    def json_fields(self) -> Iterator[tuple[str, Any]]:
        """``as_dict``'s keys and values in order, its long lists as iterators that make
        one item at a time: the report is written as it is made
        (``bulksync.report.json``), and the lists made at once took some 1.2 KiB a change
        at 10,000 runs with a tenth of their values edited (issue 13)."""
        yield "file", self.path
        yield "host", self.host
        yield "exported_from", self.exported_from or None
        yield "exported_at", self.exported_at or None
        yield "base", self.has_base
        yield "summary", self.summary()
        yield "changes", (_change_dict(c) for c in self.changes)
        yield "already_done", (_change_dict(c) for c in self.already_done)
        yield "conflicts", (_conflict_dict(c) for c in self.conflicts)
        yield "errors", (p.as_dict() for p in self.errors)
        yield "warnings", (p.as_dict() for p in self.warnings)
        yield (
            "requests",
            itertools.chain(
                (_patch_dict(p) for p in self.patches),
                (
                    {"method": "POST", "row": c.row, "title": c.title, "body": c.body()}
                    for c in self.starts
                ),
            ),
        )
        yield "completes_runs", [run_id for run_id, _ in self.completes_runs]
        yield "template_id", self.template_id
        yield "started_runs", [{"run_id": i, "title": t} for i, t in self.started_runs]
        yield "creates", (c.as_dict() for c in self.creates)


def _patch_dict(p: Patch) -> dict[str, Any]:
    return {
        "method": "PATCH",
        "run_id": p.run_id,
        "task_id": p.task_id,
        "run_title": p.changes[0].run_title if p.changes else "",
        "task_title": p.changes[0].task_title if p.changes else "",
        "body": p.body(),
        "completes_run": p.completes_run,
    }


def _change_dict(c: Change) -> dict[str, Any]:
    return {
        "cell": c.cell,
        "run_id": c.key.run_id,
        "task_id": c.key.task_id,
        "field": c.key.field,
        "label": c.label,
        "before": c.live,
        "after": c.sheet,
    }


def _conflict_dict(c: Change) -> dict[str, Any]:
    return {
        "cell": c.cell,
        "run_id": c.key.run_id,
        "task_id": c.key.task_id,
        "field": c.key.field,
        "label": c.label,
        "base": c.base,
        "live": c.live,
        "sheet": c.sheet,
        "written": c.written,
    }


# -- what applying came to -----------------------------------------------------------------


class Result(StrEnum):
    APPLIED = "applied"
    ALREADY_DONE = "already_done"
    CONFLICT = "conflict"
    FAILED = "failed"
    NOT_SENT = "not_sent"
    """--fail-fast, a full disk or the canary stopped the import before this value."""


@dataclass(frozen=True, slots=True)
class ValueResult:
    change: Change
    result: Result
    message: str = ""
    stored: JSON = None
    """What NextStep holds after the request (for a silent coercion, not what was sent)."""
    stored_known: bool = False


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What applying a plan came to, a result per value."""

    run_dir: Path
    sent: tuple[ValueResult, ...] = ()
    """The values of the PATCHes: applied, done already, conflicts, failed, not sent."""
    unwritten: tuple[ValueResult, ...] = ()
    """The plan's conflicts that were not written (someone else's edits)."""
    requests: int = 0
    """Requests sent (PATCHes, and the POSTs of runs started)."""
    starts: tuple[StartResult, ...] = ()
    """What came of each run to start."""

    def plus(self, other: ApplyResult) -> ApplyResult:
        """This result and another's (a later batch of the same apply) together."""
        return ApplyResult(
            self.run_dir,
            self.sent + other.sent,
            self.unwritten + other.unwritten,
            self.requests + other.requests,
            self.starts + other.starts,
        )

    @property
    def results(self) -> tuple[ValueResult, ...]:
        """Every value's result: the unwritten conflicts, then the values sent."""
        return self.unwritten + self.sent

    def count(self, result: Result) -> int:
        return sum(1 for r in self.results if r.result is result)

    @property
    def failed(self) -> int:
        return self.count(Result.FAILED) + self.count(Result.NOT_SENT) + self.starts_failed

    def started(self, *kinds: StartResultKind) -> int:
        """Runs to start that came to one of ``kinds`` (default: started or adopted)."""
        kinds = kinds or (StartResultKind.STARTED, StartResultKind.ADOPTED)
        return sum(1 for s in self.starts if s.result in kinds)

    @property
    def starts_failed(self) -> int:
        return self.started(StartResultKind.FAILED, StartResultKind.NOT_SENT)

    def summary(self) -> dict[str, int]:
        return (
            {r.value: self.count(r) for r in Result}
            | {"patches_sent": self.requests}
            | {f"runs_{k.value}": self.started(k) for k in StartResultKind}
        )

    def exit_code(self) -> ExitCode:
        """Failed or not sent before conflicts; 0 when every value was written or done."""
        if self.failed:
            return ExitCode.FAILED
        if self.count(Result.CONFLICT) or self.started(StartResultKind.CONFLICT):
            return ExitCode.CONFLICTS
        return ExitCode.OK


@dataclass(frozen=True, slots=True)
class CanaryReport:
    """What the canary's requests came to, before the rest of a plan is sent."""

    requests: int
    """Requests in the canary."""
    applied: int
    """Values applied and verified."""
    not_applied: int
    """Values not applied: failed, not sent, conflicts or done already."""
    rest: int
    """Requests left to send."""

    @property
    def failed(self) -> bool:
        return self.not_applied > 0


def describe(value: JSON) -> str:
    """A value as a report shows it: empty as ``(empty)``, lists joined."""
    if value is None or value == "" or value == []:
        return "(empty)"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)

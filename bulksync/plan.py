"""The values passed between the stages of an import: issues, changes, patches, plans,
and what applying a plan came to.

validate → ``Issue`` records; diff → a frozen ``Plan`` of ``Change`` values grouped into
``Patch`` requests; apply → an ``ApplyResult`` of a ``ValueResult`` per value.
``Plan.exit_code`` and ``ApplyResult.exit_code`` are the only mapping from these
outcomes to exit codes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from bulksync.codecs import ASSIGNEE, COMPLETION
from bulksync.errors import ExitCode
from bulksync.model import JSON, UNSET, Task, task_patch_body
from bulksync.snapshot import FieldKey, FieldSpec

LiveReader = Callable[[Sequence[str]], Mapping[str, Sequence[Task] | None]]
"""Reads the live tasks of runs: run id → its tasks, or None for a run that is gone."""


# -- issues --------------------------------------------------------------------------------


class Severity(StrEnum):
    ERROR = "error"
    """Blocks the import (nothing is sent while one stands, unless --skip-invalid)."""
    WARNING = "warning"


class IssueCode(StrEnum):
    """What is wrong; the ``code`` of the reports (documented in docs/import.md)."""

    # A row of the sheet (sheets.reading)
    NO_IDS = "no_ids"
    UNKNOWN_IDS = "unknown_ids"
    DUPLICATE_IDS = "duplicate_ids"
    CONTEXT_EDITED = "context_edited"
    NOT_APPLICABLE = "not_applicable"
    COLUMN_KEY = "column_key"
    # A cell's content (the codecs' CellError codes, and what only a spreadsheet holds)
    FORMULA = "formula"
    ERROR_VALUE = "error_value"
    NOT_A_NUMBER = "not_a_number"
    INEXACT_NUMBER = "inexact_number"
    NOT_A_DATE = "not_a_date"
    NOT_A_BOOLEAN = "not_a_boolean"
    NOT_AN_EMAIL = "not_an_email"
    NOT_A_URL = "not_a_url"
    NOT_AN_OPTION = "not_an_option"
    NOT_AN_ASSIGNEE = "not_an_assignee"
    DIGITS_CONVERTED = "digits_converted"
    MOJIBAKE = "mojibake"
    READ_AS_MISSING = "read_as_missing"
    # An edit against the export and live state
    LOCKED = "locked"
    RUN_NOT_FOUND = "run_not_found"
    TASK_GONE = "task_gone"
    FIELD_GONE = "field_gone"
    RUN_COMPLETED = "run_completed"
    TYPE_CHANGED = "type_changed"
    LIVE_INVALID = "live_invalid"
    OPTION_REMOVED = "option_removed"
    # Warnings
    OPTIONS_CHANGED = "options_changed"
    NORMALISED = "normalised"
    REQUIRED_CLEARED = "required_cleared"
    NO_BASE = "no_base"
    ROWS_MISSING = "rows_missing"
    COLUMN_IGNORED = "column_ignored"


WARNINGS: Final = frozenset(
    {
        IssueCode.OPTIONS_CHANGED,
        IssueCode.NORMALISED,
        IssueCode.REQUIRED_CLEARED,
        IssueCode.NO_BASE,
        IssueCode.ROWS_MISSING,
        IssueCode.COLUMN_IGNORED,
    }
)

_GONE_FIX: Final = "in NextStep (or this API key cannot see it); check the ids of this row."

MESSAGES: Final[Mapping[IssueCode, str]] = {
    # The checks of an edit against live state (bulksync.diff), in str.format form.
    IssueCode.RUN_NOT_FOUND: "Run {run_id} no longer exists in NextStep (or this API key "
    "cannot see it); this value cannot be imported.",
    IssueCode.TASK_GONE: "Task {task_id} is no longer in run {run_id}: the run's tasks "
    "changed since the export. Export again and redo this edit.",
    IssueCode.RUN_COMPLETED: "Run {run_id} was completed in NextStep since the export, and "
    "NextStep locks a completed run; this value cannot be imported.",
    IssueCode.FIELD_GONE: "Task {title!r} no longer has the field {label!r} (the template "
    "was synced into the run since the export). Export again and redo this edit.",
    IssueCode.LOCKED: "This value cannot change: {locked} in NextStep since the export.",
    IssueCode.TYPE_CHANGED: "The field {label!r} was a {was} field at export and is a {now} "
    "field now. Export again and redo this edit.",
    IssueCode.LIVE_INVALID: "NextStep holds {held!r} in the {kind} field {label!r}, which "
    "is not a valid {kind} value, so this edit cannot be checked against it. Correct the "
    "value in NextStep, then import again.",
    IssueCode.OPTION_REMOVED: "The options of {label!r} changed since the export: {reason}.",
    IssueCode.OPTIONS_CHANGED: "The options of {label!r} changed since the export; the "
    "value is still one of them.",
    # Reading a cell (bulksync.validate)
    IssueCode.ERROR_VALUE: "The cell shows the spreadsheet error {text}; type the value "
    "instead (or leave the cell as it was exported).",
    IssueCode.FORMULA: "The cell holds the formula {text}; {fix}",
    IssueCode.NORMALISED: "{said}.",
    IssueCode.REQUIRED_CLEARED: "{label!r} is required: NextStep accepts it empty, but a "
    "person completing the task in the app will be asked to fill it in.",
    IssueCode.NO_BASE: "This sheet has no base snapshot: it is compared with live state "
    "only, so every value that differs from NextStep is written, and changes made by "
    "others since the export will be overwritten.",
}
"""Each issue's message, by code, for the codes whose text is one fixed sentence."""

LOCKED_AT_EXPORT: Final = (
    "This value cannot change: {locked} at export, and NextStep does not accept edits "
    "there. Put back {exported!r}."
)
"""``locked`` for a value the export already showed locked (``MESSAGES`` has the one
locked since the export)."""

MOJIBAKE_FILE: Final = (
    "This file was opened or saved with the wrong character set: {count} show their "
    "exported text garbled (UTF-8 read as Latin-1 or Windows-1252: Müller as MÃ¼ller) or "
    "with '?' for characters the set cannot hold, and importing them would write that "
    "text ({cells}). Open the CSV "
    "bulksync exported again, choosing UTF-8 as its character set (LibreOffice asks when "
    "it opens a CSV; in Excel use Data ▸ From Text/CSV, File origin: Unicode (UTF-8)), "
    "redo the edits, and save it as CSV in UTF-8."
)
"""The one error of a file whose cells are ``mojibake``."""

UNMATCHED: Final[Mapping[IssueCode, str]] = {
    IssueCode.RUN_NOT_FOUND: "Run {run_id} does not exist " + _GONE_FIX,
    IssueCode.TASK_GONE: "Run {run_id} has no such task " + _GONE_FIX,
    IssueCode.FIELD_GONE: "Task {title!r} has no such field " + _GONE_FIX,
}
"""Without a base snapshot: a row whose ids match nothing live."""

UNDO_GONE: Final[Mapping[IssueCode, str]] = {
    IssueCode.TASK_GONE: "Task {task_id} of run {run_id} no longer exists in NextStep; "
    "nothing to undo there.",
    IssueCode.FIELD_GONE: "Task {title!r} no longer has the field {field}; nothing to undo there.",
}
"""Undo: a value the import wrote whose task or field is gone."""


@dataclass(frozen=True, slots=True)
class Issue:
    """An error or warning about one cell (or the whole sheet when ``cell`` is None)."""

    severity: Severity
    code: IssueCode
    message: str
    cell: str | None = None
    key: FieldKey | None = None
    value: str | None = None
    """The offending value as the cell shows it."""
    run_title: str = ""
    task_title: str = ""
    label: str = ""

    @classmethod
    def of(
        cls,
        code: IssueCode,
        cell: str | None = None,
        key: FieldKey | None = None,
        value: str | None = None,
        *,
        template: str | None = None,
        **params: Any,
    ) -> Issue:
        """The issue of ``code``, its message from ``MESSAGES`` (or ``template``)."""
        text = (MESSAGES[code] if template is None else template).format(**params)
        severity = Severity.WARNING if code in WARNINGS else Severity.ERROR
        return cls(severity, code, text, cell, key, value)

    def as_dict(self) -> dict[str, Any]:
        key = self.key
        return {
            "cell": self.cell,
            "run_id": key.run_id if key else None,
            "task_id": key.task_id if key else None,
            "field": key.field if key else None,
            "label": self.label or None,
            "code": self.code.value,
            "message": self.message,
            "value": self.value,
        }


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


@dataclass
class Patch:
    """One PATCH request: a task's changed fields, completion and assignee."""

    run_id: str
    task_id: str
    elements: dict[str, JSON] = field(default_factory=dict)
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
        else:
            self.elements[change.key.field] = change.sheet

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

    @property
    def requests(self) -> int:
        return len(self.patches)

    def summary(self) -> dict[str, int]:
        return {
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
        if self.conflicts and self.on_conflict is OnConflict.SKIP:
            return ExitCode.CONFLICTS
        if detailed and self.patches:
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
            "file": self.path,
            "host": self.host,
            "exported_from": self.exported_from or None,
            "exported_at": self.exported_at or None,
            "base": self.has_base,
            "summary": self.summary(),
            "changes": [_change_dict(c) for c in self.changes],
            "already_done": [_change_dict(c) for c in self.already_done],
            "conflicts": [_conflict_dict(c) for c in self.conflicts],
            "errors": [p.as_dict() for p in self.errors],
            "warnings": [p.as_dict() for p in self.warnings],
            "requests": [
                {
                    "method": "PATCH",
                    "run_id": p.run_id,
                    "task_id": p.task_id,
                    "run_title": p.changes[0].run_title if p.changes else "",
                    "task_title": p.changes[0].task_title if p.changes else "",
                    "body": p.body(),
                    "completes_run": p.completes_run,
                }
                for p in self.patches
            ],
            "completes_runs": [run_id for run_id, _ in self.completes_runs],
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
    """PATCH requests sent."""

    @property
    def results(self) -> tuple[ValueResult, ...]:
        """Every value's result: the unwritten conflicts, then the values sent."""
        return self.unwritten + self.sent

    def count(self, result: Result) -> int:
        return sum(1 for r in self.results if r.result is result)

    @property
    def failed(self) -> int:
        return self.count(Result.FAILED) + self.count(Result.NOT_SENT)

    def summary(self) -> dict[str, int]:
        return {r.value: self.count(r) for r in Result} | {"patches_sent": self.requests}

    def exit_code(self) -> ExitCode:
        """Failed or not sent before conflicts; 0 when every value was written or done."""
        if self.failed:
            return ExitCode.FAILED
        if self.count(Result.CONFLICT):
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

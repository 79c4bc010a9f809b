"""What an import finds wrong with a sheet: ``Issue`` records, their codes, severities
and messages.

validate, diff and the sheet readers report problems as data (an ``Issue`` names its
cell, field, code and message); the reports render them and ``Plan.exit_code`` counts
them. Every code is documented in docs/import.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from bulksync.snapshot import FieldKey


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
    # A new row: a run to start (bulksync.launch_plan)
    TITLE_REQUIRED = "title_required"
    NO_TEMPLATE = "no_template"
    TEMPLATE_GONE = "template_gone"
    TEMPLATE_UNPUBLISHED = "template_unpublished"
    NOT_IN_TEMPLATE = "not_in_template"
    # Warnings
    DUPLICATE_TITLE = "duplicate_title"
    TITLE_IN_USE = "title_in_use"
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
        IssueCode.DUPLICATE_TITLE,
        IssueCode.TITLE_IN_USE,
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
    # A new row (bulksync.launch_plan)
    IssueCode.TITLE_REQUIRED: "This new row has values but no title, and a run to start "
    "needs one: type the run's title in this cell (or clear the row to start no run).",
    IssueCode.NO_TEMPLATE: "This sheet has new rows (rows without a run_id), but it does "
    "not say which template to start them from: start runs from a sheet exported with "
    "--template (bulksync export --template ID --new N -o launch.xlsx).",
    IssueCode.TEMPLATE_GONE: "The template {template_id} of this sheet's new rows no longer "
    "exists in NextStep (or this API key cannot see it); no run can be started from it.",
    IssueCode.TEMPLATE_UNPUBLISHED: "The template {title!r} ({template_id}) is not "
    "published, and NextStep starts runs only from a published template: publish it in "
    "NextStep, then import again. No run was started.",
    IssueCode.NOT_IN_TEMPLATE: "The template no longer has {what} (it changed since the "
    "export), so a new run cannot be started with this value: export a launch sheet "
    "again, or clear this cell.",
    IssueCode.DUPLICATE_TITLE: "Row {other} starts a run with the same title {title!r}: "
    "both rows start a run. Delete one of them if that is a mistake.",
    IssueCode.TITLE_IN_USE: "A run titled {title!r} is already active ({run_id}, started "
    "{when}): this row starts another. Delete the row if it is the same run.",
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

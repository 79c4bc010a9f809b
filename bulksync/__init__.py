"""bulksync: edit NextStep process runs in a spreadsheet, safely.

Three calls do the whole job from Python (docs/library.md walks through them)::

    export(client, template=…, path=None)  -> Export        .frame(): a pandas DataFrame
    plan(client, file_or_edited_frame)       -> Plan          the dry run; .frame(), Jupyter
    plan.apply(client)                       -> ApplyResult   journalled as the CLI does

Every stage the CLI runs is a function here, joined by value types::

    fetch_snapshot(client, …)            -> Snapshot      live state, for an export
    write_export(snapshot, path)         -> ExportResult  the sheet a person edits
    export_runs(client, ExportRequest(path, …), resume=…, confirm=…)
                                         -> ExportOutcome both, estimated first, through
                                                          a spool on disk that resumes
    read_sheet(path)                     -> Sheet         what they edited
    plan_import(sheet, LiveState(client).read, host=…)
                                         -> Plan          Issues, Changes, Patches
    apply_plan(plan, client, run_dir)    -> ApplyResult   journalled PATCHes
    plan_undo(run_dir, read_live, host)  -> Plan          putting back what one import wrote
    start_runs(client, template_id, rows, state_dir=…, batch=…)
                                         -> Launch        runs started from Python rows

``Plan.exit_code()`` and ``ApplyResult.exit_code()`` say what the CLI would exit with.
The library never prints and never exits; progress and the canary's question come
through callbacks. docs/library.md shows each stage; the sandbox
(``bulksync.sandbox.open_sandbox`` and ``sandbox_client``) is a NextStep to try them on.
"""

from __future__ import annotations

from bulksync.annotate import annotate_workbook
from bulksync.apply import apply_plan
from bulksync.baseurl import DEFAULT_BASE_URL
from bulksync.client import NextStepClient
from bulksync.codecs import ASSIGNEE, COMPLETION, CellError, Codec, codec_for
from bulksync.diff import classify, plan_import
from bulksync.errors import (
    ApiError,
    ApiValidationError,
    AuthError,
    BulksyncError,
    ConfigError,
    ConflictError,
    ExitCode,
    ForbiddenError,
    LockedError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitedError,
    ResponseError,
    ServerError,
    SheetError,
    StorageError,
    TransportError,
)
from bulksync.exporter import Estimate, ExportOutcome, ExportRequest, export_runs
from bulksync.fetch import LiveState, Reading, fetch_snapshot
from bulksync.issues import Issue, IssueCode, Severity
from bulksync.journal import Written, written_values
from bulksync.launch_rows import Launch, start_runs
from bulksync.model import UNSET, Element, Run, Section, Task, Template, TemplateTask
from bulksync.pacing import RateLimiter
from bulksync.plans import (
    ApplyResult,
    CanaryReport,
    Change,
    ImportOptions,
    LiveReader,
    OnConflict,
    Outcome,
    Patch,
    Plan,
    Result,
    ValueResult,
    describe,
)
from bulksync.report import plan_html, plan_json, plan_text
from bulksync.rundir import latest_run_dir, new_run_dir, new_undo_dir
from bulksync.sheets import ExportResult, Layout, Sheet, SheetCell, read_sheet, write_export
from bulksync.snapshot import FieldKey, FieldSpec, FieldValue, Snapshot
from bulksync.stats import RequestStats
from bulksync.undo import plan_undo
from bulksync.version import __version__
from bulksync.workflow import Export, export, plan

__all__ = [
    "ASSIGNEE",
    "COMPLETION",
    "DEFAULT_BASE_URL",
    "UNSET",
    "ApiError",
    "ApiValidationError",
    "ApplyResult",
    "AuthError",
    "BulksyncError",
    "CanaryReport",
    "CellError",
    "Change",
    "Codec",
    "ConfigError",
    "ConflictError",
    "Element",
    "Estimate",
    "ExitCode",
    "Export",
    "ExportOutcome",
    "ExportRequest",
    "ExportResult",
    "FieldKey",
    "FieldSpec",
    "FieldValue",
    "ForbiddenError",
    "ImportOptions",
    "Issue",
    "IssueCode",
    "Launch",
    "Layout",
    "LiveReader",
    "LiveState",
    "LockedError",
    "NextStepClient",
    "NotFoundError",
    "OnConflict",
    "Outcome",
    "OutcomeUnknownError",
    "Patch",
    "Plan",
    "RateLimitedError",
    "RateLimiter",
    "Reading",
    "RequestStats",
    "ResponseError",
    "Result",
    "Run",
    "Section",
    "ServerError",
    "Severity",
    "Sheet",
    "SheetCell",
    "SheetError",
    "Snapshot",
    "StorageError",
    "Task",
    "Template",
    "TemplateTask",
    "TransportError",
    "ValueResult",
    "Written",
    "__version__",
    "annotate_workbook",
    "apply_plan",
    "classify",
    "codec_for",
    "describe",
    "export",
    "export_runs",
    "fetch_snapshot",
    "latest_run_dir",
    "new_run_dir",
    "new_undo_dir",
    "open_sandbox",
    "plan",
    "plan_html",
    "plan_import",
    "plan_json",
    "plan_text",
    "plan_undo",
    "read_sheet",
    "sandbox_client",
    "start_runs",
    "write_export",
    "written_values",
]


def __getattr__(name: str) -> object:
    """The sandbox's two openers, loaded when first asked for: the emulator is not
    loaded with the package (a command against NextStep never needs it)."""
    if name in ("open_sandbox", "sandbox_client"):
        from bulksync import sandbox

        return getattr(sandbox, name)
    raise AttributeError(f"module 'bulksync' has no attribute {name!r}")

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
(``bulksync.open_sandbox`` and ``bulksync.sandbox_client``) is a NextStep to try them on.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from bulksync.sandbox import open_sandbox, sandbox_client
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

# Each public name and the module that defines it. They are imported on first use
# (PEP 562), so that ``import bulksync.cli`` — every command's start — pays for no
# module it does not run: ``bulksync --version`` imports neither httpx nor the sheets.
_HOME: dict[str, str] = {
    "Export": "bulksync.workflow",
    "export": "bulksync.workflow",
    "plan": "bulksync.workflow",
    "annotate_workbook": "bulksync.annotate",
    "open_sandbox": "bulksync.sandbox",
    "sandbox_client": "bulksync.sandbox",
    "ASSIGNEE": "bulksync.codecs",
    "COMPLETION": "bulksync.codecs",
    "DEFAULT_BASE_URL": "bulksync.baseurl",
    "UNSET": "bulksync.model",
    "ApiError": "bulksync.errors",
    "ApiValidationError": "bulksync.errors",
    "ApplyResult": "bulksync.plans",
    "AuthError": "bulksync.errors",
    "BulksyncError": "bulksync.errors",
    "CanaryReport": "bulksync.plans",
    "CellError": "bulksync.codecs",
    "Change": "bulksync.plans",
    "Codec": "bulksync.codecs",
    "ConfigError": "bulksync.errors",
    "ConflictError": "bulksync.errors",
    "Element": "bulksync.model",
    "Estimate": "bulksync.exporter",
    "ExitCode": "bulksync.errors",
    "ExportOutcome": "bulksync.exporter",
    "ExportRequest": "bulksync.exporter",
    "ExportResult": "bulksync.sheets",
    "FieldKey": "bulksync.snapshot",
    "FieldSpec": "bulksync.snapshot",
    "FieldValue": "bulksync.snapshot",
    "ForbiddenError": "bulksync.errors",
    "ImportOptions": "bulksync.plans",
    "Issue": "bulksync.issues",
    "IssueCode": "bulksync.issues",
    "Launch": "bulksync.launch_rows",
    "Layout": "bulksync.sheets",
    "LiveReader": "bulksync.plans",
    "LiveState": "bulksync.fetch",
    "LockedError": "bulksync.errors",
    "NextStepClient": "bulksync.client",
    "NotFoundError": "bulksync.errors",
    "OnConflict": "bulksync.plans",
    "Outcome": "bulksync.plans",
    "OutcomeUnknownError": "bulksync.errors",
    "Patch": "bulksync.plans",
    "Plan": "bulksync.plans",
    "RateLimitedError": "bulksync.errors",
    "RateLimiter": "bulksync.pacing",
    "Reading": "bulksync.fetch",
    "RequestStats": "bulksync.stats",
    "ResponseError": "bulksync.errors",
    "Result": "bulksync.plans",
    "Run": "bulksync.model",
    "Section": "bulksync.model",
    "ServerError": "bulksync.errors",
    "Severity": "bulksync.issues",
    "Sheet": "bulksync.sheets",
    "SheetCell": "bulksync.sheets",
    "SheetError": "bulksync.errors",
    "Snapshot": "bulksync.snapshot",
    "StorageError": "bulksync.errors",
    "Task": "bulksync.model",
    "Template": "bulksync.model",
    "TemplateTask": "bulksync.model",
    "TransportError": "bulksync.errors",
    "ValueResult": "bulksync.plans",
    "Written": "bulksync.journal",
    "__version__": "bulksync.version",
    "apply_plan": "bulksync.apply",
    "classify": "bulksync.diff",
    "codec_for": "bulksync.codecs",
    "describe": "bulksync.plans",
    "export_runs": "bulksync.exporter",
    "fetch_snapshot": "bulksync.fetch",
    "latest_run_dir": "bulksync.rundir",
    "new_run_dir": "bulksync.rundir",
    "new_undo_dir": "bulksync.rundir",
    "plan_html": "bulksync.report",
    "plan_import": "bulksync.diff",
    "plan_json": "bulksync.report",
    "plan_text": "bulksync.report",
    "plan_undo": "bulksync.undo",
    "read_sheet": "bulksync.sheets",
    "start_runs": "bulksync.launch_rows",
    "write_export": "bulksync.sheets",
    "written_values": "bulksync.journal",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'bulksync' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

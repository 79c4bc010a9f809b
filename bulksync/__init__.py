"""bulksync: edit NextStep process runs in a spreadsheet, safely.

The library is usable without the CLI::

    from bulksync import NextStepClient
    with NextStepClient(api_key) as client:
        for run in client.list_runs(status="active"):
            print(run.title)

Try it without an account against the in-process sandbox::

    from bulksync.sandbox import open_sandbox, sandbox_client
    with sandbox_client(open_sandbox(".bulksync/sandbox.db")) as client:
        ...
"""

from __future__ import annotations

__version__ = "0.1.0"

from bulksync.baseurl import DEFAULT_BASE_URL
from bulksync.client import UNSET, NextStepClient
from bulksync.errors import (
    ApiError,
    ApiValidationError,
    AuthError,
    BulksyncError,
    ConfigError,
    ConflictError,
    ExitCode,
    ForbiddenError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitedError,
    ResponseError,
    ServerError,
    TransportError,
)
from bulksync.model import Element, Run, Section, Task, Template, TemplateTask
from bulksync.pacing import RateLimiter
from bulksync.stats import RequestStats

__all__ = [
    "DEFAULT_BASE_URL",
    "UNSET",
    "ApiError",
    "ApiValidationError",
    "AuthError",
    "BulksyncError",
    "ConfigError",
    "ConflictError",
    "Element",
    "ExitCode",
    "ForbiddenError",
    "NextStepClient",
    "NotFoundError",
    "OutcomeUnknownError",
    "RateLimitedError",
    "RateLimiter",
    "RequestStats",
    "ResponseError",
    "Run",
    "Section",
    "ServerError",
    "Task",
    "Template",
    "TemplateTask",
    "TransportError",
    "__version__",
]

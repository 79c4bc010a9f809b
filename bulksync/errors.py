"""Every error bulksync raises, and the exit codes the CLI maps them to.

The tree::

    BulksyncError
    ├── ConfigError            a missing key, a malformed base URL, a bad option value
    ├── SheetError             a file that cannot be exported to or read as a bulksync sheet
    ├── StorageError           the journal or a run directory cannot be written (disk full)
    ├── TransportError         the API could not be reached: refused, DNS, timeout
    ├── ResponseError          the API answered something that is not the documented JSON
    ├── OutcomeUnknownError    a write was sent but its outcome is unknown; re-read first
    ├── LockedError            another bulksync is writing (the same sheet, or the same host)
    └── ApiError               the API answered with an error envelope
        ├── AuthError              401 unauthorized
        ├── ForbiddenError         403 forbidden
        ├── NotFoundError          404 not_found
        ├── ApiValidationError     400 validation_error
        ├── ConflictError          409 (run_completed and any other conflict)
        ├── RateLimitedError       429 rate_limited, after the client gave up waiting
        └── ServerError            5xx

Every exception carries the context a user needs to act on it; none carries the API key.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """Exit codes of the ``bulksync`` command; documented in docs/exit-codes.md."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    CONFIG = 3
    AUTH = 4
    API = 5
    NETWORK = 6
    SHEET = 7
    INVALID = 8
    """Import: the sheet has errors (cells that cannot be imported as they stand)."""
    CONFLICTS = 9
    """Import: values were changed both in the sheet and in NextStep since the export."""
    CHANGES = 10
    """Import with --detailed-exitcode: the sheet is clean and has changes to apply."""
    FAILED = 11
    """Import or undo: some values could not be applied (see the run's errors.csv)."""
    STORAGE = 12
    """The run directory cannot be written (full disk, no permission); --resume after."""
    LOCKED = 13
    """Import or undo: another bulksync is writing (same sheet or host); nothing was sent."""
    INTERRUPTED = 130


class BulksyncError(Exception):
    """The root of every error bulksync raises on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(BulksyncError):
    """The settings cannot work: no API key, a base URL that is not a URL."""

    exit_code = ExitCode.CONFIG


class SheetError(BulksyncError):
    """A spreadsheet cannot be written as asked, or read as a bulksync export."""

    exit_code = ExitCode.SHEET


class StorageError(BulksyncError):
    """A run directory, its journal or its results cannot be written: a full disk, a
    read-only folder. Nothing is sent once the journal cannot record it."""

    exit_code = ExitCode.STORAGE


class TransportError(BulksyncError):
    """The request did not get an answer: connection refused, DNS failure, timeout."""

    exit_code = ExitCode.NETWORK

    def __init__(self, message: str, *, method: str, url: str) -> None:
        super().__init__(message)
        self.method = method
        self.url = url


class ResponseError(BulksyncError):
    """The API answered, but not with the JSON the contract documents."""

    exit_code = ExitCode.API

    def __init__(self, message: str, *, method: str, url: str, status: int | None) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.status = status


class OutcomeUnknownError(BulksyncError):
    """A write reached the wire, but whether NextStep applied it is unknown.

    Raised for a PATCH or POST that timed out, lost its connection or got a 5xx. The
    client never resends such a request by itself: the caller re-reads the resource
    and decides.
    """

    exit_code = ExitCode.NETWORK

    def __init__(self, message: str, *, method: str, url: str, status: int | None) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.status = status


class LockedError(BulksyncError):
    """Another bulksync holds the lock of the sheet or the API host: nothing was sent.

    A separate exit code because the cure is to wait and run again, which no other
    error calls for; ``holder`` is what the lock file says (pid, machine, command, since).
    """

    exit_code = ExitCode.LOCKED

    def __init__(self, message: str, *, lock: Path, holder: Mapping[str, object] | None) -> None:
        super().__init__(message)
        self.lock = lock
        self.holder = holder


class ApiError(BulksyncError):
    """NextStep answered with an error envelope ``{"error": {"code", "message"}}``."""

    exit_code = ExitCode.API

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        server_message: str,
        method: str,
        url: str,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.server_message = server_message
        self.method = method
        self.url = url


class AuthError(ApiError):
    """401: the key is missing, invalid or revoked."""

    exit_code = ExitCode.AUTH


class ForbiddenError(ApiError):
    """403: the subscription expired or the key's user lacks permission."""

    exit_code = ExitCode.AUTH


class NotFoundError(ApiError):
    """404: no such template, run or task (or not visible to this key)."""


class ApiValidationError(ApiError):
    """400: NextStep refused a value or a parameter."""


class ConflictError(ApiError):
    """409: the resource is in a state that forbids the change (``run_completed``)."""


class RateLimitedError(ApiError):
    """429 after the client's own patience ran out."""


class ServerError(ApiError):
    """5xx with an error envelope, after retries where retrying is safe."""

"""The write-ahead journal of an import, and what it says was written.

``Journal`` records, before each PATCH, what it means to write and the values it
replaces, and after, what came of it. ``written_values`` reads that back for undo.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bulksync.codecs import ASSIGNEE, COMPLETION
from bulksync.errors import StorageError
from bulksync.launch import Started
from bulksync.model import JSON
from bulksync.private import private_file
from bulksync.rundir import JOURNAL, export_run_dirs, journal_of, read_journal

if TYPE_CHECKING:
    from bulksync.sheets import Sheet


class Journal:
    """An append-only JSON-lines file; every line is on disk before ``record`` returns.

    A line that cannot be written (a full disk) raises ``StorageError``, and the journal
    refuses every line after it: an intent that is not on disk is never sent. Lines go
    straight to the file, with no buffer: a line that failed halfway is not written
    later by ``close``. A file whose last line was cut short (a crash, a full disk) gets
    a line break before the first new line, so that line is not glued to the broken one
    (``read_journal`` skips a line it cannot read).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.broken: StorageError | None = None
        try:
            self._fd = os.open(private_file(path), os.O_RDWR | os.O_APPEND)
            self._pending = b"\n" if _ends_mid_line(self._fd) else b""
        except OSError as exc:
            raise storage_error(path, exc) from None

    def record(self, event: str, **fields: Any) -> None:
        line = json.dumps(
            {"at": _now(), "event": event, **fields}, ensure_ascii=False, separators=(",", ":")
        )
        with self._lock:
            if self.broken is not None:
                raise self.broken
            data = memoryview(self._pending + (line + "\n").encode("utf-8"))
            try:
                while data:
                    data = data[os.write(self._fd, data) :]
                os.fsync(self._fd)
            except OSError as exc:
                self.broken = storage_error(self.path, exc)
                raise self.broken from None
            self._pending = b""

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


def _ends_mid_line(fd: int) -> bool:
    """Whether the file's last byte is not a line break (a line was cut short)."""
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def storage_error(path: Path, exc: OSError) -> StorageError:
    """The error for a file of the run directory that cannot be written."""
    return StorageError(
        f"Cannot write {path}: {exc.strerror or exc}. Every request sent so far is in the "
        "journal; nothing more is sent. Free some space (or fix the folder's permissions), "
        "then run the same import again with --resume: it re-reads what was sent."
    )


def keep_plan(path: Path, plan: dict[str, Any]) -> None:
    """Write the plan (its JSON report) into the run directory, if not there already
    (a resumed import keeps the first one: what the import set out to do)."""
    try:
        if not path.exists():
            private_file(path).write_text(
                json.dumps(plan, ensure_ascii=False, indent=2), encoding="utf-8"
            )
    except OSError as exc:
        raise storage_error(path, exc) from None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Written:
    """A value an import wrote: what it replaced and what it wrote."""

    run_id: str
    task_id: str
    field: str
    before: JSON
    after: JSON


def written_values(run_dir: Path) -> list[Written]:
    """What the import in ``run_dir`` wrote or may have written, from its journal.

    A value counts when an answer showed it stored (``applied``, or a re-read after an
    unknown outcome), and also when its request went out and no answer was ever
    recorded (the process died, or the disk filled, between the PATCH and its journal
    line): such a value may be written, and undo's three-way check decides from live
    state (still as sent: put back; as before: nothing was written; else: a conflict).
    A request NextStep refused wrote nothing (a PATCH is all or nothing).
    """
    path = journal_of(run_dir)
    events = read_journal(path)
    # The runs this import started: undo cannot delete them, nor needs to untick them.
    new_runs = {e.get("run_id") for e in events if e.get("event") in _NEW_RUN_EVENTS}
    befores: dict[tuple[str, str], dict[str, JSON]] = {}
    # Per task, the request sent last and not answered yet; one that a later request of
    # the same task found still open (its answer was lost) is kept in ``unanswered``.
    open_intents: dict[tuple[str, str], tuple[dict[str, JSON], dict[str, JSON]]] = {}
    unanswered: list[tuple[tuple[str, str], dict[str, JSON], dict[str, JSON]]] = []
    written: dict[tuple[str, str, str], Written] = {}
    for event in events:
        key = (event.get("run_id", ""), event.get("task_id", ""))
        kind = event.get("event")
        if key[0] in new_runs:
            continue
        if kind == "intent":
            if key in open_intents:
                unanswered.append((key, *open_intents[key]))
            replaced = dict(event.get("before", {}))
            befores.setdefault(key, {}).update(replaced)
            open_intents[key] = (_body_values(event.get("body", {})), replaced)
        elif kind in ("applied", "reread"):
            open_intents.pop(key, None)
            for name, value in event.get("values", {}).items():
                before = befores.get(key, {}).get(name)
                written[(*key, name)] = Written(*key, name, before, value)
        elif kind in ("failed", "rate_limited"):
            open_intents.pop(key, None)  # refused: a PATCH is all or nothing
    unanswered.extend((key, *sent) for key, sent in open_intents.items())
    for key, values, before in unanswered:
        for name, value in values.items():
            if (*key, name) not in written:
                written[(*key, name)] = Written(*key, name, before.get(name), value)
    return list(written.values())


def _body_values(body: dict[str, Any]) -> dict[str, JSON]:
    """The values a PATCH body sends, by field (completion and assignee included)."""
    values: dict[str, JSON] = {e["id"]: e["value"] for e in body.get("custom_elements", [])}
    if "completed" in body:
        values[COMPLETION] = body["completed"]
    if "assignee" in body:
        values[ASSIGNEE] = body["assignee"]
    return values


# -- runs started from new rows -----------------------------------------------------------

_STARTED_EVENTS = ("started", "start_adopted")
_NEW_RUN_EVENTS = (*_STARTED_EVENTS, "start_resumed")
"""Events naming a run the sheet started: its ticks and assignees are not undone."""


def started_runs(run_dir: Path) -> list[tuple[str, str]]:
    """(run id, title) of each run the import in ``run_dir`` started, in order."""
    return [
        (str(e["run_id"]), str(e.get("title", "")))
        for e in read_journal(journal_of(run_dir))
        if e.get("event") in _STARTED_EVENTS and e.get("run_id")
    ]


def sheet_started(path: Path, sheet: Sheet) -> dict[str, Started]:
    """``started_rows`` of every import of the export ``sheet`` (read from ``path``), or
    nothing to read for a sheet without new rows."""
    if not sheet.new_rows:
        return {}
    meta = sheet.meta
    return started_rows(
        export_run_dirs(path, exported_from=meta.host, exported_at=meta.exported_at)
    )


def started_rows(run_dirs: Sequence[Path]) -> dict[str, Started]:
    """What the journals of a sheet's imports (oldest first) say of its new rows, by row
    key: the run each started, whether its ticks and assignees were all set, or that its
    POST went and no answer was recorded (``Started.run_id`` None)."""
    found: dict[str, Started] = {}
    for run_dir in run_dirs:
        path = run_dir / JOURNAL
        if not path.is_file():
            continue
        for event in read_journal(path):
            _ledger_event(found, event)
    return found


def _ledger_event(found: dict[str, Started], event: dict[str, Any]) -> None:
    key, kind = event.get("key"), event.get("event")
    if not isinstance(key, str):
        return
    known = found.get(key)
    if kind == "start_intent" and (known is None or known.run_id is None):
        body = event.get("body")
        found[key] = Started(
            key,
            None,
            known=tuple(event.get("known", ())),
            at=str(event.get("at", "")),
            row=int(event.get("row") or 0),
            body=body if isinstance(body, dict) else None,
            row_key=str(event.get("row_key") or ""),
        )
    elif kind in _STARTED_EVENTS and known is not None:
        found[key] = replace(known, run_id=str(event["run_id"]))
    elif kind in _STARTED_EVENTS:
        found[key] = Started(key, str(event["run_id"]), at=str(event.get("at", "")))
    elif kind == "start_done" and known is not None and known.run_id:
        found[key] = replace(known, done=True)
    elif kind == "start_failed" and known is not None and known.run_id is None:
        del found[key]  # refused: no run was started (a POST is all or nothing)

"""Run directories: making, naming, finding and locking them, and the results they keep.

Everything an import writes lives in a ``.bulksync`` folder beside the sheet (a sheet
that is itself inside a ``.bulksync`` folder, such as a run's ``errors.csv``, uses
that folder)::

    .bulksync/                          0700
      locks/sheet-<name>-<hash>.lock    one writer per sheet
      locks/host-<host>.lock            one writer per API host, from this folder
      imports/<UTC time>-<name>[-N]/    one run directory per import or undo
        run.json                        what it is the run of (see ``RunOf``)
        plan.json journal.jsonl results.csv errors.csv …

Folders are 0700 and files 0600 (``bulksync.private``). A run directory is found by
what its ``run.json`` says and when it was made, never by parsing its name: the name
is for people, and ``-N`` ends it when another import took the same second.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import re
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from bulksync.errors import LockedError, SheetError, StorageError
from bulksync.plans import describe
from bulksync.private import DIR_MODE, private_dir, private_file
from bulksync.sheets.csvfile import guard

DOT: Final = ".bulksync"
IMPORTS: Final = "imports"
LOCKS: Final = "locks"
IDENTITY: Final = "run.json"
JOURNAL: Final = "journal.jsonl"
PLAN: Final = "plan.json"
RESULTS: Final = "results.csv"
ERRORS: Final = "errors.csv"


def dot_dir(path: Path) -> Path:
    """The ``.bulksync`` folder that holds what is written about ``path``."""
    resolved = path.resolve()
    for parent in resolved.parents:
        if parent.name == DOT:
            return parent
    return resolved.parent / DOT


# -- what a run directory is the run of -------------------------------------------------


class RunKind(StrEnum):
    IMPORT = "import"
    UNDO = "undo"


@dataclass(frozen=True)
class RunOf:
    """What a run directory is the run of: an import of a sheet, or the undo of a run."""

    kind: RunKind
    path: str
    """The sheet's resolved path, or the resolved run directory that is undone."""
    suffix: str = ""
    exported_from: str = ""
    exported_at: str = ""
    """Which export of the sheet (from its metadata): a file exported again over the
    same path is another sheet."""

    @classmethod
    def sheet(cls, sheet: Path, *, exported_from: str = "", exported_at: str = "") -> RunOf:
        resolved = sheet.resolve()
        return cls(
            RunKind.IMPORT, str(resolved), resolved.suffix.lower(), exported_from, exported_at
        )

    @classmethod
    def undo(cls, run_dir: Path) -> RunOf:
        return cls(RunKind.UNDO, str(run_dir.resolve()))

    def same_as(self, other: RunOf) -> bool:
        if (self.kind, self.path, self.suffix) != (other.kind, other.path, other.suffix):
            return False
        return not (self.exported_at and other.exported_at) or (
            (self.exported_from, self.exported_at) == (other.exported_from, other.exported_at)
        )


def new_run_dir(
    sheet: Path, now: dt.datetime | None = None, *, run_of: RunOf | None = None
) -> Path:
    """``.bulksync/imports/<UTC time>-<sheet>/`` for an import of ``sheet``, made anew."""
    return _make(dot_dir(sheet), sheet.stem, run_of or RunOf.sheet(sheet), now)


def new_undo_dir(run_dir: Path, now: dt.datetime | None = None) -> Path:
    """``.bulksync/imports/<UTC time>-undo-<run>/`` for undoing the import in ``run_dir``."""
    return _make(dot_dir(run_dir), f"undo-{run_dir.name}", RunOf.undo(run_dir), now)


def _make(dot: Path, name: str, run_of: RunOf, now: dt.datetime | None) -> Path:
    try:
        return _make_dir(dot, name, run_of, now)
    except OSError as exc:
        raise _cannot_write(dot, exc) from None


def _cannot_write(where: Path, exc: OSError) -> StorageError:
    return StorageError(
        f"Cannot write in {where}: {exc.strerror or exc}. Nothing was sent. Free some space "
        "or fix the folder's permissions (or move the sheet to a folder you can write), "
        "then run it again."
    )


def _make_dir(dot: Path, name: str, run_of: RunOf, now: dt.datetime | None) -> Path:
    now = now or dt.datetime.now(dt.UTC)
    base = private_dir(private_dir(dot) / IMPORTS)
    stamp = now.strftime("%Y%m%dT%H%M%S")
    for n in range(1000):
        candidate = base / (f"{stamp}-{name}" + (f"-{n}" if n else ""))
        try:
            candidate.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        identity = asdict(run_of) | {"created_at": now.isoformat(timespec="microseconds")}
        private_file(candidate / IDENTITY).write_text(
            json.dumps(identity, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        return candidate
    raise StorageError(  # pragma: no cover (a thousand imports of one sheet in one second)
        f"Cannot make a run directory under {base}: 1000 names of this second are taken. "
        "Move old run directories away, or wait a second and run the import again."
    )


def latest_run_dir(sheet: Path, *, run_of: RunOf | None = None) -> Path | None:
    """The run directory of the latest import of this sheet (this export of it), or None."""
    wanted = run_of or RunOf.sheet(sheet)
    found = _run_dirs(sheet, wanted.same_as)
    return found[-1] if found else None


def export_run_dirs(sheet: Path, *, exported_from: str, exported_at: str) -> list[Path]:
    """The run directories of every import of this export of a sheet beside it, under
    any file name (a copy saved as another file is the same export), oldest first."""
    if not exported_at:
        return []

    def same(run_of: RunOf) -> bool:
        export = (run_of.exported_from, run_of.exported_at)
        return run_of.kind is RunKind.IMPORT and export == (exported_from, exported_at)

    return _run_dirs(sheet, same)


def _run_dirs(sheet: Path, wanted: Callable[[RunOf], bool]) -> list[Path]:
    """The run directories beside ``sheet`` whose ``run.json`` is ``wanted``, oldest
    first (by when each was made, then by name)."""
    base = dot_dir(sheet) / IMPORTS
    if not base.is_dir():
        return []
    found: list[tuple[str, str, Path]] = []
    for candidate in base.iterdir():
        identity = _identity(candidate)
        if identity is not None and wanted(identity[1]):
            found.append((identity[0], candidate.name, candidate))
    return [path for _, _, path in sorted(found)]


def made_at(run_dir: Path) -> str | None:
    """When ``run_dir`` was made (ISO 8601, as its ``run.json`` says), or None."""
    identity = _identity(run_dir)
    return identity[0] if identity else None


def _identity(run_dir: Path) -> tuple[str, RunOf] | None:
    """When ``run_dir`` was made and what it is the run of; None for anything else."""
    try:
        raw = json.loads((run_dir / IDENTITY).read_text(encoding="utf-8"))
        run_of = RunOf(
            RunKind(raw["kind"]),
            raw["path"],
            raw.get("suffix", ""),
            raw.get("exported_from", ""),
            raw.get("exported_at", ""),
        )
        return str(raw["created_at"]), run_of
    except (OSError, ValueError, KeyError, TypeError):
        return None


def journal_of(run_dir: Path) -> Path:
    """The journal of the run in ``run_dir``; a clear error if it is not a run directory."""
    path = run_dir / JOURNAL
    try:
        found = path.exists()
    except OSError as exc:
        raise _unreadable(path, exc) from None
    if not found:
        raise SheetError(
            f"{run_dir} is not a run directory: it has no {JOURNAL}. Each import writes one "
            f"in {DOT}/{IMPORTS}/ beside its sheet, named by its UTC time and the sheet "
            f"(`ls {DOT}/{IMPORTS}`); name one of those."
        )
    return path


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The journal's events; a last line cut short by a crash is ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _unreadable(path, exc) from None
    events = []
    for line in text.splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # the line being written when the process died
    return events


def _unreadable(path: Path, exc: Exception) -> SheetError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return SheetError(
        f"{path} cannot be read ({reason}): check that it is a file and that you may "
        "read it (a run directory is private to whoever ran the import)."
    )


# -- one writer at a time ----------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as the holder wrote it into the lock file."""

    pid: int
    machine: str
    command: str
    since: str

    @classmethod
    def me(cls, command: str) -> Holder:
        since = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return cls(os.getpid(), socket.gethostname(), command, since)

    @classmethod
    def read(cls, raw: bytes) -> Holder | None:
        try:
            return cls(**json.loads(raw))
        except (ValueError, TypeError):
            return None  # the holder had not yet written who it is


@contextmanager
def writer_lock(target: Path, host: str, *, command: str) -> Iterator[None]:
    """Hold the locks of ``target`` (a sheet, or the run directory an undo reverts) and
    of the API ``host`` while writing; refuse at once with ``LockedError`` if either is held.

    Both locks are in the ``.bulksync`` folder of ``target``, so the host lock keeps one
    writer per API host among the imports and undos made from that folder (not from
    other folders, nor other machines that do not share it).
    """
    resolved = target.resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:10]
    try:
        locks = private_dir(private_dir(dot_dir(target)) / LOCKS)
    except OSError as exc:
        raise _cannot_write(dot_dir(target), exc) from None
    kind = "run directory" if resolved.is_dir() else "sheet"
    with ExitStack() as stack:
        stack.enter_context(
            _flock(
                locks / f"{kind.split()[0]}-{_slug(resolved.name)}-{digest}.lock",
                f"the {kind} {resolved}",
                command,
            )
        )
        stack.enter_context(
            _flock(
                locks / f"host-{_slug(host)}.lock",
                f"the API host {host} (for {resolved.parent})",
                command,
            )
        )
        yield


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80]


@contextmanager
def _flock(path: Path, subject: str, command: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``path``, with the holder's name written inside.

    ``fcntl.flock`` rather than a library such as filelock: the OS drops the lock when
    its process ends, however it ends (``kill -9`` too), so there is no stale-lock
    heuristic to get wrong, and the file only has to name its holder, which filelock
    does not do. POSIX only, as is the rest of the journal's fsync discipline.
    """
    import fcntl  # here, so that importing bulksync does not need it

    try:
        fd = os.open(private_file(path), os.O_RDWR)
    except OSError as exc:
        raise _cannot_write(path.parent, exc) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _locked(path, subject, Holder.read(os.pread(fd, 4096, 0))) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(asdict(Holder.me(command))).encode(), 0)
        except OSError as exc:
            raise _cannot_write(path.parent, exc) from None
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


def _locked(path: Path, subject: str, holder: Holder | None) -> LockedError:
    if holder is None:
        who = "another bulksync process (it had not yet written who it is)"
        stop = "if it is stuck, stop it"
    else:
        who = f"pid {holder.pid} on {holder.machine}, `{holder.command}`, since {holder.since}"
        stop = f"if it is stuck, stop it (`kill {holder.pid}` on {holder.machine})"
    return LockedError(
        f"Another bulksync is writing to NextStep for {subject}: {who}. Nothing was sent. "
        f"Wait until it finishes and run this again; {stop}, which releases the lock. Only "
        f"if that process no longer runs and this persists, delete {path}.",
        lock=path,
        holder=None if holder is None else asdict(holder),
    )


# -- results across the attempts of one import ---------------------------------------------

_KEY: Final = slice(4, 7)
"""The run_id, task_id and field_id columns of a results row."""
_RESULT: Final = 9
START_KEY_PREFIX: Final = "start:"
"""The field_id of a results row of a run to start: ``start:`` and the row's key."""


def merge_results(
    run_dir: Path, rows: Sequence[list[str]], found_done: Sequence[list[str]] = ()
) -> list[list[str]]:
    """The rows of ``results.csv`` for the whole import in ``run_dir``, across attempts.

    ``rows`` are this attempt's results, ``found_done`` the values its plan found
    already done. An import resumed in its run directory (``--resume``) keeps what
    earlier attempts found: their ``results.csv`` and, after a crash that left none,
    the values the journal shows NextStep took. A newer row of a value replaces an
    older one, except that a value applied stays applied (the next attempt finds it
    "already done").
    """
    intents, applied = _journal(run_dir)
    merged: dict[tuple[str, ...], list[str]] = {}
    for source in (applied, _earlier_rows(run_dir), _sent_before(found_done, intents), rows):
        for row in source:
            key = tuple(row[_KEY])
            if row[_KEY][-1].startswith(START_KEY_PREFIX):
                key = (row[_KEY][-1],)  # a run to start: by its row's key, whatever its id
            old = merged.get(key)
            if old and old[_RESULT] == "applied" and row[_RESULT] in ("already_done", "not_sent"):
                continue
            merged[key] = list(row)
    return list(merged.values())


def _sent_before(
    found_done: Sequence[list[str]], intents: set[tuple[str, ...]]
) -> Iterator[list[str]]:
    for row in found_done:
        if tuple(row[_KEY]) in intents and not row[-1]:
            row = [*row[:-1], "sent by an earlier attempt whose answer was lost; NextStep holds it"]
        yield row


def _earlier_rows(run_dir: Path) -> list[list[str]]:
    try:
        with (run_dir / RESULTS).open(encoding="utf-8-sig", newline="") as handle:
            return list(csv.reader(handle))[1:]
    except (OSError, csv.Error):
        return []


def _journal(run_dir: Path) -> tuple[set[tuple[str, ...]], list[list[str]]]:
    """The values the journal shows were sent, and a row per value NextStep took and
    verified."""
    path = run_dir / JOURNAL
    if not path.is_file():
        return set(), []
    described = _planned(run_dir)
    before: dict[tuple[str, ...], Any] = {}
    rows: dict[tuple[str, ...], list[str]] = {}
    for event in read_journal(path):
        ids = (str(event.get("run_id", "")), str(event.get("task_id", "")))
        if event.get("event") == "intent":
            for name, value in (event.get("before") or {}).items():
                before.setdefault((*ids, name), value)
        elif event.get("event") == "reread" or (
            event.get("event") == "applied" and event.get("verified")
        ):
            for name, value in (event.get("values") or {}).items():
                key = (*ids, name)
                cell, label = described.get(key, ("", name))
                row = [
                    cell,
                    "",
                    "",
                    label,
                    *key,
                    describe(before.get(key)),
                    describe(value),
                    "applied",
                    "applied by an earlier attempt of this import (from its journal)",
                ]
                rows[key] = [guard(text, as_text=False) for text in row]
    return set(before), list(rows.values())


def _planned(run_dir: Path) -> dict[tuple[str, ...], tuple[str, str]]:
    """(cell, label) of each value in the run's ``plan.json``."""
    try:
        plan = json.loads((run_dir / PLAN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {
        (c["run_id"], c["task_id"], c["field"]): (c.get("cell") or "", c.get("label") or "")
        for group in ("changes", "conflicts")
        for c in plan.get(group, [])
        if isinstance(c, dict) and {"run_id", "task_id", "field"} <= c.keys()
    }

"""An export's spool: what it has read so far, on disk, so that an interrupted export resumes.

One folder per output file (``bulksync.exporter.spool_dir`` names it)::

    .bulksync/exports/<output name>-<hash>/     0700
      listing.jsonl   the listing as first read, a line per document as NextStep answered
                      it: ["template", …], ["template_task", …], ["run", …] in listing order
      export.json     what is exported (the options), from which host, the export's time
                      and id; written last, so a folder with it holds a whole listing
      runs.jsonl      a line per run read: {"run": ID, "read_at": ISO 8601, "tasks": […]}

Files are 0600 (``bulksync.private``): they hold people's data. A spool is first written
as a ``Draft`` (``<name>.partial``) while the runs are listed, and renamed into place
once its listing is whole (``Draft.commit``), so a folder without ``.partial`` always
has its whole listing. A run's line is written and flushed in one piece as soon as the
run is read: a kill (Ctrl-C, ``kill -9``, a network lost beyond retries) loses at most
the line being written, and a torn last line is cut when the spool is opened again.
Lines are flushed to the operating system, not synced to the disk one by one: a power
cut may lose the last runs read, never the listing (synced at ``commit``).

``Spool.tasks`` reads a run's tasks from its line when asked (``SpooledTasks``), so that
writing a large export never holds every run's tasks at once.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Final

from bulksync.errors import SheetError, StorageError
from bulksync.model import JSON, ShapeError, Task, parse_task
from bulksync.private import private_dir, private_file

FORMAT: Final = 1
"""The spool's own format: a spool of another format is not resumed."""
HEADER: Final = "export.json"
LISTING: Final = "listing.jsonl"
RUNS: Final = "runs.jsonl"
PARTIAL: Final = ".partial"


def _line(document: JSON) -> bytes:
    # JSON escapes every line break inside strings: one document, one line.
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _cannot_write(where: Path, exc: OSError) -> StorageError:
    return StorageError(
        f"Cannot write the export's spool in {where}: {exc.strerror or exc}. Free some "
        "space, or write elsewhere with -o."
    )


def _damaged(folder: Path, what: str) -> SheetError:
    return SheetError(
        f"The interrupted export's spool in {folder} is damaged ({what}); export again "
        "without --resume."
    )


class Draft:
    """A spool being made: the listing, written as it is read, not yet in place."""

    def __init__(self, folder: Path) -> None:
        self.final = folder
        self.folder = folder.with_name(folder.name + PARTIAL)
        try:
            if self.folder.exists():
                shutil.rmtree(self.folder)  # what an earlier, interrupted listing left
            # The .bulksync folder, its exports/ and the spool: each private.
            for level in (folder.parent.parent, folder.parent, self.folder):
                private_dir(level)
            self._listing = private_file(self.folder / LISTING).open("wb")
        except OSError as exc:
            raise _cannot_write(self.folder, exc) from None

    def keep(self, kind: str) -> Callable[[JSON], None]:
        """What the client's ``keep=`` is given: each document a line of the listing."""

        def write(document: JSON) -> None:
            try:
                self._listing.write(_line([kind, document]))
            except OSError as exc:
                raise _cannot_write(self.folder, exc) from None

        return write

    def commit(self, header: Mapping[str, JSON]) -> Spool:
        """Put the spool in place, replacing any other spool of the same output."""
        try:
            self._listing.flush()
            os.fsync(self._listing.fileno())
            self._listing.close()
            with private_file(self.folder / HEADER).open("wb") as out:
                out.write(_line({"format": FORMAT, **header}))
                out.flush()
                os.fsync(out.fileno())
            private_file(self.folder / RUNS)
            if self.final.exists():
                shutil.rmtree(self.final)
            self.folder.rename(self.final)
        except OSError as exc:
            raise _cannot_write(self.folder, exc) from None
        return Spool.open(self.final)

    def discard(self) -> None:
        """Remove the draft (the export stopped before its first run was read)."""
        self._listing.close()
        _remove(self.folder)


class Spool:
    """An export's spool in place: its header, its listing, and the runs read so far."""

    def __init__(self, folder: Path, header: dict[str, Any]) -> None:
        self.folder = folder
        self.header = header
        self._index: dict[str, tuple[int, int]] = {}
        """run id → (offset, length) of its line in runs.jsonl"""
        self.read_at: dict[str, str] = {}
        """run id → when its tasks were read"""
        self._out: IO[bytes] | None = None
        self._end = 0
        self._readers: list[SpooledTasks] = []

    @classmethod
    def open(cls, folder: Path) -> Spool:
        """The spool in ``folder``, its runs indexed (a torn last line is cut)."""
        try:
            raw = (folder / HEADER).read_bytes()
        except FileNotFoundError:
            raise SheetError(f"There is no interrupted export in {folder}.") from None
        try:
            header = json.loads(raw)
        except ValueError:
            raise _damaged(folder, HEADER) from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise SheetError(
                f"The interrupted export's spool in {folder} was written by another "
                "bulksync; export again without --resume."
            )
        spool = cls(folder, header)
        spool._scan()
        return spool

    def _scan(self) -> None:
        """Index the runs' lines; cut a torn last line, skip a damaged one (read again)."""
        path = self.folder / RUNS
        offset = 0
        try:
            with path.open("rb") as handle:
                for line in handle:
                    if not line.endswith(b"\n"):
                        break
                    record = _record(line)
                    if record is not None:
                        self._index[record[0]] = (offset, len(line))
                        self.read_at[record[0]] = record[1]
                    offset += len(line)
            with path.open("r+b") as handle:
                handle.truncate(offset)
        except FileNotFoundError:
            raise _damaged(self.folder, f"no {RUNS}") from None
        except OSError as exc:
            raise _cannot_write(self.folder, exc) from None
        self._end = offset

    def listing(self) -> Iterator[tuple[str, JSON]]:
        """The listing's documents, in the order they were read: (kind, document)."""
        try:
            with (self.folder / LISTING).open("rb") as handle:
                for line in handle:
                    kind, document = json.loads(line)
                    yield str(kind), document
        except (OSError, ValueError, TypeError) as exc:
            raise _damaged(self.folder, f"{LISTING}: {exc}") from None

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._index

    def __len__(self) -> int:
        """Runs read so far."""
        return len(self._index)

    def append(self, run_id: str, read_at: str, documents: list[JSON]) -> None:
        """Keep a run's tasks as read: one line, flushed before the next run is read."""
        line = _line({"run": run_id, "read_at": read_at, "tasks": documents})
        try:
            if self._out is None:
                self._out = (self.folder / RUNS).open("ab")
            self._out.write(line)
            self._out.flush()
        except OSError as exc:
            raise _cannot_write(self.folder, exc) from None
        self._index[run_id] = (self._end, len(line))
        self.read_at[run_id] = read_at
        self._end += len(line)

    def tasks(self) -> SpooledTasks:
        """The runs' tasks, each read from its line when asked."""
        reader = SpooledTasks(self.folder / RUNS, self._index)
        self._readers.append(reader)
        return reader

    def close(self) -> None:
        """Close the files (the spool stays, to be resumed)."""
        if self._out is not None:
            self._out.close()
            self._out = None
        for reader in self._readers:
            reader.close()

    def remove(self) -> None:
        """The export is written: the spool goes."""
        self.close()
        _remove(self.folder)


def _remove(folder: Path) -> None:
    """Remove a spool (or draft), and its exports/ and .bulksync folders if that leaves
    them empty: an export leaves nothing behind beside its file."""
    shutil.rmtree(folder, ignore_errors=True)
    for parent in (folder.parent, folder.parent.parent):
        try:
            parent.rmdir()
        except OSError:  # not empty (other spools, run directories, the sandbox), or gone
            return


def _record(line: bytes) -> tuple[str, str] | None:
    """A run line's run id and read time, or None if the line is damaged."""
    try:
        record = json.loads(line)
        run_id, read_at, tasks = record["run"], record["read_at"], record["tasks"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(run_id, str) or not isinstance(read_at, str) or not isinstance(tasks, list):
        return None
    return run_id, read_at


class SpooledTasks(Mapping[str, tuple[Task, ...]]):
    """Runs' tasks by run id, each parsed from its spool line when asked.

    The last two runs asked for are kept: a writer asks for a run's tasks for its rows
    and again for its base document, one after the other. Not thread-safe.
    """

    KEPT: Final = 2

    def __init__(self, path: Path, index: Mapping[str, tuple[int, int]]) -> None:
        self._path = path
        self._index = index
        self._kept: dict[str, tuple[Task, ...]] = {}
        self._handle: IO[bytes] | None = None

    def __getitem__(self, run_id: str) -> tuple[Task, ...]:
        found = self._kept.get(run_id)
        if found is not None:
            return found
        offset, length = self._index[run_id]
        if self._handle is None:
            self._handle = self._path.open("rb")
        self._handle.seek(offset)
        line = self._handle.read(length)
        try:
            tasks = tuple(parse_task(d) for d in json.loads(line)["tasks"])
        except (ValueError, TypeError, KeyError, ShapeError) as exc:
            raise _damaged(self._path.parent, f"run {run_id}: {exc}") from None
        if len(self._kept) >= self.KEPT:
            self._kept.pop(next(iter(self._kept)))
        self._kept[run_id] = tasks
        return tasks

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

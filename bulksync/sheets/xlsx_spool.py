"""Where the parts of a sheet wait while it is read (issue 13): the hidden mirror's rows
and each run's base JSON, in a temporary file instead of memory, read back when asked
for. The file is in memory up to 2 MiB, then an unlinked file of the temporary folder
(``TMPDIR``): it holds people's data, is readable by its owner alone, and is gone with
the last reference to it."""

from __future__ import annotations

import tempfile
import weakref
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from typing import Final, overload

from bulksync.errors import StorageError
from bulksync.sheets.xlsx_stream import XmlRow


class Spool:
    """A temporary file that parts of a sheet wait in: written in one go, then read
    back by (offset, length), mostly in order, through a window of the file read at a
    time. It stays in memory up to ``IN_MEMORY`` bytes (a sheet of a few hundred runs
    never touches the disk), then moves to an unlinked file of the temporary folder."""

    IN_MEMORY: Final = 2 << 20
    WINDOW: Final = 1 << 20

    def __init__(self) -> None:
        self.handle = tempfile.SpooledTemporaryFile(self.IN_MEMORY, prefix="bulksync-")  # noqa: SIM115 (closed by close)
        self.end = 0
        self._pending = bytearray()
        self._window = b""
        self._window_at = 0

    def put(self, data: bytes) -> tuple[int, int]:
        """Append ``data``; where it is. Writes go to the file a mebibyte at a time."""
        if self._window_at >= 0:
            self._window, self._window_at = b"", -1  # writing: no window until a read
        self._pending += data
        at, self.end = self.end, self.end + len(data)
        if len(self._pending) >= self.WINDOW:
            self._flush()
        return at, len(data)

    def _flush(self) -> None:
        try:
            self.handle.seek(self.end - len(self._pending))
            self.handle.write(self._pending)
        except OSError as exc:
            raise StorageError(
                f"bulksync could not keep its working copy of the sheet in "
                f"{tempfile.gettempdir()} ({exc.strerror or exc}). Make room there, or set "
                "TMPDIR to a folder with room, and import again."
            ) from None
        self._pending = bytearray()

    def get(self, at: int, length: int) -> bytes:
        if self._pending:
            self._flush()
        start = at - self._window_at
        if self._window_at < 0 or start < 0 or start + length > len(self._window):
            self.handle.seek(at)
            self._window, self._window_at = self.handle.read(max(length, self.WINDOW)), at
            start = 0
        return self._window[start : start + length]

    def close(self) -> None:
        with suppress(OSError):
            self.handle.close()


class SpooledRows(Sequence[XmlRow]):
    """The hidden mirror's rows, their bytes in the spool, read back when asked for."""

    def __init__(self, rows: Iterable[XmlRow], spool: Spool) -> None:
        self._spool = spool
        self._at = array("q")
        self._numbers = array("q")
        self._sheet = None
        for row in rows:
            at, length = spool.put(row.body)
            self._at.extend((at, length))
            self._numbers.append(row.number)
            self._sheet = row.sheet

    def __len__(self) -> int:
        return len(self._numbers)

    @overload
    def __getitem__(self, index: int) -> XmlRow: ...
    @overload
    def __getitem__(self, index: slice) -> list[XmlRow]: ...
    def __getitem__(self, index: int | slice) -> XmlRow | list[XmlRow]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        number = self._numbers[index]
        if index < 0:
            index += len(self)
        body = self._spool.get(self._at[2 * index], self._at[2 * index + 1])
        return XmlRow(body, number, self._sheet)  # type: ignore[arg-type]


class SpooledDocuments(Mapping[str, Sequence[bytes]]):
    """Each run's base JSON (its parts, as UTF-8) in the spool, by run id."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool
        self._parts: dict[str, list[tuple[int, int]]] = {}
        weakref.finalize(self, spool.close)  # the file goes with the last reference

    def add(self, run_id: str, part: bytes) -> None:
        self._parts.setdefault(run_id, []).append(self._spool.put(part))

    def __getitem__(self, run_id: str) -> Sequence[bytes]:
        return [self._spool.get(at, length) for at, length in self._parts[run_id]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parts)

    def __len__(self) -> int:
        return len(self._parts)

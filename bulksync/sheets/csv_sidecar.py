"""A CSV export's sidecar ``FILE.csv.base.json``: its metadata, base snapshot and row digests.

The sidecar is JSON, written one run per line so that reading it holds only where each
run's document is, and reads and parses one when a row of that run needs it::

    {"meta":{…},"runs":{
    "RUN_ID":{document},
    …
    },"shared":{…},"rows":CHECKSUM,"width":CELLS,"digests":[
    "HEX",
    …
    ],"ids":[
    …
    ],"cells":[
    …
    ]}

``digests`` is an 8-byte digest of each data row exactly as written (``row_digest`` of
its cells' text), in row order. A row whose cells digest to the value recorded for its
place is as exported and is skipped before anything in it is decoded: what the hidden
``_base`` copy of an xlsx does. ``ids`` (the tasks layout) is the same of each row's id
cells, which tells a row edited in its place from one sorted or pasted there; ``cells``
(the runs layout, a row per run) is the same of each cell, row by row, so that of a row
with an edit only the cells that differ are read. Each list is hex, in pieces of
``CHUNK`` digests a line (read a line at a time: no copy of a whole list as text).
``rows``, also in the CSV's last header cell, is a digest of the three lists and of
``width`` (the cells a row was written with), so lists that do not match it (damaged,
or edited) are not used, and the rows are read in full.

The sidecar is bulksync's, as the hidden sheets of an xlsx are: someone who edits a row
*and* rewrites its digest, the list's checksum and the CSV's header to match makes that
row read as unedited, so its edit is not imported (nothing is written over; the edit is
left out, as it is when the same cell is edited in an xlsx's hidden copy). Nothing in a
digest can make bulksync write a value the sheet does not hold.

A sidecar written in one line (by an earlier bulksync, or rewritten by a script) is read
whole, as before; one without ``digests`` has every row read in full.
"""

from __future__ import annotations

import functools
import hashlib
import json
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final, TextIO

from bulksync.errors import SheetError
from bulksync.sheets.meta import ExportMeta

_blake2b = hashlib.blake2b
DIGEST_SIZE: Final = 8
_hasher: Final = functools.partial(_blake2b, digest_size=DIGEST_SIZE)
NO_DIGEST: Final = bytes(DIGEST_SIZE)
"""Written for a row that has no digest (a cell holds a NUL character): never matches."""
Digests = bytes | bytearray
_RUNS_OPEN: Final = ',"runs":{\n'
_TAIL: Final = '},"shared":'


def cells_key(cells: Sequence[str]) -> bytes:
    """What the digest of a row (or of its id cells) is made of: the cells' text joined by
    NUL, as UTF-8. A writer may join the keys of a row's pieces (each piece's cells' key
    followed by a NUL) instead: that is the same bytes."""
    return "\x00".join(cells).encode()


def row_digest(cells: Sequence[str]) -> bytes | None:
    """A digest of a row's cells as text, or None where a cell holds the separator."""
    joined = "\x00".join(cells)
    if joined.count("\x00") != max(len(cells) - 1, 0):
        return None  # a NUL inside a cell would make two different rows join alike
    return _blake2b(joined.encode(), digest_size=DIGEST_SIZE).digest()


def checksum(digests: Digests, ids: Digests, cells: Digests, width: int) -> str:
    """The ``rows`` checksum: of the row, id and cell digests and the cells a row has,
    16 hex digits."""
    whole = _blake2b(digests, digest_size=8)
    for part in (ids, cells, str(width).encode()):
        whole.update(b"|")
        whole.update(part)
    return whole.hexdigest()


CHUNK: Final = 4096
"""Digests per line of the sidecar's lists."""
_LISTS: Final = ("digests", "ids", "cells")


class _CellDigests(dict[str, bytes]):
    """A cell's digest by its text, made once per text while values repeat (``n/a``,
    ``TRUE``, an option, a date); ``KEEP`` of them at most, so that memory does not grow
    with the rows."""

    KEEP: Final = 4096

    def __missing__(self, text: str) -> bytes:
        found = _hasher(text.encode()).digest()
        if len(self) < self.KEEP:
            self[text] = found
        return found


class SidecarWriter:
    """Writes the sidecar as the CSV's rows are written: run documents as they come,
    a digest per row, and the rest once the rows are done."""

    def __init__(self, handle: TextIO, meta: ExportMeta) -> None:
        self._handle = handle
        self._first = True
        self._digests = bytearray()
        self._ids = bytearray()
        self._cells = bytearray()
        self._width = 0
        self._cell_digests = _CellDigests()
        handle.write('{"meta":' + json.dumps(meta.as_dict(), ensure_ascii=False) + _RUNS_OPEN)

    def emit(self, run_id: str, document: str) -> None:
        """A run's base document (``BaseWriter``'s ``emit``), on a line of its own."""
        self._handle.write(("" if self._first else ",\n") + json.dumps(run_id) + ":" + document)
        self._first = False

    def rows(self, rows: Sequence[Sequence[str]]) -> None:
        """Data rows as written, each one's digest and each of its cells' (the runs
        layout)."""
        digests, of_cell = self._digests, self._cell_digests.__getitem__
        for cells in rows:
            digests += row_digest(cells) or NO_DIGEST
            self._width = len(cells)
            self._cells += b"".join(map(of_cell, cells))

    def keyed_rows(self, keys: Sequence[bytes], id_keys: Sequence[bytes], width: int) -> None:
        """Data rows of ``width`` cells given by their keys (``cells_key`` of each row's
        cells), and by their id cells' keys (the tasks layout)."""
        digests, ids = self._digests, self._ids
        for key in keys:
            # row_digest: a NUL inside a cell would make two different rows join alike.
            digests += _hasher(key).digest() if key.count(0) == width - 1 else NO_DIGEST
        for key in id_keys:
            # Only tells a row moved from one in place: no need to refuse a NUL.
            ids += _hasher(key).digest()
        self._width = width

    def close(self, shared_json: str) -> str:
        """The last lines; returns the ``rows`` checksum that ties the CSV to it."""
        rows = checksum(self._digests, self._ids, self._cells, self._width)
        write = self._handle.write
        write(("\n" if not self._first else "") + _TAIL + shared_json)
        write(f',"rows":{json.dumps(rows)},"width":{self._width}')
        for name, digests in zip(_LISTS, (self._digests, self._ids, self._cells), strict=True):
            write(f',"{name}":[')
            step = CHUNK * DIGEST_SIZE
            for i in range(0, len(digests), step):  # a piece at a time: no copy of the whole
                write(("," if i else "") + f'\n"{digests[i : i + step].hex()}"')
            write("\n]")
        write("}")
        return rows


@dataclass(frozen=True)
class Sidecar:
    """A sidecar as read: its parts, run documents as text (or parsed, from a one-line
    sidecar), and the row digests where it has them and they match its checksum."""

    meta: ExportMeta
    shared: Mapping[str, Any]
    runs: Mapping[str, Sequence[str | Mapping[str, Any]]]
    rows: str
    digests: bytes | None = None
    ids: bytes = b""
    cells: bytes = b""
    width: int = 0
    """The cells each row was written with (the header's, the tie cell included)."""


def read_sidecar(side: Path) -> Sidecar:
    """The sidecar at ``side``; a ``SheetError`` if it is damaged."""
    try:
        with side.open("rb") as handle:
            first = handle.readline().decode()
            runs: Mapping[str, Sequence[str | Mapping[str, Any]]]
            if first.startswith('{"meta":') and first.endswith(_RUNS_OPEN):
                document, runs = _read_lines(first, handle, side)
            else:  # one line: an earlier bulksync's, or rewritten by a script
                document = json.loads(first + handle.read().decode())
                runs = {k: [v] for k, v in document["runs"].items()}
        meta = ExportMeta.from_dict(document["meta"], str(side))
        rows = str(document["rows"])
        return Sidecar(meta, document["shared"], runs, rows, *_digests(document))
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        raise SheetError(f"{side} is damaged; export the runs again.") from None


def _read_lines(first: str, handle: BinaryIO, side: Path) -> tuple[dict[str, Any], RunDocuments]:
    """A sidecar written a run per line: where each run's document is (read when asked
    for), each list of digests as bytes."""
    document = json.loads(first[: -len(_RUNS_OPEN)] + "}")
    spans: dict[str, tuple[int, int]] = {}
    key = json.JSONDecoder().raw_decode
    at = len(first.encode())
    lines = (line.decode() for line in handle)
    for line in lines:
        if line.startswith(_TAIL):
            _read_tail(line, lines, document)
            return document, RunDocuments(side, spans)
        run_id, end = key(line)
        if line[end] != ":":
            raise ValueError("run line")
        text = line[end + 1 :].rstrip("\r\n").removesuffix(",")
        start = at + len(line[: end + 1].encode())
        spans[str(run_id)] = (start, len(text.encode()))
        at += len(line.encode())
    raise ValueError("no end")


class RunDocuments(Mapping[str, Sequence[str]]):
    """The runs' documents of a sidecar, each read from the file when asked for: an
    import holds where each one is, and the text of the runs it reads only."""

    def __init__(self, side: Path, spans: dict[str, tuple[int, int]]) -> None:
        self._side = side
        self._spans = spans
        self._handle: BinaryIO | None = None

    def __getitem__(self, run_id: str) -> Sequence[str]:
        start, size = self._spans[run_id]
        if self._handle is None:  # opened once, closed when this is let go
            self._handle = self._side.open("rb")
            weakref.finalize(self, self._handle.close)
        self._handle.seek(start)
        return [self._handle.read(size).decode()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._spans)

    def __len__(self) -> int:
        return len(self._spans)


def _read_tail(line: str, lines: Iterator[str], document: dict[str, Any]) -> None:
    """What follows the runs: shared specs, checksum and width on one line, then the
    lists of digests a piece per line (kept as bytes, not as text)."""
    start = line.find(',"digests":[')
    if start < 0:  # no digests: written by hand, or by a script
        document.update(json.loads("{" + line[len("},") :]))
        return
    document.update(json.loads("{" + line[len("},") : start] + "}"))
    name, found = "digests", bytearray()
    for line in lines:
        if line.startswith("]"):
            document[name] = bytes(found)
            if line.startswith("]}"):
                return
            name, found = json.loads(line[2:].partition(":")[0]), bytearray()
        else:
            found += bytes.fromhex(json.loads(line.rstrip("\r\n").removesuffix(",")))
    raise ValueError("no end")


def _digests(document: Mapping[str, Any]) -> tuple[bytes | None, bytes, bytes, int]:
    """The row, id and cell digests and the row width; none where the sidecar has none
    or they do not match its checksum."""
    try:
        digests, ids, cells = (_bytes(document.get(name, b"")) for name in _LISTS)
        width = int(document["width"])
        if "digests" not in document:
            raise KeyError("digests")
    except (KeyError, TypeError, ValueError):
        return None, b"", b"", 0
    if checksum(digests, ids, cells, width) != document["rows"]:
        return None, b"", b"", 0
    return digests, ids, cells, width


def _bytes(value: bytes | str | list[str]) -> bytes:
    """A list of digests as read: bytes (read a line at a time), or hex, whole or in
    pieces (a sidecar read whole)."""
    if isinstance(value, bytes):
        return value
    return bytes.fromhex(value if isinstance(value, str) else "".join(value))


class RowsMoved(Exception):
    """A tasks-layout row holds ids not exported at its place: read the file in full."""


class RowCheck:
    """The exported row at each place, as far as the digests tell (a layout reader's
    ``exported_of``): the row itself when its digest is the one recorded for its place
    (it is skipped whole), else None; in the runs layout, with ``cells``, the row with
    each cell whose digest is not the recorded one made to differ (a NUL appended: the
    exported text is not known, only that it is not this), so that only those cells are
    read. Called once per data row, in order; ``look`` is called with every row that is
    not skipped whole (index, row).

    With ``ids`` (the tasks layout, its id columns ``id_cols``), a row that is read and
    holds ids that are not those exported at its place (a sorted, pasted or appended
    row) raises ``RowsMoved``: the rows skipped cannot be told from a copy of it, and the
    caller reads the file again in full."""

    def __init__(
        self,
        side: Sidecar | None,
        look: Callable[[int, Sequence[str]], None],
        id_cols: Sequence[int] = (),
    ) -> None:
        self._digests = (side.digests if side else None) or b""
        self._ids = side.ids if side else b""
        self._cells = side.cells if side else b""
        self._width = side.width if side else 0
        self._id_cols = id_cols if self._ids else ()
        self._look = look

    def __call__(self, index: int, row: Sequence[str]) -> Sequence[str] | None:
        at = index * DIGEST_SIZE
        recorded = self._digests[at : at + DIGEST_SIZE]
        # row_digest, with the count of separators replaced by the count of cells: a row
        # with as many cells as exported, and the same text joined, has the same cells.
        if (
            recorded
            and len(row) == self._width
            and _blake2b("\x00".join(row).encode(), digest_size=DIGEST_SIZE).digest() == recorded
        ):
            return row
        self._look(index, row)
        if self._id_cols:
            cells = [row[c] if c < len(row) else "" for c in self._id_cols]
            ids = _blake2b("\x00".join(cells).encode(), digest_size=DIGEST_SIZE).digest()
            if any(cells) and ids != self._ids[at : at + DIGEST_SIZE]:
                raise RowsMoved
        if not recorded or not self._cells or len(row) != self._width:
            return None
        return self._as_exported(index, row)

    def _as_exported(self, index: int, row: Sequence[str]) -> list[str]:
        cells, at = self._cells, index * self._width * DIGEST_SIZE
        exported = []
        for cell in row:
            same = (
                _blake2b(cell.encode(), digest_size=DIGEST_SIZE).digest()
                == cells[at : at + DIGEST_SIZE]
            )
            exported.append(cell if same else cell + "\x00")
            at += DIGEST_SIZE
        return exported

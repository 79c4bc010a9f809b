"""Writing an export to CSV and reading it back, as spreadsheet apps save it.

Written: UTF-8 with a BOM (so Excel opens it right), comma-separated, CRLF, one header
row with the same columns as the xlsx sheet, ids included. The runs layout's header
names each value column ``Task › Field [TEMPLATE_TASK_ID:FIELD]``. The base snapshot
and metadata go to a sidecar ``FILE.csv.base.json``; the last header cell ties the CSV
to it (``TIE``: the export id and a checksum of the rows as exported).

A text that a spreadsheet would take for a formula (``= + - @``, tab, CR), a number, a
date or an error value (``#N/A``) is written with a leading apostrophe, so that it stays
text; reading removes one leading apostrophe from every cell. Read: with or without
BOM; ``,`` ``;`` or tab, told from the header (``sniff_delimiter``); CRLF or LF; quoted
line breaks;
``encoding`` for a legacy file (never guessed: a file that is not UTF-8 is an error that
says what to do).
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from bulksync.codecs import CellValue, codec_for, unholdable
from bulksync.errors import SheetError
from bulksync.sheets.csv_sidecar import (
    RowCheck,
    RowsMoved,
    Sidecar,
    SidecarWriter,
    read_sidecar,
)
from bulksync.sheets.layout import RUN_CONTEXT_COLUMNS, TASK_ID_COLUMNS, Cell, Grid, Layout
from bulksync.sheets.meta import (
    BaseSnapshot,
    BaseWriter,
    ExportMeta,
    Shared,
    locked_as_unholdable,
)
from bulksync.sheets.reading import NewRow, RowProblem, Sheet, Special, col_name
from bulksync.sheets.runs_read import RunCells, check_column_keys, run_cells
from bulksync.sheets.tasks_read import task_cells

_LOOKS_TYPED = re.compile(
    r"\s*[+-]?(\d[\d,. ]*|\.\d+)([eE][+-]?\d+)?%?\s*\Z"  # numbers, 1,234.5, 12%
    r"|\s*\d{1,4}[-/.]\d{1,2}([-/.]\d{1,4})?\s*\Z"  # dates: 2026-01-31, 3/4, 03.04.2026
    r"|\s*(true|false)\s*\Z",
    re.IGNORECASE,
)
ERROR_VALUES: Final = frozenset(
    {"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!"}
)
_KEY = re.compile(r"\[([^\[\]]+)\]\s*\Z")
_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".base.json")


_GUARDED_START: Final = "=+-@\t\r'"
"""A text starting with one of these is a formula (or loses it) in a spreadsheet."""


def guard(text: str, *, as_text: bool) -> str:
    """``text`` with a leading apostrophe where a spreadsheet would not keep it as text."""
    if not text:
        return text
    if text[0] in _GUARDED_START or (
        as_text and (_LOOKS_TYPED.match(text) or text.strip() in ERROR_VALUES)
    ):
        return "'" + text
    return text


def unguard(text: str) -> str:
    return text[1:] if text.startswith("'") else text


def header_of(grid: Grid) -> list[str]:
    if grid.layout is Layout.TASKS:
        return [c.title for c in grid.columns]
    return [f"{c.group} › {c.title} [{c.key}]" if c.kind else c.title for c in grid.columns]


TIE: Final = re.compile(r"bulksync export ([0-9a-f]{12}) rows ([0-9a-f]{16})")
"""The last header cell: the export id and a checksum of the rows as exported."""
_NO_CHECKSUM: Final = "0" * 16


def tie_cell(export_id: str, checksum: str) -> str:
    return f"bulksync export {export_id} rows {checksum}"


def write_csv(grid: Grid, meta: ExportMeta, path: Path) -> int:
    """Write the grid and its sidecar; the sidecar is streamed run by run as well.

    Sidecar (``csv_sidecar``): ``{"meta": {...}, "runs": {RUN_ID: document, ...},
    "shared": {...}, "rows": CHECKSUM, "digests": …, "ids": …}``, a digest of each row as
    written, by which reading skips the rows that are as exported. The CSV's last header
    cell carries the export id and the same checksum (``TIE``), so that a CSV read beside
    a sidecar of another export is refused: its values would be taken for edits. The
    checksum is known once the rows are written; it then replaces a placeholder in the
    header. Reading compares the two copies of the checksum (header and sidecar), never
    the rows with it: edited, filled or appended rows keep the tie. A launch sheet's
    empty rows for runs to start (``grid.new_rows``) come last, every cell empty.
    """
    head = io.StringIO()
    titles = header_of(grid)
    csv.writer(head, lineterminator="\r\n").writerow(
        [guard(h, as_text=False) for h in titles] + [tie_cell(meta.export_id, _NO_CHECKSUM)]
    )
    header = head.getvalue()
    id_cols = (
        [titles.index(name) for name in TASK_ID_COLUMNS] if grid.layout is Layout.TASKS else None
    )
    with (
        path.open("w", encoding="utf-8-sig", newline="") as handle,
        sidecar(path).open("w", encoding="utf-8", newline="") as side,
    ):
        digests = SidecarWriter(side, meta)
        base = BaseWriter(grid.context, digests.emit)
        writer = csv.writer(handle, lineterminator="\r\n")
        handle.write(header)
        for row in grid.rows:
            out = []
            for cell in row:
                if cell.field is not None:
                    out.append(_value_text(cell, base))
                elif cell.na:
                    out.append("n/a")
                else:  # a context cell or an id: guard(text, as_text=False), inline
                    text = "" if cell.value is None else str(cell.value)
                    out.append("'" + text if text and text[0] in _GUARDED_START else text)
            out.append("")  # the tie column
            writer.writerow(out)
            digests.row(out, None if id_cols is None else [out[c] for c in id_cols])
        # Rows for runs to start: every cell empty (they have no base).
        empty = [""] * (len(grid.columns) + 1)
        for _ in range(grid.new_rows):
            writer.writerow(empty)
            digests.row(empty)
        rows = digests.close(base.shared_json())
    # The placeholder is ASCII and as long as the checksum: replaced in place.
    at = len(codecs.BOM_UTF8) + len(header.encode()) - len(_NO_CHECKSUM) - len("\r\n")
    with path.open("r+b") as raw:
        raw.seek(at)
        raw.write(rows.encode())
    return len(base)


def _value_text(cell: Cell, base: BaseWriter) -> str:
    """A value cell's text as written; its field goes to the base snapshot."""
    field = cell.field
    assert field is not None
    codec = codec_for(field.spec.kind)
    shown = field.value if cell.shows is None else cell.shows[0]
    text = codec.to_text(shown, field.spec.options)
    why = unholdable(cell.value, xml=False)
    if why:
        field = locked_as_unholdable(field, why)
    base.add(field)
    return guard(text, as_text=codec.csv_text)


def read_csv(
    path: Path, encoding: str | None = None, *, no_base: bool = False, only_edited: bool = False
) -> Sheet:
    """Read a CSV export; ``no_base`` reads one without its sidecar (a hand-made CSV).

    The file is read a row at a time. With ``only_edited`` the rows the sidecar's
    digests say are as exported are skipped unread (``csv_sidecar``); a tasks-layout file
    in which a row read holds ids not exported at its place is then read again in full,
    once that row is met (a copy of a skipped row is found that way)."""
    try:
        return _read_csv(path, encoding, no_base=no_base, skip=only_edited)
    except RowsMoved:
        return _read_csv(path, encoding, no_base=no_base, skip=False)


def _read_csv(path: Path, encoding: str | None, *, no_base: bool, skip: bool) -> Sheet:
    where, name = str(path), path.name
    with _lines_of(path, encoding) as lines:
        head = _header_lines(lines)
        delimiter = sniff_delimiter("".join(head))
        records = csv.reader(itertools.chain(head, lines), delimiter=delimiter)
        first = next(records, None)
        if first is None:
            raise SheetError(f"{where} is empty.")
        header = [unguard(h).strip() for h in first]
        tie = next(((c, m) for c, h in enumerate(header) if (m := TIE.fullmatch(h))), None)
        if tie is not None:
            header[tie[0]] = ""  # not a column of the layout
        has_base = sidecar(path).exists()
        if has_base:
            side = _read_sidecar(path, tie[1] if tie else None, first)
            meta, base = side.meta, _base_of(side, sidecar(path))
        elif no_base:
            meta, base, side = _bare_meta(header, name), BaseSnapshot(), None
        else:
            raise _no_sidecar(where, path, tie is None)
        special: dict[str, Special] = {}
        check = _row_check(side if skip else None, header, meta, special, name)
        new_rows: list[NewRow] = []
        if Layout(meta.layout) is Layout.TASKS:
            cells, problems = task_cells(
                header,
                records,
                first_row=2,
                prefix=name,
                cell_at=_at,
                base=base,
                checked=has_base,
                rows_exported=meta.values,
                exported_of=check,
            )
        else:
            cells, problems, new_rows = _run_cells(
                where, name, header, records, meta, base, checked=has_base, exported_of=check
            )
    return Sheet(
        where,
        meta,
        base,
        tuple(cells),
        tuple(problems),
        special,
        has_base,
        new_rows=tuple(new_rows),
        text_cells=True,
    )


def _row_check(
    side: Sidecar | None,
    header: list[str],
    meta: ExportMeta,
    special: dict[str, Special],
    name: str,
) -> RowCheck:
    """What tells the rows as exported (by their digests) from the others, whose
    formula and error cells it collects in ``special``."""

    def look(index: int, row: Sequence[str]) -> None:
        _special(row, index + 2, name, special)

    id_cols: list[int] = []
    if Layout(meta.layout) is Layout.TASKS and all(c in header for c in TASK_ID_COLUMNS):
        id_cols = [header.index(c) for c in TASK_ID_COLUMNS]
    return RowCheck(side, look, id_cols)


@contextmanager
def _lines_of(path: Path, encoding: str | None) -> Iterator[Iterator[str]]:
    """The file's lines, decoded as it is read (``decode`` says which encoding); a file
    that is not in it is an error that says what to do."""
    if not encoding:
        with path.open("rb") as raw:
            start = raw.read(2)
        utf16 = start in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
        encoding_used = "utf-16" if utf16 else "utf-8-sig"
    else:
        encoding_used = encoding
    try:
        handle = path.open(encoding=encoding_used, newline="")
    except LookupError:
        raise SheetError(f"Unknown encoding {encoding!r}; try utf-8 or cp1252.") from None
    try:
        with handle:
            yield iter(handle)
    except UnicodeError:
        decode(path.read_bytes(), encoding, str(path))  # says where, and what to do
        raise


def _header_lines(lines: Iterator[str]) -> list[str]:
    """The lines the header row takes: one, or more where a quoted header cell holds a
    line break (its quotes are not balanced yet)."""
    head: list[str] = []
    quotes = 0
    for line in lines:
        head.append(line)
        quotes += line.count('"')
        if quotes % 2 == 0 or len(head) >= _MAX_HEADER_LINES:
            break
    return head


_MAX_HEADER_LINES: Final = 1000


def _no_sidecar(where: str, path: Path, no_tie: bool) -> SheetError:
    if no_tie:
        return SheetError(
            f"{where} has no bulksync export id in its header and no base snapshot beside "
            "it: it looks like a sheet of an .xlsx export saved as CSV (an xlsx export keeps "
            "its base inside the workbook, and a CSV has no room for it). Import the .xlsx "
            "(make your edits there, or save this sheet back into it), or import this CSV "
            "with --no-base (changes made by others since the export are then overwritten)."
        )
    return SheetError(
        f"{where} has no base snapshot beside it ({sidecar(path).name}); bulksync needs "
        "it to tell your edits from changes made in NextStep since the export. Put the "
        "file back beside it, or import with --no-base (changes made by others since the "
        "export are then overwritten)."
    )


def _read_sidecar(path: Path, tie: re.Match[str] | None, header: list[str]) -> Sidecar:
    """The sidecar beside a CSV, checked to be of its export."""
    side = read_sidecar(sidecar(path))
    _check_tie(str(path), sidecar(path), tie, side.meta, side.rows, header)
    return side


def _base_of(side: Sidecar, where: Path) -> BaseSnapshot:
    return BaseSnapshot(Shared.parse(side.shared, str(where)), side.runs, str(where))


def _run_cells(
    where: str,
    name: str,
    header: list[str],
    rows: Iterable[list[str]],
    meta: ExportMeta,
    base: BaseSnapshot,
    *,
    checked: bool,
    exported_of: RowCheck,
) -> RunCells:
    """The runs layout's cells: each value column's key is in brackets in its header; a
    context column's is its title's (``Run`` is ``run``)."""
    keys, labels = [], []
    context = {c.title: c.key for c in RUN_CONTEXT_COLUMNS}
    for title in header:
        match = _KEY.search(title)
        keys.append(match.group(1) if match else context.get(title.strip(), title))
        labels.append(title[: match.start()].strip() if match else title)
    if "run_id" not in keys:
        raise SheetError(f"{where}: the header lost its run_id column.")
    key_problems: list[RowProblem] = []
    if meta.columns:
        keys, key_problems = check_column_keys(
            keys,
            labels,
            meta.columns,
            lambda col: f"{name}!{col_name(col)}1",
            fix=" in brackets at the end of this header cell",
        )
    refused_refs = {p.ref for p in key_problems}
    cells, problems, new_rows = run_cells(
        rows,
        keys=keys,
        base=base,
        first_row=2,
        prefix=name,
        cell_at=_at,
        checked=checked,
        titles=labels,
        title_ref=lambda col: f"{name}!{col_name(col)}1",
        refused={col for col in range(len(keys)) if f"{name}!{col_name(col)}1" in refused_refs},
        exported_of=exported_of,
    )
    return RunCells(cells, [*key_problems, *problems], new_rows)


def _check_tie(
    where: str,
    side: Path,
    tie: re.Match[str] | None,
    meta: ExportMeta,
    rows: str,
    header: list[str],
) -> None:
    """Refuse a CSV and a sidecar written by different exports."""
    if tie is None:
        inside = next((m for cell in header if (m := TIE.search(cell))), None)
        before = inside.string[: inside.start()].rstrip(" \"'") if inside else ""
        if before and not before[-1].isalnum() and before[-1] not in DELIMITERS:
            # The tie is there but not a cell of its own: the cells are separated by
            # something other than , ; or tab.
            raise SheetError(
                f"{where}: bulksync cannot tell its cells apart. Its header cells are not "
                f"separated by ',' ';' or a tab (it looks like {before[-1]!r}), so its "
                "last header cell, 'bulksync export … rows …', is not read as a cell of "
                "its own. Save the file again as CSV with commas, semicolons or tabs "
                "between cells, and keep the header as it was exported."
            )
        raise SheetError(
            f"{where} does not say which export it comes from: its last header cell, "
            f"'bulksync export … rows …', is gone, so bulksync cannot tell whether {side} "
            "holds its base snapshot. Put that header cell back as it was exported, or "
            "export again and redo your edits in the new file."
        )
    if (tie.group(1), tie.group(2)) != (meta.export_id, rows):
        raise SheetError(
            f"{where} and {side} are not from the same export (the CSV says export "
            f"{tie.group(1)}, the base snapshot is export {meta.export_id} of "
            f"{meta.exported_at}). Importing them together would take values of one "
            "export for edits and could overwrite newer values in NextStep. Import the "
            "CSV beside the base snapshot written with it, or export again and redo your "
            "edits in the new file."
        )


DELIMITERS: Final = (",", ";", "\t")


def sniff_delimiter(text: str) -> str:
    """The delimiter of a CSV: ``,`` ``;`` or tab, told from its header row.

    The one with which the header, parsed as CSV, has the tie cell bulksync wrote
    (``TIE``) as a cell of its own; for a header without one (a hand-made CSV, or one
    whose tie cell is gone), the one that parses it into the most cells, the first of
    ``DELIMITERS`` on a tie. Parsing, not counting characters, is what keeps a delimiter
    inside a quoted cell (a task title "Laptop; badge; keys") from counting. Only the
    header row is parsed, once per candidate.
    """
    headers = {d: _header(text, d) for d in DELIMITERS}
    for delimiter, cells in headers.items():
        if any(TIE.fullmatch(unguard(cell).strip()) for cell in cells):
            return delimiter
    return max(DELIMITERS, key=lambda d: len(headers[d]))


def _header(text: str, delimiter: str) -> list[str]:
    """The first row of ``text`` parsed with ``delimiter``; [] where it cannot be parsed."""
    try:
        return next(csv.reader(_lines(text), delimiter=delimiter), [])
    except csv.Error:  # with a wrong delimiter, a quote can open a cell that never ends
        return []


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` as a file opened with ``newline=""`` gives them (a line ends
    in CRLF, LF or CR), made one at a time as read: no copy of a large file."""
    return (line.group() for line in _LINE.finditer(text))


def _special(row: Sequence[str], number: int, name: str, found: dict[str, Special]) -> None:
    """Cells of a row that a spreadsheet would run as a formula, and error values saved as
    text, into ``found``."""
    for col, text in enumerate(row):
        if text.startswith("="):
            found[f"{name}!{col_name(col)}{number}"] = Special("formula_text", text, formula=text)
        elif text.strip() in ERROR_VALUES:
            found[f"{name}!{col_name(col)}{number}"] = Special("error_value", text.strip())


def _bare_meta(header: list[str], name: str) -> ExportMeta:
    if all(c in header for c in ("Value", *TASK_ID_COLUMNS)):
        layout = Layout.TASKS
    elif "run_id" in header:
        layout = Layout.RUNS
    else:
        raise SheetError(
            f"{name}: the header has neither the tasks layout's Value and id columns "
            f"({', '.join(TASK_ID_COLUMNS)}) nor the runs layout's run_id column."
        )
    return ExportMeta("", "", "", layout.value, name, 0, 0)


def decode(data: bytes, encoding: str | None, where: str) -> str:
    """The file's text: UTF-8 (with or without its byte-order mark), UTF-16 when it
    starts with that byte-order mark (an app's "Unicode" CSV), else ``encoding``."""
    try:
        if encoding:
            return data.decode(encoding)
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SheetError(
            f"{where} is not {encoding or 'UTF-8'} (byte {exc.start:,} cannot be read). If a "
            "spreadsheet app saved it in a legacy encoding, save it again as UTF-8 (a legacy "
            "encoding cannot hold every character, and writes '?' for the others), or give "
            "the encoding with --encoding, for example --encoding cp1252."
        ) from None
    except LookupError:
        raise SheetError(f"Unknown encoding {encoding!r}; try utf-8 or cp1252.") from None


def _at(row: Sequence[str], col: int) -> CellValue:
    if col >= len(row):
        return None
    text = unguard(row[col])
    return text if text != "" else None

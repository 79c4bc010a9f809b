"""A CSV export, as written (``csv_write``) and read back as spreadsheet apps save it.

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
says what to do)."""

from __future__ import annotations

import codecs
import csv
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from bulksync.codecs import CellValue
from bulksync.errors import SheetError
from bulksync.sheets.csv_sidecar import RowCheck, RowsMoved, Sidecar, read_sidecar
from bulksync.sheets.csv_write import ERROR_VALUES as ERROR_VALUES
from bulksync.sheets.csv_write import TIE as TIE
from bulksync.sheets.csv_write import guard as guard
from bulksync.sheets.csv_write import sidecar as sidecar
from bulksync.sheets.csv_write import write_csv as write_csv
from bulksync.sheets.layout import RUN_CONTEXT_COLUMNS, TASK_ID_COLUMNS, Layout
from bulksync.sheets.meta import BaseSnapshot, ExportMeta, Shared
from bulksync.sheets.reading import NewRow, RowProblem, Sheet, Special, col_name
from bulksync.sheets.runs_read import RunCells, check_column_keys, run_cells
from bulksync.sheets.tasks_read import task_cells

_KEY = re.compile(r"\[([^\[\]]+)\]\s*\Z")
_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")


def unguard(text: str) -> str:
    return text[1:] if text.startswith("'") else text


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

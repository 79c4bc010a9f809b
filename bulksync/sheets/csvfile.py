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
import hashlib
import io
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from bulksync.codecs import CellValue, codec_for, unholdable
from bulksync.errors import SheetError
from bulksync.sheets.layout import RUN_CONTEXT_COLUMNS, TASK_ID_COLUMNS, Grid, Layout
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


def guard(text: str, *, as_text: bool) -> str:
    """``text`` with a leading apostrophe where a spreadsheet would not keep it as text."""
    if not text:
        return text
    if text[0] in "=+-@\t\r'" or (
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

    Sidecar: ``{"meta": {...}, "runs": {RUN_ID: document, ...}, "shared": {...},
    "rows": CHECKSUM}``. The CSV's last header cell carries the export id and the same
    checksum of the exported rows (``TIE``), so that a CSV read beside a sidecar of
    another export is refused: its values would be taken for edits. The checksum is
    known once the rows are written; it then replaces a placeholder in the header.
    Reading compares the two copies of the checksum (header and sidecar), never the rows
    with it: edited, filled or appended rows keep the tie. A launch sheet's empty rows
    for runs to start (``grid.new_rows``) come last, every cell empty.
    """
    head = io.StringIO()
    csv.writer(head, lineterminator="\r\n").writerow(
        [guard(h, as_text=False) for h in header_of(grid)]
        + [tie_cell(meta.export_id, _NO_CHECKSUM)]
    )
    header = head.getvalue()
    checksum = hashlib.sha256()
    with (
        path.open("w", encoding="utf-8-sig", newline="") as handle,
        sidecar(path).open("w", encoding="utf-8") as side,
    ):
        side.write('{"meta":' + json.dumps(meta.as_dict(), ensure_ascii=False) + ',"runs":{')
        first = True

        def emit(run_id: str, document: str) -> None:
            nonlocal first
            side.write(("" if first else ",") + json.dumps(run_id) + ":" + document)
            first = False

        base = BaseWriter(grid.context, emit)
        writer = csv.writer(handle, lineterminator="\r\n")
        handle.write(header)
        for row in grid.rows:
            out = []
            for cell in row:
                if cell.field is None:
                    out.append("n/a" if cell.na else guard(_plain(cell.value), as_text=False))
                    continue
                field = cell.field
                codec = codec_for(field.spec.kind)
                shown = field.value if cell.shows is None else cell.shows[0]
                text = codec.to_text(shown, field.spec.options)
                why = unholdable(cell.value, xml=False)
                if why:
                    field = locked_as_unholdable(field, why)
                base.add(field)
                out.append(guard(text, as_text=codec.csv_text))
            out.append("")  # the tie column
            writer.writerow(out)
            checksum.update(json.dumps(out, ensure_ascii=False).encode())
        # Rows for runs to start: every cell empty (they have no base).
        empty = [""] * (len(grid.columns) + 1)
        for _ in range(grid.new_rows):
            writer.writerow(empty)
            checksum.update(json.dumps(empty).encode())
        rows = checksum.hexdigest()[:16]
        side.write('},"shared":' + base.shared_json() + ',"rows":' + json.dumps(rows) + "}")
    # The placeholder is ASCII and as long as the checksum: replaced in place.
    at = len(codecs.BOM_UTF8) + len(header.encode()) - len(_NO_CHECKSUM) - len("\r\n")
    with path.open("r+b") as raw:
        raw.seek(at)
        raw.write(rows.encode())
    return len(base)


def _plain(value: CellValue) -> str:
    return "" if value is None else str(value)


def read_csv(path: Path, encoding: str | None = None, *, no_base: bool = False) -> Sheet:
    """Read a CSV export; ``no_base`` reads one without its sidecar (a hand-made CSV)."""
    where = str(path)
    text = decode(path.read_bytes(), encoding, where)
    delimiter = sniff_delimiter(text)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    if not rows:
        raise SheetError(f"{where} is empty.")
    name = path.name
    header = [unguard(h).strip() for h in rows[0]]
    tie = next(((col, m) for col, h in enumerate(header) if (m := TIE.fullmatch(h))), None)
    if tie is not None:
        header[tie[0]] = ""  # not a column of the layout
    has_base = sidecar(path).exists()
    if has_base:
        meta, base = _read_sidecar(path, tie[1] if tie else None, rows[0])
    elif no_base:
        meta, base = _bare_meta(header, name), BaseSnapshot()
    elif tie is None:
        raise SheetError(
            f"{where} has no bulksync export id in its header and no base snapshot beside "
            "it: it looks like a sheet of an .xlsx export saved as CSV (an xlsx export keeps "
            "its base inside the workbook, and a CSV has no room for it). Import the .xlsx "
            "(make your edits there, or save this sheet back into it), or import this CSV "
            "with --no-base (changes made by others since the export are then overwritten)."
        )
    else:
        raise SheetError(
            f"{where} has no base snapshot beside it ({sidecar(path).name}); bulksync needs "
            "it to tell your edits from changes made in NextStep since the export. Put the "
            "file back beside it, or import with --no-base (changes made by others since the "
            "export are then overwritten)."
        )
    special = _special(rows, name)
    new_rows: list[NewRow] = []
    if Layout(meta.layout) is Layout.TASKS:
        cells, problems = task_cells(
            header,
            rows[1:],
            first_row=2,
            prefix=name,
            cell_at=_at,
            base=base,
            checked=has_base,
            rows_exported=meta.values,
        )
    else:
        cells, problems, new_rows = _run_cells(
            where, name, header, rows, meta, base, checked=has_base
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


def _read_sidecar(
    path: Path, tie: re.Match[str] | None, header: list[str]
) -> tuple[ExportMeta, BaseSnapshot]:
    """The metadata and base snapshot beside a CSV, checked to be of its export."""
    side = sidecar(path)
    try:
        document = json.loads(side.read_text(encoding="utf-8"))
        meta = ExportMeta.from_dict(document["meta"], str(side))
        base = BaseSnapshot(
            Shared.parse(document["shared"], str(side)),
            {k: [v] for k, v in document["runs"].items()},
            str(side),
        )
        rows_checksum = str(document["rows"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SheetError(f"{side} is damaged; export the runs again.") from None
    _check_tie(str(path), side, tie, meta, rows_checksum, header)
    return meta, base


def _run_cells(
    where: str,
    name: str,
    header: list[str],
    rows: list[list[str]],
    meta: ExportMeta,
    base: BaseSnapshot,
    *,
    checked: bool,
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
        rows[1:],
        keys=keys,
        base=base,
        first_row=2,
        prefix=name,
        cell_at=_at,
        checked=checked,
        titles=labels,
        title_ref=lambda col: f"{name}!{col_name(col)}1",
        refused={col for col in range(len(keys)) if f"{name}!{col_name(col)}1" in refused_refs},
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


def _special(rows: list[list[str]], name: str) -> dict[str, Special]:
    """Cells a spreadsheet would run as a formula, and error values saved as text."""
    found: dict[str, Special] = {}
    for number, row in enumerate(rows[1:], start=2):
        for col, text in enumerate(row):
            if text.startswith("="):
                found[f"{name}!{col_name(col)}{number}"] = Special(
                    "formula_text", text, formula=text
                )
            elif text.strip() in ERROR_VALUES:
                found[f"{name}!{col_name(col)}{number}"] = Special("error_value", text.strip())
    return found


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

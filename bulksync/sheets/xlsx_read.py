"""Reading a bulksync xlsx back: its metadata and base snapshot, then the data sheet's
rows against their hidden mirror.

Rows come from the streaming reader (``xlsx_stream``), or from python-calamine for a
workbook that reader leaves to it. Both give a formula's cached value and an error cell
as empty, and a number as the nearest float, so the data sheet's XML is also scanned
for formula, error and rounded-number cells (``xlsx_special``).
"""

from __future__ import annotations

import json
import pickle
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import Any, Final, overload
from xml.etree.ElementTree import ParseError

import python_calamine

from bulksync.codecs import CellValue
from bulksync.errors import SheetError
from bulksync.sheets.csvfile import TIE
from bulksync.sheets.layout import Layout
from bulksync.sheets.meta import BaseSnapshot, ExportMeta, Shared
from bulksync.sheets.reading import RowProblem, Sheet, col_name
from bulksync.sheets.runs_read import check_column_keys, run_cells
from bulksync.sheets.tasks_read import task_cells
from bulksync.sheets.xlsx import BASE_SHEET, META_SHEET, OLD_META_SHEET, header_rows
from bulksync.sheets.xlsx_formats import Damaged, Unsupported
from bulksync.sheets.xlsx_special import special_cells
from bulksync.sheets.xlsx_spool import Spool, SpooledDocuments, SpooledRows
from bulksync.sheets.xlsx_stream import Book, XmlRow


def read_xlsx(path: Path, *, only_edited: bool = False) -> Sheet:
    """Read a bulksync workbook.

    ``only_edited`` compares the data sheet row by row with its hidden mirror (the
    exported cells at the same addresses) and keeps only the cells that may hold an
    edit; what import needs. Without it every value cell is kept.

    Nothing proportional to the sheet is held (issue 13): rows stream from the XML
    (``xlsx_stream``), a row equal to its mirror row is told from its bytes, and the
    mirror and each run's base JSON wait in an unlinked temporary file
    (``Spool``) until asked for. A workbook the streaming reader leaves to calamine
    (the 1904 calendar, a duration format) is read by calamine, a sheet at a time.
    """
    where = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SheetError(f"{where} cannot be read as an xlsx workbook: {exc}") from None
    with archive, closing(Spool()) as mirror_spool:
        try:
            source: _Source = _Streamed(Book(archive), mirror_spool)
        except Unsupported:
            source = _Calamine(path, where)
        except (zipfile.BadZipFile, KeyError, OSError, ParseError, ValueError) as exc:
            raise SheetError(f"{where} cannot be read as an xlsx workbook: {exc}") from None
        # The base's spool lives as long as the sheet's base snapshot (SpooledDocuments).
        try:
            try:
                return _read(source, path, where, only_edited=only_edited, spool=Spool())
            except Unsupported:  # found only in a sheet's XML (its encoding): calamine's
                calamine = _Calamine(path, where)
                return _read(calamine, path, where, only_edited=only_edited, spool=Spool())
        except (Damaged, ParseError, zlib.error, EOFError, zipfile.BadZipFile) as exc:
            raise SheetError(
                f"{where} is damaged and cannot be read ({exc or type(exc).__name__}). Open "
                "it in your spreadsheet app and save it again (or use the copy you saved "
                "before), or export again and redo the edits."
            ) from None


def _read(source: _Source, path: Path, where: str, *, only_edited: bool, spool: Spool) -> Sheet:
    names = source.names
    # A file of sheet format 3 or older names it _bulksync: read, its version is refused.
    meta_name = next((n for n in (META_SHEET, OLD_META_SHEET) if n in names), None)
    if meta_name is None:
        raise _no_metadata(_calamine_book(path, where), names, where)
    meta, base = _read_meta(source.rows(meta_name), where, spool)
    if meta.sheet not in names:
        raise SheetError(
            f"{where} has no sheet named {meta.sheet!r}; was it renamed? Rename it back to "
            f"{meta.sheet!r} (right-click its tab, Rename) and import again."
        )
    first = header_rows(Layout(meta.layout))
    # The scan for formula and error cells inflates the sheet's XML again; zlib lets
    # other threads run meanwhile, so it runs beside the reading of the mirror.
    with ThreadPoolExecutor(1, thread_name_prefix="bulksync-scan") as pool:
        scan = pool.submit(special_cells, path, meta.sheet)
        mirror = None
        if only_edited and BASE_SHEET in names:
            mirror = source.mirror(islice(source.rows(BASE_SHEET), first, None))
        special = scan.result()
    rows = source.rows(meta.sheet)
    special_rows = {int(re.sub(r"\D", "", ref.rpartition("!")[2])) for ref in special}
    if Layout(meta.layout) is Layout.TASKS:
        sheet = _tasks(where, meta, base, rows, mirror, special_rows)
    else:
        sheet = _runs(where, meta, base, rows, mirror, special_rows)
    return replace(sheet, special=special) if special else sheet


class _Source:
    """Where rows come from: the streaming reader, or calamine."""

    names: Sequence[str]

    def rows(self, name: str) -> Iterator[Sequence[Any]]:
        raise NotImplementedError

    def mirror(self, rows: Iterable[Sequence[Any]]) -> Sequence[Sequence[Any]]:
        raise NotImplementedError


class _Streamed(_Source):
    def __init__(self, book: Book, spool: Spool) -> None:
        self.book = book
        self.names = list(book.members)
        self.spool = spool

    def rows(self, name: str) -> Iterator[XmlRow]:
        return self.book.rows(name)

    def mirror(self, rows: Iterable[Sequence[Any]]) -> Sequence[Sequence[Any]]:
        return SpooledRows(rows, self.spool)  # type: ignore[arg-type]


class _Calamine(_Source):
    def __init__(self, path: Path, where: str) -> None:
        self.book = _calamine_book(path, where)
        self.names = self.book.sheet_names

    def rows(self, name: str) -> Iterator[list[Any]]:
        return sheet_rows(self.book.get_sheet_by_name(name))

    def mirror(self, rows: Iterable[Sequence[Any]]) -> Sequence[Sequence[Any]]:
        return PackedRows(rows)  # type: ignore[arg-type]


def _calamine_book(path: Path, where: str) -> python_calamine.CalamineWorkbook:
    try:
        return python_calamine.CalamineWorkbook.from_path(str(path))
    except (python_calamine.CalamineError, OSError, ValueError) as exc:
        raise SheetError(f"{where} cannot be read as an xlsx workbook: {exc}") from None


def sheet_rows(sheet: python_calamine.CalamineSheet) -> Iterator[list[Any]]:
    """The sheet's rows from A1, one at a time, as ``to_python(skip_empty_area=False)``
    has them but without a list of them all: calamine's ``iter_rows`` starts at row 1
    but at the first column that holds something, so the columns before it are put
    back, empty."""
    start = sheet.start
    if start is None:
        return
    left = start[1]
    if not left:
        yield from sheet.iter_rows()
        return
    pad = [""] * left
    for row in sheet.iter_rows():
        yield pad + row


class PackedRows(Sequence[list[Any]]):
    """Rows held packed, each as one bytes object (pickled), unpacked when asked for:
    the hidden mirror when calamine reads the workbook. Only rows this process packed
    itself are ever unpacked."""

    def __init__(self, rows: Iterable[list[Any]]) -> None:
        self._packed = [pickle.dumps(row, pickle.HIGHEST_PROTOCOL) for row in rows]

    def __len__(self) -> int:
        return len(self._packed)

    @overload
    def __getitem__(self, index: int) -> list[Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[list[Any]]: ...
    def __getitem__(self, index: int | slice) -> list[Any] | list[list[Any]]:
        if isinstance(index, slice):
            return [pickle.loads(p) for p in self._packed[index]]
        return pickle.loads(self._packed[index])  # type: ignore[no-any-return]


def _read_meta(
    rows: Iterable[Sequence[Any]], where: str, spool: Spool
) -> tuple[ExportMeta, BaseSnapshot]:
    """The export's metadata and base snapshot, from the hidden metadata sheet's rows
    (``meta, JSON``; ``run, RUN_ID, chunk, …``; ``shared, chunk, …``) as they stream."""
    # Each run's JSON as UTF-8: as text, one accented letter makes a str of 2 bytes a
    # character, and the base of a large export is mostly text.
    documents = SpooledDocuments(spool)
    meta_raw: Any = None
    shared_raw = None
    index_column = _IndexColumn()
    for row in rows:
        index_column.see(row)
        if not row:
            continue
        kind = row[0]
        if kind == "meta" and meta_raw is None:
            meta_raw = row[1] if len(row) > 1 else None
        elif kind == "run" and len(row) > 2:
            text = "".join(str(p) for p in row[2:])
            documents.add(str(row[1]), text.encode("utf-8", "surrogatepass"))
        elif kind == "shared":
            shared_raw = "".join(str(p) for p in row[1:])
    if index_column.found:
        raise SheetError(
            f"{where} was saved with an extra first column of row numbers (0, 1, 2, …) in "
            "its sheets, so every column moved one to the right: pandas' to_excel writes "
            "a frame's index there unless told not to. Save the sheets again with "
            "to_excel(writer, sheet_name=name, index=False), or export again."
        )
    try:
        meta = ExportMeta.from_dict(json.loads(str(meta_raw)), where)
    except (TypeError, ValueError):
        raise SheetError(f"{where} has damaged bulksync metadata; export again.") from None
    if shared_raw is None:
        raise SheetError(f"{where} has damaged bulksync metadata (no shared part); export again.")
    return meta, BaseSnapshot(Shared.parse(shared_raw, where), documents, where)


def _at(row: Sequence[Any], col: int) -> CellValue:
    """Both readers give '' for an empty cell; bulksync says None. A streamed row not
    parsed yet parses only the cell asked for."""
    if isinstance(row, XmlRow):
        value = row.at(col)
    elif col < len(row):
        value = row[col]
    else:
        return None
    return None if value == "" else value


def _tasks(
    where: str,
    meta: ExportMeta,
    base: BaseSnapshot,
    rows: Iterator[Sequence[Any]],
    mirror: Sequence[Sequence[Any]] | None,
    special_rows: set[int],
) -> Sheet:
    top = next(rows, None)
    if top is None:
        raise SheetError(f"{where}: the {meta.sheet} sheet is empty.")
    header = [str(h) for h in top]
    cells, problems = task_cells(
        header,
        rows,
        first_row=2,
        prefix=meta.sheet,
        cell_at=_at,
        base=base,
        mirror=mirror,
        special_rows=special_rows,
        rows_exported=meta.values,
    )
    return Sheet(where, meta, base, tuple(cells), tuple(problems))


def _runs(
    where: str,
    meta: ExportMeta,
    base: BaseSnapshot,
    rows: Iterator[Sequence[Any]],
    mirror: Sequence[Sequence[Any]] | None,
    special_rows: set[int],
) -> Sheet:
    first = header_rows(Layout.RUNS)
    head = [list(row) for row in islice(rows, first)]
    if len(head) < first:
        raise SheetError(f"{where}: the {meta.sheet} sheet lost its header rows.")
    # A row is read as far as its last value: the header rows as wide as the widest.
    width = max(map(len, head))
    head = [row + [""] * (width - len(row)) for row in head]
    keys = [str(k) for k in head[1]]
    if "run_id" not in keys:
        raise SheetError(f"{where}: the {meta.sheet} sheet lost its run_id column.")
    key_problems: list[RowProblem] = []

    def key_ref(col: int) -> str:
        return f"{meta.sheet}!{col_name(col)}2"

    if meta.columns:
        keys, key_problems = check_column_keys(
            keys,
            _labels(head[0], head[2]),
            meta.columns,
            key_ref,
            fix=" in the hidden row 2 (unhide it, or undo the edit)",
        )
    refused_refs = {p.ref for p in key_problems}
    cells, problems, new_rows = run_cells(
        rows,
        keys=keys,
        base=base,
        first_row=first + 1,
        prefix=meta.sheet,
        cell_at=_at,
        mirror=mirror,
        special_rows=special_rows,
        titles=[str(t) for t in head[2]],
        title_ref=lambda col: f"{meta.sheet}!{col_name(col)}3",
        refused={col for col in range(len(keys)) if key_ref(col) in refused_refs},
    )
    return Sheet(
        where, meta, base, tuple(cells), (*key_problems, *problems), new_rows=tuple(new_rows)
    )


DATA_SHEETS: Final = ("Runs", "Fields")
"""The data sheet's name in each layout."""


def _no_metadata(
    book: python_calamine.CalamineWorkbook, names: Sequence[str], where: str
) -> SheetError:
    """Why a workbook without bulksync's hidden metadata sheet cannot be imported, as
    precisely as its sheets tell: a CSV export saved as xlsx, a script that wrote only
    the data sheet back, or no export at all."""
    if names and _csv_export_header(book, names[0]):
        return SheetError(
            f"{where} is a bulksync CSV export saved as an xlsx workbook (its first row "
            "carries the CSV's export id), so its base snapshot is not inside it. Save it "
            "as CSV again (UTF-8, comma separated) beside its .csv.base.json and import the "
            ".csv, or make the edits in the exported .csv itself."
        )
    data = next((name for name in names if name in DATA_SHEETS), None)
    if data is not None:
        return SheetError(
            f"{where} has the data sheet of a bulksync export ({data!r}) but not its hidden "
            "sheets, which hold the export's base snapshot: a program wrote back only some "
            "of the workbook's sheets (a pandas script writing one frame?). Write every "
            "sheet back (pandas: read_excel(path, sheet_name=None), then each frame "
            "to_excel into one ExcelWriter with index=False), or copy your edits into the "
            "exported file."
        )
    return SheetError(
        f"{where} is not a bulksync export (it has no hidden {META_SHEET!r} sheet). "
        "Export the runs with `bulksync export` and edit that file."
    )


def _csv_export_header(book: python_calamine.CalamineWorkbook, name: str) -> bool:
    """Whether the sheet's first row holds a CSV export's id cell (``TIE``)."""
    rows = book.get_sheet_by_name(name).to_python(nrows=1)
    return any(TIE.fullmatch(str(cell).strip().lstrip("'")) for cell in (rows[0] if rows else ()))


class _IndexColumn:
    """Whether pandas' ``to_excel`` put its index before the sheet, seen row by row: an
    empty top-left cell, then 0, 1, 2, … down the first column (the hidden metadata
    sheet has no such column of its own)."""

    def __init__(self) -> None:
        self.rows = 0
        self.blank_corner = False
        self.numbered = True

    def see(self, row: Sequence[Any]) -> None:
        if self.rows == 0:
            self.blank_corner = bool(row) and row[0] in (None, "")
        elif self.numbered:
            v = row[0] if row else None
            self.numbered = (
                isinstance(v, int | float) and not isinstance(v, bool) and v == self.rows - 1
            )
        self.rows += 1

    @property
    def found(self) -> bool:
        return self.rows >= 2 and self.blank_corner and self.numbered


_PANDAS_BLANK: Final = re.compile(r"Unnamed: \d+(?:_level_\d+)?")
"""What pandas writes for a blank header cell."""


def _labels(groups: Sequence[Any], titles: Sequence[Any]) -> list[str]:
    """``Task › Field`` per column; a task title merged over its columns is in the first.

    pandas reads the first row as its header and writes a blank header cell back as
    ``Unnamed: 5``: within a task title's merged span that is a blank, not a title.
    """
    labels: list[str] = []
    group = ""
    for col, title in enumerate(titles):
        shown = str(groups[col]) if col < len(groups) and groups[col] != "" else ""
        group = ("" if _PANDAS_BLANK.fullmatch(shown) else shown) or group
        labels.append(f"{group} › {title}")
    return labels

"""Reading a bulksync xlsx back with python-calamine (a fast Rust reader).

calamine gives each cell's value, and a formula's cached value, but reads an error
cell (``#N/A``) as empty, does not say which cells hold formulas, and reads a number
cell as the nearest float (``<v>9007199254740993</v>`` as 9007199254740992.0). So the
data sheet's XML is also scanned, with defusedxml, for ``<f>`` elements, ``t="e"``
cells and number cells whose saved digits no float holds; a sheet with none (the
usual case) is only searched for byte patterns, which costs a few milliseconds.
"""

from __future__ import annotations

import decimal
import json
import math
import pickle
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import IO, Any, Final, overload
from xml.etree.ElementTree import Element, ParseError

import python_calamine
from defusedxml import ElementTree as DefusedET

from bulksync.codecs import CellValue
from bulksync.errors import SheetError
from bulksync.sheets.csvfile import TIE
from bulksync.sheets.layout import Layout
from bulksync.sheets.meta import BaseSnapshot, ExportMeta, Shared
from bulksync.sheets.reading import RowProblem, Sheet, Special, col_name
from bulksync.sheets.runs_read import check_column_keys, run_cells
from bulksync.sheets.tasks_read import task_cells
from bulksync.sheets.xlsx import BASE_SHEET, META_SHEET, OLD_META_SHEET, header_rows


def read_xlsx(path: Path, *, only_edited: bool = False) -> Sheet:
    """Read a bulksync workbook.

    ``only_edited`` compares the data sheet row by row with its hidden mirror (the
    exported cells at the same addresses) and keeps only the cells that may hold an
    edit; what import needs. Without it every value cell is kept.

    Rows are streamed, never held as lists of every row: calamine holds one sheet's
    cells at a time (its own, in Rust: it reads a sheet whole), the hidden mirror is
    kept packed (``PackedRows``), and the base snapshot as each run's JSON text.
    """
    where = str(path)
    try:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
    except (python_calamine.CalamineError, OSError, ValueError) as exc:
        raise SheetError(f"{where} cannot be read as an xlsx workbook: {exc}") from None
    names = book.sheet_names
    # A file of sheet format 3 or older names it _bulksync: read, its version is refused.
    meta_name = next((n for n in (META_SHEET, OLD_META_SHEET) if n in names), None)
    if meta_name is None:
        raise _no_metadata(book, names, where)
    meta, base = _read_meta(book.get_sheet_by_name(meta_name), where)
    if meta.sheet not in names:
        raise SheetError(
            f"{where} has no sheet named {meta.sheet!r}; was it renamed? Rename it back to "
            f"{meta.sheet!r} (right-click its tab, Rename) and import again."
        )
    first = header_rows(Layout(meta.layout))
    # The scan for formula and error cells inflates the sheet's XML again; zlib lets
    # other threads run meanwhile, so it runs beside calamine's reading of the sheets.
    with ThreadPoolExecutor(1, thread_name_prefix="bulksync-scan") as pool:
        scan = pool.submit(special_cells, path, meta.sheet)
        mirror = None
        if only_edited and BASE_SHEET in names:
            # Packed before the data sheet is read: calamine holds one sheet at a time.
            mirror = PackedRows(islice(sheet_rows(book.get_sheet_by_name(BASE_SHEET)), first, None))
        rows = sheet_rows(book.get_sheet_by_name(meta.sheet))
        special = scan.result()
    special_rows = {int(re.sub(r"\D", "", ref.rpartition("!")[2])) for ref in special}
    if Layout(meta.layout) is Layout.TASKS:
        sheet = _tasks(where, meta, base, rows, mirror, special_rows)
    else:
        sheet = _runs(where, meta, base, rows, mirror, special_rows)
    return replace(sheet, special=special) if special else sheet


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
    """Rows held packed, each as one bytes object (pickled), unpacked when asked for.

    The hidden mirror of a large sheet as Python lists would take several times the
    memory of the sheet's text; packed it takes about its text. Only rows this process
    packed itself are ever unpacked.
    """

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


def _read_meta(sheet: python_calamine.CalamineSheet, where: str) -> tuple[ExportMeta, BaseSnapshot]:
    """The export's metadata and base snapshot, from the hidden metadata sheet's rows
    (``meta, JSON``; ``run, RUN_ID, chunk, …``; ``shared, chunk, …``) as they stream."""
    # Each run's JSON as UTF-8: as text, one accented letter makes a str of 2 bytes a
    # character, and the base of a large export is mostly text.
    documents: dict[str, list[bytes]] = {}
    meta_raw: Any = None
    shared_raw = None
    index_column = _IndexColumn()
    for row in sheet_rows(sheet):
        index_column.see(row)
        if not row:
            continue
        kind = row[0]
        if kind == "meta" and meta_raw is None:
            meta_raw = row[1] if len(row) > 1 else None
        elif kind == "run" and len(row) > 2:
            text = "".join(str(p) for p in row[2:])
            documents.setdefault(str(row[1]), []).append(text.encode("utf-8", "surrogatepass"))
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


def special_cells(path: Path, sheet_name: str) -> dict[str, Special]:
    """Formula, error and rounded number cells of one worksheet, by ref (``Fields!H14``)."""
    try:
        with zipfile.ZipFile(path) as archive:
            member = _sheet_member(archive, sheet_name)
            if member is None or not _maybe_special(archive, member):
                return {}
            with archive.open(member) as xml:
                return _scan(xml, sheet_name)
    except (zipfile.BadZipFile, KeyError, OSError, ParseError, ValueError) as exc:
        # defusedxml refuses entity tricks with a ValueError: the file is not one to trust.
        raise SheetError(
            f"{path}: the {sheet_name} sheet's XML cannot be read safely ({exc}). Open the "
            "file in a spreadsheet app and save it again, or export again."
        ) from None


def _maybe_special(archive: zipfile.ZipFile, member: str) -> bool:
    """Whether the worksheet's XML may hold a formula, error or rounded number cell: its
    bytes searched a piece at a time (the XML of a large sheet is several times the
    file), each piece cut after its last ``<`` so that no tag or value is split."""
    carry = b""
    with archive.open(member) as xml:
        while chunk := xml.read(_PIECE):
            data = carry + chunk
            cut = data.rfind(b"<")
            piece, carry = (data, b"") if cut < 0 else (data[: cut + 1], data[cut:])
            if any(pattern in piece for pattern in _MAYBE_SPECIAL) or _maybe_rounded(piece):
                return True
    return any(pattern in carry for pattern in _MAYBE_SPECIAL) or _maybe_rounded(carry)


def _scan(xml: IO[bytes], sheet_name: str) -> dict[str, Special]:
    found: dict[str, Special] = {}
    cell_tag = f"{{{_MAIN}}}c"
    for _, element in DefusedET.iterparse(xml):
        if element.tag != cell_tag or element.get("r") is None:
            continue
        special = _special(element)
        if special is not None:
            found[f"{sheet_name}!{element.get('r')}"] = special
        element.clear()
    return found


def _special(cell: Element) -> Special | None:
    """What a ``<c>`` element holds if not a plain value: an error, a formula, or a number
    whose saved digits no float holds."""
    formula = cell.find(_F_TAG)
    cached = cell.find(_V_TAG)
    cached_text = cached.text if cached is not None else None
    source = f"={formula.text or ''}" if formula is not None else ""
    if cell.get("t") == "e":
        return Special("error_value", cached_text or "#VALUE!", formula=source)
    if formula is not None and (formula.text or "").upper() not in _PLAIN_BOOLEANS:
        return Special("formula", source, cached_text is not None, formula=source)
    if cell.get("t", "n") == "n" and cached_text and _rounded(cached_text):
        return Special("inexact_number", cached_text.strip())
    return None


def _rounded(text: str) -> bool:
    """Whether reading a number cell's saved text as a float changes the number.

    It does when no float is the nearest to the text at the text's own precision:
    ``9007199254740993`` (2**53 + 1), 20 significant digits, ``1e400``, ``1e-400``.
    Digits that spell a float, however many, do not: Excel saves 0.3 as
    ``0.29999999999999999``, xlsxwriter with 16 digits. Not a number: False.
    """
    # Up to 15 significant digits, in a float's normal range, always spell a float.
    if len(text) < 16 and "e" not in text and "E" not in text:
        return False
    try:
        number = float(text)
        if text == repr(number) or text == f"{number:.16G}":
            return False  # as Python and xlsxwriter spell a float: the common case, fast
        exact = decimal.Decimal(text)
    except (decimal.InvalidOperation, ValueError):
        return False
    if not exact.is_finite():
        return False
    if not math.isfinite(number):
        return True
    # Significant digits, trailing zeros not counted (normalize() could overflow).
    digits = len("".join(map(str, exact.as_tuple().digits)).rstrip("0")) or 1
    return decimal.Context(prec=digits).create_decimal_from_float(number) != exact


def _maybe_rounded(data: bytes) -> bool:
    """Whether the sheet may hold a number cell that ``_rounded`` is true of: the cheap
    test before a parse (one regular expression search, some 6 ms for 5 MB of XML)."""
    for match in _LONG_VALUE.finditer(data):
        text = match[1]
        if b"&" in text or _rounded(text.decode("utf-8", "replace")):
            return True
    return False


_PIECE: Final = 1 << 20
"""Bytes of a worksheet's XML searched at a time."""
_MAYBE_SPECIAL: Final = (b"<f>", b"<f ", b"<f/", b":f>", b":f ", b't="e"', b"t='e'")
"""Byte patterns of a formula element or an error cell (substring search: fast)."""
_LONG_VALUE: Final = re.compile(rb"v>([^<]{16,}|[^<]*[eE&][^<]*)<")
"""A ``<v>`` (or ``<x:v>``) text that may be a number ``_rounded`` is true of: one of 16
characters or more, or with an exponent (``&``: a character reference, ``&#57;`` for 9).
A ``<v>`` spelled as no writer does (with attributes, CDATA) is not looked for."""
_PLAIN_BOOLEANS: Final = frozenset({"TRUE()", "FALSE()"})
"""LibreOffice saves a TRUE/FALSE cell as the formula TRUE() with its value: a plain value."""
_MAIN: Final = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_F_TAG: Final = f"{{{_MAIN}}}f"
_V_TAG: Final = f"{{{_MAIN}}}v"
_REL: Final = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _sheet_member(archive: zipfile.ZipFile, sheet_name: str) -> str | None:
    """The zip member of a worksheet, found by name through the workbook's relations."""
    book = DefusedET.fromstring(archive.read("xl/workbook.xml"))
    rels = DefusedET.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    rel_id = None
    for sheet in book.iter(f"{{{_MAIN}}}sheet"):
        if sheet.get("name") == sheet_name:
            rel_id = sheet.get(f"{{{_REL}}}id")
    for rel in rels:
        if rel.get("Id") == rel_id:
            target = rel.get("Target") or ""
            return target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return None


def _at(row: Sequence[Any], col: int) -> CellValue:
    """calamine gives '' for an empty cell; bulksync says None."""
    if col >= len(row) or row[col] == "":
        return None
    return row[col]  # type: ignore[no-any-return]


def _tasks(
    where: str,
    meta: ExportMeta,
    base: BaseSnapshot,
    rows: Iterator[list[Any]],
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
    rows: Iterator[list[Any]],
    mirror: Sequence[Sequence[Any]] | None,
    special_rows: set[int],
) -> Sheet:
    first = header_rows(Layout.RUNS)
    head = list(islice(rows, first))
    if len(head) < first:
        raise SheetError(f"{where}: the {meta.sheet} sheet lost its header rows.")
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

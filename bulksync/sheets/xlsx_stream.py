"""Reading an xlsx worksheet a row at a time, without holding the sheet (issue 13).

python-calamine reads a whole sheet into memory before it gives the first row: at 10,000
runs the tasks layout's data sheet and its hidden mirror took some 600 MiB that way. This
reader inflates a worksheet's XML a piece at a time and cuts it into rows at each
``</row>``. A row is kept as the bytes of its cells (``XmlRow``), parsed into values only
when one is asked for, so that a row equal to its mirror row is told from its bytes
(style numbers left out), never parsed: in an unedited sheet no value is decoded at all.

Values are what calamine gives for the same cells (``tests/sheets/test_xlsx_stream.py``
holds the two readers side by side over files of every app): text as ``str``, numbers
as ``float``, ``t="b"`` as ``bool``, an error or empty cell as ``""``, and a number in a
date-formatted cell as ``datetime.date`` (a whole day), ``datetime.datetime`` (a day and
a time) or ``datetime.time`` (under one day), with Excel's 1900 calendar. A workbook this
reader does not take whole is left to calamine (``Unsupported``): one with the 1904
calendar, a duration format (``[h]:mm``), or XML that is not UTF-8.

A workbook that cannot be read as it is (a shared string that is not there, rows out of
order, a worksheet cut short) raises ``Damaged``: ``xlsx_read`` says so, as calamine
refuses such a file, and never reads it partly.

A cell's XML is matched with regular expressions, the fast way for the common shapes
(``<c r="B7" s="3" t="inlineStr"><is><t>text</t></is></c>``, ``<v>`` values, shared
strings); a row that holds anything else (a comment, CDATA, an unusual attribute order)
is parsed by expat, defused (no DTD, no entities), so no shape is misread, only slower.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator, Sequence
from typing import IO, Any, Final
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as DefusedET

from bulksync.sheets.reading import col_name
from bulksync.sheets.xlsx_cellxml import CELL, cell_value, column_index, general_values
from bulksync.sheets.xlsx_formats import (
    MAIN,
    Damaged,
    Unsupported,
    as_date,
    date_styles,
    place,
    rich_text,
    unescape,
)

_REL: Final = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PIECE: Final = 1 << 20
"""Bytes of a worksheet's XML inflated at a time."""


class Book:
    """An xlsx workbook opened for streaming: its sheets' zip members, which cell styles
    are dates, and its shared strings (read the first time a cell refers to one)."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        book = _parse(archive, "xl/workbook.xml")
        if book is None:
            raise Unsupported("no xl/workbook.xml")
        pr = book.find(f"{{{MAIN}}}workbookPr")
        if pr is not None and pr.get("date1904", "0").lower() in ("1", "true"):
            raise Unsupported("the 1904 calendar")
        self.members = _members(archive, book)
        self.dates = date_styles(_parse(archive, "xl/styles.xml"))
        self._strings: list[str] | None = None

    @property
    def strings(self) -> list[str]:
        if self._strings is None:
            self._strings = _shared_strings(self.archive)
        return self._strings

    def rows(self, sheet_name: str) -> Iterator[XmlRow]:
        """The sheet's rows from row 1, an empty row for each row the XML leaves out,
        and none after the last row that may hold a value (a row whose cells hold only
        empty text may be read as an empty row where calamine has none)."""
        member = self.members.get(sheet_name)
        if member is None:
            raise Unsupported(f"no worksheet {sheet_name!r}")
        with self.archive.open(member) as xml:
            pending: list[XmlRow] = []
            number = 0
            sheet = _Sheet(self, sheet_name)
            for row_number, body in _row_bodies(xml, sheet):
                row_number = row_number or _row_of_cells(body) or number + 1
                if row_number <= number:
                    raise Damaged(
                        f"the {sheet_name} sheet's row {row_number} comes after row {number}"
                    )
                while number + 1 < row_number:
                    number += 1
                    pending.append(XmlRow(b"", number, sheet))
                number = row_number
                pending.append(XmlRow(body, number, sheet))
                if b"</" in body:  # a cell with content: may hold a value
                    yield from pending
                    pending.clear()


class _Sheet:
    """What parsing a row of one worksheet needs: the book, and the namespace
    declarations of the worksheet's root (for expat, when a row goes to it)."""

    def __init__(self, book: Book, name: str) -> None:
        self.book = book
        self.name = name
        self.declarations = f'xmlns="{MAIN}"'.encode()
        self.empty = False
        """Whether its ``<sheetData/>`` holds no row."""


class XmlRow(Sequence[Any]):
    """One row: the bytes of its cells, parsed into values (calamine's) when asked.

    Two rows are equal when their cells' bytes are, style numbers left out (a data row
    and its mirror row differ only in being locked), or else when their values are. A
    row is as long as its last cell that holds a value.
    """

    __slots__ = ("_key", "_referenced", "_values", "body", "number", "sheet")

    def __init__(self, body: bytes, number: int, sheet: _Sheet) -> None:
        self.body = body
        self.number = number
        self.sheet = sheet
        self._key: bytes | None = None
        self._values: list[Any] | None = None
        self._referenced: bool | None = None

    @property
    def referenced(self) -> bool:
        """Whether a cell of this row can be found by its reference (``_referenced``)."""
        if self._referenced is None:
            self._referenced = _referenced(self.body)
        return self._referenced

    @property
    def key(self) -> bytes:
        """The cells' bytes without their style numbers."""
        if self._key is None:
            body = self.body
            self._key = _STYLE.sub(b"", body) if b" s=" in body else body
        return self._key

    @property
    def values(self) -> list[Any]:
        if self._values is None:
            try:
                self._values = _values(self.body, self.sheet)
            except Damaged as exc:
                where = f"{exc.column}{self.number}" if exc.column else f"row {self.number}"
                raise Damaged(f"{self.sheet.name}!{where}: {exc}") from None
        return self._values

    def at(self, col: int) -> Any:
        """The value in one column ("" if none): of a row not parsed yet, only that
        cell is, found by its reference."""
        if self._values is None and self.referenced:
            start = self.body.find(b'<c r="%s%d"' % (col_name(col).encode(), self.number))
            if start < 0:
                return ""
            found = CELL.match(self.body, start)
            if found is not None and not found[4]:
                try:
                    return cell_value(found[3], found[2], found[5], self.sheet.book)
                except Damaged as exc:
                    ref = f"{self.sheet.name}!{col_name(col)}{self.number}"
                    raise Damaged(f"{ref}: {exc}") from None
        values = self.values
        return values[col] if col < len(values) else ""

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, index: Any) -> Any:
        return self.values[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.values)

    def __eq__(self, other: object) -> bool:
        """Another row: whether their cells' bytes are the same, style numbers aside
        (rows of equal values saved in other bytes are unequal: the readers then compare
        them cell by cell). A list: whether it holds this row's values."""
        if isinstance(other, XmlRow):
            return self.key == other.key
        if isinstance(other, list):
            return self.values == other
        return NotImplemented

    def columns_differing(self, other: XmlRow) -> set[int] | None:
        """The columns whose cells' bytes differ from ``other``'s, style numbers aside:
        the cells of a row with edits that need decoding. None when that cannot be told
        from the bytes (a cell without its reference, a namespace prefix)."""
        mine, theirs = self.key.split(b"<c "), other.key.split(b"<c ")
        if len(mine) != len(theirs):
            return _by_letters(mine, theirs)
        found = set()
        for now, was in zip(mine, theirs, strict=True):
            if now != was:
                for cell in (now, was):
                    ref = _REF.match(cell)
                    if ref is None:
                        return None
                    found.add(column_index(ref[1]))
        return found

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"XmlRow({self.number}, {self.values!r})"


def _row_of_cells(body: bytes) -> int:
    found = _REF.search(body)
    return int(found[2]) if found else 0


def _referenced(body: bytes) -> bool:
    """Whether every cell of the row is spelled ``<c r="…"`` (a cell can be found by
    its reference, and one not found is not there)."""
    cells = body.count(b"<c")
    return cells > 0 and cells == body.count(b'<c r="') and b":c " not in body


def _by_letters(mine: list[bytes], theirs: list[bytes]) -> set[int] | None:
    """``columns_differing`` of rows with different numbers of cells."""
    cells = []
    for chunks in (mine, theirs):
        by_letters = {}
        for chunk in chunks[1:]:
            ref = _REF.match(chunk)
            if ref is None:
                return None
            by_letters[ref[1]] = chunk
        if chunks[0]:
            return None  # something before the first cell: not a row of plain cells
        cells.append(by_letters)
    now, was = cells
    return {column_index(k) for k in now.keys() | was.keys() if now.get(k) != was.get(k)}


def _parse(archive: zipfile.ZipFile, member: str) -> Element | None:
    try:
        data = archive.read(member)
    except KeyError:
        return None
    return DefusedET.fromstring(data)


def _members(archive: zipfile.ZipFile, book: Element) -> dict[str, str]:
    """Each worksheet's zip member, by sheet name, through the workbook's relations."""
    rels = _parse(archive, "xl/_rels/workbook.xml.rels")
    targets = {} if rels is None else {r.get("Id"): r.get("Target") or "" for r in rels}
    members = {}
    for sheet in book.iter(f"{{{MAIN}}}sheet"):
        target = targets.get(sheet.get(f"{{{_REL}}}id"))
        if target is not None:
            name = sheet.get("name") or ""
            members[name] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return members


def _shared_strings(archive: zipfile.ZipFile) -> list[str]:
    """The workbook's shared strings, in order (an empty ``<si/>`` counts), read a
    piece at a time."""
    try:
        xml = archive.open("xl/sharedStrings.xml")
    except KeyError:
        return []
    strings: list[str] = []
    with xml:
        carry = b""
        while chunk := xml.read(_PIECE):
            data = carry + chunk
            end = _last_item_end(data)
            strings.extend(rich_text(m[1] or b"") for m in _SI.finditer(data, 0, end))
            carry = data[end:]
        strings.extend(rich_text(m[1] or b"") for m in _SI.finditer(carry))
    return strings


def _last_item_end(data: bytes) -> int:
    """Where the last whole ``<si>`` item of ``data`` ends (0 if none does)."""
    end = len(data)
    while (at := data.rfind(b"si>", 0, end)) >= 0:
        tag = data.rfind(b"<", 0, at)
        if _SI_END.fullmatch(data, tag, at + 3) or data[at - 1 : at] == b"/":
            return at + 3
        end = at
    return 0


def _row_bodies(xml: IO[bytes], sheet: _Sheet) -> Iterator[tuple[int, bytes]]:
    """(row number or 0 where the XML gives none, the bytes of its cells) for each
    ``<row>`` of a worksheet's XML, read a piece at a time."""
    carry = b""
    end_tag = open_tag = b""
    while chunk := xml.read(_PIECE):
        data = carry + chunk
        if not end_tag:
            if data.startswith(b"<?xml") and not _UTF8.match(data):
                raise Unsupported("a worksheet not in UTF-8")
            found = _SHEET_DATA.search(data)
            if found is None:
                carry = data
                continue
            head = data[: found.start()]
            sheet.empty = found[0].endswith(b"/>")
            sheet.declarations = b" ".join(m[0] for m in _XMLNS.finditer(head))
            end_tag = b"</%srow>" % (found[1] or b"")
            open_tag = b"<%srow" % (found[1] or b"")
            data = data[found.end() :]
        pieces = data.split(end_tag)
        carry = pieces.pop()
        for piece in pieces:
            yield from _rows_of(piece, open_tag)
    if end_tag and b"sheetData>" not in carry and not sheet.empty:
        raise Damaged("a worksheet's XML stops before its end")


def _rows_of(piece: bytes, open_tag: bytes) -> Iterator[tuple[int, bytes]]:
    """The rows in the XML between two ``</row>``: empty ``<row …/>`` ones, then the
    one whose cells run to the end of the piece."""
    at = piece.find(open_tag)
    while at >= 0:
        end = piece.find(b">", at)
        if end < 0:
            return
        attrs = piece[at + len(open_tag) : end]
        if attrs[:1] not in _AFTER_NAME:  # <rowBreaks>, say: not a row
            at = piece.find(open_tag, end)
            continue
        found = _ROW_NUMBER.search(attrs)
        number = int(found[1]) if found else 0
        if not attrs.endswith(b"/"):
            yield number, piece[end + 1 :]
            return
        yield number, b""
        at = piece.find(open_tag, end)


_AFTER_NAME: Final = (b" ", b"\t", b"\r", b"\n", b"/", b"")


def _values(body: bytes, sheet: _Sheet) -> list[Any]:
    """A row's values by column from A, up to its last cell that holds one."""
    if not body:
        return []
    parts = _COMMON_CELL.split(body)
    if not any(parts[0::7]):  # every byte of the row is in a cell of a common shape
        try:
            return _common_values(parts, sheet.book)
        except (ValueError, IndexError):
            pass  # a number or string index not as written: the general path says ""
    return general_values(body, sheet)


def _common_values(parts: list[bytes], book: Book) -> list[Any]:
    """The values of a row split by ``_COMMON_CELL``: per cell its column letters,
    style, type, ``<v>`` text and inline text (plain or preserved), then what follows
    (nothing)."""
    values: list[Any] = []
    value: Any
    cells = iter(parts[1:])
    for letters, style, kind, v, text, spaced, _ in zip(*[cells] * 7, strict=True):
        if v is not None:
            if kind is None:
                value = float(v)
                if style is not None and int(style) in book.dates:
                    value = as_date(value)
            elif kind == b"s":
                value = book.strings[int(v)]
            elif kind == b"b":
                value = v.strip() in (b"1", b"true")  # as cell_value reads it
            else:  # t="str" (a formula's text), or t="e" (an error: "")
                value = unescape(v.decode("utf-8")) if kind == b"str" else ""
        elif text is not None:
            value = unescape(text.decode("utf-8"), trim=True)
        elif spaced is not None:
            value = unescape(spaced.decode("utf-8"))
        else:
            continue
        if value == "":
            continue
        col = column_index(letters)
        if len(values) == col:
            values.append(value)
        else:
            place(values, col, value)
    return values


_UTF8: Final = re.compile(rb"<\?xml[^>]*encoding=[\"'](?:utf-8|UTF-8)[\"']|<\?xml(?![^>]*encoding)")
_STYLE: Final = re.compile(rb' s="\d+"(?=[^<>]*>)')
"""A cell's style number: in a start tag, before its ``>`` (text typed as `` s="1"`` is
followed by a ``<`` first: writers save a ``>`` in text as ``&gt;``)."""
_SHEET_DATA: Final = re.compile(rb"<([\w.-]+:)?sheetData\b[^>]*>")
_XMLNS: Final = re.compile(rb"""\bxmlns(?::[\w.-]+)?=(?:"[^"]*"|'[^']*')""")
_ROW_NUMBER: Final = re.compile(rb'\br="(\d+)"')
_REF: Final = re.compile(rb'r="([A-Z]{1,3})(\d+)"')
_COMMON_CELL: Final = re.compile(
    rb'<c r="([A-Z]{1,3})\d+"(?: s="(\d+)")?(?: t="(s|b|str|e)"| t="inlineStr")?(?:/>|'
    rb"><v>([^<]*)</v></c>|><is><t>([^<]*)</t></is></c>|"
    rb'><is><t xml:space="preserve">([^<]*)</t></is></c>)'
)
"""A cell of the shapes xlsxwriter, LibreOffice and Excel write for plain values, split
out of a row in one call (``re.split``): an empty cell, a ``<v>`` value, an inline
string."""
_SI: Final = re.compile(rb"<(?:[\w.-]+:)?si\b[^>/]*(?:/>|>(.*?)</(?:[\w.-]+:)?si>)", re.S)
_SI_END: Final = re.compile(rb"</(?:[\w.-]+:)?si>|<(?:[\w.-]+:)?si\b[^>]*/>")

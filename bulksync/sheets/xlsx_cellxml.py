"""A cell's XML to the value python-calamine gives, the general way: attributes in any
order, rich text, formulas with their cached value; and a row that holds anything else
(a comment, CDATA, a namespace prefix) parsed whole by expat, defused. The streaming
reader (``xlsx_stream``) comes here only for what its one-call split of a row's common
cells does not take."""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import TYPE_CHECKING, Any, Final
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as DefusedET

from bulksync.sheets.xlsx_formats import MAIN, Damaged, as_date, place, rich_text, unescape

if TYPE_CHECKING:
    from bulksync.sheets.xlsx_stream import Book, _Sheet


@functools.lru_cache(maxsize=1024)
def column_index(letters: bytes) -> int:
    """The 0-based column of a cell reference's letters (b"A" → 0, b"AB" → 27)."""
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n - 1


def general_values(body: bytes, sheet: _Sheet) -> list[Any]:
    """A row's values, a cell at a time: any order of attributes, rich text,
    formulas; a row with anything else goes to expat."""
    book = sheet.book
    values: list[Any] = []
    end = 0
    col = -1
    for m in CELL.finditer(body):
        if m.start() != end or m[4]:
            return values_expat(body, sheet)
        end = m.end()
        col = column_index(m[1]) if m[1] else col + 1
        try:
            value = cell_value(m[3], m[2], m[5], book)
        except Damaged as exc:
            exc.column = m[1].decode() if m[1] else ""
            raise
        if value != "":
            place(values, col, value)
    if end != len(body) and body[end:].strip():
        return values_expat(body, sheet)
    return values


def cell_value(kind: bytes | None, style: bytes | None, inner: bytes | None, book: Book) -> Any:
    """A cell's value as calamine gives it."""
    if not inner:
        return ""
    if kind == b"inlineStr":
        return rich_text(_inline(inner))
    text = _v_text(inner)
    if text is None:
        return ""
    if kind is None or kind == b"n":
        try:
            number = float(text)
        except ValueError:
            return ""
        if style is not None and int(style) in book.dates:
            return as_date(number)
        return number
    if kind == b"s":
        try:
            return book.strings[int(text)]
        except (ValueError, IndexError):
            raise Damaged(f"a cell refers to shared string {text!r}, which is not there") from None
    if kind == b"str":
        return unescape(text.decode("utf-8"))
    if kind == b"b":
        return text.strip() in (b"1", b"true")
    if kind == b"d":
        return _iso(text)
    return ""  # an error (t="e"), or a type no writer uses


def _v_text(inner: bytes) -> bytes | None:
    if inner.startswith(b"<v>") and inner.endswith(b"</v>"):
        return inner[3:-4]
    found = _V.search(inner)
    return found[1] if found else None


def _inline(inner: bytes) -> bytes:
    if inner.startswith(b"<is>") and inner.endswith(b"</is>"):
        return inner[4:-5]
    found = _IS.search(inner)
    return found[1] if found else b""


CELL: Final = re.compile(
    rb'<c(?: r="([A-Z]{1,3})\d+")?(?: s="(\d+)")?(?: t="(\w+)")?([^>/]*?)'
    rb"(?:/>|>(.*?)</c>)",
    re.S,
)
"""A cell as writers spell it (attributes r, s, t in that order; group 4, anything else
before the tag's end, must be empty): others go to expat."""
_V: Final = re.compile(rb"<v>(.*?)</v>", re.S)
_IS: Final = re.compile(rb"<is>(.*?)</is>", re.S)


def _iso(text: bytes) -> Any:
    """A ``t="d"`` cell (ISO 8601) as calamine gives it: a date, a time, or a date and
    time; text that is none of them, as text."""
    iso = text.decode("utf-8", "replace").strip()
    for parse in (dt.date.fromisoformat, dt.time.fromisoformat, dt.datetime.fromisoformat):
        try:
            return parse(iso)
        except ValueError:
            continue
    return unescape(iso)


def values_expat(body: bytes, sheet: _Sheet) -> list[Any]:
    """A row's values read by a real XML parser (defused): the shapes the regular
    expressions do not take."""
    book = sheet.book
    root = DefusedET.fromstring(b"<row %s>%s</row>" % (sheet.declarations, body))
    values: list[Any] = []
    col = -1
    for cell in root.iter(f"{{{MAIN}}}c"):
        ref = cell.get("r")
        letters = re.match(r"[A-Z]+", ref) if ref else None
        col = column_index(letters[0].encode()) if letters else col + 1
        try:
            value = _element_value(cell, book)
        except Damaged as exc:
            exc.column = letters[0] if letters else ""
            raise
        if value != "":
            place(values, col, value)
    return values


def _element_value(cell: Element, book: Book) -> Any:
    kind = cell.get("t")
    style = cell.get("s")
    if kind == "inlineStr":
        found = cell.find(f"{{{MAIN}}}is")
        if found is None:
            return ""
        return "".join(
            _element_text(t) for t in found.iter(f"{{{MAIN}}}t") if t not in _phonetic(found)
        )
    v = cell.find(f"{{{MAIN}}}v")
    if v is None or v.text is None:
        return ""
    escaped = v.text.replace("&", "&amp;").replace("<", "&lt;").encode("utf-8")
    return cell_value(
        kind.encode() if kind else None,
        style.encode() if style else None,
        b"<v>" + escaped + b"</v>",
        book,
    )


def _element_text(t: Element) -> str:
    text = t.text or ""
    trim = t.get(_XML_SPACE_ATTR) != "preserve"
    return unescape(text.replace("&", "&amp;"), trim=trim)


_XML_SPACE_ATTR: Final = "{http://www.w3.org/XML/1998/namespace}space"


def _phonetic(item: Element) -> set[Element]:
    return {t for rph in item.iter(f"{{{MAIN}}}rPh") for t in rph.iter(f"{{{MAIN}}}t")}

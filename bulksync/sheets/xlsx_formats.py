"""How the streaming reader (``xlsx_stream``) turns a cell's saved text into the value
python-calamine gives: which cell styles are dates, a date cell's number as a date, and
a text's escapes and trimmed ends."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Final
from xml.etree.ElementTree import Element

MAIN: Final = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


class Unsupported(Exception):
    """The workbook holds something the streaming reader leaves to calamine."""


class Damaged(Exception):
    """The workbook cannot be read as it is (calamine refuses it too): a shared string
    that is not there, rows out of order, a worksheet cut short."""

    column = ""
    """The column letters of the cell at fault, where one is."""


def place(values: list[Any], col: int, value: Any) -> None:
    """Put a cell's value in its column of a row's values, however the cells are
    ordered (a later cell never cuts an earlier one)."""
    if col < len(values):
        values[col] = value
    else:
        values.extend([""] * (col - len(values)))
        values.append(value)


def date_styles(styles: Element | None) -> frozenset[int]:
    """The cell styles (``s=`` indexes) whose number format is a date or time, as
    calamine tells them; a duration format is refused (calamine gives a timedelta)."""
    if styles is None:
        return frozenset()
    codes = {
        int(f.get("numFmtId", "0")): f.get("formatCode", "")
        for f in styles.iter(f"{{{MAIN}}}numFmt")
    }
    cell_xfs = styles.find(f"{{{MAIN}}}cellXfs")
    found = set()
    for index, xf in enumerate(() if cell_xfs is None else cell_xfs):
        fmt = int(xf.get("numFmtId", "0"))
        kind = _format_kind(codes[fmt]) if fmt in codes else _BUILTIN.get(fmt)
        if kind == "duration":
            raise Unsupported("a duration number format")
        if kind == "date":
            found.add(index)
    return frozenset(found)


_BUILTIN: Final = {**dict.fromkeys((*range(14, 23), 45, 47), "date"), 46: "duration"}
"""Excel's built-in number formats that are dates or times (ECMA-376 18.8.30)."""


def _format_kind(code: str) -> str | None:
    """``date``, ``duration`` or None for a custom number format, as calamine reads it
    (``is_custom_date_format``): in the first section, outside quotes, escapes and
    brackets, a letter of a date or time (after an ``a``, of am/pm); a bracketed
    ``[h]``, ``[mm]`` or ``[s]`` is a duration."""
    first = _LITERAL.sub("", code).split(";")[0]
    if _DURATION.search(first):
        return "duration"
    ampm = False
    for ch in _BRACKETS.sub("", first):
        if ch in "aA":
            ampm = True
        elif ch in ("pm/PM" if ampm else "dmhysDMHYS"):
            return "date"
    return None


_LITERAL: Final = re.compile(r'\\.|_.|"[^"]*"?')
"""An escaped character, a space the width of one (``_)``), a quoted text."""
_DURATION: Final = re.compile(r"\[(?:h+|m+|s+)\]", re.IGNORECASE)
_BRACKETS: Final = re.compile(r"\[[^\]]*\]?")


def rich_text(si: bytes) -> str:
    """The text of a string item (``<si>`` or ``<is>``): its ``<t>``, or its runs'
    ``<t>`` joined; a phonetic reading (``<rPh>``) is not part of it. As calamine reads
    it, a ``<t>`` without ``xml:space="preserve"`` loses the spaces, tabs and line
    breaks at its ends."""
    if si.startswith(b"<t>") and si.endswith(b"</t>") and b"<" not in si[3:-4]:
        return unescape(si[3:-4].decode("utf-8"), trim=True)
    if b"rPh" in si:
        si = _RPH.sub(b"", si)
    return "".join(_t_text(m[1], m[2]) for m in _T.finditer(si))


def _t_text(attrs: bytes, text: bytes | None) -> str:
    raw = (text or b"").decode("utf-8")
    trim = b"preserve" not in attrs
    if "<![CDATA[" not in raw:
        return unescape(raw, trim=trim)
    # A CDATA section's text is as written (no references); calamine reads it so too.
    parts = _CDATA.split(raw)
    joined = "".join(part if i % 2 else _references(part) for i, part in enumerate(parts))
    return _trimmed(joined, trim=trim)


def unescape(text: str, *, trim: bool = False) -> str:
    """XML's character references, then (``trim``) the spaces, tabs and line breaks
    at both ends cut, then OOXML's ``_xHHHH_`` escapes: calamine's order."""
    return _trimmed(_references(text), trim=trim)


def _references(text: str) -> str:
    if "&" in text:
        found = _ENTITY.findall(text)
        if len(found) != text.count("&"):  # XML writes every other & as &amp;
            raise Damaged("an & that starts no character reference (an undefined entity)")
        text = _ENTITY.sub(_entity, text)
    return text


def _trimmed(text: str, *, trim: bool) -> str:
    if trim:
        text = text.strip(XML_SPACE)
    if "_x" in text:
        text = _XSTRING.sub(lambda m: chr(int(m[1], 16)), text)
    return text


def _entity(match: re.Match[str]) -> str:
    name = match[1]
    if not name.startswith("#"):
        return _NAMED[name]
    code = int(name[2:], 16) if name.startswith("#x") else int(name[1:])
    if not _xml_char(code):
        raise Damaged(f"&{name}; is a reference to a character XML does not allow")
    return chr(code)


def _xml_char(code: int) -> bool:
    """XML 1.0's ``Char``: what a character reference may name (expat and calamine
    refuse the rest: NUL, other control characters, surrogates, U+FFFE and U+FFFF)."""
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def as_date(number: float) -> Any:
    """A number in a date-formatted cell, as calamine reads it (Excel's 1900 calendar,
    with its 29 February 1900 read as the 28th)."""
    if number >= 2958466 or number != number:
        return number
    # Milliseconds rounded half up, as calamine's integer cast of ms + 0.5 does.
    if number < 1:
        ms = int(number * 86_400_000 + 0.5) if number > 0 else 0
        return (dt.datetime.min + dt.timedelta(milliseconds=ms)).time()
    epoch = _EPOCH_BEFORE_MARCH if number < 60 else _EPOCH
    if number == int(number):
        return (epoch + dt.timedelta(days=number)).date()
    return epoch + dt.timedelta(milliseconds=int(number * 86_400_000 + 0.5))


_EPOCH: Final = dt.datetime(1899, 12, 30)
_EPOCH_BEFORE_MARCH: Final = dt.datetime(1899, 12, 31)
_T: Final = re.compile(rb"<(?:[\w.-]+:)?t\b([^>]*?)(?:/>|>(.*?)</(?:[\w.-]+:)?t>)", re.S)
XML_SPACE: Final = " \t\n\r"
_RPH: Final = re.compile(rb"<(?:[\w.-]+:)?rPh\b.*?</(?:[\w.-]+:)?rPh>", re.S)
_CDATA: Final = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.S)
_ENTITY: Final = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot|apos);")
_NAMED: Final = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_XSTRING: Final = re.compile(r"_x([0-9A-Fa-f]{4})_")

"""Formula, error and rounded-number cells of a worksheet: what a reader of values
does not see (calamine and the streaming reader both give a formula's cached value, an
error cell as empty, and a number cell as the nearest float).

The sheet's XML is first searched for byte patterns, a piece at a time (a few
milliseconds: the usual sheet has none of these cells); only a sheet that may hold one
is parsed, with defusedxml, ``<c>`` by ``<c>``.
"""

from __future__ import annotations

import decimal
import math
import re
import zipfile
import zlib
from pathlib import Path
from typing import IO, Final
from xml.etree.ElementTree import Element, ParseError

from defusedxml import ElementTree as DefusedET

from bulksync.errors import SheetError
from bulksync.sheets.reading import Special


def special_cells(path: Path, sheet_name: str) -> dict[str, Special]:
    """Formula, error and rounded number cells of one worksheet, by ref (``Fields!H14``)."""
    try:
        with zipfile.ZipFile(path) as archive:
            member = _sheet_member(archive, sheet_name)
            if member is None or not _maybe_special(archive, member):
                return {}
            with archive.open(member) as xml:
                return _scan(xml, sheet_name)
    except (
        zipfile.BadZipFile,
        KeyError,
        OSError,
        ParseError,
        ValueError,
        zlib.error,
        EOFError,
    ) as exc:
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

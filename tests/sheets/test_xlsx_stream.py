"""The streaming xlsx reader (issue 13) gives what python-calamine gives, cell for cell.

bulksync reads a workbook's rows with its own streaming reader so that memory stays flat
at 10,000 runs; calamine, which reads a sheet whole, stays the reference. These tests
put the two side by side on workbooks written by xlsxwriter (shared and inline strings),
openpyxl, LibreOffice and Gnumeric, with every kind of value a cell holds.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import python_calamine
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulksync.sheets import Layout, read_sheet
from bulksync.sheets.xlsx_formats import Unsupported
from bulksync.sheets.xlsx_stream import Book
from tests.apps import export, gnumeric_resave, require_gnumeric


def calamine_rows(path: Path, name: str) -> list[list[Any]]:
    """calamine's rows from A1, each cut after its last value, none after the last."""
    sheet = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name(name)
    start = sheet.start
    if start is None:
        return []
    rows = []
    for row in sheet.iter_rows():
        row = [""] * start[1] + list(row)
        while row and row[-1] == "":
            row.pop()
        rows.append(row)
    while rows and not rows[-1]:
        rows.pop()
    return rows


def streamed_rows(path: Path, name: str) -> list[list[Any]]:
    """The streaming reader's rows; an empty row after the last value (one whose cells
    hold only empty text, which calamine leaves out) is not counted."""
    with zipfile.ZipFile(path) as archive:
        rows = [list(row) for row in Book(archive).rows(name)]
    while rows and not rows[-1]:
        rows.pop()
    return rows


def assert_same_rows(path: Path) -> int:
    names = python_calamine.CalamineWorkbook.from_path(str(path)).sheet_names
    cells = 0
    for name in names:
        theirs = calamine_rows(path, name)
        mine = streamed_rows(path, name)
        for number, (a, b) in enumerate(zip(mine, theirs, strict=False), start=1):
            assert a == b, f"{path.name} {name} row {number}: streamed {a!r}, calamine {b!r}"
            assert [type(v) for v in a] == [type(v) for v in b], (name, number, a, b)
        assert len(mine) == len(theirs), (name, len(mine), len(theirs))
        cells += sum(map(len, mine))
    return cells


# Text a cell can hold: XML 1.0's characters, control characters included (xlsxwriter
# writes them as _xHHHH_), whitespace at either end, markup and entities.
texts = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff"),
    max_size=40,
) | st.sampled_from(
    ["", " lead", "trail ", "a<b>&c", "&amp;", "_x000D_", "line\nbreak", "tab\there", "é ü ß 漢字"]
)
values = st.one_of(
    st.none(),
    texts,
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.booleans(),
    st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(9999, 12, 31)),
    st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(9999, 12, 30)),
)
grids = st.lists(st.lists(values, max_size=8), max_size=12)


def write_xlsxwriter(grid: list[list[Any]], path: Path, *, inline: bool) -> None:
    book = xlsxwriter.Workbook(str(path), {"constant_memory": inline})
    sheet = book.add_worksheet("Data")
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for r, row in enumerate(grid):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, dt.datetime):
                sheet.write_datetime(r, c, value, stamp)
            elif isinstance(value, dt.date):
                sheet.write_datetime(r, c, value, date)
            elif isinstance(value, str):
                sheet.write_string(r, c, value)
            else:
                sheet.write(r, c, value)
    book.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(grid=grids, inline=st.booleans())
def test_any_cells_xlsxwriter_writes_stream_as_calamine_reads_them(tmp_path, grid, inline):
    path = tmp_path / "grid.xlsx"
    write_xlsxwriter(grid, path, inline=inline)
    assert_same_rows(path)


openpyxl_texts = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    max_size=30,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    grid=st.lists(
        st.lists(
            st.one_of(st.none(), openpyxl_texts, st.floats(allow_nan=False), st.booleans()),
            max_size=6,
        ),
        max_size=8,
    )
)
def test_any_cells_openpyxl_writes_stream_as_calamine_reads_them(tmp_path, grid):
    book = openpyxl.Workbook()
    sheet = book.active
    for r, row in enumerate(grid, start=1):
        for c, value in enumerate(row, start=1):
            if value is not None:
                sheet.cell(r, c, value)
    path = tmp_path / "grid.xlsx"
    book.save(path)
    assert_same_rows(path)


def test_date_and_time_formats_read_as_calamine_reads_them(tmp_path):
    """Each number in each date or time format calamine knows, Excel's 1900 leap day
    and the last day a date can be included: date, datetime or time by the number."""
    book = openpyxl.Workbook()
    sheet = book.active
    numbers = [45000, 45000.5, 0.5, 0, -1, 1, 59, 60, 61, 2958465, 2958466, 1e-9, 45000.9999999]
    formats = [
        "yyyy-mm-dd",
        "yyyy-mm-dd hh:mm",
        "hh:mm",
        "mm:ss",
        "General",
        "d-mmm",
        "mm-dd-yy",
        '"TRUE";"TRUE";"FALSE"',
        "@",
        "[$-409]mmm d, yyyy",
        "0.00_);(0.00)",
    ]
    for r, number in enumerate(numbers, start=1):
        for c, fmt in enumerate(formats, start=1):
            sheet.cell(r, c, number).number_format = fmt
    path = tmp_path / "dates.xlsx"
    book.save(path)
    assert assert_same_rows(path) > 100


def test_a_duration_format_or_the_1904_calendar_is_left_to_calamine(tmp_path):
    book = openpyxl.Workbook()
    book.active["A1"] = 1.5
    book.active["A1"].number_format = "[h]:mm:ss"
    path = tmp_path / "duration.xlsx"
    book.save(path)
    with zipfile.ZipFile(path) as archive, pytest.raises(Unsupported):
        Book(archive)
    book = openpyxl.Workbook()
    book.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    book.active["A1"] = dt.date(2024, 5, 1)
    path = tmp_path / "1904.xlsx"
    book.save(path)
    with zipfile.ZipFile(path) as archive, pytest.raises(Unsupported):
        Book(archive)


def test_rows_the_xml_leaves_out_are_empty_and_trailing_empty_rows_are_not_read(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["C2"] = "x"
    sheet["A5"] = 1
    sheet["B9"].number_format = "@"  # a styled empty cell after the last value
    path = tmp_path / "gaps.xlsx"
    book.save(path)
    assert streamed_rows(path, "Sheet") == [[], ["", "", "x"], [], [], [1.0]]
    assert_same_rows(path)


@pytest.mark.parametrize("layout", list(Layout))
def test_an_export_streams_as_calamine_reads_it(bulk, tmp_path, layout):
    path = export(
        bulk, f"{layout.value}.xlsx", "--template", "tpl_onboarding", "--layout", layout.value
    )
    assert assert_same_rows(path) > 100


@pytest.mark.parametrize("layout", list(Layout))
def test_an_export_resaved_by_gnumeric_streams_as_calamine_reads_it(bulk, tmp_path, layout):
    require_gnumeric()
    path = export(bulk, "e.xlsx", "--template", "tpl_onboarding", "--layout", layout.value)
    saved = tmp_path / "gnumeric.xlsx"
    gnumeric_resave(path, saved)
    assert assert_same_rows(saved) > 100
    assert read_sheet(saved, only_edited=True).cells == ()


@pytest.mark.parametrize("layout", list(Layout))
def test_an_export_resaved_by_libreoffice_streams_as_calamine_reads_it(
    bulk,
    libreoffice,
    tmp_path,
    layout,
):
    path = export(bulk, "e.xlsx", "--template", "tpl_onboarding", "--layout", layout.value)
    saved = tmp_path / "lo.xlsx"
    libreoffice.edit(path, [], {saved: "xlsx"})
    assert assert_same_rows(saved) > 100
    assert read_sheet(saved, only_edited=True).cells == ()


ODD_CELLS = [
    # whitespace: kept with xml:space="preserve", else cut at both ends (calamine's way)
    '<c r="A1" t="inlineStr"><is><t> a </t></is></c>',
    '<c r="B1" t="inlineStr"><is><t xml:space="preserve"> a </t></is></c>',
    '<c r="C1" t="inlineStr"><is><t>&#10;a&#13;</t></is></c>',
    '<c r="D1" t="inlineStr"><is><t>_x000D_a</t></is></c>',
    '<c r="E1" t="inlineStr"><is><t>\u00a0a\u3000</t></is></c>',
    # rich text runs, a phonetic reading, an empty run
    '<c r="A2" t="inlineStr"><is><r><rPr><b/></rPr><t>bo</t></r><r><t xml:space="preserve">'
    ' ld</t></r><r><t/></r><rPh sb="0" eb="1"><t>ふり</t></rPh></is></c>',
    # attributes in another order, single quotes, an attribute no writer here uses
    "<c t='inlineStr' r='A3'><is><t>quoted</t></is></c>",
    '<c r="B3" t="b" s="0"><v>1</v></c>',
    '<c r="C3" cm="1"><v>7</v></c>',
    # formulas with cached values, an error, an empty value
    '<c r="A4"><f>1+1</f><v>2</v></c>',
    '<c r="B4" t="str"><f>"a"&amp;"b"</f><v>ab</v></c>',
    '<c r="C4" t="e"><v>#N/A</v></c>',
    '<c r="D4"><v></v></c>',
    '<c r="E4" t="b"><v>0</v></c>',
    # markup inside a row: a comment, CDATA
    '<!-- a note --><c r="A5" t="inlineStr"><is><t><![CDATA[<raw> & text]]></t></is></c>',
]


def odd_workbook(tmp_path: Path, rows: str, *, prefix: str = "") -> Path:
    """An openpyxl workbook whose sheet XML is replaced by ``rows`` (the elements
    written with ``prefix``, the main namespace's prefix, if any)."""
    import re

    book = openpyxl.Workbook()
    book.active["A1"] = "x"
    plain = tmp_path / "plain.xlsx"
    book.save(plain)
    path = tmp_path / f"odd{prefix}.xlsx"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "xl/worksheets/sheet1.xml":
                xml = data.decode()
                xml = re.sub(
                    r"<sheetData>.*</sheetData>", f"<sheetData>{rows}</sheetData>", xml, flags=re.S
                )
                if prefix:
                    xml = re.sub(r"<(/?)(?!\?)(?!!)([A-Za-z])", rf"<\1{prefix}:\2", xml)
                    xml = xml.replace('xmlns="', f'xmlns:{prefix}="', 1)
                data = xml.encode()
            target.writestr(name, data)
    return path


@pytest.mark.parametrize("prefix", ["", "x"])
def test_cells_of_odd_shapes_stream_as_calamine_reads_them(tmp_path, prefix):
    by_row: dict[int, list[str]] = {}
    for cell in ODD_CELLS:
        number = int("".join(ch for ch in cell.split("r=", 1)[1][:6] if ch.isdigit()))
        by_row.setdefault(number, []).append(cell)
    rows = "".join(f'<row r="{n}">{"".join(cells)}</row>' for n, cells in by_row.items())
    rows += "<row><c><v>8</v></c><c><v>9</v></c></row>"  # no r: the next row, the next column
    path = odd_workbook(tmp_path, rows, prefix=prefix)
    assert assert_same_rows(path) >= len(ODD_CELLS)


@pytest.mark.parametrize("layout", list(Layout))
def test_an_export_saved_on_the_1904_calendar_is_read_by_calamine_as_no_change(
    bulk, tmp_path, layout
):
    """Mac Excel's old default calendar: the streaming reader leaves the workbook to
    calamine, whose dates are right on either calendar."""
    from openpyxl.utils.datetime import CALENDAR_MAC_1904

    path = export(bulk, "e.xlsx", "--template", "tpl_onboarding", "--layout", layout.value)
    book = openpyxl.load_workbook(path)
    book.epoch = CALENDAR_MAC_1904
    saved = tmp_path / "mac.xlsx"
    book.save(saved)
    with zipfile.ZipFile(saved) as archive, pytest.raises(Unsupported):
        Book(archive)
    assert read_sheet(saved, only_edited=True).cells == ()


def test_a_worksheet_declared_in_another_encoding_is_read_by_calamine(bulk, tmp_path):
    """The streaming reader takes UTF-8 only; a worksheet that declares another encoding
    (found only once its XML is read) is read by calamine instead, with no traceback."""
    path = export(bulk, "e.xlsx", "--template", "tpl_onboarding")
    latin = tmp_path / "latin.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(latin, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.startswith("xl/worksheets/"):
                data = data.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"', 1)
            target.writestr(item, data)
    with zipfile.ZipFile(latin) as archive, pytest.raises(Unsupported):
        list(Book(archive).rows("Runs"))
    sheet = read_sheet(latin, only_edited=True)  # calamine's reading, whatever it finds
    assert sheet.meta.sheet == "Runs"


def test_shared_strings_with_cdata_stream_as_calamine_reads_them(tmp_path):
    """CDATA in the shared strings (no writer here makes it; an XML tool may): its text
    is as written, a & in it included, and cut at both ends like any <t> text."""
    plain = tmp_path / "sst.xlsx"
    book = xlsxwriter.Workbook(str(plain))
    sheet = book.add_worksheet("Sheet")
    for ref, text in (("A1", "x"), ("A2", "y"), ("A3", "z")):
        sheet.write(ref, text)
    book.close()
    items = {
        "<si><t>x</t></si>": "<si><t><![CDATA[ a & <b> ]]></t></si>",
        "<si><t>y</t></si>": "<si><t>pre <![CDATA[&amp;]]> &amp; post</t></si>",
        "<si><t>z</t></si>": "<si><r><t>one</t></r><r><t><![CDATA[ two]]></t></r></si>",
    }
    path = tmp_path / "cdata.xlsx"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "xl/sharedStrings.xml":
                for old, new in items.items():
                    assert old.encode() in data
                    data = data.replace(old.encode(), new.encode())
            target.writestr(name, data)
    assert streamed_rows(path, "Sheet") == calamine_rows(path, "Sheet")
    assert streamed_rows(path, "Sheet")[0] == ["a & <b>"]

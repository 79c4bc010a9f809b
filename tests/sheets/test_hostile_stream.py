"""Hostile inputs for the streaming xlsx reader (issue 13): workbooks it reads otherwise
than python-calamine, in ways a person importing them would notice.

Each test is a finding of a hostile round, most severe first (an edit silently dropped,
then a value read wrongly, then a crash), each fixed since.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
import python_calamine
import xlsxwriter

from bulksync.errors import SheetError
from bulksync.sheets import read_sheet
from bulksync.sheets.xlsx_formats import Damaged, unescape
from tests.apps import export
from tests.sheets.test_xlsx_stream import calamine_rows, odd_workbook, streamed_rows


def rezip(source: Path, target: Path, change: Callable[[str, bytes], bytes | None]) -> Path:
    """A copy of the workbook with some members' bytes changed (None: kept)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for name in old.namelist():
            data = old.read(name)
            changed = change(name, data)
            new.writestr(name, data if changed is None else changed)
    return target


def edit_cell(path: Path, target: Path, ref: str, value: object) -> None:
    """One cell of the Runs sheet edited with openpyxl (which keeps inline strings)."""
    book = openpyxl.load_workbook(path)
    book["Runs"][ref] = value
    book.save(target)


def with_prefix(name: str, data: bytes) -> bytes | None:
    """A worksheet written with a prefix for the main namespace (``<x:c r="A1">``), as
    the Open XML SDK writes when a tool builds its elements that way."""
    if not name.startswith("xl/worksheets/"):
        return None
    xml = re.sub(rb"<(/?)(?![?!])([A-Za-z])", rb"<\1x:\2", data)
    return xml.replace(b'xmlns="', b'xmlns:x="', 1)


def style_first(name: str, data: bytes) -> bytes | None:
    """A worksheet whose cells give their style before their reference
    (``<c s="4" r="A1">``): the attributes in another order, the same XML."""
    if not name.startswith("xl/worksheets/"):
        return None
    return re.sub(rb'<c r="([A-Z]+\d+)" s="(\d+)"', rb'<c s="\2" r="\1"', data)


@pytest.mark.parametrize("shape", [with_prefix, style_first], ids=["x_prefix", "s_before_r"])
def test_an_edit_in_a_workbook_whose_cells_are_spelled_otherwise_is_seen(bulk, tmp_path, shape):
    path = export(bulk, "runs.xlsx", "--template", "tpl_onboarding", "--layout", "runs")
    edited = tmp_path / "edited.xlsx"
    edit_cell(path, edited, "H4", "Noah Mueller")
    plain = read_sheet(edited, only_edited=True)
    assert [(c.ref, c.raw) for c in plain.cells] == [("Runs!H4", "Noah Mueller")]
    assert calamine_rows(rezip(edited, tmp_path / "shaped.xlsx", shape), "Runs")[3][7] == (
        "Noah Mueller"
    )
    sheet = read_sheet(tmp_path / "shaped.xlsx", only_edited=True)
    assert [(c.ref, c.raw) for c in sheet.cells] == [("Runs!H4", "Noah Mueller")]
    assert sheet.row_problems == ()


def test_an_edit_whose_text_holds_what_looks_like_a_style_attribute_is_seen(bulk, tmp_path):
    path = export(bulk, "runs.xlsx", "--template", "tpl_onboarding", "--layout", "runs")
    edited = tmp_path / "edited.xlsx"
    # openpyxl keeps the export's inline strings: the text is in the row's own bytes.
    edit_cell(path, edited, "H4", 'Noah s="1" Müller')
    assert calamine_rows(edited, "Runs")[3][7] == 'Noah s="1" Müller'
    sheet = read_sheet(edited, only_edited=True)
    assert [(c.ref, c.raw) for c in sheet.cells] == [("Runs!H4", 'Noah s="1" Müller')]


def replace_in(member: str, old: bytes, new: bytes) -> Callable[[str, bytes], bytes | None]:
    """A change to one part of the workbook: ``old`` (which must be there) made ``new``."""

    def change(name: str, data: bytes) -> bytes | None:
        if name != member:
            return None
        assert old in data, old
        return data.replace(old, new, 1)

    return change


def replace_in_runs(old: bytes, new: bytes) -> Callable[[str, bytes], bytes | None]:
    """A change to the Runs sheet's XML (an openpyxl save of a runs export: sheet2)."""
    return replace_in("xl/worksheets/sheet2.xml", old, new)


H4 = b'<c r="H4" s="22" t="inlineStr"><is><t>Noah Mueller</t></is></c>'


@pytest.fixture
def edited_runs(bulk, tmp_path) -> Path:
    """A runs export with Runs!H4 (run_onb_011's legal name) edited by openpyxl."""
    path = export(bulk, "runs.xlsx", "--template", "tpl_onboarding", "--layout", "runs")
    edited = tmp_path / "edited.xlsx"
    edit_cell(path, edited, "H4", "Noah Mueller")
    assert H4 in zipfile.ZipFile(edited).read("xl/worksheets/sheet2.xml")
    return edited


def test_a_cell_pointing_past_the_shared_strings_does_not_clear_the_field(
    bulk, edited_runs, tmp_path
):
    broken = rezip(
        edited_runs,
        tmp_path / "broken.xlsx",
        replace_in_runs(H4, b'<c r="H4" s="22" t="s"><v>7</v></c>'),
    )
    with pytest.raises(python_calamine.CalamineError):
        calamine_rows(broken, "Runs")
    try:
        sheet = read_sheet(broken, only_edited=True)
    except SheetError:
        return  # refused, as calamine does: nothing is cleared
    assert ("Runs!H4", None) not in [(c.ref, c.raw) for c in sheet.cells]


def test_a_boolean_saved_as_true_reads_as_calamine_reads_it(tmp_path):
    # The common cell shape and the general path read <v>true</v> alike (it was False
    # in a row read whole, True in a cell read alone).
    path = odd_workbook(tmp_path, '<row r="1"><c r="A1" t="b"><v>true</v></c></row>')
    assert streamed_rows(path, "Sheet") == calamine_rows(path, "Sheet") == [[True]]


def test_iso_date_cells_openpyxl_writes_read_as_calamine_reads_them(tmp_path):
    book = openpyxl.Workbook()
    book.iso_dates = True  # <c t="d"><v>2024-03-01</v></c>
    book.active.append([dt.date(2024, 3, 1), dt.datetime(2024, 3, 1, 10, 30), dt.time(10, 30)])
    path = tmp_path / "iso.xlsx"
    book.save(path)
    expected = [[dt.date(2024, 3, 1), dt.datetime(2024, 3, 1, 10, 30), dt.time(10, 30)]]
    assert calamine_rows(path, "Sheet") == expected
    mine = streamed_rows(path, "Sheet")
    assert mine == expected and [type(v) for v in mine[0]] == [type(v) for v in expected[0]]


def test_cells_out_of_column_order_keep_every_value(tmp_path):
    rows = '<row r="1"><c r="C1"><v>3</v></c><c r="A1"><v>1</v></c></row>'
    path = odd_workbook(tmp_path, rows)
    assert calamine_rows(path, "Sheet") == [[1.0, "", 3.0]]
    assert streamed_rows(path, "Sheet") == [[1.0, "", 3.0]]


@pytest.mark.parametrize(
    "rows",
    [
        '<row><c r="A1"><v>1</v></c></row><row><c r="A3"><v>3</v></c></row>',
        '<row r="3"><c r="A3"><v>3</v></c></row><row r="1"><c r="A1"><v>1</v></c></row>',
    ],
    ids=["no_r_with_a_gap", "out_of_order"],
)
def test_rows_are_placed_by_their_cells_references(tmp_path, rows):
    """A row without ``r=`` is where its cells say; rows out of order (no writer saves
    them so) are refused as damaged, never read in the wrong places."""
    path = odd_workbook(tmp_path, rows)
    assert calamine_rows(path, "Sheet") == [[1.0], [], [3.0]]
    if rows.startswith('<row r="3"'):  # out of order
        with pytest.raises(Damaged):
            streamed_rows(path, "Sheet")
        return
    assert streamed_rows(path, "Sheet") == [[1.0], [], [3.0]]


def damaged_member(source: Path, target: Path) -> Path:
    """The workbook with 50 bytes of the Runs sheet's deflated XML zeroed: the zip's
    directory is whole, the member does not inflate (a damaged download or disk)."""
    data = bytearray(source.read_bytes())
    with zipfile.ZipFile(source) as archive:
        info = archive.getinfo("xl/worksheets/sheet2.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 2000
    data[start : start + 50] = bytes(50)
    target.write_bytes(bytes(data))
    return target


@pytest.mark.parametrize("damage", ["char_reference", "entity", "nul", "surrogate", "deflate"])
def test_a_damaged_workbook_is_a_sheet_error_not_a_crash(bulk, edited_runs, tmp_path, damage):
    target = tmp_path / f"{damage}.xlsx"
    if damage == "deflate":
        damaged_member(edited_runs, target)
    else:
        bad = {
            "char_reference": b"&#99999999999;",
            "entity": b"&bogus;",
            "nul": b"&#x0;",  # read as a NUL by the cell's own decoding once
            "surrogate": b"&#xD800;",  # once a traceback writing the report
        }[damage]
        rezip(edited_runs, target, replace_in_runs(b"<t>Noah Mueller</t>", b"<t>Noah %s</t>" % bad))
    with pytest.raises(python_calamine.CalamineError):
        calamine_rows(target, "Runs")
    with pytest.raises(SheetError):
        read_sheet(target, only_edited=True)
    result = bulk("import", str(target), "--dry-run", "--json")
    assert "Internal error" not in result.output


@pytest.mark.parametrize(
    "text",
    [
        *("Noah &bogus;", "Noah & Co", "&#99999999999;", "&#x110000;"),
        *("a&#x0;b", "&#1;", "&#xD800;", "&#xFFFE;", "&#65535;"),
    ],
)
def test_a_cell_decoded_on_its_own_refuses_what_xml_refuses(text):
    """A cell decoded alone (of a row with edits, only the cells unlike the hidden copy's
    are) is held to the rules the whole row's parse follows: a bare & or a reference
    to no character is damage, never read as the letters."""
    with pytest.raises(Damaged):
        unescape(text)


def test_character_references_still_read_as_their_characters():
    written = "Fish &amp; Chips &lt;3 &#233;t&#xE9; &quot;q&apos; &#9;&#x1F600;&#xFFFD;"
    assert unescape(written) == "Fish & Chips <3 été \"q' \t\U0001f600\ufffd"


def test_a_worksheet_cut_short_is_refused(edited_runs, tmp_path):
    def cut(name: str, data: bytes) -> bytes | None:
        return data[: len(data) // 2] if name == "xl/worksheets/sheet2.xml" else None

    target = rezip(edited_runs, tmp_path / "cut.xlsx", cut)
    with pytest.raises(python_calamine.CalamineError):
        calamine_rows(target, "Runs")
    with pytest.raises(SheetError):
        read_sheet(target, only_edited=True)


def shared_strings_as(old: bytes, new: bytes) -> Callable[[str, bytes], bytes | None]:
    return replace_in("xl/sharedStrings.xml", old, new)


def prefixed_strings(name: str, data: bytes) -> bytes | None:
    """sharedStrings.xml with a prefix for the main namespace (``<x:si><x:t>``)."""
    if name != "xl/sharedStrings.xml":
        return None
    xml = re.sub(rb"<(/?)(?![?!])([A-Za-z])", rb"<\1x:\2", data)
    return xml.replace(b'xmlns="', b'xmlns:x="', 1)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            shared_strings_as(b"<si><t>alpha</t></si>", b"<si/>"),
            id="empty_item",
        ),
        pytest.param(
            prefixed_strings,
            id="x_prefix",
        ),
    ],
)
def test_shared_strings_read_as_calamine_reads_them(tmp_path, change):
    book = xlsxwriter.Workbook(tmp_path / "s.xlsx")
    sheet = book.add_worksheet("S")
    sheet.write_row("A1", ["alpha", "beta", " gamma "])
    book.close()
    path = rezip(tmp_path / "s.xlsx", tmp_path / "changed.xlsx", change)
    assert streamed_rows(path, "S") == calamine_rows(path, "S")


def test_a_missing_shared_string_is_refused_naming_its_cell(bulk, edited_runs, tmp_path):
    broken = rezip(
        edited_runs,
        tmp_path / "broken.xlsx",
        replace_in_runs(H4, b'<c r="H4" s="22" t="s"><v>7</v></c>'),
    )
    with pytest.raises(SheetError) as refused:
        read_sheet(broken, only_edited=True)
    assert "Runs!H4" in str(refused.value) and "save it again" in str(refused.value)

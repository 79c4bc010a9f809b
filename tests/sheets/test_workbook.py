"""The workbook an xlsx export writes, as openpyxl reads it: formats, protection, sheet
names, frozen panes, the highlighting rules, the About sheet (issue 11)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import openpyxl
import pytest

from bulksync.codecs import BooleanCodec, TextCodec, codec_for
from bulksync.codecs.checkbox import BOOLEAN_FORMAT
from bulksync.errors import SheetError
from bulksync.fetch import fetch_snapshot
from bulksync.sandbox import open_sandbox, sandbox_client
from bulksync.sheets import Layout, read_sheet, write_export
from bulksync.sheets.xlsx import BASE_SHEET, LISTS_SHEET, META_SHEET
from bulksync.snapshot import Snapshot

HIDDEN = (LISTS_SHEET, BASE_SHEET, META_SHEET)


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory) -> dict[Layout, Snapshot]:
    sandbox = open_sandbox(tmp_path_factory.mktemp("sandbox") / "s.db")
    with sandbox_client(sandbox) as client:
        found = {
            layout: fetch_snapshot(
                client, template_id="tpl_onboarding", status=None, with_template=True
            )
            for layout in Layout
        }
    sandbox.store.close()
    return found


@pytest.fixture(scope="module", params=list(Layout))
def exported(request, snapshots, tmp_path_factory) -> tuple[Layout, Path]:
    layout = request.param
    path = tmp_path_factory.mktemp("export") / f"onb-{layout.value}.xlsx"
    write_export(snapshots[layout], path, layout=layout)
    return layout, path


def value_cells(layout: Layout, sheet):
    """(cell, kind) of every value cell of the data sheet."""
    rows = list(sheet.iter_rows())
    if layout is Layout.TASKS:
        header = [c.value for c in rows[0]]
        type_col, value_col = header.index("Type"), header.index("Value")
        kinds = {codec_for(k).label: k for k in ("completed", *_kinds())}
        return [(row[value_col], kinds[row[type_col].value]) for row in rows[1:]]
    keys = [c.value for c in rows[1]]
    return [
        (row[c], None)  # the runs layout: the kind is found by the column's format
        for row in rows[3:]
        for c, key in enumerate(keys)
        if key and ":" in key and row[c].value != "n/a"
    ]


def _kinds() -> tuple[str, ...]:
    from bulksync.codecs import CODECS

    return tuple(CODECS)


def test_text_cells_are_formatted_as_text_and_hold_strings(exported):
    """A spreadsheet app keeps what is typed into a Text cell (``007``, an 18-digit
    reference) as text; in a General cell it makes a number of it."""
    layout, path = exported
    sheet = openpyxl.load_workbook(path)["Fields" if layout is Layout.TASKS else "Runs"]
    cells = value_cells(layout, sheet)
    texts = booleans = 0
    for cell, kind in cells:
        if kind is None:
            continue
        codec = codec_for(kind)
        if isinstance(codec, TextCodec):
            texts += 1
            assert cell.number_format == "@", (cell.coordinate, kind)
            assert cell.value is None or cell.data_type == "s", (cell.coordinate, cell.value)
        elif isinstance(codec, BooleanCodec):
            booleans += 1
            assert cell.number_format == BOOLEAN_FORMAT, (cell.coordinate, kind)
    if layout is Layout.TASKS:
        assert texts > 20 and booleans > 20
    else:
        formats = {cell.number_format for cell, _ in cells}
        assert {"@", BOOLEAN_FORMAT} <= formats
        # every string value cell is a Text cell
        assert all(c.number_format == "@" for c, _ in cells if isinstance(c.value, str))


def test_multi_line_values_wrap_and_their_row_grows(exported):
    layout, path = exported
    sheet = openpyxl.load_workbook(path)["Fields" if layout is Layout.TASKS else "Runs"]
    multi = [c for c, _ in value_cells(layout, sheet) if "\n" in str(c.value or "")]
    assert multi
    for cell in multi:
        assert cell.alignment.wrap_text, cell.coordinate
        assert (sheet.row_dimensions[cell.row].height or 0) >= 30


def test_the_data_sheet_is_not_protected_by_default_and_is_with_protect(snapshots, tmp_path):
    """LibreOffice and Excel refuse to sort a protected sheet with locked cells."""
    for protect in (False, True):
        path = tmp_path / f"p{protect}.xlsx"
        write_export(snapshots[Layout.RUNS], path, layout=Layout.RUNS, protect=protect)
        book = openpyxl.load_workbook(path)
        assert book["Runs"].protection.sheet is protect
        about = " ".join(str(c.value) for c in book["About"]["A"])
        assert ("refuse to sort" in about) is protect
        assert ("Sort and filter as you like" in about) is not protect
        # read-only cells stay grey, locked (for --protect) and say so when selected
        messages = [v.prompt or "" for v in book["Runs"].data_validations.dataValidation]
        assert any(m.startswith("read-only: run completed; bulksync refuses") for m in messages)


def test_protect_is_refused_for_a_csv(snapshots, tmp_path):
    with pytest.raises(SheetError, match=r"--protect is for \.xlsx"):
        write_export(snapshots[Layout.TASKS], tmp_path / "x.csv", protect=True)


def test_hidden_sheets_say_do_not_edit_are_protected_and_explained(exported):
    layout, path = exported
    book = openpyxl.load_workbook(path)
    about = " ".join(str(c.value) for c in book["About"]["A"])
    for name in HIDDEN:
        assert "do not edit" in name and len(name) <= 31 and not set("[]:*?/\\") & set(name)
        assert book[name].sheet_state == "hidden"
        assert book[name].protection.sheet
        assert f"{name}:" in about
    assert book.sheetnames[:2] == ["About", "Fields" if layout is Layout.TASKS else "Runs"]


def test_the_context_columns_stay_in_view(exported):
    layout, path = exported
    book = openpyxl.load_workbook(path)
    if layout is Layout.TASKS:
        sheet = book["Fields"]
        # header row, and Run, Section, Task and Field
        assert sheet.freeze_panes == "E2"
        assert [c.value for c in sheet[1][:4]] == ["Run", "Section", "Task", "Field"]
    else:
        assert book["Runs"].freeze_panes == "B4"


def test_highlight_rules_find_the_base_by_row_key_and_never_compare_cells_as_they_are(exported):
    """A rule comparing boolean cells (``A100<>B100``) crashes LibreOffice 7.4's printing;
    a rule comparing by address marks the wrong cells after a sort."""
    layout, path = exported
    sheet = openpyxl.load_workbook(path)["Fields" if layout is Layout.TASKS else "Runs"]
    header_row = 1 if layout is Layout.TASKS else 2
    titles = [c.value for c in sheet[header_row]]
    key = titles.index("bulksync row" if layout is Layout.TASKS else "bulksync_row")
    key_letter = openpyxl.utils.get_column_letter(key + 1)
    assert sheet.column_dimensions[key_letter].hidden
    first = header_row + 1 if layout is Layout.TASKS else 4
    assert sheet.cell(first, key + 1).value == first  # the row's number at export
    rules = [
        (str(ranges.sqref), rule.formula[0])
        for ranges, found in sheet.conditional_formatting._cf_rules.items()
        for rule in found
    ]
    assert rules
    for ranges, formula in rules:
        top = ranges.split(":")[0]
        assert f'EXACT({top}&"",' in formula, formula
        assert f"INDEX('{BASE_SHEET}'!" in formula and f',${key_letter}{first})&""' in formula
        assert not re.search(r"[A-Z]+\$?\d+\s*(<>|=)\s*'?[A-Z_]", formula), formula
    assert sheet.auto_filter.ref.split(":")[1].startswith(key_letter)


def test_a_renamed_data_sheet_says_rename_it_back(exported, tmp_path):
    layout, path = exported
    name = "Fields" if layout is Layout.TASKS else "Runs"
    book = openpyxl.load_workbook(path)
    book[name].title = "My edits"
    renamed = tmp_path / f"renamed-{layout.value}.xlsx"
    book.save(renamed)
    with pytest.raises(SheetError, match=f"Rename it back to '{name}'"):
        read_sheet(renamed)


def test_a_file_of_the_previous_sheet_format_is_refused_with_export_again(exported, tmp_path):
    """Format 3 named its hidden sheets _lists, _base, _bulksync."""
    _, path = exported
    book = openpyxl.load_workbook(path)
    meta = book[META_SHEET]
    raw = json.loads(meta["B1"].value)
    meta["B1"].value = json.dumps(raw | {"format_version": 3})
    for name in HIDDEN:
        book[name].title = name.split(" ")[0]
    old = tmp_path / "old.xlsx"
    book.save(old)
    with pytest.raises(SheetError, match=r"sheet format 3.*Export the runs again"):
        read_sheet(old)


def test_about_lines_are_not_cut_at_the_column_edge(exported):
    _, path = exported
    sheet = openpyxl.load_workbook(path)["About"]
    width = sheet.column_dimensions["A"].width
    for (cell,) in sheet.iter_rows(min_row=2):
        text = str(cell.value or "")
        if len(text) > width * 0.9:
            assert cell.alignment.wrap_text
            lines = (sheet.row_dimensions[cell.row].height or 15) / 15
            assert lines * width * 0.9 >= len(text), (cell.row, text)


def test_a_printed_export_keeps_its_headers_and_fits_its_about_page(exported):
    """Printing (issue 11): the About sheet fits the page's width, and every page of the
    data sheet repeats the header rows (and, in the wide runs layout, the run's title)."""
    layout, path = exported
    book = openpyxl.load_workbook(path)
    about = book["About"]
    assert about.sheet_properties.pageSetUpPr.fitToPage
    # fitToWidth 1 is the file format's default, so a writer may leave it out (None)
    assert (about.page_setup.fitToWidth or 1, about.page_setup.fitToHeight) == (1, 0)
    data = book["Fields" if layout is Layout.TASKS else "Runs"]
    assert data.page_setup.orientation == "landscape"
    if layout is Layout.TASKS:
        assert data.print_title_rows == "$1:$1"
        assert data.sheet_properties.pageSetUpPr.fitToPage
        assert (data.page_setup.fitToWidth or 1, data.page_setup.fitToHeight) == (1, 0)
    else:
        assert data.print_title_rows == "$1:$3"
        assert data.print_title_cols == "$A:$A"

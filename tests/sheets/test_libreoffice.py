"""What LibreOffice makes of an exported workbook: dropdowns, locks, dates, highlighting.

LibreOffice opens the xlsx headless and saves it as flat ODF (one XML file); the test
reads what LibreOffice understood from that XML, so it checks the workbook as an app
sees it, not as bulksync wrote it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import openpyxl
import pytest
from defusedxml import ElementTree

from bulksync.fetch import fetch_snapshot
from bulksync.sandbox import open_sandbox, sandbox_client
from bulksync.sheets import Layout, write_export
from tests.apps import soffice_to_pdf

pytestmark = pytest.mark.skipif(
    shutil.which("soffice") is None, reason="LibreOffice is not installed (CI installs it)"
)

NS = {
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "calcext": "urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0",
}


def q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{NS[prefix]}}}{local}"


def as_libreoffice_sees_it(path: Path, tmp_path: Path):
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{tmp_path}/lo",
            "--headless",
            "--convert-to",
            "fods",
            "--outdir",
            str(tmp_path / "fods"),
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return ElementTree.parse(tmp_path / "fods" / (path.stem + ".fods")).getroot()


def cells(table):
    """(row, col) → (text, value type, style name, validation name), repeats expanded."""
    out = {}
    for r, row in enumerate(table.iter(q("table:table-row"))):
        c = 0
        for cell in row:
            if cell.tag not in (q("table:table-cell"), q("table:covered-table-cell")):
                continue
            repeat = int(cell.get(q("table:number-columns-repeated"), "1"))
            text = "\n".join("".join(p.itertext()) for p in cell.findall(q("text:p")))
            for _ in range(min(repeat, 200)):
                out[(r, c)] = (
                    text,
                    cell.get(q("office:value-type")),
                    cell.get(q("table:style-name")),
                    cell.get(q("table:content-validation-name")),
                )
                c += 1
    return out


def test_libreoffice_sees_dropdowns_locks_dates_and_highlighting(tmp_path):
    sandbox = open_sandbox(tmp_path / "s.db")
    with sandbox_client(sandbox) as client:
        snapshot = fetch_snapshot(client, template_id="tpl_onboarding", with_template=True)
    sandbox.store.close()
    path = tmp_path / "onb.xlsx"
    write_export(snapshot, path, layout=Layout.RUNS)
    root = as_libreoffice_sees_it(path, tmp_path)

    unlocked_styles = {
        style.get(q("style:name"))
        for style in root.iter(q("style:style"))
        for props in style.iter(q("style:table-cell-properties"))
        if props.get(q("style:cell-protect")) == "none"
    }
    validations = {
        v.get(q("table:name")): v.get(q("table:condition")) or ""
        for v in root.iter(q("table:content-validation"))
    }
    messages = {
        v.get(q("table:name")): "".join(v.itertext())
        for v in root.iter(q("table:content-validation"))
    }
    tables = {t.get(q("table:name")): t for t in root.iter(q("table:table"))}
    runs = tables["Runs"]
    assert runs.get(q("table:protected")) is None  # not protected: it can be sorted
    grid = cells(runs)
    keys = {c: text for (r, c), (text, *_) in grid.items() if r == 1}
    column = {key: c for c, key in keys.items()}
    rows = [r for (r, c), v in grid.items() if c == column["run_id"] and r >= 3 and v[0]]
    assert len(rows) == len(snapshot.runs)

    def cell(row: int, key: str):
        return grid[(row, column[key])]

    for row in rows:
        # context and ids: locked
        assert cell(row, "run")[2] not in unlocked_styles
        assert cell(row, "run_id")[2] not in unlocked_styles
        status = cell(row, "status")[0]
        dept = cell(row, "tt_onb_dept:el_onb_dept")
        start = cell(row, "tt_onb_dept:el_onb_start")
        done = cell(row, "tt_onb_welcome:completed")
        if status == "completed":
            # read-only: grey, locked (for --protect), and an input message saying so
            assert dept[2] not in unlocked_styles
            assert "read-only" in messages[dept[3]]
            continue
        # editable values: unlocked, with their dropdown / TRUE-FALSE / date validation
        assert dept[2] in unlocked_styles
        assert (
            "_lists" in validations[dept[3]] and "cell-content-is-in-list" in validations[dept[3]]
        )
        assert "TRUE" in validations[done[3]] and "FALSE" in validations[done[3]]
        assert done[0] in ("TRUE", "FALSE")  # shown as TRUE/FALSE (LibreOffice: a number)
        assert "cell-content-is-date" in validations[start[3]]
        if start[0]:
            assert start[1] == "date" and len(start[0]) == 10 and start[0][4] == "-"
    # the dropdown's options are on the hidden list sheet
    lists = cells(tables["_lists (do not edit)"])
    assert "Recherche & Développement" in {v[0] for v in lists.values()}
    # highlighting: a conditional format per value column, comparing with the mirror
    conditions = [c.get(q("calcext:value")) or "" for c in runs.iter(q("calcext:condition"))]
    assert conditions and all("EXACT" in c and "_base" in c for c in conditions)


def pdf_of(path: Path, tmp_path: Path) -> bytes:
    """The PDF LibreOffice prints of a workbook, its page streams inflated."""
    soffice_to_pdf(path, tmp_path / "pdf").check_returncode()
    data = (tmp_path / "pdf" / f"{path.stem}.pdf").read_bytes()
    pages = b""
    for stream in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.S):
        with contextlib.suppress(zlib.error):
            pages += zlib.decompress(stream[1])
    return pages


EDITED_FILL = b"1 0.9019607843 0.6 rg"
"""The edited cells' fill (#FFE699) as LibreOffice's PDF sets it."""


def test_edits_are_marked_by_row_id_after_a_sort_as_libreoffice_prints_them(tmp_path):
    """Two rows swapped (a sort moves whole rows, hidden columns too) and one value
    edited: LibreOffice marks that one cell, not the swapped rows' values."""
    sandbox = open_sandbox(tmp_path / "s.db")
    with sandbox_client(sandbox) as client:
        snapshot = fetch_snapshot(client, run_ids=["run_onb_001"])
    sandbox.store.close()
    path = tmp_path / "one.xlsx"
    write_export(snapshot, path, layout=Layout.TASKS)
    assert pdf_of(path, tmp_path).count(EDITED_FILL) == 0
    book = openpyxl.load_workbook(path)
    sheet = book["Fields"]
    header = [c.value for c in sheet[1]]
    value = header.index("Value") + 1
    rows = {sheet.cell(r, 4).value: r for r in range(2, 20)}
    a, b = rows["Legal name"], rows["Department"]
    assert sheet.cell(a, value).value != sheet.cell(b, value).value
    for col in range(1, len(header) + 1):
        above, below = sheet.cell(a, col), sheet.cell(b, col)
        above.value, below.value = below.value, above.value
    sheet.cell(rows["Pronouns"], value).value = "they/them"
    sorted_path = tmp_path / "sorted.xlsx"
    book.save(sorted_path)
    assert pdf_of(sorted_path, tmp_path).count(EDITED_FILL) == 1


@pytest.mark.parametrize("template", ["tpl_onboarding", "tpl_vendor", "tpl_implementation"])
def test_true_and_false_show_as_such_in_libreoffice_also_in_an_all_false_column(tmp_path, template):
    """LibreOffice keeps a boolean as a number: without a TRUE/FALSE number format a
    Completed column with no TRUE showed 0."""
    sandbox = open_sandbox(tmp_path / "s.db")
    with sandbox_client(sandbox) as client:
        snapshot = fetch_snapshot(client, template_id=template, status=None, with_template=True)
    sandbox.store.close()
    path = tmp_path / "runs.xlsx"
    write_export(snapshot, path, layout=Layout.RUNS)
    root = as_libreoffice_sees_it(path, tmp_path)
    runs = next(t for t in root.iter(q("table:table")) if t.get(q("table:name")) == "Runs")
    grid = cells(runs)
    completed = [c for (r, c), (text, *_) in grid.items() if r == 1 and text.endswith(":completed")]
    assert completed
    shown = {
        grid[(r, c)][0]
        for c in completed
        for r in range(3, 3 + len(snapshot.runs))
        if grid[(r, c)][0] != "n/a"
    }
    assert shown <= {"TRUE", "FALSE"}, shown


def test_libreoffice_sees_a_launch_sheets_new_rows_editable_and_validated(tmp_path):
    """The empty rows of a launch sheet (export --new): unlocked, with the same
    dropdowns, TRUE/FALSE lists and date checks as a run's row, the title's input
    message and the started-by email check; rows appended below are validated too."""
    sandbox = open_sandbox(tmp_path / "s.db")
    with sandbox_client(sandbox) as client:
        snapshot = fetch_snapshot(
            client, template_id="tpl_onboarding", with_template=True, launch=True, with_runs=False
        )
    sandbox.store.close()
    path = tmp_path / "launch.xlsx"
    write_export(snapshot, path, new_rows=3)
    root = as_libreoffice_sees_it(path, tmp_path)
    unlocked_styles = {
        style.get(q("style:name"))
        for style in root.iter(q("style:style"))
        for props in style.iter(q("style:table-cell-properties"))
        if props.get(q("style:cell-protect")) == "none"
    }
    validations = {
        v.get(q("table:name")): (v.get(q("table:condition")) or "", "".join(v.itertext()))
        for v in root.iter(q("table:content-validation"))
    }
    runs = next(t for t in root.iter(q("table:table")) if t.get(q("table:name")) == "Runs")
    grid = cells(runs)
    column = {text: c for (r, c), (text, *_) in grid.items() if r == 1}
    for row in (3, 4, 5):
        title = grid[(row, column["run"])]
        assert title[2] in unlocked_styles
        assert "Title of the run to start (required)" in validations[title[3]][1]
        due = grid[(row, column["due_date"])]
        assert "cell-content-is-date" in validations[due[3]][0]
        started = grid[(row, column["started_by"])]
        assert "FIND" in validations[started[3]][0] and "@" in validations[started[3]][0]
        dept = grid[(row, column["tt_onb_dept:el_onb_dept"])]
        assert dept[2] in unlocked_styles and "_lists" in validations[dept[3]][0]
        done = grid[(row, column["tt_onb_welcome:completed"])]
        assert "TRUE" in validations[done[3]][0]
        assert grid[(row, column["status"])][2] not in unlocked_styles
    # the first row below the new ones (appended by a person) has the dropdown too
    below = grid.get((6, column["tt_onb_dept:el_onb_dept"]))
    assert below is not None and "_lists" in validations[below[3]][0]


def test_libreoffice_marks_what_is_typed_into_a_new_row_and_nothing_else(tmp_path):
    sandbox = open_sandbox(tmp_path / "s.db")
    with sandbox_client(sandbox) as client:
        snapshot = fetch_snapshot(
            client, template_id="tpl_onboarding", with_template=True, launch=True, with_runs=False
        )
    sandbox.store.close()
    path = tmp_path / "launch.xlsx"
    write_export(snapshot, path, new_rows=3)
    assert pdf_of(path, tmp_path).count(EDITED_FILL) == 0
    book = openpyxl.load_workbook(path)
    sheet = book["Runs"]
    keys = [c.value for c in sheet[2]]
    # One cell typed, one cell marked (not in the Run column: printed, it repeats on
    # every page).
    sheet.cell(5, keys.index("due_date") + 1).value = dt.datetime(2027, 5, 1)
    typed = tmp_path / "typed.xlsx"
    book.save(typed)
    assert pdf_of(typed, tmp_path).count(EDITED_FILL) == 1
    sheet.cell(5, keys.index("tt_onb_details:el_onb_name") + 1).value = "Ada Lovelace"
    book.save(typed)
    assert pdf_of(typed, tmp_path).count(EDITED_FILL) > 1

"""A pandas script decides (issue 11): ``read_excel`` of every sheet, ``to_excel`` back
(openpyxl), as a script that tidies or reports on an export does; unedited, that is no
change. pandas writes a text that starts with ``=`` back as a formula."""

from __future__ import annotations

import openpyxl
import pytest

from bulksync.sandbox import DEFAULT_STATE, open_sandbox, sandbox_client
from bulksync.sheets import read_sheet
from tests.apps import ONB, dry_run, export, pandas_resave

FORMULA_LIKE = {
    ("tt_onb_details", "el_onb_pronouns"): "=they/them",
    ("tt_onb_details", "el_onb_phone"): "=+49 30 1234567",
    ("tt_onb_equipment", "el_onb_delivery"): "=SUM(A1:A3) is not a formula here",
}


def set_live_texts(tmp_path) -> None:
    """Give the run texts that start with '=', through the API as a person's edit in
    NextStep would, before the export."""
    sandbox = open_sandbox(tmp_path / DEFAULT_STATE)
    try:
        with sandbox_client(sandbox) as client:
            tasks = {t.template_task_id: t for t in client.run_tasks(ONB)}
            by_task: dict[str, dict[str, object]] = {}
            for (template_task, field), text in FORMULA_LIKE.items():
                by_task.setdefault(template_task, {})[field] = text
            for template_task, elements in by_task.items():
                client.patch_task(ONB, tasks[template_task].id, elements=elements)
    finally:
        sandbox.store.close()


@pytest.mark.parametrize("layout", ["runs", "tasks"])
def test_an_unedited_export_resaved_by_pandas_is_no_change(bulk, tmp_path, layout):
    path = export(
        bulk, "onb.xlsx", "--template", "tpl_onboarding", "--status", "all", "--layout", layout
    )
    saved = tmp_path / "pandas.xlsx"
    pandas_resave(path, saved)
    report = dry_run(bulk, saved)
    assert (report["changes"], report["errors"]) == ([], [])
    assert report["summary"]["unchanged"] == read_sheet(path).meta.values


@pytest.mark.parametrize("layout", ["runs", "tasks"])
def test_texts_starting_with_equals_resaved_by_pandas_are_no_change(bulk, tmp_path, layout):
    export(bulk, "warmup.xlsx", ONB)  # creates the sandbox state in tmp_path
    set_live_texts(tmp_path)
    path = export(bulk, "onb.xlsx", "--template", "tpl_onboarding", "--layout", layout)
    saved = tmp_path / "pandas.xlsx"
    pandas_resave(path, saved)
    refs = {
        c.ref
        for c in read_sheet(path).cells
        if c.key.run_id == ONB and isinstance(c.raw, str) and c.raw.startswith("=")
    }
    assert len(refs) >= len(FORMULA_LIKE)
    book = openpyxl.load_workbook(saved)
    formulas = {
        f"{name}!{cell.coordinate}"
        for name in book.sheetnames
        for row in book[name].iter_rows()
        for cell in row
        if cell.data_type == "f"
    }
    assert refs <= formulas  # what pandas does, else this test proves nothing
    report = dry_run(bulk, saved)
    assert (report["changes"], report["errors"]) == ([], [])
    assert report["summary"]["unchanged"] == read_sheet(path).meta.values


def test_a_pandas_copy_saved_again_in_libreoffice_is_no_change(bulk, libreoffice, tmp_path):
    """The next thing a person does with pandas' formulas: open the file in LibreOffice
    and save it, which computes them (``#NAME?``). Their source text is still the base
    value: the exported value, not an edit."""
    export(bulk, "warmup.xlsx", ONB)
    set_live_texts(tmp_path)
    path = export(bulk, "onb.xlsx", "--template", "tpl_onboarding", "--layout", "tasks")
    pandas_resave(path, tmp_path / "pandas.xlsx")
    (tmp_path / "lo").mkdir()
    libreoffice.edit(tmp_path / "pandas.xlsx", [], {tmp_path / "lo" / "onb.xlsx": "xlsx"})
    report = dry_run(bulk, tmp_path / "lo" / "onb.xlsx")
    assert (report["changes"], report["errors"]) == ([], [])


@pytest.mark.parametrize("layout", ["runs", "tasks"])
def test_a_resave_with_pandas_index_column_says_how_to_save_it(bulk, tmp_path, layout):
    """``to_excel`` writes the frame's row numbers as a first column unless told
    ``index=False``: every column moves one to the right. The import cannot trust such a
    file, and says what happened and how to save it, instead of "damaged metadata"."""
    path = export(bulk, "onb.xlsx", ONB, "--layout", layout)
    saved = tmp_path / "pandas.xlsx"
    pandas_resave(path, saved, index=True)
    result = bulk("import", str(saved), "--dry-run")
    assert result.exit_code == 7, result.output
    assert "index=False" in result.output
    assert "row numbers" in result.output


def test_a_script_that_writes_back_only_the_data_sheet_is_told_to_write_every_sheet(bulk, tmp_path):
    """A script that reads and writes one frame drops the hidden sheets (the base): the
    import says so and how to write the workbook back, not "export again"."""
    pandas = pytest.importorskip("pandas")
    path = export(bulk, "onb.xlsx", ONB, "--layout", "runs")
    saved = tmp_path / "runs-only.xlsx"
    frame = pandas.read_excel(path, sheet_name="Runs", engine="openpyxl")
    frame.to_excel(saved, sheet_name="Runs", index=False)
    result = bulk("import", str(saved), "--dry-run")
    assert result.exit_code == 7, result.output
    assert "'Runs'" in result.output and "sheet_name=None" in result.output
    assert "Export the runs" not in result.output

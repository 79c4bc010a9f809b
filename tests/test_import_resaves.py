"""What other programs do to an export, read back by ``bulksync import --dry-run``.

Each test makes the file as the program does (openpyxl typing a number, pandas
re-writing every sheet, Gnumeric's ``ssconvert`` re-saving a CSV, a CSV decoded with
the wrong charset) and checks the dry run shows exactly the edits a person made, or an
error naming the cell and saying how to put it right.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from pathlib import Path

import pytest

from bulksync.errors import ExitCode
from tests import test_cli_import
from tests.test_cli_import import ONB_ACTIVE, dry_run, edit_runs, edit_tasks

bulk = test_cli_import.bulk  # the fixture: the CLI on this test's sandbox

EMPNO, PAYREF = "tt_onb_details:el_onb_empno", "tt_onb_details:el_onb_payref"
NAME, PRONOUNS = "tt_onb_details:el_onb_name", "tt_onb_details:el_onb_pronouns"


def need(program: str) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed (CI installs it)")


def csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


def write_rows(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig") -> None:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows(rows)


def edit_csv_tasks(path: Path, edits: dict[tuple[str, str], str]) -> dict[str, str]:
    """Set Value cells of a tasks-layout CSV by (run id, field id); field id → cell ref."""
    rows = csv_rows(path)
    header = rows[0]
    run, field, value = (header.index(n) for n in ("run_id", "field_id", "Value"))
    refs = {}
    for number, row in enumerate(rows[1:], start=2):
        if (row[run], row[field]) in edits:
            row[value] = edits[(row[run], row[field])]
            refs[row[field]] = f"{path.name}!H{number}"
    write_rows(path, rows)
    assert len(refs) == len(edits)
    return refs


# -- digits that an app turned into a number --------------------------------------------


def test_digits_an_app_turned_into_a_number_are_errors_in_an_xlsx(bulk, tmp_path):
    # The base: employee number '0296', payroll reference '987654321012345686'.
    assert bulk("export", "--template", "tpl_onboarding", "-o", "onb.xlsx").exit_code == 0
    refs = edit_runs(
        tmp_path / "onb.xlsx",
        {
            (ONB_ACTIVE, EMPNO): 296,  # '0296' typed into a General cell
            (ONB_ACTIVE, PAYREF): 987654321012345678,  # 18 digits: kept as 15
            (ONB_ACTIVE, PRONOUNS): 42,  # a number over text: an ordinary edit
        },
    )
    code, report = dry_run(bulk, "onb.xlsx")
    assert code == ExitCode.INVALID
    errors = {e["cell"]: e for e in report["errors"]}
    assert set(errors) == {refs[(ONB_ACTIVE, EMPNO)], refs[(ONB_ACTIVE, PAYREF)]}
    empno = errors[refs[(ONB_ACTIVE, EMPNO)]]
    assert empno["code"] == "digits_converted"
    assert "0296" in empno["message"] and "leading zero" in empno["message"]
    assert "format the cell as Text" in empno["message"] and "'0296" in empno["message"]
    payref = errors[refs[(ONB_ACTIVE, PAYREF)]]
    assert payref["code"] == "digits_converted" and "15" in payref["message"]
    assert [(c["field"], c["after"]) for c in report["changes"]] == [("el_onb_pronouns", "42")]


def test_digits_an_app_turned_into_a_number_are_errors_in_the_tasks_layout(bulk, tmp_path):
    assert bulk("export", ONB_ACTIVE, "--layout", "tasks", "-o", "t.xlsx").exit_code == 0
    refs = edit_tasks(tmp_path / "t.xlsx", {(ONB_ACTIVE, "tt_onb_details", "el_onb_empno"): 297})
    code, report = dry_run(bulk, "t.xlsx")
    assert code == ExitCode.INVALID
    assert [(e["cell"], e["code"]) for e in report["errors"]] == [
        (refs[(ONB_ACTIVE, "tt_onb_details", "el_onb_empno")], "digits_converted")
    ]
    # Typed as text, the same digits are an edit.
    edit_tasks(tmp_path / "t.xlsx", {(ONB_ACTIVE, "tt_onb_details", "el_onb_empno"): "0297"})
    code, report = dry_run(bulk, "t.xlsx")
    assert code == 0 and [c["after"] for c in report["changes"]] == ["0297"]


@pytest.mark.parametrize(
    ("field", "saved", "said"),
    [
        ("el_onb_empno", "296", "leading zero"),
        ("el_onb_payref", "9.87654321012346E+17", "exponent"),
        ("el_onb_payref", "987654321012346000", "15"),
        ("el_onb_empno", "296.0", ".0"),
    ],
)
def test_digits_an_app_saved_as_a_number_are_errors_in_a_csv(bulk, tmp_path, field, saved, said):
    assert bulk("export", ONB_ACTIVE, "--layout", "tasks", "-o", "t.csv").exit_code == 0
    refs = edit_csv_tasks(tmp_path / "t.csv", {(ONB_ACTIVE, field): saved})
    code, report = dry_run(bulk, "t.csv")
    assert code == ExitCode.INVALID
    assert [(e["cell"], e["code"]) for e in report["errors"]] == [(refs[field], "digits_converted")]
    assert said in report["errors"][0]["message"]


def test_a_number_typed_over_text_that_is_no_number_is_an_edit_in_a_csv(bulk, tmp_path):
    assert bulk("export", ONB_ACTIVE, "--layout", "tasks", "-o", "t.csv").exit_code == 0
    edit_csv_tasks(
        tmp_path / "t.csv",
        {(ONB_ACTIVE, "el_onb_pronouns"): "42", (ONB_ACTIVE, "el_onb_empno"): "0297"},
    )
    code, report = dry_run(bulk, "t.csv")
    assert code == 0, report["errors"]
    assert {(c["field"], c["after"]) for c in report["changes"]} == {
        ("el_onb_pronouns", "42"),
        ("el_onb_empno", "0297"),
    }


# -- pandas ------------------------------------------------------------------------------


def pandas_resave(source: Path, target: Path) -> None:
    """What a pandas script does: every sheet read, every sheet written back."""
    pd = pytest.importorskip("pandas")
    sheets = pd.read_excel(source, sheet_name=None, header=None, engine="openpyxl")
    with pd.ExcelWriter(target) as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, header=False, index=False)


@pytest.mark.parametrize("layout", ["runs", "tasks"])
def test_texts_pandas_wrote_as_formulas_are_no_change(bulk, tmp_path, layout):
    # The sample runs hold texts that start with '=': pandas writes them as formulas.
    assert (
        bulk(
            "export",
            "--template",
            "tpl_onboarding",
            "--status",
            "all",
            "--layout",
            layout,
            "-o",
            "onb.xlsx",
        ).exit_code
        == 0
    )
    exported = tmp_path / "onb.xlsx"
    pandas_resave(exported, tmp_path / "pd.xlsx")
    for extra in ((), ("--accept-formulas",)):
        code, report = dry_run(bulk, "pd.xlsx", *extra)
        assert (code, report["changes"], report["errors"]) == (0, [], []), extra
    need("soffice")
    # LibreOffice then computes them: #NAME? errors, formulas re-cased; still no change.
    subprocess.run(
        ["soffice", "--headless", "--convert-to", "xlsx", "--outdir", "lo", "pd.xlsx"],
        check=True,
        capture_output=True,
        timeout=180,
        cwd=tmp_path,
    )
    code, report = dry_run(bulk, "lo/pd.xlsx")
    assert (code, report["changes"], report["errors"]) == (0, [], [])


# -- Gnumeric ----------------------------------------------------------------------------


def test_a_csv_resaved_by_gnumeric_is_no_change(bulk, tmp_path):
    need("ssconvert")
    assert (
        bulk(
            "export",
            "--template",
            "tpl_onboarding",
            "--status",
            "all",
            "--layout",
            "tasks",
            "-o",
            "t.csv",
        ).exit_code
        == 0
    )
    exported = tmp_path / "t.csv"
    out = tmp_path / "g"
    out.mkdir()
    shutil.copy(exported.with_name(exported.name + ".base.json"), out / "t.csv.base.json")
    subprocess.run(
        ["ssconvert", str(exported), str(out / "t.csv")],
        check=True,
        capture_output=True,
        timeout=180,
    )
    assert "2026/12/31" in (out / "t.csv").read_text(encoding="utf-8")  # how Gnumeric writes
    code, report = dry_run(bulk, "g/t.csv", "--detailed-exitcode")
    assert (code, report["changes"], report["errors"], report["warnings"]) == (0, [], [], [])


def test_a_year_first_date_with_slashes_or_dots_is_that_date_in_a_csv(bulk, tmp_path):
    assert bulk("export", ONB_ACTIVE, "--layout", "tasks", "-o", "t.csv").exit_code == 0
    edit_csv_tasks(
        tmp_path / "t.csv",
        {(ONB_ACTIVE, "el_onb_start"): "2027.1.5", (ONB_ACTIVE, "el_onb_meet"): "03/04/2026"},
    )
    code, report = dry_run(bulk, "t.csv")
    assert code == ExitCode.INVALID
    assert [(c["field"], c["after"]) for c in report["changes"]] == [("el_onb_start", "2027-01-05")]
    assert [(e["field"], e["code"]) for e in report["errors"]] == [("el_onb_meet", "not_a_date")]


# -- a CSV decoded with the wrong charset ------------------------------------------------


def test_a_csv_read_as_latin1_and_saved_again_is_refused_naming_the_cells(bulk, tmp_path):
    assert bulk("export", ONB_ACTIVE, "--layout", "tasks", "-o", "t.csv").exit_code == 0
    path = tmp_path / "t.csv"
    # UTF-8 read as cp1252 by an app, and saved again as UTF-8: 'Müller' → 'MÃ¼ller'.
    text = path.read_text(encoding="utf-8-sig")
    path.write_text(text.encode("utf-8").decode("cp1252", "replace"), encoding="utf-8-sig")
    code, report = dry_run(bulk, "t.csv")
    assert code == ExitCode.INVALID
    assert report["changes"] == []
    codes = {e["code"] for e in report["errors"]}
    assert codes == {"mojibake"}
    rows = csv_rows(path)
    name_row = next(n for n, r in enumerate(rows, start=1) if "el_onb_name" in r)
    by_cell = {e["cell"]: e for e in report["errors"]}
    name = by_cell[f"t.csv!H{name_row}"]  # the value cell, and its run's title cell
    assert name["value"] == "Noah MÃ¼ller"
    assert "UTF-8" in name["message"] and "Noah Müller" in name["message"]
    assert by_cell[f"t.csv!A{name_row}"]["value"] == "Onboarding â€“ Noah MÃ¼ller"
    whole = report["errors"][0]  # first, one error for the whole file says what to do
    assert whole["cell"] is None and "choosing UTF-8" in whole["message"]
    result = bulk("import", "t.csv", "--dry-run")
    assert "choosing UTF-8" in result.stdout


def test_a_runs_layout_csv_read_as_cp1252_is_refused_without_column_key_errors(bulk, tmp_path):
    assert bulk("export", ONB_ACTIVE, "--layout", "runs", "-o", "r.csv").exit_code == 0
    path = tmp_path / "r.csv"
    text = path.read_text(encoding="utf-8-sig")
    path.write_text(text.encode("utf-8").decode("cp1252", "replace"), encoding="utf-8-sig")
    code, report = dry_run(bulk, "r.csv")
    assert code == ExitCode.INVALID and report["changes"] == []
    assert {e["code"] for e in report["errors"]} == {"mojibake"}
    # The header's labels (Task › Field) are garbled too: said once, at its first cell.
    assert [e["cell"] for e in report["errors"] if (e["cell"] or "").endswith("1")] == ["r.csv!F1"]
    assert "Noah MÃ¼ller" in {e["value"] for e in report["errors"]}


# -- what the sheet left out, and what it added -----------------------------------------


def test_deleted_runs_and_a_column_of_ones_own_notes_are_said_in_the_xlsx(bulk, tmp_path):
    import openpyxl

    assert bulk("export", "--template", "tpl_onboarding", "-o", "onb.xlsx").exit_code == 0
    book = openpyxl.load_workbook(tmp_path / "onb.xlsx")
    sheet = book["Runs"]
    sheet.delete_rows(6, 2)  # two runs
    sheet.cell(3, sheet.max_column + 1, "My notes")
    sheet.cell(4, sheet.max_column, "call her back")
    book.save(tmp_path / "onb.xlsx")
    code, report = dry_run(bulk, "onb.xlsx")
    assert code == 0 and report["changes"] == [] and report["errors"] == []
    said = {w["code"]: w for w in report["warnings"]}
    assert set(said) == {"rows_missing", "column_ignored"}
    assert said["rows_missing"]["message"].startswith("2 runs of the export are not in")
    assert "left alone" in said["rows_missing"]["message"]
    assert "'My notes'" in said["column_ignored"]["message"]
    assert "ignored" in said["column_ignored"]["message"]
    text = bulk("import", "onb.xlsx", "--dry-run").stdout
    assert "2 runs of the export are not in the sheet" in text


def test_deleted_rows_and_a_notes_column_are_said_in_a_tasks_csv(bulk, tmp_path):
    assert bulk("export", ONB_ACTIVE, "--layout", "tasks", "-o", "t.csv").exit_code == 0
    path = tmp_path / "t.csv"
    rows = csv_rows(path)
    del rows[5:8]
    rows[0].insert(3, "Notes")
    for row in rows[1:]:
        row.insert(3, "")
    write_rows(path, rows)
    code, report = dry_run(bulk, "t.csv")
    assert code == 0, report["errors"]
    said = {w["code"]: w["message"] for w in report["warnings"]}
    assert said["rows_missing"].startswith("3 values of the export")
    assert "'Notes'" in said["column_ignored"] and "column D" in said["column_ignored"]


def test_an_unedited_export_says_nothing_was_left_out(bulk, tmp_path):
    for layout, name in (("runs", "r.csv"), ("tasks", "t.xlsx")):
        assert bulk("export", ONB_ACTIVE, "--layout", layout, "-o", name).exit_code == 0
        code, report = dry_run(bulk, name)
        assert (code, report["warnings"]) == (0, [])


# -- the report ------------------------------------------------------------------------


def test_the_report_says_what_would_be_sent_once_errors_are_fixed(bulk, tmp_path):
    assert bulk("export", "--template", "tpl_onboarding", "-o", "onb.xlsx").exit_code == 0
    edit_runs(
        tmp_path / "onb.xlsx",
        {
            (ONB_ACTIVE, PRONOUNS): "she/her",
            (ONB_ACTIVE, "tt_onb_details:el_onb_email"): "noah at example",
        },
    )
    text = bulk("import", "onb.xlsx", "--dry-run").stdout
    assert "Once the errors are fixed, the import would send 1 PATCH request" in text
    assert "The import sends" not in text
    text = bulk("import", "onb.xlsx", "--dry-run", "--skip-invalid").stdout
    assert "With --skip-invalid, the import sends 1 PATCH request" in text
    assert "1 cell with an error is not written" in text


def test_spaces_at_the_ends_of_a_value_are_marked_and_requests_named(bulk, tmp_path):
    assert bulk("export", "--template", "tpl_onboarding", "-o", "onb.xlsx").exit_code == 0
    edit_runs(tmp_path / "onb.xlsx", {(ONB_ACTIVE, NAME): "Noah Müller "})
    result = bulk("import", "onb.xlsx", "--dry-run", "--report", "r.html", "--report", "r.json")
    assert "→ Noah Müller⎵" in result.stdout
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Noah Müller⎵" in page
    requests = page[page.index('id="requests"') :]
    assert "Onboarding – Noah Müller" in requests and "Collect personal details" in requests
    assert ONB_ACTIVE not in requests.split("</table>")[0].replace(f'title="{ONB_ACTIVE}"', "")
    import json

    request = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["requests"][0]
    assert request["run_title"] == "Onboarding – Noah Müller"
    assert request["task_title"] == "Collect personal details"

"""Every way an import could overwrite, lose or double a value, closed (issue 9).

Each test exports from the sandbox, changes the file (or live state) the way a person,
a spreadsheet app or a stale copy would, and reads the dry run's report.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import unicodedata
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulksync.errors import ExitCode
from bulksync.sheets.xlsx import BASE_SHEET
from tests import test_cli_import
from tests.test_cli_import import ONB_ACTIVE, dry_run, edit_runs, edit_tasks, store, task_id

bulk = test_cli_import.bulk  # the fixture: the CLI against a sandbox in tmp_path


def set_live(tmp_path: Path, path: Path, values: dict[tuple[str, str], object]) -> None:
    """Set live element values of ONB_ACTIVE directly in the sandbox store (no checks)."""
    with store(tmp_path) as db:
        for (template_task, element_id), value in values.items():
            doc = db.task(ONB_ACTIVE, task_id(path, ONB_ACTIVE, template_task))
            for element in doc["custom_elements"]:
                if element["id"] == element_id:
                    element["value"] = value
            db.save_task(doc)


def read_csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def write_csv_rows(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(rows)


def libreoffice(tmp_path: Path, name: str, target: str = "xlsx") -> Path:
    out = tmp_path / "lo"
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{tmp_path}/lo-profile",
            "--headless",
            "--convert-to",
            target,
            "--outdir",
            str(out),
            name,
        ],
        check=True,
        capture_output=True,
        timeout=180,
        cwd=tmp_path,
    )
    return out / name


def libreoffice_csv(tmp_path: Path, name: str) -> Path:
    """Open a CSV in LibreOffice (its own type detection, UTF-8, comma) and save it back,
    with its sidecar beside it."""
    out = tmp_path / "lo"
    out.mkdir(exist_ok=True)
    shutil.copy(tmp_path / f"{name}.base.json", out / f"{name}.base.json")
    options = "44,34,76,1"
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{tmp_path}/lo-profile",
            "--headless",
            f"--infilter=CSV:{options}",
            "--convert-to",
            f"csv:Text - txt - csv (StarCalc):{options}",
            "--outdir",
            str(out),
            name,
        ],
        check=True,
        capture_output=True,
        timeout=180,
        cwd=tmp_path,
    )
    return out / name


needs_libreoffice = pytest.mark.skipif(
    shutil.which("soffice") is None, reason="LibreOffice is not installed (CI installs it)"
)

# -- 15: ids edited in the sheet and its hidden copy; a live value of the wrong type ----


def test_ids_edited_in_the_sheet_and_in_its_hidden_copy_are_an_error_not_a_crash(bulk, tmp_path):
    bulk("export", ONB_ACTIVE, "-o", "one.xlsx")
    path = tmp_path / "one.xlsx"
    book = openpyxl.load_workbook(path)
    header = [c.value for c in book["Fields"][1]]
    run_col, value_col = header.index("run_id") + 1, header.index("Value") + 1
    for name in ("Fields", BASE_SHEET):
        book[name].cell(5, run_col).value = "run_nope"
    book["Fields"].cell(5, value_col).value = "edited"
    book.save(path)
    code, report = dry_run(bulk, "one.xlsx")
    assert code == ExitCode.INVALID
    assert [(e["code"], e["cell"]) for e in report["errors"]] == [
        ("unknown_ids", f"Fields!{'ABCDEFGHIJK'[value_col - 1]}5")
    ]
    assert report["summary"]["requests"] == 0


def test_ids_of_another_row_put_in_the_sheet_and_its_hidden_copy_are_an_error(bulk, tmp_path):
    """Row 5 (Pronouns) made to carry row 7's ids (Phone) in both sheets: its edit must not
    land on the phone."""
    bulk("export", ONB_ACTIVE, "-o", "one.xlsx")
    path = tmp_path / "one.xlsx"
    book = openpyxl.load_workbook(path)
    header = [c.value for c in book["Fields"][1]]
    ids = [header.index(n) + 1 for n in ("run_id", "task_id", "field_id")]
    value_col = header.index("Value") + 1
    for name in ("Fields", BASE_SHEET):
        for col in ids:
            book[name].cell(5, col).value = book[name].cell(7, col).value
    assert book["Fields"].cell(7, ids[2]).value == "el_onb_phone"
    book["Fields"].cell(5, value_col).value = "she/her"
    book.save(path)
    code, report = dry_run(bulk, "one.xlsx")
    assert code == ExitCode.INVALID, report
    assert (report["changes"], report["summary"]["requests"]) == ([], 0)
    assert {e["cell"][-1] for e in report["errors"]} == {"5"}


def test_a_live_value_of_the_wrong_type_is_an_error_naming_the_cell(bulk, tmp_path):
    bulk("export", ONB_ACTIVE, "-o", "one.xlsx")
    path = tmp_path / "one.xlsx"
    refs = edit_tasks(path, {(ONB_ACTIVE, "tt_onb_dept", "el_onb_band"): 7})
    set_live(tmp_path, path, {("tt_onb_dept", "el_onb_band"): "seven"})
    code, report = dry_run(bulk, "one.xlsx")
    assert code == ExitCode.INVALID
    [error] = report["errors"]
    assert error["cell"] == refs[(ONB_ACTIVE, "tt_onb_dept", "el_onb_band")]
    assert error["code"] == "live_invalid"
    assert "'seven'" in error["message"] and "NextStep" in error["message"]
    assert report["summary"]["requests"] == 0
    text = bulk("import", "one.xlsx", "--dry-run")
    assert text.exit_code == ExitCode.INVALID and "Traceback" not in text.output
    # exported as it is, and left unedited, it blocks nothing
    for name in ("two.xlsx", "two.csv"):
        assert bulk("export", ONB_ACTIVE, "-o", name).exit_code == 0
        code, report = dry_run(bulk, name, "--detailed-exitcode")
        assert (code, report["errors"], report["changes"]) == (0, [], [])


# -- 17: a live value that looks like a spreadsheet error ------------------------------

ERROR_LOOKING = {
    ("tt_onb_details", "el_onb_pronouns"): "#N/A",
    ("tt_onb_details", "el_onb_phone"): "#REF!",
    ("tt_onb_details", "el_onb_payref"): "#DIV/0!",
}


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_an_unedited_value_that_looks_like_a_spreadsheet_error_imports_as_no_change(
    bulk, tmp_path, suffix
):
    bulk("export", ONB_ACTIVE, "-o", "first.xlsx")
    set_live(tmp_path, tmp_path / "first.xlsx", ERROR_LOOKING)
    name = f"one{suffix}"
    assert bulk("export", ONB_ACTIVE, "-o", name).exit_code == 0
    code, report = dry_run(bulk, name, "--detailed-exitcode")
    assert (code, report["errors"], report["changes"]) == (0, [], [])
    # an edit elsewhere in the same row or file still imports
    if suffix == ".xlsx":
        edit_tasks(tmp_path / name, {(ONB_ACTIVE, "tt_onb_details", "el_onb_name"): "Noa"})
        code, report = dry_run(bulk, name)
        assert code == 0, report["errors"]
        assert [c["field"] for c in report["changes"]] == ["el_onb_name"]


@needs_libreoffice
def test_a_value_that_looks_like_a_spreadsheet_error_survives_libreoffice(bulk, tmp_path):
    bulk("export", ONB_ACTIVE, "-o", "first.xlsx")
    set_live(tmp_path, tmp_path / "first.xlsx", ERROR_LOOKING)
    assert bulk("export", ONB_ACTIVE, "-o", "one.xlsx").exit_code == 0
    libreoffice(tmp_path, "one.xlsx")
    code, report = dry_run(bulk, "lo/one.xlsx", "--detailed-exitcode")
    assert (code, report["errors"], report["changes"]) == (0, [], [])
    assert bulk("export", ONB_ACTIVE, "-o", "one.csv").exit_code == 0
    saved = libreoffice_csv(tmp_path, "one.csv")
    code, report = dry_run(bulk, str(saved), "--detailed-exitcode")
    assert (code, report["errors"], report["changes"]) == (0, [], [])


# -- 6: numbers that would change on the way to NextStep -------------------------------


def edit_csv_value(path: Path, field: str, text: str) -> str:
    """Set the Value of ``field`` in a tasks-layout CSV; return the cell's ref."""
    rows = read_csv_rows(path)
    header = rows[0]
    value, field_col = header.index("Value"), header.index("field_id")
    number = next(i for i, row in enumerate(rows) if i and row[field_col] == field)
    rows[number][value] = text
    write_csv_rows(path, rows)
    return f"{path.name}!{'ABCDEFGHIJK'[value]}{number + 1}"


INEXACT = [
    ("9007199254740993", "9007199254740992"),  # 2**53 + 1
    ("12345678901234567890", "12345678901234567168"),
    ("-98765432109876543210.5", "-98765432109876543488"),
    ("0.1000000000000000000001", "0.1"),
    ("1e-400", "0"),
    ("1e400", ""),
]
"""Numbers typed with more digits than a float holds, and what NextStep would keep."""
EXACT = ["0.1", "0.30000000000000004", "1e-300", "9007199254740992"]


@pytest.mark.parametrize(("typed", "becomes"), INEXACT)
def test_a_number_nextstep_cannot_store_exactly_is_refused(bulk, tmp_path, typed, becomes):
    bulk("export", ONB_ACTIVE, "-o", "one.csv")
    ref = edit_csv_value(tmp_path / "one.csv", "el_onb_band", typed)
    code, report = dry_run(bulk, "one.csv")
    assert code == ExitCode.INVALID
    [error] = report["errors"]
    assert (error["cell"], error["code"], error["value"]) == (ref, "inexact_number", typed)
    assert becomes in error["message"] and "text field" in error["message"]
    assert report["summary"]["requests"] == 0


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("１２３", 123),  # full-width
        ("١٢٣", 123),  # Arabic-Indic
        ("۴۵٫۵", 45.5),  # Persian digits, Arabic decimal separator
        ("−７", -7),  # minus sign, full-width seven
        ("१०", 10),  # Devanagari
    ],
)
def test_digits_of_another_script_are_read_with_a_warning(bulk, tmp_path, typed, number):
    bulk("export", ONB_ACTIVE, "-o", "one.csv")
    ref = edit_csv_value(tmp_path / "one.csv", "el_onb_band", typed)
    code, report = dry_run(bulk, "one.csv")
    assert code == 0, report["errors"]
    assert [(c["cell"], c["after"]) for c in report["changes"]] == [(ref, number)]
    [warning] = report["warnings"]
    assert (warning["cell"], warning["code"], warning["value"]) == (ref, "normalised", typed)
    assert repr(number) in warning["message"] or str(number) in warning["message"]


@pytest.mark.parametrize("typed", EXACT)
def test_numbers_a_float_holds_exactly_are_taken_as_typed(bulk, tmp_path, typed):
    bulk("export", ONB_ACTIVE, "-o", "one.csv")
    edit_csv_value(tmp_path / "one.csv", "el_onb_band", typed)
    code, report = dry_run(bulk, "one.csv")
    assert (code, report["errors"], report["warnings"]) == (0, [], [])
    assert [c["after"] for c in report["changes"]] == [json.loads(typed)]


BAND = "tt_onb_dept:el_onb_band"


PLACEHOLDER = 271828182


def saved_as(path: Path, text: str) -> None:
    """Make the number cell that holds PLACEHOLDER hold ``text`` as its saved value, as a
    program that writes a number's digits as given does (Go's excelize with an int64; a
    hand-edited file). openpyxl writes 16 significant digits: 2**53 + 1 as 2**53."""
    with zipfile.ZipFile(path) as source:
        items = [(item, source.read(item)) for item in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for item, body in items:
            if item.filename.startswith("xl/worksheets/"):
                body = body.replace(f"<v>{PLACEHOLDER}</v>".encode(), f"<v>{text}</v>".encode())
            target.writestr(item, body)


def number_cell(bulk, tmp_path: Path, layout: str, text: str) -> str:
    """Export ONB_ACTIVE in ``layout``, set its band cell to a number cell saved as
    ``text``; return the cell's ref."""
    path = tmp_path / "one.xlsx"
    if layout == "runs":
        bulk("export", "--template", "tpl_onboarding", "-o", "one.xlsx")
        [ref] = edit_runs(path, {(ONB_ACTIVE, BAND): PLACEHOLDER}).values()
    else:
        bulk("export", ONB_ACTIVE, "-o", "one.xlsx")
        band = (ONB_ACTIVE, "tt_onb_dept", "el_onb_band")
        [ref] = edit_tasks(path, {band: PLACEHOLDER}).values()
    saved_as(path, text)
    return ref


@pytest.mark.parametrize("layout", ["runs", "tasks"])
@pytest.mark.parametrize(("typed", "becomes"), INEXACT)
def test_a_number_cell_nextstep_cannot_store_exactly_is_refused_as_in_a_csv(
    bulk, tmp_path, layout, typed, becomes
):
    ref = number_cell(bulk, tmp_path, layout, typed)
    code, report = dry_run(bulk, "one.xlsx")
    assert code == ExitCode.INVALID, report["changes"]
    [error] = report["errors"]
    assert (error["cell"], error["code"], error["value"]) == (ref, "inexact_number", typed)
    assert becomes in error["message"] and "text field" in error["message"]
    assert report["summary"]["requests"] == 0


@pytest.mark.parametrize(
    "typed",
    [
        *EXACT,
        "0.29999999999999999",
        "0.33333333333333331",
        "6.6666666666666666E-06",
        "1.7976931348623157E+308",
    ],
)
def test_a_number_cell_saved_with_a_float_s_17_digits_is_taken(bulk, tmp_path, typed):
    """Excel and others save a float with up to 17 significant digits (0.3 as
    0.29999999999999999): digits that name a float are exact, whatever their count."""
    ref = number_cell(bulk, tmp_path, "tasks", typed)
    code, report = dry_run(bulk, "one.xlsx")
    assert (code, report["errors"], report["warnings"]) == (0, [], [])
    assert [(c["cell"], c["after"]) for c in report["changes"]] == [(ref, float(typed))]


def test_a_number_cell_edited_to_digits_that_read_as_the_exported_number_is_refused(bulk, tmp_path):
    """0.1 edited to 0.1000000000000000000001 reads as the same float, as the row's hidden
    copy does: the saved digits show the edit."""
    bulk("export", ONB_ACTIVE, "-o", "first.xlsx")
    set_live(tmp_path, tmp_path / "first.xlsx", {("tt_onb_dept", "el_onb_band"): 0.1})
    ref = number_cell(bulk, tmp_path, "runs", "0.1000000000000000000001")
    code, report = dry_run(bulk, "one.xlsx")
    assert code == ExitCode.INVALID
    assert [(e["cell"], e["code"]) for e in report["errors"]] == [(ref, "inexact_number")]


def test_a_number_cell_of_a_field_no_cell_holds_is_no_edit_whatever_its_digits(bulk, tmp_path):
    """Another client stored 2**53 + 1 (NextStep keeps the JSON it was given): export
    locks the field, and digits saved in its cell never block an import."""
    bulk("export", ONB_ACTIVE, "-o", "first.xlsx")
    set_live(tmp_path, tmp_path / "first.xlsx", {("tt_onb_dept", "el_onb_band"): 2**53 + 1})
    number_cell(bulk, tmp_path, "runs", "9007199254740993")
    code, report = dry_run(bulk, "one.xlsx", "--detailed-exitcode")
    assert (code, report["errors"], report["changes"]) == (0, [], [])


# -- 7: Unicode normalisation is not an edit -------------------------------------------

NAME = "Zoë Ångström-Nguyễn"
DEPT = "Recherche & Développement"


def normalised(form: str, value: object) -> object:
    return unicodedata.normalize(form, value) if isinstance(value, str) else value


def resave_csv(path: Path, form: str) -> None:
    """Every cell saved in one normal form, as some spreadsheet apps do."""
    write_csv_rows(path, [[normalised(form, c) for c in row] for row in read_csv_rows(path)])


def resave_xlsx(path: Path, form: str) -> None:
    book = openpyxl.load_workbook(path)
    sheet = book["Fields"]
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.value = normalised(form, cell.value)
    book.save(path)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
@pytest.mark.parametrize(("live_form", "sheet_form"), [("NFD", "NFC"), ("NFC", "NFD")])
def test_a_value_resaved_in_another_unicode_normal_form_is_no_change(
    bulk, tmp_path, suffix, live_form, sheet_form
):
    bulk("export", ONB_ACTIVE, "-o", "first.xlsx")
    set_live(
        tmp_path,
        tmp_path / "first.xlsx",
        {
            ("tt_onb_details", "el_onb_name"): unicodedata.normalize(live_form, NAME),
            ("tt_onb_details", "el_onb_pronouns"): unicodedata.normalize(live_form, "él/ella"),
        },
    )
    name = f"one{suffix}"
    assert bulk("export", ONB_ACTIVE, "-o", name).exit_code == 0
    path = tmp_path / name
    (resave_csv if suffix == ".csv" else resave_xlsx)(path, sheet_form)
    code, report = dry_run(bulk, name, "--detailed-exitcode")
    assert (code, report["errors"], report["changes"]) == (0, [], [])
    # an edit to the other normal form of an option is no change either
    if suffix == ".xlsx":
        edit_tasks(
            path,
            {
                (ONB_ACTIVE, "tt_onb_dept", "el_onb_dept"): unicodedata.normalize("NFD", DEPT),
                (ONB_ACTIVE, "tt_onb_details", "el_onb_phone"): "+33 1",
            },
        )
        code, report = dry_run(bulk, name)
        assert code == 0, report["errors"]
        after = {c["field"]: c["after"] for c in report["changes"]}
        assert after.get("el_onb_dept", DEPT) == DEPT  # the option as NextStep spells it
        assert "el_onb_phone" in after


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    text=st.text(
        st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=12
    ),
    forms=st.sampled_from([("NFD", "NFC"), ("NFC", "NFD"), ("NFKC", "NFD")]),
)
def test_any_text_resaved_in_another_normal_form_is_no_change(bulk, tmp_path, text, forms):
    """The law: exported, re-saved in another normal form, imported: an empty plan."""
    live_form, sheet_form = forms
    if not Path(tmp_path / "first.xlsx").exists():
        bulk("export", ONB_ACTIVE, "-o", "first.xlsx")
    set_live(
        tmp_path,
        tmp_path / "first.xlsx",
        {
            ("tt_onb_details", "el_onb_pronouns"): unicodedata.normalize(live_form, text),
            ("tt_onb_equipment", "el_onb_delivery"): unicodedata.normalize(live_form, text),
        },
    )
    assert bulk("export", ONB_ACTIVE, "-o", "one.csv").exit_code == 0
    resave_csv(tmp_path / "one.csv", sheet_form)
    code, report = dry_run(bulk, "one.csv", "--detailed-exitcode")
    assert (code, report["errors"], report["changes"]) == (0, [], [])


# -- 5: the runs layout's column keys ----------------------------------------------------


def test_swapped_column_keys_in_an_xlsx_are_refused_naming_the_columns(bulk, tmp_path):
    bulk("export", "--template", "tpl_onboarding", "-o", "onb.xlsx")
    path = tmp_path / "onb.xlsx"
    book = openpyxl.load_workbook(path)
    sheet = book["Runs"]
    keys = {c.value: c for c in sheet[2]}
    phone, pronouns = keys["tt_onb_details:el_onb_phone"], keys["tt_onb_details:el_onb_pronouns"]
    phone.value, pronouns.value = pronouns.value, phone.value
    # and two columns with the same label in different tasks
    first, second = keys["tt_onb_welcome:completed"], keys["tt_onb_security:completed"]
    first.value, second.value = second.value, first.value
    book.save(path)
    refs = edit_runs(path, {(ONB_ACTIVE, "tt_onb_details:el_onb_pronouns"): "+49 30 1234"})
    code, report = dry_run(bulk, "onb.xlsx")
    assert code == ExitCode.INVALID
    assert (report["changes"], report["summary"]["requests"]) == ([], 0)
    got = {e["cell"]: e for e in report["errors"]}
    assert set(got) == {f"Runs!{c.column_letter}2" for c in (phone, pronouns, first, second)}, (
        report["errors"]
    )
    assert {e["code"] for e in got.values()} == {"column_key"}
    message = got[f"Runs!{phone.column_letter}2"]["message"]
    assert "Phone" in message and "Pronouns" in message and "export again" in message
    assert refs  # the edit sits in a column whose key was swapped: not read at all


def test_an_unknown_or_doubled_column_key_is_refused(bulk, tmp_path):
    bulk("export", "--template", "tpl_onboarding", "-o", "onb.xlsx")
    path = tmp_path / "onb.xlsx"
    book = openpyxl.load_workbook(path)
    keys = {c.value: c for c in book["Runs"][2]}
    keys["tt_onb_details:el_onb_phone"].value = "tt_onb_details:el_nope"
    keys["tt_onb_details:el_onb_empno"].value = "tt_onb_details:el_onb_payref"
    book.save(path)
    code, report = dry_run(bulk, "onb.xlsx")
    assert code == ExitCode.INVALID
    assert {e["cell"] for e in report["errors"]} == {
        f"Runs!{keys['tt_onb_details:el_onb_phone'].column_letter}2",
        f"Runs!{keys['tt_onb_details:el_onb_empno'].column_letter}2",
    }


def test_swapped_column_keys_in_a_csv_are_refused_naming_the_header_cells(bulk, tmp_path):
    bulk("export", "--template", "tpl_onboarding", "-o", "onb.csv")
    path = tmp_path / "onb.csv"
    rows = read_csv_rows(path)
    header = rows[0]
    at = {h.rsplit("[", 1)[-1].rstrip("]"): i for i, h in enumerate(header)}
    phone, pronouns = at["tt_onb_details:el_onb_phone"], at["tt_onb_details:el_onb_pronouns"]
    header[phone], header[pronouns] = (
        header[phone].replace("el_onb_phone", "el_onb_pronouns"),
        header[pronouns].replace("el_onb_pronouns", "el_onb_phone"),
    )
    run_col = header.index("run_id")
    for row in rows[1:]:
        if row[run_col] == ONB_ACTIVE:
            row[pronouns] = "she/her"
    write_csv_rows(path, rows)
    code, report = dry_run(bulk, "onb.csv")
    assert code == ExitCode.INVALID
    assert (report["changes"], report["summary"]["requests"]) == ([], 0)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    assert {e["cell"] for e in report["errors"]} == {
        f"onb.csv!{letters[phone]}1",
        f"onb.csv!{letters[pronouns]}1",
    }
    assert {e["code"] for e in report["errors"]} == {"column_key"}


# -- 4: a CSV and its sidecar come from the same export ----------------------------------


def test_an_older_csv_beside_a_newer_sidecar_is_refused(bulk, tmp_path):
    bulk("export", ONB_ACTIVE, "-o", "one.csv")
    old = read_csv_rows(tmp_path / "one.csv")
    # the value is edited in NextStep, and exported again over the same file
    set_live(tmp_path, tmp_path / "one.csv", {("tt_onb_details", "el_onb_phone"): "+49 live"})
    assert bulk("export", ONB_ACTIVE, "-o", "one.csv").exit_code == 0
    # the old copy of the CSV comes back beside the new sidecar
    write_csv_rows(tmp_path / "one.csv", old)
    result = bulk("import", "one.csv", "--dry-run")
    assert result.exit_code == ExitCode.SHEET, result.output
    message = " ".join(result.stderr.split())
    assert "one.csv" in message and "one.csv.base.json" in message
    assert "same export" in message and "export again" in message
    assert "Traceback" not in result.output
    # a hand-edited export id does not make them match either
    tie = next(i for i, h in enumerate(old[0]) if h.startswith("bulksync export"))
    new = read_csv_rows(tmp_path / "one.csv")[0][tie]
    old[0][tie] = new.split(" rows ")[0] + " rows " + old[0][tie].split(" rows ")[1]
    write_csv_rows(tmp_path / "one.csv", old)
    assert bulk("import", "one.csv", "--dry-run").exit_code == ExitCode.SHEET


def test_an_edited_csv_still_matches_its_sidecar(bulk, tmp_path):
    bulk("export", ONB_ACTIVE, "-o", "one.csv")
    ref = edit_csv_value(tmp_path / "one.csv", "el_onb_phone", "+49 edited")
    code, report = dry_run(bulk, "one.csv")
    assert code == 0, report["errors"]
    assert [(c["cell"], c["after"]) for c in report["changes"]] == [(ref, "+49 edited")]


def test_a_csv_that_lost_its_export_id_is_refused_with_what_to_do(bulk, tmp_path):
    bulk("export", ONB_ACTIVE, "-o", "one.csv")
    rows = read_csv_rows(tmp_path / "one.csv")
    tie = next(i for i, h in enumerate(rows[0]) if h.startswith("bulksync export"))
    write_csv_rows(tmp_path / "one.csv", [row[:tie] + row[tie + 1 :] for row in rows])
    result = bulk("import", "one.csv", "--dry-run")
    assert result.exit_code == ExitCode.SHEET
    assert "bulksync export" in result.stderr and "export again" in result.stderr


@needs_libreoffice
@pytest.mark.parametrize("layout", ["runs", "tasks"])
def test_a_csv_resaved_by_libreoffice_still_matches_its_sidecar(bulk, tmp_path, layout):
    args = ("--template", "tpl_onboarding", "--layout", layout, "-o", "onb.csv")
    assert bulk("export", *args).exit_code == 0
    saved = libreoffice_csv(tmp_path, "onb.csv")
    code, report = dry_run(bulk, str(saved), "--detailed-exitcode")
    assert (code, report["errors"], report["changes"]) == (0, [], [])


# -- the delimiter of a CSV is read from its header, quoted cells aside --------------------


def retitle_tasks(sandbox, suffix: str) -> None:
    """Give every task of the onboarding template (and of its runs) a longer title."""
    db = sandbox.store
    with db._lock:
        rows = db._db.execute(
            "SELECT id, doc FROM template_tasks WHERE template_id = 'tpl_onboarding'"
        ).fetchall()
        for task_id, doc in rows:
            data = json.loads(doc)
            data["title"] += suffix
            db._db.execute(
                "UPDATE template_tasks SET doc = ? WHERE template_id = 'tpl_onboarding' AND id = ?",
                (json.dumps(data), task_id),
            )
    for run in db.runs("tpl_onboarding"):
        for task in db.tasks(run["id"]):
            task["title"] += suffix
            db.save_task(task)


def resave_with(path: Path, delimiter: str) -> None:
    rows = read_csv_rows(path)
    with path.open("w", encoding="utf-8", newline="") as handle:  # no BOM, as Excel does
        csv.writer(handle, delimiter=delimiter).writerows(rows)


@pytest.mark.parametrize(
    ("suffix", "delimiter"),
    [
        ("; badge; keys", ","),  # as exported, untouched
        (", badge, keys", ";"),  # re-saved by a spreadsheet app set to a ';' locale
    ],
)
def test_an_unedited_runs_csv_imports_as_no_change_whatever_its_titles_hold(
    http, tmp_path, suffix, delimiter
):
    bulk, sandbox = http()
    retitle_tasks(sandbox, suffix)
    args = ("--template", "tpl_onboarding", "--layout", "runs", "-o", "onb.csv")
    assert bulk("export", *args).exit_code == 0
    if delimiter != ",":
        resave_with(tmp_path / "onb.csv", delimiter)
    result = bulk("import", "onb.csv", "--dry-run", "--json", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["errors"], report["changes"]) == ([], [])

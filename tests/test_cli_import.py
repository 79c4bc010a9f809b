"""``bulksync import --dry-run`` through the CLI against the sandbox.

Each test exports from the sandbox, edits the file as a person (or a script) would,
sometimes changes live state behind the sheet's back, and reads the dry run's report.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from bulksync.cli import cli
from bulksync.errors import ExitCode
from bulksync.sandbox import DEFAULT_STATE, open_sandbox, sandbox_client
from bulksync.sheets import read_sheet

ONB_ACTIVE = "run_onb_011"


@pytest.fixture
def bulk(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEXTSTEP_API_KEY", raising=False)
    monkeypatch.delenv("NEXTSTEP_BASE_URL", raising=False)

    def invoke(*args: str):
        return CliRunner().invoke(cli, ["--sandbox", *args], catch_exceptions=False)

    return invoke


@contextmanager
def live(tmp_path: Path) -> Iterator[object]:
    """The same sandbox the CLI uses, to change live state behind the sheet's back."""
    sandbox = open_sandbox(tmp_path / DEFAULT_STATE)
    try:
        with sandbox_client(sandbox) as client:
            yield client
    finally:
        sandbox.store.close()


@contextmanager
def store(tmp_path: Path) -> Iterator[object]:
    sandbox = open_sandbox(tmp_path / DEFAULT_STATE)
    try:
        yield sandbox.store
    finally:
        sandbox.store.close()


def dry_run(bulk, path: str, *extra: str) -> tuple[int, dict]:
    result = bulk("import", path, "--dry-run", "--json", *extra)
    assert result.exit_code != 1, result.output  # never an internal error
    return result.exit_code, json.loads(result.stdout)


def task_id(path: Path, run_id: str, template_task_id: str) -> str:
    sheet = read_sheet(path)
    return next(
        k.task_id
        for k, v in sheet.base.items()
        if k.run_id == run_id and v.spec.template_task_id == template_task_id
    )


def onboarding(bulk, tmp_path: Path) -> tuple[Path, str]:
    """Export the active onboarding runs (runs layout); the file and the details task's
    id in ONB_ACTIVE, to change live state behind the sheet's back."""
    assert bulk("export", "--template", "tpl_onboarding", "-o", "onb.xlsx").exit_code == 0
    path = tmp_path / "onb.xlsx"
    return path, task_id(path, ONB_ACTIVE, "tt_onb_details")


def edit_runs(path: Path, edits: dict[tuple[str, str], object]) -> dict[tuple[str, str], str]:
    """Set cells of the runs layout by (run id, column key); return their refs."""
    book = openpyxl.load_workbook(path)
    sheet = book["Runs"]
    keys = [c.value for c in sheet[2]]
    run_col = keys.index("run_id")
    refs = {}
    for row in sheet.iter_rows(min_row=4):
        for (run_id, column), value in edits.items():
            if row[run_col].value == run_id:
                cell = row[keys.index(column)]
                cell.value = value
                refs[(run_id, column)] = f"Runs!{cell.coordinate}"
    book.save(path)
    assert len(refs) == len(edits)
    return refs


def edit_tasks(path: Path, edits: dict[tuple[str, str, str], object]) -> dict[tuple, str]:
    """Set Value cells of the tasks layout by (run id, template task id, field)."""
    sheet_ids = {
        (k.run_id, v.spec.template_task_id, k.field): k for k, v in read_sheet(path).base.items()
    }
    book = openpyxl.load_workbook(path)
    sheet = book["Fields"]
    header = [c.value for c in sheet[1]]
    ids = [header.index(n) for n in ("run_id", "task_id", "field_id")]
    value_col = header.index("Value")
    wanted = {sheet_ids[k]: (k, v) for k, v in edits.items()}
    refs = {}
    for row in sheet.iter_rows(min_row=2):
        key = tuple(row[i].value for i in ids)
        for field_key, (name, value) in wanted.items():
            if key == (field_key.run_id, field_key.task_id, field_key.field):
                row[value_col].value = value
                refs[name] = f"Fields!{row[value_col].coordinate}"
    book.save(path)
    assert len(refs) == len(edits)
    return refs


# -- the law: an unedited sheet is no change and no request -----------------------------


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
@pytest.mark.parametrize("layout", ["runs", "tasks"])
def test_every_sample_run_exported_and_imported_unedited_is_an_empty_plan(
    bulk, tmp_path, suffix, layout
):
    for template in ("tpl_onboarding", "tpl_vendor", "tpl_implementation", "tpl_access_review"):
        name = f"{template}_{layout}{suffix}"
        exported = bulk(
            "export", "--template", template, "--status", "all", "--layout", layout, "-o", name
        )
        assert exported.exit_code == 0, exported.output
        result = bulk("import", name, "--dry-run", "-v")
        assert result.exit_code == 0, result.output
        assert "0 to change" in result.stdout
        assert "The import sends no request" in result.stdout
        assert "0 requests (none)" in result.stderr  # not even a read of live state
        code, report = dry_run(bulk, name, "--detailed-exitcode")
        assert code == 0
        assert report["summary"]["changes"] == report["summary"]["requests"] == 0
        assert report["summary"]["unchanged"] == read_sheet(tmp_path / name).meta.values


def test_unedited_sheet_resaved_by_libreoffice_is_an_empty_plan(bulk, tmp_path):
    if shutil.which("soffice") is None:
        pytest.skip("LibreOffice is not installed (CI installs it)")
    bulk("export", "--template", "tpl_onboarding", "--status", "all", "-o", "onb.xlsx")
    out = tmp_path / "lo"
    subprocess.run(
        ["soffice", "--headless", "--convert-to", "xlsx", "--outdir", str(out), "onb.xlsx"],
        check=True,
        capture_output=True,
        timeout=180,
        cwd=tmp_path,
    )
    code, report = dry_run(bulk, "lo/onb.xlsx", "--detailed-exitcode")
    assert (code, report["summary"]["changes"], report["errors"]) == (0, 0, [])


# -- three-way diff ---------------------------------------------------------------------


def test_an_edit_is_a_change_with_before_and_after(bulk, tmp_path):
    bulk("export", "--template", "tpl_onboarding", "-o", "onb.xlsx")
    live_band = (
        read_sheet(tmp_path / "onb.xlsx")
        .base[
            next(
                k
                for k in read_sheet(tmp_path / "onb.xlsx").base
                if k.run_id == ONB_ACTIVE and k.field == "el_onb_band"
            )
        ]
        .value
    )
    refs = edit_runs(
        tmp_path / "onb.xlsx",
        {
            (ONB_ACTIVE, "tt_onb_details:el_onb_pronouns"): "she/her",
            (ONB_ACTIVE, "tt_onb_dept:el_onb_band"): 7,
            (ONB_ACTIVE, "tt_onb_details:el_onb_name"): "Noah Müller-Lüdenscheidt",
        },
    )
    code, report = dry_run(bulk, "onb.xlsx")
    assert code == ExitCode.OK
    changes = {(c["field"], c["before"] or None, c["after"]) for c in report["changes"]}
    assert changes == {
        ("el_onb_pronouns", None, "she/her"),
        ("el_onb_band", live_band, 7),
        ("el_onb_name", "Noah Müller", "Noah Müller-Lüdenscheidt"),
    }
    assert {c["cell"] for c in report["changes"]} == set(refs.values())
    # two tasks touched: two PATCHes, the name and pronouns in one
    bodies = sorted((r["body"] for r in report["requests"]), key=len)
    assert len(bodies) == report["summary"]["requests"] == 2
    assert {(e["id"], e["value"]) for b in bodies for e in b["custom_elements"]} == {
        ("el_onb_band", 7),
        ("el_onb_name", "Noah Müller-Lüdenscheidt"),
        ("el_onb_pronouns", "she/her"),
    }
    assert dry_run(bulk, "onb.xlsx", "--detailed-exitcode")[0] == ExitCode.CHANGES


def test_the_dry_run_reads_only_runs_with_edits_and_writes_nothing(bulk, tmp_path):
    bulk("export", "--template", "tpl_onboarding", "-o", "onb.xlsx")
    edit_runs(tmp_path / "onb.xlsx", {(ONB_ACTIVE, "tt_onb_details:el_onb_pronouns"): "he/him"})
    result = bulk("import", "onb.xlsx", "--dry-run", "-v")
    assert result.exit_code == 0, result.output
    assert "1 request (GET 200×1)" in result.stderr
    with live(tmp_path) as client:
        tasks = client.run_tasks(ONB_ACTIVE)
    element = next(t for t in tasks if t.template_task_id == "tt_onb_details").element(
        "el_onb_pronouns"
    )
    assert element.value in (None, "")  # a dry run writes nothing


def test_a_value_changed_live_and_in_the_sheet_is_a_conflict(bulk, tmp_path):
    path, details = onboarding(bulk, tmp_path)
    edit_runs(
        path,
        {
            (ONB_ACTIVE, "tt_onb_details:el_onb_pronouns"): "he/him",
            (ONB_ACTIVE, "tt_onb_details:el_onb_phone"): "+49 1",
            (ONB_ACTIVE, "tt_onb_details:el_onb_empno"): "0297",
        },
    )
    with live(tmp_path) as client:
        client.patch_task(
            ONB_ACTIVE,
            details,
            elements={"el_onb_pronouns": "they/them", "el_onb_phone": "+49 1"},
        )
    code, report = dry_run(bulk, "onb.xlsx")
    assert code == ExitCode.CONFLICTS
    assert [
        (c["field"], c["base"] or None, c["live"], c["sheet"]) for c in report["conflicts"]
    ] == [("el_onb_pronouns", None, "they/them", "he/him")]
    assert [c["field"] for c in report["already_done"]] == ["el_onb_phone"]
    assert [c["field"] for c in report["changes"]] == ["el_onb_empno"]
    assert report["requests"][0]["body"] == {
        "custom_elements": [{"id": "el_onb_empno", "value": "0297"}]
    }
    # --on-conflict mine writes the sheet's value over the live one, and says so
    code, report = dry_run(bulk, "onb.xlsx", "--on-conflict", "mine")
    assert code == ExitCode.OK
    assert report["conflicts"][0]["written"] is True
    assert {"id": "el_onb_pronouns", "value": "he/him"} in report["requests"][0]["body"][
        "custom_elements"
    ]
    text = bulk("import", "onb.xlsx", "--dry-run").stdout
    assert "Conflicts" in text and "they/them" in text and "he/him" in text


def test_an_unedited_value_changed_live_is_left_alone(bulk, tmp_path):
    path, details = onboarding(bulk, tmp_path)
    edit_runs(path, {(ONB_ACTIVE, "tt_onb_details:el_onb_phone"): "+49 2"})
    with live(tmp_path) as client:
        client.patch_task(ONB_ACTIVE, details, elements={"el_onb_pronouns": "they/them"})
    code, report = dry_run(bulk, "onb.xlsx")
    assert code == 0
    assert [c["field"] for c in report["changes"]] == ["el_onb_phone"]
    body = report["requests"][0]["body"]
    assert body == {"custom_elements": [{"id": "el_onb_phone", "value": "+49 2"}]}


def test_equality_is_the_field_types_own(bulk, tmp_path):
    """1 = 1.0, a date cell = its ISO text, multichoice as a set, CRLF = LF."""
    with live(tmp_path) as client:
        tasks = {t.template_task_id: t.id for t in client.run_tasks(ONB_ACTIVE)}
        client.patch_task(
            ONB_ACTIVE,
            tasks["tt_onb_equipment"],
            elements={
                "el_onb_accessories": ["Monitor", "Keyboard, US layout", "Headset"],
                "el_onb_delivery": "Front desk\nLevel 3",
            },
        )
        client.patch_task(ONB_ACTIVE, tasks["tt_onb_dept"], elements={"el_onb_band": 3})
    bulk("export", ONB_ACTIVE, "-o", "one.csv")
    path = tmp_path / "one.csv"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    value, field = header.index("Value"), header.index("field_id")
    changed = set()
    for row in rows[1:]:
        text = row[value]
        if row[field] == "el_onb_band":
            row[value] = text + ".0"
        elif row[field] == "el_onb_accessories":
            row[value] = "Headset, Keyboard, US layout; Monitor; Headset"
        elif row[field] == "el_onb_delivery":
            row[value] = text.replace("\n", "\r\n")
        elif row[field] == "el_onb_start":
            row[value] = " " + text
        else:
            continue
        changed.add(row[field])
    assert changed == {"el_onb_band", "el_onb_accessories", "el_onb_delivery", "el_onb_start"}
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(rows)
    code, report = dry_run(bulk, "one.csv", "--detailed-exitcode")
    assert (code, report["changes"], report["errors"]) == (0, [], [])


# -- validation -------------------------------------------------------------------------


def test_every_invalid_value_is_reported_with_its_cell(bulk, tmp_path):
    bulk("export", ONB_ACTIVE, "-o", "one.xlsx")
    path = tmp_path / "one.xlsx"
    refs = edit_tasks(
        path,
        {
            (ONB_ACTIVE, "tt_onb_dept", "el_onb_band"): "three",
            (ONB_ACTIVE, "tt_onb_dept", "el_onb_start"): "03/04/2026",
            (ONB_ACTIVE, "tt_onb_details", "el_onb_email"): "noah@",
            (ONB_ACTIVE, "tt_onb_accounts", "el_onb_github"): "ftp://github.com/noah",
            (ONB_ACTIVE, "tt_onb_dept", "el_onb_dept"): "Enginering",
            (ONB_ACTIVE, "tt_onb_equipment", "el_onb_accessories"): "Monitor; Trackball",
            (ONB_ACTIVE, "tt_onb_tour", "el_onb_badge"): "maybe",
            (ONB_ACTIVE, "tt_onb_security", "completed"): "done",
            (ONB_ACTIVE, "tt_onb_buddy", "assignee"): "Ana García",
        },
    )
    code, report = dry_run(bulk, "one.xlsx")
    assert code == ExitCode.INVALID
    by_field = {e["field"]: e for e in report["errors"]}
    expected_codes = {
        "el_onb_band": "not_a_number",
        "el_onb_start": "not_a_date",
        "el_onb_email": "not_an_email",
        "el_onb_github": "not_a_url",
        "el_onb_dept": "not_an_option",
        "el_onb_accessories": "not_an_option",
        "el_onb_badge": "not_a_boolean",
        "completed": "not_a_boolean",
        "assignee": "not_an_assignee",
    }
    assert {f: e["code"] for f, e in by_field.items()} == expected_codes
    for (_, _, field), ref in refs.items():
        assert by_field[field]["cell"] == ref
        assert by_field[field]["run_id"] == ONB_ACTIVE
    assert "did you mean 'Engineering'" in by_field["el_onb_dept"]["message"]
    assert "Trackball" in by_field["el_onb_accessories"]["message"]
    assert "YYYY-MM-DD" in by_field["el_onb_start"]["message"]
    assert report["summary"]["requests"] == 0
    text = bulk("import", "one.xlsx", "--dry-run")
    assert text.exit_code == ExitCode.INVALID
    assert "nothing is sent while any error stands" in text.stdout
    assert refs[(ONB_ACTIVE, "tt_onb_dept", "el_onb_dept")] in text.stdout
    assert "Traceback" not in text.output


def test_lenient_spellings_are_accepted_and_normalised(bulk, tmp_path):
    bulk("export", ONB_ACTIVE, "-o", "one.xlsx")
    path = tmp_path / "one.xlsx"
    edit_tasks(
        path,
        {
            (ONB_ACTIVE, "tt_onb_dept", "el_onb_dept"): "  sales, americas ",
            (ONB_ACTIVE, "tt_onb_equipment", "el_onb_accessories"): "headset, monitor, Headset",
            (ONB_ACTIVE, "tt_onb_tour", "el_onb_badge"): "yes",
            (ONB_ACTIVE, "tt_onb_dept", "el_onb_start"): dt.datetime(2026, 3, 4),
            (ONB_ACTIVE, "tt_onb_buddy", "assignee"): "chen.wei@acme.example",
            (ONB_ACTIVE, "tt_onb_details", "el_onb_pronouns"): 42,
        },
    )
    code, report = dry_run(bulk, "one.xlsx")
    assert code == 0, report["errors"]
    after = {c["field"]: c["after"] for c in report["changes"]}
    assert after["el_onb_dept"] == "Sales, Americas"
    assert after["el_onb_accessories"] == ["Headset", "Monitor"]
    assert after["el_onb_badge"] is True
    assert after["el_onb_start"] == "2026-03-04"
    assert after["assignee"] == "chen.wei@acme.example"
    assert after["el_onb_pronouns"] == "42"  # a number typed into a text cell: what you see
    assert {w["code"] for w in report["warnings"]} == {"normalised"}
    assert {w["field"] for w in report["warnings"]} == {"el_onb_dept", "el_onb_accessories"}


def test_clearing_a_required_field_is_a_warning(bulk, tmp_path):
    bulk("export", ONB_ACTIVE, "-o", "one.xlsx")
    edit_tasks(tmp_path / "one.xlsx", {(ONB_ACTIVE, "tt_onb_details", "el_onb_name"): None})
    code, report = dry_run(bulk, "one.xlsx")
    assert code == 0
    assert [(w["field"], w["code"]) for w in report["warnings"]] == [
        ("el_onb_name", "required_cleared")
    ]
    assert report["changes"][0]["after"] is None


def test_formulas_and_error_values(bulk, tmp_path):
    bulk("export", ONB_ACTIVE, "-o", "one.xlsx")
    path = tmp_path / "one.xlsx"
    refs = edit_tasks(
        path,
        {
            (ONB_ACTIVE, "tt_onb_dept", "el_onb_band"): "=2+3",
            (ONB_ACTIVE, "tt_onb_details", "el_onb_phone"): "#N/A",
        },
    )
    code, report = dry_run(bulk, "one.xlsx")
    assert code == ExitCode.INVALID
    codes = {e["cell"]: e["code"] for e in report["errors"]}
    assert codes == {
        refs[(ONB_ACTIVE, "tt_onb_dept", "el_onb_band")]: "formula",
        refs[(ONB_ACTIVE, "tt_onb_details", "el_onb_phone")]: "error_value",
    }
    # openpyxl saves no cached result: --accept-formulas cannot help
    assert dry_run(bulk, "one.xlsx", "--accept-formulas")[0] == ExitCode.INVALID
    if shutil.which("soffice") is None:
        return
    # LibreOffice computes and saves the result; then --accept-formulas imports it
    edit_tasks(path, {(ONB_ACTIVE, "tt_onb_details", "el_onb_phone"): "+49 3"})
    subprocess.run(
        ["soffice", "--headless", "--convert-to", "xlsx", "--outdir", "lo", "one.xlsx"],
        check=True,
        capture_output=True,
        timeout=180,
        cwd=tmp_path,
    )
    code, report = dry_run(bulk, "lo/one.xlsx")
    assert code == ExitCode.INVALID and report["errors"][0]["code"] == "formula"
    assert "--accept-formulas" in report["errors"][0]["message"]
    code, report = dry_run(bulk, "lo/one.xlsx", "--accept-formulas")
    assert code == 0, report["errors"]
    assert {c["field"]: c["after"] for c in report["changes"]}["el_onb_band"] == 5


# -- matching ---------------------------------------------------------------------------


def test_sorted_filtered_and_deleted_rows_are_fine(bulk, tmp_path):
    bulk("export", ONB_ACTIVE, "-o", "one.xlsx")
    path = tmp_path / "one.xlsx"
    edit_tasks(path, {(ONB_ACTIVE, "tt_onb_details", "el_onb_phone"): "+49 4"})
    book = openpyxl.load_workbook(path)
    sheet = book["Fields"]
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    rows.reverse()
    del rows[3:9]  # deleting rows changes nothing
    sheet.delete_rows(2, sheet.max_row)
    for row in rows:
        sheet.append(row)
    book.save(path)
    code, report = dry_run(bulk, "one.xlsx")
    assert code == 0, report["errors"]
    assert [(c["field"], c["after"]) for c in report["changes"]] == [("el_onb_phone", "+49 4")]


def test_ids_edited_duplicated_or_missing_are_errors_naming_the_cell(bulk, tmp_path):
    bulk("export", ONB_ACTIVE, "-o", "one.csv")
    path = tmp_path / "one.csv"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    run_col, value_col = header.index("run_id"), header.index("Value")
    rows[3][run_col] = "run_nope"  # an edited id → C4? no: the row's value cell
    rows.append(list(rows[5]))  # the same ids twice
    rows.append(["", "", "", "", "", "", "", "a new row", "", "", ""])  # no ids
    rows[2][header.index("Task")] = "Renamed task"  # an edited context cell
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(rows)
    code, report = dry_run(bulk, "one.csv")
    assert code == ExitCode.INVALID
    got = {(e["code"], e["cell"]) for e in report["errors"]}
    value_letter = "ABCDEFGH"[value_col]
    assert got == {
        ("unknown_ids", f"one.csv!{value_letter}4"),
        ("duplicate_ids", f"one.csv!{value_letter}{len(rows) - 1}"),
        ("no_ids", f"one.csv!A{len(rows)}"),
        ("context_edited", "one.csv!C3"),
    }
    context = next(e for e in report["errors"] if e["code"] == "context_edited")
    assert context["value"] == "Renamed task"


def test_a_sheet_from_another_host_is_refused_unless_forced(bulk, tmp_path):
    bulk("export", ONB_ACTIVE, "-o", "one.csv")
    side = tmp_path / "one.csv.base.json"
    document = json.loads(side.read_text(encoding="utf-8"))
    document["meta"]["host"] = "acme.getnextstep.io"
    side.write_text(json.dumps(document), encoding="utf-8")
    result = bulk("import", "one.csv", "--dry-run")
    assert result.exit_code == ExitCode.SHEET
    assert "acme.getnextstep.io" in result.stderr and "--force" in result.stderr
    assert bulk("import", "one.csv", "--dry-run", "--force").exit_code == 0


def test_a_csv_without_base_needs_no_base_and_says_what_that_means(bulk, tmp_path):
    bulk("export", "--template", "tpl_vendor", "--layout", "runs", "-o", "v.csv")
    (tmp_path / "v.csv.base.json").unlink()
    result = bulk("import", "v.csv", "--dry-run")
    assert result.exit_code == ExitCode.SHEET
    assert "--no-base" in result.stderr
    # a hand-made CSV: only a run_id column and one field column
    rows = [["run_id", "Vendor intake › Spend [tt_ven_intake:el_ven_spend]"]]
    with live(tmp_path) as client:
        runs = client.list_runs(template_id="tpl_vendor", status="active")
    rows += [[r.id, "1250.5"] for r in runs]
    with (tmp_path / "hand.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    code, report = dry_run(bulk, "hand.csv", "--no-base")
    assert code == 0, report["errors"]
    assert report["base"] is False
    assert report["warnings"][0]["code"] == "no_base"
    assert "overwritten" in report["warnings"][0]["message"]
    assert {c["after"] for c in report["changes"]} == {1250.5}
    assert report["summary"]["changes"] + report["summary"]["unchanged"] == len(runs)


# -- locks and drift --------------------------------------------------------------------


def test_edits_to_locked_or_drifted_values_are_errors(bulk, tmp_path):
    bulk("export", "--template", "tpl_onboarding", "--status", "all", "-o", "onb.xlsx")
    path = tmp_path / "onb.xlsx"
    sheet = read_sheet(path)
    completed_run = next(
        k.run_id for k, v in sheet.base.items() if v.spec.locked == "run completed"
    )
    others = sorted(
        {k.run_id for k, v in sheet.base.items() if v.spec.locked is None} - {ONB_ACTIVE}
    )
    gone_run, drift_run = others[0], others[1]
    refs = edit_runs(
        path,
        {
            (completed_run, "tt_onb_details:el_onb_pronouns"): "xe/xem",
            (ONB_ACTIVE, "tt_onb_dept:el_onb_dept"): "Sales, Americas",
            (ONB_ACTIVE, "tt_onb_equipment:el_onb_laptop"): "Dell XPS 13",
            (gone_run, "tt_onb_details:el_onb_phone"): "+1 555",
            (drift_run, "tt_onb_details:el_onb_phone"): "+1 556",
        },
    )
    dept_task = task_id(path, ONB_ACTIVE, "tt_onb_dept")
    laptop_task = task_id(path, ONB_ACTIVE, "tt_onb_equipment")
    drift_task = task_id(path, drift_run, "tt_onb_details")
    with store(tmp_path) as db:
        # the option chosen was removed from the dropdown since the export
        doc = db.task(ONB_ACTIVE, dept_task)
        for element in doc["custom_elements"]:
            if element["id"] == "el_onb_dept":
                element["options"] = [o for o in element["options"] if o != "Sales, Americas"]
        db.save_task(doc)
        # the laptop field's options changed, but the value chosen is still there
        doc = db.task(ONB_ACTIVE, laptop_task)
        for element in doc["custom_elements"]:
            if element["id"] == "el_onb_laptop":
                element["options"] = [*element["options"], "Framework 13"]
        db.save_task(doc)
        # a field removed from the task (template synced into the run)
        doc = db.task(drift_run, drift_task)
        doc["custom_elements"] = [e for e in doc["custom_elements"] if e["id"] != "el_onb_phone"]
        db.save_task(doc)
        # a run deleted
        db._db.execute("DELETE FROM runs WHERE id = ?", (gone_run,))
        db._db.execute("DELETE FROM tasks WHERE run_id = ?", (gone_run,))
    code, report = dry_run(bulk, "onb.xlsx")
    assert code == ExitCode.INVALID
    got = {e["cell"]: e["code"] for e in report["errors"]}
    assert got == {
        refs[(completed_run, "tt_onb_details:el_onb_pronouns")]: "locked",
        refs[(ONB_ACTIVE, "tt_onb_dept:el_onb_dept")]: "option_removed",
        refs[(gone_run, "tt_onb_details:el_onb_phone")]: "run_not_found",
        refs[(drift_run, "tt_onb_details:el_onb_phone")]: "field_gone",
    }
    assert [w["code"] for w in report["warnings"]] == ["options_changed"]
    assert [c["field"] for c in report["changes"]] == ["el_onb_laptop"]


def test_a_run_completed_or_a_task_skipped_since_the_export_is_an_error(bulk, tmp_path):
    bulk("export", "--template", "tpl_onboarding", "-o", "onb.xlsx")
    path = tmp_path / "onb.xlsx"
    runs = sorted({k.run_id for k in read_sheet(path).base} - {ONB_ACTIVE})
    refs = edit_runs(
        path,
        {
            (runs[0], "tt_onb_details:el_onb_phone"): "+1 557",
            (runs[1], "tt_onb_details:el_onb_phone"): "+1 558",
        },
    )
    with store(tmp_path) as db:
        for doc in db.tasks(runs[0]):
            doc["completed"] = True
            db.save_task(doc)
        doc = db.task(runs[1], task_id(path, runs[1], "tt_onb_details"))
        doc["skipped"] = True
        db.save_task(doc)
    code, report = dry_run(bulk, "onb.xlsx")
    assert code == ExitCode.INVALID
    assert {e["cell"]: e["code"] for e in report["errors"]} == {
        refs[(runs[0], "tt_onb_details:el_onb_phone")]: "run_completed",
        refs[(runs[1], "tt_onb_details:el_onb_phone")]: "locked",
    }


# -- the plan ---------------------------------------------------------------------------


def test_completing_a_runs_last_open_task_goes_last_and_is_announced(bulk, tmp_path):
    bulk("export", ONB_ACTIVE, "-o", "one.xlsx")
    path = tmp_path / "one.xlsx"
    with live(tmp_path) as client:
        tasks = client.run_tasks(ONB_ACTIVE)
    open_tasks = [t for t in tasks if not t.completed and not t.skipped]
    assert len(open_tasks) >= 2
    edits = {(ONB_ACTIVE, t.template_task_id, "completed"): True for t in open_tasks}
    edits[(ONB_ACTIVE, "tt_onb_details", "el_onb_phone")] = "+49 5"
    edit_tasks(path, edits)
    code, report = dry_run(bulk, "one.xlsx")
    assert code == 0, report["errors"]
    requests = report["requests"]
    assert len(requests) == len(open_tasks) + (
        0 if any(t.template_task_id == "tt_onb_details" for t in open_tasks) else 1
    )
    assert requests[-1]["completes_run"] is True
    assert [r["completes_run"] for r in requests].count(True) == 1
    completing = [i for i, r in enumerate(requests) if r["body"].get("completed")]
    fields_only = [i for i, r in enumerate(requests) if "completed" not in r["body"]]
    assert all(i < j for i in fields_only for j in completing)
    assert report["completes_runs"] == [ONB_ACTIVE]
    text = bulk("import", "one.xlsx", "--dry-run").stdout
    assert f"This import completes run {ONB_ACTIVE}" in text
    assert "NextStep locks it" in text


def test_reports_html_and_json_files(bulk, tmp_path):
    path, details = onboarding(bulk, tmp_path)
    edit_runs(
        path,
        {
            (ONB_ACTIVE, "tt_onb_details:el_onb_pronouns"): "<b>he</b>/him",
            (ONB_ACTIVE, "tt_onb_details:el_onb_phone"): "+49 6",
            (ONB_ACTIVE, "tt_onb_dept:el_onb_band"): "high",
        },
    )
    with live(tmp_path) as client:
        client.patch_task(ONB_ACTIVE, details, elements={"el_onb_phone": "+49 7"})
    result = bulk(
        "import", "onb.xlsx", "--dry-run", "--report", "out/r.html", "--report", "out/r.json"
    )
    assert result.exit_code == ExitCode.INVALID
    page = (tmp_path / "out/r.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;he&lt;/b&gt;/him" in page and "<b>he</b>" not in page  # escaped
    assert "+49 7" in page and "+49 6" in page  # the conflict's live and sheet values
    assert "not_a_number" in page and "Runs!" in page
    assert "<script" not in page and "http" not in page.split("</style>")[0]
    report = json.loads((tmp_path / "out/r.json").read_text(encoding="utf-8"))
    assert set(report["summary"]) >= {"changes", "conflicts", "errors", "warnings", "requests"}
    assert report["summary"]["conflicts"] == 1 and report["summary"]["errors"] == 1
    for key in ("run_id", "task_id", "field", "before", "after"):
        assert key in report["changes"][0]
    for key in ("run_id", "task_id", "field", "base", "live", "sheet"):
        assert key in report["conflicts"][0]
    for key in ("cell", "run_id", "task_id", "field", "code", "message"):
        assert key in report["errors"][0]
    assert "sandbox" not in json.dumps(report).replace("sandbox.invalid", "")  # no key
    bad = bulk("import", "onb.xlsx", "--dry-run", "--report", "r.txt")
    assert bad.exit_code == ExitCode.USAGE


def test_import_without_dry_run_says_apply_is_not_there_yet(bulk, tmp_path):
    bulk("export", ONB_ACTIVE, "-o", "one.xlsx")
    result = bulk("import", "one.xlsx")
    assert result.exit_code == ExitCode.USAGE
    assert "--dry-run" in result.stderr


def test_a_missing_or_foreign_file_is_a_clear_error(bulk, tmp_path):
    result = bulk("import", "nope.xlsx", "--dry-run")
    assert result.exit_code == ExitCode.SHEET and "does not exist" in result.stderr
    book = openpyxl.Workbook()
    book.save(tmp_path / "plain.xlsx")
    result = bulk("import", "plain.xlsx", "--dry-run")
    assert result.exit_code == ExitCode.SHEET and "not a bulksync export" in result.stderr
    (tmp_path / "latin.csv").write_bytes("run_id,Value\nx,Gr\xfc\xdfe\n".encode("cp1252"))
    (tmp_path / "latin.csv.base.json").write_text("{}", encoding="utf-8")
    result = bulk("import", "latin.csv", "--dry-run")
    assert result.exit_code == ExitCode.SHEET


def test_a_csv_resaved_by_libreoffice_imports_as_no_change(bulk, tmp_path):
    if shutil.which("soffice") is None:
        pytest.skip("LibreOffice is not installed (CI installs it)")
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
    )
    out = tmp_path / "lo"
    out.mkdir()
    shutil.copy(tmp_path / "t.csv.base.json", out / "t.csv.base.json")
    # LibreOffice's own type detection on open (numbers, dates), UTF-8, comma, saved back
    filter_options = "44,34,76,1"
    subprocess.run(
        [
            "soffice",
            "--headless",
            f"--infilter=CSV:{filter_options}",
            "--convert-to",
            f"csv:Text - txt - csv (StarCalc):{filter_options}",
            "--outdir",
            str(out),
            "t.csv",
        ],
        check=True,
        capture_output=True,
        timeout=180,
        cwd=tmp_path,
    )
    saved = next(p for p in out.glob("*.csv"))
    saved.rename(out / "t.csv")
    code, report = dry_run(bulk, "lo/t.csv", "--detailed-exitcode")
    assert (code, report["changes"], report["errors"]) == (0, [], [])
    assert report["summary"]["unchanged"] == read_sheet(tmp_path / "t.csv").meta.values


def test_a_csv_in_a_legacy_encoding_needs_encoding(bulk, tmp_path):
    bulk("export", ONB_ACTIVE, "-o", "one.csv")
    path = tmp_path / "one.csv"
    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = rows[0]
    for row in rows[1:]:
        if row[header.index("field_id")] == "el_onb_pronouns":
            row[header.index("Value")] = "él/ella"
    with path.open("w", encoding="cp1252", newline="") as handle:
        csv.writer(handle).writerows(rows)
    result = bulk("import", "one.csv", "--dry-run")
    assert result.exit_code == ExitCode.SHEET
    assert "--encoding" in result.stderr and "cp1252" in result.stderr
    code, report = dry_run(bulk, "one.csv", "--encoding", "cp1252")
    assert code == 0, report["errors"]
    assert [(c["field"], c["after"]) for c in report["changes"]] == [("el_onb_pronouns", "él/ella")]
    assert report["changes"][0]["run_id"] == ONB_ACTIVE
    result = bulk("import", "one.csv", "--dry-run", "--encoding", "klingon")
    assert result.exit_code == ExitCode.SHEET and "Unknown encoding" in result.stderr


def test_a_value_typed_into_an_na_cell_is_an_error(bulk, tmp_path):
    bulk("export", "--template", "tpl_onboarding", "-o", "onb.csv")
    path = tmp_path / "onb.csv"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    spot = next((r, c) for r, row in enumerate(rows) for c, text in enumerate(row) if text == "n/a")
    rows[spot[0]][spot[1]] = "something"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(rows)
    code, report = dry_run(bulk, "onb.csv")
    assert code == ExitCode.INVALID
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    col = spot[1]
    name = letters[col] if col < 26 else letters[col // 26 - 1] + letters[col % 26]
    assert [(e["code"], e["cell"]) for e in report["errors"]] == [
        ("not_applicable", f"onb.csv!{name}{spot[0] + 1}")
    ]


def test_a_field_whose_type_changed_or_became_display_only_is_an_error(bulk, tmp_path):
    bulk("export", ONB_ACTIVE, "-o", "one.xlsx")
    path = tmp_path / "one.xlsx"
    refs = edit_tasks(
        path,
        {
            (ONB_ACTIVE, "tt_onb_dept", "el_onb_band"): 5,
            (ONB_ACTIVE, "tt_onb_details", "el_onb_phone"): "+49 8",
        },
    )
    with store(tmp_path) as db:
        for tt, element_id, change in (
            ("tt_onb_dept", "el_onb_band", {"type": "shortText"}),
            ("tt_onb_details", "el_onb_phone", {"display_only": True, "type": "text"}),
        ):
            doc = db.task(ONB_ACTIVE, task_id(path, ONB_ACTIVE, tt))
            for element in doc["custom_elements"]:
                if element["id"] == element_id:
                    element.update(change)
            db.save_task(doc)
    code, report = dry_run(bulk, "one.xlsx")
    assert code == ExitCode.INVALID
    got = {e["cell"]: (e["code"], e["message"]) for e in report["errors"]}
    band = got[refs[(ONB_ACTIVE, "tt_onb_dept", "el_onb_band")]]
    phone = got[refs[(ONB_ACTIVE, "tt_onb_details", "el_onb_phone")]]
    assert band[0] == "type_changed" and "shortText" in band[1]
    assert phone[0] == "locked" and "display-only" in phone[1]
    assert report["summary"]["requests"] == 0


def test_a_dry_run_over_real_http(tmp_path, monkeypatch, sandbox, serve):
    """The same dry run against the sandbox served on loopback HTTP."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEXTSTEP_API_KEY", "nxs_live_sandbox")
    monkeypatch.setenv("NEXTSTEP_BASE_URL", serve(sandbox))

    def http(*args: str):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    assert http("export", "--template", "tpl_onboarding", "-o", "onb.xlsx").exit_code == 0
    path = tmp_path / "onb.xlsx"
    details = task_id(path, ONB_ACTIVE, "tt_onb_details")
    edit_runs(
        path,
        {
            (ONB_ACTIVE, "tt_onb_details:el_onb_pronouns"): "he/him",
            (ONB_ACTIVE, "tt_onb_details:el_onb_phone"): "+49 9",
        },
    )
    with sandbox_client(sandbox) as client:
        client.patch_task(ONB_ACTIVE, details, elements={"el_onb_pronouns": "they/them"})
    result = http("import", "onb.xlsx", "--dry-run", "--json", "-v")
    assert result.exit_code == ExitCode.CONFLICTS, result.output
    report = json.loads(result.stdout)
    assert [c["field"] for c in report["changes"]] == ["el_onb_phone"]
    assert [c["live"] for c in report["conflicts"]] == ["they/them"]
    assert "1 request (GET 200×1)" in result.stderr
    assert "nxs_live_sandbox" not in result.output


def test_a_long_plan_is_shortened_on_the_terminal_but_not_in_reports(bulk, tmp_path):
    bulk("export", "--template", "tpl_onboarding", "-o", "onb.xlsx")
    path = tmp_path / "onb.xlsx"
    sheet = read_sheet(path)
    runs = sorted({k.run_id for k, v in sheet.base.items() if v.spec.locked is None})
    edits = {}
    for n, run_id in enumerate(runs):
        for column in (
            "el_onb_phone",
            "el_onb_pronouns",
            "el_onb_empno",
            "el_onb_payref",
            "el_onb_name",
        ):
            edits[(run_id, f"tt_onb_details:{column}")] = f"x{n}{column}"
    edit_runs(path, edits)
    changes = len(dry_run(bulk, "onb.xlsx")[1]["changes"])
    assert changes > 50
    text = bulk("import", "onb.xlsx", "--dry-run").stdout
    assert f"… and {changes - 50:,} more" in text
    assert text.count("→ x") == 50
    full = bulk("import", "onb.xlsx", "--dry-run", "-v").stdout
    assert full.count("→ x") == changes and "more:" not in full

"""``bulksync.validate``: what each edited cell reads as, and the issues a person sees.

Every sheet here is a real file: ``write_export`` of a snapshot built below, edited as a
person would (openpyxl for an xlsx, the csv module for a CSV), read by ``read_sheet``.
One task holds one field of each type, one row each, so a field's cell is ``H<row>``.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import openpyxl
import pytest

from bulksync import (
    ASSIGNEE,
    COMPLETION,
    Element,
    ImportOptions,
    IssueCode,
    Layout,
    Run,
    Severity,
    Snapshot,
    Task,
    plan_import,
    read_sheet,
    write_export,
)
from bulksync.sheets import Sheet
from bulksync.validate import Edits, edits, edits_without_base, row_issues

RUN = "run_a"
ELEMENTS = (
    Element("el_short", "shortText", "Name", "Ana", required=True),
    Element("el_long", "longText", "Notes", "two\nlines"),
    Element("el_mail", "email", "Mail", "ana@example.com"),
    Element("el_web", "website", "Site", "https://example.com"),
    Element("el_num", "number", "Band", 3),
    Element("el_date", "date", "Start", "2026-03-04"),
    Element("el_box", "checkbox", "Laptop?", False),
    Element("el_drop", "dropdown", "Dept", "Sales", options=("Sales", "Ops")),
    Element("el_multi", "multichoice", "Kit", ["Laptop"], options=("Laptop", "Badge", "Keys")),
)
INFO = Element("el_info", "text", "Info", "Read me first", display_only=True)
FIELDS = [e.id for e in ELEMENTS] + [COMPLETION, ASSIGNEE]
VALUES = len(FIELDS)


def ref(field: str, sheet: str = "Fields") -> str:
    """Where the export puts a field's value: column H, one row per field."""
    return f"{sheet}!H{FIELDS.index(field) + 2}"


def task(task_id: str = "t1", *, skipped: bool = False, elements=ELEMENTS) -> Task:
    return Task(
        task_id,
        RUN,
        f"tt_{task_id}",
        f"Task {task_id}",
        False,
        None,
        None,
        0,
        None,
        "usr_ana",
        False,
        skipped,
        "task",
        None,
        elements,
    )


def snapshot(*, status: str = "active", skipped: bool = False) -> Snapshot:
    run = Run(RUN, "tpl", "Run A", status, None, None, None, None, False, (), None, None, None)
    return Snapshot(
        "example.test", "2026-11-28T00:00:00+00:00", (run,), {RUN: (task(skipped=skipped),)}
    )


def exported(tmp_path: Path, suffix: str = ".xlsx", **kw) -> Path:
    path = tmp_path / f"export{suffix}"
    write_export(snapshot(**kw), path, layout=Layout.TASKS)
    return path


def edit_xlsx(path: Path, values: Mapping[str, object]) -> None:
    book = openpyxl.load_workbook(path)
    for field, value in values.items():
        book["Fields"][ref(field).split("!")[1]] = value
    book.save(path)


def csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def write_csv_rows(path: Path, rows: Sequence[Sequence[str]]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(rows)


def edit_csv(path: Path, values: Mapping[str, str]) -> None:
    rows = csv_rows(path)
    for field, text in values.items():
        rows[FIELDS.index(field) + 1][7] = text
    write_csv_rows(path, rows)


def edited(tmp_path: Path, values: Mapping[str, object], suffix: str = ".xlsx", **kw) -> Sheet:
    path = exported(tmp_path, suffix, **kw)
    if suffix == ".csv":
        edit_csv(path, {k: str(v) for k, v in values.items()})
    else:
        edit_xlsx(path, values)
    return read_sheet(path)


def read(sheet: Sheet, **options) -> Edits:
    return edits(sheet, ImportOptions(**options))


# -- a valid edit ------------------------------------------------------------------------

VALID = [
    # field, as typed in an xlsx cell, as typed in a CSV, the API value
    ("el_short", "Bea", "Bea", "Bea"),
    ("el_long", "one\ntwo", "one\ntwo", "one\ntwo"),
    ("el_mail", "bea@example.com", "bea@example.com", "bea@example.com"),
    ("el_web", "https://example.org/x", "https://example.org/x", "https://example.org/x"),
    ("el_num", 4.5, "4.5", 4.5),
    ("el_num", 12, "12", 12),
    ("el_date", dt.datetime(2026, 5, 6), "2026-05-06", "2026-05-06"),
    ("el_date", "2026-05-06", "2026-05-06", "2026-05-06"),
    ("el_box", True, "TRUE", True),
    ("el_drop", "Ops", "Ops", "Ops"),
    ("el_multi", "Laptop; Badge", "Laptop; Badge", ["Laptop", "Badge"]),
    ("el_multi", None, "", []),
    (COMPLETION, True, "TRUE", True),
    (ASSIGNEE, "bea@example.com", "bea@example.com", "bea@example.com"),
    (ASSIGNEE, "usr_bea", "usr_bea", "usr_bea"),
]


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
@pytest.mark.parametrize(("field", "typed", "text", "value"), VALID)
def test_a_valid_edit_is_read_as_its_api_value(tmp_path, suffix, field, typed, text, value):
    sheet = edited(tmp_path, {field: typed if suffix == ".xlsx" else text}, suffix)
    found = read(sheet)
    [edit] = found.edits
    assert (edit.cell.key.field, edit.value) == (field, value)
    assert edit.cell.ref == ref(field, "Fields" if suffix == ".xlsx" else "export.csv")
    assert found.issues == []
    assert found.unchanged == VALUES - 1


# -- an invalid value --------------------------------------------------------------------

INVALID = [
    # field, the cell, the code, the label the message starts with, how to fix it
    ("el_mail", "ana at example", IssueCode.NOT_AN_EMAIL, "Mail", "must have an @-sign"),
    ("el_web", "example", IssueCode.NOT_A_URL, "Site", "write it in full"),
    ("el_num", "four", IssueCode.NOT_A_NUMBER, "Band", "type digits with a '.' for decimals"),
    ("el_date", "04/05/2026", IssueCode.NOT_A_DATE, "Start", "write it as YYYY-MM-DD"),
    ("el_date", "2026-02-30", IssueCode.NOT_A_DATE, "Start", "not a date in the calendar"),
    ("el_box", "maybe", IssueCode.NOT_A_BOOLEAN, "Laptop?", "TRUE or FALSE"),
    ("el_drop", "Opps", IssueCode.NOT_AN_OPTION, "Dept", "did you mean 'Ops'?"),
    ("el_multi", "Laptop; Car", IssueCode.NOT_AN_OPTION, "Kit", "'Car' is not one of the"),
    (COMPLETION, "done", IssueCode.NOT_A_BOOLEAN, "Completed", "TRUE or FALSE"),
    (ASSIGNEE, "Ana Smith", IssueCode.NOT_AN_ASSIGNEE, "Assignee", "such as usr_ana"),
]


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
@pytest.mark.parametrize(("field", "text", "code", "label", "fix"), INVALID)
def test_an_invalid_value_is_an_error_naming_the_field_and_the_fix(
    tmp_path, suffix, field, text, code, label, fix
):
    found = read(edited(tmp_path, {field: text}, suffix))
    [issue] = found.issues
    assert (issue.severity, issue.code) == (Severity.ERROR, code)
    assert issue.cell == ref(field, "Fields" if suffix == ".xlsx" else "export.csv")
    assert issue.message.startswith(f"{label}: ")
    assert fix in issue.message
    assert issue.value == text
    assert found.edits == []
    assert found.unchanged == VALUES - 1  # an invalid cell is not an unchanged value


# -- formulas and spreadsheet errors ----------------------------------------------------


def save_result(path: Path, cell: str, result: str) -> None:
    """Give a formula cell a saved result, as a spreadsheet app does when it saves."""
    copy = path.with_suffix(".tmp")
    done = False
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(copy, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            start = data.find(f'<c r="{cell}"'.encode())
            end = data.find(b"</c>", start)
            if start >= 0 and b"<f>" in data[start:end]:  # the sheet with the formula
                saved = data[start:end].replace(b"<v />", f"<v>{result}</v>".encode())
                data, done = data[:start] + saved + data[end:], True
            new.writestr(item, data)
    copy.replace(path)
    assert done


@pytest.mark.parametrize("accept_formulas", [False, True])
def test_a_formula_without_a_saved_result_is_an_error(tmp_path, accept_formulas):
    found = read(edited(tmp_path, {"el_num": "=1+3"}), accept_formulas=accept_formulas)
    [issue] = found.issues
    assert (issue.code, issue.cell, issue.value) == (IssueCode.FORMULA, "Fields!H6", "=1+3")
    assert "no saved result" in issue.message
    assert "save it, or type the value" in issue.message
    assert found.edits == []


def test_a_saved_formula_is_refused_unless_formulas_are_accepted(tmp_path):
    path = exported(tmp_path)
    edit_xlsx(path, {"el_num": "=1+3"})
    save_result(path, "H6", "4")
    refused = read(read_sheet(path))
    [issue] = refused.issues
    assert (issue.code, issue.cell) == (IssueCode.FORMULA, "Fields!H6")
    assert "--accept-formulas" in issue.message
    assert refused.edits == []
    accepted = read(read_sheet(path), accept_formulas=True)
    assert accepted.issues == []
    assert [(e.cell.ref, e.value) for e in accepted.edits] == [("Fields!H6", 4)]


@pytest.mark.parametrize(("suffix", "where"), [(".xlsx", "Fields"), (".csv", "export.csv")])
def test_a_spreadsheet_error_value_is_an_error(tmp_path, suffix, where):
    found = read(edited(tmp_path, {"el_date": "#N/A"}, suffix))
    [issue] = found.issues
    assert (issue.code, issue.cell, issue.value) == (
        IssueCode.ERROR_VALUE,
        ref("el_date", where),
        "#N/A",
    )
    assert "spreadsheet error #N/A; type the value" in issue.message
    assert found.edits == []


def test_a_csv_text_starting_with_equals_is_a_formula_and_an_apostrophe_makes_it_text(tmp_path):
    found = read(edited(tmp_path, {"el_short": "=A1"}, ".csv"))
    [issue] = found.issues
    assert (issue.code, issue.cell) == (IssueCode.FORMULA, "export.csv!H2")
    assert "start the cell with an apostrophe" in issue.message
    assert found.edits == []
    quoted = read(edited(tmp_path / "q", {"el_short": "'=A1"}, ".csv"))
    assert quoted.issues == []
    assert [e.value for e in quoted.edits] == ["=A1"]


# -- locked fields -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("why", "kw"),
    [("run completed", {"status": "completed"}), ("task skipped", {"skipped": True})],
)
@pytest.mark.parametrize(
    ("field", "value", "exported_as"),
    [("el_short", "Bea", "Ana"), ("el_num", 4, "3"), (COMPLETION, True, "FALSE")],
)
def test_a_value_written_where_the_export_showed_it_locked_is_an_error(
    tmp_path, why, kw, field, value, exported_as
):
    found = read(edited(tmp_path, {field: value}, **kw))
    [issue] = found.issues
    assert (issue.severity, issue.code, issue.cell) == (
        Severity.ERROR,
        IssueCode.LOCKED,
        ref(field),
    )
    assert why in issue.message
    assert f"Put back {exported_as!r}" in issue.message
    assert found.edits == []


def test_a_locked_value_left_as_exported_is_no_issue(tmp_path):
    found = read(edited(tmp_path, {}, status="completed"))
    assert (found.edits, found.issues, found.unchanged) == ([], [], VALUES)


def test_a_display_only_field_in_a_sheet_without_base_is_refused_as_locked(tmp_path):
    path = exported(tmp_path, ".csv")
    path.with_name(path.name + ".base.json").unlink()
    rows = csv_rows(path)
    row = ["Run A", "", "Task t1", "Info", "text", "", "", "Changed", RUN, "t1", "el_info", ""]
    write_csv_rows(path, [*rows, row])
    live = {RUN: (task(elements=(*ELEMENTS, INFO)),)}
    sheet = read_sheet(path, no_base=True)
    [edit] = edits_without_base(sheet, ImportOptions(), live).edits
    assert (edit.cell.ref, edit.base.spec.locked) == ("export.csv!H13", "display-only field")
    plan = plan_import(sheet, lambda runs: {r: live.get(r) for r in runs}, host="example.test")
    [error] = plan.errors
    assert (error.code, error.cell) == (IssueCode.LOCKED, "export.csv!H13")
    assert plan.patches == ()


# -- warnings ----------------------------------------------------------------------------


def test_clearing_a_required_field_is_an_edit_with_a_warning(tmp_path):
    found = read(edited(tmp_path, {"el_short": None, "el_long": None}))
    assert sorted((e.cell.ref, e.value) for e in found.edits) == [
        ("Fields!H2", None),
        ("Fields!H3", None),
    ]
    [warning] = found.issues  # only the required one
    assert (warning.severity, warning.code) == (Severity.WARNING, IssueCode.REQUIRED_CLEARED)
    assert warning.cell == "Fields!H2"
    assert warning.message.startswith("'Name' is required")


@pytest.mark.parametrize(
    ("field", "text", "value", "said"),
    [
        ("el_drop", "ops", "Ops", "'ops' taken as the option 'Ops'."),
        ("el_multi", "badge; LAPTOP", ["Badge", "Laptop"], "taken 'badge' as 'Badge', "),
        ("el_num", "\u0664\u0662", 42, "read as 42"),
    ],
)
def test_a_normalised_value_is_an_edit_with_a_warning_saying_how_it_was_read(
    tmp_path, field, text, value, said
):
    found = read(edited(tmp_path, {field: text}))
    [edit] = found.edits
    assert edit.value == value
    [warning] = found.issues
    assert (warning.severity, warning.code) == (Severity.WARNING, IssueCode.NORMALISED)
    assert (warning.cell, warning.value) == (ref(field), text)
    assert said in warning.message


# -- unchanged ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_an_unedited_sheet_has_no_edits_and_every_value_unchanged(tmp_path, suffix):
    sheet = edited(tmp_path, {}, suffix)
    assert len(sheet.cells) == VALUES  # every cell was read and decoded, not skipped
    found = read(sheet)
    assert (found.edits, found.issues, found.unchanged) == ([], [], VALUES)


def test_an_xlsx_resaved_unedited_has_no_edits(tmp_path):
    path = exported(tmp_path)
    openpyxl.load_workbook(path).save(path)
    found = read(read_sheet(path))
    assert (found.edits, found.issues, found.unchanged) == ([], [], VALUES)


@pytest.mark.parametrize(
    ("field", "retyped"),
    [
        ("el_short", "Ana"),
        ("el_long", "two\nlines"),
        ("el_mail", "ana@example.com"),
        ("el_web", "https://example.com"),
        ("el_num", "3"),
        ("el_num", 3.0),
        ("el_date", "2026-03-04"),
        ("el_date", dt.date(2026, 3, 4)),
        ("el_box", "FALSE"),
        ("el_drop", "Sales"),
        ("el_multi", "Laptop;"),
        (COMPLETION, False),
        (ASSIGNEE, "usr_ana"),
    ],
)
def test_a_value_retyped_as_it_was_is_unchanged(tmp_path, field, retyped):
    found = read(edited(tmp_path, {field: retyped}))
    assert (found.edits, found.issues, found.unchanged) == ([], [], VALUES)


# -- without a base: live state is the base --------------------------------------------


def sheet_without_base(tmp_path: Path, values: Mapping[str, str]) -> Sheet:
    path = exported(tmp_path, ".csv")
    path.with_name(path.name + ".base.json").unlink()
    edit_csv(path, values)
    return read_sheet(path, no_base=True)


def test_without_base_a_cell_is_compared_with_live_state(tmp_path):
    sheet = sheet_without_base(tmp_path, {"el_short": "Bea"})
    cid = dataclasses.replace(ELEMENTS[0], value="Cid")  # someone changed it in NextStep
    live = {RUN: (task(elements=(cid, *ELEMENTS[1:])),)}
    found = edits_without_base(sheet, ImportOptions(), live)
    [edit] = found.edits
    assert (edit.cell.ref, edit.base.value, edit.value) == ("export.csv!H2", "Cid", "Bea")
    assert (found.issues, found.unchanged) == ([], VALUES - 1)


@pytest.mark.parametrize(
    ("live", "code", "says"),
    [
        ({}, IssueCode.RUN_NOT_FOUND, "Run run_a does not exist in NextStep"),
        ({RUN: None}, IssueCode.RUN_NOT_FOUND, "Run run_a does not exist in NextStep"),
        ({RUN: (task("t9"),)}, IssueCode.TASK_GONE, "Run run_a has no such task"),
    ],
)
def test_without_base_a_row_whose_run_or_task_is_gone_is_an_error(tmp_path, live, code, says):
    sheet = sheet_without_base(tmp_path, {"el_short": "Bea"})
    found = edits_without_base(sheet, ImportOptions(), live)
    assert found.edits == []
    assert [(i.cell, i.code) for i in found.issues] == [
        (ref(f, "export.csv"), code) for f in FIELDS
    ]
    first = found.issues[0]
    assert (first.severity, first.value) == (Severity.ERROR, "Bea")
    assert first.message.startswith(says)
    assert "check the ids of this row" in first.message
    assert found.unchanged == 0


def test_without_base_a_field_the_live_task_lacks_is_an_error(tmp_path):
    sheet = sheet_without_base(tmp_path, {})
    found = edits_without_base(sheet, ImportOptions(), {RUN: (task(elements=ELEMENTS[1:]),)})
    [issue] = found.issues
    assert (issue.code, issue.cell) == (IssueCode.FIELD_GONE, "export.csv!H2")
    assert issue.message.startswith("Task 'Task t1' has no such field")
    assert found.unchanged == VALUES - 1


# -- row problems ------------------------------------------------------------------------


def test_row_problems_are_errors_at_their_cell(tmp_path):
    path = exported(tmp_path, ".csv")
    rows = csv_rows(path)
    rows[2][2] = "Another task"  # the Task context cell of the Notes row
    write_csv_rows(path, [*rows, rows[5]])  # and the Band row twice
    issues = row_issues(read_sheet(path))
    assert {(i.code, i.severity) for i in issues} == {
        (IssueCode.CONTEXT_EDITED, Severity.ERROR),
        (IssueCode.DUPLICATE_IDS, Severity.ERROR),
    }
    context = next(i for i in issues if i.code is IssueCode.CONTEXT_EDITED)
    assert context.cell == "export.csv!C3"
    assert "put back what the export showed" in context.message
    duplicate = next(i for i in issues if i.code is IssueCode.DUPLICATE_IDS)
    assert duplicate.message.endswith("keep one of the two rows.")


def test_a_sheet_as_exported_has_no_row_problems(tmp_path):
    assert row_issues(read_sheet(exported(tmp_path))) == []


# -- the same check many times -----------------------------------------------------------


def test_each_email_cell_gets_its_own_answer_when_addresses_repeat(tmp_path):
    """An address is checked once per distinct text (``codecs.email``): each cell still
    gets the answer of its own text, at its own cell, however the texts repeat."""
    runs = [f"run_{n}" for n in range(5)]
    shot = snapshot()
    shot = dataclasses.replace(
        shot,
        runs=tuple(dataclasses.replace(shot.runs[0], id=r, title=f"Run {r}") for r in runs),
        tasks={r: (dataclasses.replace(task(), run_id=r),) for r in runs},
    )
    path = tmp_path / "export.csv"
    write_export(shot, path, layout=Layout.TASKS)
    typed = {
        "run_0": "ana at example",
        "run_1": "bea@@example.com",
        "run_2": "ana at example",
        "run_3": "cy@example.com",
        "run_4": "bea@@example.com",
    }
    rows = csv_rows(path)
    cells = {}
    for number, row in enumerate(rows[1:], start=2):
        if row[10] == "el_mail":
            row[7] = typed[row[8]]
            cells[row[8]] = f"export.csv!H{number}"
    write_csv_rows(path, rows)
    found = read(read_sheet(path))
    issues = {i.cell: i for i in found.issues}
    assert sorted(issues) == sorted(cells[r] for r in ("run_0", "run_1", "run_2", "run_4"))
    for run_id in ("run_0", "run_1", "run_2", "run_4"):
        issue = issues[cells[run_id]]
        assert issue.code is IssueCode.NOT_AN_EMAIL
        assert issue.value == typed[run_id]
        assert issue.message.startswith(f"Mail: {typed[run_id]!r} is not an email address: ")
    assert "@-sign" in issues[cells["run_0"]].message
    assert "invalid characters: '@'" in issues[cells["run_1"]].message
    assert issues[cells["run_1"]].message == issues[cells["run_4"]].message
    [edit] = found.edits
    assert (edit.cell.ref, edit.value) == (cells["run_3"], "cy@example.com")

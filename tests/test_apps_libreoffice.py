"""LibreOffice decides (issue 11): typing, sorting, filtering, re-saving and printing an
export in LibreOffice 7.4, driven through UNO as a person would (``tests/apps.py``), and
what ``bulksync import --dry-run`` makes of the result."""

from __future__ import annotations

import datetime as dt
import shutil
import signal
from pathlib import Path

import openpyxl
import pytest

from bulksync.sheets import read_sheet
from tests.apps import ONB, LibreOffice, dry_run, export, soffice_to_pdf

TEMPLATES = ("tpl_onboarding", "tpl_vendor", "tpl_implementation", "tpl_access_review")


def cells(path: Path) -> dict[tuple[str, str, str], str]:
    """Where each value cell is: (run id, template task id, field) → ``Sheet!A1``."""
    sheet = read_sheet(path)
    return {
        (c.key.run_id, sheet.base[c.key].spec.template_task_id, c.key.field): c.ref
        for c in sheet.cells
    }


def planned(report: dict) -> dict[str, object]:
    return {c["cell"]: c["after"] for c in report["changes"]}


def errors(report: dict) -> dict[str, str]:
    return {e["cell"]: e["code"] for e in report["errors"]}


# -- the harness itself: LibreOffice's own input parsing, on a plain workbook -----------


def plain_workbook(path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "S"
    for row, (name, rank) in enumerate([("c", 3), ("a", 1), ("b", 2)], start=1):
        sheet.cell(row, 1, name)
        sheet.cell(row, 2, rank)
    sheet["D1"].number_format = "@"
    book.save(path)


def test_the_harness_types_as_a_person_does(libreoffice: LibreOffice, tmp_path):
    """What LibreOffice does with typed text, whatever bulksync does: the facts the other
    tests (and the README) rely on."""
    plain_workbook(tmp_path / "p.xlsx")
    typed = libreoffice.edit(
        tmp_path / "p.xlsx",
        [
            {"type": "S!C1", "text": "0296"},
            {"type": "S!C2", "text": "'0296"},
            {"type": "S!D1", "text": "0296"},  # a cell formatted as Text
            {"type": "S!C3", "text": "2026-03-04"},
            {"type": "S!C4", "text": "TRUE"},
            {"type": "S!C5", "text": "987654321012345678"},
        ],
        {tmp_path / "out.xlsx": "xlsx"},
    )
    assert [(t["kind"], t["string"]) for t in typed[:3]] == [
        ("VALUE", "296"),  # a General cell drops the leading zero
        ("TEXT", "0296"),  # the apostrophe keeps it, and is not part of the text
        ("TEXT", "0296"),
    ]
    assert typed[3]["kind"] == "VALUE" and typed[3]["value"] == 46085  # a date serial
    assert typed[4]["kind"] == "VALUE" and typed[4]["value"] == 1
    assert typed[5]["kind"] == "VALUE"  # 18 digits become a float
    sheet = openpyxl.load_workbook(tmp_path / "out.xlsx")["S"]
    assert sheet["C1"].value == 296 and sheet["C2"].value == "0296"
    assert sheet["D1"].value == "0296"
    assert sheet["C3"].value == dt.datetime(2026, 3, 4)
    assert sheet["C4"].value is True
    assert sheet["C5"].value != 987654321012345678  # lost digits past 15


def test_the_harness_sorts_and_filters_an_unprotected_sheet(libreoffice: LibreOffice, tmp_path):
    plain_workbook(tmp_path / "p.xlsx")
    sort, filtered = libreoffice.edit(
        tmp_path / "p.xlsx",
        [
            {"sort": "S!A1:B3", "column": 0},
            {"filter": "S!A1:B3", "column": 0, "equals": "a"},
        ],
        {tmp_path / "out.xlsx": "xlsx"},
    )
    assert sort == {"before": ["c", "a", "b"], "after": ["a", "b", "c"]}
    assert filtered["hidden_rows"] == [2, 3]  # the header row (a) stays
    sheet = openpyxl.load_workbook(tmp_path / "out.xlsx")["S"]
    assert [sheet.cell(r, 2).value for r in (1, 2, 3)] == [1, 2, 3]


# -- an unedited export re-saved ----------------------------------------------------------


@pytest.mark.parametrize("layout", ["runs", "tasks"])
@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_an_unedited_export_resaved_by_libreoffice_is_no_change(
    bulk, libreoffice: LibreOffice, tmp_path, layout, suffix
):
    path = export(
        bulk, f"onb{suffix}", "--template", "tpl_onboarding", "--status", "all", "--layout", layout
    )
    saved = tmp_path / "lo" / path.name
    saved.parent.mkdir()
    if suffix == ".csv":
        shutil.copy(tmp_path / f"{path.name}.base.json", tmp_path / "lo")
    libreoffice.edit(path, [], {saved: suffix[1:]})
    report = dry_run(bulk, saved)
    assert (report["changes"], report["errors"]) == ([], [])
    assert report["summary"]["unchanged"] == read_sheet(path).meta.values


# -- typing a value of every element type -------------------------------------------------

# (template task, field) → what a person types, and the value the plan must carry
TYPED = {
    ("tt_onb_details", "el_onb_pronouns"): ("they/them", "they/them"),  # short text
    ("tt_onb_review", "el_onb_feedback"): (
        "Settled in quickly; asks good questions, and writes them down.",
        "Settled in quickly; asks good questions, and writes them down.",
    ),  # long text
    ("tt_onb_accounts", "el_onb_workemail"): ("noah@acme.example", "noah@acme.example"),
    ("tt_onb_accounts", "el_onb_github"): (
        "https://github.com/noah-m",
        "https://github.com/noah-m",
    ),
    ("tt_onb_dept", "el_onb_band"): ("4", 4),  # number
    ("tt_onb_review", "el_onb_score"): ("7.5", 7.5),
    ("tt_onb_buddy", "el_onb_meet"): ("2026-03-04", "2026-03-04"),  # date
    ("tt_onb_tour", "el_onb_badge"): ("TRUE", True),  # checkbox ticked
    ("tt_onb_contract", "completed"): ("TRUE", True),  # task completed
    ("tt_onb_review", "el_onb_rating"): ("Meets expectations", "Meets expectations"),  # pick
    ("tt_onb_dept", "el_onb_dept"): ("Sales, EMEA", "Sales, EMEA"),  # pick, with a comma
    ("tt_onb_accounts", "el_onb_systems"): ("Email; GitHub", ["Email", "GitHub"]),  # multi
}
ASSIGNEE = (("tt_onb_dept", "assignee"), ("usr_ana", "usr_ana"))  # the tasks layout only


@pytest.mark.parametrize("layout", ["runs", "tasks"])
def test_values_typed_in_libreoffice_are_planned_exactly_as_typed(
    bulk, libreoffice: LibreOffice, tmp_path, layout
):
    path = export(bulk, "onb.xlsx", "--template", "tpl_onboarding", "--layout", layout)
    where = cells(path)
    typed = dict(TYPED)
    if layout == "tasks":
        typed[ASSIGNEE[0]] = ASSIGNEE[1]
    steps = [{"type": where[(ONB, *k)], "text": text} for k, (text, _) in typed.items()]
    libreoffice.edit(path, steps, {tmp_path / "typed.xlsx": "xlsx"})
    report = dry_run(bulk, tmp_path / "typed.xlsx")
    assert report["errors"] == []
    wanted = {where[(ONB, *k)]: after for k, (_, after) in typed.items()}
    got = planned(report)
    if isinstance(got.get(where[(ONB, "tt_onb_accounts", "el_onb_systems")]), list):
        key = where[(ONB, "tt_onb_accounts", "el_onb_systems")]
        got[key] = sorted(got[key])  # a multichoice is a set of options
    assert got == wanted


@pytest.mark.parametrize("layout", ["runs", "tasks"])
@pytest.mark.parametrize(
    ("field", "text"),
    [("el_onb_empno", "0301"), ("el_onb_payref", "987654321012345699")],
    ids=["leading-zero", "18-digits"],
)
def test_digits_typed_into_a_text_field_are_kept_or_refused_by_cell(
    bulk, libreoffice: LibreOffice, tmp_path, layout, field, text
):
    """Typed as a person would, without an apostrophe: once text cells are formatted as
    Text, LibreOffice keeps the digits; a cell it turned into a number anyway is an
    error naming the cell, never a silent change to ``301`` or ``9.87654321012346e+17``."""
    path = export(bulk, "onb.xlsx", "--template", "tpl_onboarding", "--layout", layout)
    ref = cells(path)[(ONB, "tt_onb_details", field)]
    libreoffice.edit(path, [{"type": ref, "text": text}], {tmp_path / "typed.xlsx": "xlsx"})
    report = dry_run(bulk, tmp_path / "typed.xlsx")
    if report["errors"]:
        assert list(errors(report)) == [ref] and report["changes"] == []
        message = report["errors"][0]["message"]
        assert "'" in message or "text" in message.lower()  # says how to type it
    else:
        assert planned(report) == {ref: text}


# -- sorting and filtering ----------------------------------------------------------------


def test_sorting_and_filtering_in_libreoffice_then_one_edit_is_that_one_edit(
    bulk, libreoffice: LibreOffice, tmp_path
):
    path = export(bulk, "onb.xlsx", "--template", "tpl_onboarding", "--status", "all")
    book = openpyxl.load_workbook(path)
    runs = book["Runs"]
    header = [c.value for c in runs[2]]
    name, status = header.index("tt_onb_details:el_onb_name"), header.index("status")
    last = f"{openpyxl.utils.get_column_letter(runs.max_column)}{runs.max_row}"
    names = [r[name] for r in runs.iter_rows(min_row=4, values_only=True)]
    assert names != sorted(names)  # else sorting proves nothing
    sort, filtered = libreoffice.edit(
        path,
        [
            {"sort": f"Runs!A4:{last}", "column": name},
            {"filter": f"Runs!A3:{last}", "column": status, "equals": "active"},
        ],
        {tmp_path / "sorted.xlsx": "xlsx"},
    )
    # LibreOffice's collation decides the order; that the rows moved is what matters
    assert sort["after"] != sort["before"], "LibreOffice refused to sort the sheet"
    assert sorted(sort["after"]) == sorted(sort["before"])
    assert filtered["hidden_rows"], "the filter hid no row"
    # one edit after the sort, in the row where Noah's run is now
    ref = cells(tmp_path / "sorted.xlsx")[(ONB, "tt_onb_details", "el_onb_pronouns")]
    libreoffice.edit(
        tmp_path / "sorted.xlsx",
        [{"type": ref, "text": "he/him"}],
        {tmp_path / "edited.xlsx": "xlsx"},
    )
    report = dry_run(bulk, tmp_path / "edited.xlsx")
    assert report["errors"] == []
    assert [(c["run_id"], c["field"], c["after"]) for c in report["changes"]] == [
        (ONB, "el_onb_pronouns", "he/him")
    ]


# -- printing -----------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["runs", "tasks"])
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_sample_export_prints_to_pdf(bulk, tmp_path, template, layout):
    path = export(
        bulk,
        f"{template}-{layout}.xlsx",
        "--template",
        template,
        "--status",
        "all",
        "--layout",
        layout,
    )
    done = soffice_to_pdf(path, tmp_path / "pdf")
    pdf = tmp_path / "pdf" / f"{path.stem}.pdf"
    how = f"exit {done.returncode}"
    if done.returncode > 128:
        how += f", {signal.Signals(done.returncode - 128).name}: it crashed"
    assert done.returncode == 0 and pdf.exists(), f"LibreOffice ({how}) printing {path.name}"
    assert pdf.read_bytes().startswith(b"%PDF")


# -- a launch sheet filled in LibreOffice -------------------------------------------------


def test_a_launch_sheet_filled_in_libreoffice_starts_exactly_those_runs(
    http, libreoffice: LibreOffice, tmp_path
):
    """Issue 12: a launch sheet typed into as a person would, every element type typed,
    picked (a dropdown's option typed as Enter takes it) or ticked, starts exactly the
    filled rows' runs with exactly those values, over HTTP; an empty row starts none, and
    importing the file again starts none."""
    from bulksync.sandbox import sandbox_client

    bulk, sandbox = http()
    result = bulk("export", "--template", "tpl_onboarding", "--new", "3", "-o", "launch.xlsx")
    assert result.exit_code == 0, result.output
    path = tmp_path / "launch.xlsx"
    keys = [c.value for c in openpyxl.load_workbook(path)["Runs"][2]]

    def ref(key: str, row: int) -> str:
        return f"Runs!{openpyxl.utils.get_column_letter(keys.index(key) + 1)}{row}"

    first, second = 4, 5  # the header takes three rows; row 6 is left empty
    steps = [
        {"type": ref("run", first), "text": "Onboarding – Typed in LibreOffice"},
        {"type": ref("due_date", first), "text": "2027-02-01"},
        {"type": ref("started_by", first), "text": "ana.garcia@acme.example"},
        {"type": ref("run", second), "text": "Onboarding – Title only"},
    ]
    steps += [
        {"type": ref(f"{task}:{field}", first), "text": text}
        for (task, field), (text, _) in TYPED.items()
    ]
    libreoffice.edit(path, steps, {tmp_path / "typed.xlsx": "xlsx"})
    report = dry_run(bulk, tmp_path / "typed.xlsx")
    assert report["errors"] == [], report["errors"]
    assert [c["title"] for c in report["creates"]] == [
        "Onboarding – Typed in LibreOffice",
        "Onboarding – Title only",
    ]
    assert bulk("import", "typed.xlsx", "--yes").exit_code == 0
    assert bulk("import", "typed.xlsx", "--yes").exit_code == 0  # again: starts none
    with sandbox_client(sandbox) as client:
        runs = [r for r in client.list_runs(template_id="tpl_onboarding") if "–" in r.title]
        titles = [r.title for r in runs]
        assert titles.count("Onboarding – Typed in LibreOffice") == 1
        assert titles.count("Onboarding – Title only") == 1
        [run] = [r for r in runs if r.title == "Onboarding – Typed in LibreOffice"]
        assert run.started_by == "ana.garcia@acme.example"
        assert (run.due_date or "").startswith("2027-02-01")
        held: dict[tuple[str, str], object] = {}
        for task in client.run_tasks(run.id):
            held[(task.template_task_id or "", "completed")] = task.completed
            for element in task.elements:
                held[(task.template_task_id or "", element.id)] = element.value
    for key, (_, wanted) in TYPED.items():
        got = held[key]
        if isinstance(wanted, list):
            got = sorted(got)  # type: ignore[arg-type]
        assert got == wanted, key

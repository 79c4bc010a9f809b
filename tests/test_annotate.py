"""``bulksync import FILE.xlsx --dry-run --annotate`` (issue 14): the person's own
workbook, marked where the dry run (or the apply) put its findings, written beside it as
``FILE.checked.xlsx``; the file itself never changes, and the checked copy imports as
the file would."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import openpyxl

from bulksync.annotate import FILLS, Mark, checked_path
from bulksync.errors import ExitCode
from tests.apps import LibreOffice
from tests.test_cli_import import ONB_ACTIVE, bulk, edit_runs, edit_tasks, live, onboarding

__all__ = ["bulk"]  # the fixture, imported for the tests below

EMAIL = "tt_onb_details:el_onb_email"
NAME = "tt_onb_details:el_onb_name"
PRONOUNS = "tt_onb_details:el_onb_pronouns"
EMPNO = "tt_onb_details:el_onb_empno"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def marks(path: Path) -> dict[str, tuple[str, str]]:
    """Each marked cell of the checked copy: ``Sheet!A1`` → (the colour of the first
    conditional format over it, its comment)."""
    book = openpyxl.load_workbook(path)
    found = {}
    for sheet in book:
        for row in sheet.iter_rows():
            for cell in row:
                comment = cell.comment
                if comment is None or not (
                    comment.author == "bulksync" or "— bulksync: " in comment.text
                ):
                    continue
                first = next(f for f in sheet.conditional_formatting if cell.coordinate in f.sqref)
                color = first.rules[0].dxf.fill.bgColor.rgb[-6:]
                found[f"{sheet.title}!{cell.coordinate}"] = (color, comment.text)
    return found


def summary(bulk, name: str) -> dict:
    result = bulk("import", name, "--dry-run", "--json")
    report = json.loads(result.stdout)
    return {
        "errors": sorted((e["cell"], e["code"]) for e in report["errors"]),
        "changes": sorted((c["cell"], c["after"]) for c in report["changes"]),
        "conflicts": sorted((c["cell"], c["live"]) for c in report["conflicts"]),
    }


def an_edited_sheet(bulk, tmp_path) -> tuple[Path, dict]:
    """An error, a change and a conflict in the active onboarding run."""
    path, details = onboarding(bulk, tmp_path)
    refs = edit_runs(
        path,
        {
            (ONB_ACTIVE, EMAIL): "not-an-email",
            (ONB_ACTIVE, NAME): "Noah Mueller",
            (ONB_ACTIVE, PRONOUNS): "he/him",
        },
    )
    with live(tmp_path) as client:
        client.patch_task(ONB_ACTIVE, details, elements={"el_onb_pronouns": "they/them"})
    return path, {column: refs[(ONB_ACTIVE, column)] for _, column in refs}


def test_the_dry_run_marks_each_finding_in_a_copy_and_leaves_the_file_alone(bulk, tmp_path):
    path, ref = an_edited_sheet(bulk, tmp_path)
    before = digest(path)
    result = bulk("import", "onb.xlsx", "--dry-run", "--annotate")
    assert result.exit_code == ExitCode.INVALID, result.output
    checked = tmp_path / "onb.checked.xlsx"
    assert "marked up: onb.checked.xlsx" in result.output
    assert digest(path) == before  # the person's file is never written to
    found = marks(checked)
    assert set(found) == {ref[EMAIL], ref[NAME], ref[PRONOUNS]}
    color, note = found[ref[EMAIL]]
    assert color == FILLS[Mark.ERROR] and "is not an email address" in note
    color, note = found[ref[PRONOUNS]]
    assert color == FILLS[Mark.CONFLICT]
    assert "'they/them'" in note and "'he/him'" in note and "--on-conflict mine" in note
    color, note = found[ref[NAME]]
    assert color == FILLS[Mark.CHANGE] and "'Noah Mueller'" in note
    # Nothing else changed: the same values in every sheet, hidden ones too.
    original, marked = openpyxl.load_workbook(path), openpyxl.load_workbook(checked)
    assert original.sheetnames == marked.sheetnames
    for sheet in original:
        copy = marked[sheet.title]
        assert copy.sheet_state == sheet.sheet_state
        assert [[c.value for c in r] for r in sheet.iter_rows()] == [
            [c.value for c in r] for r in copy.iter_rows()
        ]


def test_the_checked_copy_imports_as_the_file_does_and_fixed_there_it_applies(bulk, tmp_path):
    _, ref = an_edited_sheet(bulk, tmp_path)
    assert bulk("import", "onb.xlsx", "--dry-run", "--annotate").exit_code == ExitCode.INVALID
    checked = tmp_path / "onb.checked.xlsx"
    assert summary(bulk, "onb.checked.xlsx") == summary(bulk, "onb.xlsx")
    # The person fixes the red cell in the checked copy and imports that file.
    book = openpyxl.load_workbook(checked)
    book["Runs"][ref[EMAIL].split("!")[1]] = "noah@example.de"
    book.save(checked)
    result = bulk("import", "onb.checked.xlsx", "--yes", "--annotate")
    assert result.exit_code == ExitCode.CONFLICTS, result.output  # the conflict is skipped
    again = checked_path(checked)
    assert again.name == "onb.checked.checked.xlsx"  # the imported file is never written
    found = marks(again)
    assert set(found) == {ref[EMAIL], ref[NAME], ref[PRONOUNS]}  # the old marks are gone
    assert found[ref[EMAIL]][0] == FILLS[Mark.CHANGE]
    assert found[ref[EMAIL]][1].startswith("Applied: 'noah@example.de'")
    assert found[ref[NAME]][1].startswith("Applied: 'Noah Mueller'")
    assert found[ref[PRONOUNS]][0] == FILLS[Mark.CONFLICT]
    with live(tmp_path) as client:
        task = next(t for t in client.run_tasks(ONB_ACTIVE) if t.element("el_onb_email"))
        assert task.element("el_onb_email").value == "noah@example.de"


def test_a_comment_of_the_persons_own_is_kept(bulk, tmp_path):
    path, ref = an_edited_sheet(bulk, tmp_path)
    book = openpyxl.load_workbook(path)
    cell = book["Runs"][ref[EMAIL].split("!")[1]]
    cell.comment = openpyxl.comments.Comment("asked Noah on Monday", "Ana")
    book.save(path)
    bulk("import", "onb.xlsx", "--dry-run", "--annotate")
    _, note = marks(tmp_path / "onb.checked.xlsx")[ref[EMAIL]]
    assert note.startswith("asked Noah on Monday") and "is not an email address" in note


def test_the_tasks_layout_is_marked_too(bulk, tmp_path):
    assert bulk("export", "--template", "tpl_onboarding", "--layout", "tasks", "-o", "t.xlsx")
    path = tmp_path / "t.xlsx"
    refs = edit_tasks(path, {(ONB_ACTIVE, "tt_onb_details", "el_onb_empno"): "12a"})
    result = bulk("import", "t.xlsx", "--dry-run", "--annotate")
    assert result.exit_code in (ExitCode.OK, ExitCode.INVALID), result.output
    found = marks(tmp_path / "t.checked.xlsx")
    assert list(found) == list(refs.values())


def test_a_csv_cannot_be_annotated_and_nothing_is_read(bulk, tmp_path):
    assert bulk("export", "--template", "tpl_onboarding", "-o", "onb.csv").exit_code == 0
    result = bulk("import", "onb.csv", "--dry-run", "--annotate")
    assert result.exit_code == ExitCode.USAGE
    assert "--annotate marks up an .xlsx workbook" in result.output
    assert not list(tmp_path.glob("*.checked.*"))


def test_the_marks_come_before_the_exports_own_highlight(bulk, tmp_path):
    """The export highlights an edited cell with a conditional format, and a conditional
    format wins over a cell's own fill: the marks are conditional formats too, first in
    the sheet and first by priority, so an app shows the mark, not the highlight."""
    an_edited_sheet(bulk, tmp_path)
    bulk("import", "onb.xlsx", "--dry-run", "--annotate")
    sheet = openpyxl.load_workbook(tmp_path / "onb.checked.xlsx")["Runs"]
    formats = list(sheet.conditional_formatting)
    ours = [f for f in formats if f.rules[0].formula == ["TRUE"]]
    assert formats[: len(ours)] == ours and len(ours) == 3  # red, amber, green
    first = max(r.priority for f in ours for r in f.rules)
    assert all(r.priority > first for f in formats[len(ours) :] for r in f.rules)


def test_libreoffice_shows_each_mark_and_its_comment(bulk, tmp_path, libreoffice: LibreOffice):
    _, ref = an_edited_sheet(bulk, tmp_path)
    bulk("import", "onb.xlsx", "--dry-run", "--annotate")
    seen = libreoffice.edit(
        tmp_path / "onb.checked.xlsx",
        [{"look": ref[EMAIL]}, {"look": ref[PRONOUNS]}, {"look": ref[NAME]}],
        {},
    )
    email, pronouns, name = seen
    assert "is not an email address" in email["note"]
    assert email["fill"] == int(FILLS[Mark.ERROR], 16)
    assert "they/them" in pronouns["note"] and pronouns["fill"] == int(FILLS[Mark.CONFLICT], 16)
    assert name["string"] == "Noah Mueller" and name["fill"] == int(FILLS[Mark.CHANGE], 16)


def test_a_checked_copy_with_every_finding_fixed_is_marked_clean_again(bulk, tmp_path):
    """The red cell fixed, the checked copy annotated again: nothing is left marked, on
    a sheet where no new finding puts marks of its own either."""
    path, _ = onboarding(bulk, tmp_path)
    original = openpyxl.load_workbook(path)["Runs"]
    refs = edit_runs(path, {(ONB_ACTIVE, EMAIL): "not-an-email"})
    cell = refs[(ONB_ACTIVE, EMAIL)].split("!")[1]
    assert bulk("import", "onb.xlsx", "--dry-run", "--annotate").exit_code == ExitCode.INVALID
    checked = tmp_path / "onb.checked.xlsx"
    book = openpyxl.load_workbook(checked)
    book["Runs"][cell] = original[cell].value  # the red cell fixed: put back as exported
    book.save(checked)
    assert bulk("import", "onb.checked.xlsx", "--dry-run", "--annotate").exit_code == 0
    again = openpyxl.load_workbook(tmp_path / "onb.checked.checked.xlsx")["Runs"]
    assert marks(tmp_path / "onb.checked.checked.xlsx") == {}
    assert not [f for f in again.conditional_formatting if f.rules[0].formula == ["TRUE"]]

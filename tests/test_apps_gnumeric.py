"""Gnumeric decides (issue 11): an export re-saved by ``ssconvert``, unedited, imports as
no change; what Gnumeric shows of bulksync's helper sheets says not to touch them."""

from __future__ import annotations

import openpyxl
import pytest

from bulksync.sheets import read_sheet
from tests.apps import dry_run, export, gnumeric_resave


@pytest.mark.parametrize("layout", ["runs", "tasks"])
@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_an_unedited_export_resaved_by_gnumeric_is_no_change(bulk, tmp_path, layout, suffix):
    """Gnumeric's CSV writes dates year first with slashes (2026/12/31): the same dates."""
    path = export(
        bulk, f"onb{suffix}", "--template", "tpl_onboarding", "--status", "all", "--layout", layout
    )
    saved = tmp_path / "gnumeric" / path.name
    gnumeric_resave(path, saved)
    report = dry_run(bulk, saved)
    assert (report["changes"], report["errors"]) == ([], [])
    assert report["summary"]["unchanged"] == read_sheet(path).meta.values


def test_a_gnumeric_csv_holds_year_first_dates_with_slashes(bulk, tmp_path):
    """What the test above relies on: otherwise it would prove nothing about dates."""
    path = export(bulk, "onb.csv", "--template", "tpl_onboarding", "--status", "all")
    gnumeric_resave(path, tmp_path / "gnumeric" / "onb.csv")
    text = (tmp_path / "gnumeric" / "onb.csv").read_text(encoding="utf-8")
    assert "2026-12-31" in path.read_text(encoding="utf-8-sig")
    assert "2026/12/31" in text and "2026-12-31" not in text


@pytest.mark.parametrize("layout", ["runs", "tasks"])
def test_helper_sheets_gnumeric_shows_are_named_on_the_about_sheet_and_protected(
    bulk, tmp_path, layout
):
    path = export(bulk, "onb.xlsx", "--template", "tpl_onboarding", "--layout", layout)
    saved = tmp_path / "gnumeric" / "onb.xlsx"
    gnumeric_resave(path, saved)
    report = dry_run(bulk, saved)  # the import works from Gnumeric's copy
    assert (report["changes"], report["errors"]) == ([], [])
    book = openpyxl.load_workbook(saved)
    data = {"runs": "Runs", "tasks": "Fields"}[layout]
    helpers = [n for n in book.sheetnames if n not in ("About", data)]
    assert helpers and all(book[n].sheet_state == "visible" for n in helpers)  # as seen
    about = "\n".join(str(v) for row in book["About"].iter_rows(values_only=True) for v in row)
    assert [n for n in helpers if n not in about] == [], "helper sheets the About sheet names"
    assert [n for n in helpers if not book[n].protection.sheet] == [], "unprotected helpers"

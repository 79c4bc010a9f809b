"""Runs to start (the sheet's new rows) in the terminal, HTML and JSON reports.

The plans are built directly from ``Start``, ``Prefill`` and ``Then`` values, as the
planner makes them, so that what a user reads of each kind of new row is pinned down
here whatever the planner does. The golden files of a dry run with runs to start are
checked at the end (``--update-golden`` rewrites them).
"""

from __future__ import annotations

import json
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from bulksync.launch import Prefill, Start, StartOutcome, StartResult, StartResultKind, Then
from bulksync.plans import ApplyResult, Change, OnConflict, Outcome, Patch, Plan
from bulksync.report import plan_html, plan_json, plan_text, start_results_text
from bulksync.snapshot import FieldKey
from tests.test_report_golden import FIXTURES, VERSION, check_golden, html_outline

UNDO_NOTE = (
    "bulksync undo cannot delete the runs this import starts: NextStep's API has no way "
    "to; they would have to be archived in NextStep."
)
TEMPLATE = "tpl_onboarding"
DETAILS, DEPT = "Collect personal details", "Assign department and start date"


def start(row: int, title: str, **kw: object) -> Start:
    values: dict[str, object] = {
        "row": row,
        "cell": f"Runs!A{row}",
        "key": f"{title}#1",
        "template_id": TEMPLATE,
        "title": title,
    }
    return Start(**(values | kw))  # type: ignore[arg-type]


def prefill(element: str, value: Any, column: str, task: str = DETAILS) -> Prefill:
    template_task = "tt_onb_details" if task == DETAILS else "tt_onb_dept"
    label = {"el_onb_name": "Legal name", "el_onb_pronouns": "Pronouns"}.get(element, "Languages")
    kind = "multichoice" if isinstance(value, list) else "shortText"
    return Prefill(template_task, element, kind, value, f"Runs!{column}12", task, label)


ANA = start(
    12,
    "Onboarding – Ana Lima",
    due_date="2026-12-01",
    actor_email="hr@example.com",
    values=(
        prefill("el_onb_name", "Ana Lima", "F"),
        prefill("el_onb_pronouns", "she/her ", "G"),
        prefill("el_onb_langs", ["English", "Portuguese"], "N", task=DEPT),
    ),
    then=(
        Then("tt_onb_details", "completed", True, "Runs!E12", DETAILS),
        Then("tt_onb_dept", "assignee", "lead@example.com", "Runs!L12", DEPT),
    ),
)
BEN = start(13, "Onboarding – Ben Okafor", due_date="2026-12-08")
CARA_STARTED = start(
    14,
    "Onboarding – Cara Diaz",
    outcome=StartOutcome.STARTED,
    written=False,
    run_id="run_onb_031",
    note="started by the import of 2026-11-30",
)
DEV_CONFLICT = start(
    15,
    "Onboarding – Dev Patel",
    outcome=StartOutcome.CONFLICT,
    written=False,
    found=("run_onb_032",),
    note="a run titled 'Onboarding – Dev Patel' was started in NextStep since the export "
    "(run_onb_032)",
)


def make_plan(*creates: Start, patches: int = 0, runs_read: int = 0, **kw: object) -> Plan:
    """A plan with these new rows, and ``patches`` PATCHes of one change each."""
    changes = tuple(
        Change(
            key=FieldKey(f"run_{i}", f"tsk_{i}", "el_onb_pronouns"),
            cell=f"Runs!G{4 + i}",
            kind="shortText",
            label="Pronouns",
            base=None,
            sheet="they/them",
            live=None,
            outcome=Outcome.CHANGE,
            written=True,
            task_title=DETAILS,
            run_title=f"Onboarding – Run {i}",
        )
        for i in range(patches)
    )
    fields: dict[str, object] = {
        "path": "onb.xlsx",
        "host": "sandbox.invalid",
        "exported_from": "sandbox.invalid",
        "exported_at": "2026-11-28T09:00:00+00:00",
        "has_base": True,
        "on_conflict": OnConflict.SKIP,
        "changes": changes,
        "patches": tuple(Patch(c.key.run_id, c.key.task_id, changes=[c]) for c in changes),
        "runs_read": runs_read,
        "creates": creates,
        "template_id": TEMPLATE if creates else None,
    }
    return Plan(**(fields | kw))  # type: ignore[arg-type]


def text(plan: Plan, *, rate_limit: int = 100, most: int | None = 50) -> str:
    return plan_text(plan, rate_limit=rate_limit, window=60, most=most)


def section(report: str, title: str) -> str:
    """The lines of one section of the terminal report, up to the next blank line."""
    lines = report.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(title))
    rest = lines[first + 1 :]
    return "\n".join(rest[: rest.index("")] if "" in rest else rest)


# -- the terminal report -------------------------------------------------------------------


def test_each_run_to_start_is_listed_with_what_it_is_started_with_and_what_follows():
    report = text(make_plan(ANA, BEN))
    runs = section(report, "Runs to start")
    assert runs.splitlines() == [
        "  Runs!A12  Onboarding – Ana Lima",
        "            due 2026-12-01 · started by hr@example.com",
        "            Collect personal details › Legal name = Ana Lima",
        "            Collect personal details › Pronouns = she/her⎵",
        "            Assign department and start date › Languages = English; Portuguese",
        "            then: completes Collect personal details; "
        "assigns Assign department and start date to lead@example.com",
        "  Runs!A13  Onboarding – Ben Okafor",
        "            due 2026-12-08 · started by the API key",
    ]
    assert UNDO_NOTE in report


def test_rows_not_started_say_why():
    report = text(make_plan(ANA, CARA_STARTED, DEV_CONFLICT))
    runs = section(report, "Runs to start")
    assert (
        "  Runs!A14  Onboarding – Cara Diaz\n"
        "            started already by an earlier import of this sheet: run run_onb_031; "
        "not started again"
    ) in runs
    assert (
        "  Runs!A15  Onboarding – Dev Patel\n"
        "            a run titled 'Onboarding – Dev Patel' was started in NextStep since the "
        "export (run_onb_032); not started; --on-conflict mine starts another"
    ) in runs
    # What a row not started would have been started with is not listed as if it were.
    assert runs.count("started by") == 1
    assert "1 run to start · 1 started already · 1 new row in conflict · 0 to change" in report


def test_a_conflict_under_on_conflict_mine_is_started_and_says_so():
    mine = replace(DEV_CONFLICT, written=True, actor_email="hr@example.com")
    report = text(make_plan(mine, on_conflict=OnConflict.MINE))
    runs = section(report, "Runs to start")
    assert "started by hr@example.com" in runs
    assert "(run_onb_032); started anyway: --on-conflict mine" in runs
    assert "1 run to start · 0 to change" in report
    assert UNDO_NOTE in report


def test_a_conflict_without_a_note_names_the_runs_found():
    report = text(make_plan(replace(DEV_CONFLICT, note="")))
    assert (
        "a run titled 'Onboarding – Dev Patel' was started since the export (run_onb_032); "
        "not started; --on-conflict mine starts another"
    ) in report


def test_the_requests_and_their_time_count_the_posts_and_what_follows_them():
    # ANA: a POST, a read of the new run's tasks and 2 PATCHes; BEN: a POST. With 2
    # PATCHes of edited values: 7 requests, 9 with the reads of 2 runs, which at 3 a
    # minute take 2 minutes (without the starts, 4 would take 1).
    report = text(make_plan(ANA, BEN, patches=2, runs_read=2), rate_limit=3)
    assert (
        "The import sends 7 requests (2 PATCH requests; 2 POST requests to start runs, "
        "and 3 to read their tasks and set ticks and assignees), after reading the live "
        "state of 2 runs; at 3 requests per minute that takes at least 2 min."
    ) in report
    assert report.rstrip().endswith(UNDO_NOTE)


def test_a_plan_that_only_starts_runs_reads_nothing_first():
    report = text(make_plan(BEN))
    assert (
        "The import sends 1 request (1 POST request to start a run); within the rate "
        "limit of 100 requests per minute, no waiting."
    ) in report


def test_rows_started_already_send_nothing_and_need_no_undo_note():
    report = text(make_plan(CARA_STARTED))
    assert "The import sends no request: there is nothing to write." in report
    assert "0 runs to start · 1 started already" in report
    assert "undo" not in report


def test_a_plan_without_new_rows_says_nothing_of_runs_to_start():
    report = text(make_plan(patches=1, runs_read=1))
    assert "to start" not in report
    assert "undo" not in report
    assert "The import sends 1 PATCH request, after reading the live state of 1 run;" in report


def test_long_lists_of_runs_to_start_are_cut_unless_verbose():
    many = [replace(BEN, row=20 + i, cell=f"Runs!A{20 + i}", title=f"Run {i}") for i in range(7)]
    cut = section(text(make_plan(*many), most=3), "Runs to start")
    assert "Run 2" in cut and "Run 3" not in cut
    assert cut.endswith(
        "… and 4 more: -v shows them all here, --report FILE.html or --json lists every one"
    )
    full = section(text(make_plan(*many), most=None), "Runs to start")
    assert "Run 6" in full and "more" not in full


def test_text_from_the_sheet_cannot_break_the_layout_or_drive_the_terminal():
    sly = replace(
        ANA,
        title="Evil\n\x1b[2JRun",
        values=(replace(ANA.values[0], value="two\nlines"),),
    )
    runs = section(text(make_plan(sly)), "Runs to start")
    assert "Runs!A12  Evil \\x1b[2JRun" in runs
    assert "Legal name = two lines" in runs


def test_what_came_of_each_run_to_start_after_applying():
    result = ApplyResult(
        Path("run"),
        starts=(
            StartResult(ANA, StartResultKind.STARTED, run_id="run_onb_040"),
            StartResult(BEN, StartResultKind.ADOPTED, run_id="run_onb_041"),
            StartResult(
                replace(BEN, cell="Runs!A16"),
                StartResultKind.FAILED,
                message="400 validation_error: actor_email is not a member",
            ),
            StartResult(ANA, StartResultKind.STARTED, run_id="run_onb_042", then_failed=1),
        ),
    )
    shown = start_results_text(result)
    assert "Runs!A12  Onboarding – Ana Lima    started: run run_onb_040" in shown
    assert "adopted: run run_onb_041; its POST's answer was lost" in shown
    assert "Runs!A16  Onboarding – Ben Okafor  failed: 400 validation_error" in shown
    assert "1 tick or assignee of it could not be set (see results.csv)" in shown
    assert start_results_text(ApplyResult(Path("run"))) == ""


# -- the HTML report -----------------------------------------------------------------------


class Tables(HTMLParser):
    """Each table of a page under the id of the heading before it: rows of cell texts
    (a line break in a cell as ``\\n``), and each banner's text by its class."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self.banners: list[tuple[str, str]] = []
        self.heading = ""
        self.cell: list[str] | None = None
        self.banner: list[str] | None = None
        self.banner_class = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "h2":
            self.heading = a.get("id") or ""
        elif tag == "table":
            self.tables[self.heading] = []
        elif tag == "tr":
            self.tables[self.heading].append([])
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "br" and self.cell is not None:
            self.cell.append("\n")
        elif tag == "div" and "banner" in (a.get("class") or ""):
            self.banner, self.banner_class = [], a["class"] or ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.tables[self.heading][-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "div" and self.banner is not None:
            self.banners.append((self.banner_class, " ".join("".join(self.banner).split())))
            self.banner = None

    def handle_data(self, data: str) -> None:
        for part in (self.cell, self.banner):
            if part is not None:
                part.append(data)


def page(plan: Plan, result: ApplyResult | None = None) -> Tables:
    parser = Tables()
    parser.feed(plan_html(plan, result, rate_limit=100, window=60, dry_run=result is None))
    parser.close()
    return parser


def test_the_html_page_has_a_table_of_the_runs_to_start():
    html = page(make_plan(ANA, BEN, CARA_STARTED, DEV_CONFLICT))
    header, ana, ben, cara, dev = html.tables["starts"]
    assert header == ["Cell", "Title", "Due date", "Started by", "Values", "Then", "Outcome"]
    assert ana == [
        "Runs!A12",
        "Onboarding – Ana Lima",
        "2026-12-01",
        "hr@example.com",
        "Collect personal details › Legal name = Ana Lima\n"
        "Collect personal details › Pronouns = she/her⎵\n"
        "Assign department and start date › Languages = English; Portuguese",
        "completes Collect personal details\n"
        "assigns Assign department and start date to lead@example.com",
        "to start",
    ]
    assert ben[2:] == ["2026-12-08", "the API key", "–", "–", "to start"]
    assert cara[-1] == (
        "skipped started already by an earlier import of this sheet: run run_onb_031; "
        "not started again"
    )
    assert dev[-1].startswith("conflict a run titled 'Onboarding – Dev Patel' was started")
    assert dev[-1].endswith("not started; --on-conflict mine starts another")
    assert ("banner warn", UNDO_NOTE) in html.banners
    # The skipped conflict is said at the top, as value conflicts are.
    assert any(
        kind == "banner bad" and "1 new row(s) may be runs started since the export" in words
        for kind, words in html.banners
    )


def test_the_html_page_counts_the_posts_in_its_requests():
    html = page(make_plan(ANA, BEN, patches=1, runs_read=1))
    assert (
        "banner ok",
        "Ready: 6 requests (1 PATCH request; 2 POST requests to start runs, and 3 to read "
        "their tasks and set ticks and assignees); within the rate limit of 100 requests "
        "per minute, no waiting.",
    ) in html.banners


def test_the_html_page_without_new_rows_has_no_such_table_nor_note():
    html = page(make_plan(patches=1, runs_read=1))
    assert "starts" not in html.tables
    assert ("banner ok", "Ready: 1 PATCH request(s); within the rate limit of 100 requests per "
            "minute, no waiting.") in html.banners  # fmt: skip
    assert all("undo" not in words for _, words in html.banners)


def test_after_applying_the_html_page_shows_what_came_of_each_run_to_start():
    failed = replace(BEN, row=16, cell="Runs!A16", key="Onboarding – Ben Okafor#2")
    result = ApplyResult(
        Path("run"),
        starts=(
            StartResult(ANA, StartResultKind.STARTED, run_id="run_onb_040"),
            StartResult(BEN, StartResultKind.ADOPTED, run_id="run_onb_041"),
            StartResult(failed, StartResultKind.FAILED, message="400 validation_error: no"),
            StartResult(CARA_STARTED, StartResultKind.ALREADY_STARTED, run_id="run_onb_031"),
        ),
    )
    html = page(make_plan(ANA, BEN, failed, CARA_STARTED), result)
    header, *rows = html.tables["starts"]
    assert header[-1] == "Result"
    results = {row[0]: row[-1] for row in rows}
    assert results == {
        "Runs!A12": "started: run run_onb_040",
        "Runs!A13": "adopted: run run_onb_041; its POST's answer was lost; the run it started "
        "was found and taken",
        "Runs!A16": "failed: 400 validation_error: no",
        "Runs!A14": "started already: run run_onb_031",
    }
    assert (
        "banner bad",
        "Started 2 run(s) and applied 0 value(s); 1 run(s) failed or not sent: see Runs to start.",
    ) in html.banners
    # No value was sent: no empty Results table.
    assert "results" not in html.tables


def test_the_html_page_escapes_what_the_sheet_holds():
    sly = replace(ANA, title="<script>alert(1)</script>", actor_email="<b>x</b>@example.com")
    html = plan_html(make_plan(sly), rate_limit=100, window=60)
    assert "<script>alert" not in html and "<b>x</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# -- the JSON report -----------------------------------------------------------------------


def test_the_json_report_has_the_runs_to_start_as_documented():
    report = json.loads(plan_json(make_plan(ANA, CARA_STARTED, patches=1, runs_read=1)))
    assert report["summary"]["creates"] == 1
    assert report["summary"]["requests"] == 5  # a PATCH; ANA's POST, read and 2 PATCHes
    assert report["creates"][0] == {
        "cell_row": 12,
        "cell": "Runs!A12",
        "title": "Onboarding – Ana Lima",
        "due_date": "2026-12-01",
        "actor_email": "hr@example.com",
        "values": {
            "tt_onb_details:el_onb_name": "Ana Lima",
            "tt_onb_details:el_onb_pronouns": "she/her ",
            "tt_onb_dept:el_onb_langs": ["English", "Portuguese"],
        },
        "then": {"completed": ["tt_onb_details"], "assignee": {"tt_onb_dept": "lead@example.com"}},
        "outcome": "start",
        "written": True,
        "run_id": None,
        "found": [],
        "note": None,
        "requests": 4,
    }
    assert report["creates"][1]["outcome"] == "started"
    assert report["creates"][1]["run_id"] == "run_onb_031"
    assert report["creates"][1]["requests"] == 0
    assert [r["method"] for r in report["requests"]] == ["PATCH", "POST"]
    post = report["requests"][1]
    assert post["row"] == 12 and post["title"] == "Onboarding – Ana Lima"
    assert post["body"]["template_id"] == TEMPLATE
    assert post["body"]["custom_elements"][0] == {
        "task_id": "tt_onb_details",
        "element_id": "el_onb_name",
        "value": "Ana Lima",
    }
    assert "starts" not in report  # results only after applying


def test_after_applying_the_json_report_has_each_start_s_result():
    result = ApplyResult(
        Path("run"),
        starts=(
            StartResult(ANA, StartResultKind.STARTED, run_id="run_onb_040"),
            StartResult(BEN, StartResultKind.FAILED, message="400 validation_error: no"),
        ),
    )
    report = json.loads(plan_json(make_plan(ANA, BEN), result))
    assert report["starts"] == [
        {
            "cell": "Runs!A12",
            "title": "Onboarding – Ana Lima",
            "result": "started",
            "run_id": "run_onb_040",
            "message": None,
        },
        {
            "cell": "Runs!A13",
            "title": "Onboarding – Ben Okafor",
            "result": "failed",
            "run_id": None,
            "message": "400 validation_error: no",
        },
    ]
    assert report["results"] == []


# -- golden files --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dry_run_with_creates() -> dict[str, str]:
    """The three reports of a dry run with every kind of new row, and edits beside them."""
    plan = make_plan(ANA, BEN, CARA_STARTED, DEV_CONFLICT, patches=1, runs_read=1)
    return {
        "text": plan_text(plan, rate_limit=100, window=60),
        "json": plan_json(plan) + "\n",
        "html": VERSION.sub(
            "bulksync <version>", html_outline(plan_html(plan, rate_limit=100, window=60))
        ),
    }


def test_the_terminal_report_with_runs_to_start_matches_its_golden_file(
    request, dry_run_with_creates
):
    check_golden(request, "import_dry_run_creates.txt", dry_run_with_creates["text"] + "\n")


def test_the_json_report_with_runs_to_start_matches_its_golden_file(request, dry_run_with_creates):
    golden = FIXTURES / "import_dry_run_creates.json"
    actual = json.loads(dry_run_with_creates["json"])
    # Values, not bytes: the same JSON document, whatever its layout.
    if (
        not request.config.getoption("--update-golden")
        and golden.exists()
        and json.loads(golden.read_text(encoding="utf-8")) == actual
    ):
        return
    check_golden(request, golden.name, dry_run_with_creates["json"])


def test_the_html_report_with_runs_to_start_matches_its_golden_file(request, dry_run_with_creates):
    check_golden(request, "import_dry_run_creates.html.txt", dry_run_with_creates["html"])

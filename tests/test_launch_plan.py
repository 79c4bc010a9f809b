"""Planning runs to start (``bulksync.launch_plan``) as table tests: new rows against a
template and the runs it has, and the journals' account of what was started."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from bulksync.issues import IssueCode
from bulksync.launch import Started, StartOutcome, created_since, since_export
from bulksync.launch_plan import plan_starts, title_key
from bulksync.model import Run, Template, TemplateTask
from bulksync.plans import ImportOptions, OnConflict
from bulksync.sheets.meta import BaseSnapshot, ExportMeta
from bulksync.sheets.reading import NewRow, Sheet, SheetCell
from bulksync.snapshot import FieldKey

EXPORTED = "2026-11-29T10:00:00+00:00"


class Source:
    """The template and runs of the in-process sandbox, with runs added by the test."""

    def __init__(self, client, extra: Sequence[Run] = ()) -> None:
        self.client = client
        self.extra = list(extra)
        self.listed = 0

    def template(self, template_id: str) -> Template | None:
        return self.client.get_template(template_id)

    def template_tasks(self, template_id: str) -> Sequence[TemplateTask]:
        return self.client.template_tasks(template_id)

    def template_runs(self, template_id: str, since: str | None) -> Sequence[Run]:
        self.listed += 1
        active = self.client.list_runs(template_id=template_id, status="active")
        return [*active, *self.extra]


def row(number: int, title: str | None, **values: object) -> NewRow:
    context = {} if title is None else {"run": (f"Runs!A{number}", title)}
    cells = tuple(
        SheetCell(FieldKey("", "", key.split(":")[1]), f"Runs!Z{number}", value, key.split(":")[0])
        for key, value in values.items()
    )
    return NewRow(number, context, cells)


def sheet(*rows: NewRow, template: str = "tpl_onboarding") -> Sheet:
    meta = ExportMeta("1", "sandbox.invalid", EXPORTED, "runs", "Runs", 0, 0, template_id=template)
    return Sheet("launch.xlsx", meta, BaseSnapshot(), (), new_rows=rows)


def run_like(client, title: str, created_at: str, run_id: str) -> Run:
    [some] = client.list_runs(template_id="tpl_onboarding", status="active")[:1]
    return dataclasses.replace(some, id=run_id, title=title, created_at=created_at)


def test_values_are_prefilled_and_ticks_come_after(client):
    starts, issues = plan_starts(
        sheet(
            row(
                4,
                "Noor",
                **{
                    "tt_onb_dept:el_onb_dept": "Engineering",
                    "tt_onb_dept:el_onb_band": 3,
                    "tt_onb_welcome:completed": True,
                    "tt_onb_contract:el_onb_signed": False,
                },
            )
        ),
        Source(client),
    )
    assert issues == []
    [start] = starts
    assert start.body() == {
        "template_id": "tpl_onboarding",
        "name": "Noor",
        "custom_elements": [
            {"task_id": "tt_onb_dept", "element_id": "el_onb_dept", "value": "Engineering"},
            {"task_id": "tt_onb_dept", "element_id": "el_onb_band", "value": 3},
        ],
    }
    assert [(t.template_task_id, t.field, t.value) for t in start.then] == [
        ("tt_onb_welcome", "completed", True)
    ]
    assert start.requests == 3 and start.key == "noor#1"


@pytest.mark.parametrize(
    ("new", "code"),
    [
        (row(5, None, **{"tt_onb_dept:el_onb_band": 3}), IssueCode.TITLE_REQUIRED),
        (row(5, "X", **{"tt_onb_dept:el_onb_dept": "Finance"}), IssueCode.NOT_AN_OPTION),
        (row(5, "X", **{"tt_gone:el_x": "1"}), IssueCode.NOT_IN_TEMPLATE),
        (row(5, "X", **{"tt_onb_welcome:el_onb_intro": "hi"}), IssueCode.NOT_IN_TEMPLATE),
    ],
)
def test_a_row_that_cannot_start_a_run_is_an_error_at_its_cell(client, new, code):
    starts, issues = plan_starts(sheet(new), Source(client))
    assert starts == []
    assert [i.code for i in issues] == [code]
    assert issues[0].cell.endswith("5")


def test_an_unpublished_or_missing_template_reads_no_runs(client):
    source = Source(client)
    _, issues = plan_starts(sheet(row(3, "X"), template="tpl_access_review"), source)
    assert [i.code for i in issues] == [IssueCode.TEMPLATE_UNPUBLISHED]
    assert source.listed == 0
    _, issues = plan_starts(sheet(row(3, "X"), template=""), source)
    assert [i.code for i in issues] == [IssueCode.NO_TEMPLATE]


def test_the_journals_and_the_runs_since_the_export_decide_each_row(client):
    since_export_run = run_like(client, "Copied  row", "2026-11-29T10:30:00.000Z", "run_new")
    older_run = run_like(client, "In use", "2026-01-01T00:00:00.000Z", "run_old")
    ledger = {
        "started#1": Started("started#1", "run_a", done=True),
        "pending#1": Started("pending#1", "run_b", done=False),
        "unsure#1": Started("unsure#1", None, known=("run_x",)),
    }
    starts, issues = plan_starts(
        sheet(
            row(2, "Started"),
            row(3, "Pending", **{"tt_onb_welcome:completed": True}),
            row(4, "Unsure"),
            row(5, "copied row"),
            row(6, "In use"),
            row(7, "Fresh"),
        ),
        Source(client, [since_export_run, older_run]),
        ledger=ledger,
    )
    outcome = {s.title: (s.outcome, s.written) for s in starts}
    assert outcome == {
        "Started": (StartOutcome.STARTED, False),
        "Pending": (StartOutcome.STARTED, True),  # its tick is still to set
        "Unsure": (StartOutcome.START, True),
        "copied row": (StartOutcome.CONFLICT, False),
        "In use": (StartOutcome.START, True),
        "Fresh": (StartOutcome.START, True),
    }
    unsure = next(s for s in starts if s.title == "Unsure")
    # not the run its lost POST may have started, nor a run another row started
    assert unsure.unsure and set(unsure.known) == {"run_x", "run_a", "run_b"}
    pending = next(s for s in starts if s.title == "Pending")
    assert pending.requests == 2  # no POST: a read and the tick's PATCH
    assert [i.code for i in issues] == [IssueCode.TITLE_IN_USE]
    # --on-conflict mine starts the conflict too
    starts, _ = plan_starts(
        sheet(row(5, "copied row")),
        Source(client, [since_export_run]),
        options=ImportOptions(on_conflict=OnConflict.MINE),
    )
    assert starts[0].outcome is StartOutcome.CONFLICT and starts[0].written


def test_a_row_with_an_error_keeps_its_place_among_rows_of_its_title(client):
    """Fixing a row later must not hand it the key of a row started meanwhile."""
    bad = row(2, "Twin", **{"tt_onb_dept:el_onb_dept": "Finance"})
    good = row(3, "Twin")
    starts, issues = plan_starts(sheet(bad, good), Source(client))
    assert [s.key for s in starts] == ["twin#2"]
    assert IssueCode.NOT_AN_OPTION in {i.code for i in issues}


def test_titles_match_whatever_the_blanks_and_case():
    assert title_key("  Onboarding –  Zoë ") == title_key("onboarding – ZOË")


def test_since_the_export_allows_for_clocks():
    since = since_export("2026-11-29T10:00:00+00:00")
    assert since is not None and since.startswith("2026-11-29T09:55:00")
    run = Run("r", "t", "x", "active", None, None, None, None, False, (), None, None, None)
    assert created_since(dataclasses.replace(run, created_at="2026-11-29T09:56:00.000Z"), since)
    assert not created_since(dataclasses.replace(run, created_at="2026-11-29T09:50:00.000Z"), since)
    assert since_export("not a time") is None

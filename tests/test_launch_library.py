"""``bulksync.start_runs``: runs started from Python rows, against the in-process sandbox:
exactly the runs asked for, with exactly their values, nothing sent while an error
stands, and never a run started twice by the calls of one batch."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from bulksync import ExitCode, IssueCode, Launch, start_runs
from bulksync.launch import StartOutcome, StartResultKind
from bulksync.rundir import read_journal
from bulksync.sandbox import sandbox_client
from tests.test_launch import EXPECTED

TEMPLATE = "tpl_onboarding"
ACTOR = "chen.wei@acme.example"
NOOR = {
    "title": "Onboarding – Noor Haddad",
    "due_date": dt.date(2027, 1, 29),
    "started_by": ACTOR,
    "tt_onb_welcome:completed": True,
    "Legal name": "Noor Haddad",
    "Personal email": "noor@example.org",
    "Employee number": "007",
    "Assign department and start date › Department": "Recherche & Développement",
    "Start date": dt.date(2027, 1, 4),
    "tt_onb_dept:el_onb_band": 4.5,
    "Contract signed": True,
    "Laptop": 'MacBook Pro 14"',
    "Accessories": ["Monitor", "Keyboard, DE layout"],
    "Delivery notes": "Reception, 2nd floor\nask for Sam",
    "GitHub profile": "https://github.com/noor",
    "tt_onb_contract:completed": True,
    "tt_onb_dept:assignee": "ana.garcia@acme.example",
}
"""A row with a value of every element type, keyed every way, two ticks and an assignee."""
NOOR_VALUES = {
    **EXPECTED,  # the CLI's test of a row of every type: the same values
    "tt_onb_dept:assignee": "ana.garcia@acme.example",
    "tt_onb_details:el_onb_phone": None,
}
INES = {
    "title": "Onboarding – Ines Costa",
    "Salary band": 3,
    "First meeting": "2027-02-01",
    "Systems": ("Slack", "Jira"),
}


def posts(sandbox) -> int:
    return sum(n for (method, _), n in sandbox.stats.by_status.items() if method == "POST")


def values_of(client, run_id: str) -> dict[str, object]:
    """The run's fields by the runs layout's column key."""
    found: dict[str, object] = {}
    for task in client.run_tasks(run_id):
        found[f"{task.template_task_id}:completed"] = task.completed
        found[f"{task.template_task_id}:assignee"] = task.assignee
        for element in task.elements:
            found[f"{task.template_task_id}:{element.id}"] = element.value
    return found


def titles(client) -> Counter[str]:
    return Counter(r.title for r in client.list_runs(template_id=TEMPLATE))


def run_dirs(state: Path) -> list[Path]:
    imports = state / ".bulksync" / "imports"
    return sorted(imports.iterdir()) if imports.is_dir() else []


def test_rows_of_every_type_start_exactly_those_runs_with_exactly_their_values(
    sandbox, client, tmp_path
):
    before = titles(client)
    launch = start_runs(client, TEMPLATE, [NOOR, INES], state_dir=tmp_path, batch="hires")
    assert launch.errors == () and launch.result is not None
    assert launch.result.exit_code() is ExitCode.OK
    assert [r.title for r in launch.runs] == [NOOR["title"], INES["title"]]
    assert titles(client) - before == Counter({NOOR["title"]: 1, INES["title"]: 1})
    assert posts(sandbox) == 2
    noor, ines = launch.runs
    assert noor.due_date is not None and noor.due_date.startswith("2027-01-29")
    assert noor.started_by == ACTOR
    values = values_of(client, noor.id)
    for key, value in NOOR_VALUES.items():
        assert values[key] == value, key
    values = values_of(client, ines.id)
    assert values["tt_onb_dept:el_onb_band"] == 3
    assert values["tt_onb_buddy:el_onb_meet"] == "2027-02-01"
    assert values["tt_onb_accounts:el_onb_systems"] == ["Slack", "Jira"]
    # the journal and results of the call are under state_dir
    assert launch.run_dir is not None and launch.run_dir.parent.parent.parent == tmp_path
    assert (launch.run_dir / "results.csv").is_file()
    started = [s for s in launch.result.starts if s.result is StartResultKind.STARTED]
    assert [s.run_id for s in started] == [noor.id, ines.id]


def test_a_bad_value_is_an_error_at_its_row_and_key_and_nothing_is_sent(sandbox, client, tmp_path):
    rows = [
        {"title": "Onboarding – Ok", "Department": "Engineering"},
        {"title": "Onboarding – Bad", "Department": "Enginering"},
        {"Start date": "2027-02-30"},
        {"title": "Onboarding – Worse", "started_by": "not an email"},
        {"title": "Onboarding – Late", "Start date": dt.datetime(2027, 1, 4, 9, 30)},
        {"title": "Onboarding – Tick", "Contract signed": ["yes", "no"]},
    ]
    launch = start_runs(client, TEMPLATE, rows, state_dir=tmp_path, batch="hires")
    found = {(e.cell, e.code) for e in launch.errors}
    assert found == {
        ("rows[1]['Department']", IssueCode.NOT_AN_OPTION),
        ("rows[2]['title']", IssueCode.TITLE_REQUIRED),
        ("rows[2]['Start date']", IssueCode.NOT_A_DATE),
        ("rows[3]['started_by']", IssueCode.NOT_AN_EMAIL),
        ("rows[4]['Start date']", IssueCode.NOT_A_DATE),
        ("rows[5]['Contract signed']", IssueCode.NOT_A_BOOLEAN),
    }
    [typo] = [e.message for e in launch.errors if e.code is IssueCode.NOT_AN_OPTION]
    assert "did you mean 'Engineering'?" in typo
    assert launch.plan.exit_code() is ExitCode.INVALID
    assert (launch.result, launch.runs, launch.run_dir) == (None, [], None)
    assert posts(sandbox) == 0 and run_dirs(tmp_path) == []


def test_a_key_that_names_no_field_is_an_error_and_nothing_is_sent(sandbox, client, tmp_path):
    rows = [
        {"title": "Onboarding – A", "Legal nam": "Ada"},
        {"title": "Onboarding – B", "Completed": True},
        {"title": "Onboarding – C", "Legal name": "Cy", "tt_onb_details:el_onb_name": "Cy"},
        {"title": "Onboarding – D", "tt_onb_nope:el_x": "?"},
    ]
    launch = start_runs(client, TEMPLATE, rows, state_dir=tmp_path, batch="hires")
    errors = {e.cell: e.message for e in launch.errors}
    assert set(errors) == {
        "rows[0]['Legal nam']",
        "rows[1]['Completed']",
        "rows[2]['tt_onb_details:el_onb_name']",
        "rows[3]['tt_onb_nope:el_x']",
    }
    assert "no field 'Legal nam'" in errors["rows[0]['Legal nam']"]
    assert "10 fields" in errors["rows[1]['Completed']"]
    assert "Read me first › Completed" in errors["rows[1]['Completed']"]
    assert "rows[2]['Legal name']" in errors["rows[2]['tt_onb_details:el_onb_name']"]
    assert launch.result is None and posts(sandbox) == 0
    # a value of a type no cell holds is a mistake in the calling code
    with pytest.raises(TypeError, match=r"rows\[0\]\['Legal name'\]: a dict"):
        start_runs(
            client, TEMPLATE, [{"title": "X", "Legal name": {}}], state_dir=tmp_path, batch="b"
        )
    assert posts(sandbox) == 0


def test_the_same_batch_again_starts_nothing_and_another_batch_is_a_conflict(
    sandbox, client, tmp_path
):
    first = start_runs(client, TEMPLATE, [NOOR, INES], state_dir=tmp_path, batch="hires")
    assert len(first.runs) == 2 and posts(sandbox) == 2
    after = titles(client)

    again = start_runs(client, TEMPLATE, [NOOR, INES], state_dir=tmp_path, batch="hires")
    assert again.errors == () and (again.result, again.runs, again.run_dir) == (None, [], None)
    assert [c.outcome for c in again.plan.creates] == [StartOutcome.STARTED] * 2
    assert [c.run_id for c in again.plan.creates] == [r.id for r in first.runs]
    assert posts(sandbox) == 2 and titles(client) == after

    # a row added to the batch: only it starts
    more = {"title": "Onboarding – Third"}
    third = start_runs(client, TEMPLATE, [NOOR, INES, more], state_dir=tmp_path, batch="hires")
    assert [r.title for r in third.runs] == [more["title"]] and posts(sandbox) == 3

    # another batch: runs with these titles were started since, and not by it
    other = start_runs(client, TEMPLATE, [NOOR], state_dir=tmp_path, batch="other")
    assert [c.outcome for c in other.plan.creates] == [StartOutcome.CONFLICT]
    assert other.plan.exit_code() is ExitCode.CONFLICTS and other.runs == []
    assert posts(sandbox) == 3
    mine = start_runs(
        client, TEMPLATE, [NOOR], state_dir=tmp_path, batch="other", on_conflict="mine"
    )
    assert [r.title for r in mine.runs] == [NOOR["title"]] and posts(sandbox) == 4


def test_a_title_of_an_active_run_is_a_warning_and_the_row_starts(sandbox, client, tmp_path):
    existing = client.list_runs(template_id=TEMPLATE, status="active")[0].title
    launch = start_runs(client, TEMPLATE, [{"title": existing}], state_dir=tmp_path, batch="b")
    assert [w.code for w in launch.plan.warnings] == [IssueCode.TITLE_IN_USE]
    assert [r.title for r in launch.runs] == [existing] and posts(sandbox) == 1


def test_a_dry_run_sends_nothing_and_keeps_nothing(sandbox, client, tmp_path):
    launch = start_runs(client, TEMPLATE, [NOOR], state_dir=tmp_path, batch="b", dry_run=True)
    assert launch.errors == () and (launch.result, launch.runs, launch.run_dir) == (None, [], None)
    [start] = launch.plan.creates
    # the POST, a read of the new run's tasks, a PATCH per task ticked or assigned
    assert start.outcome is StartOutcome.START and start.requests == 5
    assert launch.plan.requests == 5
    assert posts(sandbox) == 0 and sandbox.stats.total("PATCH") == 0
    assert run_dirs(tmp_path) == []
    # it recorded nothing: the call for real starts the row
    real = start_runs(client, TEMPLATE, [NOOR], state_dir=tmp_path, batch="b")
    assert len(real.runs) == 1 and posts(sandbox) == 1


def test_an_unpublished_template_is_an_error_and_nothing_is_sent(sandbox, client, tmp_path):
    launch = start_runs(
        client, "tpl_access_review", [{"title": "Q1 review"}], state_dir=tmp_path, batch="q1"
    )
    [error] = launch.errors
    assert error.code is IssueCode.TEMPLATE_UNPUBLISHED and "publish it" in error.message
    assert launch.result is None and posts(sandbox) == 0


TITLES = [f"Onboarding – New hire {n:02d}" for n in range(12)]


def test_under_lost_answers_every_row_ends_as_exactly_one_run(make_sandbox, tmp_path):
    sandbox = make_sandbox(fault_seed=11, rate_limit=100_000)
    rows = [{"title": t, "Legal name": t[-6:], "tt_onb_welcome:completed": True} for t in TITLES]
    with sandbox_client(sandbox, backoff_base=0.001, backoff_cap=0.01) as client:
        before = titles(client)
        calm = sandbox.config
        sandbox.config = dataclasses.replace(calm, drop_rate=0.35)
        first = start_runs(client, TEMPLATE, rows, state_dir=tmp_path, batch="hires")
        sandbox.config = calm
        assert first.run_dir is not None
        events = [e["event"] for e in read_journal(first.run_dir / "journal.jsonl")]
        assert "start_unknown" in events and "start_adopted" in events
        second: Launch = start_runs(client, TEMPLATE, rows, state_dir=tmp_path, batch="hires")
        assert second.errors == ()
        assert second.result is None or second.result.exit_code() is ExitCode.OK
        assert titles(client) - before == Counter(dict.fromkeys(TITLES, 1))
        # each run once, by the call that started or found it
        ids = [r.id for r in first.runs + second.runs]
        assert len(ids) == len(set(ids)) == len(TITLES)
        for run in first.runs + second.runs:
            values = values_of(client, run.id)
            assert values["tt_onb_details:el_onb_name"] == run.title[-6:]
            assert values["tt_onb_welcome:completed"] is True

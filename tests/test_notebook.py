"""Issue 14: a notebook's walk through bulksync, with only the names ``bulksync`` exports:
export → DataFrame → an edit computed with pandas → dry run → apply → export again,
against the sandbox in process and over loopback HTTP."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

import bulksync

LAPTOP = ("Order equipment", "Laptop")
ACCESSORIES = ("Order equipment", "Accessories")
EMAIL = ("Collect personal details", "Personal email")
START = ("Assign department and start date", "Start date")
BAND = ("Assign department and start date", "Salary band")
STATUS = ("", "Status")


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sandbox = bulksync.open_sandbox(tmp_path / "sandbox.db")
    with bulksync.sandbox_client(sandbox) as client:
        yield client
    sandbox.store.close()


def test_export_frame_edit_plan_apply_and_export_again(client, tmp_path):
    export = bulksync.export(client, template="tpl_onboarding")
    assert isinstance(export, bulksync.Export)
    assert export.path.parent == tmp_path / ".bulksync" / "frames"  # no path: kept here
    frame = export.frame()
    assert frame.index.name == "run_id" and len(frame) == export.runs == 12
    assert frame.columns.names == ["task", "field"]
    assert str(frame[LAPTOP].dtype) == "string" and str(frame[BAND].dtype) == "Float64"
    assert str(frame[START].dtype).startswith("datetime64")
    assert str(frame[("Office tour", "Badge handed over")].dtype) == "boolean"
    assert all(isinstance(v, list) for v in frame[ACCESSORIES])
    # Planned as it is, the frame is no change and reads nothing.
    before = client.stats.total
    untouched = bulksync.plan(client, frame)
    assert untouched.summary()["changes"] == 0 and not untouched.errors
    assert client.stats.total == before

    # The bulk edit: every active run with no laptop gets a ThinkPad and a headset.
    todo = frame[STATUS].eq("active") & frame[LAPTOP].isna()
    frame.loc[todo, LAPTOP] = "ThinkPad X1 Carbon"
    frame.loc[todo, ACCESSORIES] = pd.Series(
        [["Headset"]] * int(todo.sum()), index=frame[todo].index
    )
    edited = sorted(frame.index[todo])
    assert len(edited) == 3
    plan = bulksync.plan(client, frame)
    assert isinstance(plan, bulksync.Plan) and not plan.errors and not plan.conflicts
    changes = plan.frame()
    assert set(changes["kind"]) == {"change"}
    assert sorted(changes["run_id"].unique()) == edited
    assert sorted(changes["label"].unique()) == ["Accessories", "Laptop"]
    assert len(plan.patches) == 3  # one PATCH per edited task
    html = plan._repr_html_()
    assert "ThinkPad X1 Carbon" in html and "<html" not in html and "<body" not in html
    assert "body {" not in html  # the report's styles stay in the report

    result = plan.apply(client)
    assert result.exit_code() == bulksync.ExitCode.OK
    applied = result.frame()
    assert list(applied["result"]) == ["applied"] * len(changes)
    assert "applied" in result._repr_html_()
    journals = list((tmp_path / ".bulksync" / "imports").glob("*/journal.jsonl"))
    assert len(journals) == 1  # journalled as the CLI does, beside the export

    again = bulksync.export(client, template="tpl_onboarding").frame()
    assert list(again.loc[edited, LAPTOP]) == ["ThinkPad X1 Carbon"] * 3
    assert all(v == ["Headset"] for v in again.loc[edited, ACCESSORIES])
    unchanged = [r for r in frame.index if r not in edited]
    pd.testing.assert_frame_equal(
        again.loc[unchanged].drop(columns=[LAPTOP, ACCESSORIES]),
        export.frame().loc[unchanged].drop(columns=[LAPTOP, ACCESSORIES]),
    )
    # The same plan applied again sends nothing twice.
    assert bulksync.plan(client, frame).summary()["changes"] == 0


def test_a_value_changed_live_since_the_export_is_a_conflict_not_overwritten(client):
    export = bulksync.export(client, template="tpl_onboarding")
    frame = export.frame()
    frame.loc["run_onb_011", EMAIL] = "noah@mine.example"
    task = next(t for t in client.run_tasks("run_onb_011") if t.element("el_onb_email"))
    client.patch_task("run_onb_011", task.id, elements={"el_onb_email": "noah@theirs.example"})
    plan = bulksync.plan(client, frame)
    found = plan.frame()
    assert list(found["kind"]) == ["conflict"]
    assert found["live"][0] == "noah@theirs.example" and found["sheet"][0] == "noah@mine.example"
    plan.apply(client)
    task = client.get_task("run_onb_011", task.id)
    assert task.element("el_onb_email").value == "noah@theirs.example"
    mine = bulksync.plan(client, frame, on_conflict="mine")
    mine.apply(client)
    task = client.get_task("run_onb_011", task.id)
    assert task.element("el_onb_email").value == "noah@mine.example"


def test_an_invalid_frame_cell_is_an_error_naming_its_row_and_column(client):
    frame = bulksync.export(client, template="tpl_onboarding").frame()
    frame.loc["run_onb_010", EMAIL] = "priya at example"
    frame.loc["run_onb_009", LAPTOP] = "Commodore 64"
    plan = bulksync.plan(client, frame)
    errors = plan.frame().set_index("code")
    assert errors.loc["not_an_email", "cell"] == (
        "row run_onb_010, column Collect personal details / Personal email"
    )
    assert errors.loc["not_an_option", "cell"] == "row run_onb_009, column Order equipment / Laptop"
    assert plan.exit_code() == bulksync.ExitCode.INVALID
    sent = client.stats.sent("PATCH")
    with pytest.raises(bulksync.SheetError, match="2 error"):
        plan.apply(client)
    assert client.stats.sent("PATCH") == sent  # nothing is sent while an error stands


def test_dates_and_numbers_edited_with_pandas_types(client):
    frame = bulksync.export(client, template="tpl_onboarding").frame()
    frame.loc["run_onb_011", START] = pd.Timestamp(2027, 1, 4)
    frame.loc["run_onb_011", BAND] = 4
    plan = bulksync.plan(client, frame)
    assert set(plan.frame()["sheet"]) == {4, "2027-01-04"}


def test_the_tidy_frame_is_edited_and_planned_too(client):
    export = bulksync.export(client, template="tpl_onboarding")
    tidy = export.frame("tasks")
    assert list(tidy.columns) == [
        "run_id", "task_id", "field_id", "task", "field", "type", "value",
    ]  # fmt: skip
    assert len(tidy) == export.values
    row = tidy.index[(tidy["run_id"] == "run_onb_011") & (tidy["field_id"] == "el_onb_email")][0]
    tidy.loc[row, "value"] = "noah@tidy.example"
    plan = bulksync.plan(client, tidy)
    assert [(c.key.run_id, c.sheet) for c in plan.changes] == [("run_onb_011", "noah@tidy.example")]


def test_a_frame_that_lost_its_export_is_refused_with_how_to_fix_it(client):
    frame = bulksync.export(client, template="tpl_onboarding").frame()
    rebuilt = pd.DataFrame(frame.to_dict())
    with pytest.raises(bulksync.SheetError, match="does not say which export it came from"):
        bulksync.plan(client, rebuilt)


def test_an_edited_file_is_planned_and_applied_the_same_way(client, tmp_path):
    export = bulksync.export(client, template="tpl_onboarding", path=tmp_path / "onb.xlsx")
    assert export.path == tmp_path / "onb.xlsx"
    plan = bulksync.plan(client, export.path)
    assert plan.summary()["changes"] == 0 and not plan.has_work
    result = plan.apply(client)
    assert result.results == ()


def test_over_loopback_http(tmp_path, monkeypatch):
    from bulksync.sandbox import SANDBOX_API_KEY
    from bulksync.sandbox.server import ServerThread

    monkeypatch.chdir(tmp_path)
    sandbox = bulksync.open_sandbox(tmp_path / "sandbox.db")
    server = ServerThread(sandbox)
    base_url = server.start()
    try:
        with bulksync.NextStepClient(SANDBOX_API_KEY, base_url=base_url) as client:
            export = bulksync.export(client, template="tpl_onboarding", path="team.csv")
            frame = export.frame()
            frame.loc["run_onb_011", EMAIL] = "noah@http.example"
            result = bulksync.plan(client, frame).apply(client)
            assert list(result.frame()["result"]) == ["applied"]
    finally:
        server.stop()
        sandbox.store.close()
    assert Path("team.csv").exists() and os.path.getsize("team.csv") > 0


@pytest.mark.parametrize("canary", [-1, "2", 1.5, True])
def test_a_canary_that_is_no_count_of_requests_is_refused_before_anything_is_sent(client, canary):
    frame = bulksync.export(client, template="tpl_onboarding").frame()
    frame.loc["run_onb_011", EMAIL] = "noah@new.example"
    plan = bulksync.plan(client, frame)
    with pytest.raises(ValueError, match="canary is a number of requests"):
        plan.apply(client, canary=canary)
    assert client.stats.sent("PATCH") == 0


def test_a_file_from_another_host_says_how_to_force_it_in_python(client, tmp_path):
    export = bulksync.export(client, template="tpl_onboarding", path=tmp_path / "onb.xlsx")
    sandbox = bulksync.open_sandbox(tmp_path / "other.db")
    with bulksync.sandbox_client(sandbox, base_url="http://other.invalid/api/v1") as other:
        with pytest.raises(bulksync.SheetError, match=r"force=True"):
            bulksync.plan(other, export.path)
        assert bulksync.plan(other, export.path, force=True).host == other.host
    sandbox.store.close()

"""``plan_undo`` as a library stage, against the sandbox: the import's journal read back,
each written value checked three ways against live state."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulksync.apply import apply_plan
from bulksync.diff import plan_import
from bulksync.errors import ExitCode, SheetError
from bulksync.fetch import LiveState, fetch_snapshot
from bulksync.plans import Outcome, Result
from bulksync.rundir import new_run_dir, new_undo_dir
from bulksync.sandbox import sandbox_client
from bulksync.sheets import Layout, read_sheet, write_export
from bulksync.undo import plan_undo
from tests.test_apply import EDITS
from tests.test_cli_import import ONB_ACTIVE, edit_runs, task_id


def imported(sandbox, tmp_path: Path) -> tuple[Path, Path]:
    """Export ONB_ACTIVE, edit three values, apply; the sheet and the run directory."""
    sheet = tmp_path / "onb.xlsx"
    with sandbox_client(sandbox) as client:
        snapshot = fetch_snapshot(
            client, run_ids=[ONB_ACTIVE], template_id=None, status=None, with_template=True
        )
        write_export(snapshot, sheet, layout=Layout.RUNS)
        edit_runs(sheet, EDITS)
        live = LiveState(client)
        plan = plan_import(read_sheet(sheet, only_edited=True), live.read, host=client.host)
        run_dir = new_run_dir(sheet)
        result = apply_plan(plan, client, run_dir, live=live)
    assert result.count(Result.APPLIED) == 3
    return sheet, run_dir


def test_undo_puts_back_each_value_the_import_wrote(sandbox, tmp_path):
    _, run_dir = imported(sandbox, tmp_path)
    with sandbox_client(sandbox) as client:
        plan = plan_undo(run_dir, LiveState(client).read, client.host)
        assert {c.key.field: c.outcome for c in plan.changes} == {
            "el_onb_phone": Outcome.CHANGE,
            "el_onb_band": Outcome.CHANGE,
            "el_onb_delivery": Outcome.CHANGE,
        }
        # The base is what the import wrote, the edit what it replaced.
        assert {c.key.field: (c.base, c.live) for c in plan.changes}["el_onb_band"] == (7, 7)
        assert all(c.written for c in plan.changes)
        assert (plan.errors, plan.conflicts, plan.runs_read) == ((), (), 1)
        assert plan.exit_code(detailed=True) is ExitCode.CHANGES
        result = apply_plan(plan, client, new_undo_dir(run_dir))
        assert result.exit_code() is ExitCode.OK
        again = plan_undo(run_dir, LiveState(client).read, client.host)
    assert len(again.already_done) == 3
    assert (again.changes, again.patches) == ((), ())


def test_a_value_changed_since_the_import_is_a_conflict_and_is_left_alone(sandbox, tmp_path):
    sheet, run_dir = imported(sandbox, tmp_path)
    band_task = task_id(sheet, ONB_ACTIVE, "tt_onb_dept")
    with sandbox_client(sandbox) as client:
        client.patch_task(ONB_ACTIVE, band_task, elements={"el_onb_band": 3})
        plan = plan_undo(run_dir, LiveState(client).read, client.host)
    [conflict] = plan.conflicts
    assert (conflict.key.field, conflict.live, conflict.written) == ("el_onb_band", 3, False)
    assert {c.key.field for c in plan.changes} == {"el_onb_phone", "el_onb_delivery"}
    assert all("el_onb_band" not in str(p.body()) for p in plan.patches)
    assert plan.exit_code() is ExitCode.CONFLICTS


def test_undo_of_a_directory_without_a_journal_is_a_sheet_error(sandbox, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    with sandbox_client(sandbox) as client, pytest.raises(SheetError) as raised:
        plan_undo(tmp_path / "elsewhere", LiveState(client).read, client.host)
    assert raised.value.exit_code is ExitCode.SHEET
    assert "is not a run directory: it has no journal.jsonl" in str(raised.value)

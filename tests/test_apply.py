"""``apply_plan`` as a library stage: the freshness of each run's read under the rate limit.

The CLI tests cover applying end to end; here the client keeps to a tight limit (two
requests per two seconds) so that a run's PATCHes cannot all go right after its read,
and a colleague's edit lands while the next PATCH waits for its place.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bulksync.apply import apply_plan
from bulksync.diff import plan_import
from bulksync.errors import ExitCode
from bulksync.fetch import LiveState, fetch_snapshot
from bulksync.plans import CanaryReport, Result
from bulksync.rundir import RESULTS, new_run_dir
from bulksync.sandbox import sandbox_client
from bulksync.sheets import Layout, read_sheet, write_export
from tests.test_cli_import import ONB_ACTIVE, edit_runs, task_id

EDITS = {
    (ONB_ACTIVE, "tt_onb_details:el_onb_phone"): "+49 1",
    (ONB_ACTIVE, "tt_onb_dept:el_onb_band"): 7,
    (ONB_ACTIVE, "tt_onb_equipment:el_onb_delivery"): "Desk 7",
}


def test_a_patch_that_waits_for_its_place_is_checked_against_a_fresh_read(
    make_sandbox, tmp_path: Path
):
    sandbox = make_sandbox(rate_limit=2, window=2.0)
    sheet = tmp_path / "onb.xlsx"
    with sandbox_client(sandbox, rate_limit=100_000) as setup:
        snapshot = fetch_snapshot(
            setup, run_ids=[ONB_ACTIVE], template_id=None, status=None, with_template=True
        )
    write_export(snapshot, sheet, layout=Layout.RUNS)
    edit_runs(sheet, EDITS)
    band_task = task_id(sheet, ONB_ACTIVE, "tt_onb_dept")
    with sandbox_client(sandbox) as client:  # keeps to the sandbox's 2 per 2 s
        live = LiveState(client)
        plan = plan_import(read_sheet(sheet, only_edited=True), live.read, host=client.host)
        assert len(plan.patches) == 3

        def colleague(done: int, total: int) -> None:
            if done == 1:  # after the first PATCH: an edit the later PATCHes must see
                with sandbox_client(sandbox, rate_limit=100_000) as other:
                    other.patch_task(ONB_ACTIVE, band_task, elements={"el_onb_band": 3})

        report = apply_plan(plan, client, new_run_dir(sheet), live=live, progress=colleague)
    outcome = {r.change.key.field: r.result for r in report.results}
    assert outcome["el_onb_band"] is Result.CONFLICT
    assert outcome["el_onb_phone"] is outcome["el_onb_delivery"] is Result.APPLIED
    with sandbox_client(sandbox, rate_limit=100_000) as check:
        task = check.get_task(ONB_ACTIVE, band_task)
    assert task.element("el_onb_band").value == 3


def planned(sandbox, tmp_path: Path) -> tuple[Path, Path]:
    sheet = tmp_path / "onb.xlsx"
    with sandbox_client(sandbox) as setup:
        snapshot = fetch_snapshot(
            setup, run_ids=[ONB_ACTIVE], template_id=None, status=None, with_template=True
        )
    write_export(snapshot, sheet, layout=Layout.RUNS)
    edit_runs(sheet, EDITS)
    return sheet, new_run_dir(sheet)


@pytest.mark.parametrize("go_on", [True, False])
def test_the_canary_goes_first_and_the_rest_only_when_confirmed(sandbox, tmp_path, go_on):
    sheet, run_dir = planned(sandbox, tmp_path)
    asked: list[CanaryReport] = []

    def confirm_rest(canary: CanaryReport) -> bool:
        asked.append(canary)
        return go_on

    with sandbox_client(sandbox) as client:
        live = LiveState(client)
        plan = plan_import(read_sheet(sheet, only_edited=True), live.read, host=client.host)
        result = apply_plan(plan, client, run_dir, canary=1, confirm_rest=confirm_rest, live=live)
    assert asked == [CanaryReport(requests=1, applied=1, not_applied=0, rest=2)]
    assert result.requests == (3 if go_on else 1)
    assert result.count(Result.APPLIED) == (3 if go_on else 1)
    assert result.count(Result.NOT_SENT) == (0 if go_on else 2)
    assert result.exit_code() is (ExitCode.OK if go_on else ExitCode.FAILED)
    with (run_dir / RESULTS).open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["result"] for r in rows) == sorted(r.result.value for r in result.results)


def test_the_plans_unwritten_conflicts_are_results_of_applying(sandbox, tmp_path):
    sheet, run_dir = planned(sandbox, tmp_path)
    band_task = task_id(sheet, ONB_ACTIVE, "tt_onb_dept")
    with sandbox_client(sandbox) as client:
        client.patch_task(ONB_ACTIVE, band_task, elements={"el_onb_band": 3})
        live = LiveState(client)
        plan = plan_import(read_sheet(sheet, only_edited=True), live.read, host=client.host)
        result = apply_plan(plan, client, run_dir, live=live)
    [conflict] = result.unwritten
    assert (conflict.change.key.field, conflict.result) == ("el_onb_band", Result.CONFLICT)
    assert result.count(Result.APPLIED) == 2
    assert result.exit_code() is plan.exit_code() is ExitCode.CONFLICTS

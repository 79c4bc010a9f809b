"""``apply_plan`` as a library stage: the freshness of each run's read under the rate limit.

The CLI tests cover applying end to end; here the client keeps to a tight limit (two
requests per two seconds) so that a run's PATCHes cannot all go right after its read,
and a colleague's edit lands while the next PATCH waits for its place.
"""

from __future__ import annotations

from pathlib import Path

from bulksync.apply import apply_plan
from bulksync.diff import plan_import
from bulksync.live import LiveState
from bulksync.plan import Result
from bulksync.rundir import new_run_dir
from bulksync.sandbox import sandbox_client
from bulksync.sheets import Layout, read_sheet, write_export
from bulksync.snapshot import fetch_snapshot
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

"""Live reads: ``LiveState`` (the reader an import plans with) and ``fetch_snapshot``."""

from __future__ import annotations

import pytest

from bulksync import NextStepClient, NotFoundError
from bulksync.fetch import LiveState, fetch_snapshot
from bulksync.sandbox import sandbox_client

KEPT = "run_onb_003"
GONE = "run_onb_001"


@pytest.fixture(params=["in-process", "http"])
def reach(request, sandbox, serve):
    """A client of the sandbox, in process and over loopback HTTP."""
    if request.param == "http":
        with NextStepClient("nxs_live_sandbox", serve(sandbox)) as client:
            yield client
    else:
        with sandbox_client(sandbox) as client:
            yield client


def test_a_run_deleted_since_the_export_reads_as_none(reach, sandbox):
    live = LiveState(reach)
    before = live.read([KEPT, GONE])
    assert before[GONE] and before[KEPT]
    sandbox.store.delete_run(GONE)
    with pytest.raises(NotFoundError):
        reach.run_tasks(GONE)  # what the client says; the reader turns it into None
    after = live.read([KEPT, GONE, "run_never_was"])
    assert after == {KEPT: before[KEPT], GONE: None, "run_never_was": None}
    assert live.fresh(GONE, max_age=0.0).tasks is None
    assert live.reads == 6  # 2, then 3, then 1: a gone run is read, not skipped


def test_an_id_no_run_can_have_reads_as_none(client):
    live = LiveState(client)
    assert live.read(["run/../x", "run_onb_003?x=1"]) == {
        "run/../x": None,
        "run_onb_003?x=1": None,
    }


def test_the_reader_reports_progress_run_by_run(client):
    seen: list[tuple[int, int]] = []
    LiveState(client, progress=lambda done, total: seen.append((done, total))).read(
        [KEPT, "run_never_was"]
    )
    assert seen == [(0, 2), (1, 2), (2, 2)]


def test_a_snapshot_reads_runs_by_id_once_each(client):
    snapshot = fetch_snapshot(client, run_ids=[KEPT, KEPT], with_template=True)
    assert [r.id for r in snapshot.runs] == [KEPT]
    assert snapshot.template_id == "tpl_onboarding"
    assert snapshot.template_tasks
    assert [t.run_id for t in snapshot.tasks[KEPT]] == [KEPT] * len(snapshot.tasks[KEPT])


def test_progress_goes_on_over_the_batches_a_plan_reads_in(client):
    seen: list[tuple[int, int]] = []
    live = LiveState(client, progress=lambda done, total: seen.append((done, total)))
    live.read([KEPT, "run_never_was"])
    live.read(["run_gone_too"])
    assert seen == [(0, 2), (1, 2), (2, 2), (2, 3), (3, 3)]


def test_only_the_last_readings_are_kept_for_applying(make_sandbox):
    lifted = make_sandbox(rate_limit=1_000_000)
    ids = [f"run_none_{n}" for n in range(LiveState.KEEP_READINGS + 2)]
    with sandbox_client(lifted) as client:
        live = LiveState(client)
        live.read(ids)
        assert len(live.readings) == LiveState.KEEP_READINGS
        assert ids[0] not in live.readings and ids[-1] in live.readings
        live.fresh(ids[-1], max_age=60.0)
        assert live.reads == len(ids)  # a kept reading is not read again
        live.fresh(ids[0], max_age=60.0)
        assert live.reads == len(ids) + 1  # one no longer kept is

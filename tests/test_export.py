"""``bulksync.exporter.export_runs``: an export estimated, confirmed, spooled and resumed.

Against the in-process sandbox. The command line, a real ``kill -9`` and the files
compared with an uninterrupted export's are in ``test_cli_export_resume.py``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading

import httpx
import pytest

from bulksync.client import NextStepClient
from bulksync.errors import SheetError, TransportError
from bulksync.exporter import ExportRequest, export_runs, spool_dir
from bulksync.model import Run, Task
from bulksync.sandbox import IN_PROCESS_BASE_URL, SandboxStats, sandbox_client
from bulksync.sandbox.transport import SandboxTransport
from bulksync.sheets import Layout, read_sheet, write_export
from bulksync.snapshot import FieldKey, Snapshot
from bulksync.spool import Spool

TEMPLATE = "tpl_onboarding"
ACTIVE_IN_SEED = 12


def add_runs(sandbox, count: int) -> None:
    """Start ``count`` runs of the template, each with a few values; the sandbox's
    counters then start afresh, to count only what an export sends."""
    with sandbox_client(sandbox) as client:
        for n in range(count):
            client.create_run(
                TEMPLATE,
                f"Generated {n:03d}",
                custom_elements=[
                    {"task_id": "tt_onb_details", "element_id": "el_onb_name", "value": f"P {n}"},
                    {"task_id": "tt_onb_details", "element_id": "el_onb_empno", "value": f"0{n}"},
                    {"task_id": "tt_onb_dept", "element_id": "el_onb_band", "value": n % 7},
                ],
            )
    sandbox.stats = SandboxStats()


def tasks_read(sandbox) -> int:
    return sandbox.stats.sent_to("GET", "run_tasks")


class Interrupt(Exception):
    """Stands for Ctrl-C (a KeyboardInterrupt would stop pytest itself)."""


def stop_after(count: int):
    def progress(done: int, total: int) -> None:
        if done >= count and done < total:
            raise Interrupt

    return progress


def test_the_estimate_comes_before_any_task_list_and_counts_every_request(make_sandbox, tmp_path):
    sandbox = make_sandbox(rate_limit=100_000)
    add_runs(sandbox, 110)  # 122 active runs: two pages of runs
    seen = []

    def confirm(estimate) -> bool:
        seen.append((estimate, tasks_read(sandbox), sandbox.stats.total()))
        return True

    request = ExportRequest(tmp_path / "onb.xlsx", template_id=TEMPLATE)
    with sandbox_client(sandbox) as client:
        outcome = export_runs(client, request, confirm=confirm)
    [(estimate, read_then, sent_then)] = seen
    assert read_then == 0  # no task list was read before it was asked
    assert estimate.runs == ACTIVE_IN_SEED + 110
    assert estimate.sent == sent_then == 3  # two pages of runs, the template's tasks
    assert estimate.requests == sandbox.stats.total() == 3 + estimate.runs
    assert tasks_read(sandbox) == estimate.runs
    assert outcome.result is not None and outcome.result.runs == estimate.runs
    assert not (tmp_path / ".bulksync").exists()  # written: the spool is gone, no folder left


def test_the_estimate_is_the_time_at_the_clients_rate_limit_and_no_stops_everything(
    make_sandbox, tmp_path
):
    sandbox = make_sandbox(rate_limit=100_000)
    add_runs(sandbox, 110)
    asked = []
    request = ExportRequest(tmp_path / "onb.xlsx", template_id=TEMPLATE)
    with sandbox_client(sandbox, rate_limit=100, window=60.0) as client:
        outcome = export_runs(client, request, confirm=lambda e: asked.append(e) or False)
    [estimate] = asked
    assert estimate.requests == 125 and estimate.seconds == 60.0  # 125 at 100 a minute
    assert outcome.result is None
    assert tasks_read(sandbox) == 0
    assert not (tmp_path / "onb.xlsx").exists()
    assert not (tmp_path / ".bulksync").exists()  # not even the listing is kept


def interrupted(sandbox, request, after: int = 5) -> Spool:
    """An export of ``request`` stopped after ``after`` runs were read; its spool."""
    with sandbox_client(sandbox) as client, pytest.raises(Interrupt):
        export_runs(client, request, progress=stop_after(after))
    return Spool.open(spool_dir(request.output))


def test_resumed_it_reads_only_the_runs_not_kept_with_the_first_listing_and_values(
    make_sandbox, tmp_path
):
    sandbox = make_sandbox(rate_limit=100_000)
    add_runs(sandbox, 20)
    request = ExportRequest(tmp_path / "onb.xlsx", template_id=TEMPLATE)
    spool = interrupted(sandbox, request)
    kept = dict(spool.read_at)
    spool.close()
    assert len(kept) >= 5
    first_read = tasks_read(sandbox)
    listed = sandbox.stats.sent_to("GET", "runs")
    # Since then: a kept run's value changed in NextStep, and a run was started.
    changed = next(iter(kept))
    with sandbox_client(sandbox) as client:
        details = next(
            t for t in client.run_tasks(changed) if t.template_task_id == "tt_onb_details"
        )
        before = details.element("el_onb_name").value
        client.patch_task(changed, details.id, elements={"el_onb_name": "Changed since"})
        client.create_run(TEMPLATE, "Started since")
    sandbox.stats = SandboxStats()
    with sandbox_client(sandbox) as client:
        outcome = export_runs(client, request, resume=True)
    assert sandbox.stats.sent_to("GET", "runs") == 0  # the first attempt's listing
    assert tasks_read(sandbox) == ACTIVE_IN_SEED + 20 - len(kept)
    assert first_read >= len(kept) and listed == 1
    assert outcome.estimate.spooled == len(kept) and outcome.estimate.sent == 0
    sheet = read_sheet(request.output)
    assert sheet.meta.runs == ACTIVE_IN_SEED + 20  # not the run started since
    run = sheet.base.run(changed)
    assert run is not None and run.read_at == kept[changed]  # as it was read then
    name = FieldKey(changed, details.id, "el_onb_name")
    assert sheet.base[name].value == before != "Changed since"
    assert spool.folder.exists() is False


def test_resume_refuses_other_options_another_host_or_nothing_to_resume(make_sandbox, tmp_path):
    sandbox = make_sandbox(rate_limit=100_000)
    request = ExportRequest(tmp_path / "onb.xlsx", template_id=TEMPLATE)
    interrupted(sandbox, request, after=2).close()
    sandbox.stats = SandboxStats()
    others = [
        ExportRequest(request.output, template_id=TEMPLATE, status=None),
        ExportRequest(request.output, template_id=TEMPLATE, layout=Layout.TASKS),
        ExportRequest(request.output, template_id=TEMPLATE, assignees=True),
        ExportRequest(request.output, template_id=TEMPLATE, protect=True),
    ]
    with sandbox_client(sandbox) as client:
        for other in others:
            with pytest.raises(SheetError, match="other options"):
                export_runs(client, other, resume=True)
        with pytest.raises(SheetError, match="no interrupted export"):
            export_runs(
                client, ExportRequest(tmp_path / "else.xlsx", template_id=TEMPLATE), resume=True
            )
    elsewhere = sandbox_client(sandbox, base_url="http://other.invalid/api/v1")
    with elsewhere, pytest.raises(SheetError, match=r"other\.invalid"):
        export_runs(elsewhere, request, resume=True)
    assert sandbox.stats.total() == 0  # refused before sending anything
    # The same options, spelled otherwise (the layout and assignees a template defaults to)
    with sandbox_client(sandbox) as client:
        same = ExportRequest(
            request.output, template_id=TEMPLATE, layout=Layout.RUNS, assignees=False
        )
        assert export_runs(client, same, resume=True).result is not None


def test_a_new_export_replaces_an_interrupted_ones_spool_only_once_it_goes_on(
    make_sandbox, tmp_path
):
    sandbox = make_sandbox(rate_limit=100_000)
    request = ExportRequest(tmp_path / "onb.xlsx", template_id=TEMPLATE)
    kept = len(interrupted(sandbox, request, after=3))
    with sandbox_client(sandbox) as client:
        declined = export_runs(client, request, confirm=lambda e: False)
    assert declined.estimate.replaces
    assert len(Spool.open(spool_dir(request.output))) == kept  # still there to resume
    sandbox.stats = SandboxStats()
    with sandbox_client(sandbox) as client:
        outcome = export_runs(client, request)
    assert outcome.estimate.replaces and outcome.estimate.spooled == 0
    assert tasks_read(sandbox) == ACTIVE_IN_SEED  # every run read again
    assert not spool_dir(request.output).exists()


class NetworkLost(httpx.BaseTransport):
    """The sandbox, until ``after`` task lists were answered: then no connection at all."""

    def __init__(self, sandbox, after: int) -> None:
        self.inner = SandboxTransport(sandbox)
        self.left = after

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tasks") and "runs" in request.url.path:
            if self.left <= 0:
                raise httpx.ConnectError("Network is unreachable", request=request)
            self.left -= 1
        return self.inner.handle_request(request)


def test_a_network_lost_beyond_retries_keeps_the_runs_read_for_resume(make_sandbox, tmp_path):
    sandbox = make_sandbox(rate_limit=100_000)
    request = ExportRequest(tmp_path / "onb.csv", template_id=TEMPLATE)
    flaky = NextStepClient(
        sandbox.config.api_key,
        IN_PROCESS_BASE_URL,
        transport=NetworkLost(sandbox, after=4),
        allow_insecure_http=True,
        max_in_flight=1,
        sleep=lambda seconds: None,
    )
    with flaky, pytest.raises(TransportError, match="--resume") as lost:
        export_runs(flaky, request)
    assert "runs read so far are kept" in str(lost.value)
    assert len(Spool.open(spool_dir(request.output))) == 4
    sandbox.stats = SandboxStats()
    with sandbox_client(sandbox) as client:
        outcome = export_runs(client, request, resume=True)
    assert tasks_read(sandbox) == ACTIVE_IN_SEED - 4
    assert outcome.result is not None and read_sheet(request.output).meta.runs == ACTIVE_IN_SEED


def test_each_runs_base_says_when_it_was_read_and_an_older_sheet_reads_without(client, tmp_path):
    seconds, lock = itertools.count(), threading.Lock()

    def now() -> dt.datetime:  # a second later at each call (the runs are read in threads)
        with lock:
            return dt.datetime(2026, 11, 28, 9, 0, next(seconds), tzinfo=dt.UTC)

    request = ExportRequest(tmp_path / "onb.xlsx", template_id=TEMPLATE)
    export_runs(client, request, now=now)
    sheet = read_sheet(request.output)
    assert sheet.meta.exported_at == "2026-11-28T09:00:00+00:00"  # when it began: the listing
    stamps = {sheet.base.run(r).read_at for r in sheet.base.run_ids()}
    assert len(stamps) == ACTIVE_IN_SEED and all(s > sheet.meta.exported_at for s in stamps)
    # An export of a snapshot that knows no read times (as every export before issue 13)
    run = Run("run_x", TEMPLATE, "X", "active", None, None, None, None, False, (), None, None, None)
    task = Task(
        "t", "run_x", None, "T", False, None, None, 0, None, None, False, False, "task", None, ()
    )
    write_export(
        Snapshot("h.test", "2026-01-01T00:00:00+00:00", (run,), {"run_x": (task,)}),
        tmp_path / "old.csv",
    )
    document = json.loads((tmp_path / "old.csv.base.json").read_text(encoding="utf-8"))
    assert "read_at" not in document["runs"]["run_x"]
    old = read_sheet(tmp_path / "old.csv")
    assert old.base.run("run_x").read_at == "" and len(old.base) == 2

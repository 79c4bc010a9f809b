"""Apply wall time against the floor the rate limit allows, on the sandbox.

    python benchmarks/bench_apply.py [--runs 40] [--limit 20] [--window 10] [--latency-ms 50]

Starts ``--runs`` runs in a fresh sandbox whose rate limit is LIMIT requests per WINDOW
seconds (the client keeps to the same limit), exports them, edits one value per run,
and measures the import: the live read (one GET per run with edits), each run read
again right before its PATCHes when the plan's read is older than ``MAX_READ_AGE``, and
the PATCHes (one per task with changes). Prints the wall time against the least time the
limit allows for that many requests, the 429s the server sent, the request count against
what is needed, and the window in which another person's edit could still be overwritten:
the age of a run's read when each of its PATCHes went out (from the journal). Targets
(issue 5): ≤ 1.05× the floor, zero 429s, no request more than needed.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_import import with_data_sheet_of

from bulksync.apply import apply_plan
from bulksync.diff import plan_import
from bulksync.fetch import LiveState, fetch_snapshot
from bulksync.plans import Result
from bulksync.rundir import JOURNAL, new_run_dir, read_journal
from bulksync.sandbox import SandboxConfig, open_sandbox, sandbox_client
from bulksync.sheets import Layout, read_sheet, write_export
from bulksync.snapshot import Snapshot


def with_new_phones(snapshot: Snapshot) -> Snapshot:
    tasks = {}
    for n, (run_id, run_tasks) in enumerate(snapshot.tasks.items()):
        changed = []
        for task in run_tasks:
            elements = tuple(
                dataclasses.replace(e, value=f"+1 555 {n:04d}") if e.id == "el_onb_phone" else e
                for e in task.elements
            )
            changed.append(dataclasses.replace(task, elements=elements))
        tasks[run_id] = tuple(changed)
    return dataclasses.replace(snapshot, tasks=tasks)


def windows(run_dir: Path) -> list[float]:
    """Per PATCH, the age of its run's read when NextStep's answer came: the read's age
    when the intent was journalled, plus the time from the intent to the answer."""
    intents: dict[tuple[str, str], dict[str, Any]] = {}
    ages = []
    for event in read_journal(run_dir / JOURNAL):
        key = (event.get("run_id", ""), event.get("task_id", ""))
        if event["event"] == "intent" and "read_age" in event:
            intents[key] = event
        elif event["event"] == "applied" and key in intents:
            intent = intents.pop(key)
            sent = dt.datetime.fromisoformat(intent["at"])
            answered = dt.datetime.fromisoformat(event["at"])
            ages.append(intent["read_age"] + (answered - sent).total_seconds())
    return ages


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    config = SandboxConfig(rate_limit=args.limit, window=args.window, latency_ms=args.latency_ms)
    sandbox = open_sandbox(work / "sandbox.db", config=config)
    with sandbox_client(sandbox) as client:
        for n in range(args.runs):
            client.create_run("tpl_onboarding", f"Bench {n}")
        snapshot = fetch_snapshot(
            client, template_id="tpl_onboarding", status="active", with_template=True
        )
    original, other, sheet = work / "a.xlsx", work / "b.xlsx", work / "edited.xlsx"
    write_export(snapshot, original, layout=Layout.RUNS)
    write_export(with_new_phones(snapshot), other, layout=Layout.RUNS)
    with_data_sheet_of(original, other, sheet)
    print(
        f"{len(snapshot.runs)} runs; limit {args.limit} per {args.window:g}s; "
        f"latency {args.latency_ms:g} ms; waiting out the setup's window…"
    )
    time.sleep(args.window + 1)

    with sandbox_client(sandbox) as client:
        before_429 = sandbox.stats.count("GET", 429) + sandbox.stats.count("PATCH", 429)
        before = sandbox.stats.total()

        live = LiveState(client)
        start = time.perf_counter()
        plan = plan_import(read_sheet(sheet, only_edited=True), live.read, host=client.host)
        planned_reads = live.reads
        run_dir = new_run_dir(sheet)
        report = apply_plan(plan, client, run_dir, live=live)
        wall = time.perf_counter() - start
        floor = client.limiter.floor_seconds(sandbox.stats.total() - before)
    ages = windows(run_dir)
    sent = sandbox.stats.total() - before
    refused = sandbox.stats.count("GET", 429) + sandbox.stats.count("PATCH", 429) - before_429
    rereads = live.reads - planned_reads
    needed = plan.runs_read + rereads + len(plan.patches)
    print(
        f"apply  {wall:6.2f}s  floor {floor:6.2f}s  ratio {wall / floor if floor else 0:4.2f}×  "
        f"(target ≤ 1.05×)"
    )
    print(
        f"requests {sent} = {plan.runs_read} run reads + {rereads} read again before "
        f"writing + {len(plan.patches)} PATCHes (needed {needed}); 429s {refused} (target 0); "
        f"applied {report.count(Result.APPLIED)} values"
    )
    if ages:
        print(
            f"window (age of a run's read when NextStep answered its PATCH): median "
            f"{statistics.median(ages):.2f}s, max {max(ages):.2f}s"
        )


if __name__ == "__main__":
    main()

"""Apply wall time against the floor the rate limit allows, on the sandbox.

    python benchmarks/bench_apply.py [--runs 40] [--limit 20] [--window 10] [--latency-ms 50]

Starts ``--runs`` runs in a fresh sandbox whose rate limit is LIMIT requests per WINDOW
seconds (the client keeps to the same limit), exports them, edits one value per run,
and measures the import: the live read (one GET per run with edits) and the PATCHes
(one per task with changes). Prints the wall time against the least time the limit
allows for that many requests, the 429s the server sent, and the request count
against (runs with edits) + (tasks with changes). Targets (issue 5): ≤ 1.05× the
floor, zero 429s, no request more than needed.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_import import with_data_sheet_of

from bulksync.apply import Result, apply_plan
from bulksync.errors import NotFoundError
from bulksync.importing import plan_import
from bulksync.model import Task
from bulksync.rundir import new_run_dir
from bulksync.sandbox import SandboxConfig, open_sandbox, sandbox_client
from bulksync.sheets import Layout, read_sheet, write_export
from bulksync.snapshot import Snapshot, fetch_snapshot


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

        def read_live(run_ids: Sequence[str]) -> dict[str, list[Task] | None]:
            def one(run_id: str) -> list[Task] | None:
                try:
                    return client.run_tasks(run_id)
                except NotFoundError:
                    return None

            return dict(zip(run_ids, client.map(one, list(run_ids)), strict=True))

        start = time.perf_counter()
        plan = plan_import(read_sheet(sheet, only_edited=True), read_live, host=client.host)
        report = apply_plan(plan, client, new_run_dir(sheet))
        wall = time.perf_counter() - start
        floor = client.limiter.floor_seconds(sandbox.stats.total() - before)
    sent = sandbox.stats.total() - before
    refused = sandbox.stats.count("GET", 429) + sandbox.stats.count("PATCH", 429) - before_429
    needed = plan.runs_read + len(plan.patches)
    print(
        f"apply  {wall:6.2f}s  floor {floor:6.2f}s  ratio {wall / floor if floor else 0:4.2f}×  "
        f"(target ≤ 1.05×)"
    )
    print(
        f"requests {sent} = {plan.runs_read} run reads + {len(plan.patches)} PATCHes "
        f"(needed {needed}); 429s {refused} (target 0); "
        f"applied {report.count(Result.APPLIED)} values"
    )


if __name__ == "__main__":
    main()

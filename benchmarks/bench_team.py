"""A generated team measured end to end, side by side in one run (issue 13).

    python benchmarks/bench_team.py --runs 1000            # medians of 3; BENCHMARKS.md
    python benchmarks/bench_team.py --quick                # CI: 30 runs, request ratios only

Generates ``--runs`` runs of a sample template (``team.py``: varied values, the same for
the same ``--seed``) in a sandbox state file, serves it on 127.0.0.1 (a port of its own;
nothing leaves the machine) and measures:

1. **Requests per job against the least that job can send**, counted by the sandbox:
   exports (both layouts, xlsx and CSV), dry runs of an unedited sheet and of sheets with
   1% and 10% of their values edited, and the apply of the 1% edit. Jobs run as the
   ``bulksync`` command, one process each, with the rate limit lifted.
2. **Wall time at NextStep's rate limit**: computed from those requests (100 a minute),
   and measured with a short window (a sandbox allowing ``--paced-limit`` requests per
   ``--paced-window`` seconds, and bulksync's client kept to the same) to show that
   bulksync keeps to the computed floor, with no 429.
3. **Local time and peak memory against the raw libraries**: export writing vs
   xlsxwriter writing the same cells (data, its hidden copy, the base snapshot's cells),
   and the csv and json modules writing the same CSV and sidecar content; dry
   run (read, validate, diff; live state in memory) vs python-calamine and the csv module
   reading the same files; 0%, 1% and 10% edited; both layouts, xlsx and CSV. Peak RSS
   of each export and dry run process of part 1.
4. **The same 1% edit by a naive script** (``naive_import.py``, the strawman: pandas +
   openpyxl + httpx): its requests, the changes it plans on an *unedited* sheet, and the
   values it writes over when another person edited them in NextStep after the export,
   against bulksync on the same sheet and the same live edits.

Prints Markdown tables (stdout) and, with ``--json FILE``, every figure; exits 1 if a
job sent more requests than the least it needs or bulksync wrote over someone's edit.
``--quick`` (CI, ``tests/test_benchmarks.py``) is a team of 30 runs, one repeat and no
local timings: it checks counts, never timings.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import dataclasses
import gc
import json
import math
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).parent))

from bench_import import calamine_read, with_data_sheet_of
from bench_sheets import _raw_xlsxwriter, base_rows
from team import Edit, edit_live, edit_snapshot, editable, lost
from team_report import machine, print_report, to_json
from team_serve import Job, Process, Team, edited_counts, floor, measured, pages

from bulksync.apply import apply_plan
from bulksync.diff import plan_import
from bulksync.fetch import LiveState, fetch_snapshot
from bulksync.model import Task
from bulksync.perf import cycle_collector_paused
from bulksync.rundir import new_run_dir
from bulksync.sandbox import SANDBOX_API_KEY, SandboxConfig
from bulksync.sheets import Layout, read_sheet, write_export
from bulksync.sheets.csvfile import sidecar
from bulksync.sheets.layout import Cell, Grid, build_grid
from bulksync.snapshot import Snapshot

HERE = Path(__file__).resolve().parent
SHARES = (0.0, 0.01, 0.10)
LAYOUTS = (Layout.RUNS, Layout.TASKS)
FORMATS = ("xlsx", "csv")


# -- part 1: requests, as processes --------------------------------------------------------


@dataclass
class Files:
    """The exports and their edited copies, by (layout, format, share)."""

    paths: dict[tuple[Layout, str, float], Path] = field(default_factory=dict)
    edits: dict[float, list[Edit]] = field(default_factory=dict)
    snapshot: Snapshot | None = None


def export_jobs(team: Team, repeat: int, files: Files) -> list[Job]:
    jobs = []
    for layout in LAYOUTS:
        minimum = pages(team.runs) + team.runs * pages(team.tasks_per_run)
        minimum += 1 if layout is Layout.RUNS else 0  # the template's tasks, for the columns
        for fmt in FORMATS:
            path = team.work / "exports" / f"{layout.value}.{fmt}"
            args = ["export", "--template", team.template_id, "--layout", layout.value]
            runs = [team.run([*args, "-o", str(path)], path.parent).ok() for _ in range(repeat)]
            files.paths[(layout, fmt, 0.0)] = path
            jobs.append(measured(f"export, {layout.value} layout, {fmt}", minimum, runs))
    return jobs


def make_edited_files(team: Team, files: Files, seed: int) -> None:
    """The 1% and 10% edits, as a person's edit of each export would leave the file."""
    with team.client() as client:
        files.snapshot = fetch_snapshot(
            client, template_id=team.template_id, status="active", with_template=True
        )
    scratch = team.work / "scratch"
    scratch.mkdir(exist_ok=True)
    for share in SHARES[1:]:
        edited, files.edits[share] = edit_snapshot(files.snapshot, share, seed_value=seed)
        for layout in LAYOUTS:
            for fmt in FORMATS:
                original = files.paths[(layout, fmt, 0.0)]
                other = scratch / f"{layout.value}.{fmt}"
                write_export(edited, other, layout=layout)
                out = team.work / "edited" / f"{layout.value}_{share:.0%}.{fmt}"
                out.parent.mkdir(exist_ok=True)
                if fmt == "xlsx":
                    with_data_sheet_of(original, other, out)
                else:
                    with_rows_of(original, other, out)
                files.paths[(layout, fmt, share)] = out


def with_rows_of(original: Path, other: Path, out: Path) -> None:
    """The CSV ``original`` (header, tie cell, base file) with ``other``'s rows."""
    header = original.read_bytes().split(b"\r\n", 1)[0]
    rows = other.read_bytes().split(b"\r\n", 1)[1]
    out.write_bytes(header + b"\r\n" + rows)
    shutil.copy(sidecar(original), sidecar(out))


def dry_run_jobs(team: Team, repeat: int, files: Files) -> list[Job]:
    jobs = []
    for layout in LAYOUTS:
        for fmt in FORMATS:
            for share in SHARES:
                path = files.paths[(layout, fmt, share)]
                edits = files.edits.get(share, [])
                runs_edited, tasks_edited = edited_counts(edits)
                args = ["import", str(path), "--dry-run", "--json"]
                runs = [team.run(args, path.parent).ok() for _ in range(repeat)]
                summary = json.loads(runs[0].out)["summary"]
                jobs.append(
                    measured(
                        f"dry run, {layout.value} layout, {fmt}, {share:.0%} edited",
                        runs_edited,
                        runs,
                        edits=len(edits),
                        changes=summary["changes"],
                        patches_planned=summary["requests"],
                        patches_needed=tasks_edited,
                        errors=summary["errors"],
                        conflicts=summary["conflicts"],
                    )
                )
    return jobs


def apply_job(team: Team, repeat: int, files: Files) -> Job:
    """The 1% edit of the runs-layout xlsx applied, on a fresh copy of the team each time."""
    edits = files.edits[0.01]
    runs_edited, tasks_edited = edited_counts(edits)
    runs, applied = [], []
    for number in range(repeat):
        team.use(f"apply{number}")
        where = team.work / f"apply{number}"
        where.mkdir(exist_ok=True)
        sheet = where / "runs_1%.xlsx"
        shutil.copy(files.paths[(Layout.RUNS, "xlsx", 0.01)], sheet)
        runs.append(team.run(["import", str(sheet), "--yes"], where).ok())
        with team.client() as client:
            applied.append(len(edits) - lost(client, edits))
    team.use("main")
    return measured(
        "apply, runs layout, xlsx, 1% edited",
        runs_edited + tasks_edited,
        runs,
        reads_needed=runs_edited,
        patches_needed=tasks_edited,
        values_applied=min(applied),
        values_edited=len(edits),
    )


# -- part 2: at the rate limit ---------------------------------------------------------------


def paced(team: Team, files: Files, limit: int, window: float, seed: int) -> dict[str, Any]:
    """Export and apply the 1% edit against a sandbox that allows ``limit`` requests per
    ``window`` seconds, with bulksync's client kept to the same limit. The export's wall
    time is its reading (the file's writing, local work, is given apart); the apply's is
    the whole import: plan, then apply."""
    team.use("paced", SandboxConfig(rate_limit=limit, window=window))
    where = team.work / "paced"
    where.mkdir(exist_ok=True)
    found: dict[str, Any] = {"limit": limit, "window": window}
    with team.client(limit=limit, window=window) as client:
        before, started = team.requests(), time.perf_counter()
        snapshot = fetch_snapshot(
            client, template_id=team.template_id, status="active", with_template=True
        )
        found["export"] = _paced_result(team, before, started, limit, window)
        started = time.perf_counter()
        write_export(snapshot, where / "runs.xlsx", layout=Layout.RUNS)
        found["export"]["write"] = time.perf_counter() - started

        edited, edits = edit_snapshot(snapshot, 0.01, seed_value=seed)
        write_export(edited, where / "other.xlsx", layout=Layout.RUNS)
        with_data_sheet_of(where / "runs.xlsx", where / "other.xlsx", where / "runs_1%.xlsx")
        time.sleep(window + 0.5)  # the export's requests leave the server's window
    with team.client(limit=limit, window=window) as client:
        before, started = team.requests(), time.perf_counter()
        live = LiveState(client)
        sheet = read_sheet(where / "runs_1%.xlsx", only_edited=True)
        plan = plan_import(sheet, live.read, host=client.host)
        result = apply_plan(plan, client, new_run_dir(where / "runs_1%.xlsx"), live=live)
        found["apply"] = _paced_result(team, before, started, limit, window)
        found["apply"]["failed"] = result.failed
        found["apply"]["reads_needed"], found["apply"]["patches_needed"] = edited_counts(edits)
    team.use("main")
    return found


def _paced_result(
    team: Team, before: Counter[str], started: float, limit: int, window: float
) -> dict[str, Any]:
    wall = time.perf_counter() - started
    sent = team.requests()
    sent.subtract(before)
    total = sum(n for k, n in sent.items() if k != "429")
    return {
        "requests": total,
        "by_method": {k: n for k, n in sent.items() if n},
        "429s": sent["429"],
        "wall": wall,
        "floor": floor(total, limit, window),
    }


# -- part 3: local cost against the raw libraries, in process ------------------------------


def medians(
    ours: Callable[[], object], theirs: Callable[[], object], repeat: int
) -> tuple[float, float]:
    """The median times of two functions run in turn (A B A B …), so that a machine
    slowed by someone else's work slows both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for func, taken in zip((ours, theirs), times, strict=True):
            started = time.perf_counter()
            func()
            taken.append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def raw_xlsx_write(
    grid: Grid, rows: list[list[Cell]], path: Path, base: list[list[str]] | None = None
) -> None:
    """bench_sheets' raw xlsxwriter (the cells typed, to a data sheet and a copy of it with
    each row's key, in constant-memory mode; then ``base``, the cells of bulksync's
    metadata sheet with the base snapshot), given the rows and the base made already:
    bulksync's own work is not in it. Like each raw job here, with the cycle collector
    paused as bulksync pauses it: the fastest this library gets."""
    with cycle_collector_paused():
        _raw_xlsxwriter(dataclasses.replace(grid, rows=iter(rows)), path, base or ())


class CsvContent(NamedTuple):
    """What a CSV export holds, parsed: the cells of the CSV (text, as written) and the
    content of its sidecar (metadata, each run's base document, the shared specs, the row
    digests' lists): what a raw writer of the same file is given."""

    cells: list[list[str]]
    sidecar: dict[str, Any]


def csv_content(path: Path) -> CsvContent:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        cells = list(csv.reader(handle))
    return CsvContent(cells, json.loads(sidecar(path).read_text(encoding="utf-8")))


def raw_csv_write(
    grid: Grid, rows: list[list[Cell]], path: Path, base: CsvContent | None = None
) -> None:
    """The same file with the csv and json modules, given its content made already
    (``csv_content`` of bulksync's export): the csv module writing the same cells, as
    UTF-8 with a BOM (written as bulksync writes it: a BOM, then the "utf-8" codec, which
    is faster than "utf-8-sig"), and ``json.dumps`` the same sidecar content, encoded as bulksync
    encodes it (UTF-8 kept, no spaces). ``grid`` and ``rows`` (the xlsx writer's
    signature) are not used."""
    assert base is not None, "the raw CSV writer is given the export's content"
    with cycle_collector_paused():
        with path.open("w", encoding="utf-8", newline="") as handle:
            handle.write("\ufeff")  # what "utf-8-sig" writes, without its Python encoder
            csv.writer(handle).writerows(base.cells)
        with sidecar(path).open("w", encoding="utf-8") as handle:
            handle.write(json.dumps(base.sidecar, ensure_ascii=False, separators=(",", ":")))


def raw_csv_read(path: Path) -> None:
    """The CSV and its base file, parsed: what an import of it reads."""
    with cycle_collector_paused(), path.open(encoding="utf-8-sig", newline="") as handle:
        for _ in csv.reader(handle):
            pass
        json.loads(sidecar(path).read_text(encoding="utf-8"))


RAW_WRITERS = (("xlsx", raw_xlsx_write, "xlsxwriter"), ("csv", raw_csv_write, "csv"))


LOCAL_TARGET = 2.0
"""Issue 13: export writing and dry runs at most 2× the raw libraries."""


def local(
    files: Files, repeat: int, work: Path, host: str, *, profile: bool = False
) -> list[dict[str, Any]]:
    """bulksync's write and dry run against the raw libraries, in this process; with
    ``profile``, the hot spots of bulksync's side of each job over the target.

    What this process holds already (the team's snapshot, the rows for the raw writers)
    is hidden from the cycle collector (``gc.freeze``): a process of its own would not
    have it, and the collector walking it would slow whichever side it fell on."""
    assert files.snapshot is not None
    snapshot = files.snapshot
    live = {run.id: list(snapshot.tasks[run.id]) for run in snapshot.runs}
    out = work / "local"
    out.mkdir(exist_ok=True)
    with heap_frozen():
        found = _local(snapshot, live, files, repeat, out, host)
    for row in found:
        ours = row.pop("ours")
        if profile and row["ratio"] > LOCAL_TARGET:
            row["hot_spots"] = hot_spots(ours)
    return found


@contextmanager
def heap_frozen() -> Iterator[None]:
    """Objects alive now are left out of the cycle collector's walks until the end."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _local(
    snapshot: Snapshot,
    live: dict[str, list[Task]],
    files: Files,
    repeat: int,
    out: Path,
    host: str,
) -> list[dict[str, Any]]:
    found = []
    for layout in LAYOUTS:
        grid = build_grid(snapshot, layout)
        rows = list(grid.rows)
        gc.collect()
        gc.freeze()  # the rows too: neither side made them
        for fmt, raw, name in RAW_WRITERS:
            ours = partial(write_export, snapshot, out / f"w.{fmt}", layout=layout)
            # The raw writer writes the same base snapshot: the xlsx's metadata cells, or
            # the CSV's cells and its sidecar's content.
            ours()
            base = (base_rows if fmt == "xlsx" else csv_content)(out / f"w.{fmt}")
            gc.freeze()  # neither side made it
            theirs = partial(raw, grid, rows, out / f"raw.{fmt}", base)
            found.append(_compare("write", layout, fmt, 0.0, ours, theirs, name, repeat))
        for fmt in FORMATS:
            for share in SHARES:
                path = files.paths[(layout, fmt, share)]
                ours = partial(dry_run, path, live, host)
                theirs = partial(calamine_read if fmt == "xlsx" else raw_csv_read, path)
                name = "calamine" if fmt == "xlsx" else "csv"
                found.append(_compare("dry run", layout, fmt, share, ours, theirs, name, repeat))
    return found


def _compare(
    job: str,
    layout: Layout,
    fmt: str,
    share: float,
    ours: Callable[[], object],
    theirs: Callable[[], object],
    raw: str,
    repeat: int,
) -> dict[str, Any]:
    mine, raws = medians(ours, theirs, repeat)
    return {
        "job": job,
        "layout": layout.value,
        "format": fmt,
        "share": share,
        "bulksync": mine,
        "raw": raws,
        "raw_library": raw,
        "ratio": mine / raws if raws else math.inf,
        "ours": ours,
    }


def hot_spots(func: Callable[[], object], top: int = 5) -> dict[str, Any]:
    """Where ``func`` spends its time, by cProfile: bulksync's functions with the most
    time under them (leaving out entry points, with nearly all of it, and functions that
    pass most of theirs to one callee), and the functions with the most time of their own
    (anyone's)."""
    profiler = cProfile.Profile()
    profiler.runcall(func)
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    biggest_callee: dict[Any, float] = {}
    for _, (_, _, _, _, callers) in stats.stats.items():
        for caller, (_, _, _, under) in callers.items():
            biggest_callee[caller] = max(biggest_callee.get(caller, 0.0), under)
    rows = [
        {
            "function": f"{Path(key[0]).name}:{key[1]}({key[2]})",
            "module": key[0],
            "own": own / total,
            "under": under / total,
            "calls": calls,
            "passes_on": biggest_callee.get(key, 0.0) >= 0.8 * under if under else False,
        }
        for key, (_, calls, own, under, _) in stats.stats.items()
    ]
    ours = [
        r
        for r in rows
        if f"{os.sep}bulksync{os.sep}" in r["module"] and r["under"] < 0.9 and not r["passes_on"]
    ]
    return {
        "profiled_seconds": total,
        "under": sorted(ours, key=lambda r: r["under"], reverse=True)[:top],
        "own": sorted(rows, key=lambda r: r["own"], reverse=True)[:top],
    }


def dry_run(path: Path, live: dict[str, list[Task]], host: str) -> object:
    """What ``import --dry-run`` does between reading live state and reporting."""
    sheet = read_sheet(path, only_edited=True)
    return plan_import(sheet, lambda ids: {i: live[i] for i in ids}, host=host)


# -- part 4: the naive script ---------------------------------------------------------------


def naive(team: Team, repeat: int, files: Files, seed: int) -> dict[str, Any]:
    """The strawman and bulksync on the same tasks-layout sheets and the same live edits."""
    strawman = [sys.executable, str(HERE / "naive_import.py")]
    auth = ["--base-url", team.url, "--api-key", SANDBOX_API_KEY]
    unedited = files.paths[(Layout.TASKS, "xlsx", 0.0)]
    sheet = files.paths[(Layout.TASKS, "xlsx", 0.01)]
    edits = files.edits[0.01]
    assert files.snapshot is not None
    # Another person edits as many values in NextStep, none of those the sheet edits.
    _, others = edit_snapshot(
        files.snapshot,
        0.01,
        seed_value=seed + 1,
        avoid=frozenset((e.run_id, e.task_id, e.element_id) for e in edits),
    )
    found: dict[str, Any] = {"values": len(editable(files.snapshot)), "live_edits": len(others)}

    plans = [
        team.process([*strawman, str(unedited), *auth, "--plan-only"], unedited.parent).ok()
        for _ in range(repeat)
    ]
    found["naive_unedited"] = {**json.loads(plans[0].out), **_cost(plans)}

    for who in ("naive", "bulksync"):
        team.use(f"live_{who}")
        with team.client() as client:
            edit_live(client, others)
        where = team.work / f"live_{who}"
        copy = where / sheet.name
        where.mkdir(exist_ok=True)
        shutil.copy(sheet, copy)
        if who == "naive":
            done = team.process([*strawman, str(copy), *auth], where).ok()
            report = json.loads(done.out)
        else:
            done = team.run(["import", str(copy), "--yes"], where).ok()
            report = {}
        with team.client() as client:
            found[who] = {
                **report,
                "requests": dict(done.requests),
                "clobbered": lost(client, others),
                "edits_applied": len(edits) - lost(client, edits),
                "edits": len(edits),
                **_cost([done]),
            }
    team.use("main")
    return found


def _cost(runs: list[Process]) -> dict[str, float]:
    return {
        "wall": statistics.median(p.wall for p in runs),
        "rss_mib": statistics.median(p.rss_mib for p in runs),
    }


# -- checks and output ------------------------------------------------------------------------


def problems(results: dict[str, Any]) -> list[str]:
    """Every request count that is not the minimum, and any edit of someone's written over."""
    found = []
    for job in results["exports"] + results["dry_runs"]:
        for sent in job.extra["requests_each"]:
            if sum(sent.values()) != job.minimum:
                found.append(f"{job.name}: {sent} requests, the minimum is {job.minimum}")
    for job in results["dry_runs"]:
        x = job.extra
        planned = (x["changes"], x["patches_planned"], x["errors"], x["conflicts"])
        if planned != (x["edits"], x["patches_needed"], 0, 0):
            found.append(f"{job.name}: planned {x}")
    job = results["apply"]
    x = job.extra
    if job.requests.get("PATCH", 0) != x["patches_needed"]:
        found.append(f"{job.name}: {job.requests} PATCHes, needed {x['patches_needed']}")
    if not x["reads_needed"] <= job.requests.get("GET", 0) <= 2 * x["reads_needed"]:
        found.append(f"{job.name}: {job.requests} reads, needed {x['reads_needed']} (+ re-reads)")
    if x["values_applied"] != x["values_edited"]:
        found.append(f"{job.name}: {x['values_applied']} of {x['values_edited']} applied")
    if "paced" in results:
        for name, run in results["paced"].items():
            if isinstance(run, dict) and run["429s"]:
                found.append(f"paced {name}: {run['429s']} requests refused with 429")
    if "naive" in results:
        ours = results["naive"]["bulksync"]
        if ours["clobbered"] or ours["edits_applied"] != ours["edits"]:
            found.append(f"bulksync against live edits: {ours}")
    return found


# -- the command ---------------------------------------------------------------------------------


@contextmanager
def workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    path = Path(tempfile.mkdtemp(prefix="bench_team_"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def measure(args: argparse.Namespace, work: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """Every part the options ask for; the figures as a dict (jobs as ``Job``)."""
    skip = set(args.skip)
    results: dict[str, Any] = {
        "runs": args.runs,
        "template": args.template,
        "repeat": args.repeat,
        "machine": machine(),
    }
    say(f"generating {args.runs:,} runs of {args.template}…")
    with Team(work, args.runs, args.template, args.seed) as team:
        say(f"  {team.generated_in:.1f} s; served on {team.url}")
        files = Files()
        results["baseline_rss"] = team.process(
            [sys.executable, "-m", "bulksync", "--help"], work
        ).rss_mib
        say("exports…")
        results["exports"] = export_jobs(team, args.repeat, files)
        make_edited_files(team, files, args.seed)
        assert files.snapshot is not None
        results["values"] = len(editable(files.snapshot))
        say("dry runs…")
        results["dry_runs"] = dry_run_jobs(team, args.repeat, files)
        say("apply…")
        results["apply"] = apply_job(team, args.repeat, files)
        if "paced" not in skip:
            say(f"paced: {args.paced_limit} per {args.paced_window:g} s…")
            results["paced"] = paced(team, files, args.paced_limit, args.paced_window, args.seed)
        if "naive" not in skip:
            say("naive script…")
            results["naive"] = naive(team, args.repeat, files, args.seed)
        if "local" not in skip:
            say("local cost against the raw libraries…")
            results["local"] = local(
                files, args.repeat, work, host=files.snapshot.host, profile=args.profile
            )
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=200, help="runs in the team [200]")
    parser.add_argument("--repeat", type=int, default=3, help="repeats, medians quoted [3]")
    parser.add_argument("--seed", type=int, default=13, help="of the team and its edits [13]")
    parser.add_argument(
        "--template",
        default="tpl_onboarding",
        choices=["tpl_onboarding", "tpl_vendor", "tpl_implementation"],
        help="the sample template the runs are of [tpl_onboarding]",
    )
    parser.add_argument("--paced-limit", type=int, default=20, help="requests per window [20]")
    parser.add_argument("--paced-window", type=float, default=1.0, help="seconds [1]")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["paced", "naive", "local"],
        help="leave a part out (repeatable)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="CI: 30 runs, 1 repeat, no local timings"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile bulksync's side of each local job over 2× and print its hot spots",
    )
    parser.add_argument("--work", type=Path, help="keep the team and files in this folder")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.repeat = 30, 1
        args.skip.append("local")
    return args


def main(argv: list[str] | None = None) -> int:
    """Measure, print the tables; exit 1 if a job sent more than the least it needs or
    bulksync wrote over someone's edit."""
    args = parse_args(argv)

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with workdir(args.work) as work:
        results = measure(args, work, say)
    print_report(results, print)
    if args.json:
        args.json.write_text(json.dumps(to_json(results), indent=1) + "\n", encoding="utf-8")
    found = problems(results)
    for problem in found:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

"""Export writing against the raw xlsxwriter, in process, side by side (issue 13).

    python benchmarks/bench_write.py --runs 200 1000 5000 [--repeat 3] [--profile]

For each scale: generates the team (``team.py``, the same team as ``bench_team.py``),
reads its snapshot from the sandbox over loopback once, then times, in turn (A B A B …,
medians), bulksync's ``write_export`` of each layout to xlsx and the raw xlsxwriter
writing the same cells: the data sheet, its hidden mirror and the base snapshot's JSON
(the strings bulksync wrote, one run's document a row, as cells), typed, in
constant-memory mode, with no bulksync logic (the rows and the JSON made beforehand,
outside the timing). Medians of wall and of CPU time (the steadier on a shared
machine). ``--profile`` prints cProfile's top functions of bulksync's write.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import pickle
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_sheets import _raw_xlsxwriter, base_rows
from team_serve import Team

from bulksync.fetch import fetch_snapshot
from bulksync.perf import cycle_collector_paused
from bulksync.sheets import Layout, write_export
from bulksync.sheets.layout import Cell, Grid, build_grid
from bulksync.snapshot import Snapshot


def team_snapshot(work: Path, runs: int) -> Snapshot:
    """The generated team of ``runs`` runs, as an export reads it (kept in ``work`` as a
    pickle, for the next measurement at that scale)."""
    kept = work / f"snapshot_{runs}.pickle"
    if kept.exists():
        snapshot: Snapshot = pickle.loads(kept.read_bytes())
        return snapshot
    team_dir = Path(tempfile.mkdtemp(prefix=f"team_{runs}_", dir=work))
    with Team(team_dir, runs, "tpl_onboarding", 13) as team, team.client() as client:
        snapshot = fetch_snapshot(
            client, template_id=team.template_id, status="active", with_template=True
        )
    kept.write_bytes(pickle.dumps(snapshot))
    return snapshot


def raw_write(grid: Grid, rows: list[list[Cell]], base: list[list[str]], path: Path) -> None:
    """The raw xlsxwriter: data sheet and mirror (bench_sheets'), plus the base's cells."""
    with cycle_collector_paused():
        _raw_xlsxwriter(dataclasses.replace(grid, rows=iter(rows)), path, base)


def medians(
    ours: Callable[[], object], theirs: Callable[[], object], repeat: int
) -> dict[str, tuple[float, float]]:
    """Median wall and CPU times of the two, run in turn (A B A B …). CPU time is the
    steadier on a machine shared with other work: waiting for a core is not in it."""
    wall: tuple[list[float], list[float]] = ([], [])
    cpu: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for func, walls, cpus in zip((ours, theirs), wall, cpu, strict=True):
            started, used = time.perf_counter(), time.process_time()
            func()
            walls.append(time.perf_counter() - started)
            cpus.append(time.process_time() - used)
    return {
        name: (statistics.median(taken[0]), statistics.median(taken[1]))
        for name, taken in (("wall", wall), ("cpu", cpu))
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--layout", choices=["runs", "tasks"], nargs="+", default=["runs", "tasks"])
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--work", type=Path, help="keep the teams' snapshots here")
    args = parser.parse_args()
    for runs in args.runs:
        work = Path(tempfile.mkdtemp(prefix=f"bench_write_{runs}_"))
        snapshot = team_snapshot(args.work or work, runs)
        for name in args.layout:
            layout = Layout(name)
            ours_path = work / f"ours_{name}.xlsx"
            write_export(snapshot, ours_path, layout=layout)
            grid = build_grid(snapshot, layout)
            rows = list(grid.rows)
            base = base_rows(ours_path)
            gc.collect()
            gc.freeze()  # what both sides are given is not the cycle collector's to walk
            ours = partial(write_export, snapshot, ours_path, layout=layout)
            theirs = partial(raw_write, grid, rows, base, work / "raw.xlsx")
            for clock, (mine, raw) in medians(ours, theirs, args.repeat).items():
                print(
                    f"{runs:>6} runs  {name:5} xlsx  {clock:4}  bulksync {mine:7.3f}s  "
                    f"raw {raw:7.3f}s  ratio {mine / raw:5.2f}×",
                    flush=True,
                )
            if args.profile:
                profiler = cProfile.Profile()
                profiler.runcall(ours)
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
                pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
            gc.unfreeze()


if __name__ == "__main__":
    main()

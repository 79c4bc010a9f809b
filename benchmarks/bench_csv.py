"""CSV only: bulksync's dry run and export write against the csv module, side by side.

    python benchmarks/bench_csv.py [--runs 200 1000 5000] [--repeat 5] [--profile]

A focused part of ``bench_team.py``'s local comparison (issue 13: a CSV dry run at most
2× the csv module reading the same file, the export write at most 2× the csv module
writing the same cells), with the same functions, in one process: for each ``--runs`` a
team is generated (``team.py``) and served on 127.0.0.1, read once, and written as CSV in
both layouts; the 1% and 10% edits are made as ``bench_team.make_edited_files`` makes
them (the export's header and sidecar, the rows of an export of the edited values).
Then, A B A B, medians of ``--repeat``:

- dry run: ``read_sheet(only_edited=True)`` and ``plan_import`` with live state in memory
  (``bench_team.dry_run``) against the csv module parsing the file and ``json`` its
  sidecar (``bench_team.raw_csv_read``: what "reading the same file" counts);
- write: ``write_export`` of the snapshot against the csv module writing the same cells
  and ``json`` the same sidecar content (``bench_team.raw_csv_write``, given the export's
  cells and its sidecar parsed: the same documents, of the same shape); and, as line
  ``write (old)``, against the baseline before wt-csvw, the csv module writing the
  grid's cell values twice (``raw_csv_twice``), which wrote no sidecar.

Each line gives wall-clock medians (as ``bench_team`` does) and the ratio of CPU-time
medians (``time.process_time``): on a machine shared with other work, a process waiting
for a CPU counts in wall time on whichever side it falls, not in CPU time.
``--profile`` prints cProfile's top functions of bulksync's side of each job over 2×.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import pstats
import sys
import tempfile
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_sheets import medians
from bench_team import (
    LOCAL_TARGET,
    csv_content,
    dry_run,
    heap_frozen,
    raw_csv_read,
    raw_csv_write,
    with_rows_of,
)
from team import edit_snapshot
from team_serve import Team

from bulksync.fetch import fetch_snapshot
from bulksync.perf import cycle_collector_paused
from bulksync.sheets import Layout, write_export
from bulksync.sheets.layout import Cell, Grid, build_grid

SHARES = (0.0, 0.01, 0.10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--layouts", nargs="+", default=["runs", "tasks"])
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-csv-"))
    print("| runs | job | layout | edited | bulksync | csv | ratio (wall) | ratio (CPU) |")
    print("|---:|---|---|---:|---:|---:|---:|---:|")
    for runs in args.runs:
        team_dir = work / str(runs)
        team_dir.mkdir()
        with Team(team_dir, runs, "tpl_onboarding", args.seed) as team, team.client() as client:
            snapshot = fetch_snapshot(
                client, template_id=team.template_id, status="active", with_template=True
            )
        live = {run.id: list(snapshot.tasks[run.id]) for run in snapshot.runs}
        for name in args.layouts:
            layout = Layout(name)
            files = {0.0: team_dir / f"{name}.csv"}
            write_export(snapshot, files[0.0], layout=layout)
            for share in SHARES[1:]:
                edited, _ = edit_snapshot(snapshot, share, seed_value=args.seed)
                other = team_dir / f"other-{name}.csv"
                write_export(edited, other, layout=layout)
                files[share] = team_dir / f"{name}_{share:.0%}.csv"
                with_rows_of(files[0.0], other, files[share])
            content = csv_content(files[0.0])
            write = partial(write_export, snapshot, team_dir / "w.csv", layout=layout)
            raw = partial(raw_csv_write, build_grid(snapshot, layout), [], team_dir / "raw.csv")
            jobs = [("write", 0.0, write, partial(raw, content))]
            jobs += [
                (
                    "dry run",
                    share,
                    partial(dry_run, path, live, snapshot.host),
                    partial(raw_csv_read, path),
                )
                for share, path in files.items()
            ]
            with heap_frozen():
                for job in jobs:
                    measure(runs, name, *job, args)
            # The old baseline writes the grid's cells, made and held only for it: holding
            # them (43,000 rows of Cells in the tasks layout) slows the side that makes the
            # most objects, bulksync's, which a process of its own would not have.
            grid = build_grid(snapshot, layout)
            rows = list(grid.rows)
            with heap_frozen():
                old = partial(raw_csv_twice, grid, rows, team_dir)
                measure(runs, name, "write (old)", 0.0, write, old, args)
            del grid, rows


def measure(
    runs: int,
    layout: str,
    job: str,
    share: float,
    ours: partial[object],
    theirs: partial[object],
    args: argparse.Namespace,
) -> None:
    """One line of the table: bulksync's job against the raw one's, A B A B."""
    (mine, raw), (mine_cpu, raw_cpu) = medians(ours, theirs, args.repeat)
    print(
        f"| {runs:,} | {job} | {layout} | {share:.0%} | {mine:.3f} s | "
        f"{raw:.3f} s | {mine / raw:.2f}× | {mine_cpu / raw_cpu:.2f}× |",
        flush=True,
    )
    if args.profile and mine / raw > LOCAL_TARGET:
        profile(ours)


def raw_csv_twice(grid: Grid, rows: list[list[Cell]], work: Path) -> None:
    """The write's baseline before wt-csvw: the csv module writing the grid's cell
    values (not their text as exported) to a CSV and a copy of it; no sidecar."""
    with cycle_collector_paused():
        cells = [[c.title for c in grid.columns]]
        cells += [["" if c.na or c.value is None else c.value for c in row] for row in rows]
        for target in (work / "old.csv", work / "old.copy.csv"):
            with target.open("w", encoding="utf-8-sig", newline="") as handle:
                csv.writer(handle).writerows(cells)


def profile(func: partial[object]) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(func)
    stats = pstats.Stats(profiler, stream=sys.stderr)
    stats.sort_stats("cumulative").print_stats(18)


if __name__ == "__main__":
    main()

"""Import dry-run cost (read, validate, three-way diff) against the raw reader, side by side.

    python benchmarks/bench_import.py [--values 100000] [--repeat 3] [--profile [--sort tottime]]

For a workbook of about N values, in both layouts, and with 0%, 1% and 10% of the
values edited: ``plan_import(read_sheet(path, only_edited=True), live)`` with live state
given in memory, against python-calamine reading every sheet of the same file (the
fastest raw reader; see bench_sheets.py for openpyxl). Target (issues 4 and 13): at
most 2×.

The two sides run A B A B, ``--repeat`` times each; each line gives the wall-clock
medians and the ratio of the CPU-time medians (``time.process_time``), which a machine
shared with other work disturbs less. ``--profile`` prints cProfile's top functions of
bulksync's side of each job over 2×.

An edited file is made as a person's edit would leave it: the data sheet of an export
of the edited snapshot, in the workbook of the original export (same base and mirror).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import pstats
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import python_calamine

sys.path.insert(0, str(Path(__file__).parent))

from bench_sheets import make_snapshot, medians

from bulksync.diff import plan_import
from bulksync.model import Task
from bulksync.perf import cycle_collector_paused
from bulksync.sheets import Layout, read_sheet, write_export
from bulksync.snapshot import Snapshot


def edited(snapshot: Snapshot, share: float) -> Snapshot:
    """The snapshot with every 1/share-th text or number value changed."""
    if not share:
        return snapshot
    step = round(1 / share)
    count = 0
    tasks = {}
    for run_id, run_tasks in snapshot.tasks.items():
        new_tasks = []
        for task in run_tasks:
            elements = []
            for element in task.elements:
                count += 1
                if count % step == 0 and element.type in ("shortText", "longText", "number"):
                    value = element.value
                    element = dataclasses.replace(
                        element,
                        value=value + 1 if element.type == "number" else f"{value} (edited)",
                    )
                elif count % step == 0 and element.type == "checkbox":
                    element = dataclasses.replace(element, value=not element.value)
                elements.append(element)
            new_tasks.append(dataclasses.replace(task, elements=tuple(elements)))
        tasks[run_id] = tuple(new_tasks)
    return dataclasses.replace(snapshot, tasks=tasks)


def with_data_sheet_of(original: Path, other: Path, out: Path) -> None:
    """``original`` with its data sheet replaced by ``other``'s (xlsxwriter writes
    inline strings, so a worksheet's XML stands alone)."""
    with zipfile.ZipFile(other) as source:
        data = source.read("xl/worksheets/sheet2.xml")
    with zipfile.ZipFile(original) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = data if item.filename == "xl/worksheets/sheet2.xml" else src.read(item)
            dst.writestr(item, body)


def calamine_read(path: Path) -> None:
    """Every sheet to Python rows; with the cycle collector paused as bulksync does, so
    the baseline is the fastest this reader gets."""
    with cycle_collector_paused():
        book = python_calamine.CalamineWorkbook.from_path(str(path))
        for name in book.sheet_names:
            book.get_sheet_by_name(name).to_python()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--values", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--layouts", nargs="+", default=["runs", "tasks"])
    parser.add_argument("--shares", type=float, nargs="+", default=[0.0, 0.01, 0.10])
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--sort", default="cumulative", help="the profile's order: cumulative, tottime, …"
    )
    args = parser.parse_args()
    runs = args.values // 100
    snapshot = make_snapshot(runs, 100)
    live: dict[str, tuple[Task, ...]] = {r.id: snapshot.tasks[r.id] for r in snapshot.runs}

    def read_live(run_ids: object) -> dict[str, tuple[Task, ...]]:
        return {run_id: live[run_id] for run_id in run_ids}  # type: ignore[attr-defined]

    work = Path(tempfile.mkdtemp())
    print(f"{runs} runs × ~100 values; medians of {args.repeat}, A B A B; target ≤ 2.0×")
    try:
        for layout in map(Layout, args.layouts):
            original = work / f"{layout.value}.xlsx"
            write_export(snapshot, original, layout=layout, assignees=False)
            for share in args.shares:
                path = original
                if share:
                    other = work / f"{layout.value}_other.xlsx"
                    write_export(edited(snapshot, share), other, layout=layout, assignees=False)
                    path = work / f"{layout.value}_{share}.xlsx"
                    with_data_sheet_of(original, other, path)

                def ours(path: Path = path) -> object:
                    sheet = read_sheet(path, only_edited=True)
                    return plan_import(sheet, read_live, host="bench.invalid")

                plan = ours()
                (wall, raw_wall), (cpu, raw_cpu) = medians(
                    ours, lambda path=path: calamine_read(path), args.repeat
                )
                summary = plan.summary()  # type: ignore[attr-defined]
                print(
                    f"[{layout.value:5} layout, {share:4.0%} edited] "
                    f"bulksync {wall:6.2f}s  raw calamine {raw_wall:6.2f}s  "
                    f"ratio {wall / raw_wall:4.2f}× (wall), {cpu / raw_cpu:4.2f}× (CPU)   "
                    f"({summary['changes']:,} changes, {summary['requests']:,} PATCHes, "
                    f"{summary['errors']} errors)",
                    flush=True,
                )
                if args.profile and cpu / raw_cpu > 2:
                    profile(ours, args.sort)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def profile(func: Callable[[], object], order: str = "cumulative") -> None:
    profiler = cProfile.Profile()
    profiler.runcall(func)
    stats = pstats.Stats(profiler, stream=sys.stderr)
    stats.sort_stats(order).print_stats(18)


if __name__ == "__main__":
    main()

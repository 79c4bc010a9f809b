"""Export write and read cost against the raw libraries, side by side in one process.

    python benchmarks/bench_sheets.py [--values 100000]

Prints, for a grid of about N values (runs layout and tasks layout):
- bulksync's xlsx write vs the fastest raw writer writing the same cells (xlsxwriter in
  constant-memory mode; openpyxl write-only shown for the record);
- bulksync's read_sheet + plan_import (every value decoded and compared with its base)
  vs the fastest raw reader of the same file
  (python-calamine; openpyxl read-only shown for the record);
- bulksync's CSV read_sheet + plan_import vs the csv module parsing the same file (no target;
  shown so that a change to the CSV reader, such as its delimiter detection, is measured).
Targets (issue 3): write ≤ 1.5×, read ≤ 1.5×.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path

import openpyxl
import python_calamine
import xlsxwriter

from bulksync import Plan, plan_import
from bulksync.model import Element, Run, Task, TemplateTask
from bulksync.perf import cycle_collector_paused
from bulksync.sheets import Layout, read_sheet, write_export
from bulksync.sheets.layout import Grid, build_grid
from bulksync.sheets.xlsx import META_SHEET
from bulksync.snapshot import Snapshot

KINDS = ["shortText", "number", "date", "checkbox", "dropdown", "multichoice", "longText", "email"]
OPTIONS = ("Engineering", "Marketing", "Sales, EMEA", "=Unassigned")


def make_snapshot(runs: int, fields_per_run: int) -> Snapshot:
    tasks_per_run = max(1, fields_per_run // 10)
    per_task = fields_per_run // tasks_per_run - 1  # minus the completion column
    template_tasks = []
    for t in range(tasks_per_run):
        elements = []
        for e in range(per_task):
            kind = KINDS[(t + e) % len(KINDS)]
            options = OPTIONS if kind in ("dropdown", "multichoice") else ()
            elements.append(
                Element(f"el_{t}_{e}", kind, f"Field {t}.{e}", None, False, False, options)
            )
        template_tasks.append(
            TemplateTask(f"tt_{t}", f"Task {t}", t, None, "task", False, tuple(elements))
        )
    values = {
        "shortText": lambda i: f"00{i}",
        "number": lambda i: i * 1.5,
        "date": lambda i: (dt.date(2026, 1, 1) + dt.timedelta(days=i % 700)).isoformat(),
        "checkbox": lambda i: i % 2 == 0,
        "dropdown": lambda i: OPTIONS[i % 4],
        "multichoice": lambda i: list(OPTIONS[: i % 4]),
        "longText": lambda i: f"line {i}\nsecond line",
        "email": lambda i: f"p{i}@example.com",
    }
    run_list, tasks = [], {}
    for r in range(runs):
        run_id = f"run_{r:06d}"
        run_list.append(
            Run(
                run_id,
                "tpl_b",
                f"Run {r}",
                "active",
                None,
                None,
                None,
                None,
                False,
                (),
                None,
                None,
                None,
            )
        )
        tasks[run_id] = tuple(
            Task(
                f"tsk_{r}_{tt.id}",
                run_id,
                tt.id,
                tt.title,
                (r + i) % 3 == 0,
                None,
                None,
                i,
                None,
                None,
                False,
                False,
                "task",
                None,
                tuple(
                    Element(e.id, e.type, e.label, values[e.type](r + i), False, False, e.options)
                    for e in tt.elements
                ),
            )
            for i, tt in enumerate(template_tasks)
        )
    return Snapshot(
        "bench.invalid",
        "2026-11-28T00:00:00+00:00",
        tuple(run_list),
        tasks,
        tuple(template_tasks),
        "tpl_b",
    )


def raw_xlsxwriter(snapshot: Snapshot, layout: Layout, path: Path) -> None:
    """The same cells (the data sheet and its full mirror), typed, no validation or styles."""
    grid = build_grid(snapshot, layout)
    with cycle_collector_paused():  # as bulksync writes: the fastest this writer gets
        _raw_xlsxwriter(grid, path)


def _raw_xlsxwriter(grid: Grid, path: Path, base: Sequence[Sequence[str]] = ()) -> None:
    """The grid's cells typed on a data sheet and a mirror sheet (with each row's key, a
    number, after its cells, as bulksync writes it); then ``base``, rows of strings (the
    base snapshot's cells, made beforehand), on a third sheet."""
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheets = [book.add_worksheet("Data"), book.add_worksheet("Mirror")]
    date_fmt = book.add_format({"num_format": "yyyy-mm-dd"})
    for row, cells in enumerate(grid.rows, start=1):
        for sheet in sheets:
            sheet.write_number(row, len(cells), row + 1)
        for col, cell in enumerate(cells):
            value = "n/a" if cell.na else cell.value
            for sheet in sheets:
                if value is None:
                    continue
                if isinstance(value, bool):
                    sheet.write_boolean(row, col, value)
                elif isinstance(value, int | float):
                    sheet.write_number(row, col, value)
                elif isinstance(value, dt.date):
                    sheet.write_datetime(row, col, dt.datetime.combine(value, dt.time()), date_fmt)
                else:
                    sheet.write_string(row, col, value)
    if base:
        meta = book.add_worksheet("Base")
        for row, strings in enumerate(base):
            for col, text in enumerate(strings):
                meta.write_string(row, col, text)
    book.close()


def base_rows(path: Path) -> list[list[str]]:
    """The cells of an xlsx export's hidden metadata sheet (its metadata and the base
    snapshot's JSON), row by row: what a raw writer of the same cells writes too."""
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    rows = book.get_sheet_by_name(META_SHEET).to_python(skip_empty_area=False)
    return [[str(c) for c in row if c != ""] for row in rows]


def raw_openpyxl(snapshot: Snapshot, layout: Layout, path: Path) -> None:
    grid = build_grid(snapshot, layout)
    book = openpyxl.Workbook(write_only=True)
    sheet, mirror = book.create_sheet("Data"), book.create_sheet("Mirror")
    for cells in grid.rows:
        sheet.append([c.value for c in cells])
        mirror.append([c.value for c in cells])
    book.save(str(path))


def best(func: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_mib(func: Callable[[], object]) -> float:
    tracemalloc.start()
    func()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def plan_every(path: Path, snapshot: Snapshot) -> Plan:
    """Read every cell and plan it as an import does: each value decoded by its codec and
    compared with its base (unedited, so live state is never asked for)."""
    tasks = {run_id: list(run_tasks) for run_id, run_tasks in snapshot.tasks.items()}
    sheet = read_sheet(path)
    return plan_import(sheet, lambda ids: {i: tasks.get(i) for i in ids}, host=snapshot.host)


def bench_layout(snapshot: Snapshot, layout: Layout, work: Path, repeat: int) -> None:
    ours = work / f"ours_{layout.value}.xlsx"
    t_ours = best(lambda: write_export(snapshot, ours, layout=layout, assignees=False), repeat)
    t_raw = best(lambda: raw_xlsxwriter(snapshot, layout, work / "raw.xlsx"), repeat)
    t_edit = best(lambda: read_sheet(ours, only_edited=True), repeat)
    t_opx = best(lambda: raw_openpyxl(snapshot, layout, work / "opx.xlsx"), 1)
    t_read = best(lambda: plan_every(ours, snapshot), repeat)

    def calamine_read() -> None:
        with cycle_collector_paused():  # as bulksync reads: the fastest this reader gets
            book = python_calamine.CalamineWorkbook.from_path(str(ours))
            for name in book.sheet_names:
                book.get_sheet_by_name(name).to_python()

    def openpyxl_read() -> None:
        book = openpyxl.load_workbook(str(ours), read_only=True)
        for sheet in book.worksheets:
            for _ in sheet.iter_rows(values_only=True):
                pass

    t_cal = best(calamine_read, repeat)
    t_opr = best(openpyxl_read, 1)
    print(f"\n[{layout.value} layout, {ours.stat().st_size / 2**20:.1f} MiB]")
    print(
        f"write  bulksync {t_ours:6.2f}s  raw xlsxwriter {t_raw:6.2f}s  "
        f"ratio {t_ours / t_raw:4.2f}×  (target ≤ 1.5×; openpyxl write-only {t_opx:.2f}s)"
    )
    print(
        f"read   bulksync {t_read:6.2f}s  raw calamine   {t_cal:6.2f}s  "
        f"ratio {t_read / t_cal:4.2f}×  (every value decoded; target ≤ 1.5×; openpyxl "
        f"read-only {t_opr:.2f}s)"
    )
    print(
        f"read   bulksync {t_edit:6.2f}s  raw calamine   {t_cal:6.2f}s  "
        f"ratio {t_edit / t_cal:4.2f}×  (only_edited, as import reads it)"
    )


def bench_csv(snapshot: Snapshot, layout: Layout, work: Path, repeat: int) -> None:
    ours = work / f"ours_{layout.value}.csv"
    write_export(snapshot, ours, layout=layout, assignees=False)
    t_read = best(lambda: plan_every(ours, snapshot), repeat)
    t_parse = best(lambda: read_sheet(ours), repeat)

    def raw_read() -> None:
        with ours.open(encoding="utf-8-sig", newline="") as handle:
            for _ in csv.reader(handle):
                pass

    t_raw = best(raw_read, repeat)
    print(
        f"csv    bulksync {t_read:6.2f}s  raw csv module {t_raw:6.2f}s  "
        f"ratio {t_read / t_raw:4.2f}×  ({layout.value} layout, "
        f"{ours.stat().st_size / 2**20:.1f} MiB, every value decoded; "
        f"read_sheet alone {t_parse:.2f}s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--values", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--csv-only", action="store_true", help="only the CSV read")
    args = parser.parse_args()
    fields_per_run = 100
    runs = args.values // fields_per_run
    snapshot = make_snapshot(runs, fields_per_run)
    work = Path(tempfile.mkdtemp())
    print(f"{runs} runs × ~{fields_per_run} values; best of {args.repeat}")
    if not args.csv_only:
        for layout in (Layout.RUNS, Layout.TASKS):
            bench_layout(snapshot, layout, work, args.repeat)
    print()
    for layout in (Layout.RUNS, Layout.TASKS):
        bench_csv(snapshot, layout, work, args.repeat)
    if args.csv_only:
        return
    small = make_snapshot(max(1, runs // 4), fields_per_run)
    m_small = peak_mib(lambda: write_export(small, work / "m1.xlsx", layout=Layout.RUNS))
    m_big = peak_mib(lambda: write_export(snapshot, work / "m2.xlsx", layout=Layout.RUNS))
    print(
        f"\npeak traced memory of the write: {len(small.runs)} runs {m_small:.1f} MiB, "
        f"{len(snapshot.runs)} runs {m_big:.1f} MiB (the snapshot itself is not counted)"
    )


def medians(
    ours: Callable[[], object], theirs: Callable[[], object], repeat: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Both sides A B A B …: the wall-clock medians, and the CPU-time medians (bench_csv,
    bench_import)."""
    wall: tuple[list[float], list[float]] = ([], [])
    cpu: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for func, taken, used in zip((ours, theirs), wall, cpu, strict=True):
            started, cpu_started = time.perf_counter(), time.process_time()
            func()
            taken.append(time.perf_counter() - started)
            used.append(time.process_time() - cpu_started)
    return (
        (statistics.median(wall[0]), statistics.median(wall[1])),
        (statistics.median(cpu[0]), statistics.median(cpu[1])),
    )


if __name__ == "__main__":
    main()

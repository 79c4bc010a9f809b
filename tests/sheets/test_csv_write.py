"""A CSV export's rows are made straight from the snapshot (``csv_write``), not from the
grid's cells: the file and its sidecar must be, byte for byte, what the grid's cells
make (the path a grid given only as cells takes, as the retry CSV does), whatever the
values: text a spreadsheet would take for a formula, a number or an error, NULs, values
no cell holds, n/a cells, fields the template lacks, tasks with no template task, a
template task twice in a run, completed runs and skipped tasks, rows for runs to start.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bulksync.codecs import UnholdableValue
from bulksync.model import Element, Run, Task, TemplateTask
from bulksync.sheets import Layout
from bulksync.sheets.csv_write import sidecar, write_csv
from bulksync.sheets.layout import build_grid
from bulksync.sheets.meta import ExportMeta
from bulksync.snapshot import Snapshot

TEMPLATE = (
    TemplateTask(
        "tt_a",
        "=Paperwork",
        0,
        "sec_1",
        "task",
        False,
        (
            Element("el_name", "shortText", "Name"),
            Element("el_band", "number", "Band"),
            Element("el_start", "date", "Start"),
            Element("el_mail", "email", "Email", required=True),
        ),
    ),
    TemplateTask(
        "tt_b",
        "Kit",
        1,
        "sec_2",
        "task",
        False,
        (
            Element("el_dept", "dropdown", "Dept", options=("Sales", "#N/A", "=Ops")),
            Element("el_kit", "multichoice", "Kit", options=("Laptop", "Desk; chair", "Desk")),
            Element("el_ok", "checkbox", "OK"),
            Element("el_note", "longText", "Note"),
            Element("el_info", "paragraph", "Info", display_only=True),
        ),
    ),
)
ODD = {
    "shortText": ["=1+1", "007", "#N/A", " #REF! ", "a\x00b", "x" * 33_000, "-5", "", None],
    "number": [0.1 + 0.2, 10**18 + 1, "12abc", -0.0, 1e300, 7, True, None],
    "date": ["1850-01-01", "not a date", "2026-02-03T10:00:00Z", "20260105", None],
    "email": ["", None, "=cmd@x", "ana@example.com"],
    "dropdown": [None, "#N/A", "Not an option", "=Ops"],
    "multichoice": [[], None, ["Desk; chair", "Desk"], ["zzz"], ["Laptop", "Laptop"], "text"],
    "checkbox": [None, True, False, "yes"],
    "longText": ["two\r\nlines", "+plus", None, '"quoted", commas'],
}


def _run(n: int) -> Run:
    status = "completed" if n % 7 == 3 else "active"
    return Run(
        f"run_{n:03d}",
        "tpl",
        f"=Run {n} Zoë" if n % 5 == 0 else f"Run {n}",
        status,
        None if n % 4 else f"user{n}@example.com",
        None,
        None,
        f"2026-0{1 + n % 9}-1{n % 10}" if n % 3 else None,
        False,
        (),
        None,
        None,
        None,
    )


def _task(run: Run, number: int, tt: TemplateTask | None, n: int) -> Task:
    elements = []
    for i, element in enumerate(tt.elements if tt else TEMPLATE[0].elements):
        values = ODD.get(element.type, [None])
        elements.append(dataclasses.replace(element, value=values[(n + i + number) % len(values)]))
    if n % 6 == 1:
        elements = elements[1:]  # a field this run lacks: n/a in the runs layout
    if n % 8 == 2:
        elements.append(Element("el_extra", "shortText", "Extra", f"v{n}"))  # not in template
    if n % 9 == 4:
        elements.append(Element("el_odd", "shortText", "Odd", UnholdableValue("u")))
    return Task(
        f"tsk_{run.id}_{number}",
        run.id,
        tt.id if tt else None,
        tt.title if tt else f"Ad hoc {number}",
        bool((n + number) % 3 == 0),
        None,
        None,
        number,
        tt.section_id if tt else None,
        None if n % 2 else "=usr_ana",
        False,
        n % 5 == 2 and number == 0,
        "task",
        None,
        tuple(elements),
    )


def awkward_team(runs: int = 30) -> Snapshot:
    made = tuple(_run(n) for n in range(runs))
    tasks = {}
    for n, run in enumerate(made):
        tasks[run.id] = [_task(run, i, tt, n) for i, tt in enumerate(TEMPLATE)]
        if n % 4 == 1:  # two tasks with no template task: one column between them
            tasks[run.id] += [_task(run, 5, None, n), _task(run, 6, None, n)]
        if n % 5 == 3:  # a template task twice in a run
            tasks[run.id].append(_task(run, 7, TEMPLATE[1], n))
    return Snapshot(
        "example.test",
        "2026-11-28T00:00:00+00:00",
        made,
        {run_id: tuple(found) for run_id, found in tasks.items()},
        template_tasks=TEMPLATE,
        template_id="tpl",
        section_titles={"sec_1": "Before", "sec_2": "@Day one"},
        read_at={run.id: "2026-11-28T00:00:01+00:00" for run in made[::2]},
    )


@pytest.mark.parametrize(
    ("layout", "assignees", "new_rows"),
    [
        (Layout.RUNS, False, 0),
        (Layout.RUNS, True, 3),
        (Layout.TASKS, True, 0),
        (Layout.TASKS, False, 0),
    ],
)
def test_rows_made_from_the_snapshot_are_the_cells_rows(
    tmp_path: Path, layout: Layout, assignees: bool, new_rows: int
) -> None:
    snapshot = awkward_team()
    meta = ExportMeta("0", "example.test", "2026-11-28T00:00:00+00:00", layout.value, "S", 30, 0)
    direct, from_cells = tmp_path / "direct.csv", tmp_path / "cells.csv"
    grid = build_grid(snapshot, layout, assignees=assignees, new_rows=new_rows)
    values = write_csv(grid, meta, direct)
    grid = build_grid(snapshot, layout, assignees=assignees, new_rows=new_rows)
    assert values == write_csv(dataclasses.replace(grid, snapshot=None), meta, from_cells)
    assert direct.read_bytes() == from_cells.read_bytes()
    assert sidecar(direct).read_bytes() == sidecar(from_cells).read_bytes()
    text = direct.read_text(encoding="utf-8-sig")
    assert "'=1+1" in text and "'#N/A" in text  # the awkward values are there
    assert ("n/a" in text) is (layout is Layout.RUNS)
    assert "cannot be held in a spreadsheet cell" in sidecar(direct).read_text(encoding="utf-8")

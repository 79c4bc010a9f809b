"""``bulksync.diff``: the three-way rule, and ``plan_import`` over an in-memory live state.

The sheets are real files (written by ``write_export`` from a snapshot built here, edited
as a person would, read by ``read_sheet``); live state is a plain function returning
``Task`` values, so each table row says exactly what NextStep holds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import openpyxl
import pytest

from bulksync import diff
from bulksync.codecs import codec_for
from bulksync.diff import classify, plan_import
from bulksync.errors import ExitCode
from bulksync.issues import IssueCode
from bulksync.model import JSON, Element, Run, Task
from bulksync.plans import ImportOptions, OnConflict, Outcome, Plan
from bulksync.sheets import Layout, read_sheet, write_export
from bulksync.snapshot import Snapshot

# -- classify ------------------------------------------------------------------------------

CHANGE, DONE, CONFLICT = Outcome.CHANGE, Outcome.ALREADY_DONE, Outcome.CONFLICT


@pytest.mark.parametrize(
    ("kind", "base", "sheet", "live", "outcome"),
    [
        ("shortText", "a", "b", "a", CHANGE),
        ("shortText", "a", "b", "b", DONE),
        ("shortText", "a", "b", "c", CONFLICT),
        ("shortText", "", "b", None, CHANGE),  # empty text and None are the same empty
        ("number", 1, 2, 1.0, CHANGE),
        ("number", 1, 2, 2, DONE),
        ("number", 1, 2, 3, CONFLICT),
        ("multichoice", ["A"], ["A", "B"], ["A"], CHANGE),
        ("multichoice", ["A"], ["A", "B"], ["B", "A"], DONE),  # order does not matter
        ("multichoice", ["A", "B"], ["C"], ["B", "A"], CHANGE),
        ("multichoice", ["A"], ["A", "B"], ["C"], CONFLICT),
        ("checkbox", False, True, False, CHANGE),
        ("checkbox", False, True, True, DONE),
        ("dropdown", "Red", "Blue", "Green", CONFLICT),
        ("date", "2026-01-01", "2026-02-01", "2026-01-01", CHANGE),
        ("date", "2026-01-01", "2026-02-01", "2026-03-01", CONFLICT),
    ],
)
def test_classify_is_the_three_way_rule_with_each_types_equality(kind, base, sheet, live, outcome):
    assert classify(codec_for(kind), base, sheet, live) is outcome


# -- plan_import ---------------------------------------------------------------------------

RUN = "run_a"
ELEMENTS = (
    Element("el_text", "shortText", "Name", "Ana"),
    Element("el_num", "number", "Band", 3),
    Element("el_multi", "multichoice", "Kit", ["Laptop"], options=("Laptop", "Badge", "Keys")),
    Element("el_drop", "dropdown", "Dept", "Sales", options=("Sales", "Ops")),
)


def run(run_id: str = RUN) -> Run:
    title = f"Run {run_id}"
    return Run(run_id, "tpl", title, "active", None, None, None, None, False, (), None, None, None)


def task(
    task_id: str,
    *,
    run_id: str = RUN,
    completed: bool = False,
    elements: tuple[Element, ...] = ELEMENTS,
    order: int = 0,
) -> Task:
    return Task(
        task_id,
        run_id,
        f"tt_{task_id}",
        f"Task {task_id}",
        completed,
        None,
        None,
        order,
        None,
        None,
        False,
        False,
        "task",
        None,
        elements,
    )


NOTE = (Element("el_note", "shortText", "Note", ""),)


def run_tasks(run_id: str = RUN) -> tuple[Task, ...]:
    return (task("t1", run_id=run_id), task("t2", run_id=run_id, order=1, elements=NOTE))


def snapshot(runs: Mapping[str, tuple[Task, ...]]) -> Snapshot:
    return Snapshot(
        "example.test",
        "2026-11-28T00:00:00+00:00",
        tuple(run(r) for r in runs),
        dict(runs),
    )


def exported(tmp_path: Path, runs: Mapping[str, tuple[Task, ...]]) -> Path:
    path = tmp_path / "export.xlsx"
    write_export(snapshot(runs), path, layout=Layout.TASKS, assignees=False)
    return path


def edit(path: Path, edits: Mapping[tuple[str, str, str], object]) -> None:
    """Set Value cells of the tasks layout by (run id, task id, field id)."""
    book = openpyxl.load_workbook(path)
    sheet = book["Fields"]
    header = [c.value for c in sheet[1]]
    ids = [header.index(n) for n in ("run_id", "task_id", "field_id")]
    value = header.index("Value")
    done = 0
    for row in sheet.iter_rows(min_row=2):
        key = tuple(row[i].value for i in ids)
        if key in edits:
            row[value].value = edits[key]
            done += 1
    book.save(path)
    assert done == len(edits)


def with_values(base: Task, **values: JSON) -> Task:
    """The task with some element values changed (as another person would)."""
    elements = tuple(
        dataclasses.replace(e, value=values[e.id]) if e.id in values else e for e in base.elements
    )
    return dataclasses.replace(base, elements=elements)


class Live:
    """An in-memory live state: run id → its tasks (None: the run is gone)."""

    def __init__(self, runs: Mapping[str, Sequence[Task] | None]) -> None:
        self.runs = runs
        self.asked: list[list[str]] = []

    def __call__(self, run_ids: Sequence[str]) -> dict[str, Sequence[Task] | None]:
        self.asked.append(list(run_ids))
        return {r: self.runs.get(r) for r in run_ids}


def plan(
    tmp_path: Path,
    edits: Mapping[tuple[str, str, str], object],
    live: Mapping[str, Sequence[Task] | None],
    *,
    exported_runs: Mapping[str, tuple[Task, ...]] | None = None,
    on_conflict: OnConflict = OnConflict.SKIP,
) -> Plan:
    path = exported(tmp_path, exported_runs or {RUN: run_tasks()})
    edit(path, edits)
    return plan_import(
        read_sheet(path, only_edited=True),
        Live(live),
        host="example.test",
        options=ImportOptions(on_conflict=on_conflict),
    )


T1 = task("t1")


@pytest.mark.parametrize(
    ("field", "cell", "live_value", "outcome"),
    [
        ("el_text", "Bea", "Ana", CHANGE),
        ("el_text", "Bea", "Bea", DONE),
        ("el_text", "Bea", "Cid", CONFLICT),
        ("el_num", 4, 3, CHANGE),
        ("el_num", 4, 4, DONE),
        ("el_num", 4, 5, CONFLICT),
        ("el_multi", "Laptop; Badge", ["Laptop"], CHANGE),
        ("el_multi", "Laptop; Badge", ["Badge", "Laptop"], DONE),
        ("el_multi", "Laptop; Badge", ["Keys"], CONFLICT),
        ("el_drop", "Ops", "Sales", CHANGE),
    ],
)
def test_each_edited_value_is_classified_against_live_state(
    tmp_path, field, cell, live_value, outcome
):
    live = {RUN: (with_values(T1, **{field: live_value}), task("t2", elements=NOTE))}
    found = plan(tmp_path, {(RUN, "t1", field): cell}, live)
    groups = {CHANGE: found.changes, DONE: found.already_done, CONFLICT: found.conflicts}
    [change] = groups[outcome]
    assert (change.key.field, change.outcome, change.live) == (field, outcome, live_value)
    assert sum(map(len, groups.values())) == 1
    assert found.errors == ()
    assert len(found.patches) == (1 if outcome is CHANGE else 0)
    expected = ExitCode.CONFLICTS if outcome is CONFLICT else ExitCode.OK
    assert found.exit_code() is expected


def test_a_conflict_is_written_with_on_conflict_mine(tmp_path):
    live = {RUN: (with_values(T1, el_text="Cid"), task("t2", elements=NOTE))}
    found = plan(tmp_path, {(RUN, "t1", "el_text"): "Bea"}, live, on_conflict=OnConflict.MINE)
    [conflict] = found.conflicts
    assert conflict.written
    [patch] = found.patches
    assert patch.body() == {"custom_elements": [{"id": "el_text", "value": "Bea"}]}
    assert found.exit_code() is ExitCode.OK


def test_an_unedited_sheet_reads_nothing(tmp_path):
    path = exported(tmp_path, {RUN: run_tasks()})
    live = Live({RUN: run_tasks()})
    found = plan_import(read_sheet(path, only_edited=True), live, host="example.test")
    assert live.asked == []
    assert (found.changes, found.errors, found.patches) == ((), (), ())


@pytest.mark.parametrize(
    ("live", "code"),
    [
        ({}, IssueCode.RUN_NOT_FOUND),  # the reader says None: the run is gone
        ({RUN: (task("t2", elements=NOTE),)}, IssueCode.TASK_GONE),
        (
            {RUN: (task("t1", completed=True), task("t2", completed=True, elements=NOTE))},
            IssueCode.RUN_COMPLETED,
        ),
        (
            {RUN: (task("t1", elements=ELEMENTS[1:]), task("t2", elements=NOTE))},
            IssueCode.FIELD_GONE,
        ),
        (
            {
                RUN: (
                    task("t1", elements=(Element("el_text", "number", "Name", 1), *ELEMENTS[1:])),
                    task("t2", elements=NOTE),
                )
            },
            IssueCode.TYPE_CHANGED,
        ),
    ],
)
def test_a_value_that_cannot_be_written_any_more_is_an_error_naming_its_cell(tmp_path, live, code):
    found = plan(tmp_path, {(RUN, "t1", "el_text"): "Bea"}, live)
    [error] = found.errors
    assert error.code is code
    assert error.cell is not None and error.cell.startswith("Fields!")
    assert (error.value, error.run_title, error.label) == ("Bea", f"Run {RUN}", "Name")
    assert (found.changes, found.patches) == ((), ())
    assert found.exit_code() is ExitCode.INVALID


def test_an_option_removed_since_the_export_is_an_error_and_one_kept_a_warning(tmp_path):
    fewer = Element("el_drop", "dropdown", "Dept", "Sales", options=("Sales", "Legal"))
    live = {RUN: (task("t1", elements=(*ELEMENTS[:3], fewer)), task("t2", elements=NOTE))}
    removed = plan(tmp_path, {(RUN, "t1", "el_drop"): "Ops"}, live)
    [error] = removed.errors
    assert error.code is IssueCode.OPTION_REMOVED
    assert error.message.startswith("The options of 'Dept' changed since the export: ")
    more = Element("el_drop", "dropdown", "Dept", "Sales", options=("Sales", "Ops", "Legal"))
    live = {RUN: (task("t1", elements=(*ELEMENTS[:3], more)), task("t2", elements=NOTE))}
    still = plan(tmp_path, {(RUN, "t1", "el_drop"): "Ops"}, live)
    [warning] = still.warnings
    assert warning.code is IssueCode.OPTIONS_CHANGED
    assert [c.sheet for c in still.changes] == ["Ops"]


def test_patches_go_fields_first_then_completions_and_the_run_completing_one_last(tmp_path):
    two_runs = {RUN: run_tasks(RUN), "run_b": run_tasks("run_b")}
    edits = {
        (RUN, "t1", "completed"): True,  # completes t1; t2 stays open: run_a goes on
        (RUN, "t1", "el_num"): 9,  # goes with t1's completion, in one PATCH
        (RUN, "t2", "el_note"): "later in the sheet, first to go",
        ("run_b", "t1", "completed"): True,
        ("run_b", "t2", "completed"): True,  # with t1's: completes run_b
    }
    found = plan(tmp_path, edits, two_runs, exported_runs=two_runs)
    order = [(p.run_id, p.task_id, p.completed, p.completes_run) for p in found.patches]
    assert order == [
        (RUN, "t2", None, False),
        (RUN, "t1", True, False),
        ("run_b", "t1", True, False),
        ("run_b", "t2", True, True),
    ]
    assert found.patches[1].body() == {
        "custom_elements": [{"id": "el_num", "value": 9}],
        "completed": True,
    }
    assert found.completes_runs == (("run_b", "Run run_b"),)
    assert [r["completes_run"] for r in found.as_dict()["requests"]] == [False, False, False, True]


def test_a_plan_reads_its_runs_in_batches_each_once_and_plans_as_in_one(tmp_path, monkeypatch):
    # A large import reads live state READ_BATCH runs at a time, so as not to hold every
    # run's tasks at once (issue 13); the plan must be the same as from one read.
    runs = {f"run_{n}": run_tasks(f"run_{n}") for n in "edcba"}  # sheet order: not sorted
    live = dict(runs)
    live["run_c"] = (with_values(task("t1", run_id="run_c"), el_text="Cid"), runs["run_c"][1])
    edits = {(r, "t1", "el_text"): f"Bea {r}" for r in runs}
    edits[("run_a", "t1", "completed")] = True
    edits[("run_a", "t2", "completed")] = True  # completes run_a: needs its live tasks
    path = exported(tmp_path, runs)
    edit(path, edits)
    sheet = read_sheet(path, only_edited=True)

    def planned(batch: int) -> tuple[Plan, Live]:
        monkeypatch.setattr(diff, "READ_BATCH", batch)
        reader = Live(live)
        return plan_import(sheet, reader, host="example.test"), reader

    whole, one_read = planned(1000)
    batched, reader = planned(2)
    assert one_read.asked == [sorted(runs)]
    assert reader.asked == [["run_a", "run_b"], ["run_c", "run_d"], ["run_e"]]
    assert batched.as_dict() == whole.as_dict()
    assert [c.cell for c in batched.changes] == [c.cell for c in whole.changes]
    assert [c.key.run_id for c in batched.conflicts] == ["run_c"]
    assert batched.completes_runs == (("run_a", "Run run_a"),)

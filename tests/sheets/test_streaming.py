"""Reading large xlsx sheets row by row (issue 13): what streaming must not change.

The data sheet and its hidden mirror are read one row at a time, the mirror packed, the
sheet's XML scanned a piece at a time and the base snapshot parsed a few runs at a time;
these tests put what could go wrong at the far end of a long sheet.
"""

from __future__ import annotations

import dataclasses
import zipfile
from collections.abc import Sequence
from pathlib import Path

import openpyxl
import pytest
import python_calamine

from bulksync.diff import plan_import
from bulksync.issues import IssueCode
from bulksync.model import Task
from bulksync.sheets import Layout, read_sheet, write_export
from bulksync.sheets.meta import BaseSnapshot, Shared
from bulksync.sheets.xlsx_read import sheet_rows  # the calamine fallback
from bulksync.snapshot import FieldKey, Snapshot
from tests.sheets.reads import onboarding_snapshot


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Snapshot:
    return onboarding_snapshot(tmp_path_factory.mktemp("sandbox"))


def many(snapshot: Snapshot, runs: int) -> Snapshot:
    """The sample's runs cloned, values and all, under new ids, up to ``runs`` runs."""
    cloned, tasks = [], {}
    for n in range(runs):
        run = snapshot.runs[n % len(snapshot.runs)]
        run_id = f"run_long_{n:05d}"
        cloned.append(dataclasses.replace(run, id=run_id, title=f"{run.title} #{n}"))
        tasks[run_id] = tuple(
            dataclasses.replace(t, id=f"{t.id}_{n}", run_id=run_id) for t in snapshot.tasks[run.id]
        )
    return dataclasses.replace(snapshot, runs=tuple(cloned), tasks=tasks, read_at={})


def live_of(snapshot: Snapshot):
    def read(run_ids: Sequence[str]) -> dict[str, Sequence[Task] | None]:
        return {r: snapshot.tasks.get(r) for r in run_ids}

    return read


def test_rows_stream_as_to_python_has_them_with_empty_rows_and_columns_before(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["C3"], sheet["E4"], sheet["D6"] = "x", "y", 2
    book.save(tmp_path / "b.xlsx")
    read = python_calamine.CalamineWorkbook.from_path(str(tmp_path / "b.xlsx"))
    calamine = read.get_sheet_by_name(sheet.title)
    rows = list(sheet_rows(calamine))
    assert rows == calamine.to_python(skip_empty_area=False)
    assert rows[2][2] == "x" and rows[5][3] == 2.0 and len(rows) == 6


def _runs_layout_edit(path: Path, *, reverse: bool) -> tuple[str, str]:
    """Edit the first value cell of the last run's row (and with ``reverse``, turn the
    rows upside down, as a sort would); the edited cell's ref and its new text."""
    book = openpyxl.load_workbook(path)
    sheet = book["Runs"]
    keys = [c.value for c in sheet[2]]
    col = next(i for i, k in enumerate(keys) if k and ":" in k and "el_" in k)
    last = sheet.max_row
    while not sheet.cell(last, keys.index("run_id") + 1).value:
        last -= 1  # below the runs: nothing
    sheet.cell(last, col + 1).value = "Edited far down"
    target = last
    if reverse:
        rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=4, max_row=last)]
        for offset, values in enumerate(reversed(rows)):
            for c, value in enumerate(values, start=1):
                sheet.cell(4 + offset, c).value = value
        target = 4
    book.save(path)
    return f"Runs!{openpyxl.utils.get_column_letter(col + 1)}{target}", "Edited far down"


@pytest.mark.parametrize("reverse", [False, True], ids=["in_place", "rows_reversed"])
def test_a_runs_sheet_edited_in_its_last_row_plans_that_one_change(sample, tmp_path, reverse):
    snapshot = many(sample, 400)
    path = tmp_path / "long.xlsx"
    write_export(snapshot, path, layout=Layout.RUNS)
    ref, text = _runs_layout_edit(path, reverse=reverse)
    plan = plan_import(read_sheet(path, only_edited=True), live_of(snapshot), host=snapshot.host)
    assert [(c.cell, c.sheet) for c in plan.changes] == [(ref, text)]
    assert not plan.errors and plan.runs_read == 1


def test_a_formula_and_a_copied_row_at_the_far_end_of_a_long_sheet_are_found(sample, tmp_path):
    # The data sheet's XML is well over the piece the scan reads at a time (1 MiB).
    snapshot = many(sample, 90)
    path = tmp_path / "long.xlsx"
    write_export(snapshot, path, layout=Layout.TASKS)
    book = openpyxl.load_workbook(path)
    sheet = book["Fields"]
    header = [c.value for c in sheet[1]]
    value_col = header.index("Value") + 1
    last = sheet.max_row
    sheet.cell(last, value_col).value = "=1+1"
    # The row before it becomes a copy of row 2 (still in place): ids twice.
    for col in range(1, sheet.max_column + 1):
        sheet.cell(last - 1, col).value = sheet.cell(2, col).value
    book.save(path)
    assert len(_xml_of(path, "xl/worksheets/sheet2.xml")) > 2 << 20
    plan = plan_import(read_sheet(path, only_edited=True), live_of(snapshot), host=snapshot.host)
    errors = {(i.code, i.cell) for i in plan.errors}
    letter = openpyxl.utils.get_column_letter(value_col)
    assert (IssueCode.FORMULA, f"Fields!{letter}{last}") in errors
    assert (IssueCode.DUPLICATE_IDS, f"Fields!{letter}{last - 1}") in errors
    assert not plan.changes


def _xml_of(path: Path, member: str) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(member)


def test_the_base_parses_a_run_again_once_it_has_kept_too_many(tmp_path):
    shared = Shared([("tt1", "el_a", "shortText", "A", 0, -1)], [])
    runs = BaseSnapshot.KEEP_PARSED + 5
    documents = {
        f"run_{n}": [
            f'{{"title": "Run {n}", "status": "active", '
            f'"tasks": {{"t_{n}": ["Task", "", "tt1", [[0, null, "value {n}"]]]}}}}'
        ]
        for n in range(runs)
    }
    base = BaseSnapshot(shared, documents, "here")
    assert len(base) == runs  # every run parsed once: the first ones no longer kept
    first = FieldKey("run_0", "t_0", "el_a")
    assert base[first].value == "value 0" and base.run("run_0").title == "Run 0"
    assert base[FieldKey(f"run_{runs - 1}", f"t_{runs - 1}", "el_a")].value == f"value {runs - 1}"


def test_a_full_temporary_folder_is_a_clear_storage_error_not_a_crash(sample, tmp_path):
    """The hidden copy of a large sheet waits in a temporary file: when the folder has
    no room (here, a file size limit), the read stops with a storage error saying where
    to make room, no traceback."""
    import resource
    import subprocess
    import sys

    path = tmp_path / "long.xlsx"
    write_export(many(sample, 120), path, layout=Layout.TASKS)  # a mirror over 2 MiB
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from bulksync.errors import StorageError\n"
        "from bulksync.sheets import read_sheet\n"
        "try:\n"
        f"    read_sheet(Path({str(path)!r}), only_edited=True)\n"
        "except StorageError as exc:\n"
        "    print(exc); sys.exit(12)\n"
    )

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        preexec_fn=limited,
        timeout=120,
    )
    assert done.returncode == 12, done.stderr
    assert "TMPDIR" in done.stdout and "import again" in done.stdout
    assert "Traceback" not in done.stderr
    # With room, the same file reads as unedited.
    assert read_sheet(path, only_edited=True).cells == ()

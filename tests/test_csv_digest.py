"""A CSV import skips the rows its sidecar's digests say are as exported (issue 13).

Each data row's digest is recorded in the sidecar at export; ``read_sheet(only_edited=True)``
(what import does) skips a row whose cells digest to the value recorded for its place,
and reads every other row in full. These tests drive the real writer and reader.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from bulksync import Element, Layout, Run, Snapshot, Task, plan_import, read_sheet, write_export
from bulksync.errors import SheetError
from bulksync.sheets import csv_sidecar
from bulksync.sheets.csv_sidecar import checksum, row_digest
from bulksync.sheets.csvfile import sidecar

RUNS = 40
ELEMENTS = (
    Element("el_name", "shortText", "Name", "Ana"),
    Element("el_notes", "longText", "Notes", "two\nlines; and, commas"),
    Element("el_band", "number", "Band", 3),
    Element("el_start", "date", "Start", "2026-03-04"),
    Element("el_dept", "dropdown", "Dept", "Sales", options=("Sales", "Ops")),
)


def team(runs: int = RUNS) -> Snapshot:
    runs_ = tuple(
        Run(
            f"run_{n:03d}",
            "tpl",
            f"Run {n} Zoë",
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
        for n in range(runs)
    )
    tasks = {
        run.id: (
            Task(
                f"tsk_{run.id}",
                run.id,
                "tt_1",
                "Paperwork",
                False,
                None,
                None,
                0,
                None,
                "usr_ana",
                False,
                False,
                "task",
                None,
                ELEMENTS,
            ),
        )
        for run in runs_
    }
    return Snapshot("example.test", "2026-11-28T00:00:00+00:00", runs_, tasks)


def exported(tmp_path: Path, layout: Layout, runs: int = RUNS) -> Path:
    path = tmp_path / f"{layout.value}.csv"
    write_export(team(runs), path, layout=layout)
    return path


def rows_of(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def write_rows(path: Path, rows: Sequence[Sequence[str]], **style: object) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, **style).writerows(rows)  # type: ignore[arg-type]


def live_of(snapshot: Snapshot):
    return lambda ids: {i: list(snapshot.tasks[i]) for i in ids}


def plan(path: Path):
    return plan_import(read_sheet(path, only_edited=True), live_of(team()), host="example.test")


def value_col(rows: list[list[str]], layout: Layout, field: str = "el_name") -> int:
    header = rows[0]
    if layout is Layout.TASKS:
        return header.index("Value")
    return next(i for i, h in enumerate(header) if h.endswith(f":{field}]"))


def name_row(rows: list[list[str]], layout: Layout, run: int) -> int:
    """The row that holds run ``run``'s el_name value."""
    header = rows[0]
    run_id = f"run_{run:03d}"
    return next(
        i
        for i, row in enumerate(rows)
        if row[header.index("run_id")] == run_id
        and (layout is Layout.RUNS or row[header.index("field_id")] == "el_name")
    )


def damage_run_document(path: Path, run_id: str) -> None:
    """Make one run's base document in the sidecar unreadable (its JSON cut short)."""
    side = sidecar(path)
    lines = side.read_text(encoding="utf-8").split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith(json.dumps(run_id) + ":"))
    lines[at] = json.dumps(run_id) + ':{"title":' + ("," if lines[at].endswith(",") else "")
    side.write_text("\n".join(lines), encoding="utf-8")


@pytest.mark.parametrize("layout", [Layout.RUNS, Layout.TASKS])
def test_an_unedited_export_reads_no_row_and_plans_nothing(tmp_path, layout):
    path = exported(tmp_path, layout)
    sheet = read_sheet(path, only_edited=True)
    assert sheet.cells == () and sheet.row_problems == ()
    assert read_sheet(path).cells  # read in full, every value cell is there
    assert plan(path).changes == ()


@pytest.mark.parametrize("layout", [Layout.RUNS, Layout.TASKS])
def test_the_rows_as_exported_are_not_decoded(tmp_path, layout):
    """A row skipped is not even matched with its base: a run whose base document is
    unreadable is never parsed unless a row of it is read."""
    path = exported(tmp_path, layout)
    damage_run_document(path, "run_007")
    assert read_sheet(path, only_edited=True).cells == ()
    with pytest.raises(SheetError, match="damaged"):
        plan_import(read_sheet(path), live_of(team()), host="example.test")


@pytest.mark.parametrize("layout", [Layout.RUNS, Layout.TASKS])
def test_an_edit_far_down_is_found_and_only_its_row_is_read(tmp_path, layout):
    path = exported(tmp_path, layout)
    rows = rows_of(path)
    col = value_col(rows, layout)
    last = name_row(rows, layout, RUNS - 1)
    assert last > len(rows) - 10 and rows[last][col] == "Ana"
    rows[last][col] = "Bea"
    write_rows(path, rows, lineterminator="\r\n")
    sheet = read_sheet(path, only_edited=True)
    assert [c.ref.rpartition("!")[2][1:] for c in sheet.cells] == [str(last + 1)]  # that cell
    changes = plan(path).changes
    assert [(c.key.run_id, c.key.field, c.sheet) for c in changes] == [
        (f"run_{RUNS - 1:03d}", "el_name", "Bea")
    ]


@pytest.mark.parametrize("layout", [Layout.RUNS, Layout.TASKS])
def test_cells_retyped_by_a_spreadsheet_app_are_read_and_still_unchanged(tmp_path, layout):
    """Saved again by an app: every cell quoted, semicolons, LF, a number and a date
    spelled its way. Rows whose text is the same are still skipped; the others are read
    in full, and hold no change."""
    path = exported(tmp_path, layout)
    rows = rows_of(path)
    header = rows[0]
    band = value_col(rows, layout, "el_band")
    start = value_col(rows, layout, "el_start")
    retyped = []
    for index, row in enumerate(rows[1:]):
        row = list(row)
        if layout is Layout.RUNS and index % 2:
            row[band], row[start] = "3.0", "2026-03-04 00:00:00"
        elif layout is Layout.TASKS and row[header.index("field_id")] == "el_band" and index % 2:
            row[band] = "3.00"
        retyped.append(row)
    write_rows(path, [header, *retyped], delimiter=";", quoting=csv.QUOTE_ALL, lineterminator="\n")
    sheet = read_sheet(path, only_edited=True)
    assert sheet.cells  # the re-typed rows are read
    assert len(sheet.cells) < len(read_sheet(path).cells)  # the others are not
    assert plan(path).changes == ()


@pytest.mark.parametrize("layout", [Layout.RUNS, Layout.TASKS])
def test_a_sidecar_without_digests_is_read_in_full(tmp_path, layout):
    """As an earlier bulksync wrote it: one line, no digests; every row is read."""
    path = exported(tmp_path, layout)
    side = sidecar(path)
    document = json.loads(side.read_text(encoding="utf-8"))
    del document["digests"], document["ids"]
    side.write_text(json.dumps(document), encoding="utf-8")
    rows = rows_of(path)
    rows[name_row(rows, layout, 3)][value_col(rows, layout)] = "Bea"
    write_rows(path, rows, lineterminator="\r\n")
    sheet = read_sheet(path, only_edited=True)
    assert len(sheet.cells) == len(read_sheet(path).cells)
    assert [c.sheet for c in plan(path).changes] == ["Bea"]


def test_a_digest_rewritten_for_an_edited_row_does_not_hide_the_edit(tmp_path):
    """Someone edits a row and writes its new digest into the sidecar: the digests no
    longer match the checksum the CSV's header and the sidecar carry, so none is used."""
    path = exported(tmp_path, Layout.RUNS)
    rows = rows_of(path)
    rows[5][value_col(rows, Layout.RUNS)] = "Bea"
    write_rows(path, rows, lineterminator="\r\n")
    side = sidecar(path)
    document = json.loads(side.read_text(encoding="utf-8"))
    digests = bytearray.fromhex("".join(document["digests"]))
    digests[4 * 8 : 5 * 8] = row_digest(rows[5]) or b""
    document["digests"] = [digests.hex()]
    side.write_text(json.dumps(document), encoding="utf-8")
    assert len(read_sheet(path, only_edited=True).cells) == len(read_sheet(path).cells)
    assert [c.sheet for c in plan(path).changes] == ["Bea"]


def test_a_forged_sidecar_can_hide_an_edit_but_never_writes_a_value(tmp_path):
    """The trust model: the sidecar is bulksync's, like an xlsx's hidden sheets. Forge
    the digest, the checksum and the CSV's header to match, and the edited row reads as
    exported: its edit is left out, and nothing else changes (nothing is written over)."""
    path = exported(tmp_path, Layout.RUNS)
    rows = rows_of(path)
    col = value_col(rows, Layout.RUNS)
    rows[5][col] = "Bea"
    side = sidecar(path)
    document = json.loads(side.read_text(encoding="utf-8"))
    digests = bytearray.fromhex("".join(document["digests"]))
    digests[4 * 8 : 5 * 8] = row_digest(rows[5]) or b""
    cells = bytearray.fromhex("".join(document["cells"]))
    at = (4 * len(rows[5]) + col) * 8
    cells[at : at + 8] = row_digest(["Bea"]) or b""
    ids = bytes.fromhex("".join(document["ids"]))
    forged = checksum(bytes(digests), ids, bytes(cells), document["width"])
    document["digests"], document["cells"] = [digests.hex()], [cells.hex()]
    old, document["rows"] = document["rows"], forged
    side.write_text(json.dumps(document), encoding="utf-8")
    rows[0][-1] = rows[0][-1].replace(old, forged)
    write_rows(path, rows, lineterminator="\r\n")
    assert plan(path).changes == ()


def test_a_copy_of_an_unedited_row_is_still_a_duplicate(tmp_path):
    """The tasks layout: a row appended with the ids of a row skipped as exported. The
    file is then read in full, and both rows are reported."""
    path = exported(tmp_path, Layout.TASKS)
    rows = rows_of(path)
    col = value_col(rows, Layout.TASKS)
    copy = list(rows[10])
    copy[col] = "Bea"
    write_rows(path, [*rows, copy], lineterminator="\r\n")
    sheet = read_sheet(path, only_edited=True)
    assert [p.code for p in sheet.row_problems] == ["duplicate_ids"]
    assert plan(path).changes == ()


@pytest.mark.parametrize("layout", [Layout.RUNS, Layout.TASKS])
def test_the_sidecar_is_json_with_a_run_per_line(tmp_path, layout):
    path = exported(tmp_path, layout, runs=3)
    text = sidecar(path).read_text(encoding="utf-8")
    document = json.loads(text)
    assert list(document["runs"]) == ["run_000", "run_001", "run_002"]
    lines = text.split("\n")
    assert [line.split(":")[0] for line in lines[1:4]] == ['"run_000"', '"run_001"', '"run_002"']
    rows = len(rows_of(path)) - 1
    assert len(bytes.fromhex("".join(document["digests"]))) == rows * 8
    ids = bytes.fromhex("".join(document["ids"]))
    assert len(ids) == (rows * 8 if layout is Layout.TASKS else 0)


def test_digests_written_in_many_pieces_read_back_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_sidecar, "CHUNK", 16)
    path = exported(tmp_path, Layout.TASKS)
    document = json.loads(sidecar(path).read_text(encoding="utf-8"))
    assert len(document["digests"]) == -(-(len(rows_of(path)) - 1) // 16) > 2
    assert read_sheet(path, only_edited=True).cells == ()
    rows = rows_of(path)
    rows[name_row(rows, Layout.TASKS, RUNS - 2)][value_col(rows, Layout.TASKS)] = "Bea"
    write_rows(path, rows, lineterminator="\r\n")
    assert len(read_sheet(path, only_edited=True).cells) == 1
    assert [c.sheet for c in plan(path).changes] == ["Bea"]

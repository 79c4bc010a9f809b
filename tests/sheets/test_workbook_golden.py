"""Every sheet of an xlsx export, cell by cell, against a golden outline (issue 13).

The writer is tuned for speed; this is what holds it to writing the same workbook: on
every sheet (About, the data sheet, the lists, the hidden mirror, the metadata and base
snapshot) each cell's value, type and format (number format, font, fill, alignment,
lock, quote prefix), its comment; and each sheet's state, protection, columns, rows,
merged cells, filter, frozen panes, print setup, data validations and conditional
formats — as openpyxl reads them, so that the numbering of styles in the file, which
means nothing, may change. The snapshot is the sandbox's onboarding runs with values
that take the writer's rarer paths (a value no cell holds, a leading "=", several
lines, an 18-digit reference, a field the template no longer has) in both layouts, a
launch sheet with rows for runs to start, and a protected sheet.

After a deliberate change to the workbook, rewrite the file and review its diff:
`pytest tests/sheets/test_workbook_golden.py --update-golden`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import json
import re
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bulksync.model import Element
from bulksync.sheets import Layout, write_export
from bulksync.snapshot import Snapshot
from tests.sheets.reads import onboarding_snapshot

FIXTURES = Path(__file__).parent.parent / "fixtures"
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?")
VERSION = re.compile(r'"bulksync_version": ?"[^"]*"|bulksync \d+\.\d+\.\d+\S*')

ODD_VALUES = {
    "shortText": ["=SUM(A1:A2)", "bell \x07 inside", "+49 30 1234"],
    "longText": ["first line\nsecond line\nthird", "x" * 33_000],
    "number": [123456789012345678, 0.1],
}
"""Values that take the writer's rarer paths, given to the first fields of their kind."""


def _odd(snapshot: Snapshot) -> Snapshot:
    """Three active runs and a completed one (with a skipped task) of the snapshot, with
    ``ODD_VALUES`` in them, and a field that only the first run has (its column is n/a in
    every other run)."""
    runs = [r for r in snapshot.runs if r.status == "active"][:3]
    runs += [r for r in snapshot.runs if any(t.skipped for t in snapshot.tasks[r.id])][:1]
    snapshot = dataclasses.replace(snapshot, runs=tuple(runs))
    left = {kind: list(values) for kind, values in ODD_VALUES.items()}
    tasks = dict(snapshot.tasks)
    for number, run in enumerate(snapshot.runs):
        changed = []
        for task in tasks[run.id]:
            elements = []
            for element in task.elements:
                if left.get(element.type):
                    element = dataclasses.replace(element, value=left[element.type].pop(0))
                elements.append(element)
            if number == 0 and not changed:
                elements.append(Element("el_gone", "shortText", "Old field", "kept"))
            changed.append(dataclasses.replace(task, elements=tuple(elements)))
        tasks[run.id] = tuple(changed)
    assert not any(left.values()), "the sandbox's runs have fewer fields of a kind"
    return dataclasses.replace(snapshot, tasks=tasks)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> Snapshot:
    return _odd(onboarding_snapshot(tmp_path_factory.mktemp("sandbox")))


def _color(color: Any) -> str | None:
    return None if color is None else str(color.rgb if color.type == "rgb" else color.value)


def _cell(cell: Any) -> list[Any]:
    """value, type, number format, font (bold, italic, size, colour), fill (type,
    colour), alignment (horizontal, vertical, wrap), locked, quote prefix[, comment]."""
    font, fill, align = cell.font, cell.fill, cell.alignment
    value = cell.value
    if isinstance(value, dt.datetime):
        value = value.isoformat()
    elif isinstance(value, str):  # what varies: the export's time, bulksync's version
        value = TIMESTAMP.sub("<time>", VERSION.sub("<version>", value))
    found = [
        value,
        cell.data_type,
        cell.number_format,
        [font.b, font.i, font.sz, _color(font.color)],
        [fill.fill_type, _color(fill.fgColor)],
        [align.horizontal, align.vertical, align.wrap_text],
        cell.protection.locked,
        cell.quotePrefix,
    ]
    if cell.comment is not None:
        found.append(cell.comment.text)
    return found


def _rule(rule: Any) -> dict[str, Any]:
    dxf = rule.dxf
    return {
        "type": rule.type,
        "formula": list(rule.formula or ()),
        "stop": rule.stopIfTrue,
        "font": None if dxf is None or dxf.font is None else [dxf.font.b, _color(dxf.font.color)],
        "fill": None if dxf is None or dxf.fill is None else _color(dxf.fill.bgColor),
    }


def _sheet(sheet: Any) -> dict[str, Any]:
    protection = sheet.protection
    setup = sheet.page_setup
    return {
        "state": sheet.sheet_state,
        "protected": [protection.sheet, protection.sort, protection.autoFilter],
        "freeze": sheet.freeze_panes,
        "filter": sheet.auto_filter.ref,
        "merged": sorted(str(r) for r in sheet.merged_cells.ranges),
        "columns": {k: [d.width, d.hidden] for k, d in sorted(sheet.column_dimensions.items())},
        "rows": {k: [d.height, d.hidden] for k, d in sorted(sheet.row_dimensions.items())},
        "print": [
            setup.orientation,
            setup.fitToWidth,
            setup.fitToHeight,
            str(sheet.print_title_rows),
            str(sheet.print_title_cols),
        ],
        "validations": sorted(
            json.dumps(
                [
                    str(v.sqref),
                    v.type,
                    v.formula1,
                    v.allow_blank,
                    v.showDropDown,
                    v.promptTitle,
                    v.prompt,
                    v.errorTitle,
                    v.error,
                    v.errorStyle,
                ],
                ensure_ascii=False,
            )
            for v in sheet.data_validations.dataValidation
        ),
        "conditional": sorted(
            json.dumps([str(cf.sqref), [_rule(r) for r in cf.rules]], ensure_ascii=False)
            for cf in sheet.conditional_formatting
        ),
        "cells": {
            cell.coordinate: _cell(cell)
            for row in sheet.iter_rows()
            for cell in row
            if cell.value is not None or cell.has_style or cell.comment is not None
        },
    }


def outline(path: Path) -> str:
    """The workbook as lines of JSON: a sheet's settings, then a line per cell."""
    book = openpyxl.load_workbook(path)
    lines = []
    for sheet in book.worksheets:
        found = _sheet(sheet)
        cells = found.pop("cells")
        lines.append(json.dumps({"sheet": sheet.title, **found}, ensure_ascii=False))
        lines += [json.dumps([k, *v], ensure_ascii=False) for k, v in cells.items()]
    return "\n".join(lines) + "\n"


EXPORTS = {
    "runs_launch": {"layout": Layout.RUNS, "new_rows": 2},
    "tasks_protected": {"layout": Layout.TASKS, "protect": True},
}


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_every_sheet_of_the_workbook_is_as_the_golden_outline(name, snapshot, tmp_path, request):
    path = tmp_path / f"{name}.xlsx"
    write_export(snapshot, path, now=NOW, export_id="0123456789ab", **EXPORTS[name])
    found = outline(path)
    golden = FIXTURES / f"workbook_{name}.jsonl"
    if request.config.getoption("--update-golden"):
        golden.write_text(found, encoding="utf-8")
    expected = golden.read_text(encoding="utf-8")
    if found != expected:
        diff = difflib.unified_diff(
            expected.splitlines(), found.splitlines(), "golden", "written", lineterm="", n=1
        )
        pytest.fail("The workbook differs from its golden outline:\n" + "\n".join(list(diff)[:60]))

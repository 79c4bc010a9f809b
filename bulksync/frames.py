"""pandas DataFrames both ways: an export's values as a frame, an edited frame as the
cells of a sheet, and a plan or its result as a frame of what it found.

A frame of an export carries, in ``frame.attrs["bulksync"]``, the export file it came
from and which field each column holds; the file carries the base snapshot, so an
edited frame is planned with the same three-way diff, checks and conflict rules as the
file would be (``sheet_of_frame``). pandas keeps ``attrs`` through copies, ``loc``
assignments and most operations on the frame; a frame built anew has lost them, and is
refused with a message saying so.

pandas is imported here only: it costs half a second, which the CLI never pays.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from bulksync.codecs import ASSIGNEE, COMPLETION, CellValue
from bulksync.errors import SheetError
from bulksync.plans import ApplyResult, Change, Plan
from bulksync.sheets import Layout, Sheet, SheetCell, read_sheet
from bulksync.sheets.meta import BaseSnapshot, RunBase
from bulksync.sheets.reading import RowProblem, as_shown, context_problem, duplicate_problem
from bulksync.snapshot import FieldKey, FieldValue

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

ATTRS: Final = "bulksync"
RUN: Final = ("", "Run")
STATUS: Final = ("", "Status")
TIDY: Final = ("run_id", "task_id", "field_id", "task", "field", "type", "value")
_DTYPES: Final = {
    "checkbox": "boolean",
    COMPLETION: "boolean",
    "number": "Float64",
    "multichoice": "object",
    "date": "datetime64[s]",
}


def export_frame(path: Path, layout: Layout | str = Layout.RUNS) -> pd.DataFrame:
    """The values of the export at ``path`` as they were exported: one row per run
    (``runs``) or one row per value (``tasks``, tidy). See docs/library.md."""
    sheet = read_sheet(path, only_edited=True)  # its base and metadata are what is used
    if Layout(layout) is Layout.TASKS:
        return _tidy(sheet, path)
    return _wide(sheet, path)


def _values(base: BaseSnapshot) -> Iterator[tuple[RunBase, str, FieldValue]]:
    """(run, task title, value) of every value of the base, run by run."""
    for run_id in base.run_ids():
        run = base.run(run_id)
        if run is None:
            continue
        for key in run.keys():  # noqa: SIM118  (a RunBase is no Mapping: no __iter__)
            value = run.get(key)
            if value is not None:
                yield run, run.tasks.get(key.task_id, ("", ""))[0], value


def _wide(sheet: Sheet, path: Path) -> pd.DataFrame:
    import pandas as pd

    columns: dict[tuple[str, str], tuple[str, str, str]] = {}
    """(task title, field label) → (template task id, field, kind)"""
    taken: dict[tuple[str, str], tuple[str, str]] = {}
    rows: dict[str, dict[tuple[str, str], Any]] = {}
    for run, task_title, value in _values(sheet.base):
        spec = value.spec
        ident = (spec.template_task_id or spec.key.task_id, spec.key.field)
        column = _column_for(ident, (task_title, spec.label), taken)
        columns.setdefault(column, (*ident, spec.kind))
        row = rows.setdefault(spec.key.run_id, {RUN: run.title, STATUS: run.status})
        row[column] = value.value
    frame = pd.DataFrame.from_dict(rows, orient="index")
    ordered = [RUN, STATUS, *columns]
    frame = frame.reindex(columns=pd.MultiIndex.from_tuples(ordered, names=["task", "field"]))
    frame.index.name = "run_id"
    frame[RUN] = frame[RUN].astype("string")
    frame[STATUS] = frame[STATUS].astype("string")
    for column, (_, _, kind) in columns.items():
        frame[column] = _typed(frame[column], kind)
    frame.attrs[ATTRS] = {
        "path": str(path),
        "export_id": sheet.meta.export_id,
        "layout": Layout.RUNS.value,
        "columns": {column: ident[:2] for column, ident in columns.items()},
    }
    return frame


def _column_for(
    ident: tuple[str, str], title: tuple[str, str], taken: dict[tuple[str, str], tuple[str, str]]
) -> tuple[str, str]:
    """The column of a field: its task's title and its label, numbered when two fields
    share both (two tasks of one title)."""
    column, n = title, 1
    while taken.setdefault(column, ident) != ident:
        n += 1
        column = (f"{title[0]} ({n})", title[1])
    return column


def _typed(values: pd.Series, kind: str) -> pd.Series:
    import numpy as np
    import pandas as pd

    dtype = _DTYPES.get(kind, "string")
    values = values.astype(object).where(values.notna(), None)
    if dtype == "object":
        return values.map(lambda v: list(v) if isinstance(v, list | tuple) else [])
    if dtype.startswith("datetime"):
        days = [_day(v) for v in values]
        return pd.Series(np.array(days, dtype="datetime64[D]").astype(dtype), index=values.index)
    if dtype == "Float64":
        return pd.to_numeric(values, errors="coerce").astype("Float64")
    if dtype == "boolean":
        return values.map(lambda v: None if v is None else bool(v)).astype("boolean")
    return values.map(lambda v: None if v is None or v == "" else str(v)).astype("string")


def _day(value: object) -> np.datetime64:
    """A date as NextStep holds it (``YYYY-MM-DD``), at day resolution: any year fits,
    where pandas' default nanoseconds end in 2262."""
    import numpy as np

    if not value:
        return np.datetime64("NaT", "D")
    try:
        return np.datetime64(str(value)[:10], "D")
    except ValueError:
        return np.datetime64("NaT", "D")


def _tidy(sheet: Sheet, path: Path) -> pd.DataFrame:
    import pandas as pd

    records = [
        (
            value.spec.key.run_id,
            value.spec.key.task_id,
            value.spec.key.field,
            task_title,
            value.spec.label,
            value.spec.kind,
            value.value,
        )
        for _, task_title, value in _values(sheet.base)
    ]
    frame = pd.DataFrame.from_records(records, columns=list(TIDY))
    for name in TIDY[:-1]:
        frame[name] = frame[name].astype("string")
    frame.attrs[ATTRS] = {
        "path": str(path),
        "export_id": sheet.meta.export_id,
        "layout": Layout.TASKS.value,
    }
    return frame


# -- an edited frame, planned as the sheet it came from ---------------------------------------


def origin(frame: pd.DataFrame) -> Path:
    """The export file a frame of ``export_frame`` came from."""
    found = frame.attrs.get(ATTRS)
    if not isinstance(found, Mapping) or "path" not in found:
        raise SheetError(
            "This DataFrame does not say which export it came from (pandas keeps that in "
            "frame.attrs through copies and edits, but a frame built anew, or by merge "
            "or concat, loses it): edit the frame that Export.frame() gave, in place or "
            "by copy, and plan that one."
        )
    return Path(found["path"])


def sheet_of_frame(frame: pd.DataFrame) -> Sheet:
    """The sheet an edited frame stands for: the export file's metadata and base
    snapshot, and the frame's values as its cells (each named by the frame's row and
    column, where an error points). Rows the file would have as errors (a run twice, a
    run's title or status edited, a value typed where the run has no such field) are
    the sheet's row problems: errors of the plan."""
    if not hasattr(frame, "iterrows") or not hasattr(frame, "columns"):
        raise SheetError(
            f"bulksync.plan takes an edited file or the edited DataFrame of "
            f"Export.frame(), not a {type(frame).__name__}: edit the column in the "
            "frame it came from (frame.loc[rows, (task, field)] = …) and plan the frame."
        )
    path = origin(frame)
    info = frame.attrs[ATTRS]
    sheet = read_sheet(path, only_edited=True)  # its base and metadata: the cells are the frame's
    if info.get("export_id") and sheet.meta.export_id != info["export_id"]:
        raise SheetError(
            f"{path} was written again by another export since this frame was made, so "
            "it no longer holds this frame's base snapshot, and values changed in "
            "NextStep since would look like your edits. Export again and redo the edit "
            "there (export to a path of its own, or path=None, to keep a frame's file)."
        )
    found = Found()
    if info.get("layout") == Layout.TASKS.value:
        _tidy_cells(frame, sheet, found)
    else:
        _wide_cells(frame, sheet, info.get("columns", {}), found)
    return Sheet(
        path=str(path),
        meta=sheet.meta,
        base=sheet.base,
        cells=tuple(found.cells),
        row_problems=tuple(found.problems),
        has_base=sheet.has_base,
    )


@dataclass
class Found:
    cells: list[SheetCell] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


def _wide_cells(
    frame: pd.DataFrame,
    sheet: Sheet,
    columns: Mapping[tuple[str, str], tuple[str, str]],
    found: Found,
) -> None:
    present = [c for c in columns if c in frame.columns]
    if not present:
        raise SheetError(
            "The frame has none of its export's columns (task title, field label): plan "
            "the whole frame Export.frame() gave, with its two levels of column names, "
            "not a part of it (frame[task]) or a reshaped one (swaplevel, droplevel)."
        )
    seen: set[str] = set()
    for run_id, row in frame.iterrows():
        run_id = str(run_id)
        run = sheet.base.run(run_id)
        if run is None:
            raise SheetError(
                f"The frame's row {run_id!r} is no run of the export it came from: only "
                "the runs exported can be edited (runs are started from a launch sheet)."
            )
        if run_id in seen:
            found.problems.append(
                duplicate_problem(
                    f"row {run_id} (again)", f"Run {run_id} is in two rows", None, run_id
                )
            )
            continue
        seen.add(run_id)
        _context(row, run_id, RUN, run.title, found)
        _context(row, run_id, STATUS, run.status, found)
        for column in present:
            template_task_id, field_id = columns[column]
            task_id = run.task_of.get(template_task_id, template_task_id)
            key = FieldKey(run_id, task_id, field_id)
            value = cell_value(row[column])
            if key in run:
                found.cells.append(SheetCell(key, _where(run_id, column), value))
            elif value is not None:
                found.problems.append(
                    RowProblem(
                        _where(run_id, column),
                        "not_applicable",
                        f"Run {run_id} has no such field (it was made from another "
                        "version of the template); leave it empty (<NA>).",
                        FieldKey(run_id, "", field_id),
                        as_shown(value),
                    )
                )


def _context(
    row: pd.Series, run_id: str, column: tuple[str, str], expected: str, found: Found
) -> None:
    """A run's title or status in the frame: an import writes neither."""
    if column not in row.index:
        return
    shown = cell_value(row[column])
    if as_shown(shown) != as_shown(expected):
        found.problems.append(
            context_problem(_where(run_id, column), column[1], expected, as_shown(shown), None)
        )


def _tidy_cells(frame: pd.DataFrame, sheet: Sheet, found: Found) -> None:
    missing = [c for c in ("run_id", "task_id", "field_id", "value") if c not in frame.columns]
    if missing:
        raise SheetError(f"The frame has no column {missing[0]!r}; put it back.")
    seen: set[FieldKey] = set()
    for index, run_id, task_id, field_id, value in zip(
        frame.index,
        frame["run_id"],
        frame["task_id"],
        frame["field_id"],
        frame["value"],
        strict=True,
    ):
        key = FieldKey(str(run_id), str(task_id), str(field_id))
        if key not in sheet.base:
            raise SheetError(
                f"The frame's row {index!r} names a value the export does not have "
                f"(run {run_id}, task {task_id}, field {field_id}): put back its ids."
            )
        where = f"row {index!r}, column 'value'"
        if key in seen:
            found.problems.append(
                duplicate_problem(where, "The frame has this value in two rows", key, value)
            )
            continue
        seen.add(key)
        found.cells.append(SheetCell(key, where, cell_value(value)))


def _where(run_id: object, column: tuple[str, str]) -> str:
    return f"row {run_id!s}, column {column[0]} / {column[1]}"


def cell_value(value: object) -> CellValue:
    """A frame's value as a spreadsheet cell would hold it: empty for NA, NaN and NaT;
    a date for a timestamp at midnight; a multichoice list's items joined by "; "."""
    if value is None:
        return None
    if getattr(value, "ndim", 0) >= 1 and hasattr(value, "tolist"):
        value = value.tolist()  # a numpy array, a pandas array or Series of items
    if isinstance(value, list | tuple | set | frozenset):
        return "; ".join(str(v) for v in value) if value else None
    if _missing(value):
        return None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value.date() if value.time() == dt.time() else value
    if isinstance(value, bool | int | float | str | dt.date):
        return value
    if hasattr(value, "item"):  # a numpy scalar
        item = value.item()
        return item if isinstance(item, bool | int | float | str) else str(item)
    return str(value)


def _missing(value: object) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return isinstance(value, float) and math.isnan(value)


# -- what a plan found, and what came of it ---------------------------------------------------


PLAN_COLUMNS: Final = (
    "kind", "cell", "run_id", "task_id", "field", "label", "base", "live", "sheet", "code",
    "message",
)  # fmt: skip


def plan_frame(plan: Plan) -> pd.DataFrame:
    """One row per change, value done already, conflict, error and warning."""
    import pandas as pd

    rows: list[tuple[Any, ...]] = []
    for kind, changes in (
        ("change", plan.changes),
        ("already_done", plan.already_done),
        ("conflict", plan.conflicts),
    ):
        rows.extend((kind, *_change_row(c), "", "") for c in changes)
    for issue in (*plan.errors, *plan.warnings):
        key = issue.key
        rows.append(
            (
                issue.severity.value,
                issue.cell,
                key.run_id if key else None,
                key.task_id if key else None,
                key.field if key else None,
                issue.label,
                None,
                None,
                issue.value,
                issue.code.value,
                issue.message,
            )
        )
    return pd.DataFrame.from_records(rows, columns=list(PLAN_COLUMNS))


def _change_row(change: Change) -> tuple[Any, ...]:
    key = change.key
    label = change.label or {COMPLETION: "Completed", ASSIGNEE: "Assignee"}.get(key.field, "")
    return (
        change.cell, key.run_id, key.task_id, key.field, label, change.base, change.live,
        change.sheet,
    )  # fmt: skip


RESULT_COLUMNS: Final = (
    "cell", "run_id", "task_id", "field", "label", "sent", "result", "stored", "message",
)  # fmt: skip


def result_frame(result: ApplyResult) -> pd.DataFrame:
    """One row per value the apply sent or left (conflicts), and per run to start."""
    import pandas as pd

    rows: list[tuple[Any, ...]] = [
        (
            v.change.cell,
            v.change.key.run_id,
            v.change.key.task_id,
            v.change.key.field,
            v.change.label,
            v.change.sheet,
            v.result.value,
            v.stored if v.stored_known else None,
            v.message,
        )
        for v in result.results
    ]
    rows.extend(
        (
            s.start.cell,
            s.run_id,
            None,
            "start",
            s.start.title,
            None,
            s.result.value,
            None,
            s.message,
        )
        for s in result.starts
    )
    return pd.DataFrame.from_records(rows, columns=list(RESULT_COLUMNS))

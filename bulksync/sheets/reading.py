"""What a sheet holds once read: its metadata, base snapshot and cells by field.

The readers of both formats hand their rows to ``task_cells`` (``sheets.tasks_read``)
or ``run_cells`` (``sheets.runs_read``), which match each value cell to its field by
the row's ids (never by position or label) and report every row that cannot be used:
no ids, ids the export does not know, the same ids twice, a context cell (run, task,
field label …) that no longer shows what was exported. This module holds what both
share: the ``Sheet`` they make and the problems they report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from bulksync.codecs import CellValue, garbled, lost_characters, nfc, text_of
from bulksync.sheets.meta import BaseSnapshot, ExportMeta
from bulksync.snapshot import FieldKey, FieldValue


class SheetCell(NamedTuple):
    """One value cell as the file holds it, with where it is (a named tuple: one is made
    per value cell read)."""

    key: FieldKey
    ref: str
    """Where the cell is, as a person finds it: ``Fields!H14`` or ``file.csv!H14``."""
    raw: CellValue
    template_task_id: str | None = None
    """Set only when reading without a base snapshot: the runs layout's column names a
    template task, and which task of the run that is becomes known from live state."""
    base: FieldValue | None = None
    """The field as exported (its spec and value), where the reader found the cell in
    the base snapshot: what checking the cell compares with, without looking it up in
    the base snapshot again (which may have let go of the run's parsed document)."""


class NewRow(NamedTuple):
    """A row of the runs layout without a run id, with something in it: a run to start.

    Its cells are read as they are; checking them is ``bulksync.launch_plan``'s."""

    number: int
    """The row's number in the sheet (1-based)."""
    context: Mapping[str, tuple[str, CellValue]]
    """The run's own cells by column key (``run``: the title, ``due_date``,
    ``started_by``): where each is, and what it holds."""
    cells: tuple[SheetCell, ...]
    """The value cells that hold something; each names its template task
    (``template_task_id``) and field (``key.field``), with no run or task id."""
    row_key: str = ""
    """The xlsx row's hidden key (its number at export, which moves with it when the
    rows are sorted); "" in a CSV and in a row appended below the exported ones."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A cell that cannot be imported as it stands: ids edited, missing, unknown, twice."""

    ref: str
    code: str
    message: str
    key: FieldKey | None = None
    value: str | None = None


@dataclass(frozen=True, slots=True)
class Special:
    """A cell that holds no plain value: a formula (with its cached value) or an error;
    or a number the reader rounded."""

    code: str
    """``formula``, ``error_value``, ``formula_text`` (a CSV cell that starts with
    ``=``) or ``inexact_number`` (an xlsx number cell saved with digits no float holds)"""
    text: str
    """The formula or the error as the spreadsheet shows it (``=A1*2``, ``#N/A``); the
    number's digits as saved."""
    cached: bool = False
    """A formula whose last computed value was saved with the file."""
    formula: str = ""
    """The formula's source (``=Unassigned``), also of an error cell a formula computed:
    a text that starts with ``=`` and that a script wrote as a formula (pandas) shows
    the exported value there, whatever it computes to."""


@dataclass(frozen=True)
class Sheet:
    """A bulksync sheet as read from a file."""

    path: str
    meta: ExportMeta
    base: BaseSnapshot
    cells: tuple[SheetCell, ...]
    """The value cells; read with ``only_edited``, only those that may hold an edit."""
    row_problems: tuple[RowProblem, ...] = field(default=())
    special: Mapping[str, Special] = field(default_factory=dict)
    """Formula and error cells by ref."""
    has_base: bool = True
    new_rows: tuple[NewRow, ...] = ()
    """Rows of the runs layout without a run id: runs to start (see ``NewRow``)."""
    text_cells: bool = False
    """Every cell is text as a program saved it (a CSV): a number there is spelled as
    that program wrote it (``296``, ``9.87654321012346E+17``)."""

    def raw(self, cell: SheetCell) -> CellValue:
        """What the cell holds: its value as read, but a number cell saved with digits no
        float holds (``9007199254740993``) as those digits, which the reader rounded."""
        special = self.special.get(cell.ref)
        raw = cell.raw
        if (
            special is not None
            and special.code == "inexact_number"
            and isinstance(raw, int | float)
            and not isinstance(raw, bool)
        ):
            return special.text
        return raw


CellAt = Callable[[Sequence[Any], int], CellValue]
"""Reads the cell at a column of a row as bulksync sees it (None when empty)."""

_CONTEXT_FIX: Final = (
    "Context cells are not imported; put back what the export showed, or export again."
)
_IDS_FIX: Final = (
    "Context cells are not imported, and the row's hidden ids (run_id, task_id, field_id) "
    "say which value it holds: put back what the export showed in both, or export again."
)


def as_shown(raw: CellValue) -> str:
    """A context or id cell as compared with the export: its text, trimmed, in NFC."""
    return nfc(text_of(raw).strip())


def garbled_message(exported: str) -> str:
    """The error of a cell whose exported text a wrong character set garbled."""
    return (
        f"This is {exported!r} garbled: the file was opened as Latin-1 or Windows-1252 "
        "instead of UTF-8 and saved again. Open the exported CSV again choosing UTF-8, "
        "redo the edits, and save it as UTF-8."
    )


def lost_message(exported: str) -> str:
    """The error of a cell whose characters a legacy character set could not hold."""
    return (
        f"This is {exported!r} with the characters the file's character set cannot hold "
        "written as '?': the CSV was saved as Windows-1252 or another legacy character "
        "set. Save it again as UTF-8 (in LibreOffice: Save As, Edit filter settings, "
        "Character set: Unicode (UTF-8)) from the exported file, and redo the edits."
    )


def context_problem(
    ref: str, name: str, expected: str, shown: str, key: FieldKey | None, *, ids: bool = False
) -> RowProblem:
    """A context cell that differs from the export; ``ids``: or the row's ids were edited;
    or its text garbled by a wrong character set (``mojibake``)."""
    if garbled(shown, as_shown(expected)):
        return RowProblem(ref, "mojibake", garbled_message(expected), key, shown)
    if lost_characters(shown, as_shown(expected)):
        return RowProblem(ref, "mojibake", lost_message(expected), key, shown)
    if ids:
        message = f"This {name} cell was {expected!r} at export for this row's ids. {_IDS_FIX}"
    else:
        message = f"This {name} cell was {expected!r} at export. {_CONTEXT_FIX}"
    return RowProblem(ref, "context_edited", message, key, shown)


def ignored_column(ref: str, col: int, title: str) -> RowProblem:
    """A column bulksync did not write (a person's notes): said, and not read."""
    return RowProblem(
        ref,
        "column_ignored",
        f"The column {col_name(col)}, {title!r}, is not one bulksync wrote, and is "
        "ignored: nothing in it is imported.",
        value=title,
    )


def missing_problem(count: int, noun: str) -> RowProblem:
    """Rows of the export that the sheet no longer has (deleted): said, left alone."""
    plural = noun if count == 1 else f"{noun}s"
    return RowProblem(
        "",
        "rows_missing",
        f"{count:,} {plural} of the export are not in the sheet and are left alone (their "
        "rows were deleted): nothing is sent for them.",
        value=str(count),
    )


def duplicate_problem(ref: str, where: str, key: FieldKey | None, value: CellValue) -> RowProblem:
    return RowProblem(
        ref, "duplicate_ids", f"{where}; keep one of the two rows.", key, as_shown(value)
    )


def col_name(index: int) -> str:
    """The spreadsheet letters of a 0-based column index (0 → A, 27 → AB)."""
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


def columns_differing(row: Sequence[Any], exported: Sequence[Any]) -> set[int] | None:
    """The columns where ``row`` differs from its ``exported`` row, or None if that
    cannot be told cell by cell (rows of different lengths). A row that can tell it
    cheaper (a streamed xlsx row, from its cells' bytes) is asked to."""
    cheaper = getattr(row, "columns_differing", None)
    if cheaper is not None and type(row) is type(exported):
        found: set[int] | None = cheaper(exported)
        return found
    if len(row) != len(exported):
        return None
    return {i for i, (now, was) in enumerate(zip(row, exported, strict=True)) if now != was}

"""Your own workbook, marked up: what a dry run (or an apply) found, as fills and comments
on a copy of the edited xlsx.

``annotate_workbook(path, plan, result)`` writes ``NAME.checked.xlsx`` beside ``NAME.xlsx``:
the same workbook, every sheet, value, format, validation and hidden sheet as it was,
except that the cells the import has something to say about are filled and carry a
comment (author "bulksync"):

- red: an error (the message says what is wrong and how to fix it), and after an apply
  a value NextStep refused or a run that could not be started;
- amber: a conflict (the comment shows the value NextStep holds now), a warning, and
  after an apply a value not sent;
- green: a change, and after an apply a value applied (or a run started).

A person fixes the red cells in the checked copy and imports that file: it carries the
hidden base snapshot and mirror of the original, so it imports exactly as the original
would. The edited file itself is never written to.

openpyxl edits an existing workbook in place, keeping what it does not touch; the export
writes with xlsxwriter (faster, but it cannot open a workbook) and the import reads with
calamine (faster, read-only). docs/library.md says why each is used where it is.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Final

from bulksync.errors import SheetError, StorageError
from bulksync.issues import Issue
from bulksync.launch import StartResultKind
from bulksync.model import JSON
from bulksync.plans import ApplyResult, Change, Plan, Result, describe

if TYPE_CHECKING:
    from openpyxl.formatting.formatting import ConditionalFormatting
    from openpyxl.workbook.workbook import Workbook
    from openpyxl.worksheet.worksheet import Worksheet


class Mark(StrEnum):
    """A cell's mark, from the most to the least urgent."""

    ERROR = "error"
    CONFLICT = "conflict"
    WARNING = "warning"
    CHANGE = "change"


FILLS: Final = {
    Mark.ERROR: "FFC7CE",  # the red, amber and green of spreadsheet apps' "bad",
    Mark.CONFLICT: "FFEB9C",  # "neutral" and "good" cell styles: a person knows them
    Mark.WARNING: "FFEB9C",
    Mark.CHANGE: "C6EFCE",
}
AUTHOR: Final = "bulksync"
SUFFIX: Final = ".checked.xlsx"
_CELL: Final = re.compile(r"\$?[A-Z]{1,3}\$?[1-9][0-9]{0,6}")
_OURS: Final = "\n\n— bulksync: "
"""Between a person's own comment and ours, in one cell's comment."""
_URGENCY: Final = list(Mark)


@dataclass(frozen=True, slots=True)
class CellMark:
    """One cell's mark and the comment that explains it."""

    sheet: str
    ref: str
    mark: Mark
    note: str


@dataclass(frozen=True, slots=True)
class Annotated:
    """The marked copy, and how many cells got each mark."""

    path: Path
    counts: dict[Mark, int]
    unplaced: int = 0
    """Findings that name no cell of the workbook (about the whole sheet): the reports
    list them."""


def checked_path(path: Path) -> Path:
    """``onboarding.xlsx`` → ``onboarding.checked.xlsx``; a checked copy annotated again
    (once its red cells are fixed) → ``onboarding.checked.checked.xlsx``, since the file
    being imported is never written to."""
    return path.with_name(path.stem + SUFFIX)


def cell_marks(plan: Plan, result: ApplyResult | None = None) -> list[CellMark]:
    """Every cell the plan (or, after an apply, its result) has something to say about,
    one mark per cell: the most urgent wins, and the notes of a cell are joined."""
    found = [*_plan_marks(plan)] if result is None else [*_result_marks(plan, result)]
    by_cell: dict[tuple[str, str], list[CellMark]] = {}
    for mark in found:
        by_cell.setdefault((mark.sheet, mark.ref), []).append(mark)
    merged = []
    for (sheet, ref), marks in by_cell.items():
        marks.sort(key=lambda m: _URGENCY.index(m.mark))
        notes = dict.fromkeys(m.note for m in marks)  # in order, each once
        merged.append(CellMark(sheet, ref, marks[0].mark, "\n\n".join(notes)))
    return merged


def annotate_workbook(
    path: Path, plan: Plan, result: ApplyResult | None = None, *, out: Path | None = None
) -> Annotated:
    """Write the marked copy of the workbook at ``path`` (see the module's docstring) to
    ``out`` (default: ``checked_path(path)``). Raises ``SheetError`` for a file that is
    not an xlsx workbook, ``StorageError`` when the copy cannot be written."""
    out = out or checked_path(path)
    if path.suffix.lower() != ".xlsx":
        raise SheetError(
            f"{path.name}: --annotate marks up an .xlsx workbook; a CSV file has no fills "
            "or comments. The dry run's report lists every cell instead (--html for a page)."
        )
    if out.resolve() == path.resolve():
        raise SheetError(f"{path.name}: the marked copy would overwrite the file itself.")
    marks = cell_marks(plan, result)
    if marks and not any(_CELL.fullmatch(m.ref) for m in marks):
        raise SheetError(
            f"None of this plan's findings is at a cell of {path.name} (the plan of a "
            "DataFrame names frame rows and columns): annotate the plan of the file "
            "itself, bulksync.plan(client, path)."
        )
    book = _load(path)
    _prepare(book)
    counts: Counter[Mark] = Counter()
    unplaced = 0
    ranges: dict[str, dict[Mark, list[str]]] = {}
    for mark in marks:
        if mark.sheet not in book.sheetnames or not _CELL.fullmatch(mark.ref):
            unplaced += 1
            continue
        _mark_cell(book[mark.sheet], mark)
        ranges.setdefault(mark.sheet, {}).setdefault(mark.mark, []).append(mark.ref)
        counts[mark.mark] += 1
    for name, by_mark in ranges.items():
        _put_first(book[name], by_mark)
    unplaced += sum(1 for issue in (*plan.errors, *plan.warnings) if not issue.cell)
    _save(book, out)
    return Annotated(out, dict(counts), unplaced)


# -- what to mark ----------------------------------------------------------------------------


def _plan_marks(plan: Plan) -> Iterator[CellMark]:
    for issue in plan.errors:
        yield from _issue_mark(issue, Mark.ERROR)
    for change in plan.conflicts:
        yield _at(change.cell, Mark.CONFLICT, _conflict_note(change))
    for issue in plan.warnings:
        yield from _issue_mark(issue, Mark.WARNING)
    for change in plan.changes:
        yield _at(change.cell, Mark.CHANGE, _change_note(change))
    for start in plan.creates:
        if start.note:
            yield _at(start.cell, Mark.CONFLICT, start.note)
        elif start.written and not start.run_id:
            yield _at(start.cell, Mark.CHANGE, f"Starts the run {start.title!r}.")


def _result_marks(plan: Plan, result: ApplyResult) -> Iterator[CellMark]:
    for issue in plan.errors:
        yield from _issue_mark(issue, Mark.ERROR)
    for issue in plan.warnings:
        yield from _issue_mark(issue, Mark.WARNING)
    for value in result.results:
        change = value.change
        if value.result is Result.APPLIED:
            yield _at(change.cell, Mark.CHANGE, f"Applied: {_shown(change.sheet)}.")
        elif value.result is Result.ALREADY_DONE:
            yield _at(change.cell, Mark.CHANGE, "NextStep held this value already.")
        elif value.result is Result.CONFLICT:
            yield _at(change.cell, Mark.CONFLICT, _conflict_note(change, value.message))
        elif value.result is Result.FAILED:
            yield _at(change.cell, Mark.ERROR, f"Refused: {value.message}")
        else:
            yield _at(change.cell, Mark.WARNING, f"Not sent: {value.message}")
    for start in result.starts:
        kind = start.result
        if kind in (StartResultKind.STARTED, StartResultKind.ADOPTED):
            yield _at(start.start.cell, Mark.CHANGE, f"Run started: {start.run_id}.")
        elif kind is StartResultKind.ALREADY_STARTED:
            yield _at(start.start.cell, Mark.CHANGE, f"Started before: {start.run_id}.")
        elif kind is StartResultKind.FAILED:
            yield _at(start.start.cell, Mark.ERROR, f"Not started: {start.message}")
        else:
            yield _at(start.start.cell, Mark.CONFLICT, f"Not started: {start.message}")


def _issue_mark(issue: Issue, mark: Mark) -> Iterable[CellMark]:
    return [_at(issue.cell, mark, issue.message)] if issue.cell else []


def _at(cell: str, mark: Mark, note: str) -> CellMark:
    sheet, _, ref = cell.rpartition("!")
    return CellMark(sheet.strip("'"), ref, mark, note)


def _shown(value: JSON) -> str:
    text = describe(value)
    return text if text == "(empty)" else f"'{text}'"  # as typed: line breaks and all


def _change_note(change: Change) -> str:
    return f"Changes {_shown(change.base)} to {_shown(change.sheet)}."


def _conflict_note(change: Change, message: str = "") -> str:
    return (
        f"Conflict: changed in NextStep since the export, from {_shown(change.base)} to "
        f"{_shown(change.live)}; yours is {_shown(change.sheet)}. "
        + (
            message
            or "Not written: put NextStep's value back here to drop your edit, or "
            "import with --on-conflict mine to write yours."
        )
    )


# -- the workbook ----------------------------------------------------------------------------


def _load(path: Path) -> Workbook:
    import zipfile

    import openpyxl  # only here: a second of import time the other commands don't need

    try:
        return openpyxl.load_workbook(path, rich_text=True)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise SheetError(f"{path.name}: cannot open the workbook to mark it up ({exc}).") from exc


_BOOLEAN_FORMULAS: Final = {"=TRUE()": True, "=FALSE()": False}


def _prepare(book: Workbook) -> None:
    """One pass over every cell before marking:

    - LibreOffice saves a TRUE or FALSE cell as the formula ``TRUE()`` with its value,
      and openpyxl writes a formula without its saved value, so a tick would read as
      empty in the copy: such a cell is written as the value it is;
    - the marks of an earlier annotation (a checked copy annotated again) come off: its
      comments, or its part of a person's comment, and its conditional formats."""
    from openpyxl.comments import Comment

    for sheet in book:
        _drop_marks(sheet)
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f" and isinstance(cell.value, str):
                    value = _BOOLEAN_FORMULAS.get(cell.value.replace(" ", "").upper())
                    if value is not None:
                        cell.value = value
                comment = cell.comment
                if comment is None:
                    continue
                theirs, ours, _ = comment.text.partition(_OURS)
                if comment.author == AUTHOR:
                    cell.comment = None
                elif ours:
                    cell.comment = Comment(theirs, comment.author)


def _drop_marks(sheet: Worksheet) -> None:
    """The sheet's conditional formats without an earlier annotation's."""
    from openpyxl.formatting.formatting import ConditionalFormattingList

    kept = ConditionalFormattingList()
    for existing in sheet.conditional_formatting:
        if not _is_mark(existing):
            for rule in existing.rules:
                kept.add(str(existing.sqref), rule)
    sheet.conditional_formatting = kept


def _mark_cell(sheet: Worksheet, mark: CellMark) -> None:
    """The cell's comment (its colour is a conditional format: ``_put_first``)."""
    from openpyxl.comments import Comment

    cell = sheet[mark.ref]
    text, author = mark.note, AUTHOR
    if cell.comment is not None:  # the person's own, kept (a mark of ours is gone already)
        text, author = f"{cell.comment.text}{_OURS}{mark.note}", cell.comment.author
    lines = sum(1 + len(line) // 40 for line in text.splitlines())
    cell.comment = Comment(text, author, height=min(400, 20 + 15 * lines), width=320)


def _put_first(sheet: Worksheet, by_mark: dict[Mark, list[str]]) -> None:
    """The export's conditional format shows an edited cell in its own colours, and a
    conditional format wins over a cell's fill: the marks go in as conditional formats
    too, ahead of the workbook's own (which keep their order after them), and stop
    there, so a marked cell shows its mark in every app."""
    from openpyxl.formatting.formatting import ConditionalFormattingList
    from openpyxl.formatting.rule import FormulaRule
    from openpyxl.styles import PatternFill

    theirs = list(sheet.conditional_formatting)  # an earlier annotation's are gone
    ours = ConditionalFormattingList()
    for mark, refs in sorted(by_mark.items(), key=lambda item: _URGENCY.index(item[0])):
        color = "FF" + FILLS[mark]
        fill = PatternFill(fill_type="solid", start_color=color, end_color=color, bgColor=color)
        rule = FormulaRule(formula=["TRUE"], fill=fill, stopIfTrue=True)
        ours.add(" ".join(refs), rule)
        rule.priority = _URGENCY.index(mark) + 1
    for existing in theirs:  # after ours, in their order
        for rule in existing.rules:
            rule.priority = (rule.priority or 0) + len(Mark)
            ours.add(str(existing.sqref), rule)
    sheet.conditional_formatting = ours


def _is_mark(formats: ConditionalFormatting) -> bool:
    """A conditional format of an earlier annotation."""
    return all(r.formula == ["TRUE"] and r.stopIfTrue for r in formats.rules)


def _save(book: Workbook, out: Path) -> None:
    """Write through a temporary file beside ``out``, so a failed write leaves no half
    a workbook."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".~", suffix=".xlsx", dir=out.parent)
        os.close(fd)
        try:
            book.save(tmp)
            os.replace(tmp, out)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot write {out}: {exc.strerror or exc}.") from exc

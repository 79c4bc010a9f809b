"""Reading the cells of an edited sheet: decoded, compared with their base, checked.

``edits`` (with a base snapshot) and ``edits_without_base`` (live state is the base)
return the cells whose value differs from their base, the issues found on the way, and
how many values are unchanged. Nothing here reads NextStep or changes its arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Final, NamedTuple

from bulksync.codecs import (
    CellError,
    CellValue,
    Codec,
    codec_for,
    garbled,
    lost_characters,
    text_of,
)
from bulksync.issues import (
    LOCKED_AT_EXPORT,
    MOJIBAKE_FILE,
    UNMATCHED,
    WARNINGS,
    Issue,
    IssueCode,
    Severity,
)
from bulksync.model import JSON, Task
from bulksync.plans import ImportOptions
from bulksync.sheets.meta import UNHOLDABLE
from bulksync.sheets.reading import Sheet, SheetCell, Special, garbled_message, lost_message
from bulksync.snapshot import FieldKey, FieldSpec, FieldValue, live_field


class Edit(NamedTuple):
    """A cell whose decoded value differs from its base."""

    cell: SheetCell
    base: FieldValue
    value: JSON


class Edits(NamedTuple):
    edits: list[Edit]
    issues: list[Issue]
    unchanged: int


def file_issues(issues: Sequence[Issue]) -> list[Issue]:
    """What the cells' issues say of the whole file: a CSV decoded with the wrong
    character set (cells garbled: ``mojibake``) gets one error that says what to do."""
    garbled_cells = [i.cell for i in issues if i.code is IssueCode.MOJIBAKE and i.cell]
    if not garbled_cells:
        return []
    more = f" and {len(garbled_cells) - 3:,} more" if len(garbled_cells) > 3 else ""
    return [
        Issue.of(
            IssueCode.MOJIBAKE,
            template=MOJIBAKE_FILE,
            count=f"{len(garbled_cells):,} cell" + ("" if len(garbled_cells) == 1 else "s"),
            cells=", ".join(garbled_cells[:3]) + more,
        )
    ]


def row_issues(sheet: Sheet) -> list[Issue]:
    """The sheet's row problems (ids edited, missing, unknown, twice) as errors; what
    the sheet left out or added (rows deleted, a column of one's own) as warnings."""
    issues = []
    for p in sheet.row_problems:
        code = IssueCode(p.code)
        severity = Severity.WARNING if code in WARNINGS else Severity.ERROR
        issues.append(Issue(severity, code, p.message, p.ref or None, p.key, p.value))
    return issues


_FORMULA_FIX: Final = {
    "cached": "bulksync imports values, not formulas: type the value, or give "
    "--accept-formulas to import the result the spreadsheet saved.",
    "formula_text": "a spreadsheet would run it as a formula. To import it as text, start "
    "the cell with an apostrophe: '=…",
    "uncached": "it has no saved result: open the file in a spreadsheet app and save it, "
    "or type the value.",
}


def _special_issue(
    cell: SheetCell, sheet: Sheet, options: ImportOptions
) -> tuple[Issue | None, CellValue]:
    """An error for a formula or error cell, or the cell's value to use."""
    special = sheet.special.get(cell.ref)
    if special is None:
        return None, cell.raw
    if special.code == "inexact_number":
        # Decoded from its digits, the number is refused as when typed as text.
        return None, sheet.raw(cell)
    if special.code == "error_value":
        issue = Issue.of(IssueCode.ERROR_VALUE, cell.ref, cell.key, special.text, text=special.text)
        return issue, None
    if special.code == "formula" and special.cached and options.accept_formulas:
        return None, cell.raw
    if special.code == "formula" and special.cached:
        fix = _FORMULA_FIX["cached"]
    elif special.code == "formula_text":
        fix = _FORMULA_FIX["formula_text"]
    else:
        fix = _FORMULA_FIX["uncached"]
    issue = Issue.of(
        IssueCode.FORMULA, cell.ref, cell.key, special.text, text=special.text, fix=fix
    )
    return issue, None


class Read(StrEnum):
    SAME = "same"
    EDITED = "edited"
    INVALID = "invalid"


READ_AS_MISSING: Final = frozenset(
    {"N/A", "n/a", "NA", "<NA>", "#NA", "#N/A", "#N/A N/A", "NULL", "null", "NaN", "nan"}
    | {"-NaN", "-nan", "None", "1.#IND", "-1.#IND", "1.#QNAN", "-1.#QNAN"}
)
"""Texts pandas' read_csv takes for a missing value (its default ``na_values``) and
to_csv writes back as an empty cell."""


def _missing_message(exported: str) -> str:
    return (
        f"This cell was {exported!r} at export and is empty now: a pandas script's "
        f"read_csv reads {exported!r} as a missing value and writes it back empty "
        "(read_csv(..., keep_default_na=False) keeps it). Put it back; to clear the value, "
        "clear it in NextStep."
    )


class Decoded(NamedTuple):
    read: Read
    value: JSON
    issues: list[Issue]


def decode(
    cell: SheetCell, spec: FieldSpec, sheet: Sheet, options: ImportOptions, compare_to: JSON
) -> Decoded:
    """The cell decoded, compared with ``compare_to`` and (if edited) checked."""
    raw = cell.raw
    codec = codec_for(spec.kind)
    # A number an app saved: an xlsx number cell (also one read as its digits), any CSV cell.
    number_cell = isinstance(raw, int | float) and not isinstance(raw, bool)
    if sheet.special:
        if _formula_as_exported(sheet.special.get(cell.ref), cell.raw, codec, spec, compare_to):
            return Decoded(Read.SAME, compare_to, [])
        problem, raw = _special_issue(cell, sheet, options)
        if problem is not None:
            if _as_exported(problem.value, codec, spec, compare_to):
                return Decoded(Read.SAME, compare_to, [])
            return Decoded(Read.INVALID, None, [problem])
    try:
        value = codec.from_cell(raw, spec.options)
        if codec.equal(value, compare_to):
            return Decoded(Read.SAME, value, [])
        _check_not_damaged(raw, codec, spec, compare_to, sheet, number_cell=number_cell)
        checked, note = codec.check(value, spec.options)
    except CellError as exc:
        if _as_exported(text_of(raw), codec, spec, compare_to):
            return Decoded(Read.SAME, compare_to, [])
        message = _with_field(exc.message, spec)
        issue = Issue(
            Severity.ERROR, IssueCode(exc.code), message, cell.ref, cell.key, text_of(raw)
        )
        return Decoded(Read.INVALID, None, [issue])
    issues = [
        Issue.of(IssueCode.NORMALISED, cell.ref, cell.key, text_of(raw), said=said)
        for said in (codec.read_note(raw), note)
        if said
    ]
    # Checking may normalise the value (trimmed, an option's case): compared again then.
    if checked is not value and codec.equal(checked, compare_to):
        return Decoded(Read.SAME, checked, issues)
    value = checked
    if spec.required and codec.is_cleared(value):
        issues.append(
            Issue.of(IssueCode.REQUIRED_CLEARED, cell.ref, cell.key, "", label=spec.label)
        )
    return Decoded(Read.EDITED, value, issues)


def _check_not_damaged(
    raw: CellValue,
    codec: Codec,
    spec: FieldSpec,
    compare_to: JSON,
    sheet: Sheet,
    *,
    number_cell: bool,
) -> None:
    """Raise the ``CellError`` of an edited cell that shows what a program did to its
    exported value rather than what a person typed: text garbled or lost by a character
    set, a text pandas read as missing, digits an app turned into a number."""
    shown = text_of(raw)
    # Each of these shows only in a cell with other characters than ASCII, a "?", or
    # nothing: most edits need not know the exported text.
    if not shown.isascii() or "?" in shown or (sheet.text_cells and raw in (None, "")):
        exported = codec.to_text(compare_to, spec.options)
        if garbled(shown, exported):
            raise CellError(IssueCode.MOJIBAKE, garbled_message(exported))
        if lost_characters(shown, exported):
            raise CellError(IssueCode.MOJIBAKE, lost_message(exported))
        if sheet.text_cells and raw in (None, "") and exported in READ_AS_MISSING:
            raise CellError(IssueCode.READ_AS_MISSING, _missing_message(exported))
    converted = (number_cell or sheet.text_cells) and codec.converted(
        raw, compare_to, number_cell=number_cell
    )
    if converted:
        raise CellError(IssueCode.DIGITS_CONVERTED, converted)


def _formula_as_exported(
    special: Special | None, cached: CellValue, codec: Codec, spec: FieldSpec, value: JSON
) -> bool:
    """Whether a formula (or the error a formula computed) is the exported ``value``
    that a program wrote as a formula: pandas writes every text that starts with ``=``
    as one, and LibreOffice then computes it (``#NAME?``) and re-cases its names.

    It is when its source is the exported text (with or without the apostrophe that
    guards it in a CSV; in any case), or its saved result is the exported value. Such a
    cell is no edit, with or without --accept-formulas: nobody typed a formula there.
    """
    if special is None or not special.formula:
        return False
    exported = codec.to_text(value, spec.options)
    source = special.formula.removeprefix("'")
    if exported and source.casefold() == exported.casefold():
        return True
    if special.code != "formula" or not special.cached:
        return False
    try:
        return codec.equal(codec.from_cell(cached, spec.options), value)
    except CellError:
        return False


def _as_exported(shown: str | None, codec: Codec, spec: FieldSpec, value: JSON) -> bool:
    """Whether a cell that reads as no valid value shows exactly what export wrote for
    ``value``: a value NextStep holds that looks like a spreadsheet error (``#N/A``) or
    is not of its field's type. Left as it was, it is not an edit, and never blocks."""
    return shown is not None and shown == codec.to_text(value, spec.options)


def edits(sheet: Sheet, options: ImportOptions) -> Edits:
    """Cells whose value differs from the base snapshot, decoded and checked."""
    found: list[Edit] = []
    issues: list[Issue] = []
    base_of = sheet.base
    touched = 0
    for cell in sheet.cells:
        base = cell.base if cell.base is not None else base_of[cell.key]
        spec = base.spec
        locked = spec.locked
        if locked and locked.startswith(UNHOLDABLE):
            continue
        read, value, said = decode(cell, spec, sheet, options, base.value)
        issues.extend(said)
        if read is not Read.EDITED:
            touched += read is Read.INVALID
            continue
        touched += 1
        if locked:
            exported = codec_for(spec.kind).to_text(base.value, spec.options)
            issues.append(
                Issue.of(
                    IssueCode.LOCKED,
                    cell.ref,
                    cell.key,
                    text_of(cell.raw),
                    template=LOCKED_AT_EXPORT,
                    locked=locked,
                    exported=exported,
                )
            )
            continue
        found.append(Edit(cell, base, value))
    # Every value not edited is unchanged, also those in deleted rows (nothing to do).
    return Edits(found, issues, sheet.meta.values - touched)


def edits_without_base(
    sheet: Sheet, options: ImportOptions, live: Mapping[str, Sequence[Task] | None]
) -> Edits:
    """Without a base, each cell's field comes from live state, and live is the base."""
    found: list[Edit] = []
    issues: list[Issue] = []
    unchanged = 0
    for cell in sheet.cells:
        field = _live_field_of(cell, live)
        if isinstance(field, Issue):
            issues.append(field)
            continue
        cell = SheetCell(field.spec.key, cell.ref, cell.raw)
        read, value, said = decode(cell, field.spec, sheet, options, field.value)
        issues.extend(said)
        if read is not Read.EDITED:
            unchanged += read is Read.SAME
            continue
        found.append(Edit(cell, field, value))
    return Edits(found, issues, unchanged)


def _live_field_of(
    cell: SheetCell, live: Mapping[str, Sequence[Task] | None]
) -> FieldValue | Issue:
    """The live field a row of a sheet without base names, or why there is none."""
    run_id = cell.key.run_id
    tasks = live.get(run_id)
    if tasks is None:
        return _unmatched(cell, IssueCode.RUN_NOT_FOUND, run_id=run_id)
    task = _find_task(tasks, cell)
    if task is None:
        return _unmatched(cell, IssueCode.TASK_GONE, run_id=run_id)
    found = live_field(task, FieldKey(run_id, task.id, cell.key.field))
    if found is None:
        return _unmatched(cell, IssueCode.FIELD_GONE, title=task.title)
    return found


def _find_task(tasks: Sequence[Task], cell: SheetCell) -> Task | None:
    for task in tasks:
        if cell.template_task_id is not None:
            if task.template_task_id == cell.template_task_id:
                return task
        elif task.id == cell.key.task_id:
            return task
    return None


def _unmatched(cell: SheetCell, code: IssueCode, **params: str) -> Issue:
    return Issue.of(code, cell.ref, cell.key, text_of(cell.raw), template=UNMATCHED[code], **params)


def _with_field(message: str, spec: FieldSpec) -> str:
    return f"{spec.label}: {message}" if spec.label else message

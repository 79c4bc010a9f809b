"""The import plan: what an edited sheet asks for, checked against its base and live state.

``plan_import`` reads nothing by itself: it takes a ``Sheet`` and a function that reads
live tasks of runs, and calls that function once, for the runs with at least one
edited value (an unedited sheet costs no request). Per value, with base B (from the
file), sheet S and live L, compared with the field type's own equality:

* S = B: unchanged; nothing is written, whatever L is (someone else's edit survives);
* S ≠ B, L = B: a change;
* S ≠ B, L = S: already done;
* S ≠ B, L ≠ B, L ≠ S: a conflict, written only with ``on_conflict="mine"``.

Without a base snapshot (``--no-base``) B is taken to be L: every difference from live
is a change, and edits made by others since the export are overwritten.

The plan is one PATCH per task, with its fields, completion and assignee together.
Requests that only set fields go first, then those that complete tasks; the request
that completes a run's last open task goes after every other request of the import,
because NextStep locks a completed run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final, NamedTuple

from bulksync.baseurl import same_host
from bulksync.codecs import ASSIGNEE, COMPLETION, CellError, CellValue, Codec, codec_for
from bulksync.errors import ExitCode, SheetError
from bulksync.model import JSON, Task
from bulksync.perf import cycle_collector_paused
from bulksync.sheets.meta import UNHOLDABLE, BaseSnapshot
from bulksync.sheets.reading import Sheet, SheetCell
from bulksync.snapshot import FieldKey, FieldSpec, FieldValue

LiveReader = Callable[[Sequence[str]], Mapping[str, Sequence[Task] | None]]
"""Reads the live tasks of runs: run id → its tasks, or None for a run that is gone."""

NO_BASE_WARNING: Final = (
    "This sheet has no base snapshot: it is compared with live state only, so every "
    "value that differs from NextStep is written, and changes made by others since the "
    "export will be overwritten."
)


class Outcome(StrEnum):
    CHANGE = "change"
    ALREADY_DONE = "already_done"
    CONFLICT = "conflict"


class OnConflict(StrEnum):
    SKIP = "skip"
    MINE = "mine"


@dataclass(frozen=True, slots=True)
class Problem:
    """An error or warning about one cell (or the whole sheet when ``cell`` is None)."""

    severity: str
    """``error`` or ``warning``"""
    code: str
    message: str
    cell: str | None = None
    key: FieldKey | None = None
    value: str | None = None
    """The offending value as the cell shows it."""
    run_title: str = ""
    task_title: str = ""
    label: str = ""

    def as_dict(self) -> dict[str, Any]:
        key = self.key
        return {
            "cell": self.cell,
            "run_id": key.run_id if key else None,
            "task_id": key.task_id if key else None,
            "field": key.field if key else None,
            "label": self.label or None,
            "code": self.code,
            "message": self.message,
            "value": self.value,
        }


class Change(NamedTuple):
    """One edited value and what the import does with it."""

    key: FieldKey
    cell: str
    kind: str
    label: str
    base: JSON
    sheet: JSON
    live: JSON
    outcome: Outcome
    written: bool
    """Sent to NextStep: every change, and conflicts under ``--on-conflict mine``."""
    task_title: str = ""
    run_title: str = ""
    spec: FieldSpec | None = None
    """The field as NextStep has it now (type, label, options), where known."""


@dataclass
class Patch:
    """One PATCH request: a task's changed fields, completion and assignee."""

    run_id: str
    task_id: str
    elements: dict[str, JSON] = field(default_factory=dict)
    completed: bool | None = None
    assignee: JSON = None
    sets_assignee: bool = False
    changes: list[Change] = field(default_factory=list)
    completes_run: bool = False
    """NextStep marks the run completed (and locks it) once this request is applied."""

    def add(self, change: Change) -> None:
        """Carry this change's value too (a field, the completion or the assignee)."""
        self.changes.append(change)
        if change.key.field == COMPLETION:
            self.completed = bool(change.sheet)
        elif change.key.field == ASSIGNEE:
            self.sets_assignee = True
            self.assignee = change.sheet
        else:
            self.elements[change.key.field] = change.sheet

    def body(self) -> dict[str, JSON]:
        """The request body, as the API documents it."""
        body: dict[str, JSON] = {}
        if self.elements:
            body["custom_elements"] = [{"id": k, "value": v} for k, v in self.elements.items()]
        if self.completed is not None:
            body["completed"] = self.completed
        if self.sets_assignee:
            body["assignee"] = self.assignee
        return body


@dataclass
class ImportPlan:
    """Everything a dry run reports, and everything an apply would send."""

    path: str
    host: str
    exported_from: str
    exported_at: str
    has_base: bool
    on_conflict: OnConflict
    changes: list[Change] = field(default_factory=list)
    already_done: list[Change] = field(default_factory=list)
    conflicts: list[Change] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    patches: list[Patch] = field(default_factory=list)
    unchanged: int = 0
    runs_read: int = 0
    completes_runs: list[tuple[str, str]] = field(default_factory=list)
    """(run id, title) of each run this import completes."""
    results: list[dict[str, Any]] | None = None
    """After applying: a row per value (cell, ids, before, after, result, message)."""

    @property
    def requests(self) -> int:
        return len(self.patches)

    def summary(self) -> dict[str, int]:
        return {
            "changes": len(self.changes),
            "conflicts": len(self.conflicts),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "requests": self.requests,
            "already_done": len(self.already_done),
            "unchanged": self.unchanged,
            "runs_read": self.runs_read,
        }

    def exit_code(self, *, detailed: bool = False) -> ExitCode:
        """0 when clean; errors before conflicts; with ``detailed``, pending changes."""
        if self.errors:
            return ExitCode.INVALID
        if self.conflicts and self.on_conflict is OnConflict.SKIP:
            return ExitCode.CONFLICTS
        if detailed and self.patches:
            return ExitCode.CHANGES
        return ExitCode.OK

    def as_dict(self) -> dict[str, Any]:
        """The JSON report (documented in docs/import.md)."""

        def change(c: Change) -> dict[str, Any]:
            return {
                "cell": c.cell,
                "run_id": c.key.run_id,
                "task_id": c.key.task_id,
                "field": c.key.field,
                "label": c.label,
                "before": c.live,
                "after": c.sheet,
            }

        return {
            "file": self.path,
            "host": self.host,
            "exported_from": self.exported_from or None,
            "exported_at": self.exported_at or None,
            "base": self.has_base,
            "summary": self.summary(),
            "changes": [change(c) for c in self.changes],
            "already_done": [change(c) for c in self.already_done],
            "conflicts": [
                {
                    "cell": c.cell,
                    "run_id": c.key.run_id,
                    "task_id": c.key.task_id,
                    "field": c.key.field,
                    "label": c.label,
                    "base": c.base,
                    "live": c.live,
                    "sheet": c.sheet,
                    "written": c.written,
                }
                for c in self.conflicts
            ],
            "errors": [p.as_dict() for p in self.errors],
            "warnings": [p.as_dict() for p in self.warnings],
            "requests": [
                {
                    "method": "PATCH",
                    "run_id": p.run_id,
                    "task_id": p.task_id,
                    "body": p.body(),
                    "completes_run": p.completes_run,
                }
                for p in self.patches
            ],
            "completes_runs": [run_id for run_id, _ in self.completes_runs],
        } | ({"results": self.results} if self.results is not None else {})


@dataclass(frozen=True)
class ImportOptions:
    force: bool = False
    """Import a sheet exported from another API host."""
    on_conflict: OnConflict = OnConflict.SKIP
    accept_formulas: bool = False


# -- planning ------------------------------------------------------------------------------


class _Edit(NamedTuple):
    cell: SheetCell
    base: FieldValue
    value: JSON


def plan_import(
    sheet: Sheet, read_live: LiveReader, *, host: str, options: ImportOptions | None = None
) -> ImportPlan:
    """The plan for an edited sheet: changes, conflicts, errors, and the PATCHes to send."""
    with cycle_collector_paused():
        return _plan(sheet, read_live, host, options or ImportOptions())


def _plan(sheet: Sheet, read_live: LiveReader, host: str, options: ImportOptions) -> ImportPlan:
    meta = sheet.meta
    if sheet.has_base and meta.host and not same_host(meta.host, host) and not options.force:
        raise SheetError(
            f"{sheet.path} was exported from {meta.host}, and this import would go to {host}. "
            "Import it where it came from, or give --force if the two are meant to be the "
            "same team."
        )
    plan = ImportPlan(
        sheet.path, host, meta.host, meta.exported_at, sheet.has_base, options.on_conflict
    )
    plan.errors.extend(
        Problem("error", p.code, p.message, p.ref, p.key, p.value) for p in sheet.row_problems
    )
    titles = _Titles(sheet.base)
    if sheet.has_base:
        edits = _edits(sheet, plan, options)
        runs = sorted({e.cell.key.run_id for e in edits})
        live = read_live(runs) if runs else {}
    else:
        plan.warnings.append(Problem("warning", "no_base", NO_BASE_WARNING))
        runs = sorted({c.key.run_id for c in sheet.cells})
        live = read_live(runs) if runs else {}
        edits = _edits_without_base(sheet, plan, options, live)
    plan.runs_read = len(runs)
    by_run = {run_id: _LiveRun.of(tasks) for run_id, tasks in live.items()}
    for edit in edits:
        change = _classify(edit, by_run.get(edit.cell.key.run_id), plan, options, titles)
        if change is None:
            continue
        {
            Outcome.CHANGE: plan.changes,
            Outcome.ALREADY_DONE: plan.already_done,
            Outcome.CONFLICT: plan.conflicts,
        }[change.outcome].append(change)
    _build_patches(plan, by_run, titles)
    plan.errors = [_titled(p, sheet, titles) for p in plan.errors]
    plan.warnings = [_titled(p, sheet, titles) for p in plan.warnings]
    return plan


def _titled(problem: Problem, sheet: Sheet, titles: _Titles) -> Problem:
    """The problem with the run, task and field names a person knows them by."""
    key = problem.key
    if key is None:
        return problem
    base = sheet.base.get(key)
    label = (
        base.spec.label
        if base
        else {COMPLETION: "Completed", ASSIGNEE: "Assignee"}.get(key.field, key.field)
    )
    return replace(
        problem, run_title=titles.run(key.run_id), task_title=titles.task(key, None), label=label
    )


class _Titles:
    """Run and task titles for the report: from the export's context, else from live."""

    def __init__(self, base: BaseSnapshot) -> None:
        self.base = base

    def run(self, run_id: str) -> str:
        run = self.base.run(run_id)
        return run.title if run is not None and run.title else run_id

    def task(self, key: FieldKey, live: Task | None) -> str:
        if live is not None:
            return live.title
        run = self.base.run(key.run_id)
        return run.tasks.get(key.task_id, ("", ""))[0] if run is not None else ""


def _special_problem(
    cell: SheetCell, sheet: Sheet, options: ImportOptions
) -> tuple[Problem | None, CellValue]:
    """An error for a formula or error cell, or the cell's value to use."""
    special = sheet.special.get(cell.ref)
    if special is None:
        return None, cell.raw
    if special.code == "inexact_number":
        # Decoded from its digits, the number is refused as when typed as text.
        return None, sheet.raw(cell)
    if special.code == "error_value":
        return Problem(
            "error",
            "error_value",
            f"The cell shows the spreadsheet error {special.text}; type the value instead "
            "(or leave the cell as it was exported).",
            cell.ref,
            cell.key,
            special.text,
        ), None
    if special.code == "formula" and special.cached and options.accept_formulas:
        return None, cell.raw
    if special.code == "formula" and special.cached:
        fix = (
            "bulksync imports values, not formulas: type the value, or give "
            "--accept-formulas to import the result the spreadsheet saved."
        )
    elif special.code == "formula_text":
        fix = (
            "a spreadsheet would run it as a formula. To import it as text, start the cell "
            "with an apostrophe: '=…"
        )
    else:
        fix = (
            "it has no saved result: open the file in a spreadsheet app and save it, or "
            "type the value."
        )
    return Problem(
        "error",
        "formula",
        f"The cell holds the formula {special.text}; {fix}",
        cell.ref,
        cell.key,
        special.text,
    ), None


class _Read(StrEnum):
    SAME = "same"
    EDITED = "edited"
    INVALID = "invalid"


def _decode(
    cell: SheetCell,
    spec: FieldSpec,
    sheet: Sheet,
    plan: ImportPlan,
    options: ImportOptions,
    compare_to: JSON,
) -> tuple[_Read, JSON]:
    """The cell decoded, compared and (if edited) checked; problems go into the plan."""
    raw = cell.raw
    codec = codec_for(spec.kind)
    if sheet.special:
        problem, raw = _special_problem(cell, sheet, options)
        if problem is not None:
            if _as_exported(problem.value, codec, spec, compare_to):
                return _Read.SAME, compare_to
            plan.errors.append(problem)
            return _Read.INVALID, None
    try:
        value = codec.from_cell(raw, spec.options)
        if codec.equal(value, compare_to):
            return _Read.SAME, value
        value, note = codec.check(value, spec.options)
    except CellError as exc:
        if _as_exported(_txt(raw), codec, spec, compare_to):
            return _Read.SAME, compare_to
        plan.errors.append(
            Problem(
                "error", exc.code, _with_field(exc.message, spec), cell.ref, cell.key, _txt(raw)
            )
        )
        return _Read.INVALID, None
    for said in (codec.read_note(raw), note):
        if said:
            plan.warnings.append(
                Problem("warning", "normalised", f"{said}.", cell.ref, cell.key, _txt(raw))
            )
    if codec.equal(value, compare_to):
        return _Read.SAME, value
    if spec.required and _is_empty(codec, value):
        plan.warnings.append(
            Problem(
                "warning",
                "required_cleared",
                f"{spec.label!r} is required: NextStep accepts it empty, but a person "
                "completing the task in the app will be asked to fill it in.",
                cell.ref,
                cell.key,
                "",
            )
        )
    return _Read.EDITED, value


def _as_exported(shown: str | None, codec: Codec, spec: FieldSpec, value: JSON) -> bool:
    """Whether a cell that reads as no valid value shows exactly what export wrote for
    ``value``: a value NextStep holds that looks like a spreadsheet error (``#N/A``) or
    is not of its field's type. Left as it was, it is not an edit, and never blocks."""
    return shown is not None and shown == codec.to_text(value, spec.options)


def _edits(sheet: Sheet, plan: ImportPlan, options: ImportOptions) -> list[_Edit]:
    """Cells whose value differs from the base snapshot, decoded and checked."""
    edits: list[_Edit] = []
    base_of = sheet.base
    touched = 0
    for cell in sheet.cells:
        base = base_of[cell.key]
        spec = base.spec
        locked = spec.locked
        if locked and locked.startswith(UNHOLDABLE):
            continue
        read, value = _decode(cell, spec, sheet, plan, options, base.value)
        if read is not _Read.EDITED:
            touched += read is _Read.INVALID
            continue
        touched += 1
        if locked:
            plan.errors.append(
                Problem(
                    "error",
                    "locked",
                    f"This value cannot change: {locked} at export, and NextStep does not "
                    f"accept edits there. Put back {_txt_value(spec, base.value)!r}.",
                    cell.ref,
                    cell.key,
                    _txt(cell.raw),
                )
            )
            continue
        edits.append(_Edit(cell, base, value))
    # Every value not edited is unchanged, also those in deleted rows (nothing to do).
    plan.unchanged = sheet.meta.values - touched
    return edits


def _edits_without_base(
    sheet: Sheet,
    plan: ImportPlan,
    options: ImportOptions,
    live: Mapping[str, Sequence[Task] | None],
) -> list[_Edit]:
    """Without a base, each cell's field comes from live state, and live is the base."""
    edits: list[_Edit] = []
    for cell in sheet.cells:
        tasks = live.get(cell.key.run_id)
        if tasks is None:
            plan.errors.append(
                _gone(cell, "run_not_found", f"Run {cell.key.run_id} does not exist")
            )
            continue
        task = _find_task(tasks, cell)
        if task is None:
            plan.errors.append(_gone(cell, "task_gone", f"Run {cell.key.run_id} has no such task"))
            continue
        key = FieldKey(cell.key.run_id, task.id, cell.key.field)
        found = live_field(task, key)
        if found is None:
            plan.errors.append(_gone(cell, "field_gone", f"Task {task.title!r} has no such field"))
            continue
        cell = SheetCell(key, cell.ref, cell.raw)
        read, value = _decode(cell, found.spec, sheet, plan, options, found.value)
        if read is not _Read.EDITED:
            plan.unchanged += read is _Read.SAME
            continue
        edits.append(_Edit(cell, found, value))
    return edits


def _find_task(tasks: Sequence[Task], cell: SheetCell) -> Task | None:
    for task in tasks:
        if cell.template_task_id is not None:
            if task.template_task_id == cell.template_task_id:
                return task
        elif task.id == cell.key.task_id:
            return task
    return None


def _gone(cell: SheetCell, code: str, what: str) -> Problem:
    return Problem(
        "error",
        code,
        f"{what} in NextStep (or this API key cannot see it); check the ids of this row.",
        cell.ref,
        cell.key,
        _txt(cell.raw),
    )


@dataclass(frozen=True)
class _LiveRun:
    tasks: Mapping[str, Task]
    completed: bool
    """Every task completed or skipped: NextStep has completed and locked the run."""

    @classmethod
    def of(cls, tasks: Sequence[Task] | None) -> _LiveRun | None:
        if tasks is None:
            return None
        return cls(
            {t.id: t for t in tasks},
            bool(tasks) and all(t.completed or t.skipped for t in tasks),
        )


def live_field(task: Task, key: FieldKey) -> FieldValue | None:
    """The live value and definition of one field of a task, or None if it has none."""
    locked = "task skipped" if task.skipped else None
    if key.field == COMPLETION:
        spec = FieldSpec(key, task.template_task_id, COMPLETION, "Completed", locked=locked)
        return FieldValue(spec, task.completed)
    if key.field == ASSIGNEE:
        spec = FieldSpec(key, task.template_task_id, ASSIGNEE, "Assignee", locked=locked)
        return FieldValue(spec, task.assignee)
    element = task.element(key.field)
    if element is None:
        return None
    spec = FieldSpec(
        key,
        task.template_task_id,
        element.type,
        element.label,
        element.required,
        element.options,
        "display-only field" if element.display_only else locked,
    )
    value = element.value
    return FieldValue(spec, codec_for(element.type).empty() if value is None else value)


def _classify(
    edit: _Edit,
    run: _LiveRun | None,
    plan: ImportPlan,
    options: ImportOptions,
    titles: _Titles,
) -> Change | None:
    cell, base, value = edit.cell, edit.base, edit.value
    key, spec = cell.key, base.spec
    shown = _txt(cell.raw)

    def error(code: str, message: str) -> None:
        plan.errors.append(Problem("error", code, message, cell.ref, key, shown))

    if run is None:
        error(
            "run_not_found",
            f"Run {key.run_id} no longer exists in NextStep (or this API key cannot see "
            "it); this value cannot be imported.",
        )
        return None
    task = run.tasks.get(key.task_id)
    if task is None:
        error(
            "task_gone",
            f"Task {key.task_id} is no longer in run {key.run_id}: the run's tasks changed "
            "since the export. Export again and redo this edit.",
        )
        return None
    if run.completed:
        error(
            "run_completed",
            f"Run {key.run_id} was completed in NextStep since the export, and NextStep "
            "locks a completed run; this value cannot be imported.",
        )
        return None
    live = live_field(task, key)
    if live is None:
        error(
            "field_gone",
            f"Task {task.title!r} no longer has the field {spec.label!r} (the template was "
            "synced into the run since the export). Export again and redo this edit.",
        )
        return None
    live_spec = live.spec
    if live_spec.locked:
        error(
            "locked",
            f"This value cannot change: {live_spec.locked} in NextStep since the export.",
        )
        return None
    if live_spec.kind != spec.kind:
        error(
            "type_changed",
            f"The field {spec.label!r} was a {spec.kind} field at export and is a "
            f"{live_spec.kind} field now. Export again and redo this edit.",
        )
        return None
    codec = codec_for(spec.kind)
    if not codec.holds(live.value):
        error(
            "live_invalid",
            f"NextStep holds {live.value!r} in the {spec.kind} field {spec.label!r}, which "
            f"is not a valid {spec.kind} value, so this edit cannot be checked against it. "
            "Correct the value in NextStep, then import again.",
        )
        return None
    if live_spec.options != spec.options:
        try:
            value, _ = codec.check(value, live_spec.options)
        except CellError as exc:
            error(
                "option_removed",
                f"The options of {spec.label!r} changed since the export: {exc.message}.",
            )
            return None
        plan.warnings.append(
            Problem(
                "warning",
                "options_changed",
                f"The options of {spec.label!r} changed since the export; the value is "
                "still one of them.",
                cell.ref,
                key,
                shown,
            )
        )
    if codec.equal(live.value, base.value):
        outcome = Outcome.CHANGE
    elif codec.equal(live.value, value):
        outcome = Outcome.ALREADY_DONE
    else:
        outcome = Outcome.CONFLICT
    written = outcome is Outcome.CHANGE or (
        outcome is Outcome.CONFLICT and options.on_conflict is OnConflict.MINE
    )
    return Change(
        key,
        cell.ref,
        spec.kind,
        spec.label,
        base.value,
        value,
        live.value,
        outcome,
        written,
        titles.task(key, task),
        titles.run(key.run_id),
        live_spec._replace(locked=None),
    )


def build_patches(plan: ImportPlan, live: Mapping[str, Sequence[Task] | None]) -> None:
    """Group the plan's written changes into PATCHes, in the order they must be sent."""
    _build_patches(plan, {r: _LiveRun.of(t) for r, t in live.items()}, _Titles(BaseSnapshot()))


def _build_patches(plan: ImportPlan, runs: Mapping[str, _LiveRun | None], titles: _Titles) -> None:
    patches: dict[tuple[str, str], Patch] = {}
    for change in [*plan.changes, *plan.conflicts]:
        if not change.written:
            continue
        key = change.key
        patch = patches.setdefault((key.run_id, key.task_id), Patch(key.run_id, key.task_id))
        patch.add(change)
    # Which runs end up with every task completed or skipped?
    completing: dict[str, list[Patch]] = {}
    for patch in patches.values():
        if patch.completed is not None:
            completing.setdefault(patch.run_id, []).append(patch)
    for run_id, run_patches in completing.items():
        run = runs.get(run_id)
        if run is None or run.completed:
            continue
        done = {t.id: t.completed or t.skipped for t in run.tasks.values()}
        for p in run_patches:
            done[p.task_id] = bool(p.completed) or run.tasks[p.task_id].skipped
        last = [p for p in run_patches if p.completed]
        if done and all(done.values()) and last:
            last[-1].completes_run = True
            plan.completes_runs.append((run_id, titles.run(run_id)))
    ordered = list(patches.values())
    ordered.sort(key=lambda p: (p.completes_run, p.completed is True))
    plan.patches = ordered


# -- small helpers ---------------------------------------------------------------------------


def _is_empty(codec: Codec, value: JSON) -> bool:
    return codec.equal(value, codec.empty()) and codec.kind not in ("checkbox", COMPLETION)


def _txt(raw: CellValue) -> str:
    if raw is None:
        return ""
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


def _txt_value(spec: FieldSpec, value: JSON) -> str:
    return codec_for(spec.kind).to_text(value, spec.options)


def _with_field(message: str, spec: FieldSpec) -> str:
    return f"{spec.label}: {message}" if spec.label else message


def describe(value: JSON) -> str:
    """A value as a report shows it: empty as ``(empty)``, lists joined."""
    if value is None or value == "" or value == []:
        return "(empty)"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)

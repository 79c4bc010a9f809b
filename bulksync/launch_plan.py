"""Planning runs to start: a sheet's new rows, checked against the live template.

``plan_starts`` turns each new row (``sheets.reading.NewRow``) into a ``Start``, with
the same cell decoding and cell-addressed errors as an edit (``validate.decode``), and
checks what only a new row has:

* the sheet names its template, which exists and is published (else nothing is sent);
* every new row that holds something has a title;
* each value's task and field are still in the template (the POST pre-fills by
  template task id);
* two new rows with the same title, or a title of an active run of the template, are
  warnings (both rows start a run).

Then, so that no run is started twice, each row is looked up by its key (title and
which of the rows with that title it is, ``launch.start_key``) in the journals of the
sheet's earlier imports (``ledger``): started already (nothing to send, but the ticks
and assignees that were not set yet), or its POST went and the answer was never
recorded (``unsure``: the run is looked for before the row is started again). A row
that no journal knows, whose title is that of a run started since the export, is a
conflict: maybe a copy of this sheet was imported elsewhere, maybe a person started
it by hand; it is started only with ``--on-conflict mine``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol

from bulksync.codecs import ASSIGNEE, COMPLETION, codec_for, is_writable, nfc, text_of
from bulksync.issues import Issue, IssueCode, Severity
from bulksync.launch import (
    Prefill,
    Start,
    Started,
    StartOutcome,
    Then,
    created_since,
    since_export,
    start_key,
)
from bulksync.model import JSON, Run, Template, TemplateTask
from bulksync.plans import ImportOptions, OnConflict
from bulksync.sheets.reading import NewRow, Sheet, SheetCell, as_shown, col_name
from bulksync.snapshot import FieldKey, FieldSpec
from bulksync.validate import Read, decode


class TemplateSource(Protocol):
    """What planning new rows reads from NextStep (``fetch.LiveState`` is one)."""

    def template(self, template_id: str) -> Template | None:
        """The template, or None when it is gone (or this key cannot see it)."""

    def template_tasks(self, template_id: str) -> Sequence[TemplateTask]: ...

    def template_runs(self, template_id: str, since: str | None) -> Sequence[Run]:
        """The template's active runs, and all its runs created at or after ``since``."""


_CONTEXT_SPECS: Final = {
    "run": FieldSpec(FieldKey("", "", "run"), None, "shortText", "Run"),
    "due_date": FieldSpec(FieldKey("", "", "due_date"), None, "date", "Due date"),
    "started_by": FieldSpec(FieldKey("", "", "started_by"), None, "email", "Started by"),
}


def title_key(title: str) -> str:
    """A title as rows and runs are matched by: blanks collapsed, case folded."""
    return " ".join(nfc(title).split()).casefold()


@dataclass
class _Row:
    """A new row decoded: what its run is started with."""

    number: int
    cell: str
    title: str = ""
    due_date: str | None = None
    actor_email: str | None = None
    values: list[Prefill] = field(default_factory=list)
    then: list[Then] = field(default_factory=list)
    valid: bool = True
    row_key: str = ""


def plan_starts(
    sheet: Sheet,
    source: TemplateSource | None,
    *,
    ledger: Mapping[str, Started] | None = None,
    options: ImportOptions | None = None,
) -> tuple[list[Start], list[Issue]]:
    """The sheet's new rows as runs to start, and what checking them found."""
    rows = sheet.new_rows
    if not rows:
        return [], []
    options = options or ImportOptions()
    first = _title_ref(sheet, rows[0])
    template_id = sheet.meta.template_id
    if not template_id or source is None:
        return [], [Issue.of(IssueCode.NO_TEMPLATE, first)]
    template = source.template(template_id)
    if template is None:
        return [], [Issue.of(IssueCode.TEMPLATE_GONE, first, template_id=template_id)]
    issues: list[Issue] = []
    if not template.is_published:
        issues.append(
            Issue.of(
                IssueCode.TEMPLATE_UNPUBLISHED, first, template_id=template_id, title=template.title
            )
        )
    specs = _Specs(source.template_tasks(template_id), sheet)
    decoded = []
    for row in rows:
        found, row_issues = _decode_row(row, sheet, specs, options)
        decoded.append(found)
        issues.extend(row_issues)
    if not any(r.valid for r in decoded) or not template.is_published:
        return [], issues
    since = since_export(sheet.meta.exported_at)

    def runs() -> Sequence[Run]:
        return source.template_runs(template_id, since)

    starts, checked = _classify(decoded, template_id, runs, since, ledger or {}, options)
    return starts, issues + checked


class _Specs:
    """The template's fields by column (``TEMPLATE_TASK_ID:FIELD``), as they are now."""

    def __init__(self, tasks: Iterable[TemplateTask], sheet: Sheet) -> None:
        self.tasks = {t.id: t for t in tasks}
        self.columns = {
            str(key): (str(group), str(title)) for key, group, title in sheet.meta.columns
        }

    def spec(self, cell: SheetCell) -> FieldSpec | str:
        """The field a new row's cell fills in, or what the template no longer has."""
        tt_id, name = cell.template_task_id or "", cell.key.field
        task = self.tasks.get(tt_id)
        group, label = self.columns.get(f"{tt_id}:{name}", ("", name))
        if task is None:
            return f"the task {group or tt_id!r}"
        key = FieldKey("", tt_id, name)
        if name == COMPLETION:
            return FieldSpec(key, tt_id, COMPLETION, "Completed")
        if name == ASSIGNEE:
            return FieldSpec(key, tt_id, ASSIGNEE, "Assignee")
        element = next((e for e in task.elements if e.id == name), None)
        if element is None or element.display_only or not is_writable(element.type):
            return f"the field {label!r} in the task {task.title!r}"
        return FieldSpec(key, tt_id, element.type, element.label, element.required, element.options)

    def task_title(self, tt_id: str) -> str:
        task = self.tasks.get(tt_id)
        return task.title if task else tt_id


def _title_ref(sheet: Sheet, row: NewRow) -> str:
    """Where a new row's title is (or would be typed)."""
    if "run" in row.context:
        return row.context["run"][0]
    prefix = row.cells[0].ref.rpartition("!")[0] if row.cells else sheet.meta.sheet
    return f"{prefix}!{col_name(0)}{row.number}"


def _decode_row(
    row: NewRow, sheet: Sheet, specs: _Specs, options: ImportOptions
) -> tuple[_Row, list[Issue]]:
    """A new row's cells decoded and checked, as an edit's are."""
    found = _Row(row.number, _title_ref(sheet, row), row_key=row.row_key)
    issues: list[Issue] = []
    context: dict[str, JSON] = {}
    for name, (ref, raw) in row.context.items():
        spec = _CONTEXT_SPECS[name]
        value = _decoded(SheetCell(spec.key, ref, raw), spec, sheet, options, issues)
        if value is not _INVALID:
            context[name] = value
    title = text_of(context.get("run")).strip()
    if not title and not any(i.cell == found.cell for i in issues):
        issues.append(Issue.of(IssueCode.TITLE_REQUIRED, found.cell, value=""))
    found.title = title
    found.due_date = _text_or_none(context.get("due_date"))
    found.actor_email = _text_or_none(context.get("started_by"))
    for cell in row.cells:
        field = specs.spec(cell)
        if isinstance(field, str) and as_shown(cell.raw) == "n/a":
            continue  # what the export writes where a new run has no such field
        if isinstance(field, str):
            issues.append(
                Issue.of(IssueCode.NOT_IN_TEMPLATE, cell.ref, value=text_of(cell.raw), what=field)
            )
            continue
        value = _decoded(cell, field, sheet, options, issues)
        if value is _INVALID:
            continue
        _add_value(found, cell, field, value, specs.task_title(field.template_task_id or ""))
    found.valid = not any(i.severity is Severity.ERROR for i in issues)
    return found, [replace(i, run_title=title) for i in issues]


_INVALID: Final = object()


def _decoded(
    cell: SheetCell, spec: FieldSpec, sheet: Sheet, options: ImportOptions, issues: list[Issue]
) -> JSON | object:
    """The cell's value (the type's empty value when it holds none), or ``_INVALID``."""
    codec = codec_for(spec.kind)
    read, value, said = decode(cell, spec, sheet, options, codec.empty())
    issues.extend(replace(i, label=spec.label) for i in said)
    if read is Read.INVALID:
        return _INVALID
    return value if read is Read.EDITED else codec.empty()


def _text_or_none(value: JSON) -> str | None:
    text = text_of(value).strip() if value is not None else ""
    return text or None


def _add_value(row: _Row, cell: SheetCell, spec: FieldSpec, value: JSON, task: str) -> None:
    """A decoded value of a new row: pre-filled in the POST, or set once the run exists."""
    codec = codec_for(spec.kind)
    if codec.equal(value, codec.empty()):
        return  # a new run's value is empty already
    tt_id = spec.template_task_id or ""
    if spec.kind in (COMPLETION, ASSIGNEE):
        row.then.append(Then(tt_id, spec.kind, value, cell.ref, task))
    else:
        row.values.append(
            Prefill(tt_id, spec.key.field, spec.kind, value, cell.ref, task, spec.label)
        )


def _classify(
    rows: Sequence[_Row],
    template_id: str,
    runs: Callable[[], Sequence[Run]],
    since: str | None,
    ledger: Mapping[str, Started],
    options: ImportOptions,
) -> tuple[list[Start], list[Issue]]:
    """Each valid row against the journals of the sheet's imports and the template's
    runs (listed only when a row is not in the journals: a rerun of a sheet whose rows
    were all started lists none). Rows with an error count in the keys (which of the
    rows with a title a row is), so that fixing one later does not give another row's
    key to it."""
    claimed: set[str] = {s.run_id for s in ledger.values() if s.run_id}
    seen: dict[str, int] = {}
    first: dict[str, int] = {}
    starts: list[Start] = []
    issues: list[Issue] = []
    for row in rows:
        name = title_key(row.title)
        nth = seen.get(name, 0) + 1
        seen[name] = nth
        first.setdefault(name, row.number)
        if not row.valid:
            continue
        if nth > 1:
            duplicate = Issue.of(
                IssueCode.DUPLICATE_TITLE,
                row.cell,
                value=row.title,
                other=first[name],
                title=row.title,
            )
            issues.append(replace(duplicate, run_title=row.title))
        starts.append(
            Start(
                row=row.number,
                cell=row.cell,
                key=start_key(name, nth),
                template_id=template_id,
                title=row.title,
                due_date=row.due_date,
                actor_email=row.actor_email,
                values=tuple(row.values),
                then=tuple(row.then),
                since=since or "",
                row_key=row.row_key,
            )
        )
    starts, matched = _rekeyed(starts, _Ledger(ledger).match(starts), ledger)
    by_title: dict[str, list[Run]] = {}
    if any(s.key not in matched for s in starts):
        for run in runs():
            by_title.setdefault(title_key(run.title), []).append(run)
    checked = []
    for start in starts:
        entry = matched.get(start.key)
        start, found = _against_live(
            start, entry, by_title.get(title_key(start.title), []), since, claimed, options
        )
        checked.append(start)
        issues.extend(found)
    return checked, issues


class _Ledger:
    """Which new row each journal entry is: by the values it was sent with; then by the
    row's hidden key (an xlsx row keeps it when sorted); then, for a journal that did
    not record the body, by its key. What cannot be told apart is a conflict, never a
    second run. Indexed, so a sheet of thousands of rows is matched in a few passes."""

    def __init__(self, ledger: Mapping[str, Started]) -> None:
        self.entries = list(ledger.values())

    def match(self, starts: Sequence[Start]) -> dict[str, Started | str]:
        """Each row's entry (by row key), or why the row may be one that was started (a
        conflict note); rows with neither are not in the dict."""
        found: dict[str, Started | str] = {}
        used: set[int] = set()
        rest = self._by_values(starts, found, used)
        rows = self._by_place(rest, found, used)
        left = [e for e in self.entries if id(e) not in used]
        by_title = {e.title: e for e in reversed(left)}
        by_row = {e.row: e for e in reversed(left) if e.row and not e.row_key}
        for start in rows:
            same_row = None if start.row_key else by_row.get(start.row)
            note = _maybe_started(start, by_title.get(title_key(start.title)), same_row)
            if note:
                found[start.key] = note
        return found

    def _by_values(
        self, starts: Sequence[Start], found: dict[str, Started | str], used: set[int]
    ) -> list[Start]:
        """Rows sent with the same title and values as an entry: that entry's. Returns
        the other rows."""
        by_body: dict[str, list[Started]] = {}
        for entry in self.entries:
            if entry.body is not None:
                by_body.setdefault(_matched_body(entry.body), []).append(entry)
        rest = []
        for start in starts:
            same = [e for e in by_body.get(_matched_body(start.body()), ()) if id(e) not in used]
            if same:
                found[start.key] = same[0]
                used.add(id(same[0]))
            else:
                rest.append(start)
        return rest

    def _by_place(
        self, starts: Sequence[Start], found: dict[str, Started | str], used: set[int]
    ) -> list[Start]:
        """Rows at an entry's hidden row key (or, for an entry without a body, its key):
        the same row, edited since; under another title, a conflict. Returns the others."""
        left = [e for e in self.entries if id(e) not in used]
        by_row_key = {e.row_key: e for e in reversed(left) if e.row_key}
        by_key = {e.key: e for e in left if e.body is None}
        rows = []
        for start in starts:
            entry = by_row_key.get(start.row_key) if start.row_key else by_key.get(start.key)
            if entry is None or id(entry) in used:
                rows.append(start)
                continue
            used.add(id(entry))
            same_title = entry.title == title_key(start.title)
            found[start.key] = entry if same_title else _renamed(entry)
        return rows


def _renamed(entry: Started) -> str:
    """The note of a row an earlier import started under another title."""
    run = f"run {entry.run_id}" if entry.run_id else "a run whose answer was lost"
    was = str((entry.body or {}).get("name", entry.title))
    return (
        f"an earlier import of this sheet started {run} from this row, titled {was!r} "
        "then: its title was changed since, and it is not started again (edit that run "
        "instead)"
    )


def _rekeyed(
    starts: Sequence[Start], matched: Mapping[str, Started | str], ledger: Mapping[str, Started]
) -> tuple[list[Start], dict[str, Started | str]]:
    """Each row under the key it is known by, and ``matched`` by those keys: a row found
    in the journals keeps its entry's key; any other row takes the first key of its
    title that no journal entry and no other row has (a row inserted above a started
    twin must not take the twin's key)."""
    taken = set(ledger)
    out: list[Start] = []
    rekeyed: dict[str, Started | str] = {}
    for start in starts:
        entry = matched.get(start.key)
        if isinstance(entry, Started):
            key = entry.key
        else:
            name, _, nth = start.key.rpartition("#")
            n = int(nth)
            while start_key(name, n) in taken:
                n += 1
            key = start_key(name, n)
            taken.add(key)
        if entry is not None:
            rekeyed[key] = entry
        out.append(replace(start, key=key))
    return out, rekeyed


def _matched_body(body: Mapping[str, Any]) -> str:
    """A POST body as rows and journal entries are matched by: the title as titles are
    matched (blanks and case aside), and every other part as sent."""
    name = title_key(str(body.get("name", "")))
    return json.dumps({**body, "name": name}, sort_keys=True, ensure_ascii=False)


def _maybe_started(start: Start, same_title: Started | None, same_row: Started | None) -> str:
    """Why a row may be one an earlier import started and that was edited since (an
    entry of its title that no row matches, or one sent from its place under another
    title), or ""."""
    entry = same_title or same_row
    if entry is None:
        return ""
    run = f"run {entry.run_id}" if entry.run_id else "a run whose answer was lost"
    if same_title is not None:
        return (
            f"an earlier import of this sheet started {run} for a row titled "
            f"{start.title!r} with other values: if it is this row's, edited since, it is "
            "not started again (edit that run instead)"
        )
    return (
        f"an earlier import of this sheet started {run} from this row (row {entry.row}) "
        "under another title: if the title was corrected since, it is not started again "
        "(edit that run instead)"
    )


def _against_live(
    start: Start,
    entry: Started | str | None,
    same: Sequence[Run],
    since: str | None,
    claimed: set[str],
    options: ImportOptions,
) -> tuple[Start, list[Issue]]:
    """A row's outcome: started already (by the journals), unsure, a conflict, or new."""
    written = options.on_conflict is OnConflict.MINE
    if isinstance(entry, str):
        return replace(start, outcome=StartOutcome.CONFLICT, written=written, note=entry), []
    if entry is not None and entry.run_id:
        pending = bool(start.then) and not entry.done
        note = f"started already by an earlier import of this sheet: run {entry.run_id}"
        if pending:
            note += "; its ticks and assignees that are not set yet are set now"
        started = replace(
            start, outcome=StartOutcome.STARTED, run_id=entry.run_id, written=pending, note=note
        )
        return started, []
    if entry is not None:
        note = (
            "an earlier import sent this row's request and was cut off before its answer: "
            "the run is looked for in NextStep first, and started only if it is not there"
        )
        # Not a run another row of the sheet started: those are claimed.
        known = tuple(sorted(set(entry.known) | claimed))
        return replace(start, unsure=True, known=known, note=note), []
    start = replace(start, known=tuple(r.id for r in same))
    recent = [r for r in same if created_since(r, since) and r.id not in claimed]
    if recent:
        ids = tuple(r.id for r in recent)
        note = (
            f"a run with this title was started since the export ({', '.join(ids)}), and no "
            "import of this sheet here started it: maybe a copy of the sheet was imported "
            "elsewhere, or someone started it by hand"
        )
        conflict = replace(
            start, outcome=StartOutcome.CONFLICT, found=ids, written=written, note=note
        )
        return conflict, []
    older = [r for r in same if r.status == "active"]
    if not older:
        return start, []
    in_use = Issue.of(
        IssueCode.TITLE_IN_USE,
        start.cell,
        value=start.title,
        title=start.title,
        run_id=older[0].id,
        when=(older[0].created_at or "")[:10] or "earlier",
    )
    return start, [replace(in_use, run_title=start.title)]

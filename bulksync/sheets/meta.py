"""What an export records about itself: metadata and the base snapshot.

The base snapshot is every exported value as it was at export time, with what import
needs to read and check it (ids, type, label, options, lock) and what the context
cells showed (run and task titles, sections). It is JSON, one document per run, so an
import parses only the runs it touches: in the hidden ``_bulksync`` sheet of an xlsx
(a row ``run, RUN_ID, chunk, chunk …`` per run, chunks that fit a cell, then a row
``shared, chunk …`` with the field specs and option lists the runs share), or in a
sidecar ``FILE.csv.base.json`` beside a CSV.
"""

from __future__ import annotations

import json
import marshal
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any, Final

from bulksync.errors import SheetError
from bulksync.sheets.layout import Context
from bulksync.snapshot import FieldKey, FieldSpec, FieldValue, SharedSpec

FORMAT_VERSION: Final = 5
"""2: the base snapshot per run, with shared specs; the mirror holds every cell.
3: an export id and a checksum of the exported rows tie a CSV to its sidecar; the runs
layout's columns (key, task, label) are recorded to check the hidden key row against.
4: the hidden sheets are named "… (do not edit)"; the data sheet has a hidden row key
column, by which the highlighting finds a row's exported copy after a sort.
5: the runs layout has Due date and Started by context columns, and the base snapshot
records them per run; a launch sheet has empty rows for runs to start (``new_rows``)."""


@dataclass(frozen=True)
class ExportMeta:
    """Facts about one export (never the API key)."""

    bulksync_version: str
    host: str
    exported_at: str
    layout: str
    sheet: str
    runs: int
    values: int
    template_id: str | None = None
    assignees: bool = True
    export_id: str = ""
    """Random, one per export: a CSV and its sidecar carry the same one."""
    columns: Sequence[Sequence[str]] = ()
    """The runs layout's value columns as exported: (key, task title, field label)."""
    new_rows: int = 0
    """Empty rows written for runs to start (a launch sheet), after the runs' rows."""
    format_version: int = FORMAT_VERSION

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], where: str) -> ExportMeta:
        version = raw.get("format_version")
        if version != FORMAT_VERSION:
            age = "an older" if isinstance(version, int) and version < FORMAT_VERSION else "another"
            raise SheetError(
                f"{where} was written by {age} bulksync (sheet format {version!r}); this "
                f"bulksync reads format {FORMAT_VERSION}. Export the runs again and redo "
                "your edits in the new file."
            )
        try:
            return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})
        except TypeError as exc:
            raise SheetError(f"{where} has incomplete bulksync metadata ({exc}).") from None


class BaseWriter:
    """Collects the base snapshot as fields are written, and hands it over run by run.

    A run's document goes to ``emit(run_id, json)`` as soon as the writer moves on to
    the next run, so the writer holds one run at a time. The document::

        {"title": …, "status": …, "due_date": "YYYY-MM-DD" or "", "started_by": …,
         "read_at": ISO 8601 (only where known),
         "tasks": {TASK_ID: [title, section, template task id, [[spec, locked, value], …]]}}

    where ``spec`` indexes the field specs all runs share (``shared_json``, last), and
    ``read_at`` is when the run's values were read: each run's base is the state it was
    in then (issue 13; no format change: a reader that does not know the key ignores it,
    and a document of an earlier export, without it, reads as ``RunBase.read_at == ""``).
    """

    def __init__(self, context: Context, emit: Callable[[str, str], None]) -> None:
        self._context = context
        self._emit = emit
        self._options: dict[tuple[str, ...], int] = {}
        self._specs: dict[tuple[Any, ...], int] = {}
        self._index: dict[SharedSpec, int] = {}
        """A spec's index by the spec's fields as they come, so that its shared form
        (options by index) is made once per spec, not once per value."""
        self._run: str | None = None
        self._task: str | None = None
        self._rows: list[list[Any]] = []
        """The rows of the task being added to."""
        self._tasks: dict[str, tuple[str | None, list[list[Any]]]] = {}
        self._count = 0

    def add(self, field: FieldValue) -> None:
        spec = field.spec
        key = spec.key
        if key.run_id != self._run:
            self._flush()
            self._run = key.run_id
        if key.task_id != self._task:
            self._task = key.task_id
            _, self._rows = self._tasks.setdefault(key.task_id, (spec.template_task_id, []))
        own = (spec.template_task_id, key.field, spec.kind, spec.label, spec.required, spec.options)
        index = self._index.get(own)
        if index is None:
            index = self.index_of(own)
        self._rows.append([index, spec.locked, field.value])
        self._count += 1

    def index_of(self, spec: SharedSpec) -> int:
        """The index of a field's spec among the shared ones (made the first time)."""
        index = self._index.get(spec)
        if index is None:
            index = self._index[spec] = self._shared_index(spec)
        return index

    def _shared_index(self, spec: SharedSpec) -> int:
        template_task_id, name, kind, label, required, options = spec
        options_at = -1
        if options:
            options_at = self._options.setdefault(options, len(self._options))
        shared = (template_task_id, name, kind, label, int(required), options_at)
        return self._specs.setdefault(shared, len(self._specs))

    def add_run(self, run_id: str, tasks: dict[str, list[Any]]) -> None:
        """A run's document whole, for a writer that makes it itself (the CSV's): each task
        as ``[title, section, template task id, rows]``, a row ``[index_of(spec), locked,
        value]`` per value; the run's own fields come from the context
        (``Context.run_fields``). A run with no value has no document."""
        if tasks:
            self._emit_run(run_id, self._context.run_fields(run_id), tasks)
            self._count += sum(len(task[3]) for task in tasks.values())

    def _flush(self) -> None:
        if self._run is None:
            return
        context = self._context.of_run(self._run)
        titles = context["tasks"]
        tasks = {
            task_id: [*titles.get(task_id, ("", ""))[:2], template_task_id, rows]
            for task_id, (template_task_id, rows) in self._tasks.items()
        }
        self._emit_run(self._run, context, tasks)
        self._tasks = {}
        self._task = None

    def _emit_run(self, run_id: str, context: Mapping[str, Any], tasks: dict[str, Any]) -> None:
        document = {
            "title": context["title"],
            "status": context["status"],
            "due_date": context.get("due_date", ""),
            "started_by": context.get("started_by", ""),
            "tasks": tasks,
        }
        if context.get("read_at"):
            document["read_at"] = context["read_at"]
        self._emit(run_id, _compact(document))

    def __len__(self) -> int:
        return self._count

    def shared_json(self) -> str:
        """Finish the last run; what run documents share (field specs, option lists)."""
        self._flush()
        self._run = None
        shared = {"specs": list(self._specs), "options": list(self._options)}
        return _compact(shared)


_compact: Final = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), check_circular=False
).encode
"""``json.dumps(…, ensure_ascii=False, separators=(",", ":"))``, its encoder made once.
A base document is a tree of lists and dicts made for it: no cycle to look for (the
check costs a fifth of the encoding), and the same text."""


class RunBase:
    """One run's part of the base snapshot: its context, and its values a task at a time.

    Each task's rows are kept packed (``marshal``: one bytes object a task) and
    unpacked when one of its fields is first asked for. A base snapshot keeps many
    runs parsed (``BaseSnapshot.KEEP_PARSED``), and as parsed JSON each value would be
    a list of its own: several times the memory of its text, and hundreds of thousands
    of objects for the cycle collector to walk each time it runs. The fields asked for
    are kept, made once.
    """

    __slots__ = (
        "_last",
        "_made",
        "_packed",
        "_shared",
        "_where",
        "due_date",
        "read_at",
        "run_id",
        "started_by",
        "status",
        "task_of",
        "tasks",
        "title",
    )

    def __init__(
        self,
        run_id: str,
        documents: Sequence[Mapping[str, Any]],
        shared: Shared,
        where: str = "",
    ) -> None:
        first = documents[0]
        self._where = where
        self._shared = shared
        self.run_id = run_id
        self.title = str(first["title"])
        self.status = str(first["status"])
        self.due_date = str(first.get("due_date") or "")
        """The run's due date as its Due date cell showed it (``YYYY-MM-DD``), or ""."""
        self.started_by = str(first.get("started_by") or "")
        """Who started the run, as its Started by cell showed it, or ""."""
        self.read_at = str(first.get("read_at") or "")
        """When the run's values were read at export (ISO 8601), or "" (an export made
        before bulksync stamped each run)."""
        self.tasks: dict[str, tuple[str, str]] = {}
        """task id → (title, section title)"""
        self.task_of: dict[str, str] = {}
        """template task id → task id"""
        raw: dict[str, list[Any]] = {}
        for document in documents:
            for task_id, (title, section, template_task_id, rows) in document["tasks"].items():
                self.tasks[task_id] = (title, section)
                if template_task_id is not None:
                    self.task_of.setdefault(template_task_id, task_id)
                raw.setdefault(task_id, []).extend(rows)
        self._packed = {task_id: marshal.dumps(rows) for task_id, rows in raw.items()}
        """task id → its rows ``[spec index, locked, value]``, packed"""
        self._last: tuple[str, dict[str, list[Any]]] = ("", {})
        """The task unpacked last, its rows by field: a run's fields are asked for a
        task at a time."""
        self._made: dict[FieldKey, FieldValue] = {}

    def _fields_of(self, task_id: str) -> dict[str, list[Any]]:
        last_task, found = self._last
        if last_task != task_id or not last_task:
            packed = self._packed.get(task_id)
            field_of = self._shared.field_of
            try:
                rows = marshal.loads(packed) if packed is not None else ()
                found = {field_of[row[0]]: row for row in rows}
            except (IndexError, TypeError) as exc:
                raise self._damaged(exc) from None
            self._last = (task_id, found)
        return found

    def _damaged(self, exc: Exception) -> SheetError:
        return SheetError(
            f"The base snapshot in {self._where} is damaged ({type(exc).__name__} in run "
            f"{self.run_id}); export again."
        )

    def __contains__(self, key: FieldKey) -> bool:
        return key in self._made or key.field in self._fields_of(key.task_id)

    def __len__(self) -> int:
        return sum(len(marshal.loads(packed)) for packed in self._packed.values())

    def keys(self) -> Iterator[FieldKey]:
        for task_id in self._packed:
            for name in self._fields_of(task_id):
                yield FieldKey(self.run_id, task_id, name)

    def get(self, key: FieldKey) -> FieldValue | None:
        """The field of ``key`` (a key of this run) as exported, or None if the run has
        no such field."""
        made = self._made.get(key)
        if made is not None:
            return made
        row = self._fields_of(key.task_id).get(key.field)
        if row is None:
            return None
        try:
            index, locked, value = row
            tt_id, name, kind, label, required, options = self._shared.specs[index]
            spec = FieldSpec(
                key if key.run_id == self.run_id else FieldKey(self.run_id, key.task_id, name),
                tt_id,
                kind,
                label,
                bool(required),
                self._shared.options[options] if options >= 0 else (),
                locked,
            )
        except (ValueError, TypeError, IndexError) as exc:
            raise self._damaged(exc) from None
        made = self._made[key] = FieldValue(spec, value)
        return made


class BaseSnapshot(Mapping[FieldKey, FieldValue]):
    """The base snapshot by field, each run's part parsed only when asked for.

    An import of a sheet with a few edits parses the runs it touches, not all of them;
    and keeps only the last ``KEEP_PARSED`` runs asked for parsed, so a sheet with an
    edit in every run of a large export does not hold every run parsed (several times
    the size of its JSON text). The reader and the checks each go through the runs in
    the sheet's order: beyond that many runs with edits, a run is parsed twice.
    """

    KEEP_PARSED: Final = 1000
    """Parsed runs kept, the last asked for: reading a sheet and checking its cells each
    go through the runs once, so up to this many runs with edits are parsed once."""

    def __init__(
        self,
        shared: Shared | None = None,
        documents: Mapping[str, Sequence[str | bytes | Mapping[str, Any]]] | None = None,
        where: str = "",
    ) -> None:
        self._shared = shared or Shared((), ())
        self._documents = documents or {}
        self._where = where
        self._runs: OrderedDict[str, RunBase] = OrderedDict()

    def run(self, run_id: str) -> RunBase | None:
        """The part of one run, or None if the export has no such run."""
        found = self._runs.get(run_id)
        if found is not None:
            self._runs.move_to_end(run_id)
            return found
        parts = self._documents.get(run_id)
        if parts is None:
            return None
        found = self._runs[run_id] = self._parse(run_id, parts)
        if len(self._runs) > self.KEEP_PARSED:
            self._runs.popitem(last=False)
        return found

    def _parse(self, run_id: str, parts: Sequence[str | bytes | Mapping[str, Any]]) -> RunBase:
        try:
            documents = [json.loads(p) if isinstance(p, str | bytes) else p for p in parts]
            return RunBase(run_id, documents, self._shared, self._where)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise SheetError(
                f"The base snapshot in {self._where} is damaged ({type(exc).__name__} in run "
                f"{run_id}); export again."
            ) from None

    def run_ids(self) -> Iterable[str]:
        return self._documents.keys()

    def __getitem__(self, key: FieldKey) -> FieldValue:
        run = self.run(key.run_id)
        found = None if run is None else run.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, FieldKey):
            return False
        run = self.run(key.run_id)
        return run is not None and key in run

    def __iter__(self) -> Iterator[FieldKey]:
        for run_id in self._documents:
            run = self.run(run_id)
            if run is not None:
                yield from run.keys()

    def __len__(self) -> int:
        return sum(len(run) for r in self._documents if (run := self.run(r)) is not None)


@dataclass
class Shared:
    """What the runs' documents share: field specs and option lists, by index."""

    specs: Sequence[Sequence[Any]]
    """(template task id, field, kind, label, required, options index)"""
    options: Sequence[tuple[str, ...]]

    @cached_property
    def field_of(self) -> list[str]:
        """Spec index → field id."""
        return [spec[1] for spec in self.specs]

    @classmethod
    def parse(cls, raw: str | Mapping[str, Any], where: str) -> Shared:
        try:
            document = json.loads(raw) if isinstance(raw, str) else raw
            specs = [tuple(s) for s in document["specs"]]
            if any(len(s) != 6 for s in specs):
                raise ValueError("spec")
            return cls(specs, [tuple(o) for o in document["options"]])
        except (ValueError, TypeError, KeyError):
            raise SheetError(f"The base snapshot in {where} is damaged; export again.") from None


def chunks(text: str, size: int = 32_000) -> Iterable[str]:
    """Pieces of ``text`` that each fit a spreadsheet cell."""
    return (text[i : i + size] for i in range(0, len(text), size)) if text else [""]


def locked_as_unholdable(field: FieldValue, why: str) -> FieldValue:
    """The field, locked because no cell can hold its value exactly; import keeps it."""
    spec = field.spec
    reason = f"{UNHOLDABLE}: {why}"
    return FieldValue(spec._replace(locked=reason), field.value)


UNHOLDABLE: Final = "cannot be held in a spreadsheet cell"

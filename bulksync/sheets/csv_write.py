"""Writing an export to CSV: its rows as text, and its sidecar beside it.

The format is ``csvfile``'s (which reads it back). A text that a spreadsheet would take
for a formula (``= + - @``, tab, CR), a number, a date or an error value (``#N/A``) is
written with a leading apostrophe, so that it stays text (``guard``).

An export's rows are made straight from its snapshot (``Grid.snapshot``), not from the
grid's ``Cell``s, which are the xlsx writer's: a CSV cell is text, so each value's text,
and whether a cell can hold it, is made once per distinct value of a field type and its
options (``ValueTexts``), and each value becomes its text and its row of the base
snapshot with no ``Cell``, ``FieldSpec`` or ``FieldValue`` made for it. A grid given as
cells only (the retry CSV of ``write_retry_csv``) is written cell by cell.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final, Generic, NamedTuple, TypeVar

from bulksync.codecs import CellValue, Codec, codec_for, unholdable
from bulksync.model import JSON, Task
from bulksync.sheets.csv_sidecar import SidecarWriter, cells_key
from bulksync.sheets.layout import (
    RUN_CONTEXT_COLUMNS,
    TASK_ID_COLUMNS,
    Cell,
    Grid,
    Layout,
    due_date_of,
)
from bulksync.sheets.meta import UNHOLDABLE, BaseWriter, ExportMeta, locked_as_unholdable
from bulksync.snapshot import SharedSpec, Snapshot, lock_reason, task_values

_LOOKS_TYPED = re.compile(
    r"\s*[+-]?(\d[\d,. ]*|\.\d+)([eE][+-]?\d+)?%?\s*\Z"  # numbers, 1,234.5, 12%
    r"|\s*\d{1,4}[-/.]\d{1,2}([-/.]\d{1,4})?\s*\Z"  # dates: 2026-01-31, 3/4, 03.04.2026
    r"|\s*(true|false)\s*\Z",
    re.IGNORECASE,
)
ERROR_VALUES: Final = frozenset(
    {"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!"}
)
_GUARDED_START: Final = "=+-@\t\r'"
"""A text starting with one of these is a formula (or loses it) in a spreadsheet."""


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".base.json")


_TYPED_START: Final = frozenset("+-.#tTfF")
"""Besides a digit or a space, how a text that ``_LOOKS_TYPED`` or is one of
``ERROR_VALUES`` starts: any other text is not matched against them."""


def guard(text: str, *, as_text: bool) -> str:
    """``text`` with a leading apostrophe where a spreadsheet would not keep it as text."""
    if not text:
        return text
    start = text[0]
    if start in _GUARDED_START:
        return "'" + text
    if (
        as_text
        and (start in _TYPED_START or start.isdecimal() or start.isspace())
        and (_LOOKS_TYPED.match(text) or text.strip() in ERROR_VALUES)
    ):
        return "'" + text
    return text


def _context(value: CellValue) -> str:
    """A context or id cell's text: ``guard(text, as_text=False)``."""
    text = "" if value is None else str(value)
    return "'" + text if text and text[0] in _GUARDED_START else text


def header_of(grid: Grid) -> list[str]:
    if grid.layout is Layout.TASKS:
        return [c.title for c in grid.columns]
    return [f"{c.group} › {c.title} [{c.key}]" if c.kind else c.title for c in grid.columns]


TIE: Final = re.compile(r"bulksync export ([0-9a-f]{12}) rows ([0-9a-f]{16})")
"""The last header cell: the export id and a checksum of the rows as exported."""
_NO_CHECKSUM: Final = "0" * 16


def tie_cell(export_id: str, checksum: str) -> str:
    return f"bulksync export {export_id} rows {checksum}"


def write_csv(grid: Grid, meta: ExportMeta, path: Path) -> int:
    """Write the grid and its sidecar; the sidecar is streamed run by run as well.

    Sidecar (``csv_sidecar``): ``{"meta": {...}, "runs": {RUN_ID: document, ...},
    "shared": {...}, "rows": CHECKSUM, "digests": …, "ids": …}``, a digest of each row as
    written, by which reading skips the rows that are as exported. The CSV's last header
    cell carries the export id and the same checksum (``TIE``), so that a CSV read beside
    a sidecar of another export is refused: its values would be taken for edits. The
    checksum is known once the rows are written; it then replaces a placeholder in the
    header. Reading compares the two copies of the checksum (header and sidecar), never
    the rows with it: edited, filled or appended rows keep the tie. A launch sheet's
    empty rows for runs to start (``grid.new_rows``) come last, every cell empty.
    """
    head = io.StringIO()
    csv.writer(head, lineterminator="\r\n").writerow(
        [guard(h, as_text=False) for h in header_of(grid)]
        + [tie_cell(meta.export_id, _NO_CHECKSUM)]
    )
    header = head.getvalue()
    with (
        # UTF-8 with a BOM, written as the first character: the same bytes as the
        # "utf-8-sig" codec, whose encoder is Python code called for every row written.
        path.open("w", encoding="utf-8", newline="") as handle,
        sidecar(path).open("w", encoding="utf-8", newline="") as side,
    ):
        digests = SidecarWriter(side, meta)
        base = BaseWriter(grid.context, digests.emit)
        writer = csv.writer(handle, lineterminator="\r\n")
        handle.write("\ufeff" + header)
        if grid.snapshot is None:
            rows = _cell_rows(grid, base)
        elif grid.layout is Layout.TASKS:
            rows = _tasks_rows(grid.snapshot, grid.assignees, base)
        else:
            rows = _runs_rows(grid, grid.snapshot, base)
        for some, keys in rows:
            writer.writerows(some)
            if keys is None:
                digests.rows(some)
            else:
                digests.keyed_rows(*keys, width=len(grid.columns) + 1)
        # Rows for runs to start: every cell empty (they have no base).
        empty = [[""] * (len(grid.columns) + 1)] * grid.new_rows
        writer.writerows(empty)
        digests.rows(empty)
        checksum = digests.close(base.shared_json())
    # The placeholder is ASCII and as long as the checksum: replaced in place.
    at = len(codecs.BOM_UTF8) + len(header.encode()) - len(_NO_CHECKSUM) - len("\r\n")
    with path.open("r+b") as raw:
        raw.seek(at)
        raw.write(checksum.encode())
    return len(base)


Rows = Iterator[tuple[list[list[str]], tuple[list[bytes], list[bytes]] | None]]
"""Data rows a few at a time (a task's in the tasks layout, a run's in the runs layout),
each row's cells as written (the tie column's empty cell last); in the tasks layout with
each row's digest key and its id cells' (``SidecarWriter.keyed_rows``)."""

_MAX_KEPT: Final = 1024
"""Texts kept per field type and options: values that repeat (dates, options, booleans)
are made once; a column of distinct values (emails) keeps this many and no more, so that
the memory an export takes does not grow with its runs."""


class ValueTexts(dict[Any, tuple[str, str | None]]):
    """A value's CSV cell text and why no cell can hold it (``unholdable``; None if one
    can), for one field type and its options: made once per distinct value.

    Look a value up by itself (``texts[value]``) if its class is one of ``KEYED``, else
    with ``of``. Kept by value only where a value's equality is its text's: ``str``,
    ``bool``, None, and a list (of options) as a tuple; ``1 == 1.0 == True`` and
    ``-0.0 == 0.0`` would take one number's text for another's, so numbers are made
    each time."""

    KEYED: Final = frozenset({str, bool, type(None)})

    def __init__(self, codec: Codec, options: tuple[str, ...]) -> None:
        super().__init__()
        self._codec = codec
        self._options = options

    def of(self, value: JSON) -> tuple[str, str | None]:
        if value.__class__ in self.KEYED:
            return self[value]
        if isinstance(value, list):
            try:
                return self[tuple(value)]
            except TypeError:  # an item that is not hashable
                pass
        return self._made(value)

    def __missing__(self, key: Any) -> tuple[str, str | None]:
        # A tuple key stands for a list value: a JSON value is never a tuple.
        found = self._made(list(key) if isinstance(key, tuple) else key)
        if len(self) < _MAX_KEPT:
            self[key] = found
        return found

    def _made(self, value: JSON) -> tuple[str, str | None]:
        codec, options = self._codec, self._options
        why = unholdable(codec.to_cell(value, options), xml=False)
        return guard(codec.to_text(value, options), as_text=codec.csv_text), why


_P = TypeVar("_P")


class _Field(Generic[_P]):
    """What the writer keeps of a field's spec: its values' texts, where its cells go,
    and its index among the base's shared specs (-1 until a value of it is put into a
    base document: indexes are made in the order a writer given cells made them)."""

    __slots__ = ("index", "place", "spec", "texts")

    def __init__(self, spec: SharedSpec, texts: ValueTexts, place: _P) -> None:
        self.spec = spec
        self.texts = texts
        self.place = place
        self.index = -1

    def index_in(self, base: BaseWriter) -> int:
        if self.index < 0:
            self.index = base.index_of(self.spec)
        return self.index


class _Fields(dict[SharedSpec, _Field[_P]]):
    """The ``_Field`` of each shared spec, made when the spec is first met: its texts
    shared with the specs of the same type and options, its place ``place(spec)``."""

    def __init__(self, place: Callable[[SharedSpec], _P]) -> None:
        super().__init__()
        self._place = place
        self._texts: dict[tuple[str, tuple[str, ...]], ValueTexts] = {}

    def __missing__(self, spec: SharedSpec) -> _Field[_P]:
        kind, options = spec[2], spec[5]
        texts = self._texts.get((kind, options))
        if texts is None:
            texts = self._texts[kind, options] = ValueTexts(codec_for(kind), options)
        found = self[spec] = _Field(spec, texts, self._place(spec))
        return found


def _unholdable(why: str) -> str:
    """A value's lock in the base where no cell can hold it (``locked_as_unholdable``)."""
    return f"{UNHOLDABLE}: {why}"


def _base_rows(tasks: dict[str, list[Any]], task: Task, sections: Mapping[str, str]) -> list[Any]:
    """The rows of ``task`` in its run's base document ``tasks``, which holds each task
    as ``[title, section, template task id, rows]`` (made when the task is first met)."""
    found = tasks.get(task.id)
    if found is None:
        section = sections.get(task.section_id or "", "")
        found = tasks[task.id] = [task.title, section, task.template_task_id, []]
    rows: list[Any] = found[3]
    return rows


_InBase = tuple[Task, _Field[int], "str | None", JSON]
"""A runs-layout cell's value as its base row holds it: task, field, lock, value."""


def _runs_rows(grid: Grid, snapshot: Snapshot, base: BaseWriter) -> Rows:
    """The runs layout: a row per run, its context cells, then each value in the column
    of its (template task, field); ``n/a`` where the run has no such field."""
    column = {c.key: col for col, c in enumerate(grid.columns)}
    fields = _Fields(lambda spec: column[f"{spec[0]}:{spec[1]}"])
    keyed = ValueTexts.KEYED
    dates = codec_for("date")
    context = len(RUN_CONTEXT_COLUMNS)
    blank = [""] * context + ["n/a"] * (len(grid.columns) - context) + [""]  # + the tie
    no_values: list[_InBase | None] = [None] * len(grid.columns)
    for run in snapshot.runs:
        row = blank.copy()
        due = dates.to_cell(due_date_of(run) or None)
        row[:context] = map(_context, (run.title, run.status, due, run.started_by, run.id))
        in_base = no_values.copy()
        for task in snapshot.tasks.get(run.id, ()):
            locked = lock_reason(run, task)
            for spec, value in task_values(task, assignees=grid.assignees):
                field = fields[spec]
                texts = field.texts
                text, why = texts[value] if value.__class__ in keyed else texts.of(value)
                row[field.place] = text  # a later value of a column wins, as in the grid
                in_base[field.place] = (
                    task,
                    field,
                    locked if why is None else _unholdable(why),
                    value,
                )
        yield [row], None
        base.add_run(run.id, _run_document(in_base, base, snapshot.section_titles))


def _run_document(
    in_base: list[_InBase | None], base: BaseWriter, sections: Mapping[str, str]
) -> dict[str, list[Any]]:
    """A runs-layout row's base document, its values column by column (each task's
    where its first column is), as the writer given the row's cells made it."""
    tasks: dict[str, list[Any]] = {}
    task_id = None
    rows: list[Any] = []
    for found in in_base:
        if found is None:
            continue
        task, field, lock, value = found
        if task.id != task_id:
            task_id, rows = task.id, _base_rows(tasks, task, sections)
        index = field.index
        rows.append([field.index_in(base) if index < 0 else index, lock, value])
    return tasks


def _tasks_rows(snapshot: Snapshot, assignees: bool, base: BaseWriter) -> Rows:
    """The tasks layout: a row per value, its cells in ``TASK_COLUMNS``' order. Each
    row's digest key is joined from pieces: the task's, the field's and the value's."""
    fields = _Fields(_about)
    keyed = ValueTexts.KEYED
    sections = snapshot.section_titles
    for run in snapshot.runs:
        run_title, run_id = _context(run.title), _context(run.id)
        tasks: dict[str, list[Any]] = {}
        for task in snapshot.tasks.get(run.id, ()):
            locked = lock_reason(run, task)
            section = _context(sections.get(task.section_id or "", ""))
            title, task_id = _context(task.title), _context(task.id)
            head, id_head = _piece(run_title, section, title), _piece(run_id, task_id)
            rows = _base_rows(tasks, task, sections)
            cells, keys, id_keys = [], [], []
            for spec, value in task_values(task, assignees=assignees):
                field = fields[spec]
                texts = field.texts
                text, why = texts[value] if value.__class__ in keyed else texts.of(value)
                index = field.index
                lock = locked if why is None else _unholdable(why)
                rows.append([field.index_in(base) if index < 0 else index, lock, value])
                label, kind, required, allowed, field_id, about, field_key = field.place
                about_cells = [run_title, section, title, label, kind, required, allowed, text]
                cells.append([*about_cells, run_id, task_id, field_id, ""])
                id_key = id_head + field_key
                keys.append(b"".join((head, about, text.encode(), b"\x00", id_key, b"\x00")))
                id_keys.append(id_key)
            yield cells, (keys, id_keys)
        base.add_run(run.id, tasks)


def _piece(*cells: str) -> bytes:
    """The part of a row's digest key that some of its cells make (``cells_key``)."""
    return cells_key(cells) + b"\x00"


class _About(NamedTuple):
    """A field's Field, Type, Required and Allowed values cells and its field_id (tasks
    layout: ``layout.type_label``, ``layout.allowed_values``), and their digest keys."""

    label: str
    kind: str
    required: str
    allowed: str
    field_id: str
    key: bytes
    """The four cells' ``_piece``."""
    field_key: bytes
    """field_id's ``cells_key``."""


def _about(spec: SharedSpec) -> _About:
    _, name, kind, label, required, options = spec
    codec = codec_for(kind)
    cells = (
        _context(label),
        _context(codec.label),
        "yes" if required else "",
        _context(codec.hint(options)),
    )
    field_id = _context(name)
    return _About(*cells, field_id=field_id, key=_piece(*cells), field_key=cells_key([field_id]))


def _cell_rows(grid: Grid, base: BaseWriter) -> Rows:
    """A grid given as cells: each value cell's text and base from its field."""
    id_cols = None
    if grid.layout is Layout.TASKS:
        keys = [c.key for c in grid.columns]
        id_cols = [keys.index(name) for name in TASK_ID_COLUMNS]
    for cells in grid.rows:
        row = []
        for cell in cells:
            if cell.field is not None:
                row.append(_value_text(cell, base))
            elif cell.na:
                row.append("n/a")
            else:
                row.append(_context(cell.value))
        row.append("")  # the tie column
        if id_cols is None:
            yield [row], None
        else:
            yield [row], ([cells_key(row)], [cells_key([row[c] for c in id_cols])])


def _value_text(cell: Cell, base: BaseWriter) -> str:
    """A value cell's text as written; its field goes to the base snapshot."""
    field = cell.field
    assert field is not None
    codec = codec_for(field.spec.kind)
    shown = field.value if cell.shows is None else cell.shows[0]
    text = codec.to_text(shown, field.spec.options)
    why = unholdable(cell.value, xml=False)
    if why:
        field = locked_as_unholdable(field, why)
    base.add(field)
    return guard(text, as_text=codec.csv_text)

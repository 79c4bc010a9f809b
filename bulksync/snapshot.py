"""Live state as bulksync sees it: the runs, their tasks, and every editable field.

Values only: ``bulksync.fetch`` reads them from NextStep.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from bulksync.codecs import ASSIGNEE, CODECS, COMPLETION, codec_for, is_writable
from bulksync.model import JSON, Element, Run, Task, Template, TemplateTask

COMPLETION_LABEL: Final = "Completed"
ASSIGNEE_LABEL: Final = "Assignee"


class FieldKey(NamedTuple):
    """One editable value: an element of a task, or its completion or assignee.

    A named tuple: it is built and hashed once per cell of a sheet, and a tuple does
    both at C speed.
    """

    run_id: str
    task_id: str
    field: str
    """An element id, ``"completed"`` or ``"assignee"``."""


class FieldSpec(NamedTuple):
    """What a field is, and why it may not be edited.

    Named tuples, like ``FieldKey``: one is made per value of a sheet, at C speed.
    """

    key: FieldKey
    template_task_id: str | None
    kind: str
    """The element type, or ``"completed"`` / ``"assignee"``."""
    label: str
    required: bool = False
    options: tuple[str, ...] = ()
    locked: str | None = None
    """Why the value cannot change here (``run completed``, ``task skipped``), or None."""


class FieldValue(NamedTuple):
    spec: FieldSpec
    value: JSON


@dataclass(frozen=True)
class Snapshot:
    """Runs and their tasks as they were read from ``host``, starting at ``taken_at``.

    ``tasks`` is any mapping: a dict, or an export's spool read run by run
    (``bulksync.spool``), so that a large export never holds every run's tasks at once.
    """

    host: str
    taken_at: str
    runs: tuple[Run, ...]
    tasks: Mapping[str, tuple[Task, ...]]
    template_tasks: tuple[TemplateTask, ...] = ()
    """The template's tasks, for the runs layout's columns (empty otherwise)."""
    template_id: str | None = None
    section_titles: Mapping[str, str] = field(default_factory=dict)
    template: Template | None = None
    """The template itself, when it was read (a launch sheet: is it published?)."""
    read_at: Mapping[str, str] = field(default_factory=dict)
    """When each run's tasks were read (ISO 8601, UTC), by run id, where known: a run's
    values are as they were then, which for a long export can be long after ``taken_at``."""

    def fields(self, *, assignees: bool = True) -> Iterator[FieldValue]:
        """Every editable value, run by run, task by task, in the run's own order."""
        for run in self.runs:
            for task in self.tasks.get(run.id, ()):
                yield from task_fields(run, task, assignees=assignees)

    def count_fields(self, *, assignees: bool = True) -> int:
        """How many values ``fields`` yields, without making them."""
        per_task = 2 if assignees else 1
        return sum(
            per_task + len(editable_elements(task))
            for run in self.runs
            for task in self.tasks.get(run.id, ())
        )


def lock_reason(run: Run, task: Task) -> str | None:
    if run.is_completed:
        return "run completed"
    if task.skipped:
        return "task skipped"
    return None


def task_fields(run: Run, task: Task, *, assignees: bool = True) -> Iterator[FieldValue]:
    """A task's editable values: its writable elements, then completion and assignee."""
    locked = lock_reason(run, task)
    for element in editable_elements(task):
        yield _element_field(task, FieldKey(run.id, task.id, element.id), element, locked)
    yield _task_field(task, FieldKey(run.id, task.id, COMPLETION), locked)
    if assignees:
        yield _task_field(task, FieldKey(run.id, task.id, ASSIGNEE), locked)


SharedSpec = tuple[str | None, str, str, str, bool, tuple[str, ...]]
"""A field's spec without its run, task and lock: (template task id, field, kind, label,
required, options), what the same field of every run of a template shares."""


def task_values(task: Task, *, assignees: bool = True) -> Iterator[tuple[SharedSpec, JSON]]:
    """What ``task_fields`` yields, as (shared spec, value) pairs: no ``FieldKey``,
    ``FieldSpec`` and ``FieldValue`` made per value, for a writer that does its work once
    per spec (the CSV's). The run, task and lock are the caller's."""
    template_task_id = task.template_task_id
    for element in task.elements:
        if element.display_only or element.type not in _WRITABLE:
            continue  # editable_elements
        value = element.value
        spec = (
            template_task_id,
            element.id,
            element.type,
            element.label,
            element.required,
            element.options,
        )
        yield spec, codec_for(element.type).empty() if value is None else value
    yield (template_task_id, COMPLETION, COMPLETION, COMPLETION_LABEL, False, ()), task.completed
    if assignees:
        yield (template_task_id, ASSIGNEE, ASSIGNEE, ASSIGNEE_LABEL, False, ()), task.assignee


def editable_elements(task: Task) -> list[Element]:
    """The elements of a task that ``task_fields`` makes a value of, in its order."""
    return [e for e in task.elements if not e.display_only and e.type in _WRITABLE]


def editable_ids(task: Task) -> list[str]:
    """The ids of ``editable_elements``, in its order."""
    return [e.id for e in task.elements if not e.display_only and e.type in _WRITABLE]


_WRITABLE: Final = frozenset(kind for kind in CODECS if is_writable(kind))
"""The types ``is_writable`` accepts (its codecs are fixed): a set, tested per element."""


def field_labels(task: Task, *, assignees: bool = True) -> Iterator[tuple[str, str, str]]:
    """(field id, kind, label) of each value ``task_fields`` yields, in its order, without
    making the values: what a pass that only sizes a sheet needs."""
    for element in editable_elements(task):
        yield element.id, element.type, element.label
    yield COMPLETION, COMPLETION, COMPLETION_LABEL
    if assignees:
        yield ASSIGNEE, ASSIGNEE, ASSIGNEE_LABEL


def live_field(task: Task, key: FieldKey) -> FieldValue | None:
    """The live value and definition of one field of a task, or None if it has none."""
    locked = "task skipped" if task.skipped else None
    if key.field in (COMPLETION, ASSIGNEE):
        return _task_field(task, key, locked)
    element = task.element(key.field)
    if element is None:
        return None
    return _element_field(
        task, key, element, "display-only field" if element.display_only else locked
    )


def _element_field(task: Task, key: FieldKey, element: Element, locked: str | None) -> FieldValue:
    """A form element of a task as a field: its definition, and its value (or the
    type's empty value for none)."""
    spec = FieldSpec(
        key,
        task.template_task_id,
        element.type,
        element.label,
        element.required,
        element.options,
        locked,
    )
    value = element.value
    return FieldValue(spec, codec_for(element.type).empty() if value is None else value)


def _task_field(task: Task, key: FieldKey, locked: str | None) -> FieldValue:
    """A task's completion or assignee as a field."""
    if key.field == COMPLETION:
        spec = FieldSpec(key, task.template_task_id, COMPLETION, COMPLETION_LABEL, locked=locked)
        return FieldValue(spec, task.completed)
    spec = FieldSpec(key, task.template_task_id, ASSIGNEE, ASSIGNEE_LABEL, locked=locked)
    return FieldValue(spec, task.assignee)

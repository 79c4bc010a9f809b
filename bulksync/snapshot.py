"""Live state as bulksync sees it: the runs, their tasks, and every editable field.

``fetch_snapshot`` reads what an export needs with the fewest requests: a page of runs
per 100 runs (or one GET per run named by id), one paginated task list per run, and
for the runs layout the template's task list once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from bulksync.client import NextStepClient
from bulksync.codecs import ASSIGNEE, COMPLETION, codec_for, is_writable
from bulksync.model import JSON, Run, Task, TemplateTask

Progress = Callable[[int, int], None]
"""Called with (runs fetched, runs in all) as an export reads live state."""


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
    """Runs and their tasks as they were read at ``taken_at`` from ``host``."""

    host: str
    taken_at: str
    runs: tuple[Run, ...]
    tasks: Mapping[str, tuple[Task, ...]]
    template_tasks: tuple[TemplateTask, ...] = ()
    """The template's tasks, for the runs layout's columns (empty otherwise)."""
    template_id: str | None = None
    section_titles: Mapping[str, str] = field(default_factory=dict)

    def fields(self, *, assignees: bool = True) -> Iterator[FieldValue]:
        """Every editable value, run by run, task by task, in the run's own order."""
        for run in self.runs:
            for task in self.tasks.get(run.id, ()):
                yield from task_fields(run, task, assignees=assignees)

    def count_fields(self, *, assignees: bool = True) -> int:
        """How many values ``fields`` yields, without making them."""
        per_task = 2 if assignees else 1
        return sum(
            per_task + sum(1 for e in task.elements if not e.display_only and is_writable(e.type))
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
    for element in task.elements:
        if element.display_only or not is_writable(element.type):
            continue
        spec = FieldSpec(
            FieldKey(run.id, task.id, element.id),
            task.template_task_id,
            element.type,
            element.label,
            element.required,
            element.options,
            locked,
        )
        value = element.value
        yield FieldValue(spec, codec_for(element.type).empty() if value is None else value)
    yield FieldValue(
        FieldSpec(
            FieldKey(run.id, task.id, COMPLETION),
            task.template_task_id,
            COMPLETION,
            "Completed",
            locked=locked,
        ),
        task.completed,
    )
    if assignees:
        yield FieldValue(
            FieldSpec(
                FieldKey(run.id, task.id, ASSIGNEE),
                task.template_task_id,
                ASSIGNEE,
                "Assignee",
                locked=locked,
            ),
            task.assignee,
        )


def fetch_snapshot(
    client: NextStepClient,
    *,
    run_ids: Sequence[str] = (),
    template_id: str | None = None,
    status: str | None = None,
    with_template: bool = False,
    progress: Progress | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> Snapshot:
    """Read runs (by id, or all of a template in a status) with all their tasks."""
    taken_at = now().isoformat(timespec="seconds")
    if run_ids:
        runs = list(client.map(client.get_run, list(dict.fromkeys(run_ids))))
    else:
        runs = client.list_runs(template_id=template_id, status=status)
    total = len(runs)
    if progress:
        progress(0, total)
    tasks: dict[str, tuple[Task, ...]] = {}
    for done, (run, run_tasks) in enumerate(
        zip(runs, client.map(client.run_tasks, [r.id for r in runs]), strict=True), start=1
    ):
        tasks[run.id] = tuple(run_tasks)
        if progress:
            progress(done, total)
    template_tasks: tuple[TemplateTask, ...] = ()
    chosen_template = template_id or (runs[0].template_id if runs else None)
    if with_template and chosen_template:
        template_tasks = tuple(client.template_tasks(chosen_template))
    sections = {s.id: s.title for run in runs for s in run.sections}
    return Snapshot(
        host=client.host,
        taken_at=taken_at,
        runs=tuple(runs),
        tasks=tasks,
        template_tasks=template_tasks,
        template_id=chosen_template,
        section_titles=sections,
    )

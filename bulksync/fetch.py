"""Reading live state from NextStep: a snapshot for an export, runs' tasks for an import.

``fetch_snapshot`` reads what an export needs with the fewest requests: a page of runs
per 100 runs (or one GET per run named by id), one paginated task list per run, and
for the runs layout the template's task list once; for a sheet to start runs from, the
template itself (is it published?), and with no runs, nothing else.

``LiveState.read`` is the reader an import or undo plans with (one run-tasks list per
run, a few at once; a run that is gone is ``None``). ``LiveState.fresh`` is what the
apply calls right before writing a run: the tasks read then, or again now if that read
is older than ``max_age`` seconds, so a value someone changed while the plan was shown,
confirmed or worked through is seen before anything is written over it. Its
``template``, ``template_tasks`` and ``template_runs`` are what planning a sheet's new
rows reads (``launch_plan.TemplateSource``), only when the sheet has some.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from bulksync.client import NextStepClient
from bulksync.errors import ConfigError, NotFoundError
from bulksync.launch import created_since
from bulksync.model import Run, Task, Template, TemplateTask
from bulksync.snapshot import Snapshot

Progress = Callable[[int, int], None]
"""Called with (runs read, runs in all) as live state is read."""


def fetch_snapshot(
    client: NextStepClient,
    *,
    run_ids: Sequence[str] = (),
    template_id: str | None = None,
    status: str | None = None,
    with_template: bool = False,
    with_runs: bool = True,
    launch: bool = False,
    progress: Progress | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> Snapshot:
    """Read runs (by id, or all of a template in a status) with all their tasks.

    ``launch``, for a sheet to start runs from: the template itself is read too
    (``Snapshot.template``: is it published?), and its tasks. ``with_runs=False`` reads
    no runs at all, only the template: two requests.
    """
    if (launch or not with_runs) and not template_id:
        raise ConfigError("A sheet to start runs from is of one template: give its id.")
    taken_at = now().isoformat(timespec="seconds")
    template = client.get_template(template_id) if launch and template_id else None
    runs = _runs(client, run_ids, template_id, status) if with_runs else []
    tasks = _tasks(client, runs, progress)
    template_tasks: tuple[TemplateTask, ...] = ()
    chosen_template = template_id or (runs[0].template_id if runs else None)
    if (with_template or launch) and chosen_template:
        template_tasks = tuple(client.template_tasks(chosen_template))
    sections = {s.id: s.title for s in (template.sections if template else ())}
    sections |= {s.id: s.title for run in runs for s in run.sections}
    return Snapshot(
        host=client.host,
        taken_at=taken_at,
        runs=tuple(runs),
        tasks=tasks,
        template_tasks=template_tasks,
        template_id=chosen_template,
        section_titles=sections,
        template=template,
    )


def _tasks(
    client: NextStepClient, runs: Sequence[Run], progress: Progress | None
) -> dict[str, tuple[Task, ...]]:
    """Every run's tasks (a paginated list per run, a few at once)."""
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
    return tasks


def _runs(
    client: NextStepClient, run_ids: Sequence[str], template_id: str | None, status: str | None
) -> list[Run]:
    """The runs named by id (one GET each), or those of a template in a status."""
    if run_ids:
        return list(client.map(client.get_run, list(dict.fromkeys(run_ids))))
    return client.list_runs(template_id=template_id, status=status)


class Reading(NamedTuple):
    tasks: list[Task] | None
    """None: the run no longer exists (or this key cannot see it)."""
    at: float
    """When the answer came, on the state's clock (monotonic seconds)."""


class LiveState:
    """Reads runs' tasks through a client and remembers when each run was read."""

    def __init__(
        self,
        client: NextStepClient,
        *,
        progress: Progress | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.progress = progress
        self.clock = clock
        self.readings: dict[str, Reading] = {}
        self._lock = threading.Lock()
        self.reads = 0
        """Run-task lists read (not counting pages)."""

    def read(self, run_ids: Sequence[str]) -> dict[str, list[Task] | None]:
        """Each run's tasks, read now (several at once); a run gone is None."""
        found: dict[str, list[Task] | None] = {}
        total = len(run_ids)
        if self.progress:
            self.progress(0, total)
        runs = list(run_ids)
        for done, (run_id, reading) in enumerate(
            zip(runs, self.client.map(self._read_one, runs), strict=True), start=1
        ):
            found[run_id] = reading.tasks
            if self.progress:
                self.progress(done, total)
        return found

    def fresh(self, run_id: str, max_age: float) -> Reading:
        """The run's tasks read at most ``max_age`` seconds ago (read again if older)."""
        known = self.readings.get(run_id)
        if known is not None and self.clock() - known.at <= max_age:
            return known
        return self._read_one(run_id)

    def _read_one(self, run_id: str) -> Reading:
        try:
            tasks: list[Task] | None = self.client.run_tasks(run_id)
        except NotFoundError:
            tasks = None
        reading = Reading(tasks, self.clock())
        with self._lock:
            self.readings[run_id] = reading
            self.reads += 1
        return reading

    # -- what planning runs to start reads (launch_plan.TemplateSource) ----------------

    def template(self, template_id: str) -> Template | None:
        try:
            return self.client.get_template(template_id)
        except NotFoundError:
            return None

    def template_tasks(self, template_id: str) -> list[TemplateTask]:
        return self.client.template_tasks(template_id)

    def template_runs(self, template_id: str, since: str | None) -> list[Run]:
        return template_runs(self.client, template_id, since)


def template_runs(client: NextStepClient, template_id: str, since: str | None) -> list[Run]:
    """The template's runs created at or after ``since`` (newest first: the listing stops
    at the first older one), then its active runs: every run a new row's title could be
    the title of. Without ``since``, the active runs only."""
    found: dict[str, Run] = {}
    if since is not None:
        for run in client.iter_runs(template_id=template_id):
            if not created_since(run, since):
                break
            found[run.id] = run
    for run in client.iter_runs(template_id=template_id, status="active"):
        found.setdefault(run.id, run)
    return list(found.values())

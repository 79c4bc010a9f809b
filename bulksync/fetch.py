"""Reading live state from NextStep: a snapshot for an export, runs' tasks for an import.

``fetch_snapshot`` reads what an export needs with the fewest requests: a page of runs
per 100 runs (or one GET per run named by id), one paginated task list per run, and
for the runs layout the template's task list once; for a sheet to start runs from, the
template itself (is it published?), and with no runs, nothing else. It is made of two
steps that ``bulksync.exporter`` also takes one at a time, to estimate and spool between
them: ``list_export`` (everything before the runs' tasks: a ``Listing``) and
``read_runs`` (each run's tasks, and when they were read).

``LiveState.read`` is the reader an import or undo plans with (one run-tasks list per
run, a few at once; a run that is gone is ``None``). ``LiveState.fresh`` is what the
apply calls right before writing a run: the tasks read then, or again now if that read
is older than ``max_age`` seconds, so a value someone changed while the plan was shown,
confirmed or worked through is seen before anything is written over it. Its
``template``, ``template_tasks`` and ``template_runs`` are what planning a sheet's new
rows reads (``launch_plan.TemplateSource``), only when the sheet has some.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple, TypeVar

from bulksync.client import Keep, NextStepClient
from bulksync.errors import ConfigError, NotFoundError
from bulksync.launch import created_since
from bulksync.model import (
    JSON,
    Run,
    Task,
    Template,
    TemplateTask,
    parse_run,
    parse_template,
    parse_template_task,
)
from bulksync.snapshot import Snapshot

Progress = Callable[[int, int], None]
"""Called with (runs read, runs in all) as live state is read."""

T = TypeVar("T")

KeepListing = Callable[[str], Keep]
"""Given a kind of document ("template", "template_task", "run"), what keeps each one."""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
    now: Callable[[], dt.datetime] = utc_now,
) -> Snapshot:
    """Read runs (by id, or all of a template in a status) with all their tasks.

    ``launch``, for a sheet to start runs from: the template itself is read too
    (``Snapshot.template``: is it published?), and its tasks. ``with_runs=False`` reads
    no runs at all, only the template: two requests. Everything is held in memory; an
    export of thousands of runs is better made with ``bulksync.exporter.export_runs``,
    which keeps them on disk as they are read, and can resume.
    """
    taken_at = now().isoformat(timespec="seconds")
    listing = list_export(
        client,
        run_ids=run_ids,
        template_id=template_id,
        status=status,
        with_template=with_template,
        with_runs=with_runs,
        launch=launch,
    )
    tasks: dict[str, tuple[Task, ...]] = {}
    read_at: dict[str, str] = {}
    total = len(listing.runs)
    if progress:
        progress(0, total)
    for done, read in enumerate(read_runs(client, [r.id for r in listing.runs], now=now), 1):
        tasks[read.run_id] = tuple(read.tasks)
        read_at[read.run_id] = read.read_at
        if progress:
            progress(done, total)
    return listing.snapshot(client.host, taken_at, tasks, read_at)


@dataclass(frozen=True)
class Listing:
    """What an export reads before any run's tasks: its runs, and its template."""

    template_id: str | None
    """The template given, or else the first run's."""
    runs: tuple[Run, ...]
    template: Template | None = None
    """The template itself (read for a launch sheet: is it published?)."""
    template_tasks: tuple[TemplateTask, ...] = ()
    """The template's tasks (read for the runs layout and a launch sheet)."""

    def pages_per_run(self, page_size: int) -> int:
        """Task-list requests per run, as the template's tasks foretell (at least 1)."""
        return max(1, math.ceil(len(self.template_tasks) / page_size))

    def snapshot(
        self,
        host: str,
        taken_at: str,
        tasks: Mapping[str, tuple[Task, ...]],
        read_at: Mapping[str, str],
    ) -> Snapshot:
        """The snapshot of these runs, given their tasks and when each was read."""
        sections = {s.id: s.title for s in (self.template.sections if self.template else ())}
        sections |= {s.id: s.title for run in self.runs for s in run.sections}
        return Snapshot(
            host=host,
            taken_at=taken_at,
            runs=self.runs,
            tasks=tasks,
            template_tasks=self.template_tasks,
            template_id=self.template_id,
            section_titles=sections,
            template=self.template,
            read_at=read_at,
        )

    @classmethod
    def from_documents(
        cls, template_id: str | None, documents: Iterable[tuple[str, JSON]]
    ) -> Listing:
        """The listing from its documents as kept (``keep=`` of ``list_export``), in the
        order they were read. ``ShapeError`` for a document that does not parse."""
        template: Template | None = None
        runs: list[Run] = []
        template_tasks: list[TemplateTask] = []
        one_copy = _OneCopy()
        for kind, document in documents:
            if kind == "run":
                runs.append(one_copy(parse_run(document)))
            elif kind == "template_task":
                template_tasks.append(parse_template_task(document))
            elif kind == "template":
                template = parse_template(document)
        return cls(template_id, tuple(runs), template, tuple(template_tasks))


def list_export(
    client: NextStepClient,
    *,
    run_ids: Sequence[str] = (),
    template_id: str | None = None,
    status: str | None = None,
    with_template: bool = False,
    with_runs: bool = True,
    launch: bool = False,
    keep: KeepListing | None = None,
) -> Listing:
    """The runs to export and their template: all an export reads before the runs' tasks.

    A page of runs per 100 runs (or one GET per run named by id); for a launch sheet
    the template itself; for the runs layout (``with_template``) and a launch sheet the
    template's tasks. ``keep(kind)`` is given every document as NextStep answered it, in
    listing order (an export's spool keeps them, to resume with the same listing).
    """
    if (launch or not with_runs) and not template_id:
        raise ConfigError("A sheet to start runs from is of one template: give its id.")
    template = None
    if launch and template_id:
        template = client.get_template(template_id, keep=keep("template") if keep else None)
    runs: list[Run] = []
    if with_runs:
        runs = _runs(client, run_ids, template_id, status, keep("run") if keep else None)
    chosen_template = template_id or (runs[0].template_id if runs else None)
    template_tasks: tuple[TemplateTask, ...] = ()
    if (with_template or launch) and chosen_template:
        kept = keep("template_task") if keep else None
        template_tasks = tuple(client.template_tasks(chosen_template, keep=kept))
    return Listing(chosen_template, tuple(runs), template, template_tasks)


class _OneCopy:
    """Runs made to hold one copy of what many of them hold alike (their template's
    sections, its id, their status …), as they are listed: 10,000 runs listed hold one
    copy of each, not 10,000."""

    def __init__(self) -> None:
        self._seen: dict[object, object] = {}

    def _one(self, value: T) -> T:
        return self._seen.setdefault(value, value)  # type: ignore[return-value]

    def __call__(self, run: Run) -> Run:
        one = self._one
        return dataclasses.replace(
            run,
            template_id=one(run.template_id),
            status=one(run.status),
            started_by=one(run.started_by),
            team_id=one(run.team_id),
            timezone=one(run.timezone),
            sections=one(run.sections),
        )


class RunRead(NamedTuple):
    """One run's tasks as read, parsed and as NextStep answered them, and when."""

    run_id: str
    tasks: list[Task]
    documents: list[JSON]
    read_at: str
    """ISO 8601, UTC, to the second."""


def read_runs(
    client: NextStepClient,
    run_ids: Sequence[str],
    *,
    now: Callable[[], dt.datetime] = utc_now,
) -> Iterator[RunRead]:
    """Each run's tasks, read now (a paginated list per run, a few at once), in order.

    Lazy: ``max_in_flight`` runs are read at a time, handed over in order as they come.
    Stopping early (an error, Ctrl-C) cancels the reads not started yet.
    """

    def read(run_id: str) -> RunRead:
        documents: list[JSON] = []
        tasks = client.run_tasks(run_id, keep=documents.append)
        return RunRead(run_id, tasks, documents, now().isoformat(timespec="seconds"))

    return client.map(read, run_ids)


def _runs(
    client: NextStepClient,
    run_ids: Sequence[str],
    template_id: str | None,
    status: str | None,
    keep: Keep | None,
) -> list[Run]:
    """The runs named by id (one GET each), or those of a template in a status."""
    if not run_ids:
        one_copy = _OneCopy()
        return [
            one_copy(run)
            for run in client.iter_runs(template_id=template_id, status=status, keep=keep)
        ]

    def one(run_id: str) -> tuple[Run, list[JSON]]:
        kept: list[JSON] = []
        return client.get_run(run_id, keep=kept.append), kept

    found = list(client.map(one, list(dict.fromkeys(run_ids))))
    if keep is not None:
        for _, kept in found:  # in the order asked, whichever answer came first
            for document in kept:
                keep(document)
    return [run for run, _ in found]


class Reading(NamedTuple):
    tasks: list[Task] | None
    """None: the run no longer exists (or this key cannot see it)."""
    at: float
    """When the answer came, on the state's clock (monotonic seconds)."""


class LiveState:
    """Reads runs' tasks through a client and remembers when each run was read.

    Of the runs read, the last ``keep`` (``KEEP_READINGS``) are kept for ``fresh``:
    applying uses a reading only while it is recent (``apply.MAX_READ_AGE``, 2 s), and
    no more runs than that are read in so short a time, so a large import does not hold
    every run it read; a dry run, which applies nothing, keeps none (``keep=0``).
    Progress counts every run read through this object: a plan reads its runs in
    batches (``diff.READ_BATCH``), and the bar goes on from one to the next.
    """

    KEEP_READINGS: Final = 500

    def __init__(
        self,
        client: NextStepClient,
        *,
        progress: Progress | None = None,
        clock: Callable[[], float] = time.monotonic,
        keep: int = KEEP_READINGS,
    ) -> None:
        self.client = client
        self.progress = progress
        self.clock = clock
        self.keep = keep
        self.readings: OrderedDict[str, Reading] = OrderedDict()
        self._lock = threading.Lock()
        self.reads = 0
        """Run-task lists read (not counting pages)."""
        self._counted = 0
        """Runs read by earlier calls of ``read``, for the progress."""

    def read(self, run_ids: Sequence[str]) -> dict[str, list[Task] | None]:
        """Each run's tasks, read now (several at once); a run gone is None."""
        found: dict[str, list[Task] | None] = {}
        runs = list(run_ids)
        before, total = self._counted, self._counted + len(runs)
        if self.progress:
            self.progress(before, total)
        for done, (run_id, reading) in enumerate(
            zip(runs, self.client.map(self._read_one, runs), strict=True), start=before + 1
        ):
            found[run_id] = reading.tasks
            if self.progress:
                self.progress(done, total)
        self._counted = total
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
            self.readings.move_to_end(run_id)
            while len(self.readings) > self.keep:
                self.readings.popitem(last=False)
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

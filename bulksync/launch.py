"""Runs to start: the values passed between the stages of starting runs from new rows.

A row of a runs-layout sheet without a run id is a run to start (``POST
/process-runs``): ``Start`` holds what it starts the run with (title, due date, who
started it, pre-filled values) and what is set once the run exists (completion ticks
and assignees, which the POST cannot carry). ``bulksync.launch_plan`` makes them from
the sheet and live state; ``bulksync.launch_apply`` starts them, journalled.

A new row is known across imports by its ``key``: its title and which of the rows
with that title it is (``Alice Smith#1``), so that an import of the same sheet (again,
resumed, or from a copy beside it) finds in the journals the run it started already.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from bulksync.codecs import ASSIGNEE, COMPLETION
from bulksync.model import JSON, Run

MARGIN: Final = dt.timedelta(minutes=5)
"""Runs created up to this long before the export count as started since (the export's
time is this machine's clock, a run's is NextStep's)."""


class StartOutcome(StrEnum):
    START = "start"
    """To be started."""
    STARTED = "started"
    """Started already, by an earlier import of this sheet (its journal says which run)."""
    CONFLICT = "conflict"
    """A run with this title was started since the export, and no journal of this sheet
    says it was this row's: started again only with ``--on-conflict mine``."""


@dataclass(frozen=True, slots=True)
class Prefill:
    """A value the run is started with (an item of the POST's ``custom_elements``)."""

    template_task_id: str
    element_id: str
    kind: str
    value: JSON
    cell: str
    task_title: str = ""
    label: str = ""

    @property
    def column(self) -> str:
        """The runs layout's column key of the value: ``TEMPLATE_TASK_ID:ELEMENT_ID``."""
        return f"{self.template_task_id}:{self.element_id}"

    def item(self) -> dict[str, JSON]:
        return {
            "task_id": self.template_task_id,
            "element_id": self.element_id,
            "value": self.value,
        }


@dataclass(frozen=True, slots=True)
class Then:
    """A completion tick or an assignee, set on the new run's task once it exists."""

    template_task_id: str
    field: str
    """``completed`` or ``assignee``."""
    value: JSON
    cell: str
    task_title: str = ""

    @property
    def label(self) -> str:
        return "Completed" if self.field == COMPLETION else "Assignee"


@dataclass(frozen=True, slots=True, kw_only=True)
class Start:
    """One new row of the sheet: a run to start, and what the import does with it."""

    row: int
    """The sheet row (1-based, as the spreadsheet numbers it)."""
    cell: str
    """The row's title cell (``Runs!A12``), where the reports point."""
    key: str
    """The row's identity across imports: ``TITLE#N``, the N-th new row with that title."""
    template_id: str
    title: str
    due_date: str | None = None
    actor_email: str | None = None
    values: tuple[Prefill, ...] = ()
    then: tuple[Then, ...] = ()
    outcome: StartOutcome = StartOutcome.START
    written: bool = True
    """Sent: every run to start, and conflicts under ``--on-conflict mine``."""
    run_id: str | None = None
    """STARTED: the run the journal says this row started."""
    found: tuple[str, ...] = ()
    """CONFLICT: the runs with this title started since the export."""
    known: tuple[str, ...] = ()
    """The template's runs with this title when the plan was made: after a POST whose
    answer was lost, a run with the title that is not one of these may be this row's."""
    note: str = ""
    """Why a row is not started (a conflict, started already), for the reports."""
    unsure: bool = False
    """An earlier import sent this row's POST and its answer was never recorded (it was
    cut off): the run is looked for before it is started (``launch_apply``)."""
    since: str = ""
    """Runs created before this moment (ISO 8601) are not this row's run."""
    row_key: str = ""
    """The row's hidden key in an xlsx (``sheets.reading.NewRow.row_key``): it stays with
    the row when the sheet is sorted, so a row whose title was corrected is known."""

    def body(self) -> dict[str, JSON]:
        """The ``POST /process-runs`` body, as the API documents it."""
        body: dict[str, JSON] = {"template_id": self.template_id, "name": self.title}
        if self.due_date:
            body["due_date"] = self.due_date
        if self.actor_email:
            body["actor_email"] = self.actor_email
        if self.values:
            body["custom_elements"] = [p.item() for p in self.values]
        return body

    @property
    def then_tasks(self) -> tuple[str, ...]:
        """The template tasks that get a PATCH once the run exists, in sending order:
        those that only set an assignee first, then those that complete a task."""
        tasks: dict[str, bool] = {}
        for then in self.then:
            done = then.field == COMPLETION and bool(then.value)
            tasks[then.template_task_id] = tasks.get(then.template_task_id, False) or done
        return tuple(sorted(tasks, key=lambda t: tasks[t]))

    @property
    def requests(self) -> int:
        """Requests it takes when all goes well: the POST (unless started already), then
        (for ticks or assignees) one read of the new run's tasks and a PATCH per such
        task."""
        tasks = len(self.then_tasks)
        return (0 if self.run_id else 1) + (1 + tasks if tasks else 0)

    def as_dict(self) -> dict[str, Any]:
        """The JSON report's ``creates`` item (documented in docs/import.md)."""
        completed = [t.template_task_id for t in self.then if t.field == COMPLETION and t.value]
        assignee = {t.template_task_id: t.value for t in self.then if t.field == ASSIGNEE}
        return {
            "cell_row": self.row,
            "cell": self.cell,
            "title": self.title,
            "due_date": self.due_date,
            "actor_email": self.actor_email,
            "values": {p.column: p.value for p in self.values},
            "then": {"completed": completed, "assignee": assignee},
            "outcome": self.outcome.value,
            "written": self.written,
            "run_id": self.run_id,
            "found": list(self.found),
            "note": self.note or None,
            "requests": self.requests if self.written else 0,
        }


class StartResultKind(StrEnum):
    STARTED = "started"
    """Started by this import (the POST was answered 201)."""
    ADOPTED = "adopted"
    """The POST's answer was lost, and the run it started was found and taken as this
    row's (its title and pre-filled values match)."""
    ALREADY_STARTED = "already_started"
    """An earlier import of the sheet started it."""
    CONFLICT = "conflict"
    FAILED = "failed"
    NOT_SENT = "not_sent"


@dataclass(frozen=True, slots=True)
class StartResult:
    """What came of one run to start."""

    start: Start
    result: StartResultKind
    run_id: str | None = None
    message: str = ""
    then_failed: int = 0
    """Ticks and assignees of the new run that could not be set (see results.csv)."""
    run: Run | None = None
    """The run as NextStep answered the POST (started), or as listed (adopted)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "cell": self.start.cell,
            "title": self.start.title,
            "result": self.result.value,
            "run_id": self.run_id,
            "message": self.message or None,
        }


def start_key(title: str, nth: int) -> str:
    """A new row's identity across imports (see the module's docstring)."""
    return f"{title}#{nth}"


@dataclass(frozen=True, slots=True)
class Started:
    """What the journals of a sheet's imports say of one new row (by its key)."""

    key: str
    run_id: str | None
    """The run it started; None when the POST went and no answer was recorded."""
    done: bool = False
    """Its ticks and assignees were all set too."""
    known: tuple[str, ...] = ()
    """The template's runs with the row's title before that POST (not the row's run)."""
    at: str = ""
    """When the POST was journalled."""
    row: int = 0
    """The sheet row it was sent from."""
    body: Mapping[str, Any] | None = None
    """The POST body as journalled: the row's title, due date, starter and values."""
    row_key: str = ""
    """The row's hidden xlsx key when it was sent ("" for a CSV row)."""

    @property
    def title(self) -> str:
        """The row's title key (``start_key``'s first part)."""
        return self.key.rpartition("#")[0]


def since_export(exported_at: str) -> str | None:
    """The moment from which a run counts as started since the export (ISO 8601)."""
    try:
        moment = dt.datetime.fromisoformat(exported_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return (moment - MARGIN).astimezone(dt.UTC).isoformat(timespec="milliseconds")


def created_since(run: Run, since: str | None) -> bool:
    """Whether the run was created at or after ``since`` (always, without one)."""
    if since is None:
        return True
    try:
        created = dt.datetime.fromisoformat((run.created_at or "").replace("Z", "+00:00"))
        return created >= dt.datetime.fromisoformat(since)
    except ValueError:
        return True  # a run whose creation time cannot be read may be new: be careful

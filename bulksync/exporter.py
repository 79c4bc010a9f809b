"""An export that says up front what it costs, keeps what it reads, and resumes.

``export_runs`` is what ``bulksync export`` runs:

1. list the runs (and the template), writing each document to a draft spool;
2. estimate: runs, requests, and the time they take at the rate limit (``Estimate``),
   given to ``confirm``, which may stop the export there (no run's tasks read yet);
3. put the spool in place (``.bulksync/exports/<output name>-<hash>/``, replacing an
   interrupted export's spool of the same output), then read each run's tasks, a line
   of the spool per run as it comes;
4. write the file from the spool, a run at a time (``Snapshot.tasks`` reads each run's
   line when the writer asks), and remove the spool.

Interrupted anywhere in 3 or 4 (Ctrl-C, ``kill -9``, a network lost beyond retries, a
full disk), the spool stays. ``resume=True`` takes the same export up again: the
listing of the first attempt, the runs it read as they were read, its export time and
export id; it reads only the runs not read yet, and writes the file the uninterrupted
export would have written. The spool's folder layout is in ``bulksync.spool``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bulksync.client import NextStepClient
from bulksync.errors import BulksyncError, SheetError, StorageError
from bulksync.fetch import Listing, Progress, list_export, read_runs, utc_now
from bulksync.model import JSON, ShapeError, Template
from bulksync.rundir import dot_dir
from bulksync.sheets import ExportResult, Layout, check_output, write_export
from bulksync.snapshot import Snapshot
from bulksync.spool import Draft, Spool
from bulksync.version import __version__

EXPORTS: Final = "exports"


def spool_dir(output: Path) -> Path:
    """``.bulksync/exports/<output name>-<hash>/``: the spool of an export to ``output``
    (the hash of its full path tells apart two files of one name in two folders)."""
    resolved = output.resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:8]
    return dot_dir(resolved) / EXPORTS / f"{resolved.name}-{digest}"


@dataclass(frozen=True)
class ExportRequest:
    """What to export, and how: what a resumed export must ask for again, exactly."""

    output: Path
    run_ids: tuple[str, ...] = ()
    template_id: str | None = None
    status: str | None = "active"
    """With ``template_id``: ``active``, ``completed``, or None for all."""
    layout: Layout | None = None
    """None: the runs layout with a template, the tasks layout with run ids."""
    assignees: bool | None = None
    """None: assignee cells in the tasks layout, none in the runs layout."""
    new_rows: int = 0
    """Empty rows for runs to start (a launch sheet: the runs layout)."""
    with_runs: bool = True
    """False (a launch sheet only): no runs, only the template."""
    protect: bool = False

    def resolved(self) -> ExportRequest:
        """The request with its defaults made explicit (the layout, the assignees)."""
        layout = self.layout or (Layout.RUNS if self.template_id else Layout.TASKS)
        assignees = layout is Layout.TASKS if self.assignees is None else self.assignees
        return dataclasses.replace(self, layout=layout, assignees=assignees)

    def recorded(self) -> dict[str, JSON]:
        """The request as the spool records it, to compare a resumed one with."""
        request = self.resolved()
        assert request.layout is not None
        return {
            "output": str(request.output.resolve()),
            "run_ids": list(request.run_ids),
            "template_id": request.template_id,
            "status": (request.status or "all") if request.with_runs else None,
            "layout": request.layout.value,
            "assignees": request.assignees,
            "new_rows": request.new_rows,
            "with_runs": request.with_runs,
            "protect": request.protect,
        }


OPTION_NAMES: Final = {
    "output": "-o",
    "run_ids": "the run ids",
    "template_id": "--template",
    "status": "--status",
    "layout": "--layout",
    "assignees": "--assignees/--no-assignees",
    "new_rows": "--new",
    "with_runs": "--with-runs",
    "protect": "--protect",
}


@dataclass(frozen=True)
class Estimate:
    """What an export costs, known once its runs are listed and before any task list is
    read: what ``confirm`` is asked with."""

    runs: int
    """Runs in the export."""
    spooled: int
    """Runs read already by an interrupted attempt (resumed): not read again."""
    sent: int
    """Requests sent so far: the run listing, the template and its tasks (none when
    resumed: the spool has the listing)."""
    pages_per_run: int
    """Task-list requests per run: one per 100 tasks of the template (at least one; a
    run with more tasks than its template takes more)."""
    rate_limit: int
    window: float
    """The client's limit: ``rate_limit`` requests per ``window`` seconds."""
    seconds: float
    """The least time ``requests`` take at that limit (the listing's included)."""
    spool: Path
    """Where the runs read are kept until the file is written."""
    replaces: bool = False
    """An interrupted export of the same output left a spool, which this one replaces."""
    resumed: bool = False

    @property
    def to_read(self) -> int:
        """Runs whose tasks are still to read."""
        return self.runs - self.spooled

    @property
    def to_send(self) -> int:
        """Requests still to send: the task lists of the runs to read."""
        return self.to_read * self.pages_per_run

    @property
    def requests(self) -> int:
        """Requests in all: those sent and those to send."""
        return self.sent + self.to_send


Confirm = Callable[[Estimate], bool]
"""Asked once, before the first task list is read: go on (True) or stop (False)."""


@dataclass(frozen=True)
class ExportOutcome:
    estimate: Estimate
    result: ExportResult | None
    """None: ``confirm`` said no, and no run's tasks were read."""
    template: Template | None = None
    """The template, where it was read (a launch sheet: is it published?)."""


def export_runs(
    client: NextStepClient,
    request: ExportRequest,
    *,
    resume: bool = False,
    confirm: Confirm | None = None,
    progress: Progress | None = None,
    now: Callable[[], dt.datetime] = utc_now,
) -> ExportOutcome:
    """Export the runs ``request`` names to its output file, through a spool on disk.

    ``resume``: take up the interrupted export of the same output (``SheetError`` if
    there is none, or if it was of other options or another host); nothing is sent
    before that is checked. ``confirm`` is asked once the runs are listed, before any
    task list is read. ``progress`` is called with (runs read, runs in all), the runs
    read by an interrupted attempt counted as read.
    """
    request = request.resolved()
    check_output(request.output, protect=request.protect)
    begun = _resume(client, request) if resume else _begin(client, request, now)
    estimate = _estimate(client, begun, resumed=resume)
    try:
        go_on = confirm is None or confirm(estimate)
    except BaseException:  # refused for want of a terminal, Ctrl-C at the question
        begun.stop()
        raise
    if not go_on:
        begun.stop()
        return ExportOutcome(estimate, None, begun.listing.template)
    spool = begun.spool or begun.commit(request, client.host)
    try:
        result = _read_and_write(client, request, spool, begun.listing, progress, now)
    finally:
        spool.close()
    spool.remove()
    return ExportOutcome(estimate, result, begun.listing.template)


@dataclass
class _Begun:
    """An export listed (or its listing taken from an interrupted one's spool)."""

    folder: Path
    listing: Listing
    sent: int = 0
    """Requests the listing took."""
    spool: Spool | None = None
    """The interrupted export's spool, when resumed."""
    draft: Draft | None = None
    """The new spool, not in place yet."""
    exported_at: str = ""
    replaces: bool = False

    def commit(self, request: ExportRequest, host: str) -> Spool:
        assert self.draft is not None
        return self.draft.commit(_header(request, host, self.exported_at, self.listing))

    def stop(self) -> None:
        """Stopped before any run's tasks were read: a draft goes, a spool stays."""
        if self.draft is not None:
            self.draft.discard()
        if self.spool is not None:
            self.spool.close()


def _begin(
    client: NextStepClient, request: ExportRequest, now: Callable[[], dt.datetime]
) -> _Begun:
    """A new export: its runs listed into a draft spool."""
    folder = spool_dir(request.output)
    before = client.stats.total
    exported_at = now().isoformat(timespec="seconds")
    draft = Draft(folder)
    try:
        listing = list_export(
            client,
            run_ids=request.run_ids,
            template_id=request.template_id,
            status=request.status,
            with_template=request.layout is Layout.RUNS,
            with_runs=request.with_runs,
            launch=bool(request.new_rows),
            keep=draft.keep,
        )
    except BaseException:
        draft.discard()
        raise
    return _Begun(
        folder,
        listing,
        sent=client.stats.total - before,
        draft=draft,
        exported_at=exported_at,
        replaces=folder.exists(),
    )


def _resume(client: NextStepClient, request: ExportRequest) -> _Begun:
    """The interrupted export of this request: its spool and its listing."""
    folder = spool_dir(request.output)
    spool = _reopen(folder, request, client.host)
    return _Begun(folder, _listing_of(spool), spool=spool)


def _estimate(client: NextStepClient, begun: _Begun, *, resumed: bool) -> Estimate:
    listing, spool = begun.listing, begun.spool
    spooled = 0 if spool is None else sum(1 for run in listing.runs if run.id in spool)
    pages = listing.pages_per_run(client.page_size)
    requests = begun.sent + (len(listing.runs) - spooled) * pages
    return Estimate(
        runs=len(listing.runs),
        spooled=spooled,
        sent=begun.sent,
        pages_per_run=pages,
        rate_limit=client.limiter.limit,
        window=client.limiter.window,
        seconds=client.limiter.floor_seconds(requests),
        spool=begun.folder,
        replaces=begun.replaces,
        resumed=resumed,
    )


def _header(
    request: ExportRequest, host: str, exported_at: str, listing: Listing
) -> dict[str, JSON]:
    return {
        "bulksync_version": __version__,
        "host": host,
        "request": request.recorded(),
        "template_id": listing.template_id,
        "exported_at": exported_at,
        "export_id": secrets.token_hex(6),
        "runs": len(listing.runs),
    }


def _reopen(folder: Path, request: ExportRequest, host: str) -> Spool:
    """The interrupted export's spool, if it is of this request and host."""
    if not (folder / "export.json").exists():
        raise SheetError(
            f"There is no interrupted export of {request.output} to resume (nothing in "
            f"{folder}). Export without --resume."
        )
    spool = Spool.open(folder)
    header = spool.header
    if header.get("host") != host:
        raise SheetError(
            f"The interrupted export of {request.output} was reading from "
            f"{header.get('host')}, not {host}: resume it with the same --base-url, or "
            "export without --resume to start over."
        )
    was: dict[str, Any] = header.get("request") or {}
    now = request.recorded()
    differ = [
        f"{OPTION_NAMES.get(k, k)} was {_shown(was.get(k))}, now {_shown(v)}"
        for k, v in now.items()
        if was.get(k) != v
    ]
    if differ:
        raise SheetError(
            f"The interrupted export of {request.output} was made with other options ("
            + "; ".join(differ)
            + "). Resume it with the same options, or export without --resume to start over."
        )
    return spool


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return " ".join(value) or "none"
    return "not given" if value is None else str(value)


def _listing_of(spool: Spool) -> Listing:
    try:
        return Listing.from_documents(spool.header.get("template_id"), spool.listing())
    except (ShapeError, ValueError, TypeError) as exc:
        raise SheetError(
            f"The interrupted export's spool in {spool.folder} is damaged ({exc}); export "
            "again without --resume."
        ) from None


def _read_and_write(
    client: NextStepClient,
    request: ExportRequest,
    spool: Spool,
    listing: Listing,
    progress: Progress | None,
    now: Callable[[], dt.datetime],
) -> ExportResult:
    """Read the runs the spool lacks into it, then write the file from the spool."""
    total = len(listing.runs)
    missing = list(dict.fromkeys(run.id for run in listing.runs if run.id not in spool))
    done = total - len(missing)
    if progress:
        progress(done, total)
    try:
        for read in read_runs(client, missing, now=now):
            spool.append(read.run_id, read.read_at, read.documents)
            done += 1
            if progress:
                progress(done, total)
    except BulksyncError as exc:
        exc.message += _kept(spool)
        raise
    header = spool.header
    snapshot = listing.snapshot(
        client.host, str(header["exported_at"]), spool.tasks(), spool.read_at
    )
    try:
        return _write(snapshot, request, header)
    except StorageError as exc:
        exc.message += _kept(spool)
        raise


def _kept(spool: Spool) -> str:
    """What an error while exporting adds: the runs read are not lost."""
    return (
        f" The {len(spool):,} runs read so far are kept in {spool.folder}: run the same "
        "export again with --resume to go on from there."
    )


def _write(snapshot: Snapshot, request: ExportRequest, header: Mapping[str, Any]) -> ExportResult:
    return write_export(
        snapshot,
        request.output,
        layout=request.layout,
        assignees=request.assignees,
        protect=request.protect,
        new_rows=request.new_rows,
        now=dt.datetime.fromisoformat(str(header["exported_at"])),
        export_id=str(header["export_id"]),
    )

"""The three calls of a Python user (issue 14): ``export``, ``plan``, ``Plan.apply``.

::

    export = bulksync.export(client, template="tpl_onboarding")   # -> Export
    frame = export.frame()                                         # a pandas DataFrame
    frame.loc[frame[("", "Status")] == "active", ("Equipment", "Laptop")] = "MacBook Air"
    plan = bulksync.plan(client, frame)                            # -> Plan, a dry run
    result = plan.apply(client)                                    # -> ApplyResult

They are the CLI's own stages (``export_runs``, ``read_sheet``, ``plan_import``,
``apply_plan``) with its defaults: the same estimate, spool, checks, three-way diff,
conflict rules, journal and results. ``Plan`` and ``ApplyResult`` here are the stages'
own values with three more things a notebook wants: ``apply`` (on a plan), ``frame()``
and ``_repr_html_`` (Jupyter shows the HTML report). This module is the top of the
house: it may use every layer, and none uses it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from bulksync.apply import apply_plan
from bulksync.client import NextStepClient
from bulksync.diff import plan_import
from bulksync.errors import SheetError
from bulksync.exporter import Estimate, ExportRequest, export_runs
from bulksync.fetch import LiveState
from bulksync.frames import export_frame, plan_frame, result_frame, sheet_of_frame
from bulksync.journal import sheet_started
from bulksync.plans import ApplyResult as _ApplyResult
from bulksync.plans import CanaryReport, ImportOptions, OnConflict
from bulksync.plans import Plan as _Plan
from bulksync.report import plan_html
from bulksync.rundir import RunOf, new_run_dir, writer_lock
from bulksync.sheets import Layout, Sheet, read_sheet

if TYPE_CHECKING:
    import pandas as pd

FRAMES_DIR: Final = Path(".bulksync") / "frames"
"""Where ``export`` writes its file when given no path (see ``export``)."""

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Export:
    """An export's file and what it took; ``frame()`` gives its values as a DataFrame."""

    path: Path
    layout: Layout
    runs: int
    values: int
    estimate: Estimate

    def frame(self, layout: Layout | str | None = None) -> pd.DataFrame:
        """The values as exported: ``runs``, one row per run (index: the run id;
        columns: (task title, field label), and ("", "Run") and ("", "Status")), typed
        by field type; or ``tasks``, one row per value, tidy (run_id, task_id,
        field_id, task, field, type, value). Edit it and give it to ``bulksync.plans``."""
        return export_frame(self.path, layout or self.layout)


def export(
    client: NextStepClient,
    *,
    template: str | None = None,
    runs: tuple[str, ...] | list[str] = (),
    status: str | None = "active",
    path: Path | str | None = None,
    layout: Layout | str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> Export:
    """Export the runs of ``template`` in ``status`` (``active``, ``completed``, None
    for all), or the runs named in ``runs``, as ``bulksync export`` does (estimated,
    through a spool that ``resume=True`` takes up after an interruption).

    The file is written to ``path`` (.xlsx or .csv). Without one it goes to
    ``.bulksync/frames/`` in the current folder: a frame's edits are planned against
    the base snapshot the file holds, and the journals of applying them are kept
    beside it, for ``bulksync undo``.

    An existing file at ``path`` is not replaced unless ``overwrite=True``: it may hold
    edits not imported yet, or be the file an edited frame is planned against."""
    if not template and not runs:
        raise SheetError("Name a template (template=…) or runs (runs=[…]) to export.")
    if path is not None and Path(path).exists() and not overwrite and not resume:
        raise SheetError(
            f"{path} exists, and may hold edits not imported yet (or be the export an "
            "edited frame is planned against): import it first, export to another path, "
            "or give overwrite=True to replace it."
        )
    if path is None:  # one file per export: a frame plans against its own export's base
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        path = FRAMES_DIR / f"{template or 'runs'}-{stamp}-{secrets.token_hex(3)}.xlsx"
    request = ExportRequest(
        Path(path).absolute(),
        run_ids=tuple(runs),
        template_id=template,
        status=status,
        layout=Layout(layout) if layout else None,
    )
    outcome = export_runs(client, request, resume=resume, progress=progress)
    result = outcome.result
    assert result is not None  # no confirm callback: nothing says no
    return Export(result.path, result.layout, result.runs, result.values, outcome.estimate)


def plan(
    client: NextStepClient,
    source: Path | str | pd.DataFrame,
    *,
    on_conflict: OnConflict | str = OnConflict.SKIP,
    force: bool = False,
    accept_formulas: bool = False,
) -> Plan:
    """The dry run of importing ``source``: an edited file (.xlsx or .csv), or the
    edited DataFrame of an ``Export`` (``Export.frame()``). Live state is read now;
    nothing is written. ``plan.apply(client)`` applies it."""
    options = ImportOptions(
        force=force, on_conflict=OnConflict(on_conflict), accept_formulas=accept_formulas
    )
    if isinstance(source, str | Path):
        path = Path(source)
        sheet = read_sheet(path, only_edited=True)
    else:
        sheet = sheet_of_frame(source)
        path = Path(sheet.path)
    ledger = sheet_started(path, sheet)
    live = LiveState(client)
    made = plan_import(
        sheet, live.read, host=client.host, options=options, source=live, ledger=ledger
    )
    fields = {f.name: getattr(made, f.name) for f in dataclasses.fields(_Plan)}
    pace = (client.limiter.limit, client.limiter.window)
    return Plan(**fields, source=_Source(path, sheet, live, pace))


@dataclass(frozen=True)
class _Source:
    """What applying a plan needs besides the plan: its file, and the reads it was
    made from."""

    path: Path
    sheet: Sheet
    live: LiveState
    pace: tuple[int, float] = (100, 60.0)
    """The client's rate limit (requests, window): the report's time to apply."""
    applied: list[str] = dataclasses.field(default_factory=list)
    """The run directory of the apply of this plan, once it began (a plan goes once)."""


@dataclass(frozen=True, slots=True)
class Plan(_Plan):
    """A plan made by ``bulksync.plans``: everything the stages' ``Plan`` has, and
    ``apply``, ``frame`` and ``_repr_html_``."""

    source: _Source | None = None

    def apply(
        self,
        client: NextStepClient,
        *,
        canary: int | None = None,
        confirm: Callable[[CanaryReport], bool] | None = None,
        progress: Progress | None = None,
        fail_fast: bool = False,
    ) -> ApplyResult:
        """Send the plan as ``bulksync import`` does: under the file's one-writer lock,
        journalled in ``.bulksync/imports/`` beside the file, each run read again right
        before its PATCHes when its read is stale. With ``canary``, the first requests
        go first and ``confirm`` (given what they came to) says whether the rest go;
        ``confirm`` without ``canary`` is asked once before anything is sent. A plan
        is applied once: plan again to send what is left after an apply was cut off.

        A plan with errors is refused (``SheetError``): nothing is sent while one
        stands. Conflicts are left as they are, or written under ``on_conflict="mine"``."""
        if self.source is None:
            raise SheetError("This plan was not made by bulksync.plan(); it has no file.")
        if client.host != self.host:
            raise SheetError(
                f"This plan was made against {self.host}, and this client is for "
                f"{client.host}: its reads say nothing of the values there. Plan with this "
                "client (bulksync.plan(client, …)), then apply that plan."
            )
        if self.source.applied:
            raise SheetError(
                f"This plan was applied already (journal: {self.source.applied[0]}); "
                "applying it again would trust reads made before that. Plan again: what "
                "went is no change then, and only what is left is sent."
            )
        if self.errors:
            raise SheetError(
                f"The plan has {len(self.errors)} error(s) (plan.frame() lists them, with "
                "their cells); nothing was sent. Fix them and plan again."
            )
        path, meta = self.source.path, self.source.sheet.meta
        run_of = RunOf.sheet(path, exported_from=meta.host, exported_at=meta.exported_at)
        if canary is not None and (
            isinstance(canary, bool) or not isinstance(canary, int) or canary < 0
        ):
            raise ValueError(f"canary is a number of requests, 0 or more, not {canary!r}")
        if confirm is not None and canary is None:
            canary = 0  # asked before anything is sent, with nothing sent yet
        with writer_lock(path, client.host, command=f"bulksync.plan({path.name}).apply()"):
            run_dir = new_run_dir(path, run_of=run_of)
            self.source.applied.append(str(run_dir))
            done = apply_plan(
                self,
                client,
                run_dir,
                canary=canary,
                confirm_rest=confirm,
                fail_fast=fail_fast,
                progress=progress,
                live=self.source.live,
            )
        fields = {f.name: getattr(done, f.name) for f in dataclasses.fields(_ApplyResult)}
        return ApplyResult(**fields, plan=self)

    def frame(self) -> pd.DataFrame:
        """One row per change, value done already, conflict, error and warning: kind,
        cell, run_id, task_id, field, label, base, live, sheet, code, message."""
        return plan_frame(self)

    def _repr_html_(self) -> str:
        limit, window = self.source.pace if self.source else (100, 60.0)
        return _fragment(plan_html(self, rate_limit=limit, window=window, dry_run=True))


@dataclass(frozen=True, slots=True)
class ApplyResult(_ApplyResult):
    """What ``Plan.apply`` came to: the stages' ``ApplyResult``, with ``frame`` and
    ``_repr_html_``."""

    plan: _Plan | None = None

    def frame(self) -> pd.DataFrame:
        """One row per value (cell, ids, label, sent, result, stored, message) and per
        run to start."""
        return result_frame(self)

    def _repr_html_(self) -> str:
        if self.plan is None:
            return f"<p>{len(self.results)} values</p>"
        return _fragment(plan_html(self.plan, self, rate_limit=100, window=60.0, dry_run=False))


def _fragment(page: str) -> str:
    """The report's page as a notebook cell shows it: its body, and its styles kept to
    the report (a notebook is a page already, whose own look its rules must not touch)."""
    head, _, rest = page.partition("<body>")
    body = rest.rpartition("</body>")[0]
    styles = head.partition("<style>")[2].partition("</style>")[0]
    scoped = re.sub(r"([^{}]+)\{", lambda m: _scope(m.group(1)) + " {", styles)
    return f'<div class="{_SCOPE}"><style>{scoped}</style>{body}</div>'


_SCOPE: Final = "bulksync-report"


def _scope(selectors: str) -> str:
    """``body, h1`` → ``.bulksync-report, .bulksync-report h1``."""
    scoped = []
    for selector in selectors.split(","):
        selector = selector.strip()
        if selector in (":root", "body"):
            scoped.append(f".{_SCOPE}")
        else:
            scoped.append(f".{_SCOPE} {selector}")
    return ", ".join(scoped)


__all__ = ["ApplyResult", "Export", "Plan", "export", "plan"]

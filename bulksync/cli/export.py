"""``bulksync export``: runs to a spreadsheet to edit."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

import click
from click.core import ParameterSource

from bulksync.cli.group import CONTEXT, cli
from bulksync.cli.options import Settings, _settings, say, shared_options
from bulksync.cli.progress import PacedBar

if TYPE_CHECKING:
    from bulksync.client import NextStepClient
    from bulksync.exporter import Confirm, Estimate

ASK_ABOVE: Final = 600.0
"""Seconds: an export estimated to take longer asks before it reads the runs' tasks."""

LAYOUTS: Final = ("tasks", "runs")
"""The values of ``bulksync.sheets.Layout``, named here so that help needs no sheets
module (tests/test_startup.py checks that they agree)."""


@cli.command("export", context_settings=CONTEXT)
@click.argument("run_ids", nargs=-1, metavar="[RUN_ID]...")
@click.option("--template", "template_id", metavar="ID", help="Export the runs of this template.")
@click.option(
    "--status",
    type=click.Choice(["active", "completed", "all"]),
    default="active",
    show_default=True,
    help="With --template: which runs.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The file to write: .xlsx or .csv (a CSV gets a FILE.csv.base.json beside it).",
)
@click.option(
    "--layout",
    type=click.Choice(LAYOUTS),
    help="tasks: a row per value (default with run ids); runs: a row per run "
    "(default with --template).",
)
@click.option(
    "--assignees/--no-assignees",
    default=None,
    help="Include assignee cells [default: yes in the tasks layout, no in runs].",
)
@click.option(
    "--new",
    "new_rows",
    type=click.IntRange(1, 10_000),
    metavar="N",
    help="With --template: a sheet to start runs from, with N empty rows to fill (one "
    "per run to start); the template's runs are left out unless --with-runs.",
)
@click.option(
    "--with-runs",
    is_flag=True,
    help="With --new: export the template's runs (in --status) above the empty rows.",
)
@click.option(
    "--protect",
    is_flag=True,
    help="xlsx: protect the data sheet so read-only cells cannot be typed over "
    "(LibreOffice and Excel then refuse to sort it).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Go on with the interrupted export to this file (same options): the runs it "
    "read are not read again, and the file is the one it would have written.",
)
@click.option(
    "-y",
    "--yes",
    is_flag=True,
    help="Do not ask before an export estimated to take over 10 minutes.",
)
@shared_options
@click.pass_context
def export(
    ctx: click.Context,
    run_ids: tuple[str, ...],
    template_id: str | None,
    status: str,
    output: Path,
    layout: str | None,
    assignees: bool | None,
    new_rows: int | None,
    with_runs: bool,
    protect: bool,
    resume: bool,
    yes: bool,
) -> None:
    """Export runs to a spreadsheet to edit.

    Once the runs are listed it says how many requests reading them takes, and how long
    at the rate limit; over 10 minutes it asks first (--yes does not). The runs read are
    kept in .bulksync/exports/ until the file is written: an export that stops goes on
    with --resume.

    \b
    Examples:
      bulksync --sandbox export --template tpl_onboarding -o onboarding.xlsx
      bulksync export run_123 run_456 -o two-runs.xlsx
      bulksync export --template tpl_vendor --status all --layout tasks -o vendors.csv
      bulksync export --template tpl_vendor --protect -o vendors-locked.xlsx
      bulksync export --template tpl_onboarding --new 20 -o launch.xlsx
      bulksync export --template tpl_onboarding -o onboarding.xlsx --resume
    """
    from bulksync.exporter import ExportRequest, export_runs
    from bulksync.sheets import Layout, check_output

    settings = _settings(ctx)
    settings.activate()
    status_given = ctx.get_parameter_source("status") is not ParameterSource.DEFAULT
    _check_launch(run_ids, new_rows, with_runs, layout, status_given=status_given)
    if bool(run_ids) == bool(template_id):
        raise click.UsageError("Name runs by id, or give --template ID (not both).")
    request = ExportRequest(
        output,
        run_ids=run_ids,
        template_id=template_id,
        status=None if status == "all" else status,
        layout=Layout(layout) if layout else None,
        assignees=assignees,
        new_rows=new_rows or 0,
        with_runs=not new_rows or with_runs,
        protect=protect,
    )
    check_output(output, protect=protect)  # before the client: nothing read for a bad path
    with (
        settings.client() as client,
        contextlib.closing(_ReadingBar(client, quiet=settings.quiet)) as bar,
    ):
        outcome = export_runs(
            client,
            request,
            resume=resume,
            confirm=_confirm(settings, bar, output, yes=yes),
            progress=bar,
        )
    result = outcome.result
    if result is None:
        say("Nothing was exported: no run's tasks were read.", err=True)
        return
    template = outcome.template
    if template is not None and not template.is_published and not settings.quiet:
        say(
            f"Warning: template {template.id} ({template.title}) is not published in "
            "NextStep: runs cannot be started from it until it is published there. The "
            "sheet is written; publish the template before importing it.",
            err=True,
        )
    extra = f" and {result.sidecar}" if result.sidecar else ""
    new = f" and {result.new_rows:,} empty rows for runs to start" if result.new_rows else ""
    say(
        f"Exported {result.runs} runs, {result.values:,} values{new} to {result.path}{extra} "
        f"({result.layout.value} layout)."
    )


def _confirm(settings: Settings, bar: _ReadingBar, output: Path, *, yes: bool) -> Confirm:
    """Say what the export costs; above ``ASK_ABOVE`` seconds, ask (unless ``yes``)."""

    from bulksync.report import duration, estimate_text

    def confirm(estimate: Estimate) -> bool:
        bar.estimate = estimate
        ask = estimate.seconds > ASK_ABOVE and not yes
        if ask or (not settings.quiet and (estimate.runs or estimate.resumed)):
            say(estimate_text(estimate, output), err=True)
        if not ask:
            return True
        if not sys.stdin.isatty():
            raise click.UsageError(
                f"This export takes at least {duration(estimate.seconds)}, and asks first; "
                "there is no terminal to ask on: run it in a terminal, or give --yes."
            )
        return click.confirm("Read the runs?", err=True)

    return confirm


class _ReadingBar(PacedBar):
    """The progress of reading the runs (``PacedBar``), a run's requests being its task
    list pages; drawn from the first progress on, after any question, and gone once
    every run is read (the file is written next)."""

    def __init__(self, client: NextStepClient, *, quiet: bool) -> None:
        super().__init__(
            "Reading runs", client.limiter, quiet=quiet, requests_per_item=self._pages_per_run
        )
        self.estimate: Estimate | None = None

    def _pages_per_run(self) -> float:
        return self.estimate.pages_per_run if self.estimate else 1

    def __call__(self, done: int, total: int) -> None:
        if done >= total:
            self.close()
            return
        super().__call__(done, total)


def _check_launch(
    run_ids: tuple[str, ...],
    new_rows: int | None,
    with_runs: bool,
    layout: str | None,
    *,
    status_given: bool,
) -> None:
    """The options of a sheet to start runs from (--new), checked together."""
    if not new_rows:
        if with_runs:
            raise click.UsageError(
                "--with-runs goes with --new (without --new, --template exports the runs)."
            )
        return
    if run_ids:
        raise click.UsageError(
            "--new makes a sheet to start runs of one template: give --template ID, not run ids."
        )
    if layout == "tasks":
        raise click.UsageError(
            "--new writes the runs layout (a row per run); the tasks layout has no rows for "
            "runs to start. Leave out --layout tasks."
        )
    if status_given and not with_runs:
        raise click.UsageError(
            "--status chooses which runs to export, and with --new no runs are exported "
            "unless --with-runs: add --with-runs (or leave out --status)."
        )

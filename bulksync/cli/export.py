"""``bulksync export``: runs to a spreadsheet to edit."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from bulksync.cli.group import CONTEXT, cli
from bulksync.cli.options import _settings, say, shared_options
from bulksync.fetch import fetch_snapshot
from bulksync.report import progress_bar
from bulksync.sheets import Layout, check_output, write_export


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
    type=click.Choice([layout.value for layout in Layout]),
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
) -> None:
    """Export runs to a spreadsheet to edit.

    \b
    Examples:
      bulksync --sandbox export --template tpl_onboarding -o onboarding.xlsx
      bulksync export run_123 run_456 -o two-runs.xlsx
      bulksync export --template tpl_vendor --status all --layout tasks -o vendors.csv
      bulksync export --template tpl_vendor --protect -o vendors-locked.xlsx
      bulksync export --template tpl_onboarding --new 20 -o launch.xlsx
    """
    settings = _settings(ctx)
    settings.activate()
    status_given = ctx.get_parameter_source("status") is not ParameterSource.DEFAULT
    _check_launch(run_ids, new_rows, with_runs, layout, status_given=status_given)
    if bool(run_ids) == bool(template_id):
        raise click.UsageError("Name runs by id, or give --template ID (not both).")
    chosen = Layout(layout) if layout else (Layout.RUNS if template_id else Layout.TASKS)
    check_output(output, protect=protect)
    with (
        settings.client() as client,
        progress_bar("Reading runs", quiet=settings.quiet) as progress,
    ):
        snapshot = fetch_snapshot(
            client,
            run_ids=run_ids,
            template_id=template_id,
            status=None if status == "all" else status,
            with_template=chosen is Layout.RUNS,
            with_runs=not new_rows or with_runs,
            launch=bool(new_rows),
            progress=progress,
        )
    result = write_export(
        snapshot,
        output,
        layout=chosen,
        assignees=assignees,
        protect=protect,
        new_rows=new_rows or 0,
    )
    template = snapshot.template
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
    if layout == Layout.TASKS.value:
        raise click.UsageError(
            "--new writes the runs layout (a row per run); the tasks layout has no rows for "
            "runs to start. Leave out --layout tasks."
        )
    if status_given and not with_runs:
        raise click.UsageError(
            "--status chooses which runs to export, and with --new no runs are exported "
            "unless --with-runs: add --with-runs (or leave out --status)."
        )

"""``bulksync export``: runs to a spreadsheet to edit."""

from __future__ import annotations

from pathlib import Path

import click

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
    protect: bool,
) -> None:
    """Export runs to a spreadsheet to edit.

    \b
    Examples:
      bulksync --sandbox export --template tpl_onboarding -o onboarding.xlsx
      bulksync export run_123 run_456 -o two-runs.xlsx
      bulksync export --template tpl_vendor --status all --layout tasks -o vendors.csv
      bulksync export --template tpl_vendor --protect -o vendors-locked.xlsx
    """
    settings = _settings(ctx)
    settings.activate()
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
            progress=progress,
        )
    result = write_export(snapshot, output, layout=chosen, assignees=assignees, protect=protect)
    extra = f" and {result.sidecar}" if result.sidecar else ""
    say(
        f"Exported {result.runs} runs, {result.values:,} values to {result.path}{extra} "
        f"({result.layout.value} layout)."
    )

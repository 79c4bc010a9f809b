"""``bulksync list templates`` and ``bulksync list runs``: find the ids to export."""

from __future__ import annotations

import click

from bulksync.cli.group import CONTEXT, BulksyncGroup, cli
from bulksync.cli.options import _settings, shared_options


@cli.group("list", cls=BulksyncGroup, context_settings=CONTEXT)
@shared_options
def list_group() -> None:
    """List templates or runs, to find their ids.

    \b
    Examples:
      bulksync list templates
      bulksync list runs --template tpl_onboarding --status active
    """


@list_group.command("templates", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout, for scripts.")
@shared_options
@click.pass_context
def list_templates(ctx: click.Context, as_json: bool) -> None:
    """List the team's process templates.

    \b
    Examples:
      bulksync --sandbox list templates
      bulksync list templates --json | jq '.[].id'
    """
    from bulksync.report import templates_table, to_json

    settings = _settings(ctx)
    settings.activate()
    with settings.client() as client:
        templates = client.list_templates()
    click.echo(to_json(templates) if as_json else templates_table(templates))


@list_group.command("runs", context_settings=CONTEXT)
@click.option("--template", "template_id", metavar="ID", help="Only runs of this template.")
@click.option(
    "--status",
    type=click.Choice(["active", "completed", "all"]),
    default="all",
    show_default=True,
    help="Only runs in this status.",
)
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout, for scripts.")
@shared_options
@click.pass_context
def list_runs(ctx: click.Context, template_id: str | None, status: str, as_json: bool) -> None:
    """List process runs, newest first.

    \b
    Examples:
      bulksync --sandbox list runs
      bulksync list runs --template tpl_onboarding --status active
      bulksync list runs --status completed --json
    """
    from bulksync.report import runs_table, to_json

    settings = _settings(ctx)
    settings.activate()
    with settings.client() as client:
        runs = client.list_runs(template_id=template_id, status=None if status == "all" else status)
    click.echo(to_json(runs) if as_json else runs_table(runs))

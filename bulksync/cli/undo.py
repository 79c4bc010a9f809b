"""``bulksync undo``: put back what one import wrote, checked three ways."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bulksync.cli.group import CONTEXT, cli
from bulksync.cli.options import _settings, say, shared_options


@cli.command("undo", context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what undoing would do; write nothing.")
@click.option("-y", "--yes", is_flag=True, help="Undo without asking for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: the plan as JSON.")
@shared_options
@click.pass_context
def undo(ctx: click.Context, run_dir: Path, dry_run: bool, yes: bool, as_json: bool) -> None:
    """Revert what one import changed, from its run directory's journal.

    Each value the import wrote is put back to what it replaced, through the same
    three-way check: a value someone changed since the import is a conflict and is not
    overwritten. Undoing writes a journal of its own, in a new run directory.

    \b
    Examples:
      bulksync undo .bulksync/imports/20261128T101500-onboarding --dry-run
      bulksync undo .bulksync/imports/20261128T101500-onboarding --yes
    """
    from bulksync.cli.planning import conclude, planned, writing
    from bulksync.rundir import journal_of, new_undo_dir, read_journal
    from bulksync.undo import plan_undo

    settings = _settings(ctx)
    settings.activate()
    read_journal(journal_of(run_dir))  # a clear error now if it is not a readable run
    if not dry_run and not yes and not sys.stdin.isatty():
        raise click.UsageError("Undo asks for confirmation: run it in a terminal, or give --yes.")
    command = f"bulksync undo {run_dir}"
    with writing(settings, run_dir, command, dry_run=dry_run) as client:
        plan, live = planned(
            client,
            lambda live: plan_undo(run_dir, live.read, client.host),
            quiet=settings.quiet or as_json,
        )
        if plan.started_runs and not as_json:
            say(_started_note(plan.started_runs), err=True)
        conclude(
            ctx,
            settings,
            client,
            plan,
            live,
            lambda: new_undo_dir(run_dir),
            dry_run=dry_run,
            as_json=as_json,
            yes=yes,
        )


def _started_note(runs: tuple[tuple[str, str], ...]) -> str:
    """What undo cannot do: delete the runs the import started."""
    listed = "\n".join(f"  {run_id}  {title}" for run_id, title in runs)
    return (
        f"This import started {len(runs)} run(s), and undo cannot delete them (NextStep's "
        "API has no way to): archive them in NextStep if they should not exist. Undo "
        f"puts back the import's edits of other runs only.\n{listed}\n"
    )

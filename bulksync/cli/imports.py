"""``bulksync import`` and ``bulksync undo``: plan from live state, report, apply."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import click

from bulksync.apply import apply_plan
from bulksync.cli.group import CONTEXT, cli
from bulksync.cli.options import Settings, _settings, say, shared_options
from bulksync.client import NextStepClient
from bulksync.diff import plan_import
from bulksync.errors import ExitCode, SheetError
from bulksync.fetch import LiveState
from bulksync.plan import ApplyResult, CanaryReport, ImportOptions, OnConflict, Plan, Result
from bulksync.report import (
    plan_html,
    plan_json,
    plan_text,
    printable,
    progress_bar,
    write_report,
)
from bulksync.results import write_resumed_results
from bulksync.rundir import (
    RESULTS,
    RunOf,
    journal_of,
    latest_run_dir,
    new_run_dir,
    new_undo_dir,
    read_journal,
    writer_lock,
)
from bulksync.sheets import read_sheet
from bulksync.undo import plan_undo


@cli.command("import", context_settings=CONTEXT)
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check the sheet against its base and live state and report; write nothing.",
)
@click.option(
    "--report",
    "reports",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Also write the report to FILE.html (a page for reviewers) or FILE.json. Repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="The report as JSON on stdout.")
@click.option(
    "--on-conflict",
    type=click.Choice([c.value for c in OnConflict]),
    default=OnConflict.SKIP.value,
    show_default=True,
    help="A value changed in the sheet and in NextStep since the export: skip it, or "
    "write the sheet's value over the live one (mine).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Import a sheet exported from another API host.",
)
@click.option(
    "--no-base",
    is_flag=True,
    help="Import a CSV that has no base snapshot: compare with live state only "
    "(edits made by others since the export are overwritten).",
)
@click.option(
    "--accept-formulas",
    is_flag=True,
    help="Import the saved result of formula cells instead of refusing them.",
)
@click.option(
    "--encoding",
    metavar="NAME",
    help="The encoding of a CSV saved in a legacy one, such as cp1252 [default: UTF-8].",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help=f"Exit {int(ExitCode.CHANGES)} when the sheet is clean and has changes to apply.",
)
@click.option("-y", "--yes", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--fail-fast", is_flag=True, help="Stop sending at the first value NextStep refuses.")
@click.option(
    "--canary",
    type=click.IntRange(min=1),
    metavar="N",
    help="Apply the first N requests, verify them, then ask before the rest.",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Apply the valid values even though some cells have errors (those are skipped).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the latest import of this sheet in its run directory (same journal).",
)
@shared_options
@click.pass_context
def import_(
    ctx: click.Context,
    file: Path,
    dry_run: bool,
    reports: tuple[Path, ...],
    as_json: bool,
    on_conflict: str,
    force: bool,
    no_base: bool,
    accept_formulas: bool,
    encoding: str | None,
    detailed_exitcode: bool,
    yes: bool,
    fail_fast: bool,
    canary: int | None,
    skip_invalid: bool,
    resume: bool,
) -> None:
    """Import an edited sheet: validate, three-way diff, plan, apply.

    Each edited value is compared with what was exported and with what is live now:
    a value someone changed in NextStep since the export is a conflict and is not
    overwritten. Exit codes: 0 clean, 8 errors in the sheet, 9 conflicts, 10 changes
    pending (with --detailed-exitcode); see docs/exit-codes.md.

    Without --dry-run it shows the same plan, asks, and applies it: PATCHes paced
    to the rate limit, a journal and results.csv in .bulksync/imports/ beside the
    sheet. Running the same import again applies nothing twice. Exit 11 when a value
    could not be applied.

    \b
    Examples:
      bulksync --sandbox import onboarding.xlsx --dry-run
      bulksync import onboarding.xlsx --dry-run --report review.html
      bulksync import onboarding.xlsx --canary 5
      bulksync import vendors.csv --dry-run --json --encoding cp1252
    """
    settings = _settings(ctx)
    settings.activate()
    _check_import_options(reports, dry_run=dry_run, canary=canary, yes=yes, resume=resume)
    sheet = read_sheet(file, encoding=encoding, no_base=no_base, only_edited=True)
    # The run directories of this sheet are those of this file and this export of it.
    run_of = RunOf.sheet(file, exported_from=sheet.meta.host, exported_at=sheet.meta.exported_at)
    previous = _previous_run(file, run_of) if resume else None

    def make_run_dir() -> Path:
        return previous or new_run_dir(file, run_of=run_of)

    options = ImportOptions(
        force=force, on_conflict=OnConflict(on_conflict), accept_formulas=accept_formulas
    )
    with (
        settings.client() as client,
        # One writer per sheet and per host, from before the plan's live read to the end:
        # a second import plans after the first one's writes. A dry run writes nothing.
        contextlib.nullcontext()
        if dry_run
        else writer_lock(file, client.host, command=f"bulksync import {file}"),
    ):
        # Planned from live state read now, also when applying: a stale plan is never sent.
        with progress_bar("Reading live state", quiet=settings.quiet or as_json) as progress:
            live = LiveState(client, progress=progress)
            plan = plan_import(sheet, live.read, host=client.host, options=options)
        live.progress = None
        _conclude(
            ctx,
            settings,
            client,
            plan,
            live,
            make_run_dir,
            dry_run=dry_run,
            as_json=as_json,
            reports=reports,
            resumed=previous,
            detailed=detailed_exitcode,
            skip_invalid=skip_invalid,
            yes=yes,
            fail_fast=fail_fast,
            canary=canary,
        )


def _check_import_options(
    reports: Sequence[Path], *, dry_run: bool, canary: int | None, yes: bool, resume: bool
) -> None:
    """A usage error for options that do not go together (before anything is read)."""
    for report in reports:
        if report.suffix.lower() not in (".html", ".htm", ".json"):
            raise click.BadParameter(
                f"{report.name}: a report is .html or .json.", param_hint="--report"
            )
    if canary is not None and dry_run:
        raise click.UsageError("--canary is for applying; a dry run sends nothing anyway.")
    if not dry_run and not yes and not sys.stdin.isatty():
        raise click.UsageError(
            "Applying asks for confirmation, and there is no terminal to ask on: run it "
            "in a terminal, or give --yes (after a --dry-run you have reviewed)."
        )
    if resume and dry_run:
        raise click.UsageError("--resume is for applying; a dry run has nothing to resume.")


def _previous_run(file: Path, run_of: RunOf) -> Path:
    """The run directory ``--resume`` continues: the latest of this sheet's imports."""
    previous = latest_run_dir(file, run_of=run_of)
    if previous is None:
        raise SheetError(
            f"No earlier import of {file} to resume (of this file and this export of it, "
            "in .bulksync/imports beside it); run it without --resume."
        )
    return previous


def _conclude(
    ctx: click.Context,
    settings: Settings,
    client: NextStepClient,
    plan: Plan,
    live: LiveState,
    make_run_dir: Callable[[], Path],
    *,
    dry_run: bool,
    as_json: bool,
    yes: bool,
    reports: Sequence[Path] = (),
    resumed: Path | None = None,
    detailed: bool = False,
    skip_invalid: bool = False,
    fail_fast: bool = False,
    canary: int | None = None,
) -> None:
    """Report the plan (terminal, files, JSON); then exit for a dry run, or apply it."""
    _show_plan(settings, client, plan, reports, dry_run=dry_run, as_json=as_json)
    if dry_run:
        code = plan.exit_code(detailed=detailed)
        if code:
            ctx.exit(int(code))
        return
    if plan.errors and not skip_invalid:
        say(
            "\nNothing was sent: there are errors. Fix them (see above), or give "
            "--skip-invalid to apply the valid values only.",
            err=True,
        )
        ctx.exit(int(plan.exit_code()))
    if not plan.patches:
        if resumed is not None:
            results = write_resumed_results(plan, resumed)
            if not settings.quiet:
                click.echo(f"Results of the whole import: {results}", err=True)
        ctx.exit(int(plan.exit_code()))
    _apply(
        ctx,
        settings,
        client,
        plan,
        live,
        make_run_dir,
        yes=yes,
        fail_fast=fail_fast,
        canary=canary,
        reports=reports,
        as_json=as_json,
    )


def _show_plan(
    settings: Settings,
    client: NextStepClient,
    plan: Plan,
    reports: Sequence[Path],
    *,
    dry_run: bool,
    as_json: bool,
) -> None:
    """The plan on the terminal (or as JSON, for a dry run) and in the report files."""
    limit, window = client.limiter.limit, client.limiter.window
    _write_reports(plan, reports, client, dry_run=dry_run)
    if as_json and dry_run:
        click.echo(plan_json(plan))
        return
    # Applying with --json: the plan for people on stderr, the JSON (with the
    # results) on stdout once done.
    most = None if settings.verbose else 50
    text = plan_text(plan, rate_limit=limit, window=window, dry_run=dry_run, most=most)
    say(text, err=as_json)
    for report in reports:
        say(f"Report written to {report}.", err=as_json)


def _wait_note(client: NextStepClient) -> str:
    limiter = client.limiter
    now = "waiting for the rate limit; " if limiter.sleepers else ""
    return f"{now}{limiter.waited:.0f} s waited" if now or limiter.waited >= 1 else ""


def _write_reports(
    plan: Plan,
    reports: Sequence[Path],
    client: NextStepClient,
    *,
    dry_run: bool,
    result: ApplyResult | None = None,
) -> None:
    """The HTML and JSON report files (after applying, with each value's outcome)."""
    limit, window = client.limiter.limit, client.limiter.window
    for report in reports:
        if report.suffix.lower() == ".json":
            text = plan_json(plan, result)
        else:
            text = plan_html(plan, result, rate_limit=limit, window=window, dry_run=dry_run)
        write_report(report, text)


def _apply(
    ctx: click.Context,
    settings: Settings,
    client: NextStepClient,
    plan: Plan,
    live: LiveState,
    make_run_dir: Callable[[], Path],
    *,
    yes: bool,
    fail_fast: bool,
    canary: int | None,
    reports: Sequence[Path] = (),
    as_json: bool = False,
) -> None:
    """Confirm, then send the plan's PATCHes with a journal; report and exit."""
    count = len(plan.patches)
    if not yes and not click.confirm(
        f"\nApply {count} PATCH request(s) to {printable(plan.host)}?"
    ):
        say("Nothing was sent.", err=True)
        ctx.exit(int(ExitCode.OK))
    run_dir = make_run_dir()
    if not settings.quiet:
        say(f"Journal and results: {run_dir}", err=True)
    with contextlib.closing(_ApplyingBar(client, quiet=settings.quiet)) as bar:
        result = apply_plan(
            plan,
            client,
            run_dir,
            canary=canary,
            confirm_rest=_canary_prompt(bar, yes=yes),
            fail_fast=fail_fast,
            progress=bar,
            live=live,
        )
    _write_reports(plan, reports, client, dry_run=False, result=result)
    _say_applied(plan, result, client, as_json=as_json)
    ctx.exit(int(result.exit_code()))


class _ApplyingBar:
    """The progress callback of applying: a bar per batch of requests, opened when its
    first progress comes and closed before the canary asks about the rest."""

    def __init__(self, client: NextStepClient, *, quiet: bool) -> None:
        self.client = client
        self.quiet = quiet
        self._stack = contextlib.ExitStack()
        self._update: Callable[[int, int], None] | None = None

    def __call__(self, done: int, total: int) -> None:
        if self._update is None:
            self._update = self._stack.enter_context(
                progress_bar("Applying", quiet=self.quiet, note=lambda: _wait_note(self.client))
            )
        self._update(done, total)

    def close(self) -> None:
        self._stack.close()
        self._update = None


def _canary_prompt(bar: _ApplyingBar, *, yes: bool) -> Callable[[CanaryReport], bool]:
    """Show what the canary came to; ask (unless ``yes``) whether the rest goes."""

    def confirm(canary: CanaryReport) -> bool:
        bar.close()
        say(
            f"Canary: {canary.requests} request(s) sent, {canary.applied} value(s) applied "
            f"and verified, {canary.not_applied} not.",
            err=True,
        )
        if canary.failed or not (yes or click.confirm(f"Apply the other {canary.rest}?")):
            say("Stopped after the canary.", err=True)
            return False
        return True

    return confirm


def _say_applied(plan: Plan, result: ApplyResult, client: NextStepClient, *, as_json: bool) -> None:
    """The outcome of applying: counts, the JSON report, and each value not applied."""
    counts = result.summary()
    say(
        f"\nApplied {counts['applied']} value(s) in {result.requests} request(s); "
        f"{counts['already_done'] + len(plan.already_done)} already done, "
        f"{counts['conflict']} conflict(s), "
        f"{result.failed} failed or not sent; {client.limiter.waited:.0f} s spent waiting "
        f"for the rate limit. Results: {result.run_dir / RESULTS}",
        err=as_json,
    )
    if as_json:
        click.echo(plan_json(plan, result))
    for value in result.sent:
        if value.result not in (Result.APPLIED, Result.ALREADY_DONE):
            change = value.change
            say(
                f"  {change.cell or '-'}  {change.run_title or change.key.run_id} · "
                f"{change.task_title} · {change.label}: {value.result.value}: {value.message}",
                err=True,
            )


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
    settings = _settings(ctx)
    settings.activate()
    read_journal(journal_of(run_dir))  # a clear error now if it is not a readable run
    if not dry_run and not yes and not sys.stdin.isatty():
        raise click.UsageError("Undo asks for confirmation: run it in a terminal, or give --yes.")
    with (
        settings.client() as client,
        contextlib.nullcontext()
        if dry_run
        else writer_lock(run_dir, client.host, command=f"bulksync undo {run_dir}"),
    ):
        with progress_bar("Reading live state", quiet=settings.quiet or as_json) as progress:
            live = LiveState(client, progress=progress)
            plan = plan_undo(run_dir, live.read, client.host)
        live.progress = None
        _conclude(
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

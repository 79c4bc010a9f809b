"""The ``bulksync`` command: parse options, call the library, render, exit.

Shared options (``-v``, ``-q``, ``--api-key``, ``--base-url``, ``--sandbox``,
``--allow-insecure-http``, ``--traceback`` and the pacing ones) are declared once and
accepted before or after a command's name.
Every ``BulksyncError`` becomes one line on stderr and its documented exit code, in
``BulksyncGroup.invoke``; no command has a try/except of its own.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from bulksync import __version__
from bulksync.apply import apply_plan
from bulksync.client import NextStepClient
from bulksync.config import API_KEY_ENV, BASE_URL_ENV, Connection
from bulksync.diff import plan_import
from bulksync.errors import BulksyncError, ConfigError, ExitCode, SheetError
from bulksync.live import LiveState
from bulksync.plan import ApplyResult, CanaryReport, ImportOptions, OnConflict, Plan, Result
from bulksync.report import (
    plan_html,
    plan_json,
    plan_text,
    printable,
    progress_bar,
    runs_table,
    templates_table,
    to_json,
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
from bulksync.sandbox import DEFAULT_STATE, SANDBOX_API_KEY, SandboxConfig, open_sandbox
from bulksync.sandbox import reset_sandbox as _reset_sandbox
from bulksync.sheets import Layout, check_output, read_sheet, write_export
from bulksync.snapshot import fetch_snapshot
from bulksync.undo import plan_undo

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("bulksync")


@dataclass
class Settings:
    """What the shared options said, wherever on the command line they stood."""

    verbose: int = 0
    quiet: bool = False
    api_key: str | None = None
    base_url: str | None = None
    sandbox: bool = False
    traceback: bool = False
    max_rate: int | None = None
    in_flight: int | None = None
    allow_insecure_http: bool = False
    max_retry_after: float | None = None
    _logging_on: bool = False

    def activate(self) -> None:
        """Set up logging to stderr for the verbosity asked for (once)."""
        if self._logging_on:
            return
        self._logging_on = True
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_PrintableFormatter("%(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger("bulksync")
        root.handlers[:] = [handler]
        root.propagate = False
        if self.quiet:
            root.setLevel(logging.ERROR)
        elif self.verbose >= 2:
            root.setLevel(logging.DEBUG)
        elif self.verbose == 1:
            root.setLevel(logging.INFO)
        else:
            root.setLevel(logging.WARNING)
        # Each request and answer line only at -vvv.
        http_level = logging.DEBUG if self.verbose >= 3 else max(root.level, logging.INFO)
        logging.getLogger("bulksync.http").setLevel(http_level)

    def connection(self) -> Connection:
        return Connection.resolve(
            api_key=self.api_key, base_url=self.base_url, sandbox=self.sandbox
        )

    @contextmanager
    def client(self) -> Iterator[NextStepClient]:
        """A client for the command; ``-v`` reports its request counts at the end."""
        kwargs: dict[str, Any] = {}
        if self.max_rate:
            kwargs.update(rate_limit=self.max_rate, window=60.0)
        if self.in_flight:
            kwargs["max_in_flight"] = self.in_flight
        if self.allow_insecure_http:
            kwargs["allow_insecure_http"] = True
        if self.max_retry_after is not None:
            kwargs["max_retry_after"] = self.max_retry_after
        client = self.connection().client(**kwargs)
        try:
            yield client
        finally:
            client.close()
            log.info("%s", client.stats.summary())


def say(text: str, *, err: bool = False) -> None:
    """Echo text for people: control characters from servers and sheets made visible."""
    click.echo(printable(text), err=err)


class _PrintableFormatter(logging.Formatter):
    """Log lines on a terminal carry no control sequence (server text ends up in them)."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def _settings(ctx: click.Context) -> Settings:
    return ctx.ensure_object(Settings)


def _set(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        # None: not given at this level. A 0 may be meant (--max-retry-after 0).
        if value is None or value is False:
            return
        settings = _settings(ctx)
        if name == "verbose":
            settings.verbose += int(value)
        else:
            setattr(settings, name, value)

    return callback


def shared_options(func: F) -> F:
    """The options every command accepts, before or after its name."""
    options = [
        click.option(
            "-v",
            "--verbose",
            count=True,
            expose_value=False,
            callback=_set("verbose"),
            help="More output on stderr; -vvv logs every request (key redacted).",
        ),
        click.option(
            "-q",
            "--quiet",
            is_flag=True,
            expose_value=False,
            callback=_set("quiet"),
            help="Only errors on stderr: no progress, no warnings.",
        ),
        click.option(
            "--api-key",
            metavar="KEY",
            expose_value=False,
            callback=_set("api_key"),
            help=f"NextStep API key [env {API_KEY_ENV}]. Never written anywhere.",
        ),
        click.option(
            "--base-url",
            metavar="URL",
            expose_value=False,
            callback=_set("base_url"),
            help=f"API base URL [env {BASE_URL_ENV}; default the public NextStep].",
        ),
        click.option(
            "--sandbox",
            is_flag=True,
            expose_value=False,
            callback=_set("sandbox"),
            help=f"Use the in-process sandbox kept in {DEFAULT_STATE} (no account).",
        ),
        click.option(
            "--allow-insecure-http",
            is_flag=True,
            expose_value=False,
            callback=_set("allow_insecure_http"),
            help="Allow a plain http:// base URL to another machine (the key then crosses "
            "the network in clear). Loopback needs no permission.",
        ),
        click.option(
            "--max-rate",
            type=click.IntRange(min=1),
            metavar="N",
            expose_value=False,
            callback=_set("max_rate"),
            help="Requests per minute bulksync allows itself [default: 100, NextStep's "
            "limit]. Raise it only if your plan's limit is higher.",
        ),
        click.option(
            "--in-flight",
            type=click.IntRange(1, 32),
            metavar="N",
            expose_value=False,
            callback=_set("in_flight"),
            help="Requests sent at once [default: 4].",
        ),
        click.option(
            "--max-retry-after",
            type=click.FloatRange(min=0),
            metavar="SECONDS",
            expose_value=False,
            callback=_set("max_retry_after"),
            help="The longest wait a 429's Retry-After may ask for; past it, give up with "
            "an error [default: 300].",
        ),
        click.option(
            "--traceback",
            is_flag=True,
            expose_value=False,
            callback=_set("traceback"),
            help="Show the Python traceback of an error (for bug reports).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


class BulksyncGroup(click.Group):
    """A group that turns errors into one clear line and a documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BulksyncError as exc:
            _fail(ctx, str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail(ctx, "Interrupted.", ExitCode.INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            _fail(
                ctx,
                f"Internal error: {type(exc).__name__}: {exc}. This is a bug in bulksync; "
                "run again with --traceback and report it.",
                ExitCode.INTERNAL,
            )
        return None


def _fail(ctx: click.Context, message: str, code: ExitCode) -> None:
    settings = _settings(ctx)
    if settings.traceback:
        traceback.print_exc(file=sys.stderr)
    say(f"Error: {message}", err=True)
    ctx.exit(int(code))


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=BulksyncGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="bulksync")
@shared_options
def cli() -> None:
    """Edit NextStep process runs in a spreadsheet, safely.

    \b
    Examples:
      bulksync --sandbox list runs          try it on the built-in sandbox
      bulksync --sandbox export --template tpl_onboarding -o onboarding.xlsx
      bulksync list templates --json        needs NEXTSTEP_API_KEY
      bulksync sandbox serve --port 8765    a local NextStep to rehearse on
    """


# -- list ---------------------------------------------------------------------------------


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
    settings = _settings(ctx)
    settings.activate()
    with settings.client() as client:
        runs = client.list_runs(template_id=template_id, status=None if status == "all" else status)
    click.echo(to_json(runs) if as_json else runs_table(runs))


# -- export -------------------------------------------------------------------------------


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
) -> None:
    """Export runs to a spreadsheet to edit.

    \b
    Examples:
      bulksync --sandbox export --template tpl_onboarding -o onboarding.xlsx
      bulksync export run_123 run_456 -o two-runs.xlsx
      bulksync export --template tpl_vendor --status all --layout tasks -o vendors.csv
    """
    settings = _settings(ctx)
    settings.activate()
    if bool(run_ids) == bool(template_id):
        raise click.UsageError("Name runs by id, or give --template ID (not both).")
    chosen = Layout(layout) if layout else (Layout.RUNS if template_id else Layout.TASKS)
    check_output(output)
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
    result = write_export(snapshot, output, layout=chosen, assignees=assignees)
    extra = f" and {result.sidecar}" if result.sidecar else ""
    say(
        f"Exported {result.runs} runs, {result.values:,} values to {result.path}{extra} "
        f"({result.layout.value} layout)."
    )


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


# -- sandbox ------------------------------------------------------------------------------


@cli.group("sandbox", cls=BulksyncGroup, context_settings=CONTEXT)
@shared_options
def sandbox_group() -> None:
    """Run or reset the local NextStep emulator.

    \b
    Examples:
      bulksync sandbox serve
      bulksync sandbox reset
    """


_state_option = click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_STATE,
    show_default=True,
    help="The SQLite file that keeps the sandbox's state.",
)
_seed_option = click.option(
    "--seed",
    "seed_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Seed a new state from this directory (default: the bundled sample_data/).",
)


@sandbox_group.command("serve", context_settings=CONTEXT)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0 picks a free one).",
)
@_state_option
@_seed_option
@click.option(
    "--rate-limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Requests allowed per window and key.",
)
@click.option(
    "--window",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Length of the rate-limit window in seconds.",
)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Added latency per request.",
)
@click.option(
    "--fail-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Fraction of requests answered 500 (half before, half after doing the work).",
)
@click.option(
    "--drop-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Fraction of connections dropped without an answer (half after the work).",
)
@click.option("--fault-seed", type=int, help="Seed of the fault dice, for a repeatable run.")
@shared_options
@click.pass_context
def sandbox_serve(
    ctx: click.Context,
    host: str,
    port: int,
    state: Path,
    seed_dir: Path | None,
    rate_limit: int,
    window: float,
    latency_ms: float,
    fail_rate: float,
    drop_rate: float,
    fault_seed: int | None,
) -> None:
    """Serve the sandbox over HTTP until Ctrl-C.

    It accepts the key nxs_live_sandbox unless --api-key names another. State is kept
    in --state between runs.

    \b
    Examples:
      bulksync sandbox serve
      bulksync sandbox serve --port 9000 --rate-limit 20 --window 10
      bulksync sandbox serve --fail-rate 0.2 --drop-rate 0.05 --latency-ms 80
    """
    from bulksync.sandbox.server import make_server

    settings = _settings(ctx)
    settings.activate()
    config = SandboxConfig(
        api_key=settings.api_key or SANDBOX_API_KEY,
        rate_limit=rate_limit,
        window=window,
        latency_ms=latency_ms,
        fail_rate=fail_rate,
        drop_rate=drop_rate,
        fault_seed=fault_seed,
    )
    sandbox = open_sandbox(state, seed_dir=seed_dir, config=config)
    server = make_server(sandbox, host, port)
    try:
        sock = server.config.bind_socket()
    except (OSError, SystemExit) as exc:
        sandbox.store.close()
        raise ConfigError(
            f"The sandbox cannot listen on {host}:{port} ({exc}); is the port "
            "in use? Choose another with --port."
        ) from None
    url = f"http://{host}:{sock.getsockname()[1]}/api/v1"
    say(f"NextStep sandbox serving at {url}")
    if not settings.quiet:
        key_note = "the key given with --api-key" if settings.api_key else SANDBOX_API_KEY
        say(f"  API key: {key_note}; state: {state}; Ctrl-C stops it.", err=True)
        say(
            f"  Point bulksync at it: export {BASE_URL_ENV}={url}"
            + ("" if settings.api_key else f" {API_KEY_ENV}={SANDBOX_API_KEY}"),
            err=True,
        )
    with contextlib.suppress(KeyboardInterrupt):
        # uvicorn shuts down cleanly on Ctrl-C, then re-raises it: here it is the way out.
        server.run(sockets=[sock])
    sandbox.store.close()
    if not settings.quiet:
        say("Sandbox stopped.", err=True)


@sandbox_group.command("reset", context_settings=CONTEXT)
@_state_option
@_seed_option
@shared_options
@click.pass_context
def sandbox_reset(ctx: click.Context, state: Path, seed_dir: Path | None) -> None:
    """Throw away the sandbox's state and seed it afresh.

    \b
    Examples:
      bulksync sandbox reset
      bulksync sandbox reset --state /tmp/rehearsal.db --seed ./my_team
    """
    settings = _settings(ctx)
    settings.activate()
    _reset_sandbox(state, seed_dir=seed_dir)
    if not settings.quiet:
        say(f"Sandbox state {state} reset from {seed_dir or 'the bundled sample_data/'}.", err=True)


def main() -> None:
    """The console script."""
    cli(prog_name="bulksync")

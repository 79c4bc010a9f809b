"""What ``import`` and ``undo`` share: plan from live state under the writer lock, show
the plan, confirm, apply (with the canary as a callback), report the outcome."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import click

from bulksync.annotate import annotate_workbook
from bulksync.apply import apply_plan
from bulksync.cli.options import Settings, say
from bulksync.cli.progress import PacedBar
from bulksync.client import NextStepClient
from bulksync.errors import ExitCode
from bulksync.fetch import LiveState
from bulksync.launch import StartResultKind
from bulksync.plans import ApplyResult, CanaryReport, Plan, Result
from bulksync.report import (
    plan_html_pieces,
    plan_json_pieces,
    plan_text,
    printable,
    start_results_text,
    write_report,
)
from bulksync.results import write_resumed_results
from bulksync.rundir import (
    RESULTS,
    writer_lock,
)


@contextlib.contextmanager
def writing(
    settings: Settings, target: Path, command: str, *, dry_run: bool
) -> Iterator[NextStepClient]:
    """A client, holding (unless a dry run) the one-writer lock of ``target`` and the
    API host from before the plan's live read to the end: a second import plans after
    the first one's writes. A dry run writes nothing and takes no lock."""
    with settings.client() as client:
        if dry_run:
            yield client
        else:
            with writer_lock(target, client.host, command=command):
                yield client


def planned(
    client: NextStepClient,
    make: Callable[[LiveState], Plan],
    *,
    quiet: bool,
    dry_run: bool = False,
) -> tuple[Plan, LiveState]:
    """The plan ``make`` builds from live state read now (``LiveState.read``, and for
    new rows the template and its runs), with a progress bar while it reads; also when
    applying, so that a stale plan is never sent. A dry run keeps no reading once
    planned with it (nothing is applied)."""
    bar = PacedBar(
        "Reading live state", client.limiter, quiet=quiet, sent=lambda: client.stats.total
    )
    with contextlib.closing(bar):
        keep = 0 if dry_run else LiveState.KEEP_READINGS
        live = LiveState(client, progress=bar, keep=keep)
        plan = make(live)
    live.progress = None
    return plan, live


def conclude(
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
    _show_plan(
        settings,
        client,
        plan,
        reports,
        dry_run=dry_run,
        as_json=as_json,
        skip_invalid=skip_invalid,
    )
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
    if not plan.has_work:
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
    skip_invalid: bool = False,
) -> None:
    """The plan on the terminal (or as JSON, for a dry run) and in the report files."""
    limit, window = client.limiter.limit, client.limiter.window
    _write_reports(plan, reports, client, dry_run=dry_run)
    if as_json and dry_run:
        _echo_json(plan)
        return
    # Applying with --json: the plan for people on stderr, the JSON (with the
    # results) on stdout once done.
    most = None if settings.verbose else 50
    text = plan_text(
        plan,
        rate_limit=limit,
        window=window,
        dry_run=dry_run,
        most=most,
        skip_invalid=skip_invalid,
    )
    say(text, err=as_json)
    for report in reports:
        if report.suffix.lower() == ".xlsx":
            say(
                f"Your workbook, marked up: {report} (red: errors, amber: conflicts and "
                "warnings, green: changes; each marked cell's comment says why).",
                err=as_json,
            )
        else:
            say(f"Report written to {report}.", err=as_json)


def _write_reports(
    plan: Plan,
    reports: Sequence[Path],
    client: NextStepClient,
    *,
    dry_run: bool,
    result: ApplyResult | None = None,
) -> None:
    """The HTML and JSON report files, and the marked-up copy of the workbook (after
    applying, with each value's outcome)."""
    limit, window = client.limiter.limit, client.limiter.window
    for report in reports:
        if report.suffix.lower() == ".xlsx":
            annotate_workbook(Path(plan.path), plan, result, out=report)
            continue
        # Written as made: a plan's report may be tens of megabytes (issue 13).
        if report.suffix.lower() == ".json":
            pieces = plan_json_pieces(plan, result)
        else:
            pieces = plan_html_pieces(
                plan, result, rate_limit=limit, window=window, dry_run=dry_run
            )
        write_report(report, pieces)


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
    count, starts = len(plan.patches), len(plan.starts)
    what = f"Apply {count} PATCH request(s)" if count else ""
    if starts:
        what += (" and start" if what else "Start") + f" {starts} run(s)"
    if not yes and not click.confirm(f"\n{what} on {printable(plan.host)}?"):
        say("Nothing was sent.", err=True)
        ctx.exit(int(ExitCode.OK))
    run_dir = make_run_dir()
    if not settings.quiet:
        say(f"Journal and results: {run_dir}", err=True)
    # A bar per batch of requests: opened at its first progress, closed before the
    # canary asks about the rest.
    # Until a PATCH is done, count each run's read with its PATCHes: a run is read again
    # before it is written when its read is older than a couple of seconds.
    runs = len({patch.run_id for patch in plan.patches})
    bar = PacedBar(
        "Applying",
        client.limiter,
        quiet=settings.quiet,
        sent=lambda: client.stats.total,
        expected_per_item=1 + runs / len(plan.patches) if plan.patches else 1.0,
    )
    with contextlib.closing(bar):
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


def _canary_prompt(bar: PacedBar, *, yes: bool) -> Callable[[CanaryReport], bool]:
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
    # Wall-clock time during which the limit held requests back (parallel waits once).
    waited = f"{client.limiter.blocked:.0f} s spent waiting for the rate limit"
    if result.results or not result.starts:
        line = (
            f"Applied {counts['applied']} value(s) in {result.requests} request(s); "
            f"{counts['already_done'] + len(plan.already_done)} already done, "
            f"{counts['conflict']} conflict(s), "
            f"{result.failed - result.starts_failed} failed or not sent; {waited}."
        )
    else:  # runs started, no value of an existing run
        line = f"{result.requests} request(s) sent; {waited}."
    say(
        f"\n{line} Results: {result.run_dir / RESULTS}",
        err=as_json,
    )
    if as_json:
        _echo_json(plan, result)
    _say_started(result, as_json=as_json)
    for value in result.sent:
        if value.result not in (Result.APPLIED, Result.ALREADY_DONE):
            change = value.change
            say(
                f"  {change.cell or '-'}  {change.run_title or change.key.run_id} · "
                f"{change.task_title} · {change.label}: {value.result.value}: {value.message}",
                err=True,
            )


def _say_started(result: ApplyResult, *, as_json: bool) -> None:
    """What came of the runs to start: how many started, and each one's outcome."""
    if not result.starts:
        return
    before = result.started(StartResultKind.ALREADY_STARTED)
    not_started = result.started(StartResultKind.CONFLICT) + result.starts_failed
    say(
        f"Started {result.started()} run(s)"
        + (f"; {before} started already by an earlier import" if before else "")
        + (f"; {not_started} not started" if not_started else "")
        + f". Their ids and links are in {result.run_dir / RESULTS}. To edit them, export "
        "them: bulksync export RUN_ID… -o FILE (or --template).",
        err=as_json,
    )
    say(start_results_text(result), err=True)


def _echo_json(plan: Plan, result: ApplyResult | None = None) -> None:
    """The JSON report on stdout, written as it is made (a large plan's text is never
    held whole)."""
    for piece in plan_json_pieces(plan, result):
        click.echo(piece, nl=False)
    click.echo()

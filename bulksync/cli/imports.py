"""``bulksync import``: read the edited sheet, plan it from live state, report, apply."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import click

from bulksync.cli.group import CONTEXT, cli
from bulksync.cli.options import _settings, shared_options
from bulksync.errors import ExitCode, SheetError

if TYPE_CHECKING:
    from bulksync.rundir import RunOf

ON_CONFLICT: Final = ("skip", "mine")
"""The values of ``bulksync.plans.OnConflict``, the first the default, named here so that
help needs no planning module (tests/test_startup.py checks that they agree)."""


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
@click.option(
    "--annotate",
    is_flag=True,
    help="Also write FILE.checked.xlsx: your workbook with each error cell red, each "
    "conflict amber and each change green, a comment on each saying why (xlsx only).",
)
@click.option("--json", "as_json", is_flag=True, help="The report as JSON on stdout.")
@click.option(
    "--on-conflict",
    type=click.Choice(ON_CONFLICT),
    default=ON_CONFLICT[0],
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
    annotate: bool,
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
    from bulksync.cli.planning import conclude, planned, writing
    from bulksync.diff import plan_import
    from bulksync.journal import sheet_started
    from bulksync.plans import ImportOptions, OnConflict
    from bulksync.rundir import RunOf, new_run_dir
    from bulksync.sheets import read_sheet

    settings = _settings(ctx)
    settings.activate()
    _check_import_options(reports, dry_run=dry_run, canary=canary, yes=yes, resume=resume)
    if annotate:
        reports = (*reports, _annotated(file))
    sheet = read_sheet(file, encoding=encoding, no_base=no_base, only_edited=True)
    # The run directories of this sheet are those of this file and this export of it.
    run_of = RunOf.sheet(file, exported_from=sheet.meta.host, exported_at=sheet.meta.exported_at)
    previous = _previous_run(file, run_of) if resume else None

    def make_run_dir() -> Path:
        return previous or new_run_dir(file, run_of=run_of)

    options = ImportOptions(
        force=force, on_conflict=OnConflict(on_conflict), accept_formulas=accept_formulas
    )
    command = f"bulksync import {file}"
    with writing(settings, file, command, dry_run=dry_run) as client:
        # Read under the writer lock: what earlier imports of this export started.
        ledger = sheet_started(file, sheet)
        plan, live = planned(
            client,
            lambda live: plan_import(
                sheet, live.read, host=client.host, options=options, source=live, ledger=ledger
            ),
            quiet=settings.quiet or as_json,
            dry_run=dry_run,
        )
        conclude(
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


def _annotated(file: Path) -> Path:
    """Where --annotate writes the marked-up copy (a usage error for a CSV)."""
    from bulksync.annotate import checked_path

    if file.suffix.lower() != ".xlsx":
        raise click.BadParameter(
            f"{file.name}: --annotate marks up an .xlsx workbook, and a CSV file has no "
            "colours or comments; --report FILE.html lists every cell instead.",
            param_hint="--annotate",
        )
    return checked_path(file)


def _previous_run(file: Path, run_of: RunOf) -> Path:
    """The run directory ``--resume`` continues: the latest of this sheet's imports."""
    from bulksync.rundir import latest_run_dir

    previous = latest_run_dir(file, run_of=run_of)
    if previous is None:
        raise SheetError(
            f"No earlier import of {file} to resume (of this file and this export of it, "
            "in .bulksync/imports beside it); run it without --resume."
        )
    return previous

"""The root ``bulksync`` group and the one place errors become exit codes.

Every ``BulksyncError`` becomes one line on stderr and its documented exit code, in
``BulksyncGroup.invoke``; no command has a try/except of its own.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

import click

from bulksync.cli.options import _settings, say, shared_options
from bulksync.errors import BulksyncError, ExitCode
from bulksync.version import __version__


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

"""The ``bulksync`` command: parse options, call the library, render, exit.

The group and its error mapping are in ``group``, the shared options in ``options``,
and each command group in a module of its own (``listing``, ``export``, ``imports``,
``undo``, ``sandbox``; what import and undo share is in ``planning``); importing them
here registers their commands on ``cli``.
"""

from __future__ import annotations

from bulksync.cli import export, imports, listing, sandbox, undo
from bulksync.cli.group import cli

__all__ = ["cli", "main"]

# Imported for their effect: each module adds its commands to ``cli``.
_COMMAND_MODULES = (listing, export, imports, undo, sandbox)


def main() -> None:
    """The console script."""
    cli(prog_name="bulksync")

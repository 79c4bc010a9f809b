"""Every ``bulksync`` start is cheap: the CLI imports what a command needs when it runs.

``import bulksync.cli`` (what the console script does first), and printing any
command's help, must not load httpx, the sheet libraries, jinja2, email-validator or the
sandbox (issue 15: they cost ~0.4 s of each start). Checked on ``sys.modules`` in a
fresh interpreter, not with a clock. The public API stays whole: every name in
``bulksync.__all__`` still imports.
"""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

import bulksync
from bulksync.cli import cli
from bulksync.cli.export import LAYOUTS
from bulksync.cli.imports import ON_CONFLICT
from bulksync.plans import OnConflict
from bulksync.sheets import Layout

HEAVY = (
    "httpx",
    "jinja2",
    "email_validator",
    "python_calamine",
    "xlsxwriter",
    "openpyxl",
    "uvicorn",
    "bulksync.sandbox",
    "bulksync.client",
    "bulksync.sheets",
)


def _loaded_after(code: str) -> list[str]:
    """The modules of HEAVY that a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(json.loads(out.splitlines()[-1]))
    return [name for name in HEAVY if name in loaded]


def _command_paths(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [path]
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            paths += _command_paths(sub, (*path, name))
    return paths


def test_importing_the_cli_loads_no_heavy_module():
    assert _loaded_after("import bulksync.cli") == []


def test_importing_bulksync_loads_no_heavy_module():
    assert _loaded_after("import bulksync") == []


def test_version_and_every_commands_help_load_no_heavy_module():
    runs = [("--version",)] + [(*path, "--help") for path in _command_paths(cli)]
    assert len(runs) > 8  # the root, list, export, import, undo, sandbox and their commands
    code = (
        "from bulksync.cli import cli\n"
        f"for args in {runs!r}:\n"
        "    try:\n"
        "        cli.main(list(args), prog_name='bulksync', standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
    )
    assert _loaded_after(code) == []


def test_a_command_still_loads_what_it_needs(tmp_path):
    # The checks above can fail: running a command that reads runs imports httpx.
    code = (
        f"import os\nos.chdir({str(tmp_path)!r})\n"
        "from bulksync.cli import cli\n"
        "try:\n"
        "    cli.main(['--sandbox', '-q', 'list', 'templates', '--json'], standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
    )
    assert "httpx" in _loaded_after(code)


def test_the_choices_named_in_the_cli_are_the_library_enums():
    assert tuple(layout.value for layout in Layout) == LAYOUTS
    assert tuple(choice.value for choice in OnConflict) == ON_CONFLICT
    assert ON_CONFLICT[0] == OnConflict.SKIP.value


@pytest.mark.parametrize("name", bulksync.__all__)
def test_every_public_name_imports(name):
    namespace: dict[str, object] = {}
    exec(f"from bulksync import {name}", namespace)
    assert namespace[name] is getattr(bulksync, name)
    assert name in dir(bulksync)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        bulksync.no_such_name  # noqa: B018
    with pytest.raises(ImportError):
        exec("from bulksync import no_such_name", {})

"""The examples in README.md and docs/ work.

Every ```python block runs, in a fresh empty directory with no NextStep settings in the
environment, in its own process: examples that need an account are written against the
sandbox instead. A block that truly cannot run says so on its first line
(``# not run: <why>``); such blocks are counted, and must stay few.

Every ``bulksync …`` line of a shell block is parsed by the real click commands: a
renamed command or option, or a value a choice does not allow, fails here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from bulksync.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP_MARK = "# not run:"
MAX_SKIPPED = 2
SHELLS = ("sh", "console", "shell", "bash")
FENCE = re.compile(r"^```(\S*)\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence
    lang: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(paths: list[Path] = DOCS) -> list[Block]:
    found = []
    for path in paths:
        lines = path.read_text(encoding="utf-8").splitlines()
        start = lang = None
        for number, line in enumerate(lines, start=1):
            fence = FENCE.match(line)
            if not fence:
                continue
            if start is None:
                start, lang = number, fence.group(1)
            else:
                code = "\n".join(lines[start : number - 1]) + "\n"
                found.append(Block(path, start, lang or "", code))
                start = lang = None
        assert start is None, f"{path.relative_to(ROOT)}:{start}: a code block is never closed"
    return found


PYTHON = [b for b in blocks() if b.lang == "python"]
SHELL = [b for b in blocks() if b.lang in SHELLS]


def test_the_docs_have_examples_to_check():
    assert len(PYTHON) >= 5
    assert sum(b.path.name == "README.md" for b in SHELL) >= 3


def test_few_python_examples_are_left_unrun():
    skipped = [b.where for b in PYTHON if b.code.lstrip().startswith(SKIP_MARK)]
    assert len(skipped) <= MAX_SKIPPED, (
        f"{len(skipped)} examples are marked '{SKIP_MARK}' ({', '.join(skipped)}); write them "
        "against the sandbox (from bulksync.sandbox import open_sandbox, sandbox_client)"
    )


@pytest.mark.parametrize("block", PYTHON, ids=[b.where for b in PYTHON])
def test_python_example_runs(block: Block, tmp_path: Path):
    first = block.code.lstrip().splitlines()[0]
    if first.startswith(SKIP_MARK):
        reason = first.removeprefix(SKIP_MARK).strip()
        assert reason, f"{block.where}: say why the example cannot run after '{SKIP_MARK}'"
        pytest.skip(f"{block.where}: {reason}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXTSTEP_")}
    try:
        done = subprocess.run(
            [sys.executable, "-c", block.code],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{block.where}: the example did not finish in 120 s", pytrace=False)
    if done.returncode != 0:
        pytest.fail(
            f"{block.where}: the example fails (exit {done.returncode}):\n"
            f"{block.code}\n--- stderr ---\n{done.stderr}",
            pytrace=False,
        )


# -- shell examples ---------------------------------------------------------------------


def command_lines(block: Block) -> list[tuple[int, list[str]]]:
    """The ``bulksync …`` commands of a shell block, as argument lists, by line."""
    found = []
    joined: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for offset, raw in enumerate(block.code.splitlines(), start=1):
        line = raw.strip().removeprefix("$ ")
        if pending:
            line = pending + " " + line
        else:
            start = block.line + offset
        if line.endswith("\\"):
            pending = line[:-1]
            continue
        pending = ""
        joined.append((start, line))
    for number, line in joined:
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue  # not a simple command line (a heredoc, a case statement)
        segment: list[str] = []
        for word in [*words, ";"]:
            if word in ("&&", "||", ";", "|") or word.endswith(";"):
                if word.endswith(";") and word != ";":
                    segment.append(word[:-1])
                if segment and Path(segment[0]).name == "bulksync":
                    args = []
                    skip_next = False
                    for arg in segment[1:]:
                        if skip_next:
                            skip_next = False
                        elif arg in (">", ">>", "2>", "<"):
                            skip_next = True  # a redirection and its target
                        elif not re.match(r"^\d?>", arg):
                            args.append(arg)
                    found.append((number, args))
                segment = []
            else:
                segment.append(word)
    return found


def is_synopsis(args: list[str]) -> bool:
    """A usage line such as ``export RUN_ID... -o FILE [--layout tasks|runs]``."""
    return any("[" in a or a.endswith("...") or "|" in a for a in args)


def parse(args: list[str]) -> None:
    """Parse a command line as bulksync would, down to its last subcommand; run nothing."""
    command: click.Command = cli
    ctx = cli.make_context("bulksync", list(args))
    while isinstance(command, click.Group):
        with warnings.catch_warnings():  # click 9 folds protected_args into args
            warnings.simplefilter("ignore", DeprecationWarning)
            rest = [*getattr(ctx, "protected_args", ()), *ctx.args]
        assert rest, "no command given"
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        command = sub
        ctx = sub.make_context(name, rest, parent=ctx)
    assert not ctx.args, f"arguments left over: {ctx.args}"


SHELL_COMMANDS = [
    (block, number, args)
    for block in SHELL
    for number, args in command_lines(block)
    if not is_synopsis(args)
]


def test_the_shell_examples_name_commands():
    assert len(SHELL_COMMANDS) >= 15


@pytest.mark.parametrize(
    ("block", "number", "args"),
    SHELL_COMMANDS,
    ids=[f"{b.path.name}:{n}" for b, n, _ in SHELL_COMMANDS],
)
def test_shell_example_names_real_commands_and_options(block, number, args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("NEXTSTEP_")]:
        monkeypatch.delenv(name)
    try:
        parse(args)
    except click.UsageError as exc:
        pytest.fail(
            f"{block.path.relative_to(ROOT)}:{number}: `bulksync {shlex.join(args)}` is not "
            f"a valid command line: {exc.format_message()}",
            pytrace=False,
        )


def test_the_command_line_check_catches_a_wrong_option(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(click.UsageError):
        parse(["import", "onboarding.xlsx", "--dry-rum"])
    with pytest.raises(click.UsageError):
        parse(["list", "runs", "--status", "paused"])
    with pytest.raises(click.UsageError):
        parse(["exprot", "--template", "tpl_onboarding"])
    parse(["--sandbox", "import", "onboarding.xlsx", "--dry-run", "--report", "r.html"])


def test_command_lines_are_found_in_pipes_and_continuations():
    block = Block(
        ROOT / "README.md",
        10,
        "sh",
        "export X=1\nbulksync list runs --json | jq '.[].id'\n"
        "python -m venv .venv && .venv/bin/bulksync --sandbox export \\\n"
        "  --template tpl -o a.xlsx  # a comment\nbulksync import a.xlsx --json > plan.json\n",
    )
    assert command_lines(block) == [
        (12, ["list", "runs", "--json"]),
        (13, ["--sandbox", "export", "--template", "tpl", "-o", "a.xlsx"]),
        (15, ["import", "a.xlsx", "--json"]),
    ]

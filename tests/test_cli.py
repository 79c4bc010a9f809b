"""The ``bulksync`` command, through click's CliRunner and as a real process."""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner

import bulksync.cli
from bulksync.cli import cli
from bulksync.errors import ExitCode
from bulksync.sandbox import SandboxConfig, open_sandbox
from tests.badserver import CannedServer


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Invoke the CLI in an empty directory, without a key in the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEXTSTEP_API_KEY", raising=False)
    monkeypatch.delenv("NEXTSTEP_BASE_URL", raising=False)

    def invoke(*args: str, env: dict[str, str] | None = None):
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def test_list_runs_on_the_sandbox_is_an_aligned_table(run):
    result = run("--sandbox", "list", "runs")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "TEMPLATE", "CREATED", "TITLE"]
    assert len(lines) >= 31
    title_column = lines[0].index("TITLE")
    assert all(
        len(line) > title_column and line[title_column - 2 : title_column] == "  "
        for line in lines[1:]
    )
    assert any("run_onb_001" in line and "Zoë Ångström" in line for line in lines)


def test_list_runs_filters_and_json(run):
    result = run(
        "list", "runs", "--sandbox", "--template", "tpl_vendor", "--status", "completed", "--json"
    )
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)
    assert runs
    assert {(r["template_id"], r["status"]) for r in runs} == {("tpl_vendor", "completed")}


def test_list_templates_json(run):
    result = run("--sandbox", "list", "templates", "--json")
    templates = json.loads(result.stdout)
    assert "Customer Implementation" in {t["title"] for t in templates}
    assert all(isinstance(t["sections"], list) for t in templates)


@pytest.mark.parametrize(
    "args",
    [
        ("-v", "--sandbox", "list", "templates"),
        ("--sandbox", "list", "templates", "-v"),
        ("--sandbox", "list", "-v", "templates"),
    ],
)
def test_verbose_before_or_after_the_command_reports_requests(run, args):
    result = run(*args)
    assert result.exit_code == 0
    assert "1 request (GET 200×1); 0 retries; 0 rate-limited" in result.stderr


def test_quiet_silences_stderr(run):
    result = run("--sandbox", "list", "templates", "-v", "-q")
    assert result.exit_code == 0
    assert result.stderr == ""


def test_very_verbose_logs_each_request_with_the_key_redacted(make_sandbox, serve, run):
    sandbox = open_sandbox(
        make_sandbox().store.path, config=SandboxConfig(api_key="nxs_live_t0ps3cret")
    )
    base = serve(sandbox)
    result = run(
        "list",
        "runs",
        "-vvv",
        env={"NEXTSTEP_API_KEY": "nxs_live_t0ps3cret", "NEXTSTEP_BASE_URL": base},
    )
    assert result.exit_code == 0, result.output
    assert "→ GET /process-runs" in result.stderr
    assert "← 200 GET /process-runs" in result.stderr
    assert "Bearer [redacted]" in result.stderr
    assert "t0ps3cret" not in result.output


def test_a_refused_key_says_so_names_the_variable_and_exits_auth(run):
    result = run("--sandbox", "--api-key", "nxs_live_wr0ng", "list", "templates")
    assert result.exit_code == ExitCode.AUTH
    assert result.stderr.startswith("Error: NextStep refused the API key")
    assert "NEXTSTEP_API_KEY" in result.stderr
    assert "wr0ng" not in result.output
    assert "Traceback" not in result.output


def test_no_key_is_a_config_error(run):
    result = run("list", "runs")
    assert result.exit_code == ExitCode.CONFIG
    assert "NEXTSTEP_API_KEY" in result.stderr


def test_an_unreachable_base_url_is_one_line_and_a_network_exit(run):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run("--api-key", "k", "--base-url", f"http://127.0.0.1:{port}/api/v1", "list", "runs")
    assert result.exit_code == ExitCode.NETWORK
    assert result.stderr.count("\n") == 1
    assert "Could not reach NextStep" in result.stderr


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<!doctype html><h1>Service unavailable</h1>", "text/html"),
        (b'{"data": [', "application/json"),
        (b'{"runs": []}', "application/json"),
    ],
)
def test_a_non_json_or_odd_answer_is_one_clear_line(run, body, content_type):
    with CannedServer(200, body, content_type) as server:
        result = run("--api-key", "k", "--base-url", server.base_url, "list", "runs")
    assert result.exit_code == ExitCode.API
    assert result.stderr.startswith("Error: NextStep's answer to GET /process-runs")
    assert result.stderr.count("\n") == 1


def test_traceback_flag_shows_the_traceback(run):
    result = run("--sandbox", "--api-key", "nxs_live_wrong", "--traceback", "list", "templates")
    assert result.exit_code == ExitCode.AUTH
    assert "Traceback" in result.stderr


def _command_paths(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command's words on the command line, found by walking the group (so a new
    command cannot be left out)."""
    paths = [path]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*path, name))
        else:
            paths.append((*path, name))
    return paths


COMMANDS = _command_paths(cli)


def test_the_walk_finds_every_command():
    assert {" ".join(c) for c in COMMANDS} >= {
        "",
        "export",
        "import",
        "undo",
        "list",
        "list runs",
        "list templates",
        "sandbox",
        "sandbox serve",
        "sandbox reset",
    }


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "bulksync")
def test_every_command_has_help_with_examples(run, command):
    result = run(*command, "--help")
    assert result.exit_code == 0
    # The summary: the first paragraph after the usage line, one line of its own.
    summary = result.stdout.split("\n\n")[1]
    assert summary.startswith("  ") and summary.strip() and "\n" not in summary
    assert "Examples:\n    bulksync " in result.stdout
    assert "-v, --verbose" in result.stdout
    if command:
        # ... and the parent's list of commands shows it whole, not cut short with "...".
        listing = run(*command[:-1], "--help").stdout.split("Commands:\n")[1]
        shown = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in listing.splitlines()}
        assert shown[command[-1]] == summary.strip()


def test_the_cli_reaches_http_and_spreadsheets_only_through_the_library():
    """STYLE.md: the shell never touches httpx, openpyxl or pandas itself."""
    package = Path(bulksync.cli.__file__).parent
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in {"httpx", "openpyxl", "pandas"}, module.name


def test_sandbox_reset_restores_the_seed(run, tmp_path):
    state = tmp_path / "rehearsal.db"
    assert run("sandbox", "reset", "--state", str(state)).exit_code == 0
    sandbox = open_sandbox(state)
    sandbox.store.set_meta("team_id", "changed")
    sandbox.store.close()
    result = run("sandbox", "reset", "--state", str(state))
    assert result.exit_code == 0
    assert "reset" in result.stderr
    sandbox = open_sandbox(state)
    assert sandbox.store.get_meta("team_id") == "team_acme"
    sandbox.store.close()


def test_serving_on_a_port_in_use_is_a_clear_error(run, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("sandbox", "serve", "--port", str(port), "--state", str(tmp_path / "s.db"))
    assert result.exit_code == ExitCode.CONFIG
    assert "--port" in result.stderr


def test_python_dash_m_and_the_real_server_stop_cleanly_on_ctrl_c(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXTSTEP_")}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bulksync",
            "sandbox",
            "serve",
            "--port",
            "0",
            "--state",
            str(tmp_path / "s.db"),
            "--rate-limit",
            "50",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = server.stdout.readline()
        url = re.search(r"http://\S+/api/v1", first).group(0)
        answer = httpx.get(
            url + "/process-runs",
            params={"limit": 100},
            headers={"Authorization": "Bearer nxs_live_sandbox"},
        )
        assert answer.status_code == 200
        assert len(answer.json()["data"]) >= 30
        listing = subprocess.run(
            [sys.executable, "-m", "bulksync", "list", "templates", "--json"],
            env=env | {"NEXTSTEP_BASE_URL": url, "NEXTSTEP_API_KEY": "nxs_live_sandbox"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert listing.returncode == 0, listing.stderr
        assert "Employee Onboarding" in listing.stdout
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=20)
    assert server.returncode == 0
    assert "Sandbox stopped." in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "option", [("--max-rate", "0"), ("--in-flight", "0"), ("--in-flight", "100")]
)
def test_pacing_options_refuse_impossible_values(run, option):
    result = run("--sandbox", "list", "runs", *option)
    assert result.exit_code == ExitCode.USAGE
    assert option[0] in result.stderr


def test_pacing_options_are_accepted_anywhere(run):
    result = run("--max-rate", "600", "--sandbox", "list", "runs", "--in-flight", "8")
    assert result.exit_code == 0

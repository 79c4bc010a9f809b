"""Run directories through the CLI: one writer at a time, private files, resuming.

Concurrency is tested with real processes (``python -m bulksync``) against a sandbox
served over loopback HTTP; the sandbox is slowed down while the first process is in
the middle of its writes, so the second one surely starts while the first holds on.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import os
import select
import socket
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from bulksync.cli import cli
from bulksync.errors import ExitCode
from bulksync.rundir import read_journal, writer_lock
from tests.test_cli_apply import (
    EDITS,
    exported_and_edited,
    import_to_be_stopped,
    live_values,
    run_dirs,
    start_and_wait_for_applied,
)

IMPORTS = Path(".bulksync") / "imports"


def start(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bulksync", *args],
        cwd=tmp_path,
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for_applied(process: subprocess.Popen[bytes], journal: Path, count: int) -> bool:
    """Wait until ``journal`` records ``count`` applied PATCHes; False if it never does."""
    for _ in range(1000):
        if process.poll() is not None:
            return False
        if journal.exists():
            events = [e["event"] for e in read_journal(journal)]
            if events.count("applied") >= count:
                return True
        select.select([], [], [], 0.02)
    return False


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bulksync", *args],
        cwd=tmp_path,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def slowed(sandbox, latency_ms: float) -> None:
    sandbox.config = dataclasses.replace(sandbox.config, latency_ms=latency_ms)


def results_of(run_dir: Path) -> dict[tuple[str, str, str], str]:
    with (run_dir / "results.csv").open(encoding="utf-8-sig") as handle:
        return {
            (r["run_id"], r["task_id"], r["field_id"]): r["result"] for r in csv.DictReader(handle)
        }


# -- one writer at a time ------------------------------------------------------------------


def test_a_second_import_of_the_sheet_refuses_while_the_first_applies(http, tmp_path):
    bulk, sandbox, edits = import_to_be_stopped(http, tmp_path)
    tasks_with_changes = len({(r, c.split(":")[0]) for r, c in edits})
    first, journal = start_and_wait_for_applied(tmp_path, 2)
    assert journal is not None, "the first import finished before the second could start"
    slowed(sandbox, 3000)  # the first one is now surely busy while the second tries
    second = run(tmp_path, "import", "onb.xlsx", "--yes")
    assert first.poll() is None, "the first import finished before the second tried"
    slowed(sandbox, 0)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert second.returncode == ExitCode.LOCKED, second.stderr
    [line] = second.stderr.strip().splitlines()  # one clear line, no traceback
    assert f"pid {first.pid}" in line
    assert socket.gethostname() in line
    assert "bulksync import onb.xlsx" in line
    assert "since" in line and "delete" in line  # how to clear a stale one
    # every PATCH reached NextStep once: the second sent nothing at all
    assert sandbox.stats.total("PATCH") == sandbox.stats.patches_applied == tasks_with_changes
    assert len(run_dirs(tmp_path)) == 1
    # and the same import now plans everything as already done
    again = bulk("import", "onb.xlsx", "--yes")
    assert again.exit_code == 0, again.output
    assert f"0 to change · {len(edits)} already done" in again.stdout
    assert sandbox.stats.total("PATCH") == tasks_with_changes


def test_an_import_refuses_while_an_undo_writes_to_the_same_host(http, tmp_path):
    bulk, sandbox = http(rate_limit=100_000)
    exported_and_edited(bulk, tmp_path)
    before = {k: live_values(sandbox, k[0])[k[1]] for k in EDITS}
    assert bulk("import", "onb.xlsx", "--yes").exit_code == 0
    [imported] = run_dirs(tmp_path)
    slowed(sandbox, 60)
    undo = start(tmp_path, "undo", str(imported), "--yes", "--in-flight", "1")
    undo_journal = None
    for _ in range(1000):
        found = [d for d in run_dirs(tmp_path) if d != imported]
        if found or undo.poll() is not None:
            undo_journal = found[0] / "journal.jsonl" if found else None
            break
        select.select([], [], [], 0.02)
    assert undo_journal is not None and wait_for_applied(undo, undo_journal, 1)
    slowed(sandbox, 3000)
    second = run(tmp_path, "import", "onb.xlsx", "--yes")
    assert undo.poll() is None, "the undo finished before the import tried"
    slowed(sandbox, 0)
    _, err = undo.communicate(timeout=120)
    assert undo.returncode == 0, err
    assert second.returncode == ExitCode.LOCKED, second.stderr
    assert f"bulksync undo {imported}" in second.stderr and f"pid {undo.pid}" in second.stderr
    # the undo finished alone: every value is back, none half imported again
    for key, value in before.items():
        assert (live_values(sandbox, key[0])[key[1]] or None) == (value or None)
    assert sandbox.stats.patches_applied == 3 + 3


def test_a_dry_run_takes_no_lock_and_runs_beside_an_import(http, tmp_path):
    _, sandbox, _ = import_to_be_stopped(http, tmp_path)
    first, journal = start_and_wait_for_applied(tmp_path, 2)
    assert journal is not None, "the import finished before the dry run could start"
    slowed(sandbox, 3000)
    dry = run(tmp_path, "import", "onb.xlsx", "--dry-run")
    slowed(sandbox, 0)
    first.communicate(timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert "already done" in dry.stdout


def respelled(base: str, how: str) -> str:
    """``base`` written another way that names the same API host."""
    parts = urlsplit(base)
    if how == "leading_zero_port":
        return f"{parts.scheme}://{parts.hostname}:0{parts.port}{parts.path}"
    if how == "uppercase_host":
        return f"{parts.scheme}://{str(parts.hostname).upper()}:{parts.port}{parts.path}/"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["leading_zero_port", "uppercase_host"])
def test_the_host_lock_holds_however_the_base_url_spells_the_host(http, tmp_path, monkeypatch, how):
    bulk, sandbox = http()
    base = os.environ["NEXTSTEP_BASE_URL"].replace("127.0.0.1", "localhost")
    monkeypatch.setenv("NEXTSTEP_BASE_URL", base)
    exported_and_edited(bulk, tmp_path)
    # An import of another sheet from this folder holds the lock of this API host.
    with writer_lock(tmp_path / "other.xlsx", urlsplit(base).netloc, command="bulksync import x"):
        assert bulk("import", "onb.xlsx", "--yes").exit_code == ExitCode.LOCKED
        monkeypatch.setenv("NEXTSTEP_BASE_URL", respelled(base, how))
        # no --force: the sheet is from this host too, however it is spelled
        result = bulk("import", "onb.xlsx", "--yes")
    assert result.exit_code == ExitCode.LOCKED, result.output
    assert f"the API host {urlsplit(base).netloc} " in result.stderr
    assert sandbox.stats.total("PATCH") == 0


def test_a_sheet_imports_to_the_host_it_came_from_however_the_base_url_spells_it(
    http, tmp_path, monkeypatch
):
    bulk, sandbox = http()
    base = os.environ["NEXTSTEP_BASE_URL"].replace("127.0.0.1", "localhost")
    monkeypatch.setenv("NEXTSTEP_BASE_URL", respelled(base, "uppercase_host"))
    exported_and_edited(bulk, tmp_path)
    monkeypatch.setenv("NEXTSTEP_BASE_URL", respelled(base, "leading_zero_port"))
    result = bulk("import", "onb.xlsx", "--yes")  # no --force: it is the same host
    assert result.exit_code == 0, result.output
    assert sandbox.stats.total("PATCH") > 0


# -- private files -------------------------------------------------------------------------


def assert_private(root: Path) -> None:
    assert stat.S_IMODE(root.stat().st_mode) == 0o700, root
    for path in root.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_run_directories_and_their_files_are_private(http, tmp_path):
    os.umask(0o022)
    bulk, _ = http()
    exported_and_edited(bulk, tmp_path)
    assert bulk("import", "onb.xlsx", "--yes").exit_code == 0
    [imported] = run_dirs(tmp_path)
    assert {p.name for p in imported.iterdir()} >= {
        "journal.jsonl",
        "plan.json",
        "results.csv",
        "errors.csv",
    }
    assert_private(tmp_path / ".bulksync")
    assert bulk("undo", str(imported), "--yes").exit_code == 0
    assert len(run_dirs(tmp_path)) == 2
    assert_private(tmp_path / ".bulksync")


def test_the_sandbox_state_is_private(tmp_path, monkeypatch):
    os.umask(0o022)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["--sandbox", "list", "templates"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / ".bulksync" / "sandbox.db").exists()
    assert_private(tmp_path / ".bulksync")


# -- resuming ------------------------------------------------------------------------------


def test_resume_finds_the_run_directory_of_the_sheet_whatever_its_name(http, tmp_path):
    bulk, sandbox, edits = import_to_be_stopped(http, tmp_path)
    # Other imports of a sheet with this name in the same seconds took `<time>-onb`:
    # this one gets `<time>-onb-1`.
    now = dt.datetime.now(dt.UTC)
    for seconds in range(300):
        stamp = (now + dt.timedelta(seconds=seconds)).strftime("%Y%m%dT%H%M%S")
        (tmp_path / IMPORTS / f"{stamp}-onb").mkdir(parents=True)
    process, journal = start_and_wait_for_applied(tmp_path, 3)
    process.kill()
    process.wait(timeout=30)
    assert journal is not None, "the import finished before it could be killed"
    assert journal.parent.name.endswith("-onb-1")
    applied = {
        (e["run_id"], e["task_id"], field)
        for e in read_journal(journal)
        if e["event"] == "applied"
        for field in e["values"]
    }
    result = bulk("import", "onb.xlsx", "--yes", "--resume")
    assert result.exit_code == 0, result.output
    assert f"Journal and results: {journal.parent}" in result.stderr
    assert [e["event"] for e in read_journal(journal)].count("start") == 2
    tasks_with_changes = len({(r, c.split(":")[0]) for r, c in edits})
    assert sandbox.stats.patches_applied == tasks_with_changes
    # results.csv covers the whole import: the values of the killed attempt too
    results = results_of(journal.parent)
    assert len(results) == len(edits)
    assert {results[key] for key in applied} == {"applied"}
    # the values whose answer the kill lost: NextStep took them, the next attempt found
    assert set(results.values()) <= {"applied", "already_done"}


def test_resume_after_ctrl_c_keeps_the_results_of_the_first_attempt(http, tmp_path):
    import signal

    bulk, _, edits = import_to_be_stopped(http, tmp_path)
    process, journal = start_and_wait_for_applied(tmp_path, 3)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    assert journal is not None, "the import finished before it could be stopped"
    first = results_of(journal.parent)
    assert 0 < list(first.values()).count("applied") < len(edits)
    result = bulk("import", "onb.xlsx", "--yes", "--resume")
    assert result.exit_code == 0, result.output
    results = results_of(journal.parent)
    assert len(results) == len(edits)
    assert set(results.values()) == {"applied"}


def test_resume_does_not_continue_the_import_of_another_file_of_the_same_name(http, tmp_path):
    bulk, _ = http()
    exported_and_edited(bulk, tmp_path)
    assert bulk("export", "--template", "tpl_onboarding", "-o", "onb.csv").exit_code == 0
    assert bulk("import", "onb.xlsx", "--yes").exit_code == 0
    result = bulk("import", "onb.csv", "--yes", "--resume")
    assert result.exit_code == ExitCode.SHEET, result.output
    assert "No earlier import of onb.csv to resume" in result.stderr
    assert len(run_dirs(tmp_path)) == 1


# -- undo of something that is not a run directory -----------------------------------------


def test_undo_of_a_directory_without_a_journal_says_what_a_run_directory_is(http, tmp_path):
    bulk, sandbox = http()
    (tmp_path / "elsewhere").mkdir()
    result = bulk("undo", "elsewhere", "--yes")
    assert result.exit_code == ExitCode.SHEET, result.output
    [line] = result.stderr.strip().splitlines()
    assert "elsewhere" in line and "journal.jsonl" in line and ".bulksync/imports" in line
    assert sandbox.stats.total("GET") == 0


def test_undo_of_a_run_directory_that_cannot_be_read_is_a_clear_error(http, tmp_path):
    bulk, _ = http()
    exported_and_edited(bulk, tmp_path)
    assert bulk("import", "onb.xlsx", "--yes").exit_code == 0
    [imported] = run_dirs(tmp_path)
    journal = imported / "journal.jsonl"
    journal.unlink()
    journal.mkdir()  # unreadable as a file, also for root
    result = bulk("undo", str(imported), "--yes")
    assert result.exit_code == ExitCode.SHEET, result.output
    [line] = result.stderr.strip().splitlines()
    assert str(journal) in line and "cannot be read" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_undo_of_a_run_directory_without_permission_is_a_clear_error(http, tmp_path):
    bulk, _ = http()
    exported_and_edited(bulk, tmp_path)
    assert bulk("import", "onb.xlsx", "--yes").exit_code == 0
    [imported] = run_dirs(tmp_path)
    (imported / "journal.jsonl").chmod(0)
    result = bulk("undo", str(imported), "--yes")
    assert result.exit_code == ExitCode.SHEET, result.output
    assert "cannot be read" in result.stderr

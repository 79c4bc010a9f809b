"""``bulksync export`` over loopback HTTP: the estimate, the question, kill -9 and --resume.

The export runs in a child process where it must be killed (``kill -9`` at a point seen
in its spool) or asked on a pseudo-terminal; otherwise through click's runner.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest

from bulksync.errors import ExitCode
from bulksync.exporter import spool_dir
from bulksync.sandbox import SandboxStats
from bulksync.sheets import read_sheet
from bulksync.sheets.csvfile import sidecar
from bulksync.sheets.xlsx import META_SHEET
from bulksync.spool import HEADER, LISTING, RUNS
from tests.test_export import ACTIVE_IN_SEED, TEMPLATE, add_runs, tasks_read

EXPORT = ["export", "--template", TEMPLATE]
SLOW = ["--max-rate", "3"]
"""40 runs at 3 requests a minute: at least 13 minutes, over the 10 that ask first."""


def child(args: list[str], cwd: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bulksync", *args], cwd=cwd, **popen)


def wait_for(condition, process: subprocess.Popen, timeout: float = 60.0) -> bool:
    """Poll ``condition`` every 20 ms while the process runs; True once it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def settled(sandbox) -> None:
    """Wait for the requests a killed child left in flight to be answered (counted)."""
    last = -1
    while sandbox.stats.total() != last:
        last = sandbox.stats.total()
        time.sleep(0.3)


def lines_in(path: Path) -> int:
    """Whole lines written to a file so far (0 if it is not there yet)."""
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


# -- the estimate, and the question ------------------------------------------------------


def test_the_estimate_says_the_requests_the_export_sends(http, tmp_path):
    bulk, sandbox = http(rate_limit=100_000)
    add_runs(sandbox, 110)  # 122 runs: two pages of runs
    result = bulk(*EXPORT, "-o", "onb.xlsx", "--max-rate", "1000", "-v")
    assert result.exit_code == 0, result.output
    said = re.search(r"Exporting ([\d,]+) runs: ([\d,]+) requests \((\d+) sent", result.stderr)
    assert said, result.stderr
    runs, requests, sent = (int(g.replace(",", "")) for g in said.groups())
    assert (runs, sent) == (ACTIVE_IN_SEED + 110, 3)
    assert requests == sandbox.stats.total() == sandbox.stats.count("GET", 200)
    assert tasks_read(sandbox) == runs
    assert "within the rate limit of 1000 requests per minute, no waiting" in result.stderr
    assert "--resume" in result.stderr  # where the runs read are kept, said up front
    assert not spool_dir(tmp_path / "onb.xlsx").exists()


def test_a_long_export_without_a_terminal_or_yes_refuses_before_reading_any_run(http, tmp_path):
    bulk, sandbox = http(rate_limit=100_000)
    add_runs(sandbox, 28)
    result = bulk(*EXPORT, "-o", "onb.xlsx", *SLOW)
    assert result.exit_code == ExitCode.USAGE
    assert "42 requests" in result.stderr and "at least 13 min" in result.stderr
    assert "--yes" in result.stderr
    assert tasks_read(sandbox) == 0
    assert sandbox.stats.total() == 2  # the list of runs and the template's tasks
    assert not (tmp_path / "onb.xlsx").exists()
    assert not spool_dir(tmp_path / "onb.xlsx").parent.exists()  # no spool, no draft


ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def asked_on_a_terminal(args: list[str], answer: str, cwd: Path, sandbox) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal (200 columns) and answer its question; after "y",
    stop it (kill) once its progress bar shows it waiting for the rate limit (it has read
    its first task list): at 3 requests a minute it would take minutes. The output comes
    back without its colours and cursor moves."""
    main, side = pty.openpty()
    wide = {**os.environ, "COLUMNS": "200"}  # the bar on one line
    process = child(args, cwd, stdin=side, stdout=side, stderr=side, close_fds=True, env=wide)
    os.close(side)
    output = b""
    answered = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        if not answered and output.rstrip().endswith(b"[y/N]:"):
            os.write(main, answer.encode() + b"\n")
            answered = True
        if answered and answer == "y" and b"s for the rate limit" in ESCAPES.sub(b"", output):
            process.kill()
        if process.poll() is not None and not ready:
            break
    process.kill()  # if the deadline passed
    process.wait(timeout=30)
    os.close(main)
    return process.returncode, ESCAPES.sub(b"", output).decode("utf-8", "replace")


def test_a_long_export_asks_on_a_terminal_and_yes_goes_without_asking(http, tmp_path):
    _, sandbox = http(rate_limit=100_000)
    add_runs(sandbox, 28)
    code, output = asked_on_a_terminal([*EXPORT, "-o", "onb.xlsx", *SLOW], "n", tmp_path, sandbox)
    assert code == 0, output
    assert "at least 13 min" in output and "Read the runs? [y/N]" in output
    assert "Nothing was exported" in output
    assert tasks_read(sandbox) == 0 and not spool_dir(tmp_path / "onb.xlsx").exists()
    code, output = asked_on_a_terminal([*EXPORT, "-o", "onb.xlsx", *SLOW], "y", tmp_path, sandbox)
    assert code == -signal.SIGKILL, output  # it went on reading, until stopped here
    assert tasks_read(sandbox) >= 1
    # The bar: runs read of all, and the time left at 3 a minute, not at the first burst's
    # pace (3 requests in a second would say 13 s for the 39 runs left).
    bar = output.rpartition("Reading runs")[2]
    assert re.search(
        r" 1/40 1[23] min left 3 requests/min\s+waiting \d+ s for the rate limit", bar
    ), bar
    # --yes, and no terminal at all: no question, the reading starts
    settled(sandbox)
    sandbox.stats = SandboxStats()
    process = child(
        [*EXPORT, "-o", "onb.xlsx", *SLOW, "--yes"],
        tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    started = wait_for(lambda: tasks_read(sandbox) >= 1, process, timeout=30)
    process.kill()
    _, err = process.communicate(timeout=30)
    assert started, err.decode()
    assert b"at least 13 min" in err and b"[y/N]" not in err


# -- kill -9, then --resume ------------------------------------------------------------


def normalized_xlsx(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every sheet's cell values; the export's time and id as placeholders, and each run's
    read time left out: what two exports of the same state legitimately differ in."""
    meta = read_sheet(path).meta
    book = openpyxl.load_workbook(path)
    sheets = {}
    for sheet in book.worksheets:
        rows = []
        for row in sheet.iter_rows(values_only=True):
            cells = list(row)
            if sheet.title == META_SHEET and cells[0] == "run":
                document = json.loads("".join(str(c) for c in cells[2:] if c is not None))
                document.pop("read_at")
                cells = ["run", cells[1], document]
            rows.append(tuple(_placeholders(c, meta) for c in cells))
        sheets[sheet.title] = rows
    return sheets


def _placeholders(value: object, meta) -> object:
    if isinstance(value, str):
        return value.replace(meta.exported_at, "<when>").replace(meta.export_id, "<id>")
    return value


def normalized_csv(path: Path) -> tuple[bytes, dict]:
    meta = read_sheet(path).meta
    data = path.read_bytes().replace(meta.export_id.encode(), b"<id>")
    base = json.loads(sidecar(path).read_text(encoding="utf-8"))
    base["meta"]["exported_at"], base["meta"]["export_id"] = "<when>", "<id>"
    for document in base["runs"].values():
        document.pop("read_at")
    return data, base


@pytest.mark.parametrize("name", ["onb.xlsx", "onb.csv"])
def test_kill_9_in_the_middle_then_resume_reads_only_the_rest_and_writes_the_same_file(
    http, tmp_path, name
):
    bulk, sandbox = http(rate_limit=100_000, latency_ms=60)
    add_runs(sandbox, 28)
    runs = ACTIVE_IN_SEED + 28
    reference = tmp_path / ("ref" + Path(name).suffix)
    assert bulk(*EXPORT, "-o", reference.name).exit_code == 0  # uninterrupted, same state
    output, spool = tmp_path / name, spool_dir(tmp_path / name)
    process = child(
        [*EXPORT, "-o", name, "--in-flight", "2"],
        tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    reached = wait_for(lambda: lines_in(spool / RUNS) >= 8, process)
    process.kill()  # SIGKILL: no cleanup of any kind
    process.wait(timeout=30)
    assert reached and process.returncode == -signal.SIGKILL, "it finished before the kill"
    assert not output.exists()
    kept = lines_in(spool / RUNS)
    assert 8 <= kept < runs
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    for part in (HEADER, LISTING, RUNS):
        assert stat.S_IMODE((spool / part).stat().st_mode) == 0o600
    first = json.loads((spool / HEADER).read_text(encoding="utf-8"))

    settled(sandbox)
    sandbox.stats = SandboxStats()
    result = bulk(*EXPORT, "-o", name, "--resume")
    assert result.exit_code == 0, result.output
    assert f"{kept} of {runs} runs read already" in result.stderr
    assert tasks_read(sandbox) == runs - kept  # only the runs the spool did not have
    assert sandbox.stats.total() == runs - kept  # no listing, no template read again
    assert not spool.exists()  # written: the spool is gone
    meta = read_sheet(output).meta
    assert (meta.exported_at, meta.export_id) == (first["exported_at"], first["export_id"])
    if output.suffix == ".xlsx":
        assert normalized_xlsx(output) == normalized_xlsx(reference)
    else:
        assert normalized_csv(output) == normalized_csv(reference)


def test_ctrl_c_keeps_the_spool_other_options_are_refused_and_a_new_export_replaces_it(
    http, tmp_path
):
    bulk, sandbox = http(rate_limit=100_000, latency_ms=60)
    add_runs(sandbox, 28)
    spool = spool_dir(tmp_path / "onb.xlsx")
    process = child(
        [*EXPORT, "-o", "onb.xlsx", "--in-flight", "1"],
        tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_for(lambda: lines_in(spool / RUNS) >= 3, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == ExitCode.INTERRUPTED, err.decode()
    assert b"Traceback" not in err and b"Interrupted" in err
    kept = lines_in(spool / RUNS)
    assert kept >= 3

    settled(sandbox)
    sandbox.stats = SandboxStats()
    other = bulk(*EXPORT, "-o", "onb.xlsx", "--status", "all", "--resume")
    assert other.exit_code == ExitCode.SHEET
    assert "--status was active, now all" in other.stderr
    tasks = bulk(*EXPORT, "-o", "onb.xlsx", "--layout", "tasks", "--resume")
    assert tasks.exit_code == ExitCode.SHEET and "--layout was runs, now tasks" in tasks.stderr
    nothing = bulk(*EXPORT, "-o", "other.xlsx", "--resume")
    assert nothing.exit_code == ExitCode.SHEET and "no interrupted export" in nothing.stderr
    assert sandbox.stats.total() == 0  # each refused before a request
    assert lines_in(spool / RUNS) == kept

    again = bulk(*EXPORT, "-o", "onb.xlsx")
    assert again.exit_code == 0, again.output
    assert "starts over and replaces them" in again.stderr
    assert tasks_read(sandbox) == ACTIVE_IN_SEED + 28  # every run read anew
    assert not spool.exists()

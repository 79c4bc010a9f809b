"""Progress that tells the truth (issue 15), in a pseudo-terminal, at a short window.

The sandbox is served over loopback at 10 requests per 2 s and the CLI keeps to the same
limit (``--max-rate 10 --rate-window 2``). Every frame of the progress bar is read as it
arrives, with the time it arrived, and its figures are held against the clock: the time
left it showed against the time the job then took, a wait it announced against the
limit, and the import's "time waited" against the wall-clock time of the whole command
(requests waiting side by side must count once, not once each). Tolerances are wide: a
loaded machine must not fail these; a figure off by the old factors (a sum over 4
threads, a time left from the first burst) does.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bulksync.pacing import RateLimiter
from bulksync.sandbox import sandbox_client
from tests.test_cli_import import edit_runs
from tests.test_export import TEMPLATE, add_runs

pytestmark = pytest.mark.slow  # the jobs take ~10 s of real time each

LIMIT, WINDOW = 10, 2.0
PACED = ["--max-rate", str(LIMIT), "--rate-window", str(WINDOW)]
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
FRAME = re.compile(
    r"(?P<label>Reading runs|Reading live state|Applying)\s+\S*\s+(?P<done>\d+)/(?P<total>\d+)"
    r"\s+(?:(?P<left>\d+) (?P<unit>s|min) left\s+)?(?P<rate>\d+) requests/min"
    r"(?:\s+waiting (?P<wait>\d+) s for the rate limit)?"
)


@dataclass(frozen=True)
class Frame:
    at: float
    """Seconds since the command started, when the frame arrived."""
    label: str
    done: int
    total: int
    left: float | None
    wait: int | None


def in_a_pty(args: list[str], cwd: Path) -> tuple[int, float, list[tuple[float, str]]]:
    """Run ``bulksync ARGS`` on a pseudo-terminal 200 columns wide; its exit code, how
    long it ran, and what it wrote: (seconds since start, text without escapes) chunks."""
    main, side = pty.openpty()
    env = {**os.environ, "COLUMNS": "200"}
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "bulksync", *args],
        stdin=side,
        stdout=side,
        stderr=side,
        cwd=cwd,
        env=env,
        close_fds=True,
    )
    os.close(side)
    chunks: list[tuple[float, str]] = []
    while time.monotonic() - started < 120:
        ready, _, _ = select.select([main], [], [], 1)
        if not ready:
            if process.poll() is not None:
                break
            continue
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        text = ESCAPES.sub("", chunk.decode("utf-8", "replace"))
        chunks.append((time.monotonic() - started, text))
    process.kill()  # if it ran over
    code = process.wait(timeout=30)
    os.close(main)
    return code, time.monotonic() - started, chunks


def frames(chunks: list[tuple[float, str]]) -> list[Frame]:
    found = []
    for at, text in chunks:
        for match in FRAME.finditer(text):
            left = None
            if match["left"] is not None:
                left = float(match["left"]) * (60 if match["unit"] == "min" else 1)
            wait = int(match["wait"]) if match["wait"] is not None else None
            found.append(
                Frame(at, match["label"], int(match["done"]), int(match["total"]), left, wait)
            )
    return found


def arrival(chunks: list[tuple[float, str]], needle: str) -> float:
    """When ``needle`` first showed."""
    return next(at for at, text in chunks if needle in text)


def output(chunks: list[tuple[float, str]]) -> str:
    return "".join(text for _, text in chunks)


def assert_time_left_matches_the_clock(shown: list[Frame], ended: float) -> None:
    """Each time left shown with more than a window to go came true within a wide
    margin: the job then took between half and one and a half times it, give or take a
    window (a frame shows whole seconds, and the job's last requests take latency)."""
    checked = [f for f in shown if f.left is not None and f.left > 2 * WINDOW]
    assert checked, shown
    for frame in checked:
        took = ended - frame.at
        assert 0.5 * frame.left - WINDOW <= took <= 1.5 * frame.left + WINDOW, (frame, took)


def assert_waits_are_announced_within_the_window(shown: list[Frame]) -> None:
    waits = [f.wait for f in shown if f.wait is not None]
    assert waits, "no frame said it was waiting for the rate limit"
    # At 10 per 2 s a request is never held back longer than a window (and the margin).
    assert max(waits) <= WINDOW + 1


def test_the_exports_bar_shows_time_left_and_waits_that_match_the_clock(http, tmp_path):
    _, sandbox = http(rate_limit=LIMIT, window=WINDOW)
    add_runs(sandbox, 38)  # 50 active runs: 52 requests, at least 10 s at 10 per 2 s
    time.sleep(WINDOW + 0.5)  # adding them counted in the server's window
    code, _, chunks = in_a_pty(
        ["export", "--template", TEMPLATE, "-o", "onb.xlsx", "--yes", *PACED], tmp_path
    )
    text = output(chunks)
    assert code == 0, text
    assert sandbox.stats.by_status.get(("GET", 429), 0) == 0, text  # paced, never refused
    shown = [f for f in frames(chunks) if f.label == "Reading runs"]
    assert shown, text
    assert all(f.total == 50 for f in shown)
    ended = max(f.at for f in shown)  # the bar goes once every run is read
    assert_time_left_matches_the_clock(shown, ended)
    assert_waits_are_announced_within_the_window(shown)


def test_the_imports_bar_and_time_waited_match_the_clock(http, tmp_path):
    bulk, sandbox = http(rate_limit=LIMIT, window=WINDOW)
    add_runs(sandbox, 18)  # 30 active runs, each with an edit
    time.sleep(WINDOW + 0.5)  # adding them counted in the server's window
    assert bulk("export", "--template", TEMPLATE, "-o", "onb.xlsx", *PACED).exit_code == 0
    with sandbox_client(sandbox) as client:
        runs = [r.id for r in client.list_runs(template_id=TEMPLATE, status="active")]
    edit_runs(
        tmp_path / "onb.xlsx",
        {(run, "tt_onb_details:el_onb_phone"): f"+1 555 {n:04d}" for n, run in enumerate(runs)},
    )
    time.sleep(WINDOW + 0.5)  # the export's requests leave the server's window
    before = sandbox.stats.total()
    code, took, chunks = in_a_pty(["import", "onb.xlsx", "--yes", *PACED], tmp_path)
    text = output(chunks)
    assert code == 0, text
    requests = sandbox.stats.total() - before
    assert sandbox.stats.by_status.get(("PATCH", 429), 0) == 0, text
    assert f"Applied {len(runs)} value(s)" in text, text
    applying = [f for f in frames(chunks) if f.label == "Applying"]
    assert applying and all(f.total == len(runs) for f in applying), text
    assert_time_left_matches_the_clock(applying, arrival(chunks, "Applied "))
    assert_waits_are_announced_within_the_window(frames(chunks))
    # Time waited: wall-clock time during which no request could go. At most the time
    # the command ran; at least half of what the limit forces on its requests (the
    # floor). Summed over 4 requests waiting side by side, it was about 4× that.
    waited = int(re.search(r"; (\d+) s spent waiting for the rate limit", text)[1])
    floor = RateLimiter(LIMIT, WINDOW).floor_seconds(requests)
    assert floor >= 4 * WINDOW, requests
    assert 0.5 * floor <= waited <= took + 1, (waited, floor, took)
    assert waited <= 1.5 * floor + 2 * WINDOW, (waited, floor, took)

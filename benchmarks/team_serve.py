"""Serving the generated team for the benchmarks, and measuring a job as a process.

``Team`` generates the team (``team.py``), serves copies of it in turn at one loopback
address (so a sheet exported from one copy imports into another: same host), and runs
``bulksync`` commands against it, each in a process of its own: wall time, CPU time,
peak RSS (the kernel's account of that one process, through ``LAUNCHER``) and the
requests the sandbox answered meanwhile. ``Job`` is a job measured over repeats, against
the least number of requests it can send.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from team import Edit, generate_team

from bulksync.client import NextStepClient
from bulksync.sandbox import SANDBOX_API_KEY, Sandbox, SandboxConfig, Store
from bulksync.sandbox.server import ServerThread

LIFTED = 1_000_000_000
"""Requests per window when the rate limit is lifted (sandbox and client)."""
NEXTSTEP_LIMIT, NEXTSTEP_WINDOW = 100, 60.0
PAGE = 100
"""Items in a page of a list, at most."""


class Switchboard:
    """What the loopback server serves: one sandbox at a time, swapped between jobs, so a
    sheet exported from one copy of the team imports into another (same host and port)."""

    def __init__(self) -> None:
        self.current: Sandbox | None = None

    def handle(self, request: Any) -> Any:
        assert self.current is not None
        return self.current.handle(request)


class Team:
    """The generated team's state file, copies of it served in turn, and the CLI."""

    def __init__(self, work: Path, runs: int, template_id: str, seed: int) -> None:
        self.work = work
        self.template_id = template_id
        self.state = work / "team.db"
        started = time.perf_counter()
        generate_team(self.state, runs, template_id=template_id, seed_value=seed)
        self.generated_in = time.perf_counter() - started
        store = Store(self.state)
        self.tasks_per_run = len(store.template_tasks(template_id))
        store.close()
        self.runs = runs
        self.switch = Switchboard()
        self.server = ServerThread(self.switch)  # type: ignore[arg-type]
        self.url = ""
        self._opened: list[Sandbox] = []

    def __enter__(self) -> Team:
        self.use("main")
        self.url = self.server.start()
        if not self.url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"the sandbox is not on loopback: {self.url}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        for sandbox in self._opened:
            sandbox.store.close()

    @property
    def sandbox(self) -> Sandbox:
        assert self.switch.current is not None
        return self.switch.current

    def use(self, name: str, config: SandboxConfig | None = None) -> Sandbox:
        """Serve a fresh copy of the generated team (or the copy ``name`` made before)."""
        path = self.work / "states" / f"{name}.db"
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            shutil.copy(self.state, path)
        sandbox = Sandbox(Store(path), config or SandboxConfig(rate_limit=LIFTED))
        self._opened.append(sandbox)
        self.switch.current = sandbox
        return sandbox

    def client(self, *, limit: int = LIFTED, window: float = NEXTSTEP_WINDOW) -> NextStepClient:
        return NextStepClient(SANDBOX_API_KEY, self.url, rate_limit=limit, window=window)

    def requests(self) -> Counter[str]:
        """Requests the served sandbox has answered so far, by method (and 429s)."""
        stats = self.sandbox.stats
        with stats._lock:
            counted = Counter[str]()
            for (method, status), n in stats.by_status.items():
                counted[method] += n
                if status == 429:
                    counted["429"] += n
        return counted

    def run(self, args: list[str], cwd: Path) -> Process:
        """``bulksync ARGS`` in a process of its own, against the served sandbox."""
        argv = [sys.executable, "-m", "bulksync", "-q", "--base-url", self.url]
        argv += ["--api-key", SANDBOX_API_KEY, "--max-rate", str(LIFTED), *args]
        return self.process(argv, cwd)

    def process(self, argv: list[str], cwd: Path) -> Process:
        """Run a command; its wall time, CPU time and peak RSS, and the requests the
        sandbox answered meanwhile."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEXTSTEP_")}
        cwd.mkdir(parents=True, exist_ok=True)
        before = self.requests()
        out_path, err_path, usage = cwd / ".stdout", cwd / ".stderr", cwd / ".usage"
        launcher = [sys.executable, "-S", "-c", LAUNCHER, str(usage)]
        with out_path.open("wb") as out, err_path.open("wb") as err:
            subprocess.run([*launcher, *argv], cwd=cwd, stdout=out, stderr=err, env=env)
        code, wall, cpu, rss = usage.read_text(encoding="utf-8").split()
        sent = self.requests()
        sent.subtract(before)
        return Process(
            code=int(code),
            out=out_path.read_text(encoding="utf-8", errors="replace"),
            err=err_path.read_text(encoding="utf-8", errors="replace"),
            wall=float(wall),
            cpu=float(cpu),
            rss_mib=int(rss) / 1024,
            requests=+sent,
        )


LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(sys.argv[1], "w") as report:
    cpu = usage.ru_utime + usage.ru_stime
    report.write(f"{os.waitstatus_to_exitcode(status)} {wall} {cpu} {usage.ru_maxrss}")
"""
"""Runs a command and writes its exit code, wall and CPU seconds and peak RSS (KiB).

Why a launcher: Linux counts in a child's peak RSS the memory of the process it was
forked from, up to its exec; forked from the benchmark, which holds the team, every
command would seem to peak at the benchmark's size. Forked from this small process
instead (about 10 MiB), a command's figure is its own.
"""


@dataclass
class Process:
    code: int
    out: str
    err: str
    wall: float
    cpu: float
    rss_mib: float
    requests: Counter[str]

    def ok(self, *codes: int) -> Process:
        if self.code not in (0, *codes):
            raise SystemExit(f"a measured command failed (exit {self.code}):\n{self.err}")
        return self


@dataclass
class Job:
    """One job measured over repeats: requests against the least needed, and cost."""

    name: str
    requests: dict[str, int]
    minimum: int
    wall: float
    cpu: float
    rss_mib: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        return sum(n for k, n in self.requests.items() if k != "429")

    @property
    def ratio(self) -> float:
        return self.sent / self.minimum if self.minimum else (1.0 if not self.sent else math.inf)


def measured(name: str, minimum: int, runs: list[Process], **extra: Any) -> Job:
    """The medians of repeated processes; the requests of the first (they must agree)."""
    return Job(
        name,
        dict(runs[0].requests),
        minimum,
        statistics.median(p.wall for p in runs),
        statistics.median(p.cpu for p in runs),
        statistics.median(p.rss_mib for p in runs),
        {"requests_each": [dict(p.requests) for p in runs], **extra},
    )


def pages(items: int) -> int:
    return max(1, math.ceil(items / PAGE))


def edited_counts(edits: list[Edit]) -> tuple[int, int]:
    """(runs, tasks) with an edit: the reads and PATCHes an import of them needs."""
    return len({e.run_id for e in edits}), len({(e.run_id, e.task_id) for e in edits})


def floor(requests: int, limit: int = NEXTSTEP_LIMIT, window: float = NEXTSTEP_WINDOW) -> float:
    """The least time ``requests`` take under ``limit`` per ``window`` (the client's rule)."""
    return 0.0 if requests <= limit else ((requests - 1) // limit) * window

"""Per-request latency of ``bulksync sandbox serve`` over a kept-alive loopback connection.

    python benchmarks/bench_sandbox_latency.py [--requests 200] [--rounds 3]

Starts ``bulksync sandbox serve --port 0`` (a process of its own, on 127.0.0.1, with the
rate limit lifted) on a fresh state file, then sends ``--requests`` sequential GETs of one
run's tasks on a single kept-alive httpx connection, ``--rounds`` times, and prints the
median and 95th percentile per request. A server that lets Nagle's algorithm hold the
second of two small writes until the client's delayed ACK shows ~40 ms a request; one
that answers in one write, with TCP_NODELAY set, shows about a millisecond or two.
Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

SANDBOX_KEY = "nxs_live_sandbox"


def start_server(state: Path) -> tuple[subprocess.Popen[str], str]:
    """``bulksync sandbox serve`` on a free loopback port; its process and base URL."""
    command = [sys.executable, "-m", "bulksync", "sandbox", "serve", "--port", "0"]
    command += ["--state", str(state), "--rate-limit", "1000000", "--window", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=os.environ)
    assert process.stdout is not None
    line = process.stdout.readline()
    if "serving at " not in line:
        process.kill()
        raise SystemExit(f"the sandbox did not start: {line!r}")
    return process, line.rsplit("serving at ", 1)[1].strip()


def measure(base_url: str, requests: int) -> list[float]:
    """Seconds per GET, on one kept-alive connection (the first, which connects, dropped)."""
    headers = {"Authorization": f"Bearer {SANDBOX_KEY}"}
    with httpx.Client(base_url=base_url, headers=headers) as client:
        first = client.get("/process-runs", params={"limit": 1}).json()
        run_id = first["data"][0]["id"]
        path = f"/process-runs/{run_id}/tasks"
        seconds = []
        for _ in range(requests):
            start = time.perf_counter()
            response = client.get(path)
            seconds.append(time.perf_counter() - start)
            response.raise_for_status()
    return seconds


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        process, base_url = start_server(Path(work) / "sandbox.db")
        try:
            rounds = [measure(base_url, args.requests) for _ in range(args.rounds)]
        finally:
            process.terminate()
            process.wait(timeout=10)
    every = [s for r in rounds for s in r]
    figures = {
        "requests": len(every),
        "median_ms": round(1000 * statistics.median(every), 2),
        "p95_ms": round(1000 * percentile(every, 0.95), 2),
        "round_medians_ms": [round(1000 * statistics.median(r), 2) for r in rounds],
    }
    print(
        f"{figures['requests']} kept-alive GETs: median {figures['median_ms']} ms, "
        f"p95 {figures['p95_ms']} ms (round medians {figures['round_medians_ms']} ms)"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

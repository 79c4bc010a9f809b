"""Peak memory (RSS) of ``bulksync export`` as the number of runs grows.

    python benchmarks/bench_export_memory.py [--runs 200 1000] [--layouts runs tasks]
                                             [--formats xlsx csv]

For each number of runs, a sandbox team is generated (the sample team's onboarding runs
cloned, values and all, under new ids), served over loopback HTTP with the rate limit
lifted, and exported by ``python -m bulksync export --template tpl_onboarding --status
all`` in a child process, once per layout and format. The child reports its own peak
RSS (``VmHWM`` of /proc/self/status as it exits: Linux), because ``wait4``'s
``ru_maxrss`` is not the child's own: the child is spawned with vfork, and ``exec``
carries the parent's high-water mark into it, so a child of a big benchmark process
(10,000 runs generated and served) would look big. The last column is the ratio to the
first number of runs: flat memory is a ratio near 1 however the runs grow (issue 13:
within 1.5× from 1,000 to 10,000 runs).
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bulksync.sandbox import SandboxConfig, open_sandbox
from bulksync.sandbox.server import ServerThread

TEMPLATE = "tpl_onboarding"
# --yes where export asks before a long export (not in a bulksync older than issue 13).
_HELP = subprocess.run(
    [sys.executable, "-m", "bulksync", "export", "--help"], capture_output=True, text=True
).stdout
YES = ["--yes"] if "--yes" in _HELP else []


def generate(state: Path, runs: int) -> None:
    """A sandbox in ``state`` with ``runs`` runs of the template, cloned from the seed's."""
    sandbox = open_sandbox(state)
    store = sandbox.store
    seeds = [(doc, store.tasks(doc["id"])) for doc in store.runs(TEMPLATE)]
    with store.transaction():
        for n in range(runs - len(seeds)):
            doc, tasks = seeds[n % len(seeds)]
            run = copy.deepcopy(doc)
            run["id"] = f"run_gen_{n:06d}"
            run["title"] = f"{doc['title']} #{n}"
            clones = []
            for task in tasks:
                clone = copy.deepcopy(task)
                clone["id"] = f"tsk_gen_{n:06d}_{task['id']}"
                clone["instance_id"] = run["id"]
                clones.append(clone)
            store.add_run(run, clones)
    store.close()


REPORTS_PEAK = """
import atexit, os, sys

def report():
    with open("/proc/self/status") as status:
        peak = next(line for line in status if line.startswith("VmHWM:"))
    with open(os.environ["BENCH_PEAK"], "w") as out:
        out.write(peak.split()[1])  # KiB

atexit.register(report)
"""
"""The start of a child that writes its own peak RSS (KiB) to $BENCH_PEAK as it exits."""

CHILD = (
    REPORTS_PEAK
    + """
from bulksync.cli import main
sys.argv = ["bulksync", *sys.argv[1:]]
main()
"""
)


def export_rss(base_url: str, api_key: str, out: Path, layout: str) -> tuple[float, float]:
    """Peak RSS (MiB) and wall time (s) of one export in a child process."""
    peak = out.with_name(out.name + ".peak")
    env = {
        **os.environ,
        "NEXTSTEP_API_KEY": api_key,
        "NEXTSTEP_BASE_URL": base_url,
        "BENCH_PEAK": str(peak),
    }
    args = [
        sys.executable,
        "-c",
        CHILD,
        "export",
        "--template",
        TEMPLATE,
        "--status",
        "all",
        "--layout",
        layout,
        "--max-rate",
        "1000000",
        *YES,
        "-q",
        "-o",
        str(out),
    ]
    start = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=out.parent, stdout=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the export failed: {' '.join(args[3:])}")
    return int(peak.read_text()) / 1024, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--layouts", nargs="+", default=["runs", "tasks"])
    parser.add_argument("--formats", nargs="+", default=["xlsx", "csv"])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    first: dict[tuple[str, str], float] = {}
    print(f"{'runs':>6}  {'layout':6}  {'format':6}  {'peak RSS':>9}  {'wall':>7}  ratio")
    for runs in args.runs:
        state = work / f"team-{runs}.db"
        generate(state, runs)
        sandbox = open_sandbox(state, config=SandboxConfig(rate_limit=10_000_000))
        server = ServerThread(sandbox)
        base_url = server.start()
        try:
            for layout in args.layouts:
                for fmt in args.formats:
                    out = work / f"out-{runs}-{layout}.{fmt}"
                    rss, wall = export_rss(base_url, sandbox.config.api_key, out, layout)
                    ratio = rss / first.setdefault((layout, fmt), rss)
                    print(
                        f"{runs:>6}  {layout:6}  {fmt:6}  {rss:>5.0f} MiB  {wall:>6.1f}s  "
                        f"{ratio:.2f}×",
                        flush=True,
                    )
        finally:
            server.stop()
            sandbox.store.close()


if __name__ == "__main__":
    main()

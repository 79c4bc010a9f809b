"""How long ``bulksync --version`` and ``bulksync --help`` take to start, whole process.

    python benchmarks/bench_startup.py [--repeat 20] [--baseline DIR]

Runs each command ``--repeat`` times in a fresh interpreter (``python -m bulksync``)
and prints the median wall and CPU time (user + system, the kernel's account of the
finished child). With ``--baseline DIR`` (a checkout of another commit, e.g. made with
``git worktree add`` or ``git archive``) the same commands run from DIR's source too,
in turn with this one (A B A B …), and the ratio of the medians is printed: a busy
moment slows both. Also prints the modules ``import bulksync.cli`` spends most on
(``python -X importtime``).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (("--version",), ("--help",))


def run_once(args: tuple[str, ...], source: Path | None) -> tuple[float, float]:
    """Wall and CPU seconds of one ``python -m bulksync ARGS``."""
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bulksync", *args], env=env, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def import_hot_spots(source: Path | None, top: int = 8) -> list[tuple[int, str]]:
    """The cumulative microseconds of the costliest imports under ``bulksync.cli``."""
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import bulksync.cli"],
        env=env,
        capture_output=True,
        text=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            rows.append((int(match.group(1)), match.group(2) + match.group(3)))
    return sorted(rows, reverse=True)[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--baseline", type=Path, help="another checkout's root, to compare")
    args = parser.parse_args(argv)
    sources: dict[str, Path | None] = {"this": None}
    if args.baseline:
        sources["baseline"] = args.baseline.resolve()
    for command in COMMANDS:
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in sources}
        for _ in range(args.repeat):
            for name, source in sources.items():
                times[name].append(run_once(command, source))
        medians = {
            name: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t))
            for name, t in times.items()
        }
        line = f"bulksync {' '.join(command)}: " + ", ".join(
            f"{name} {wall:.3f} s wall, {cpu:.3f} s cpu" for name, (wall, cpu) in medians.items()
        )
        if args.baseline:
            ratio = medians["this"][0] / medians["baseline"][0]
            line += f"; this/baseline wall {ratio:.2f}"
        print(line)
    for name, source in sources.items():
        print(f"costliest imports of `import bulksync.cli` ({name}), cumulative µs:")
        for micros, module in import_hot_spots(source):
            print(f"  {micros:>8}  {module}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

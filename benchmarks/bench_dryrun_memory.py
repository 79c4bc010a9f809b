"""Peak memory (RSS) of ``bulksync import FILE --dry-run`` as the number of runs grows.

    python benchmarks/bench_dryrun_memory.py [--runs 200 1000 10000] [--layouts runs tasks]
                                             [--formats xlsx csv] [--shares 0 0.01 0.1]
                                             [--report json|html|text]

For each number of runs a team is generated (``team.py``: varied values, the same for the
same ``--seed``) and served over loopback HTTP with the rate limit lifted; each layout and
format is exported once by ``bulksync export`` over that loopback, then edited as a
person's edit would leave the file (``bench_team.make_edited_files``' way: ``edit_snapshot``
changes a share of the form-field values, and the export's data sheet, or its rows, are
replaced by those of an export of the edited values; hidden copy and base untouched). Each
file is then dry-run by ``python -m bulksync import FILE --dry-run`` in a child process: at
1% and 10% edited, the dry run reads the edited runs live from the sandbox, as it would
from NextStep.

The child reports its own peak RSS (``VmHWM`` of /proc/self/status as it exits), for the
reason ``bench_export_memory.py`` gives: a child's ``ru_maxrss`` carries the parent's
high-water mark across ``exec``, and this parent holds the whole team. With
``--calamine``, a child reading every sheet of the same xlsx with python-calamine
(``to_python``, what ``bench_team`` times bulksync against) is measured too: the raw
reader's own growth. The ratio column is to the first number of runs: flat memory is a
ratio near 1 (issue 13: within 1.5× from 1,000 to 10,000 runs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_export_memory import CHILD, REPORTS_PEAK
from bench_import import with_data_sheet_of
from bench_team import with_rows_of
from team import edit_snapshot
from team_serve import LIFTED, Team

from bulksync.fetch import fetch_snapshot
from bulksync.sandbox import SANDBOX_API_KEY
from bulksync.sheets import Layout, write_export

TEMPLATE = "tpl_onboarding"
REPORTS = {"json": ["--json"], "html": ["--report", "report.html"], "text": []}
"""How the dry run reports, by ``--report``: the HTML file is written beside the sheet."""

CALAMINE_CHILD = (
    REPORTS_PEAK
    + """
import python_calamine
book = python_calamine.CalamineWorkbook.from_path(sys.argv[1])
for name in book.sheet_names:
    book.get_sheet_by_name(name).to_python()
"""
)


def child_rss(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Peak RSS (MiB), wall time (s) and stdout of ``python -c CHILD ARGV`` (a child that
    reports its own VmHWM)."""
    peak = cwd / ".peak"
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", *argv],
        env={**env, "BENCH_PEAK": str(peak)},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode not in (0, 1, 2):
        raise SystemExit(f"a measured command failed (exit {done.returncode}):\n{done.stderr}")
    return int(peak.read_text()) / 1024, wall, done.stdout


def bulksync_rss(team: Team, args: list[str], cwd: Path) -> tuple[float, float, str]:
    """``bulksync ARGS`` against the served team, in a child: peak RSS, wall, stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXTSTEP_")}
    argv = [CHILD, "-q", "--base-url", team.url, "--api-key", SANDBOX_API_KEY]
    return child_rss([*argv, "--max-rate", str(LIFTED), *args], cwd, env)


def make_files(
    team: Team, layouts: list[Layout], formats: list[str], shares: list[float], seed: int
) -> dict[tuple[Layout, str, float], Path]:
    """Each layout and format exported once over loopback, and edited at each share."""
    files: dict[tuple[Layout, str, float], Path] = {}
    out = team.work / "files"
    out.mkdir(exist_ok=True)
    for layout in layouts:
        for fmt in formats:
            path = out / f"{layout.value}_0%.{fmt}"
            args = ["export", "--template", team.template_id, "--layout", layout.value]
            bulksync_rss(team, [*args, "--yes", "-o", str(path)], out)
            files[(layout, fmt, 0.0)] = path
    edited_shares = [s for s in shares if s > 0]
    if not edited_shares:
        return files
    with team.client() as client:
        snapshot = fetch_snapshot(
            client, template_id=team.template_id, status="active", with_template=True
        )
    scratch = team.work / "scratch"
    scratch.mkdir(exist_ok=True)
    for share in edited_shares:
        edited, _ = edit_snapshot(snapshot, share, seed_value=seed)
        for layout in layouts:
            for fmt in formats:
                other = scratch / f"{layout.value}.{fmt}"
                write_export(edited, other, layout=layout)
                path = out / f"{layout.value}_{share:.0%}.{fmt}"
                original = files[(layout, fmt, 0.0)]
                if fmt == "xlsx":
                    with_data_sheet_of(original, other, path)
                else:
                    with_rows_of(original, other, path)
                files[(layout, fmt, share)] = path
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--layouts", nargs="+", default=["runs", "tasks"])
    parser.add_argument("--formats", nargs="+", default=["xlsx", "csv"])
    parser.add_argument("--shares", type=float, nargs="+", default=[0.0, 0.01, 0.10])
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--calamine", action="store_true", help="measure calamine alone too")
    parser.add_argument(
        "--report",
        choices=sorted(REPORTS),
        default="json",
        help="the dry run's report: --json on stdout (default), an HTML file, the terminal's",
    )
    parser.add_argument("--work", type=Path, help="keep the teams and files here")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-dryrun-"))
    layouts = [Layout(name) for name in args.layouts]
    first: dict[tuple[str, ...], float] = {}
    figures = []
    print(
        f"{'runs':>6}  {'layout':6}  {'format':6}  {'edited':>6}  {'peak RSS':>9}  "
        f"{'wall':>6}  {'changes':>7}  ratio"
    )
    for runs in args.runs:
        where = work / f"team-{runs}"
        where.mkdir(parents=True, exist_ok=True)
        with Team(where, runs, TEMPLATE, args.seed) as team:
            files = make_files(team, layouts, args.formats, args.shares, args.seed)
            for (layout, fmt, share), path in files.items():
                rss, wall, out = bulksync_rss(
                    team, ["import", str(path), "--dry-run", *REPORTS[args.report]], path.parent
                )
                changes = json.loads(out)["summary"]["changes"] if args.report == "json" else -1
                name = (layout.value, fmt, f"{share:.0%}")
                ratio = rss / first.setdefault(name, rss)
                figures.append(
                    {
                        "runs": runs,
                        "job": "dry run",
                        "layout": layout.value,
                        "format": fmt,
                        "edited": share,
                        "rss_mib": rss,
                        "wall": wall,
                        "changes": changes,
                    }
                )
                print(
                    f"{runs:>6}  {layout.value:6}  {fmt:6}  {share:>6.0%}  {rss:>5.0f} MiB  "
                    f"{wall:>5.1f}s  {changes:>7}  {ratio:.2f}×",
                    flush=True,
                )
                if args.calamine and fmt == "xlsx":
                    rss, wall, _ = child_rss([CALAMINE_CHILD, str(path)], path.parent, {})
                    name = ("calamine", layout.value, f"{share:.0%}")
                    ratio = rss / first.setdefault(name, rss)
                    figures.append(
                        {
                            "runs": runs,
                            "job": "calamine",
                            "layout": layout.value,
                            "format": fmt,
                            "edited": share,
                            "rss_mib": rss,
                            "wall": wall,
                        }
                    )
                    print(
                        f"{runs:>6}  {layout.value:6}  {'(calamine alone)':>22}  "
                        f"{rss:>5.0f} MiB  {wall:>5.1f}s  {'':>7}  {ratio:.2f}×",
                        flush=True,
                    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()

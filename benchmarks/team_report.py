"""The figures of ``bench_team.py`` as Markdown tables, and as JSON."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from team_serve import Job, floor


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as info:
        memory = int(info.readline().split()[1]) / 2**20
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "python": platform.python_version(),
        "system": platform.platform(),
        "load": os.getloadavg(),
    }


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def print_report(results: dict[str, Any], say: Callable[[str], None]) -> None:
    m = results["machine"]
    say(
        f"{results['runs']:,} runs of {results['template']} ({results['values']:,} form-field "
        f"values), medians of {results['repeat']}; {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB, Python {m['python']}; load at start {m['load'][0]:.2f}"
    )
    say("\n### Requests per job (rate limit lifted; each job a `bulksync` process)\n")
    say("| job | requests | minimum | ratio | at 100/min | wall | CPU | peak RSS |")
    say("|---|---:|---:|---:|---:|---:|---:|---:|")
    for job in results["exports"] + results["dry_runs"] + [results["apply"]]:
        detail = ", ".join(f"{k} {n}" for k, n in sorted(job.requests.items())) or "none"
        say(
            f"| {job.name} | {job.sent:,} ({detail}) | {job.minimum:,} | {job.ratio:.2f} | "
            f"{duration(floor(job.sent))} | "
            f"{job.wall:.2f} s | {job.cpu:.2f} s | {job.rss_mib:.0f} MiB |"
        )
    x = results["apply"].extra
    say(
        f"\nApply minimum: {x['reads_needed']} runs read + {x['patches_needed']} PATCHes "
        f"(one per edited task); a run whose plan read is over 2 s old when its PATCHes' turn "
        f"comes is read again (the check right before writing). {x['values_applied']} of "
        f"{x['values_edited']} values applied. Baseline: `bulksync --help` peaks at "
        f"{results['baseline_rss']:.0f} MiB."
    )
    if "paced" in results:
        _print_paced(results, say)
    if "local" in results:
        _print_local(results["local"], say)
    if "naive" in results:
        _print_naive(results["naive"], say)


def _print_paced(results: dict[str, Any], say: Callable[[str], None]) -> None:
    paced = results["paced"]
    say(
        f"\n### At the rate limit: computed at NextStep's 100 a minute, measured at "
        f"{paced['limit']} per {paced['window']:g} s\n"
    )
    say("| job | requests | at 100/min (computed) | measured here | floor here | ratio | 429s |")
    say("|---|---:|---:|---:|---:|---:|---:|")
    for name, what in (
        ("export", "export's reading (runs layout)"),
        ("apply", "import of the 1% edit: plan, then apply"),
    ):
        run = paced[name]
        detail = ", ".join(f"{k} {n}" for k, n in sorted(run["by_method"].items()) if k != "429")
        ratio = f"{run['wall'] / run['floor']:.2f}" if run["floor"] else "–"
        say(
            f"| {what} | {run['requests']:,} ({detail}) | {duration(floor(run['requests']))} | "
            f"{run['wall']:.1f} s | {run['floor']:.1f} s | {ratio} | {run['429s']} |"
        )
    export = paced["export"]
    say(
        f"\nThe export then wrote its file in {export['write']:.1f} s. The floor is the least "
        f"time the limit allows for that many requests: (requests − 1) // limit × window."
    )


def _print_local(rows: list[dict[str, Any]], say: Callable[[str], None]) -> None:
    say("\n### Local time against the raw libraries (in process, same cells, same files)\n")
    say("| job | layout | format | edited | bulksync | raw | raw library | ratio |")
    say("|---|---|---|---:|---:|---:|---|---:|")
    for r in rows:
        say(
            f"| {r['job']} | {r['layout']} | {r['format']} | {r['share']:.0%} | "
            f"{r['bulksync']:.3f} s | {r['raw']:.3f} s | {r['raw_library']} | {r['ratio']:.2f} |"
        )
    profiled = [r for r in rows if r.get("hot_spots")]
    if profiled:
        say("\n### Hot spots of the jobs over 2× (cProfile of bulksync's side)\n")
    for r in profiled:
        spots = r["hot_spots"]
        under = "; ".join(f"`{s['function']}` {s['under']:.0%}" for s in spots["under"])
        own = "; ".join(f"`{s['function']}` {s['own']:.0%}" for s in spots["own"])
        say(
            f"- {r['job']}, {r['layout']} layout, {r['format']}, {r['share']:.0%} edited "
            f"({spots['profiled_seconds']:.2f} s profiled). Most time under: {under}. "
            f"Most time of their own: {own}."
        )


def _print_naive(found: dict[str, Any], say: Callable[[str], None]) -> None:
    plan, straw, ours = found["naive_unedited"], found["naive"], found["bulksync"]
    say("\n### The same 1% edit: naive script (pandas + openpyxl + httpx) against bulksync\n")
    say("| | naive script | bulksync |")
    say("|---|---:|---:|")
    say(
        f"| changes planned on the unedited sheet | {plan['changes']:,} "
        f"({', '.join(f'{k} {n}' for k, n in sorted(plan['changes_by_type'].items()))}) | 0 |"
    )
    say(f"| requests for the unedited sheet | {plan['runs_read']:,} reads | 0 |")
    for name, key in (("reads", "GET"), ("PATCHes", "PATCH")):
        say(
            f"| {name} for the 1% edit | {straw['requests'].get(key, 0):,} | "
            f"{ours['requests'].get(key, 0):,} |"
        )
    say(f"| PATCHes refused by NextStep | {straw['refused']:,} | 0 |")
    say(
        f"| the sheet's {ours['edits']} edits applied | {straw['edits_applied']} | "
        f"{ours['edits_applied']} |"
    )
    say(
        f"| another person's {found['live_edits']} live edits written over | "
        f"{straw['clobbered']} | {ours['clobbered']} |"
    )
    say(
        f"| wall, peak RSS | {straw['wall']:.1f} s, {straw['rss_mib']:.0f} MiB | "
        f"{ours['wall']:.1f} s, {ours['rss_mib']:.0f} MiB |"
    )


def to_json(results: dict[str, Any]) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, Job):
            return {**asdict(value), "sent": value.sent, "ratio": value.ratio}
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(results)  # type: ignore[no-any-return]

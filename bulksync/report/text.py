"""The import plan as text for a terminal (``bulksync import`` without ``--json``)."""

from __future__ import annotations

from collections.abc import Sequence

from bulksync.plan import Change, Issue, Plan, describe
from bulksync.report.terminal import pace_note, printable, render_table


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def plan_text(
    plan: Plan,
    *,
    rate_limit: int,
    window: float,
    dry_run: bool = True,
    most: int | None = 50,
) -> str:
    """The dry-run report for a terminal: each section's first ``most`` rows (None: all);
    the HTML and JSON reports always hold every row."""

    def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
        shown = rows if most is None else rows[:most]
        text = _indent(render_table(headers, shown))
        if len(shown) < len(rows):
            text += (
                f"\n  … and {len(rows) - len(shown):,} more: -v shows them all here, "
                "--report FILE.html or --json lists every one"
            )
        return text

    out: list[str] = []
    head = "Dry run of" if dry_run else "Import of"
    origin = ""
    if plan.has_base and plan.exported_at:
        origin = f" (exported from {plan.exported_from} at {plan.exported_at})"
    out.append(f"{head} {plan.path}{origin}")
    if plan.runs_read:
        out.append(f"Read the live state of {_count(plan.runs_read, 'run')} with valid edits.")
    counts = plan.summary()
    out.append(
        "\n  "
        + " · ".join(
            [
                f"{counts['changes']} to change",
                f"{counts['already_done']} already done",
                _count(counts["conflicts"], "conflict"),
                _count(counts["errors"], "error"),
                _count(counts["warnings"], "warning"),
                f"{counts['unchanged']} unchanged",
            ]
        )
    )
    if plan.changes:
        out.append("\nChanges (live value → sheet value):")
        out.append(table(CHANGE_HEADERS, [_change_row(c) for c in plan.changes]))
    if plan.conflicts:
        mine = plan.on_conflict.value == "mine"
        note = (
            "written anyway: --on-conflict mine"
            if mine
            else "not written; --on-conflict mine would write the sheet value"
        )
        out.append(f"\nConflicts: changed in the sheet and in NextStep since the export ({note}):")
        rows = [
            (
                c.cell,
                c.run_title or c.key.run_id,
                c.task_title,
                c.label,
                describe(c.base),
                describe(c.live),
                describe(c.sheet),
            )
            for c in plan.conflicts
        ]
        out.append(table(("CELL", "RUN", "TASK", "FIELD", "EXPORTED", "LIVE", "SHEET"), rows))
    if plan.already_done:
        out.append("\nAlready done in NextStep (nothing to send):")
        out.append(table(CHANGE_HEADERS, [_change_row(c) for c in plan.already_done]))
    if plan.errors:
        out.append("\nErrors (nothing is sent while any error stands):")
        out.append(table(PROBLEM_HEADERS, [_problem_row(p) for p in plan.errors]))
    if plan.warnings:
        out.append("\nWarnings:")
        out.append(table(PROBLEM_HEADERS, [_problem_row(p) for p in plan.warnings]))
    out.append("")
    if plan.requests:
        out.append(
            f"The import sends {_count(plan.requests, 'PATCH request')}, after reading the "
            f"live state of {_count(plan.runs_read, 'run')}; "
            + pace_note(plan.requests + plan.runs_read, rate_limit, window)
            + "."
        )
    else:
        out.append("The import sends no request: there is nothing to write.")
    for run_id, title in plan.completes_runs:
        out.append(f"This import completes run {run_id} ({title}); after that NextStep locks it.")
    return printable("\n".join(out))


CHANGE_HEADERS = ("CELL", "RUN", "TASK", "FIELD", "BEFORE", "AFTER")
PROBLEM_HEADERS = ("CELL", "RUN", "FIELD", "CODE", "MESSAGE")


def _change_row(change: Change) -> tuple[str, ...]:
    return (
        change.cell,
        change.run_title or change.key.run_id,
        change.task_title,
        change.label,
        describe(change.live),
        "→ " + describe(change.sheet),
    )


def _problem_row(problem: Issue) -> tuple[str, ...]:
    key = problem.key
    return (
        problem.cell or "-",
        problem.run_title or (key.run_id if key else "-"),
        problem.label or (key.field if key else "-"),
        problem.code,
        problem.message,
    )


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())

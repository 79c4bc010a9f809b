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
    out = _heading(plan, dry_run=dry_run)
    for title, headers, rows in _sections(plan):
        if rows:
            out.append(f"\n{title}:")
            out.append(_table(headers, rows, most))
    out.append("")
    out.extend(_sending(plan, rate_limit, window))
    return printable("\n".join(out))


def _heading(plan: Plan, *, dry_run: bool) -> list[str]:
    """What the file is, where it came from, and the counts of each kind of value."""
    head = "Dry run of" if dry_run else "Import of"
    origin = ""
    if plan.has_base and plan.exported_at:
        origin = f" (exported from {plan.exported_from} at {plan.exported_at})"
    out = [f"{head} {plan.path}{origin}"]
    if plan.runs_read:
        out.append(f"Read the live state of {_count(plan.runs_read, 'run')} with valid edits.")
    counts = plan.summary()
    parts = [
        f"{counts['changes']} to change",
        f"{counts['already_done']} already done",
        _count(counts["conflicts"], "conflict"),
        _count(counts["errors"], "error"),
        _count(counts["warnings"], "warning"),
        f"{counts['unchanged']} unchanged",
    ]
    out.append("\n  " + " · ".join(parts))
    return out


def _sections(plan: Plan) -> list[tuple[str, Sequence[str], list[tuple[str, ...]]]]:
    """Each table of the report: its title, its headers and its rows (maybe none)."""
    if plan.on_conflict.value == "mine":
        note = "written anyway: --on-conflict mine"
    else:
        note = "not written; --on-conflict mine would write the sheet value"
    return [
        ("Changes (live value → sheet value)", CHANGE_HEADERS, _change_rows(plan.changes)),
        (
            f"Conflicts: changed in the sheet and in NextStep since the export ({note})",
            CONFLICT_HEADERS,
            [_conflict_row(c) for c in plan.conflicts],
        ),
        (
            "Already done in NextStep (nothing to send)",
            CHANGE_HEADERS,
            _change_rows(plan.already_done),
        ),
        (
            "Errors (nothing is sent while any error stands)",
            PROBLEM_HEADERS,
            [_problem_row(p) for p in plan.errors],
        ),
        ("Warnings", PROBLEM_HEADERS, [_problem_row(p) for p in plan.warnings]),
    ]


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], most: int | None) -> str:
    shown = rows if most is None else rows[:most]
    text = _indent(render_table(headers, shown))
    if len(shown) < len(rows):
        text += (
            f"\n  … and {len(rows) - len(shown):,} more: -v shows them all here, "
            "--report FILE.html or --json lists every one"
        )
    return text


def _sending(plan: Plan, rate_limit: int, window: float) -> list[str]:
    """What the import sends, how long the rate limit makes it take, and what it locks."""
    if plan.requests:
        out = [
            f"The import sends {_count(plan.requests, 'PATCH request')}, after reading the "
            f"live state of {_count(plan.runs_read, 'run')}; "
            + pace_note(plan.requests + plan.runs_read, rate_limit, window)
            + "."
        ]
    else:
        out = ["The import sends no request: there is nothing to write."]
    for run_id, title in plan.completes_runs:
        out.append(f"This import completes run {run_id} ({title}); after that NextStep locks it.")
    return out


CHANGE_HEADERS = ("CELL", "RUN", "TASK", "FIELD", "BEFORE", "AFTER")
PROBLEM_HEADERS = ("CELL", "RUN", "FIELD", "CODE", "MESSAGE")
CONFLICT_HEADERS = ("CELL", "RUN", "TASK", "FIELD", "EXPORTED", "LIVE", "SHEET")


def _change_rows(changes: Sequence[Change]) -> list[tuple[str, ...]]:
    return [_change_row(c) for c in changes]


def _conflict_row(c: Change) -> tuple[str, ...]:
    return (
        c.cell,
        c.run_title or c.key.run_id,
        c.task_title,
        c.label,
        describe(c.base),
        describe(c.live),
        describe(c.sheet),
    )


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

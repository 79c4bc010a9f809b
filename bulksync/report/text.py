"""The import plan as text for a terminal (``bulksync import`` without ``--json``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.cells import cell_len

from bulksync.issues import Issue
from bulksync.launch import Start
from bulksync.plans import ApplyResult, Change, Plan
from bulksync.report.starts import (
    UNDO_NOTE,
    creates_counts,
    one_line,
    requests_phrase,
    result_text,
    start_lines,
)
from bulksync.report.terminal import pace_note, printable, render_table
from bulksync.report.values import EDGE_SPACE, marked

__all__ = ["EDGE_SPACE", "marked", "plan_text", "start_results_text"]

STARTS_TITLE = "Runs to start (the sheet's new rows)"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def plan_text(
    plan: Plan,
    *,
    rate_limit: int,
    window: float,
    dry_run: bool = True,
    most: int | None = 50,
    skip_invalid: bool = False,
) -> str:
    """The dry-run report for a terminal: each section's first ``most`` rows (None: all);
    the HTML and JSON reports always hold every row. ``skip_invalid``: the valid values
    are sent despite errors, and the report says so."""
    out = _heading(plan, dry_run=dry_run)
    changes, *others = [
        (title, _table(headers, items, most, row) if items else "")
        for title, headers, items, row in _sections(plan, skip_invalid=skip_invalid)
    ]
    starts = (STARTS_TITLE, _starts_block(plan.creates, most))
    for title, body in [changes, starts, *others]:
        if body:
            out.append(f"\n{title}:")
            out.append(body)
    out.append("")
    out.extend(_sending(plan, rate_limit, window, skip_invalid=skip_invalid))
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
        *creates_counts(plan),
        f"{counts['changes']} to change",
        f"{counts['already_done']} already done",
        _count(counts["conflicts"], "conflict"),
        _count(counts["errors"], "error"),
        _count(counts["warnings"], "warning"),
        f"{counts['unchanged']} unchanged",
    ]
    out.append("\n  " + " · ".join(parts))
    return out


def _sections(
    plan: Plan, *, skip_invalid: bool
) -> list[tuple[str, Sequence[str], Sequence[Any], Callable[[Any], tuple[str, ...]]]]:
    """Each table of the report: its title, its headers, its items (maybe none) and how
    an item makes a row: only the rows shown are made (a plan may hold 20,000 changes)."""
    if skip_invalid:
        errors = "Errors (not written: --skip-invalid sends the valid values only)"
    else:
        errors = "Errors (nothing is sent while any error stands)"
    if plan.on_conflict.value == "mine":
        note = "written anyway: --on-conflict mine"
    else:
        note = "not written; --on-conflict mine would write the sheet value"
    return [
        ("Changes (live value → sheet value)", CHANGE_HEADERS, plan.changes, _change_row),
        (
            f"Conflicts: changed in the sheet and in NextStep since the export ({note})",
            CONFLICT_HEADERS,
            plan.conflicts,
            _conflict_row,
        ),
        (
            "Already done in NextStep (nothing to send)",
            CHANGE_HEADERS,
            plan.already_done,
            _change_row,
        ),
        (errors, PROBLEM_HEADERS, plan.errors, _problem_row),
        ("Warnings", PROBLEM_HEADERS, plan.warnings, _problem_row),
    ]


def _table(
    headers: Sequence[str],
    items: Sequence[Any],
    most: int | None,
    row: Callable[[Any], Sequence[object]] = tuple,
) -> str:
    """The first ``most`` items (None: all) as rows (``row`` makes one of an item: only
    the rows shown are made), and how many more there are."""
    shown = items if most is None else items[:most]
    return _indent(render_table(headers, [row(i) for i in shown])) + _more(len(items) - len(shown))


def _more(hidden: int) -> str:
    if not hidden:
        return ""
    return (
        f"\n  … and {hidden:,} more: -v shows them all here, "
        "--report FILE.html or --json lists every one"
    )


def _starts_block(creates: Sequence[Start], most: int | None) -> str:
    """Each new row: its cell and title, then what it is started with and what is set
    once it exists, or why it is not started; the first ``most`` rows (None: all)."""
    if not creates:
        return ""
    shown = creates if most is None else creates[:most]
    width = max(cell_len(s.cell) for s in shown)
    lines = []
    for start in shown:
        title, *details = start_lines(start)
        lines.append(f"  {start.cell}{' ' * (width - cell_len(start.cell))}  {title}")
        lines.extend(" " * (width + 4) + line for line in details)
    return "\n".join(lines) + _more(len(creates) - len(shown))


def start_results_text(result: ApplyResult, *, most: int | None = 50) -> str:
    """What came of each run to start after applying, a row each (empty if none)."""
    rows = [(s.start.cell, one_line(s.start.title), result_text(s)) for s in result.starts]
    if not rows:
        return ""
    return "Runs to start:\n" + _table(("CELL", "TITLE", "RESULT"), rows, most)


def _sending(plan: Plan, rate_limit: int, window: float, *, skip_invalid: bool) -> list[str]:
    """What the import sends (or would, once its errors are fixed), how long the rate
    limit makes it take, and what it locks."""
    if plan.errors and skip_invalid:
        verb = "is" if len(plan.errors) == 1 else "are"
        head = "With --skip-invalid, the import sends"
        tail = f" {_count(len(plan.errors), 'cell')} with an error {verb} not written."
    elif plan.errors:
        head, tail = "Once the errors are fixed, the import would send", ""
    else:
        head, tail = "The import sends", ""
    if plan.requests:
        read = f", after reading the live state of {_count(plan.runs_read, 'run')}"
        out = [
            f"{head} {requests_phrase(plan)}{read if plan.runs_read else ''}; "
            + pace_note(plan.requests + plan.runs_read, rate_limit, window)
            + "."
            + tail
        ]
    elif plan.errors:
        out = [f"{head} no request: no valid value differs from NextStep.{tail}"]
    else:
        out = ["The import sends no request: there is nothing to write."]
    for run_id, title in plan.completes_runs:
        out.append(f"This import completes run {run_id} ({title}); after that NextStep locks it.")
    if plan.starts:
        out.append(UNDO_NOTE)
    return out


CHANGE_HEADERS = ("CELL", "RUN", "TASK", "FIELD", "BEFORE", "AFTER")
PROBLEM_HEADERS = ("CELL", "RUN", "FIELD", "CODE", "MESSAGE")
CONFLICT_HEADERS = ("CELL", "RUN", "TASK", "FIELD", "EXPORTED", "LIVE", "SHEET")


def _conflict_row(c: Change) -> tuple[str, ...]:
    return (
        c.cell,
        c.run_title or c.key.run_id,
        c.task_title,
        c.label,
        marked(c.base),
        marked(c.live),
        marked(c.sheet),
    )


def _change_row(change: Change) -> tuple[str, ...]:
    return (
        change.cell,
        change.run_title or change.key.run_id,
        change.task_title,
        change.label,
        marked(change.live),
        "→ " + marked(change.sheet),
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

"""Rendering results for people (aligned text) and for machines (JSON)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from rich.cells import cell_len
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from bulksync import __version__
from bulksync.errors import StorageError
from bulksync.model import Run, Template
from bulksync.plan import ApplyResult, Change, Issue, Plan, describe
from bulksync.results import result_dicts

# What a terminal would obey instead of show: C0 controls (ESC starts every sequence
# that moves the cursor, clears the screen or retitles the window), DEL, C1 (0x9b is a
# one-byte CSI), and the bidi controls that make text read in another order than stored.
_CONTROLS = [*range(0x20), 0x7F, *range(0x80, 0xA0)]
_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_ESCAPES = {c: f"\\x{c:02x}" for c in _CONTROLS} | {c: f"\\u{c:04x}" for c in _BIDI}
_LAYOUT_KEPT = str.maketrans({c: e for c, e in _ESCAPES.items() if c not in (0x09, 0x0A)})


def printable(text: str) -> str:
    """``text`` safe to show on a terminal: every control character but newline and tab
    as a visible escape (``\\x1b``, ``\\u202e``). For terminal output only; files and
    JSON keep text as it is."""
    return text.translate(_LAYOUT_KEPT)


def render_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """An aligned plain-text table, wide characters (CJK) measured as two columns."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [cell_len(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], cell_len(value))
    lines = []
    for row in [list(headers), *cells]:
        padded = [v + " " * (widths[i] - cell_len(v)) for i, v in enumerate(row)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    # One line per row, whatever the data holds, and nothing a terminal would obey.
    return printable(" ".join(str(value).split()))


def templates_table(templates: Sequence[Template]) -> str:
    rows = [(t.id, t.title, t.is_published, t.version, len(t.sections)) for t in templates]
    return render_table(("ID", "TITLE", "PUBLISHED", "VERSION", "SECTIONS"), rows)


def runs_table(runs: Sequence[Run]) -> str:
    rows = [(r.id, r.status, r.template_id, (r.created_at or "")[:10], r.title) for r in runs]
    return render_table(("ID", "STATUS", "TEMPLATE", "CREATED", "TITLE"), rows)


def to_json(items: Sequence[Any]) -> str:
    """Value types as a JSON array, the way the API spells their fields."""
    return json.dumps([_jsonable(i) for i in items], ensure_ascii=False, indent=2)


def _jsonable(item: Any) -> Any:
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return dataclasses.asdict(item)
    return item


class _NoteColumn(ProgressColumn):
    """Text computed afresh at each refresh (so a wait shows while it lasts)."""

    def __init__(self, note: Callable[[], str]) -> None:
        super().__init__()
        self.note = note

    def render(self, task: Task) -> Text:
        return Text(self.note(), style="yellow")


@contextmanager
def progress_bar(
    label: str, *, quiet: bool, note: Callable[[], str] | None = None
) -> Iterator[Callable[[int, int], None]]:
    """A progress callback ``(done, total)`` drawn as a bar on stderr (nothing if quiet),
    with the time left and, if given, a ``note`` such as the rate-limit waits."""
    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        # No bar where nobody watches it (a pipe, a log file, CI).
        yield lambda done, total: None
        return
    columns: list[ProgressColumn] = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    ]
    if note is not None:
        columns.append(_NoteColumn(note))
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


# -- import plans ----------------------------------------------------------------------------


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def duration(seconds: float) -> str:
    """``0 s``, ``45 s``, ``4 min``, ``1 h 5 min``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def pace_note(requests: int, rate_limit: int, window: float) -> str:
    """How long ``requests`` take at the rate limit (the floor the limit allows)."""
    floor = 0.0 if requests <= rate_limit else ((requests - 1) // rate_limit) * window
    per = "minute" if window == 60 else f"{window:g} s"
    if not floor:
        return f"within the rate limit of {rate_limit} requests per {per}, no waiting"
    return f"at {rate_limit} requests per {per} that takes at least {duration(floor)}"


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


def plan_json(plan: Plan, result: ApplyResult | None = None) -> str:
    """The JSON report: the plan, and after applying, each value's ``results``."""
    return json.dumps(_plan_dict(plan, result), ensure_ascii=False, indent=2)


def _plan_dict(plan: Plan, result: ApplyResult | None) -> dict[str, Any]:
    found = {} if result is None else {"results": result_dicts(result)}
    return plan.as_dict() | found


def plan_html(
    plan: Plan,
    result: ApplyResult | None = None,
    *,
    rate_limit: int,
    window: float,
    dry_run: bool = True,
) -> str:
    """A self-contained HTML page of the plan, for a reviewer who never opens a terminal."""
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_source),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["describe"] = describe
    page = env.get_template("import_report.html.j2")
    return page.render(
        plan=plan,
        results=None if result is None else result_dicts(result),
        summary=plan.summary(),
        dry_run=dry_run,
        pace=pace_note(plan.requests + plan.runs_read, rate_limit, window),
        version=__version__,
    )


def _template_source(name: str) -> str:
    return resources.files("bulksync.templates").joinpath(name).read_text(encoding="utf-8")


def write_report(path: Path, text: str) -> None:
    """Write a report file (HTML or JSON); one that cannot be written is a StorageError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise StorageError(
            f"Cannot write the report {path}: {exc.strerror or exc}. Free some space, or "
            "give another --report path."
        ) from None

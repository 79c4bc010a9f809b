"""Output for a terminal: text made safe to show, aligned tables, progress bars, pace.

Also the JSON listings of ``bulksync list --json``, and what an export will cost.
Nothing here knows about import plans.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from rich.console import Console, RenderableType
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

from bulksync.exporter import Estimate
from bulksync.model import Run, Template

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


class _LeftColumn(ProgressColumn):
    """The time left as the caller computes it from (done, total)."""

    def __init__(self, left: Callable[[int, int], float | None]) -> None:
        super().__init__()
        self.left = left

    def render(self, task: Task) -> Text:
        total = int(task.total) if task.total is not None else None
        seconds = None if total is None else self.left(int(task.completed), total)
        return Text("" if seconds is None else f"{duration(seconds)} left", style="cyan")


class _ProgressWithStatus(Progress):
    """A progress display with a line of its own under the bar, while ``status`` has
    something to say (a wait for the rate limit): room for it on a narrow terminal."""

    def __init__(self, *columns: ProgressColumn, status: Callable[[], str], **kwargs: Any) -> None:
        self.status = status  # first: the display may be drawn while it starts
        super().__init__(*columns, **kwargs)

    def get_renderables(self) -> Iterable[RenderableType]:
        yield from super().get_renderables()
        line = self.status()
        if line:
            yield Text(line, style="yellow")


@contextmanager
def progress_bar(
    label: str,
    *,
    quiet: bool,
    note: Callable[[], str] | None = None,
    left: Callable[[int, int], float | None] | None = None,
    status: Callable[[], str] | None = None,
) -> Iterator[Callable[[int, int], None]]:
    """A progress callback ``(done, total)`` drawn as a bar on stderr (nothing if quiet),
    with the time left and, if given, a ``note`` such as the requests a minute, and a
    ``status`` line under the bar while it is not empty (such as a wait).

    The time left is rich's, from the pace so far, unless ``left`` computes it from
    (done, total): a paced read knows better than its first burst does."""
    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        # No bar where nobody watches it (a pipe, a log file, CI).
        yield lambda done, total: None
        return
    columns: list[ProgressColumn] = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn() if left is None else _LeftColumn(left),
    ]
    if note is not None:
        columns.append(_NoteColumn(note))
    with _ProgressWithStatus(
        *columns, status=status or str, console=console, transient=True
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def duration(seconds: float) -> str:
    """``0 s``, ``45 s``, ``4 min``, ``1 h 5 min``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def estimate_text(estimate: Estimate, output: Path) -> str:
    """What an export costs, said before it reads the runs' tasks; and where the runs
    read are kept meanwhile."""
    per_run = (
        "a task list per run"
        if estimate.pages_per_run == 1
        else f"{estimate.pages_per_run} task-list pages per run (over 100 tasks)"
    )
    if estimate.resumed:
        head = (
            f"Resuming the export of {output}: {estimate.spooled:,} of {estimate.runs:,} runs "
            f"read already, {estimate.to_read:,} to read: {estimate.to_send:,} requests "
            f"({per_run})"
        )
    else:
        head = (
            f"Exporting {estimate.runs:,} runs: {estimate.requests:,} requests "
            f"({estimate.sent:,} sent to list them, then {per_run})"
        )
    lines = [f"{head}; {pace_note(estimate.requests, estimate.rate_limit, estimate.window)}."]
    if estimate.replaces:
        lines.append(
            f"An interrupted export of {output} kept its runs in {_near(estimate.spool)}; this "
            "export starts over and replaces them (--resume would go on with them instead)."
        )
    if estimate.to_read:
        lines.append(
            f"The runs read are kept in {_near(estimate.spool)} until the file is written: if "
            "the export stops, run the same command with --resume to go on from there."
        )
    return "\n".join(lines)


def _near(path: Path) -> str:
    """A path relative to the working folder when it is under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def pace_note(requests: int, rate_limit: int, window: float) -> str:
    """How long ``requests`` take at the rate limit (the floor the limit allows)."""
    floor = 0.0 if requests <= rate_limit else ((requests - 1) // rate_limit) * window
    per = "minute" if window == 60 else f"{window:g} s"
    if not floor:
        return f"within the rate limit of {rate_limit} requests per {per}, no waiting"
    return f"at {rate_limit} requests per {per} that takes at least {duration(floor)}"

"""Rendering results for people (aligned text) and for machines (JSON)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bulksync.model import Run, Template


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
    # One line per row, whatever the data holds.
    return " ".join(str(value).split())


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


@contextmanager
def progress_bar(label: str, *, quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A progress callback ``(done, total)`` drawn as a bar on stderr (nothing if quiet)."""
    if quiet:
        yield lambda done, total: None
        return
    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update

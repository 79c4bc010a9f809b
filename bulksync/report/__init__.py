"""Rendering results for people (aligned text, HTML) and for machines (JSON).

``terminal`` holds what any command shows on a terminal (safe text, tables, progress
bars); ``text``, ``html`` and ``json`` each render an import plan in one format;
``values`` and ``starts`` are what the formats say alike: a value, and a run to start.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from bulksync.errors import StorageError
from bulksync.report.html import plan_html, plan_html_pieces
from bulksync.report.json import plan_json, plan_json_pieces
from bulksync.report.terminal import (
    duration,
    estimate_text,
    pace_note,
    printable,
    progress_bar,
    render_table,
    runs_table,
    templates_table,
    to_json,
)
from bulksync.report.text import plan_text, start_results_text

__all__ = [
    "duration",
    "estimate_text",
    "pace_note",
    "plan_html",
    "plan_html_pieces",
    "plan_json",
    "plan_json_pieces",
    "plan_text",
    "printable",
    "progress_bar",
    "render_table",
    "runs_table",
    "start_results_text",
    "templates_table",
    "to_json",
    "write_report",
]


def write_report(path: Path, text: str | Iterable[str]) -> None:
    """Write a report file (HTML or JSON), whole or in pieces as they are made; one that
    cannot be written is a StorageError.

    The pieces go to a temporary file beside ``path`` that replaces it once complete, so
    a report cut short (Ctrl-C, a full disk) never replaces an earlier one; a path that
    is not a plain file (a device, a pipe, a link) is written to as it is."""
    plain = not path.is_symlink() and (path.is_file() or not path.exists())
    part = path.with_name(f".{path.name}.part") if plain else path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with part.open("w", encoding="utf-8") as out:
            out.writelines([text] if isinstance(text, str) else text)
            out.write("\n")
        if part != path:
            os.replace(part, path)
    except OSError as exc:
        raise StorageError(
            f"Cannot write the report {path}: {exc.strerror or exc}. Free some space, or "
            "give another --report path."
        ) from None
    finally:
        if part != path:
            part.unlink(missing_ok=True)

"""The import plan as a self-contained HTML page (``--report FILE.html``).

The page is the Jinja2 template ``import_report.html.j2``, kept in templates/ at the
repository root and installed as the package ``bulksync.templates``.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources

import jinja2

from bulksync.launch import StartOutcome
from bulksync.plans import ApplyResult, Plan
from bulksync.report.starts import UNDO_NOTE, requests_phrase, start_rows
from bulksync.report.terminal import pace_note
from bulksync.report.values import marked
from bulksync.results import result_dicts
from bulksync.version import __version__

CONFLICT = StartOutcome.CONFLICT


def plan_html(
    plan: Plan,
    result: ApplyResult | None = None,
    *,
    rate_limit: int,
    window: float,
    dry_run: bool = True,
) -> str:
    """A self-contained HTML page of the plan, for a reviewer who never opens a terminal."""
    return "".join(
        plan_html_pieces(plan, result, rate_limit=rate_limit, window=window, dry_run=dry_run)
    )


def plan_html_pieces(
    plan: Plan,
    result: ApplyResult | None = None,
    *,
    rate_limit: int,
    window: float,
    dry_run: bool = True,
) -> Iterator[str]:
    """``plan_html``'s page in pieces as the template makes it, for writing as it is made:
    the page of a plan of 20,000 changes is some 20 MB of text (issue 13)."""
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_source),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["describe"] = marked
    page = env.get_template("import_report.html.j2")
    # Without runs to start, the page says "N PATCH request(s)" as it always has.
    rows = start_rows(plan, result)
    sends = requests_phrase(plan) if plan.start_work else f"{plan.requests} PATCH request(s)"
    return page.generate(
        plan=plan,
        results=None if result is None else result_dicts(result),
        summary=plan.summary(),
        dry_run=dry_run,
        pace=pace_note(plan.requests + plan.runs_read, rate_limit, window),
        version=__version__,
        sends=sends,
        starts=rows,
        started=0 if result is None else result.started(),
        starts_failed=0 if result is None else result.starts_failed,
        start_conflicts=sum(1 for r in rows if r.start.outcome is CONFLICT and not r.start.written),
        undo_note=UNDO_NOTE,
    )


def _template_source(name: str) -> str:
    return resources.files("bulksync.templates").joinpath(name).read_text(encoding="utf-8")

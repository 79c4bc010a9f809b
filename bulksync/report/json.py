"""The import plan as JSON (``--json``, ``--report FILE.json``; see docs/import.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from bulksync.plans import ApplyResult, Plan
from bulksync.results import result_dicts


def plan_json(plan: Plan, result: ApplyResult | None = None) -> str:
    """The JSON report: the plan, and after applying, each value's ``results`` and each
    run to start's ``starts``."""
    return "".join(plan_json_pieces(plan, result))


def plan_json_pieces(plan: Plan, result: ApplyResult | None = None) -> Iterator[str]:
    """``plan_json``'s text in pieces of about 64 KiB, for writing as it is made: the
    indented encoder makes a small string per token, and a list of them all for a plan
    of 20,000 changes took some 5 KiB a change (issue 13)."""
    encoder = json.JSONEncoder(ensure_ascii=False, indent=2)
    batch: list[str] = []
    size = 0
    for chunk in encoder.iterencode(_plan_dict(plan, result)):
        batch.append(chunk)
        size += len(chunk)
        if size >= _PIECE:
            yield "".join(batch)
            batch, size = [], 0
    yield "".join(batch)


_PIECE = 1 << 16


def _plan_dict(plan: Plan, result: ApplyResult | None) -> dict[str, Any]:
    if result is None:
        return plan.as_dict()
    return plan.as_dict() | {
        "results": result_dicts(result),
        "starts": [s.as_dict() for s in result.starts],
    }

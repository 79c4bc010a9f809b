"""The import plan as JSON (``--json``, ``--report FILE.json``; see docs/import.md)."""

from __future__ import annotations

import json
from typing import Any

from bulksync.plans import ApplyResult, Plan
from bulksync.results import result_dicts


def plan_json(plan: Plan, result: ApplyResult | None = None) -> str:
    """The JSON report: the plan, and after applying, each value's ``results`` and each
    run to start's ``starts``."""
    return json.dumps(_plan_dict(plan, result), ensure_ascii=False, indent=2)


def _plan_dict(plan: Plan, result: ApplyResult | None) -> dict[str, Any]:
    if result is None:
        return plan.as_dict()
    return plan.as_dict() | {
        "results": result_dicts(result),
        "starts": [s.as_dict() for s in result.starts],
    }

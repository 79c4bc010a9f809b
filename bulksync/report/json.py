"""The import plan as JSON (``--json``, ``--report FILE.json``; see docs/import.md)."""

from __future__ import annotations

import json

from bulksync.importing import ImportPlan


def plan_json(plan: ImportPlan) -> str:
    return json.dumps(plan.as_dict(), ensure_ascii=False, indent=2)

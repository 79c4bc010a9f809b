"""THE STRAWMAN. Not bulksync: a naive import script, as a typical team would write one.

    python benchmarks/naive_import.py SHEET.xlsx --base-url URL --api-key KEY [--plan-only]

Kept only so that ``bench_team.py`` can measure bulksync against it; never use it on
real data. It imports a *tasks-layout* export (``bulksync export --layout tasks``: one
row per value, with ``run_id``, ``task_id`` and ``field_id`` columns, the easiest sheet
to script against) the way such scripts usually go:

1. pandas reads the ``Fields`` sheet (``pd.read_excel``, openpyxl engine);
2. empty cells, NaN to pandas, become ``None`` (JSON has no NaN), and date cells, which
   come back as datetimes, become ISO text with ``isoformat()`` (httpx cannot send a
   datetime): the two fixes a first run's errors ask for;
3. for every run in the sheet, its tasks are read (one GET per run: live state now);
4. each row's value is compared with the live value (``!=``): a two-way diff, with no
   record of what was exported;
5. every task with a difference gets one PATCH with the values that differ.

Nothing else is done, on purpose, and that is the point of measuring it: a date
(``2026-03-04T00:00:00`` against ``2026-03-04``) and a multichoice (``"A; B"`` against
``["A", "B"]``) always differ, so an unedited sheet plans changes and their PATCHes are
refused (a refused PATCH loses the task's real edits too); a value someone changed in
NextStep since the export differs from the sheet's stale copy, so it is written back over
(clobbered); every run is read, edited or not; nothing paces the requests (at NextStep's
limit the script would meet 429s it does not handle; it is measured with the limit lifted).

Prints one JSON object: runs read, changes planned (and by field type), PATCHes sent and
refused.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections import Counter, defaultdict

import httpx
import pandas as pd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The strawman import (see its docstring).")
    parser.add_argument("sheet")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--plan-only", action="store_true", help="count changes, send no PATCH")
    args = parser.parse_args(argv)

    df = pd.read_excel(args.sheet, sheet_name="Fields", engine="openpyxl")
    df = df.astype(object).where(df.notna(), None)  # NaN is not JSON

    http = httpx.Client(
        base_url=args.base_url.rstrip("/") + "/",
        headers={"Authorization": f"Bearer {args.api_key}"},
        timeout=30,
    )
    runs_read = planned = patches = refused = 0
    changes: Counter[str] = Counter()
    for run_id, rows in df.groupby("run_id"):
        answer = http.get(f"process-runs/{run_id}/tasks", params={"limit": 100})
        answer.raise_for_status()
        runs_read += 1
        live = {}
        for task in answer.json()["data"]:
            live[(task["id"], "completed")] = task["completed"]
            live[(task["id"], "assignee")] = task["assignee"]
            for element in task["custom_elements"]:
                live[(task["id"], element["id"])] = element.get("value")

        bodies: dict[str, dict] = defaultdict(dict)
        for row in rows.itertuples():
            value = row.Value
            if isinstance(value, dt.datetime):
                value = value.isoformat()
            key = (row.task_id, row.field_id)
            if key not in live or value == live[key]:
                continue
            changes[row.Type] += 1
            body = bodies[row.task_id]
            if row.field_id in ("completed", "assignee"):
                body[row.field_id] = value
            else:
                body.setdefault("custom_elements", []).append({"id": row.field_id, "value": value})

        planned += len(bodies)
        if args.plan_only:
            continue
        for task_id, body in bodies.items():
            sent = http.patch(f"process-runs/{run_id}/tasks/{task_id}", json=body)
            patches += 1
            if sent.status_code >= 400:
                refused += 1
    http.close()
    print(
        json.dumps(
            {
                "runs_read": runs_read,
                "changes": sum(changes.values()),
                "changes_by_type": dict(changes),
                "patches_planned": planned,
                "patches": patches,
                "refused": refused,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A generated team for the benchmarks: N runs of a sample template, and edits to them.

``generate_team`` writes a sandbox state file holding the sample team (its users and
templates, none of its runs) and ``runs`` runs of one template with varied values: names
with accents, digits with leading zeros, 18-digit references, several-line texts, empty
fields, some tasks completed and assigned. The same seed makes the same team.

``edit_snapshot`` changes a share of the form-field values of a snapshot, as a person
editing the exported sheet would (each to a different valid value), and says which;
``edit_live`` changes values through the API, as another person working in NextStep
between the export and the import would.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import shutil
from pathlib import Path
from typing import Any, NamedTuple

from bulksync.client import NextStepClient
from bulksync.sandbox.documents import instantiate, iso_ms
from bulksync.sandbox.rules import WRITABLE_TYPES, check_value
from bulksync.sandbox.seed import default_seed_dir, seed, task_id_for
from bulksync.sandbox.store import Doc, Store
from bulksync.snapshot import Snapshot

FIRST = ["Noah", "Zoë", "Björn", "Aiyana", "Chen", "Fatima", "José", "Ingrid", "Kwame", "Siobhán"]
LAST = ["Müller", "O'Neil", "García", "Ivanov", "Okafor", "Tanaka", "Ångström", "Nguyen", "Kim"]
NOTES = [
    "Home address:\nCalle Mayor 1\n28013 Madrid",
    "Ships after the 15th",
    "Needs a German keyboard;\nsecond monitor later",
    "=SUM(A1:A3) is not a formula here",
    "",
]


class Edit(NamedTuple):
    """One form-field value changed: where, and from what to what."""

    run_id: str
    task_id: str
    element_id: str
    old: Any
    new: Any


def generate_team(
    state: Path, runs: int, *, template_id: str = "tpl_onboarding", seed_value: int = 13
) -> None:
    """Write a sandbox state file: the sample team without its runs, plus ``runs`` runs of
    ``template_id`` (all active), the same for the same seed."""
    seed_dir = state.parent / "seed"
    seed_dir.mkdir(parents=True, exist_ok=True)
    for name in ("team.json", "templates.json"):
        shutil.copy(default_seed_dir() / name, seed_dir / name)
    (seed_dir / "runs.json").write_text("[]\n", encoding="utf-8")
    store = Store(state)
    try:
        seed(store, seed_dir)
        template = store.template(template_id)
        if template is None:
            raise SystemExit(f"the sample team has no template {template_id}")
        template_tasks = store.template_tasks(template_id)
        team = json.loads((seed_dir / "team.json").read_text(encoding="utf-8"))
        users = [(u["id"], u["email"]) for u in team["users"]]
        rng = random.Random(seed_value)
        start = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
        with store.transaction():
            for n in range(runs):
                run_id = f"run_b{n:06d}"
                first, last = rng.choice(FIRST), rng.choice(LAST)
                due = start + dt.timedelta(days=30 + n % 200)
                run, tasks = instantiate(
                    template,
                    template_tasks,
                    run_id=run_id,
                    title=f"{template['title']} – {first} {last} ({n + 1})",
                    created_at=iso_ms(start + dt.timedelta(minutes=n)),
                    started_by=rng.choice(users)[1],
                    due_date=due.date().isoformat() if rng.random() < 0.7 else None,
                    team_id=team["team_id"],
                    timezone=team.get("timezone"),
                    task_id=lambda tt, run_id=run_id: task_id_for(run_id, tt),
                )
                _fill(tasks, rng, n, (first, last), users)
                store.add_run(run, tasks)
    finally:
        store.close()


def _fill(
    tasks: list[Doc], rng: random.Random, n: int, name: tuple[str, str], users: list[Any]
) -> None:
    """Values, completion and assignees for a new run's tasks; the last task stays open
    (a run whose tasks are all done is completed, and locked)."""
    for number, task in enumerate(tasks):
        for element in task["custom_elements"]:
            if element["type"] in WRITABLE_TYPES and rng.random() < 0.85:
                element["value"] = check_value(element, _value(element, rng, n, name))
        if number < len(tasks) - 1 and rng.random() < 0.3:
            task["completed"] = True
            task["completed_at"] = iso_ms(dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
            task["completed_by"] = rng.choice(users)[1]
        if rng.random() < 0.3:
            user_id, email = rng.choice(users)
            task["assignee"] = user_id if rng.random() < 0.5 else email


def _ascii(text: str) -> str:
    table = str.maketrans("üöäåÅëéáóñ'", "uoaaAeeaon_")
    return text.translate(table).lower()


def _value(element: Doc, rng: random.Random, n: int, name: tuple[str, str]) -> Any:
    """A value of the element's type, chosen to be awkward for spreadsheets and scripts."""
    kind, options = element["type"], element.get("options") or []
    first, last = name
    if kind == "shortText":
        return rng.choice(
            [
                f"{first} {last}",
                f"{rng.randrange(10_000):05d}",  # leading zeros
                str(rng.randrange(10**17, 10**18)),  # more digits than a float keeps
                f"+49 30 {rng.randrange(10**6, 10**7)}",
                "she/her",
            ]
        )
    if kind == "longText":
        return rng.choice(NOTES) or f"Note {n}\nline two"
    if kind == "email":
        return f"{_ascii(first)}.{_ascii(last)}.{n}@example.com"
    if kind == "website":
        return f"https://github.com/{_ascii(first)}{n}"
    if kind == "number":
        return rng.choice([rng.randrange(1, 10), rng.randrange(0, 100) / 4, rng.randrange(10**6)])
    if kind == "date":
        return (dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(730))).isoformat()
    if kind == "checkbox":
        return rng.random() < 0.5
    if kind == "dropdown":
        return rng.choice(options)
    if kind == "multichoice":
        return rng.sample(options, rng.randint(1, min(3, len(options))))
    raise ValueError(f"no generator for {kind}")


def _changed(kind: str, old: Any, options: tuple[str, ...], n: int) -> Any:
    """A valid value of ``kind`` that differs from ``old``."""
    if kind in ("shortText", "longText"):
        return f"{old or ''} (edited {n})".strip()
    if kind == "email":
        return f"edited.{n}@example.com"
    if kind == "website":
        return f"https://example.com/edited/{n}"
    if kind == "number":
        return (old or 0) + 1
    if kind == "date":
        base = dt.date.fromisoformat(old) if old else dt.date(2026, 6, 30)
        return (base + dt.timedelta(days=1)).isoformat()
    if kind == "checkbox":
        return not old
    if kind == "dropdown":
        return next(o for o in options if o != old)
    if kind == "multichoice":
        first = options[n % len(options)]
        chosen = list(old or [])
        return [o for o in chosen if o != first] if first in chosen else [*chosen, first]
    raise ValueError(f"no edit for {kind}")


def editable(snapshot: Snapshot) -> list[tuple[str, str, str]]:
    """(run id, task id, element id) of every writable form field, in sheet order."""
    return [
        (run.id, task.id, element.id)
        for run in snapshot.runs
        for task in snapshot.tasks[run.id]
        for element in task.elements
        if element.type in WRITABLE_TYPES and not element.display_only
    ]


def edit_snapshot(
    snapshot: Snapshot,
    share: float,
    *,
    seed_value: int = 13,
    avoid: frozenset[tuple[str, str, str]] = frozenset(),
) -> tuple[Snapshot, list[Edit]]:
    """The snapshot with ``share`` of its form-field values changed (drawn by the seed,
    none of ``avoid``), and the edits."""
    fields = [f for f in editable(snapshot) if f not in avoid]
    count = round(share * len(editable(snapshot)))
    chosen = set(random.Random(seed_value).sample(fields, min(count, len(fields))))
    edits: list[Edit] = []
    tasks = {}
    for run_id, run_tasks in snapshot.tasks.items():
        new_tasks = []
        for task in run_tasks:
            elements = []
            for element in task.elements:
                if (run_id, task.id, element.id) in chosen:
                    new = _changed(element.type, element.value, element.options, len(edits))
                    edits.append(Edit(run_id, task.id, element.id, element.value, new))
                    element = dataclasses.replace(element, value=new)
                elements.append(element)
            new_tasks.append(dataclasses.replace(task, elements=tuple(elements)))
        tasks[run_id] = tuple(new_tasks)
    return dataclasses.replace(snapshot, tasks=tasks), edits


def edit_live(client: NextStepClient, edits: list[Edit]) -> None:
    """Write ``edits`` through the API (one PATCH each), as another person would."""
    for edit in edits:
        client.patch_task(edit.run_id, edit.task_id, elements={edit.element_id: edit.new})


def lost(client: NextStepClient, edits: list[Edit]) -> int:
    """How many of ``edits`` NextStep does not hold now (written over, or never made)."""
    live: dict[str, dict[tuple[str, str], Any]] = {}
    lost = 0
    for edit in edits:
        if edit.run_id not in live:
            live[edit.run_id] = {
                (t.id, e.id): e.value for t in client.run_tasks(edit.run_id) for e in t.elements
            }
        if live[edit.run_id][(edit.task_id, edit.element_id)] != edit.new:
            lost += 1
    return lost

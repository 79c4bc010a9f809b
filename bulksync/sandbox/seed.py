"""Seeding a sandbox from a directory such as ``sample_data/``.

A seed directory holds three JSON files:

* ``team.json``: ``{"team_id", "timezone", "users": [{"id", "email", "name"}]}``
* ``templates.json``: templates with their ``sections`` and ``tasks`` (each task with
  its ``custom_elements``)
* ``runs.json``: runs, each naming its template and, per template task id, the state
  of that task: ``completed``, ``completed_by``, ``completed_at``, ``assignee``,
  ``skipped``, ``due_date`` and ``values`` by element id. ``omit_tasks`` and
  ``omit_elements`` model a run made from an older template version.

Every value goes through the same rules as a PATCH, so a seed cannot hold what the API
would refuse. A run's status is derived from its tasks and must agree with the file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from bulksync.errors import ConfigError
from bulksync.sandbox.documents import instantiate
from bulksync.sandbox.rules import RuleError, check_value
from bulksync.sandbox.store import Doc, Store

TEMPLATE_TASK_KEYS = (
    "id",
    "title",
    "order",
    "section_id",
    "type",
    "is_essential",
    "custom_elements",
)


def default_seed_dir() -> Path:
    """The ``sample_data/`` shipped with bulksync."""
    return Path(str(resources.files("bulksync.sample_data")))


def _load(directory: Path, name: str) -> Any:
    path = directory / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"The seed directory {directory} has no {name}.") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None


def task_id_for(run_id: str, template_task_id: str) -> str:
    """A stable task id, so that a reseeded sandbox has the same ids."""
    return "tsk_" + hashlib.sha1(f"{run_id}/{template_task_id}".encode()).hexdigest()[:12]


def seed(store: Store, directory: Path | None = None) -> None:
    """Fill an empty store from a seed directory; ``ConfigError`` on a bad seed."""
    directory = directory or default_seed_dir()
    team = _load(directory, "team.json")
    templates = _load(directory, "templates.json")
    runs = _load(directory, "runs.json")
    with store.transaction():
        store.set_meta("team_id", team["team_id"])
        store.set_meta("timezone", team.get("timezone", "UTC"))
        store.set_meta("seed", str(directory))
        for user in team.get("users", []):
            store.add_user(user)
        tasks_of: dict[str, list[Doc]] = {}
        by_id: dict[str, Doc] = {}
        for template in templates:
            tasks = template.pop("tasks")
            for order, task in enumerate(tasks):
                task.setdefault("order", order)
                for element in task.get("custom_elements", []):
                    element.setdefault("required", False)
                    element.setdefault(
                        "display_only", element["type"] in ("text", "image", "video", "lineBreak")
                    )
            clean = [{k: t.get(k) for k in TEMPLATE_TASK_KEYS} for t in tasks]
            store.add_template(template, clean)
            tasks_of[template["id"]] = clean
            by_id[template["id"]] = template
        for raw in runs:
            run, tasks = _seed_run(raw, by_id, tasks_of, team)
            store.add_run(run, tasks)


def _seed_run(
    raw: Mapping[str, Any],
    templates: Mapping[str, Doc],
    tasks_of: Mapping[str, list[Doc]],
    team: Mapping[str, Any],
) -> tuple[Doc, list[Doc]]:
    template = templates.get(raw["template_id"])
    if template is None:
        raise ConfigError(f"Seed run {raw['id']} names unknown template {raw['template_id']}")
    run, tasks = instantiate(
        template,
        tasks_of[template["id"]],
        run_id=raw["id"],
        title=raw["title"],
        created_at=raw["created_at"],
        started_by=raw.get("started_by", "api"),
        due_date=raw.get("due_date"),
        team_id=team["team_id"],
        timezone=team.get("timezone"),
        task_id=lambda tt: task_id_for(raw["id"], tt),
        omit_tasks=frozenset(raw.get("omit_tasks", ())),
        omit_elements=frozenset(raw.get("omit_elements", ())),
    )
    run["is_shared"] = bool(raw.get("is_shared", False))
    run["updated_at"] = raw.get("updated_at", raw["created_at"])
    by_template_task = {t["template_task_id"]: t for t in tasks}
    for tt_id, state in raw.get("tasks", {}).items():
        task = by_template_task.get(tt_id)
        if task is None:
            raise ConfigError(f"Seed run {raw['id']} sets task {tt_id}, which it does not have")
        _seed_task(f"Seed run {raw['id']} task {tt_id}", task, state)
    done = all(t["completed"] or t["skipped"] for t in tasks)
    expected = raw.get("status", "active")
    if done != (expected == "completed"):
        raise ConfigError(f"Seed run {raw['id']} says {expected!r}, but its tasks say otherwise")
    if done:
        run["status"] = "completed"
        run["completed_at"] = raw.get("completed_at") or max(
            (t["completed_at"] or run["created_at"]) for t in tasks
        )
    return run, tasks


def _seed_task(where: str, task: Doc, state: Mapping[str, Any]) -> None:
    """Set a seeded task's state and values; ``where`` names it in errors."""
    for key in ("completed", "completed_at", "completed_by", "assignee", "skipped", "due_date"):
        if key in state:
            task[key] = state[key]
    for element_id, value in state.get("values", {}).items():
        element = next((e for e in task["custom_elements"] if e["id"] == element_id), None)
        if element is None:
            raise ConfigError(f"{where} has no element {element_id}")
        try:
            element["value"] = check_value(element, value)
        except RuleError as exc:
            raise ConfigError(f"{where}: {exc.message}") from None

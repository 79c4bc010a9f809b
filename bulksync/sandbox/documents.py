"""Run and task documents as the sandbox keeps them, and the rules for writing them.

``instantiate`` makes a new run of a template (for ``POST /process-runs`` and for
seeding); ``apply_patch`` carries out a ``PATCH`` of a task, all or nothing; values
pass ``rules.check_value`` on the way in.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from bulksync.sandbox.rules import check_value, empty_value, invalid, is_valid_email
from bulksync.sandbox.store import Doc


def iso_ms(moment: dt.datetime) -> str:
    """ISO 8601 UTC with milliseconds, as NextStep writes timestamps."""
    return (
        moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{moment.microsecond // 1000:03d}Z"
    )


class NewRun(NamedTuple):
    """A ``POST /process-runs`` body, checked."""

    template_id: str
    name: str
    """Stripped of surrounding blanks."""
    due_date: str | None
    actor: str | None
    prefill: list[Any]


def new_run_request(body: Mapping[str, Any]) -> NewRun:
    """The parts of a ``POST /process-runs`` body; ``RuleError`` for the first bad one."""
    template_id = body.get("template_id")
    if not isinstance(template_id, str) or not template_id:
        raise invalid("template_id is required")
    name = body.get("name", body.get("title"))
    if not isinstance(name, str) or not name.strip():
        raise invalid("name is required")
    due_date = body.get("due_date")
    if due_date is not None and (not isinstance(due_date, str) or not is_iso(due_date)):
        raise invalid("due_date must be an ISO 8601 date or date-time")
    actor = body.get("actor_email")
    if actor is not None and not isinstance(actor, str):
        raise invalid("actor_email must be a string")
    items = body.get("custom_elements", [])
    if not isinstance(items, list):
        raise invalid("custom_elements must be a list")
    return NewRun(template_id, name.strip(), due_date, actor, items)


def prefill(tasks: list[Doc], items: list[Any]) -> None:
    """Write a new run's pre-filled values (``{task_id, element_id, value}`` items)."""
    by_template_task = {t["template_task_id"]: t for t in tasks}
    for item in items:
        if not isinstance(item, dict):
            raise invalid("custom_elements items must be objects")
        task = by_template_task.get(str(item.get("task_id")))
        if task is None:
            raise invalid(f"Unknown task_id {item.get('task_id')!r} in custom_elements")
        write_element(task, item.get("element_id"), item.get("value"))


def instantiate(
    template: Doc,
    template_tasks: list[Doc],
    *,
    run_id: str,
    title: str,
    created_at: str,
    started_by: str,
    due_date: str | None,
    team_id: str | None,
    timezone: str | None,
    task_id: Callable[[str], str] | None = None,
    omit_tasks: frozenset[str] = frozenset(),
    omit_elements: frozenset[str] = frozenset(),
) -> tuple[Doc, list[Doc]]:
    """A new run of ``template``: a frozen copy of its sections, tasks and fields."""
    sections = [dict(s) for s in template.get("sections", [])]
    section_order = {s["id"]: s.get("order", 0) for s in sections}
    run = {
        "id": run_id,
        "template_id": template["id"],
        "title": title,
        "status": "active",
        "started_by": started_by,
        "team_id": team_id,
        "timezone": timezone,
        "due_date": due_date,
        "is_shared": False,
        "sections": sections,
        "created_at": created_at,
        "updated_at": created_at,
        "completed_at": None,
    }
    chosen = [t for t in template_tasks if t["id"] not in omit_tasks]
    chosen.sort(key=lambda t: (section_order.get(t.get("section_id"), 0), t.get("order", 0)))
    tasks = []
    for order, tt in enumerate(chosen):
        elements = []
        for element in tt.get("custom_elements", []):
            if element["id"] in omit_elements:
                continue
            copy = dict(element)
            copy["value"] = empty_value(copy["type"])
            elements.append(copy)
        tasks.append(
            {
                "id": task_id(tt["id"]) if task_id else f"tsk_{uuid.uuid4().hex[:12]}",
                "instance_id": run_id,
                "template_task_id": tt["id"],
                "title": tt["title"],
                "completed": False,
                "completed_at": None,
                "completed_by": None,
                "order": order,
                "section_id": tt.get("section_id"),
                "assignee": None,
                "is_essential": bool(tt.get("is_essential")),
                "skipped": False,
                "type": tt.get("type", "task"),
                "due_date": None,
                "webhook_enabled": False,
                "custom_elements": elements,
                "created_at": created_at,
            }
        )
    return run, tasks


def write_element(task: Doc, element_id: Any, value: Any) -> None:
    """Write a checked value into the task's element ``element_id``."""
    for element in task["custom_elements"]:
        if element["id"] == element_id:
            element["value"] = check_value(element, value)
            return
    raise invalid(f'Unknown element id {element_id!r} for task "{task["title"]}"')


def _patch_parts(
    body: Mapping[str, Any], user_ids: Callable[[], set[str]]
) -> tuple[Any, str | None, list[Any]]:
    """A PATCH body's completion, actor and element updates, each checked."""
    if "skipped" in body:
        raise invalid("skipped cannot be set through the API")
    completed = body.get("completed")
    if "completed" in body and not isinstance(completed, bool):
        raise invalid("completed must be true or false")
    actor = body.get("actor_email")
    if actor is not None and not isinstance(actor, str):
        raise invalid("actor_email must be a string")
    if "assignee" in body:
        check_assignee(body["assignee"], user_ids)
    updates = body.get("custom_elements", [])
    if not isinstance(updates, list):
        raise invalid("custom_elements must be a list of {id, value} objects")
    return completed, actor, updates


def apply_patch(
    doc: Doc,
    body: Mapping[str, Any],
    *,
    now: Callable[[], str],
    user_ids: Callable[[], set[str]],
) -> bool:
    """Apply a validated PATCH body to a task document; False if nothing changed.

    Every part is checked before anything is changed: a PATCH is all or nothing.
    """
    completed, actor, updates = _patch_parts(body, user_ids)
    before = json.dumps(doc, sort_keys=True)
    for item in updates:
        if not isinstance(item, dict) or "id" not in item:
            raise invalid("custom_elements must be a list of {id, value} objects")
        write_element(doc, item["id"], item.get("value"))
    if "assignee" in body:
        doc["assignee"] = body["assignee"]
    if completed is True and not doc["completed"]:
        doc["completed"] = True
        doc["completed_at"] = now()
        doc["completed_by"] = actor or "api"
    elif completed is False:
        doc["completed"] = False
        doc["completed_at"] = None
        doc["completed_by"] = None
    return json.dumps(doc, sort_keys=True) != before


def check_assignee(assignee: Any, user_ids: Callable[[], set[str]]) -> None:
    """Refuse an assignee that is not null, a known user id or a valid email address."""
    if assignee is None:
        return
    if not isinstance(assignee, str) or not assignee.strip():
        raise invalid("assignee must be a user id, an email address or null")
    if "@" in assignee:
        if not is_valid_email(assignee):
            raise invalid(f"Invalid assignee {assignee!r}: not a valid email address")
    elif assignee not in user_ids():
        raise invalid(f"Unknown assignee {assignee!r}: no such user in this team")


def is_iso(value: str) -> bool:
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True

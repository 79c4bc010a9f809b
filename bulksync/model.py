"""Value types passed between stages, and their liberal parsing from API JSON.

Parsing follows the contract's Part A and accepts what it allows: a missing optional
field gets its documented empty value, ``options`` may be strings or ``{label, value}``
items, unknown fields are ignored. A field of the wrong type raises ``ShapeError``, which
the client turns into a ``ResponseError`` naming the request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

JSON = Any
"""A decoded JSON value: what ``json.loads`` returns."""


class ShapeError(ValueError):
    """A JSON document does not have the shape the contract documents."""


class _Unset(Enum):
    UNSET = "UNSET"


UNSET: Final = _Unset.UNSET
"""Marks an optional PATCH field as not sent (``None`` means "clear")."""


def task_patch_body(
    *,
    completed: bool | _Unset = UNSET,
    assignee: str | _Unset | None = UNSET,
    elements: Mapping[str, JSON] | None = None,
    actor_email: str | None = None,
) -> dict[str, JSON]:
    """The body of a task PATCH as the API documents it: only the fields given."""
    body: dict[str, JSON] = {}
    if elements:
        body["custom_elements"] = [{"id": k, "value": v} for k, v in elements.items()]
    if completed is not UNSET:
        body["completed"] = completed
    if assignee is not UNSET:
        body["assignee"] = assignee
    if actor_email:
        body["actor_email"] = actor_email
    return body


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    title: str
    order: int
    color: str | None = None


@dataclass(frozen=True, slots=True)
class Element:
    """A form field of a task: its definition and, in a run, its value."""

    id: str
    type: str
    label: str
    value: JSON = None
    required: bool = False
    display_only: bool = False
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Template:
    id: str
    title: str
    description: str | None
    is_published: bool
    version: int | None
    sections: tuple[Section, ...]


@dataclass(frozen=True, slots=True)
class TemplateTask:
    id: str
    title: str
    order: int
    section_id: str | None
    type: str
    is_essential: bool
    elements: tuple[Element, ...]


@dataclass(frozen=True, slots=True)
class Run:
    id: str
    template_id: str
    title: str
    status: str
    started_by: str | None
    team_id: str | None
    timezone: str | None
    due_date: str | None
    is_shared: bool
    sections: tuple[Section, ...]
    created_at: str | None
    updated_at: str | None
    completed_at: str | None

    @property
    def is_completed(self) -> bool:
        return self.status == "completed"


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    run_id: str
    template_task_id: str | None
    title: str
    completed: bool
    completed_at: str | None
    completed_by: str | None
    order: int
    section_id: str | None
    assignee: str | None
    is_essential: bool
    skipped: bool
    type: str
    due_date: str | None
    elements: tuple[Element, ...]

    def element(self, element_id: str) -> Element | None:
        """The element with this id, or None."""
        for element in self.elements:
            if element.id == element_id:
                return element
        return None


# -- parsing ------------------------------------------------------------------------------


def _obj(value: JSON, what: str) -> Mapping[str, JSON]:
    if not isinstance(value, Mapping):
        raise ShapeError(f"{what} is not a JSON object")
    return value


def _req_str(d: Mapping[str, JSON], key: str, what: str) -> str:
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ShapeError(f"{what} has no string {key!r}")
    return str(value)


def _opt_str(d: Mapping[str, JSON], key: str, what: str) -> str | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ShapeError(f"{what}.{key} is not a string")
    return str(value)


def _bool(d: Mapping[str, JSON], key: str, what: str, default: bool = False) -> bool:
    value = d.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ShapeError(f"{what}.{key} is not a boolean")
    return value


def _int(d: Mapping[str, JSON], key: str, what: str, default: int = 0) -> int:
    value = d.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ShapeError(f"{what}.{key} is not an integer")
    return value


def _list(d: Mapping[str, JSON], key: str, what: str) -> Sequence[JSON]:
    value = d.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ShapeError(f"{what}.{key} is not a list")
    return value


def _assignee(value: JSON, what: str) -> str | None:
    """A user id or email; an expanded user object gives its email, else its id."""
    if value is None or (isinstance(value, str) and not value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        for key in ("email", "id"):
            if isinstance(value.get(key), str) and value[key]:
                return str(value[key])
    raise ShapeError(f"{what}.assignee is neither a user id, an email nor a user object")


def parse_options(raw: JSON, what: str) -> tuple[str, ...]:
    """Options as strings; ``{label, value}`` items give their ``value``."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ShapeError(f"{what}.options is not a list")
    options: list[str] = []
    for item in raw:
        if isinstance(item, str):
            options.append(item)
        elif isinstance(item, Mapping) and isinstance(item.get("value"), str):
            options.append(item["value"])
        elif isinstance(item, Mapping) and isinstance(item.get("label"), str):
            options.append(item["label"])
        else:
            raise ShapeError(f"{what}.options has an item that is neither text nor {{value}}")
    return tuple(options)


def parse_section(raw: JSON) -> Section:
    d = _obj(raw, "section")
    return Section(
        id=_req_str(d, "id", "section"),
        title=_opt_str(d, "title", "section") or "",
        order=_int(d, "order", "section"),
        color=_opt_str(d, "color", "section"),
    )


def parse_element(raw: JSON) -> Element:
    d = _obj(raw, "element")
    what = f"element {d.get('id')!r}"
    return Element(
        id=_req_str(d, "id", "element"),
        type=_req_str(d, "type", what),
        label=_opt_str(d, "label", what) or "",
        value=d.get("value"),
        required=_bool(d, "required", what),
        display_only=_bool(d, "display_only", what),
        options=parse_options(d.get("options"), what),
    )


def parse_template(raw: JSON) -> Template:
    d = _obj(raw, "template")
    what = f"template {d.get('id')!r}"
    version = d.get("version")
    return Template(
        id=_req_str(d, "id", "template"),
        title=_opt_str(d, "title", what) or "",
        description=_opt_str(d, "description", what),
        is_published=_bool(d, "is_published", what),
        version=version if isinstance(version, int) and not isinstance(version, bool) else None,
        sections=tuple(parse_section(s) for s in _list(d, "sections", what)),
    )


def parse_template_task(raw: JSON) -> TemplateTask:
    d = _obj(raw, "template task")
    what = f"template task {d.get('id')!r}"
    return TemplateTask(
        id=_req_str(d, "id", "template task"),
        title=_opt_str(d, "title", what) or "",
        order=_int(d, "order", what),
        section_id=_opt_str(d, "section_id", what),
        type=_opt_str(d, "type", what) or "task",
        is_essential=_bool(d, "is_essential", what),
        elements=tuple(parse_element(e) for e in _list(d, "custom_elements", what)),
    )


def parse_run(raw: JSON) -> Run:
    d = _obj(raw, "run")
    what = f"run {d.get('id')!r}"
    return Run(
        id=_req_str(d, "id", "run"),
        template_id=_req_str(d, "template_id", what),
        title=_opt_str(d, "title", what) or _opt_str(d, "name", what) or "",
        status=_opt_str(d, "status", what) or "active",
        started_by=_opt_str(d, "started_by", what),
        team_id=_opt_str(d, "team_id", what),
        timezone=_opt_str(d, "timezone", what),
        due_date=_opt_str(d, "due_date", what),
        is_shared=_bool(d, "is_shared", what),
        sections=tuple(parse_section(s) for s in _list(d, "sections", what)),
        created_at=_opt_str(d, "created_at", what),
        updated_at=_opt_str(d, "updated_at", what),
        completed_at=_opt_str(d, "completed_at", what),
    )


def parse_task(raw: JSON) -> Task:
    d = _obj(raw, "task")
    what = f"task {d.get('id')!r}"
    return Task(
        id=_req_str(d, "id", "task"),
        run_id=_opt_str(d, "instance_id", what) or "",
        template_task_id=_opt_str(d, "template_task_id", what),
        title=_opt_str(d, "title", what) or "",
        completed=_bool(d, "completed", what),
        completed_at=_opt_str(d, "completed_at", what),
        completed_by=_opt_str(d, "completed_by", what),
        order=_int(d, "order", what),
        section_id=_opt_str(d, "section_id", what),
        assignee=_assignee(d.get("assignee"), what),
        is_essential=_bool(d, "is_essential", what),
        skipped=_bool(d, "skipped", what),
        type=_opt_str(d, "type", what) or "task",
        due_date=_opt_str(d, "due_date", what),
        elements=tuple(parse_element(e) for e in _list(d, "custom_elements", what)),
    )

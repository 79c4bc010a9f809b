"""The NextStep API, emulated: routing, auth, rate limit, faults and every rule.

``Sandbox.handle`` turns one request into one response. It knows nothing of HTTP
servers: ``transport.py`` calls it in process, ``server.py`` behind uvicorn. Both run
the same code, so the in-process sandbox and ``bulksync sandbox serve`` behave alike.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import re
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote

from bulksync.sandbox.rules import RuleError, check_value, empty_value, invalid, is_valid_email
from bulksync.sandbox.store import Doc, Store

SANDBOX_API_KEY: Final = "nxs_live_sandbox"
API_PREFIX: Final = "/api/v1"
DEFAULT_LIMIT: Final = 20
MAX_LIMIT: Final = 100


@dataclass(frozen=True)
class SandboxConfig:
    """Knobs of the emulator; the defaults behave like NextStep's documented limits."""

    api_key: str = SANDBOX_API_KEY
    rate_limit: int = 100
    window: float = 60.0
    latency_ms: float = 0.0
    fail_rate: float = 0.0
    drop_rate: float = 0.0
    fault_seed: int | None = None

    def __post_init__(self) -> None:
        if self.rate_limit < 1 or self.window <= 0:
            raise ValueError("the rate limit needs at least 1 request in a window over 0 s")
        for name in ("fail_rate", "drop_rate"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} is a fraction from 0 to 1, not {rate}")
        if self.latency_ms < 0:
            raise ValueError("latency_ms cannot be negative")


@dataclass(frozen=True)
class SandboxRequest:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    """Header names in lower case."""
    body: bytes = b""


@dataclass(frozen=True)
class SandboxResponse:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    drop: bool = False
    """Drop the connection instead of answering (an injected fault)."""


@dataclass
class SandboxStats:
    """What the sandbox saw: requests by method and status, writes applied."""

    by_status: Counter[tuple[str, int]] = field(default_factory=Counter)
    dropped: int = 0
    patches_applied: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def total(self, method: str | None = None) -> int:
        with self._lock:
            return sum(n for (m, _), n in self.by_status.items() if method in (None, m))

    def count(self, method: str, status: int) -> int:
        with self._lock:
            return self.by_status[(method, status)]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso_ms(moment: dt.datetime) -> str:
    """ISO 8601 UTC with milliseconds, as NextStep writes timestamps."""
    return (
        moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{moment.microsecond // 1000:03d}Z"
    )


def _json(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> SandboxResponse:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return SandboxResponse(status, body, {"Content-Type": "application/json", **(headers or {})})


def _error(status: int, code: str, message: str, **headers: str) -> SandboxResponse:
    return _json(status, {"error": {"code": code, "message": message}}, headers)


_ROUTES: Final = [
    ("templates", re.compile(r"/process-templates\Z")),
    ("template", re.compile(r"/process-templates/(?P<template>[^/]+)\Z")),
    ("template_tasks", re.compile(r"/process-templates/(?P<template>[^/]+)/tasks\Z")),
    ("runs", re.compile(r"/process-runs\Z")),
    ("run", re.compile(r"/process-runs/(?P<run>[^/]+)\Z")),
    ("run_tasks", re.compile(r"/process-runs/(?P<run>[^/]+)/tasks\Z")),
    ("task", re.compile(r"/process-runs/(?P<run>[^/]+)/tasks/(?P<task>[^/]+)\Z")),
]
_METHODS: Final = {
    "templates": {"GET"},
    "template": {"GET"},
    "template_tasks": {"GET"},
    "runs": {"GET", "POST"},
    "run": {"GET"},
    "run_tasks": {"GET"},
    "task": {"GET", "PATCH"},
}


class Sandbox:
    """One emulated NextStep team over a ``Store``."""

    def __init__(
        self,
        store: Store,
        config: SandboxConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = _utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.config = config or SandboxConfig()
        self.stats = SandboxStats()
        self._clock = clock
        self._now = now
        self._sleep = sleep
        self._rng = random.Random(self.config.fault_seed)
        self._rng_lock = threading.Lock()
        self._windows: dict[str, deque[float]] = {}
        self._window_lock = threading.Lock()

    # -- the one entry point ------------------------------------------------------------

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request as NextStep would, faults included."""
        response = self._handle(request)
        with self.stats._lock:
            if response.drop:
                self.stats.dropped += 1
            self.stats.by_status[(request.method, 0 if response.drop else response.status)] += 1
        return response

    def _handle(self, request: SandboxRequest) -> SandboxResponse:
        key = _bearer(request.headers.get("authorization", ""))
        if key != self.config.api_key:
            return _error(401, "unauthorized", "Missing or invalid API key")
        retry_after = self._admit(key)
        if retry_after is not None:
            return _error(
                429,
                "rate_limited",
                "Rate limit exceeded: 100 requests per minute"
                if self.config.rate_limit == 100
                else f"Rate limit exceeded: {self.config.rate_limit} requests per "
                f"{self.config.window:g} seconds",
                **{"Retry-After": str(retry_after)},
            )
        if self.config.latency_ms:
            self._sleep(self.config.latency_ms / 1000)
        fault, fault_after = self._draw_fault()
        if fault is not None and not fault_after:
            return self._fault(fault)
        try:
            response = self._route(request)
        except RuleError as exc:
            response = _error(exc.status, exc.code, exc.message)
        if fault is not None:
            # The request was carried out; only its answer is lost.
            return self._fault(fault)
        return response

    def _admit(self, key: str) -> int | None:
        """Count the request in its key's sliding window; the Retry-After if over."""
        now = self._clock()
        with self._window_lock:
            window = self._windows.setdefault(key, deque())
            while window and window[0] <= now - self.config.window:
                window.popleft()
            window.append(now)  # every request counts, 429s included
            if len(window) <= self.config.rate_limit:
                return None
            # Wait until enough requests have left the window for one more to fit.
            frees_at = window[len(window) - self.config.rate_limit] + self.config.window
            return max(1, math.ceil(frees_at - now))

    def _draw_fault(self) -> tuple[str | None, bool]:
        if not (self.config.fail_rate or self.config.drop_rate):
            return None, False
        with self._rng_lock:
            roll = self._rng.random()
            after = self._rng.random() < 0.5
        if roll < self.config.drop_rate:
            return "drop", after
        if roll < self.config.drop_rate + self.config.fail_rate:
            return "fail", after
        return None, False

    def _fault(self, kind: str) -> SandboxResponse:
        if kind == "drop":
            return SandboxResponse(0, b"", drop=True)
        return _error(500, "internal_error", "Internal server error (injected by the sandbox)")

    # -- routing ------------------------------------------------------------------------

    def _route(self, request: SandboxRequest) -> SandboxResponse:
        path = request.path
        if path.startswith(API_PREFIX):
            path = path[len(API_PREFIX) :]
        path = path.rstrip("/") or "/"
        for name, pattern in _ROUTES:
            match = pattern.match(path)
            if match is None:
                continue
            if request.method not in _METHODS[name]:
                return _error(
                    405, "method_not_allowed", f"{request.method} is not allowed on {path}"
                )
            args = {k: unquote(v) for k, v in match.groupdict().items()}
            handler: Callable[..., SandboxResponse] = getattr(
                self, f"_{request.method.lower()}_{name}"
            )
            return handler(request, **args)
        return _error(404, "not_found", f"No such endpoint: {request.method} {path}")

    # -- templates ----------------------------------------------------------------------

    def _get_templates(self, request: SandboxRequest) -> SandboxResponse:
        return _page(self.store.templates(), request.query)

    def _get_template(self, request: SandboxRequest, template: str) -> SandboxResponse:
        doc = self.store.template(template)
        if doc is None:
            return _error(404, "not_found", f"Process template {template} not found")
        return _json(200, {"data": doc})

    def _get_template_tasks(self, request: SandboxRequest, template: str) -> SandboxResponse:
        if self.store.template(template) is None:
            return _error(404, "not_found", f"Process template {template} not found")
        return _page(self.store.template_tasks(template), request.query)

    # -- runs ---------------------------------------------------------------------------

    def _get_runs(self, request: SandboxRequest) -> SandboxResponse:
        status = request.query.get("status")
        if status is not None and status not in ("active", "completed"):
            raise invalid("status must be active or completed")
        runs = self.store.runs(request.query.get("template_id") or None, status)
        return _page(runs, request.query)

    def _get_run(self, request: SandboxRequest, run: str) -> SandboxResponse:
        doc = self.store.run(run)
        if doc is None:
            return _error(404, "not_found", f"Process run {run} not found")
        return _json(200, {"data": doc})

    def _post_runs(self, request: SandboxRequest) -> SandboxResponse:
        body = _body(request)
        template_id = body.get("template_id")
        if not isinstance(template_id, str) or not template_id:
            raise invalid("template_id is required")
        name = body.get("name", body.get("title"))
        if not isinstance(name, str) or not name.strip():
            raise invalid("name is required")
        due_date = body.get("due_date")
        if due_date is not None and (not isinstance(due_date, str) or not _is_iso(due_date)):
            raise invalid("due_date must be an ISO 8601 date or date-time")
        actor = body.get("actor_email")
        if actor is not None and not isinstance(actor, str):
            raise invalid("actor_email must be a string")
        prefill = body.get("custom_elements", [])
        if not isinstance(prefill, list):
            raise invalid("custom_elements must be a list")
        template = self.store.template(template_id)
        if template is None:
            return _error(404, "not_found", f"Process template {template_id} not found")
        if not template.get("is_published"):
            raise invalid(f'Process template "{template["title"]}" is not published')
        run, tasks = instantiate(
            template,
            self.store.template_tasks(template_id),
            run_id=f"run_{uuid.uuid4().hex[:12]}",
            title=name.strip(),
            created_at=iso_ms(self._now()),
            started_by=actor or "api",
            due_date=due_date,
            team_id=self.store.get_meta("team_id"),
            timezone=self.store.get_meta("timezone"),
        )
        by_template_task = {t["template_task_id"]: t for t in tasks}
        for item in prefill:
            if not isinstance(item, dict):
                raise invalid("custom_elements items must be objects")
            task = by_template_task.get(str(item.get("task_id")))
            if task is None:
                raise invalid(f"Unknown task_id {item.get('task_id')!r} in custom_elements")
            _write_element(task, item.get("element_id"), item.get("value"))
        with self.store.transaction():
            self.store.add_run(run, tasks)
        return _json(201, {"data": run})

    # -- tasks --------------------------------------------------------------------------

    def _get_run_tasks(self, request: SandboxRequest, run: str) -> SandboxResponse:
        if self.store.run(run) is None:
            return _error(404, "not_found", f"Process run {run} not found")
        return _page(self.store.tasks(run), request.query)

    def _get_task(self, request: SandboxRequest, run: str, task: str) -> SandboxResponse:
        doc = self.store.task(run, task)
        if doc is None:
            return _error(404, "not_found", f"Task {task} not found in process run {run}")
        return _json(200, {"data": doc})

    def _patch_task(self, request: SandboxRequest, run: str, task: str) -> SandboxResponse:
        body = _body(request)
        with self.store.transaction():
            run_doc = self.store.run(run)
            if run_doc is None:
                return _error(404, "not_found", f"Process run {run} not found")
            doc = self.store.task(run, task)
            if doc is None:
                return _error(404, "not_found", f"Task {task} not found in process run {run}")
            if run_doc["status"] == "completed":
                return _error(
                    409,
                    "run_completed",
                    f'Process run "{run_doc["title"]}" is completed; its tasks cannot be updated',
                )
            changed = self._apply_patch(doc, body)
            if changed:
                now = iso_ms(self._now())
                self.store.save_task(doc)
                run_doc["updated_at"] = now
                if all(t["completed"] or t["skipped"] for t in self.store.tasks(run)):
                    run_doc["status"] = "completed"
                    run_doc["completed_at"] = now
                self.store.save_run(run_doc)
        with self.stats._lock:
            self.stats.patches_applied += 1
        return _json(200, {"data": doc})

    def _apply_patch(self, doc: Doc, body: Mapping[str, Any]) -> bool:
        """Apply a validated PATCH body to a task document; False if nothing changed.

        Every part is checked before anything is changed: a PATCH is all or nothing.
        """
        if "skipped" in body:
            raise invalid("skipped cannot be set through the API")
        completed = body.get("completed")
        if "completed" in body and not isinstance(completed, bool):
            raise invalid("completed must be true or false")
        actor = body.get("actor_email")
        if actor is not None and not isinstance(actor, str):
            raise invalid("actor_email must be a string")
        if "assignee" in body:
            self._check_assignee(body["assignee"])
        updates = body.get("custom_elements", [])
        if not isinstance(updates, list):
            raise invalid("custom_elements must be a list of {id, value} objects")
        before = json.dumps(doc, sort_keys=True)
        for item in updates:
            if not isinstance(item, dict) or "id" not in item:
                raise invalid("custom_elements must be a list of {id, value} objects")
            _write_element(doc, item["id"], item.get("value"))
        if "assignee" in body:
            doc["assignee"] = body["assignee"]
        if completed is True and not doc["completed"]:
            doc["completed"] = True
            doc["completed_at"] = iso_ms(self._now())
            doc["completed_by"] = actor or "api"
        elif completed is False:
            doc["completed"] = False
            doc["completed_at"] = None
            doc["completed_by"] = None
        return json.dumps(doc, sort_keys=True) != before

    def _check_assignee(self, assignee: Any) -> None:
        if assignee is None:
            return
        if not isinstance(assignee, str) or not assignee.strip():
            raise invalid("assignee must be a user id, an email address or null")
        if "@" in assignee:
            if not is_valid_email(assignee):
                raise invalid(f"Invalid assignee {assignee!r}: not a valid email address")
        elif assignee not in self.store.user_ids():
            raise invalid(f"Unknown assignee {assignee!r}: no such user in this team")


# -- helpers shared with seeding ----------------------------------------------------------


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


def _write_element(task: Doc, element_id: Any, value: Any) -> None:
    for element in task["custom_elements"]:
        if element["id"] == element_id:
            element["value"] = check_value(element, value)
            return
    raise invalid(f'Unknown element id {element_id!r} for task "{task["title"]}"')


def _page(items: list[Doc], query: Mapping[str, str]) -> SandboxResponse:
    raw_limit = query.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        if not re.fullmatch(r"\d{1,4}", raw_limit) or not 1 <= int(raw_limit) <= MAX_LIMIT:
            raise invalid(f"limit must be an integer from 1 to {MAX_LIMIT}")
        limit = int(raw_limit)
    start = 0
    cursor = query.get("cursor")
    if cursor:
        ids = [item["id"] for item in items]
        if cursor not in ids:
            raise invalid("cursor is not valid for this list")
        start = ids.index(cursor) + 1
    page = items[start : start + limit]
    has_more = start + limit < len(items)
    return _json(
        200,
        {
            "data": page,
            "pagination": {"next_cursor": page[-1]["id"] if page else None, "has_more": has_more},
        },
    )


def _body(request: SandboxRequest) -> Mapping[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise invalid("Malformed JSON in request body") from None
    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object")
    return body


def _bearer(header: str) -> str | None:
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _is_iso(value: str) -> bool:
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True

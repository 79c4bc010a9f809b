"""The NextStep API, emulated: routing, auth, rate limit and faults.

``Sandbox.handle`` turns one request into one response. It knows nothing of HTTP
servers: ``transport.py`` calls it in process, ``server.py`` behind uvicorn. Both run
the same code, so the in-process sandbox and ``bulksync sandbox serve`` behave alike.
What a write may do, and how a run is made, is in ``documents.py`` and ``rules.py``.
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

from bulksync.sandbox.documents import (
    apply_patch,
    instantiate,
    iso_ms,
    new_run_request,
    prefill,
)
from bulksync.sandbox.rules import RuleError, invalid
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
    """What the sandbox saw: requests by method and status, and by endpoint; writes
    applied."""

    by_status: Counter[tuple[str, int]] = field(default_factory=Counter)
    by_endpoint: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(method, endpoint) → requests, whatever the answer: the endpoint is a route's name
    (``runs``, ``run_tasks``, ``template_tasks`` …), or "" for no endpoint."""
    dropped: int = 0
    patches_applied: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def total(self, method: str | None = None) -> int:
        with self._lock:
            return sum(n for (m, _), n in self.by_status.items() if method in (None, m))

    def count(self, method: str, status: int) -> int:
        with self._lock:
            return self.by_status[(method, status)]

    def sent_to(self, method: str, endpoint: str) -> int:
        """Requests with this method to this endpoint (``"GET", "run_tasks"``)."""
        with self._lock:
            return self.by_endpoint[(method, endpoint)]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
        endpoint = _endpoint(request.path)
        with self.stats._lock:
            if response.drop:
                self.stats.dropped += 1
            self.stats.by_status[(request.method, 0 if response.drop else response.status)] += 1
            self.stats.by_endpoint[(request.method, endpoint[0] if endpoint else "")] += 1
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
        endpoint = _endpoint(request.path)
        if endpoint is None:
            path = _api_path(request.path)
            return _error(404, "not_found", f"No such endpoint: {request.method} {path}")
        name, match = endpoint
        if request.method not in _METHODS[name]:
            path = _api_path(request.path)
            return _error(405, "method_not_allowed", f"{request.method} is not allowed on {path}")
        args = {k: unquote(v) for k, v in match.groupdict().items()}
        handler: Callable[..., SandboxResponse] = getattr(self, f"_{request.method.lower()}_{name}")
        return handler(request, **args)

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
        wanted = new_run_request(_body(request))
        template = self.store.template(wanted.template_id)
        if template is None:
            return _error(404, "not_found", f"Process template {wanted.template_id} not found")
        if not template.get("is_published"):
            raise invalid(f'Process template "{template["title"]}" is not published')
        if wanted.actor is not None and wanted.actor.lower() not in self.store.user_emails():
            raise invalid(f"actor_email {wanted.actor!r} is not an active member of this team")
        run, tasks = instantiate(
            template,
            self.store.template_tasks(wanted.template_id),
            run_id=f"run_{uuid.uuid4().hex[:12]}",
            title=wanted.name,
            created_at=iso_ms(self._now()),
            started_by=wanted.actor or "api",
            due_date=wanted.due_date,
            team_id=self.store.get_meta("team_id"),
            timezone=self.store.get_meta("timezone"),
        )
        prefill(tasks, wanted.prefill)
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
            changed = apply_patch(
                doc, body, now=lambda: iso_ms(self._now()), user_ids=self.store.user_ids
            )
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


def _api_path(path: str) -> str:
    if path.startswith(API_PREFIX):
        path = path[len(API_PREFIX) :]
    return path.rstrip("/") or "/"


def _endpoint(path: str) -> tuple[str, re.Match[str]] | None:
    """The route a request's path goes to (its name and match), or None."""
    path = _api_path(path)
    for name, pattern in _ROUTES:
        match = pattern.match(path)
        if match is not None:
            return name, match
    return None


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

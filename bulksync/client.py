"""The NextStep REST API client: pagination, error mapping, pacing, retries.

Thread-safe: one client may serve several threads, and ``map`` runs a function over
items with ``max_in_flight`` requests at a time. Every request passes the rate limiter.

Retries. A GET is retried on a 5xx, a timeout or a lost connection, with capped
full-jitter exponential backoff (tenacity's ``wait_random_exponential``), at most
``max_retries`` times per request and within a retry budget for the whole client (at
most ``retry_ratio`` retries per request sent, plus ``min_retries``), so that a failing
server is not hammered. A PATCH or POST is never resent after its outcome became
unknown: ``OutcomeUnknownError`` tells the caller to re-read first. A 429 is safe to
resend for every method (the server did nothing), so it is: after ``Retry-After``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from typing import Final, TypeVar
from urllib.parse import quote

import httpx
import tenacity

from bulksync import __version__
from bulksync.apikey import check_api_key
from bulksync.baseurl import DEFAULT_BASE_URL, api_host, check_base_url
from bulksync.errors import (
    ApiError,
    ConfigError,
    OutcomeUnknownError,
    RateLimitedError,
    ResponseError,
    TransportError,
)
from bulksync.model import (
    JSON,
    Run,
    ShapeError,
    Task,
    Template,
    TemplateTask,
    parse_run,
    parse_task,
    parse_template,
    parse_template_task,
)
from bulksync.pacing import RateLimiter
from bulksync.responses import Answers, retry_after_seconds, span, until
from bulksync.stats import RequestStats

MAX_PAGE_SIZE: Final = 100
LONG_WAIT: Final = 10.0
"""A wait after a 429 at least this long is a warning (shorter ones are logged at -v)."""
MAX_PAGES: Final = 10_000
"""Pages of one list read at most: a million items at 100 a page, far past any team."""

log = logging.getLogger("bulksync.http")

T = TypeVar("T")
R = TypeVar("R")


class _Unset(Enum):
    UNSET = "UNSET"


UNSET: Final = _Unset.UNSET
"""Marks an optional PATCH field as not sent (``None`` means "clear")."""


class _BudgetSpent(tenacity.stop.stop_base):
    """Stop retrying once the client's retry budget is spent."""

    def __init__(self, client: NextStepClient) -> None:
        self.client = client

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self.client.retry_budget_spent()


class _UnreachableTwice(tenacity.stop.stop_base):
    """Stop after three refused connections: a wrong host or port does not heal in seconds."""

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        outcome = retry_state.outcome
        failure = outcome.exception() if outcome is not None else None
        return (
            isinstance(failure, _Transient)
            and failure.connect_failed
            and retry_state.attempt_number >= 3
        )


class _Transient(Exception):
    """An attempt failed in a way that a GET may retry."""

    def __init__(self, reason: str, status: int | None, response: httpx.Response | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.response = response
        self.connect_failed = False


def _id(value: str) -> str:
    return quote(value, safe="")


class NextStepClient:
    """A client of one NextStep team, authenticated by its API key."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        transport: httpx.BaseTransport | None = None,
        rate_limit: int = 100,
        window: float = 60.0,
        max_in_flight: int = 4,
        page_size: int = MAX_PAGE_SIZE,
        max_pages: int = MAX_PAGES,
        timeout: float = 30.0,
        max_retries: int = 5,
        retry_ratio: float = 0.2,
        min_retries: int = 10,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_rate_limit_waits: int = 20,
        max_retry_after: float = 300.0,
        allow_insecure_http: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        api_key = check_api_key(api_key or "")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigError(f"page_size is from 1 to {MAX_PAGE_SIZE}, not {page_size}")
        if max_pages < 1:
            raise ConfigError(f"max_pages is at least 1, not {max_pages}")
        if max_in_flight < 1:
            raise ConfigError("max_in_flight is at least 1")
        self.base_url = check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        self._answers = Answers(self.base_url, api_key)
        self.host = api_host(self.base_url)
        self.page_size = page_size
        self.max_pages = max_pages
        self.max_in_flight = max_in_flight
        self.max_retries = max_retries
        self.retry_ratio = retry_ratio
        self.min_retries = min_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_rate_limit_waits = max_rate_limit_waits
        self.max_retry_after = max_retry_after
        self._wall_clock = wall_clock
        self.limiter = RateLimiter(rate_limit, window, clock=clock, sleep=sleep)
        self.stats = RequestStats()
        self._sleep = sleep
        self._in_flight = threading.BoundedSemaphore(max_in_flight)
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            transport=transport,
            timeout=timeout,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": f"bulksync/{__version__}",
            },
            limits=httpx.Limits(max_connections=max_in_flight + 2),
        )

    # -- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NextStepClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- endpoints --------------------------------------------------------------------

    def list_templates(self) -> list[Template]:
        """Every process template of the team."""
        path = "process-templates"
        return [self._parse(parse_template, i, "GET", path) for i in self._paginate(path, {})]

    def get_template(self, template_id: str) -> Template:
        return self._one(parse_template, "GET", f"process-templates/{_id(template_id)}")

    def template_tasks(self, template_id: str) -> list[TemplateTask]:
        """The template's tasks in order, with their elements (no values)."""
        path = f"process-templates/{_id(template_id)}/tasks"
        return [self._parse(parse_template_task, i, "GET", path) for i in self._paginate(path, {})]

    def iter_runs(
        self, *, template_id: str | None = None, status: str | None = None
    ) -> Iterator[Run]:
        """Runs, newest first, optionally of one template and in one status."""
        params = {k: v for k, v in (("template_id", template_id), ("status", status)) if v}
        for item in self._paginate("process-runs", params):
            yield self._parse(parse_run, item, "GET", "process-runs")

    def list_runs(self, *, template_id: str | None = None, status: str | None = None) -> list[Run]:
        return list(self.iter_runs(template_id=template_id, status=status))

    def get_run(self, run_id: str) -> Run:
        return self._one(parse_run, "GET", f"process-runs/{_id(run_id)}")

    def run_tasks(self, run_id: str) -> list[Task]:
        """All tasks of a run, in section order, then task order."""
        path = f"process-runs/{_id(run_id)}/tasks"
        return [self._parse(parse_task, item, "GET", path) for item in self._paginate(path, {})]

    def get_task(self, run_id: str, task_id: str) -> Task:
        return self._one(parse_task, "GET", f"process-runs/{_id(run_id)}/tasks/{_id(task_id)}")

    def patch_task(
        self,
        run_id: str,
        task_id: str,
        *,
        completed: bool | _Unset = UNSET,
        assignee: str | _Unset | None = UNSET,
        actor_email: str | None = None,
        elements: Mapping[str, JSON] | None = None,
        max_wait: float | None = None,
    ) -> Task:
        """Update one task; return it as it is after the update.

        Raises ``OutcomeUnknownError`` when the answer was lost: the task may or may not
        have changed, and the caller should re-read it before deciding anything. A 429 is
        waited out and the request sent again, unless ``max_wait`` is given: then a 429,
        or a wait for the rate limit longer than ``max_wait`` seconds before sending,
        raises ``RateLimitedError`` without sending (NextStep did nothing), for a caller
        whose read of the task must be fresh when the request goes.
        """
        body: dict[str, JSON] = {}
        if completed is not UNSET:
            body["completed"] = completed
        if assignee is not UNSET:
            body["assignee"] = assignee
        if actor_email:
            body["actor_email"] = actor_email
        if elements:
            body["custom_elements"] = [{"id": k, "value": v} for k, v in elements.items()]
        path = f"process-runs/{_id(run_id)}/tasks/{_id(task_id)}"
        return self._one(parse_task, "PATCH", path, body, max_wait=max_wait)

    def create_run(
        self,
        template_id: str,
        name: str,
        *,
        due_date: str | None = None,
        actor_email: str | None = None,
        custom_elements: Iterable[Mapping[str, JSON]] = (),
    ) -> Run:
        """Start a run of a published template, optionally pre-filling fields."""
        body: dict[str, JSON] = {"template_id": template_id, "name": name}
        if due_date:
            body["due_date"] = due_date
        if actor_email:
            body["actor_email"] = actor_email
        prefill = [dict(item) for item in custom_elements]
        if prefill:
            body["custom_elements"] = prefill
        return self._one(parse_run, "POST", "process-runs", body)

    def map(self, func: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``func`` over ``items`` with up to ``max_in_flight`` at once; results in order."""
        items = list(items)
        if self.max_in_flight == 1 or len(items) <= 1:
            yield from (func(item) for item in items)
            return
        with ThreadPoolExecutor(self.max_in_flight, thread_name_prefix="bulksync") as pool:
            yield from pool.map(func, items)

    # -- plumbing ---------------------------------------------------------------------

    def _one(
        self,
        parse: Callable[[JSON], T],
        method: str,
        path: str,
        body: Mapping[str, JSON] | None = None,
        *,
        max_wait: float | None = None,
    ) -> T:
        try:
            document = self.request(method, path, json_body=body, max_wait=max_wait)
            data = document.get("data") if isinstance(document, dict) else None
            if not isinstance(data, dict):
                raise self._shape_error(method, path, 'the answer has no "data" object')
            return self._parse(parse, data, method, path)
        except ResponseError as exc:
            if method == "GET" or (exc.status is not None and not 200 <= exc.status < 300):
                raise
            # A write answered "done" in a body that cannot be read (a proxy's page, a
            # cut-off JSON): it may well have been applied, so its outcome is unknown.
            raise OutcomeUnknownError(
                f"{exc} The request may or may not have been applied; re-read it first.",
                method=method,
                url=exc.url,
                status=exc.status,
            ) from None

    def _parse(self, parse: Callable[[JSON], T], item: JSON, method: str, path: str) -> T:
        try:
            return parse(item)
        except ShapeError as exc:
            raise self._shape_error(method, path, str(exc)) from None

    def _shape_error(self, method: str, path: str, what: str) -> ResponseError:
        return self._answers.shape_error(method, path, what)

    def _paginate(self, path: str, params: Mapping[str, str]) -> Iterator[JSON]:
        """Items of a paginated list, page after page, until ``has_more`` is false.

        A server that says ``has_more`` forever is stopped: at a cursor it gave before,
        or after ``max_pages`` pages, with a ``ResponseError``.
        """
        cursor: str | None = None
        seen: set[str] = set()
        for page in range(1, self.max_pages + 1):
            query = dict(params, limit=str(self.page_size))
            if cursor is not None:
                query["cursor"] = cursor
            document = self.request("GET", path, params=query)
            data = document.get("data") if isinstance(document, dict) else None
            if not isinstance(data, list):
                raise self._shape_error("GET", path, 'the answer has no "data" list')
            yield from data
            pagination = document.get("pagination")
            if not isinstance(pagination, dict) or not pagination.get("has_more"):
                return
            next_cursor = pagination.get("next_cursor")
            if not isinstance(next_cursor, str) or not next_cursor:
                raise self._shape_error("GET", path, "has_more is true but next_cursor is missing")
            if next_cursor in seen:
                raise self._shape_error(
                    "GET",
                    path,
                    f"page {page} gives the next_cursor "
                    f"{self._answers.excerpt(next_cursor, 40)!r} a second time, "
                    "so its pages run in a circle",
                )
            seen.add(next_cursor)
            cursor = next_cursor
        raise self._shape_error(
            "GET",
            path,
            f"has_more is still true after {self.max_pages:,} pages of up to "
            f"{self.page_size} items; bulksync reads no list longer than that",
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, JSON] | None = None,
        max_wait: float | None = None,
    ) -> JSON:
        """Send one request (retrying a GET where safe) and return its decoded JSON."""
        url = f"{self.base_url}/{path}"
        if method != "GET":
            try:
                response = self._attempt(method, path, params, json_body, max_wait)
            except _Transient as exc:
                if exc.connect_failed:
                    raise TransportError(self._unreachable(exc), method=method, url=url) from None
                raise OutcomeUnknownError(
                    f"{method} /{path}: {exc.reason}; NextStep may or may not have applied it. "
                    "Re-read the resource before sending it again.",
                    method=method,
                    url=url,
                    status=exc.status,
                ) from None
            return self._decode(response, method, path)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient),
            stop=tenacity.stop_any(
                tenacity.stop_after_attempt(self.max_retries + 1),
                _BudgetSpent(self),
                _UnreachableTwice(),
            ),
            wait=tenacity.wait_random_exponential(
                multiplier=self.backoff_base, max=self.backoff_cap
            ),
            sleep=self._sleep,
            before_sleep=self._before_retry,
            reraise=True,
        )
        try:
            response = retrying(self._attempt, method, path, params, json_body)
        except _Transient as exc:
            if exc.response is not None:
                return self._decode(exc.response, method, path)
            raise TransportError(self._unreachable(exc), method=method, url=url) from None
        return self._decode(response, method, path)

    def retry_budget_spent(self) -> bool:
        """True once retries reach ``min_retries + retry_ratio × requests sent``."""
        allowed = self.min_retries + self.retry_ratio * self.stats.total
        return self.stats.retries >= allowed

    def _before_retry(self, retry_state: tenacity.RetryCallState) -> None:
        self.stats.count_retry()
        outcome = retry_state.outcome
        reason = outcome.exception() if outcome is not None else None
        log.info(
            "retrying %s after %s (attempt %d, waiting %.1fs)",
            retry_state.args[1] if len(retry_state.args) > 1 else "?",
            reason,
            retry_state.attempt_number + 1,
            retry_state.upcoming_sleep,
        )

    def _unreachable(self, exc: _Transient) -> str:
        return (
            f"Could not reach NextStep at {self.base_url}: {exc.reason}. Check the network "
            "and --base-url (or NEXTSTEP_BASE_URL)."
        )

    def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json_body: Mapping[str, JSON] | None,
        max_wait: float | None = None,
    ) -> httpx.Response:
        """One request through the pacing; 429s are waited out and resent here (unless
        ``max_wait`` is given: then a 429, or a longer wait for a place, is the caller's)."""
        for _ in range(self.max_rate_limit_waits + 1):
            with self._in_flight, self.limiter.slot() as waited:
                if waited >= 1.0:
                    log.info("waited %.1fs for the rate limit before %s /%s", waited, method, path)
                if max_wait is not None and waited > max_wait:
                    raise RateLimitedError(
                        f"{method} /{path} was held back {waited:.1f}s by the rate limit, "
                        f"longer than the {max_wait:.1f}s its caller allows; it was not sent.",
                        status=429,
                        code="rate_limited",
                        server_message="",
                        method=method,
                        url=f"{self.base_url}/{path}",
                    )
                started = time.perf_counter()
                log.debug(
                    "→ %s /%s%s Authorization: Bearer [redacted]%s",
                    method,
                    path,
                    self._answers.redact(f" {dict(params)}") if params else "",
                    f" body={json.dumps(json_body, ensure_ascii=False)}" if json_body else "",
                )
                try:
                    response = self._http.request(method, path, params=params, json=json_body)
                except httpx.TimeoutException as exc:
                    self.stats.count(method, "timeout")
                    failure = _Transient(f"timed out ({type(exc).__name__})", None, None)
                    failure.connect_failed = isinstance(
                        exc, httpx.ConnectTimeout | httpx.PoolTimeout
                    )
                    raise failure from None
                except httpx.TransportError as exc:
                    self.stats.count(method, "error")
                    reason = self._answers.redact(f"{type(exc).__name__}: {exc}")
                    failure = _Transient(reason, None, None)
                    failure.connect_failed = isinstance(exc, httpx.ConnectError)
                    raise failure from None
                elapsed = (time.perf_counter() - started) * 1000
            self.stats.count(method, str(response.status_code))
            log.debug(
                "← %d %s /%s (%.0f ms, %d bytes)",
                response.status_code,
                method,
                path,
                elapsed,
                len(response.content),
            )
            if response.status_code == 429:
                self.stats.count_rate_limited()
                self.limiter.hold(self._retry_after(response, method, path))
                if max_wait is not None:
                    break
                continue
            if response.status_code >= 500:
                raise _Transient(
                    f"the server answered {response.status_code}", response.status_code, response
                )
            return response
        raise self._api_error(response, method, path)

    def _retry_after(self, response: httpx.Response, method: str, path: str) -> float:
        """The seconds to hold every request after this 429, said on a warning when long.

        Past ``max_retry_after`` the client does not wait at all: ``RateLimitedError``.
        """
        raw = self._answers.redact(response.headers.get("Retry-After", ""))
        shown = self._answers.excerpt(raw, 40)
        now = self._wall_clock()
        pause = retry_after_seconds(raw, now=now)
        if pause is None:
            # No usable header: a whole window is always enough.
            pause = min(self.limiter.window, self.max_retry_after)
        if pause > self.max_retry_after:
            raise self._answers.api_error(
                response,
                method,
                path,
                rate_limited=f"NextStep answered 429 rate_limited to {method} /{path} and asks "
                f"to wait {span(pause)} (Retry-After: {shown!r}, until {until(now, pause)}), "
                f"longer than the {self.max_retry_after:g} s bulksync waits. Try again later, "
                "or raise --max-retry-after.",
            )
        level = logging.WARNING if pause >= LONG_WAIT else logging.INFO
        log.log(
            level,
            "NextStep answered 429 rate_limited to %s /%s: waiting %.0f s, until %s, as its "
            "Retry-After asks; every request waits.",
            method,
            path,
            pause,
            until(now, pause),
        )
        return pause

    def _decode(self, response: httpx.Response, method: str, path: str) -> JSON:
        if response.is_success:
            try:
                return response.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise self._answers.not_json(response, method, path) from None
        raise self._api_error(response, method, path)

    def _api_error(
        self, response: httpx.Response, method: str, path: str
    ) -> ApiError | ResponseError:
        return self._answers.api_error(
            response,
            method,
            path,
            rate_limited=f"NextStep kept answering 429 rate_limited to {method} /{path} after "
            f"{self.max_rate_limit_waits} waits; another client may be using the same key.",
        )

"""The NextStep REST API client: its endpoints, pagination and the models they answer.

Thread-safe: one client may serve several threads, and ``map`` runs a function over
items with ``max_in_flight`` requests at a time. Every request goes through a
``Sender`` (``bulksync.sender``): the rate limiter, retries and errors made from answers.

Retries, briefly (``bulksync.sender`` has the whole contract): a GET is retried on a
5xx, a timeout or a lost connection, within a budget; a PATCH or POST whose outcome
became unknown is never resent (``OutcomeUnknownError``: re-read first); a 429 is
waited out and resent for every method.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Final, TypeVar
from urllib.parse import quote

import httpx

from bulksync.apikey import check_api_key
from bulksync.baseurl import DEFAULT_BASE_URL, api_host, check_base_url
from bulksync.errors import ConfigError, OutcomeUnknownError, ResponseError
from bulksync.model import (
    JSON,
    UNSET,
    Run,
    ShapeError,
    Task,
    Template,
    TemplateTask,
    _Unset,
    parse_run,
    parse_task,
    parse_template,
    parse_template_task,
    task_patch_body,
)
from bulksync.pacing import RateLimiter
from bulksync.sender import Sender
from bulksync.stats import RequestStats

MAX_PAGE_SIZE: Final = 100
MAX_PAGES: Final = 10_000
"""Pages of one list read at most: a million items at 100 a page, far past any team."""

T = TypeVar("T")
R = TypeVar("R")

Keep = Callable[[JSON], None]
"""Given each item as NextStep answered it, once it parsed: what an export's spool keeps
(``keep=`` of the reading methods)."""


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
        self.host = api_host(self.base_url)
        self.page_size = page_size
        self.max_pages = max_pages
        self.max_in_flight = max_in_flight
        self._sender = Sender(
            self.base_url,
            api_key,
            transport=transport,
            rate_limit=rate_limit,
            window=window,
            max_in_flight=max_in_flight,
            timeout=timeout,
            max_retries=max_retries,
            retry_ratio=retry_ratio,
            min_retries=min_retries,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            max_rate_limit_waits=max_rate_limit_waits,
            max_retry_after=max_retry_after,
            clock=clock,
            sleep=sleep,
            wall_clock=wall_clock,
        )
        self._answers = self._sender.answers
        self.limiter: RateLimiter = self._sender.limiter
        self.stats: RequestStats = self._sender.stats

    @property
    def max_retries(self) -> int:
        return self._sender.max_retries

    @property
    def retry_ratio(self) -> float:
        return self._sender.retry_ratio

    @property
    def min_retries(self) -> int:
        return self._sender.min_retries

    @property
    def backoff_base(self) -> float:
        return self._sender.backoff_base

    @property
    def backoff_cap(self) -> float:
        return self._sender.backoff_cap

    @property
    def max_rate_limit_waits(self) -> int:
        return self._sender.max_rate_limit_waits

    @property
    def max_retry_after(self) -> float:
        return self._sender.max_retry_after

    # -- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        self._sender.close()

    def __enter__(self) -> NextStepClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- endpoints --------------------------------------------------------------------

    def list_templates(self) -> list[Template]:
        """Every process template of the team."""
        path = "process-templates"
        return [self._parse(parse_template, i, "GET", path) for i in self._paginate(path, {})]

    def get_template(self, template_id: str, *, keep: Keep | None = None) -> Template:
        return self._one(parse_template, "GET", f"process-templates/{_id(template_id)}", keep=keep)

    def template_tasks(self, template_id: str, *, keep: Keep | None = None) -> list[TemplateTask]:
        """The template's tasks in order, with their elements (no values)."""
        path = f"process-templates/{_id(template_id)}/tasks"
        return self._items(parse_template_task, path, {}, keep)

    def iter_runs(
        self,
        *,
        template_id: str | None = None,
        status: str | None = None,
        keep: Keep | None = None,
    ) -> Iterator[Run]:
        """Runs, newest first, optionally of one template and in one status."""
        params = {k: v for k, v in (("template_id", template_id), ("status", status)) if v}
        for item in self._paginate("process-runs", params):
            run = self._parse(parse_run, item, "GET", "process-runs")
            if keep is not None:
                keep(item)
            yield run

    def list_runs(
        self,
        *,
        template_id: str | None = None,
        status: str | None = None,
        keep: Keep | None = None,
    ) -> list[Run]:
        return list(self.iter_runs(template_id=template_id, status=status, keep=keep))

    def get_run(self, run_id: str, *, keep: Keep | None = None) -> Run:
        return self._one(parse_run, "GET", f"process-runs/{_id(run_id)}", keep=keep)

    def run_tasks(self, run_id: str, *, keep: Keep | None = None) -> list[Task]:
        """All tasks of a run, in section order, then task order."""
        return self._items(parse_task, f"process-runs/{_id(run_id)}/tasks", {}, keep)

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
        body = task_patch_body(
            completed=completed, assignee=assignee, elements=elements, actor_email=actor_email
        )
        return self.patch_task_body(run_id, task_id, body, max_wait=max_wait)

    def patch_task_body(
        self,
        run_id: str,
        task_id: str,
        body: Mapping[str, JSON],
        *,
        max_wait: float | None = None,
    ) -> Task:
        """``patch_task`` with its body made already (``model.task_patch_body``, or a
        plan's ``Patch.body()``): the body journalled is the body sent."""
        path = f"process-runs/{_id(run_id)}/tasks/{_id(task_id)}"
        return self._one(parse_task, "PATCH", path, dict(body), max_wait=max_wait)

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
        return self.create_run_body(body)

    def create_run_body(self, body: Mapping[str, JSON]) -> Run:
        """``create_run`` with its body made already (a plan's ``Start.body()``): the body
        journalled is the body sent. Raises ``OutcomeUnknownError`` when the answer was
        lost: a run may or may not have been started, and there is no idempotency key,
        so the caller must look for it before sending again."""
        return self._one(parse_run, "POST", "process-runs", dict(body))

    def map(self, func: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``func`` over ``items`` with up to ``max_in_flight`` at once; results in order.

        At most twice ``max_in_flight`` items are handed to the threads ahead of the
        result taken (``Executor.map`` would take them all at once: a future per item,
        which for 10,000 runs is memory that grows with the runs). Stopping early (an
        error, Ctrl-C) cancels those not started.
        """
        items = list(items)
        if self.max_in_flight == 1 or len(items) <= 1:
            yield from (func(item) for item in items)
            return
        with ThreadPoolExecutor(self.max_in_flight, thread_name_prefix="bulksync") as pool:
            waiting = iter(items)
            ahead = deque(pool.submit(func, i) for i in islice(waiting, 2 * self.max_in_flight))
            try:
                while ahead:
                    result = ahead.popleft().result()
                    for item in islice(waiting, 1):
                        ahead.append(pool.submit(func, item))
                    yield result
            finally:
                for future in ahead:
                    future.cancel()

    # -- plumbing ---------------------------------------------------------------------

    def _one(
        self,
        parse: Callable[[JSON], T],
        method: str,
        path: str,
        body: Mapping[str, JSON] | None = None,
        *,
        max_wait: float | None = None,
        keep: Keep | None = None,
    ) -> T:
        try:
            document = self.request(method, path, json_body=body, max_wait=max_wait)
            data = document.get("data") if isinstance(document, dict) else None
            if not isinstance(data, dict):
                raise self._shape_error(method, path, 'the answer has no "data" object')
            parsed = self._parse(parse, data, method, path)
            if keep is not None:
                keep(data)
            return parsed
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

    def _items(
        self,
        parse: Callable[[JSON], T],
        path: str,
        params: Mapping[str, str],
        keep: Keep | None,
    ) -> list[T]:
        """Every item of a paginated list, parsed; ``keep`` gets each one as answered."""
        found = []
        for item in self._paginate(path, params):
            found.append(self._parse(parse, item, "GET", path))
            if keep is not None:
                keep(item)
        return found

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
        return self._sender.request(
            method, path, params=params, json_body=json_body, max_wait=max_wait
        )

    def retry_budget_spent(self) -> bool:
        """True once retries reach ``min_retries + retry_ratio × requests sent``."""
        return self._sender.retry_budget_spent()

"""Sending one request to NextStep: pacing, retries, and errors made from answers.

A GET is retried on a 5xx, a timeout or a lost connection, with capped full-jitter
exponential backoff (tenacity's ``wait_random_exponential``), at most ``max_retries``
times per request and within a retry budget for the whole client (at most
``retry_ratio`` retries per request sent, plus ``min_retries``), so that a failing
server is not hammered. A PATCH or POST is never resent after its outcome became
unknown: ``OutcomeUnknownError`` tells the caller to re-read first. A 429 is safe to
resend for every method (the server did nothing), so it is: after ``Retry-After``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Final

import httpx
import tenacity

from bulksync.errors import (
    ApiError,
    OutcomeUnknownError,
    RateLimitedError,
    ResponseError,
    TransportError,
)
from bulksync.model import JSON
from bulksync.pacing import RateLimiter
from bulksync.responses import Answers, retry_after_seconds, span, until
from bulksync.stats import RequestStats
from bulksync.version import __version__

LONG_WAIT: Final = 10.0
"""A wait after a 429 at least this long is a warning (shorter ones are logged at -v)."""

log = logging.getLogger("bulksync.http")


class _BudgetSpent(tenacity.stop.stop_base):
    """Stop retrying once the client's retry budget is spent."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self.sender.retry_budget_spent()


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


class Sender:
    """Sends requests to one NextStep base URL with one key, paced and retried.

    Thread-safe: at most ``max_in_flight`` requests are open at once, and every request
    passes the rate limiter.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        transport: httpx.BaseTransport | None,
        rate_limit: int,
        window: float,
        max_in_flight: int,
        timeout: float,
        max_retries: int,
        retry_ratio: float,
        min_retries: int,
        backoff_base: float,
        backoff_cap: float,
        max_rate_limit_waits: int,
        max_retry_after: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        wall_clock: Callable[[], float],
    ) -> None:
        """``base_url`` and ``api_key`` as the client checked them."""
        self.base_url = base_url
        self.answers = Answers(base_url, api_key)
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

    def close(self) -> None:
        self._http.close()

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
                    self.answers.redact(f" {dict(params)}") if params else "",
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
                    reason = self.answers.redact(f"{type(exc).__name__}: {exc}")
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
        raw = self.answers.redact(response.headers.get("Retry-After", ""))
        shown = self.answers.excerpt(raw, 40)
        now = self._wall_clock()
        pause = retry_after_seconds(raw, now=now)
        if pause is None:
            # No usable header: a whole window is always enough.
            pause = min(self.limiter.window, self.max_retry_after)
        if pause > self.max_retry_after:
            raise self.answers.api_error(
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
                raise self.answers.not_json(response, method, path) from None
        raise self._api_error(response, method, path)

    def _api_error(
        self, response: httpx.Response, method: str, path: str
    ) -> ApiError | ResponseError:
        return self.answers.api_error(
            response,
            method,
            path,
            rate_limited=f"NextStep kept answering 429 rate_limited to {method} /{path} after "
            f"{self.max_rate_limit_waits} waits; another client may be using the same key.",
        )

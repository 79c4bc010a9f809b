"""Client-side pacing: a sliding-window rate limiter that also obeys 429s.

NextStep allows 100 requests per minute per key, counted in a sliding window on the
server, 429s included. The limiter keeps the client under that count so that a
well-behaved import never sees a 429:

* a request occupies a place in the window from the moment it is sent; once it is
  answered, the place is held until ``window`` seconds after the *answer*, because the
  server saw the request no later than that, whatever the latency was;
* a 429 holds back every request not yet sent until ``Retry-After`` has passed;
* ``reserved(n)`` takes n places at once for the calling thread, so that a run's read
  and the PATCHes that depend on it go out together instead of being split by the
  window's rhythm (an import's read-then-write window stays a matter of latency).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_EPSILON = 1e-6


class RateLimiter:
    """At most ``limit`` requests in any ``window`` seconds; thread-safe."""

    def __init__(
        self,
        limit: int = 100,
        window: float = 60.0,
        *,
        margin: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError("a rate limit allows at least one request")
        if window <= 0:
            raise ValueError("a rate-limit window is longer than zero seconds")
        self.limit = limit
        self.window = window
        # The server's clock and ours tick apart by a little; a place is freed a little late.
        self.margin = margin
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._answered: deque[float] = deque()
        self._in_flight = 0
        self._hold_until = 0.0
        self.waited = 0.0
        """Seconds spent waiting for a place, summed over every request (requests that
        wait side by side each count: see ``blocked`` for the time it cost)."""
        self.sleepers = 0
        """Requests sleeping until a place frees, right now (for a progress display)."""
        self._reserved = threading.local()
        self._held_back = 0  # requests waiting for a place, asleep or for an answer
        self._blocked = 0.0
        self._blocked_since = 0.0
        self._wakes: list[float] = []  # when each sleeping request looks again

    def acquire(self, places: int = 1) -> float:
        """Wait for ``places`` places in the window and take them; return the seconds
        waited. A thread inside ``reserved`` takes one of its reserved places instead."""
        waited = 0.0
        held_back = False
        try:
            while True:
                with self._cond:
                    pause = self._take(places)
                    if pause is None:
                        self.waited += waited
                        return waited
                    if not held_back:
                        held_back = True
                        self._hold_back(+1)
                    if pause == math.inf:
                        # Every place is taken by a request in flight: wait for an answer.
                        self._cond.wait()
                        continue
                    # A floor on the pause: float rounding must not loop on zero waits.
                    pause = max(pause, 0.001)
                    wake = self._clock() + pause
                    self._wakes.append(wake)
                    self.sleepers += 1
                try:
                    self._sleep(pause)
                finally:
                    with self._cond:
                        self.sleepers -= 1
                        self._wakes.remove(wake)
                waited += pause
        finally:
            if held_back:
                with self._cond:
                    self._hold_back(-1)

    def _take(self, places: int) -> float | None:
        """Take the places if the window has them (None); else the seconds until it may
        (``math.inf``: until a request in flight is answered). Under ``_cond``."""
        now = self._clock()
        # _EPSILON: a place freed exactly at the window's edge could, by float
        # rounding, still count in the server's window (found by hypothesis).
        horizon = now - self.window - self.margin - _EPSILON
        while self._answered and self._answered[0] <= horizon:
            self._answered.popleft()
        mine = self._mine()
        if now < self._hold_until:
            return self._hold_until - now
        if places == 1 and mine > 0:
            self._reserved.count = mine - 1  # already counted in _in_flight
            return None
        if len(self._answered) + self._in_flight + places <= self.limit:
            self._in_flight += places
            return None
        if self._answered:
            return self._answered[0] - horizon
        return math.inf

    def _hold_back(self, change: int) -> None:
        """Count a request held back (+1) or let go (-1); time with any held back is
        ``blocked``. Under ``_cond``."""
        now = self._clock()
        if self._held_back == 0:
            self._blocked_since = now
        self._held_back += change
        if self._held_back == 0:
            self._blocked += now - self._blocked_since

    @property
    def blocked(self) -> float:
        """Seconds of the clock during which the limit held a request back (no request
        outside a reservation could be sent), so far. Requests waiting side by side
        count once: this is the time waiting cost, where ``waited`` sums the waits."""
        with self._cond:
            if self._held_back:
                return self._blocked + self._clock() - self._blocked_since
            return self._blocked

    @property
    def waiting(self) -> bool:
        """True while the limit holds a request back."""
        return self._held_back > 0

    def wait_left(self) -> float | None:
        """Seconds until the first request held back looks again for a place (after a
        429, when its ``Retry-After`` ends); None if none is asleep waiting."""
        with self._cond:
            if not self._wakes:
                return None
            return max(0.0, min(self._wakes) - self._clock())

    def release(self) -> None:
        """The request taken with ``acquire`` got its answer (or failed) just now."""
        with self._cond:
            self._in_flight -= 1
            self._answered.append(self._clock())
            self._cond.notify_all()

    def hold(self, seconds: float) -> None:
        """Send nothing for ``seconds`` from now (after a 429 with ``Retry-After``)."""
        with self._cond:
            self._hold_until = max(self._hold_until, self._clock() + seconds)

    def _mine(self) -> int:
        count: int = getattr(self._reserved, "count", 0)
        return count

    @contextmanager
    def reserved(self, places: int) -> Iterator[None]:
        """Take ``places`` places at once (at most the limit) for this thread's next
        requests; places left unused at the end are given back, never counted as sent."""
        places = max(0, min(places, self.limit))
        if places == 0 or self._mine() > 0:
            yield  # nothing to take, or already inside a reservation
            return
        self.acquire(places)
        self._reserved.count = places
        try:
            yield
        finally:
            unused = self._reserved.count
            self._reserved.count = 0
            with self._cond:
                self._in_flight -= unused
                self._cond.notify_all()

    @contextmanager
    def slot(self) -> Iterator[float]:
        """``acquire`` for the block's duration; yields the seconds waited."""
        waited = self.acquire()
        try:
            yield waited
        finally:
            self.release()

    def seconds_for(self, requests: int) -> float:
        """About how long ``requests`` more requests take from now under this limit.

        The places free now go at once; each request after them waits for the oldest
        place taken to leave the window (a place in flight counts as taken now), one
        window per ``limit`` requests. Latency is not counted: what the limit allows.
        """
        if requests <= 0:
            return 0.0
        with self._cond:
            now = self._clock()
            horizon = now - self.window - self.margin
            taken = [t for t in self._answered if t > horizon]
            in_flight = self._in_flight
        # The window's places in the order they free up: answered ones first, then those
        # in flight and the free ones, all taken at the latest now.
        places = (taken + [now] * max(0, self.limit - len(taken)))[: self.limit]
        waiting = requests - (self.limit - len(taken) - in_flight)
        if waiting <= 0:
            return 0.0
        laps, place = divmod(waiting - 1, self.limit)
        return max(0.0, places[place] + (laps + 1) * (self.window + self.margin) - now)

    def per_minute(self) -> float:
        """Requests answered in the last window, as a rate per minute (for a display)."""
        with self._cond:
            horizon = self._clock() - self.window
            recent = sum(1 for t in self._answered if t > horizon)
        return recent * 60.0 / self.window

    def floor_seconds(self, requests: int) -> float:
        """The least time ``requests`` requests can take under this limit, from empty."""
        if requests <= self.limit:
            return 0.0
        return ((requests - 1) // self.limit) * self.window

"""The progress bar of a paced job (an export's reads, an import's writes).

It shows items done of all, the requests a minute, the time left worked out from the
requests still to send at the rate limit (``RateLimiter.seconds_for``), and, while the
limit holds a request back, a line under the bar saying how long until it goes:
``waiting 38 s for the rate limit``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bulksync.pacing import RateLimiter


class PacedBar:
    """A progress callback ``(done, total)`` drawn as a bar from its first call on.

    ``requests_per_item`` is what one item still to do costs in requests (a run's task
    list pages for an export). Without it, an item is expected to cost
    ``expected_per_item`` requests, and what is left is what all items were expected
    to cost less the requests ``sent`` since the bar opened, but at least a request
    per item still to do (an import reads most runs again before writing them, and
    those reads go out ahead of the PATCHes). ``close`` takes the bar away.
    """

    def __init__(
        self,
        label: str,
        limiter: RateLimiter,
        *,
        quiet: bool,
        sent: Callable[[], int] | None = None,
        requests_per_item: Callable[[], float] | None = None,
        expected_per_item: float = 1.0,
    ) -> None:
        self.label = label
        self.limiter = limiter
        self.quiet = quiet
        self._sent = sent
        self._per_item = requests_per_item
        self._expected = expected_per_item
        self._stack = contextlib.ExitStack()
        self._update: Callable[[int, int], None] | None = None
        self._start: tuple[float, int, int] | None = None

    def __call__(self, done: int, total: int) -> None:
        if self._update is None:
            from bulksync.report import progress_bar

            self._start = (time.monotonic(), done, self._sent() if self._sent else 0)
            self._update = self._stack.enter_context(
                progress_bar(
                    self.label, quiet=self.quiet, note=self.note, left=self.left, status=self.status
                )
            )
        self._update(done, total)

    def requests_left(self, done: int, total: int) -> float:
        """The requests the items still to do will take."""
        if self._per_item is not None:
            return (total - done) * self._per_item()
        if self._sent is None or self._start is None:
            return (total - done) * self._expected
        _, first, sent_before = self._start
        expected = (total - first) * self._expected - (self._sent() - sent_before)
        return max(float(total - done), expected)

    def left(self, done: int, total: int) -> float | None:
        """Seconds left: the rate limit's floor for the requests still to send, or the
        pace so far where that is slower (a server slower than the limit)."""
        by_limit = self.limiter.seconds_for(round(self.requests_left(done, total)))
        limited = self.limiter.waiting or self.limiter.waited
        if limited or self._start is None or done <= self._start[1]:
            # The limit paces the work (the pace so far would count its waits, spread
            # over the few items done yet), or there is no pace yet.
            return by_limit
        began, first, _ = self._start
        by_pace = (time.monotonic() - began) / (done - first) * (total - done)
        return max(by_limit, by_pace)

    def note(self) -> str:
        """The requests a minute."""
        return f"{self.limiter.per_minute():.0f} requests/min"

    def status(self) -> str:
        """While the limit holds a request back, a line saying for how long."""
        if not self.limiter.waiting:
            return ""
        wait = self.limiter.wait_left()
        if wait is None:  # every place is taken by a request awaiting its answer
            return "waiting for the rate limit"
        return f"waiting {math.ceil(wait)} s for the rate limit"

    def close(self) -> None:
        self._stack.close()
        self._update = None

"""What a client sent and what came back: counts by method and outcome, retries, 429s."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class RequestStats:
    """Counters of what the client sent and what came back; thread-safe to update."""

    by_status: Counter[tuple[str, str]] = field(default_factory=Counter)
    retries: int = 0
    rate_limited: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, method: str, outcome: str) -> None:
        with self._lock:
            self.by_status[(method, outcome)] += 1

    def count_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def count_rate_limited(self) -> None:
        with self._lock:
            self.rate_limited += 1

    @property
    def total(self) -> int:
        """Requests sent, failed ones included."""
        return sum(self.by_status.values())

    def sent(self, method: str) -> int:
        """Requests sent with this method."""
        return sum(n for (m, _), n in self.by_status.items() if m == method)

    def summary(self) -> str:
        """One line, for ``-v``: ``GET 200×31, PATCH 200×4; 1 retry; 0 rate-limited``."""
        parts = [f"{m} {s}×{n}" for (m, s), n in sorted(self.by_status.items())]
        retry_word = "retry" if self.retries == 1 else "retries"
        request_word = "request" if self.total == 1 else "requests"
        return (
            f"{self.total} {request_word} ({', '.join(parts) or 'none'}); "
            f"{self.retries} {retry_word}; {self.rate_limited} rate-limited"
        )

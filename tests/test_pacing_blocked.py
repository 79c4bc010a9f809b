"""The limiter's account of waiting, on a fake clock (issue 15): ``blocked`` is the time
during which it held a request back, counted once however many waited side by side;
``waiting`` and ``wait_left`` say it while it lasts."""

from __future__ import annotations

import threading

import pytest

from bulksync.pacing import RateLimiter


class SharedClock:
    """A fake clock for several threads: a sleep lasts until the test moves time past
    its end."""

    def __init__(self) -> None:
        self.now = 0.0
        self.asleep = 0
        self._cond = threading.Condition()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._cond:
            end = self.now + seconds
            self.asleep += 1
            self._cond.notify_all()
            self._cond.wait_for(lambda: self.now >= end)
            self.asleep -= 1

    def when_asleep(self, count: int) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.asleep == count, timeout=10)

    def advance_to(self, now: float) -> None:
        with self._cond:
            self.now = now
            self._cond.notify_all()


def full_limiter(clock: SharedClock, limit: int = 2) -> RateLimiter:
    """A limiter of ``limit`` per 10 s whose window was filled at t=0."""
    pacer = RateLimiter(limit, 10.0, margin=0.0, clock=clock, sleep=clock.sleep)
    for _ in range(limit):
        with pacer.slot():
            pass
    return pacer


def in_threads(count: int, pacer: RateLimiter) -> list[threading.Thread]:
    def send() -> None:
        with pacer.slot():
            pass

    threads = [threading.Thread(target=send) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def test_requests_waiting_side_by_side_count_once_in_the_time_blocked():
    clock = SharedClock()
    pacer = full_limiter(clock)
    assert not pacer.waiting and pacer.wait_left() is None
    threads = in_threads(2, pacer)
    clock.when_asleep(2)
    assert pacer.waiting
    assert pacer.wait_left() == pytest.approx(10.0)
    clock.advance_to(4.0)
    assert pacer.wait_left() == pytest.approx(6.0)
    assert pacer.blocked == pytest.approx(4.0)  # so far, while it lasts
    clock.advance_to(10.001)
    for thread in threads:
        thread.join(timeout=10)
    assert not pacer.waiting and pacer.wait_left() is None
    assert pacer.blocked == pytest.approx(10.001)
    assert pacer.waited == pytest.approx(20.0, abs=0.01)  # the sum: each wait counts


def test_a_request_waiting_for_an_answer_is_held_back_too():
    clock = SharedClock()
    pacer = RateLimiter(1, 10.0, margin=0.0, clock=clock, sleep=clock.sleep)
    pacer.acquire()  # in flight, unanswered: the only place is taken
    threads = in_threads(1, pacer)
    for _ in range(1000):  # until the thread waits for the answer
        if pacer.waiting:
            break
        threading.Event().wait(0.01)
    assert pacer.waiting
    assert pacer.wait_left() is None  # no sleep: it waits for an answer
    clock.advance_to(5.0)
    pacer.release()  # answered at t=5: the place frees at t=15
    clock.when_asleep(1)
    assert pacer.wait_left() == pytest.approx(10.0)
    clock.advance_to(15.001)
    threads[0].join(timeout=10)
    assert pacer.blocked == pytest.approx(15.001)


def test_no_wait_no_time_blocked():
    clock = SharedClock()
    pacer = RateLimiter(5, 10.0, margin=0.0, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        with pacer.slot():
            clock.advance_to(clock.now + 1.0)
    assert pacer.blocked == 0.0 and pacer.waited == 0.0


def test_a_429_hold_counts_as_blocked():
    clock = SharedClock()
    pacer = RateLimiter(100, 60.0, margin=0.0, clock=clock, sleep=clock.sleep)
    pacer.hold(7.0)
    threads = in_threads(3, pacer)
    clock.when_asleep(3)
    assert pacer.wait_left() == pytest.approx(7.0)
    clock.advance_to(7.0)
    for thread in threads:
        thread.join(timeout=10)
    assert pacer.blocked == pytest.approx(7.0)
    assert pacer.waited == pytest.approx(21.0)

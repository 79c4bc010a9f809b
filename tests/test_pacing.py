"""The rate limiter on a fake clock: places, answer times, holds after a 429."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulksync.pacing import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def limiter(clock: Clock, limit: int = 3, window: float = 10.0) -> RateLimiter:
    return RateLimiter(limit, window, margin=0.0, clock=clock, sleep=clock.sleep)


def test_up_to_the_limit_goes_at_once_then_waits_a_window_from_the_answers():
    clock = Clock()
    pacer = limiter(clock)
    for _ in range(3):
        with pacer.slot() as waited:
            assert waited == 0
            clock.now += 1.0  # each answer takes a second
    # answers came at t=1, 2, 3: the fourth may go at t=11, when the first answer leaves.
    with pacer.slot() as waited:
        assert clock.now == pytest.approx(11.0)
        assert waited == pytest.approx(8.0)
    assert pacer.waited == pytest.approx(8.0)


def test_a_429_holds_back_every_request():
    clock = Clock()
    pacer = limiter(clock, limit=100)
    pacer.hold(7)
    assert pacer.acquire() == pytest.approx(7)
    pacer.release()
    assert pacer.acquire() == 0
    pacer.release()


def test_requests_in_flight_take_places_until_answered():
    pacer = RateLimiter(2, 0.1)
    pacer.acquire()
    pacer.acquire()
    got_third = threading.Event()

    def third() -> None:
        pacer.acquire()
        got_third.set()

    worker = threading.Thread(target=third)
    worker.start()
    # Three windows pass, but both places are held by requests still in flight.
    assert not got_third.wait(0.3)
    pacer.release()  # answered: its place is freed a window after the answer
    assert got_third.wait(5)
    worker.join()


def test_floor_seconds():
    pacer = RateLimiter(100, 60.0)
    assert pacer.floor_seconds(100) == 0
    assert pacer.floor_seconds(101) == 60
    assert pacer.floor_seconds(500) == 240


@pytest.mark.parametrize(("limit", "window"), [(0, 60), (10, 0)])
def test_a_limit_that_allows_nothing_is_refused(limit, window):
    with pytest.raises(ValueError):  # noqa: PT011
        RateLimiter(limit, window)


def test_the_time_for_more_requests_counts_what_the_window_holds_now():
    clock = Clock()
    pacer = limiter(clock, limit=100, window=60.0)
    assert pacer.seconds_for(100) == 0  # an empty window: a burst of 100
    assert pacer.seconds_for(101) == 60  # the floor, as floor_seconds says from empty
    for _ in range(100):
        with pacer.slot():
            pass
    # the window is full now: one more waits the whole window, 101 more two windows
    assert pacer.seconds_for(1) == 60 and pacer.seconds_for(101) == 120
    clock.now += 45
    assert pacer.seconds_for(100) == 15  # not the 0 s a burst rate would promise
    assert pacer.per_minute() == 100


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(1, 5),
    window=st.floats(1.0, 20.0),
    history=st.lists(st.floats(0, 8.0), max_size=12),
    requests=st.integers(0, 14),
)
def test_the_time_for_more_requests_is_what_sending_them_takes(limit, window, history, requests):
    """A law: ``seconds_for(n)`` is how long n more answered-at-once requests take."""
    clock = Clock()
    pacer = RateLimiter(limit, window, margin=0.0, clock=clock, sleep=clock.sleep)
    for gap in history:
        clock.now += gap
        with pacer.slot():
            pass
    foretold = pacer.seconds_for(requests)
    start = clock.now
    for _ in range(requests):
        with pacer.slot():
            pass
    assert clock.now - start == pytest.approx(foretold, abs=0.01)


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(1, 6),
    window=st.floats(1.0, 30.0),
    steps=st.lists(
        st.tuples(st.floats(0, 5.0), st.floats(0, 3.0), st.floats(0, 1)), min_size=1, max_size=40
    ),
)
def test_the_server_never_sees_more_than_the_limit_in_any_window(limit, window, steps):
    """Whatever the latencies, arrivals at the server keep to the limit (sliding window)."""
    clock = Clock()
    pacer = RateLimiter(limit, window, margin=0.0, clock=clock, sleep=clock.sleep)
    arrivals = []
    for gap, latency, where in steps:
        clock.now += gap
        pacer.acquire()
        arrivals.append(clock.now + latency * where)  # it reaches the server on the way
        clock.now += latency
        pacer.release()
    for i, start in enumerate(arrivals):
        in_window = [a for a in arrivals[i:] if start <= a < start + window]
        assert len(in_window) <= limit


def test_a_reservation_takes_its_places_together_so_a_read_and_its_writes_are_not_split():
    clock = Clock()
    pacer = limiter(clock, limit=3)
    with pacer.slot():
        clock.now += 0.1
    # Two places are free; a reservation of three waits for the third (t=10.1), then
    # its three requests go at once: none waits between the read and the writes.
    with pacer.reserved(3):
        assert clock.now == pytest.approx(10.1, abs=0.01)
        for _ in range(3):
            with pacer.slot() as waited:
                assert waited == 0
    # Places reserved but unused are given back, not counted as requests.
    clock.now += 20.0
    with pacer.reserved(3), pacer.slot():
        pass
    for _ in range(2):
        with pacer.slot() as waited:
            assert waited == 0


def test_a_reservation_larger_than_the_limit_takes_the_limit_and_the_rest_waits():
    clock = Clock()
    pacer = limiter(clock, limit=2)
    with pacer.reserved(5):
        for _ in range(2):
            with pacer.slot() as waited:
                assert waited == 0
                clock.now += 1.0
        with pacer.slot() as waited:
            assert waited > 0  # past the reservation, the window rules again

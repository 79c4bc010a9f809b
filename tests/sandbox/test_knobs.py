"""The sandbox's rate limit, faults and state file."""

from __future__ import annotations

import httpx
import pytest

from bulksync.sandbox import SANDBOX_API_KEY, open_sandbox, reset_sandbox
from bulksync.sandbox.app import Sandbox, SandboxConfig, SandboxRequest
from bulksync.sandbox.store import Store

AUTH = {"authorization": f"Bearer {SANDBOX_API_KEY}"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def get(sandbox: Sandbox, path: str = "/api/v1/process-templates", headers=None):
    return sandbox.handle(SandboxRequest("GET", path, {}, AUTH if headers is None else headers))


def test_the_rate_limit_is_a_sliding_window_that_counts_429s(tmp_path):
    clock = FakeClock()
    sandbox = open_sandbox(
        tmp_path / "s.db", config=SandboxConfig(rate_limit=3, window=10), clock=clock
    )
    assert [get(sandbox).status for _ in range(3)] == [200, 200, 200]
    clock.now += 4
    refused = get(sandbox)
    assert refused.status == 429
    # The first three leave the window at t=10; the 429 itself counts, so one more must go.
    assert refused.headers["Retry-After"] == "6"
    clock.now += 6
    assert get(sandbox).status == 200  # the first three have left; the 429 and this one count
    assert get(sandbox).status == 200
    assert get(sandbox).status == 429


def test_retry_after_is_a_whole_number_of_seconds(tmp_path):
    clock = FakeClock()
    sandbox = open_sandbox(
        tmp_path / "s.db", config=SandboxConfig(rate_limit=1, window=2.5), clock=clock
    )
    get(sandbox)
    clock.now += 0.2
    assert get(sandbox).headers["Retry-After"] == "3"


def test_requests_without_a_valid_key_do_not_use_up_the_limit(tmp_path):
    sandbox = open_sandbox(tmp_path / "s.db", config=SandboxConfig(rate_limit=1, window=60))
    assert get(sandbox, headers={}).status == 401
    assert get(sandbox).status == 200


def test_another_key_is_accepted_when_configured(tmp_path):
    sandbox = open_sandbox(tmp_path / "s.db", config=SandboxConfig(api_key="nxs_live_other"))
    assert get(sandbox).status == 401
    assert get(sandbox, headers={"authorization": "Bearer nxs_live_other"}).status == 200


def test_latency_is_added_to_every_request(tmp_path):
    slept: list[float] = []
    sandbox = open_sandbox(
        tmp_path / "s.db", config=SandboxConfig(latency_ms=250), sleep=slept.append
    )
    get(sandbox)
    get(sandbox)
    assert slept == [0.25, 0.25]


def test_injected_failures_and_drops_come_at_their_rates(tmp_path):
    sandbox = open_sandbox(
        tmp_path / "s.db",
        config=SandboxConfig(fail_rate=0.2, drop_rate=0.1, fault_seed=7, rate_limit=10_000),
    )
    answers = [get(sandbox) for _ in range(2000)]
    failed = sum(a.status == 500 for a in answers)
    dropped = sum(a.drop for a in answers)
    assert 320 < failed < 480
    assert 140 < dropped < 260
    assert sandbox.stats.dropped == dropped
    assert sandbox.stats.count("GET", 500) == failed


def test_a_fault_after_the_work_leaves_the_write_applied(tmp_path):
    """Half the injected faults hit after the PATCH was carried out: its outcome is unknown."""
    sandbox = open_sandbox(
        tmp_path / "s.db", config=SandboxConfig(fail_rate=1.0, fault_seed=3, rate_limit=10_000)
    )
    tasks = sandbox.store.tasks("run_onb_003")
    task = next(t for t in tasks if not t["completed"])
    applied = 0
    for _ in range(20):
        body = b'{"completed": %s}' % (b"false" if applied % 2 else b"true")
        answer = sandbox.handle(
            SandboxRequest(
                "PATCH", f"/api/v1/process-runs/run_onb_003/tasks/{task['id']}", {}, AUTH, body
            )
        )
        assert answer.status == 500
        now = sandbox.store.task("run_onb_003", task["id"])["completed"]
        if now != (applied % 2 == 1):
            applied += 1
    assert 3 < applied < 17  # some were applied before failing, some not at all


def test_a_dropped_connection_over_http_gives_no_answer(make_sandbox, serve):
    sandbox = make_sandbox(drop_rate=1.0)
    base = serve(sandbox)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(base + "/process-templates", headers={"Authorization": AUTH["authorization"]})


def test_the_in_process_transport_drops_too(make_sandbox):
    from bulksync.sandbox.transport import SandboxTransport

    sandbox = make_sandbox(drop_rate=1.0)
    client = httpx.Client(transport=SandboxTransport(sandbox))
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(
            "http://sandbox.invalid/api/v1/process-templates",
            headers={"Authorization": AUTH["authorization"]},
        )


def test_state_survives_between_opens_and_reset_restores_the_seed(tmp_path):
    state = tmp_path / "s.db"
    sandbox = open_sandbox(state)
    task = next(t for t in sandbox.store.tasks("run_onb_003") if not t["completed"])
    answer = sandbox.handle(
        SandboxRequest(
            "PATCH",
            f"/api/v1/process-runs/run_onb_003/tasks/{task['id']}",
            {},
            AUTH,
            b'{"completed": true}',
        )
    )
    assert answer.status == 200
    sandbox.store.close()
    again = open_sandbox(state)
    assert again.store.task("run_onb_003", task["id"])["completed"] is True
    again.store.close()
    reset_sandbox(state)
    store = Store(state)
    assert store.task("run_onb_003", task["id"])["completed"] is False
    store.close()

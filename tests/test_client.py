"""The client against the sandbox: pagination, errors, retries, pacing, concurrency."""

from __future__ import annotations

import json
import logging
import socket

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulksync import (
    ApiValidationError,
    AuthError,
    ConfigError,
    ConflictError,
    NextStepClient,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitedError,
    ResponseError,
    TransportError,
)
from bulksync.config import Connection
from bulksync.sandbox import open_sandbox, sandbox_client
from tests.badserver import CannedServer, ScriptedServer

FAST = {"backoff_base": 0.001, "backoff_cap": 0.01}


def test_lists_follow_every_page(sandbox):
    with (
        sandbox_client(sandbox, page_size=100) as whole,
        sandbox_client(sandbox, page_size=7) as paged,
    ):
        everything = whole.list_runs()
        assert whole.stats.sent("GET") == 1
        assert [r.id for r in paged.list_runs()] == [r.id for r in everything]
        assert paged.stats.sent("GET") == -(-len(everything) // 7)
        assert len(everything) >= 30


def test_every_list_endpoint_asks_for_100_items(sandbox, serve):
    with NextStepClient("nxs_live_sandbox", serve(sandbox)) as client:
        client.list_templates()
        client.template_tasks("tpl_onboarding")
        client.run_tasks("run_onb_003")
        client.list_runs(template_id="tpl_vendor", status="completed")
    assert client.stats.sent("GET") == 4
    assert sandbox.stats.total("GET") == 4


def test_filters_and_single_objects(client):
    completed = client.list_runs(status="completed")
    assert completed and all(r.is_completed for r in completed)
    vendor = client.list_runs(template_id="tpl_vendor")
    assert vendor and {r.template_id for r in vendor} == {"tpl_vendor"}
    run = client.get_run("run_onb_003")
    tasks = client.run_tasks(run.id)
    assert {t.run_id for t in tasks} == {run.id}
    one = client.get_task(run.id, tasks[1].id)
    assert one == tasks[1]
    template = client.get_template(run.template_id)
    assert client.template_tasks(template.id)[0].id == tasks[0].template_task_id


def test_options_are_read_as_strings(client):
    task = client.run_tasks("run_onb_003")[2]
    department = task.element("el_onb_dept")
    assert department is not None
    assert "Sales, EMEA" in department.options
    assert "=Unassigned" in department.options


def test_patch_and_create_run(client):
    run = client.create_run(
        "tpl_vendor",
        "Security review – Test",
        due_date="2027-01-31",
        custom_elements=[
            {"task_id": "tt_ven_intake", "element_id": "el_ven_name", "value": "Test"}
        ],
    )
    task = client.run_tasks(run.id)[0]
    assert task.element("el_ven_name").value == "Test"
    updated = client.patch_task(
        run.id,
        task.id,
        completed=True,
        assignee="usr_ana",
        actor_email="ops@acme.example",
        elements={"el_ven_spend": 1200, "el_ven_duns": "007"},
    )
    assert (updated.completed, updated.completed_by, updated.assignee) == (
        True,
        "ops@acme.example",
        "usr_ana",
    )
    assert updated.element("el_ven_spend").value == 1200
    cleared = client.patch_task(run.id, task.id, assignee=None, elements={"el_ven_duns": None})
    assert cleared.assignee is None
    assert cleared.element("el_ven_duns").value is None
    assert cleared.completed is True  # fields not sent are left alone


# -- errors ---------------------------------------------------------------------------------


def test_a_refused_key_names_the_environment_variable_and_not_the_key(sandbox):
    with (
        sandbox_client(sandbox, api_key="nxs_live_s3cr3t") as client,
        pytest.raises(AuthError) as caught,
    ):
        client.list_templates()
    assert "NEXTSTEP_API_KEY" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)
    assert caught.value.status == 401
    assert caught.value.code == "unauthorized"


def test_api_errors_map_to_one_type_each_with_code_and_message(client):
    with pytest.raises(NotFoundError) as not_found:
        client.get_run("run_nope")
    assert not_found.value.code == "not_found"
    task = client.run_tasks("run_onb_003")[2]
    with pytest.raises(ApiValidationError) as invalid:
        client.patch_task("run_onb_003", task.id, elements={"el_onb_dept": "Enginering"})
    assert "Must be one of: Engineering" in invalid.value.server_message
    done = client.run_tasks("run_onb_001")[0]
    with pytest.raises(ConflictError) as locked:
        client.patch_task("run_onb_001", done.id, completed=False)
    assert locked.value.code == "run_completed"


def test_no_key_at_all_is_a_config_error():
    with pytest.raises(ConfigError, match="NEXTSTEP_API_KEY"):
        NextStepClient("")


@pytest.mark.parametrize("url", ["getnextstep.io/api/v1", "ftp://x/api", "https://"])
def test_a_base_url_that_is_not_http_is_a_config_error(url):
    with pytest.raises(ConfigError, match="--base-url"):
        NextStepClient("k", url)


class _NeverCalled(httpx.BaseTransport):
    """A transport that fails the test if anything is ever sent through it."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        pytest.fail(f"a request was sent: {request.method} {request.url}")


@pytest.mark.parametrize(
    "url",
    [
        "http://nextstep.example.com/api/v1",
        "HTTP://10.0.0.1/api/v1",
        "http://127.0.0.1.example.com/api/v1",
        "http://[::ffff:10.0.0.1]/api/v1",
    ],
)
def test_plain_http_to_another_host_is_refused_before_anything_is_sent(url):
    connection = Connection.resolve(api_key="nxs_live_k", base_url=url, environ={})
    with pytest.raises(ConfigError, match="--allow-insecure-http") as caught:
        connection.client(transport=_NeverCalled())
    assert "in clear" in str(caught.value)
    assert "nxs_live_k" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765/api/v1",
        "http://127.9.8.7/api/v1",
        "http://[::1]:8765/api/v1",
        "http://localhost:8765/api/v1",
        "http://LocalHost/api/v1",
        "https://nextstep.example.com/api/v1",
    ],
)
def test_plain_http_to_this_machine_or_https_anywhere_is_fine(url):
    NextStepClient("k", url, transport=_NeverCalled()).close()


def test_plain_http_elsewhere_when_allowed():
    url = "http://nextstep.example.com/api/v1"
    NextStepClient("k", url, allow_insecure_http=True, transport=_NeverCalled()).close()


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://127.0.0.1:8765/api/v1", "127.0.0.1:8765"),
        ("http://127.0.0.1:08765/api/v1/", "127.0.0.1:8765"),
        ("https://LocalHost.:8765/api/v1", "localhost:8765"),
        ("https://API.GetNextStep.io:443/api/v1", "api.getnextstep.io"),
        ("https://api.getnextstep.io:0443/api/v1", "api.getnextstep.io"),
        ("https://api.getnextstep.io:80/api/v1", "api.getnextstep.io:80"),
        ("http://[0:0::1]:8765/api/v1", "[::1]:8765"),
        ("https://bücher.example/api/v1", "xn--bcher-kva.example"),
    ],
)
def test_the_host_is_one_text_however_the_base_url_spells_it(url, host):
    with NextStepClient("k", url, transport=_NeverCalled()) as client:
        assert client.host == host


def test_a_base_url_with_a_user_name_is_a_config_error():
    # httpx would log in with it (HTTP Basic) in place of the Bearer key
    with pytest.raises(ConfigError, match="user name") as caught:
        NextStepClient("k", "https://me:hunter2@api.getnextstep.io/api/v1")
    assert "hunter2" not in str(caught.value)
    assert "--base-url https://api.getnextstep.io/api/v1," in str(caught.value)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_host_is_a_transport_error_after_retries():
    url = f"http://127.0.0.1:{_free_port()}/api/v1"
    with (
        NextStepClient("k", url, max_retries=5, **FAST) as client,
        pytest.raises(TransportError) as caught,
    ):
        client.list_templates()
    assert url in str(caught.value)
    assert client.stats.retries == 2


def test_a_write_that_never_connected_is_a_transport_error_not_unknown():
    url = f"http://127.0.0.1:{_free_port()}/api/v1"
    with NextStepClient("k", url) as client, pytest.raises(TransportError):
        client.patch_task("r", "t", completed=True)
    assert client.stats.sent("PATCH") == 1


@pytest.mark.parametrize(
    ("status", "body", "content_type", "expected"),
    [
        (200, b"<!doctype html><title>Login</title>", "text/html", "is not JSON"),
        (502, b"<html>Bad gateway</html>", "text/html", "is not JSON"),
        (200, b'{"data": [{"id": "tpl_1", "tit', "application/json", "is not JSON"),
        (200, b'{"items": []}', "application/json", 'no "data" list'),
        (
            200,
            b'{"data": [{"id": "t", "is_published": "yes"}]}',
            "application/json",
            "is_published is not a boolean",
        ),
        (404, b'{"detail": "Not Found"}', "application/json", 'without an "error" object'),
    ],
)
def test_answers_that_are_not_the_documented_json_are_response_errors(
    status, body, content_type, expected
):
    with (
        CannedServer(status, body, content_type) as server,
        NextStepClient("k", server.base_url, max_retries=1, **FAST) as client,
        pytest.raises(ResponseError) as caught,
    ):
        client.list_templates()
    assert expected in str(caught.value)
    assert "--base-url" in str(caught.value)


def test_the_key_is_sent_only_as_a_bearer_header():
    with CannedServer(200, b'{"data": [], "pagination": {"has_more": false}}') as server:
        with NextStepClient("nxs_live_k3y", server.base_url) as client:
            client.list_runs(status="active")
        _, path, headers = server.requests[0]
    assert headers["Authorization"] == "Bearer nxs_live_k3y"
    assert "k3y" not in path
    assert "limit=100" in path
    assert "status=active" in path


def test_request_logs_redact_the_key(sandbox, caplog):
    caplog.set_level(logging.DEBUG, logger="bulksync.http")
    with sandbox_client(sandbox) as client:
        client.list_templates()
    text = caplog.text
    assert "GET /process-templates" in text
    assert "Bearer [redacted]" in text
    assert "nxs_live_sandbox" not in text


# -- retries and unknown outcomes -----------------------------------------------------------


def test_gets_survive_injected_500s_and_drops(make_sandbox):
    calm = make_sandbox()
    stormy = make_sandbox(fail_rate=0.25, drop_rate=0.1, fault_seed=11)
    with sandbox_client(calm) as good, sandbox_client(stormy, max_retries=8, **FAST) as client:
        expected = [(r.id, r.title) for r in good.list_runs()]
        assert [(r.id, r.title) for r in client.list_runs()] == expected
        for run_id, _ in expected[:10]:
            assert client.run_tasks(run_id) == good.run_tasks(run_id)
    assert client.stats.retries > 0
    assert stormy.stats.count("GET", 500) + stormy.stats.dropped == client.stats.retries


def test_a_get_that_keeps_failing_gives_the_server_error(make_sandbox):
    from bulksync import ServerError

    sandbox = make_sandbox(fail_rate=1.0, fault_seed=1)
    with sandbox_client(sandbox, max_retries=3, **FAST) as client, pytest.raises(ServerError):
        client.list_templates()
    assert sandbox.stats.total("GET") == 4


def test_the_retry_budget_stops_a_storm_of_retries(make_sandbox):
    sandbox = make_sandbox(fail_rate=1.0, fault_seed=1)
    with sandbox_client(sandbox, max_retries=5, min_retries=3, retry_ratio=0.0, **FAST) as client:
        for _ in range(3):
            with pytest.raises(Exception):  # noqa: B017, PT011 - ServerError, checked above
                client.list_templates()
    assert client.stats.retries == 3
    assert sandbox.stats.total("GET") == 6


def test_a_patch_with_an_unknown_outcome_is_never_resent(make_sandbox):
    sandbox = make_sandbox(fail_rate=0.3, drop_rate=0.2, fault_seed=5)
    unknown = 0
    with sandbox_client(sandbox, max_retries=8, **FAST) as client:
        tasks = [t for t in client.run_tasks("run_onb_003") if t.element("el_onb_phone") is None]
        for i in range(30):
            task = tasks[i % len(tasks)]
            try:
                client.patch_task("run_onb_003", task.id, assignee=f"p{i}@example.com")
            except OutcomeUnknownError as exc:
                unknown += 1
                assert exc.method == "PATCH"
                assert "Re-read" in str(exc)
        sent = client.stats.sent("PATCH")
    assert unknown > 0
    assert sent == 30
    assert sandbox.stats.total("PATCH") == 30


# -- pacing ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("over_http", [False, True])
def test_no_429_when_client_and_sandbox_share_a_limit(make_sandbox, serve, over_http):
    sandbox = make_sandbox(rate_limit=8, window=1.0, latency_ms=20)
    kwargs = {"rate_limit": 8, "window": 1.0, "max_in_flight": 4}
    if over_http:
        client = NextStepClient("nxs_live_sandbox", serve(sandbox), **kwargs)
    else:
        client = sandbox_client(sandbox, **kwargs)
    runs = [r.id for r in client.list_runs()]
    with client:
        results = list(client.map(client.run_tasks, runs[:20]))
    assert len(results) == 20
    assert sandbox.stats.count("GET", 429) == 0
    assert client.stats.rate_limited == 0
    assert sandbox.stats.total("GET") == 21


@pytest.mark.slow
def test_finishes_without_failure_when_the_sandbox_limit_is_lower(make_sandbox, serve):
    sandbox = make_sandbox(rate_limit=4, window=1.0)
    with NextStepClient(
        "nxs_live_sandbox", serve(sandbox), rate_limit=10, window=1.0, max_in_flight=3
    ) as client:
        runs = [r.id for r in client.list_runs()]
        results = list(client.map(client.run_tasks, runs[:12]))
    assert all(results)
    assert client.stats.rate_limited > 0
    assert sandbox.stats.count("GET", 429) == client.stats.rate_limited


def test_map_keeps_order_with_several_in_flight(client):
    runs = [r.id for r in client.list_runs()][:8]
    assert [tasks[0].run_id for tasks in client.map(client.run_tasks, runs)] == runs


@settings(max_examples=25, deadline=None)
@given(page_size=st.integers(1, 100))
def test_any_page_size_reads_every_run_once(tmp_path_factory, page_size):
    state = tmp_path_factory.getbasetemp() / "pages.db"
    sandbox = open_sandbox(state)
    try:
        expected = [r["id"] for r in sandbox.store.runs()]
        with sandbox_client(sandbox, page_size=page_size) as client:
            assert [r.id for r in client.list_runs()] == expected
        assert client.stats.sent("GET") == max(1, -(-len(expected) // page_size))
    finally:
        sandbox.store.close()


# -- pagination that never ends -------------------------------------------------------------


def _endless_pages(cycle: int | None = None):
    """A server whose every page has one run and says has_more, with a new cursor (or,
    with ``cycle``, cursors that come round again after ``cycle`` pages)."""
    served = []

    def respond(method, path, headers):
        served.append(path)
        n = len(served) if cycle is None else len(served) % cycle
        run = {"id": f"run_{len(served)}", "template_id": "tpl", "title": "x", "status": "active"}
        page = {"data": [run], "pagination": {"has_more": True, "next_cursor": f"c{n}"}}
        return 200, {}, json.dumps(page).encode()

    return respond


def test_pagination_that_never_ends_stops_at_the_page_limit():
    with (
        ScriptedServer(_endless_pages()) as server,
        NextStepClient("k", server.base_url, max_pages=5) as client,
        pytest.raises(ResponseError) as caught,
    ):
        client.list_runs()
    assert len(server.requests) == 5
    assert "GET /process-runs" in str(caught.value)
    assert "5 pages" in str(caught.value)
    assert "--base-url" in str(caught.value)


def test_pagination_that_runs_in_a_circle_stops_at_the_first_repeat():
    with (
        ScriptedServer(_endless_pages(cycle=3)) as server,
        NextStepClient("k", server.base_url) as client,
        pytest.raises(ResponseError, match="'c1' a second time"),
    ):
        client.list_runs()
    assert len(server.requests) == 4


# -- Retry-After ----------------------------------------------------------------------------


class _FakeTime:
    """A monotonic clock, a wall clock and a sleep that only moves them on."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.wall = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    def wall_clock(self) -> float:
        return self.wall

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.wall += seconds
        self.slept += seconds


def _rate_limited_once(retry_after: str):
    """Answers 429 with this Retry-After to the first request, an empty list after."""
    answered = []

    def respond(method, path, headers):
        answered.append(path)
        if len(answered) == 1:
            body = {"error": {"code": "rate_limited", "message": "Rate limit exceeded"}}
            return 429, {"Retry-After": retry_after}, json.dumps(body).encode()
        return 200, {}, b'{"data": [], "pagination": {"has_more": false}}'

    return respond


def _client(server, fake: _FakeTime, **kwargs) -> NextStepClient:
    return NextStepClient(
        "k",
        server.base_url,
        clock=fake.clock,
        sleep=fake.sleep,
        wall_clock=fake.wall_clock,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("retry_after", "waited"),
    [
        ("120", 120.0),
        ("Mon, 21 Sep 2026 14:14:50 GMT", 90.0),  # an HTTP date, 90 s after the wall clock
        ("Mon, 21 Sep 2026 14:00:00 GMT", 0.0),  # a date gone by: go at once
        ("soon", 60.0),  # garbage: one whole window
        ("nan", 60.0),
        ("-5", 60.0),
    ],
)
def test_retry_after_is_waited_out_and_said_on_a_warning(caplog, retry_after, waited):
    fake = _FakeTime()
    caplog.set_level(logging.WARNING, logger="bulksync.http")
    with (
        ScriptedServer(_rate_limited_once(retry_after)) as server,
        _client(server, fake) as client,
    ):
        assert client.list_runs() == []
    assert len(server.requests) == 2
    assert fake.slept == pytest.approx(waited, abs=0.01)
    if waited >= 60:
        assert f"waiting {waited:.0f} s, until " in caplog.text
        assert "GET /process-runs" in caplog.text


@pytest.mark.parametrize(
    "retry_after",
    ["3600", "1e308", "inf", "Mon, 21 Sep 2026 15:13:20 GMT", "Fri, 31 Dec 9999 23:59:59 GMT"],
)
def test_a_retry_after_past_the_cap_gives_up_at_once(retry_after):
    fake = _FakeTime()
    with (
        ScriptedServer(_rate_limited_once(retry_after)) as server,
        _client(server, fake, max_retry_after=300) as client,
        pytest.raises(RateLimitedError) as caught,
    ):
        client.list_runs()
    assert len(server.requests) == 1
    assert fake.slept == 0
    message = str(caught.value)
    assert "--max-retry-after" in message
    assert "300 s" in message
    assert retry_after[:20] in message


def test_the_cap_is_the_clients_to_set():
    fake = _FakeTime()
    with (
        ScriptedServer(_rate_limited_once("3600")) as server,
        _client(server, fake, max_retry_after=7200) as client,
    ):
        client.list_runs()
    assert fake.slept == pytest.approx(3600)

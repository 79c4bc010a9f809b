"""The CLI against servers that misbehave: they echo the key, page forever, ask for an
hour's wait, or hold titles made of terminal escape sequences. Over loopback HTTP."""

from __future__ import annotations

import csv
import datetime as dt
import html
import json
import os
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest
from click.testing import CliRunner

from bulksync.cli import cli
from bulksync.errors import ExitCode
from bulksync.sandbox import DEFAULT_STATE, open_sandbox
from tests.badserver import RewritingProxy, ScriptedServer
from tests.test_cli_apply import exported_and_edited, run_dirs

KEY = "nxs_live_s3cr3tHostile"


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Invoke the CLI in an empty directory, without a key or URL in the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEXTSTEP_API_KEY", raising=False)
    monkeypatch.delenv("NEXTSTEP_BASE_URL", raising=False)

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


def envelope(status: int, code: str, message: str, **headers: str):
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return status, headers, body


def echo_header(code: str, status: int):
    """An answer whose message quotes the request's Authorization header back."""

    def respond(method: str, path: str, headers: dict[str, str]):
        auth = headers.get("Authorization", "")
        message = (
            f"Bad header Authorization: {auth} (expected Bearer nxs_live_0therKey, not {auth[7:]})"
        )
        return envelope(status, code, message)

    return respond


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert KEY not in text
        assert "nxs_live_0therKey" not in text


# -- 9: the key echoed back by the server --------------------------------------------------


def test_a_401_that_echoes_the_key_prints_it_redacted(run):
    with ScriptedServer(echo_header("unauthorized", 401)) as server:
        result = run("--api-key", KEY, "--base-url", server.base_url, "list", "runs")
    assert result.exit_code == ExitCode.AUTH
    assert result.stderr.startswith("Error: NextStep refused the API key")
    assert "Bearer [redacted]" in result.stderr
    assert_no_secret(result.stdout, result.stderr)


def test_a_400_on_patch_that_echoes_the_key_is_stored_redacted(http, tmp_path, monkeypatch):
    bulk, _ = http(api_key=KEY)
    exported_and_edited(bulk, tmp_path)

    def refuse_patches(method: str, path: str, headers: dict[str, str]):
        if method != "PATCH":
            return None
        return echo_header("validation_error", 400)(method, path, headers)

    with RewritingProxy(os.environ["NEXTSTEP_BASE_URL"], intercept=refuse_patches) as proxy:
        monkeypatch.setenv("NEXTSTEP_BASE_URL", proxy.base_url)
        result = bulk("import", "onb.xlsx", "--yes", "--force", "-vvv")
    assert result.exit_code == ExitCode.FAILED, result.output
    [run_dir] = run_dirs(tmp_path)
    files = {name: (run_dir / name).read_text(encoding="utf-8-sig") for name in os.listdir(run_dir)}
    assert {"journal.jsonl", "results.csv", "errors.csv"} <= set(files)
    assert "Bad header Authorization: Bearer [redacted]" in files["results.csv"]
    assert "Bearer [redacted]" in result.stderr
    assert_no_secret(result.stdout, result.stderr, *files.values())
    assert_no_secret(*(p.read_text(errors="replace") for p in Path(tmp_path).glob("*.*sv")))


# -- 10: plain http to a host that is not this machine -------------------------------------


@pytest.fixture
def no_network(monkeypatch):
    """httpx's own transport records what would have gone out, and sends nothing."""
    attempts: list[str] = []

    def refuse(self, request):
        attempts.append(str(request.url))
        raise httpx.ConnectError("the test allows no connection", request=request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", refuse)
    return attempts


def test_plain_http_to_another_host_is_refused_before_any_connection(run, no_network):
    url = "http://nextstep.example.com/api/v1"
    result = run("--api-key", KEY, "--base-url", url, "list", "runs")
    assert result.exit_code == ExitCode.CONFIG
    assert no_network == []
    assert result.stderr.count("\n") == 1
    assert "in clear" in result.stderr
    assert "https://" in result.stderr and "--allow-insecure-http" in result.stderr
    assert_no_secret(result.output)


@pytest.mark.parametrize("where", ["before", "after"])
def test_allow_insecure_http_lets_it_through_before_or_after_the_command(run, no_network, where):
    url = "http://nextstep.example.com/api/v1"
    args = ["--api-key", KEY, "--base-url", url, "list", "runs"]
    args.insert(0 if where == "before" else len(args), "--allow-insecure-http")
    result = run(*args)
    assert result.exit_code == ExitCode.NETWORK
    assert no_network[0].startswith(url + "/process-runs")


def test_a_base_url_with_a_user_name_is_refused_before_any_connection(run, no_network):
    # httpx would send the user name as Basic auth, in place of the Bearer key.
    url = "http://someone:pa55word@127.0.0.1:9/api/v1"
    result = run("--api-key", KEY, "--base-url", url, "list", "runs")
    assert result.exit_code == ExitCode.CONFIG, result.output
    assert no_network == []
    assert "user name" in result.stderr and "http://127.0.0.1:9/api/v1" in result.stderr
    assert "pa55word" not in result.output
    assert_no_secret(result.output)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://127.0.0.1:abc/api/v1", "port"),
        ("http://127.0.0.1:70000/api/v1", "port"),
        ("http://[::1/api/v1", "no closing ]"),
        ("http://:8765/api/v1", "no host"),
        ("http://x\t@127.0.0.1:8765/api/v1", "tab"),
        ("http://127.0.0.1:8765/api\n/v1", "line break"),
        ("http://127.0.0.1:8765/a pi/v1", "space"),
    ],
)
def test_a_base_url_that_is_not_a_url_is_refused_before_any_connection(run, no_network, url, said):
    result = run("--api-key", KEY, "--base-url", url, "list", "runs")
    assert result.exit_code == ExitCode.CONFIG, result.output
    assert "Internal error" not in result.stderr
    assert said in result.stderr and "--base-url" in result.stderr
    assert result.stderr.count("\n") == 1
    assert no_network == []


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("nxs_live_s\u00e9cret", "character 11 is a letter or sign that is not ASCII"),
        ("nxs_live_secret\u00a0x", "character 16 is a space that is not ASCII"),
        ("nxs_live_sec\nret", "character 13 is a line break"),
        ("nxs_live_sec\u200bret", "character 13 is an invisible"),
    ],
)
def test_an_api_key_no_http_header_can_carry_is_refused_before_any_connection(
    run, no_network, monkeypatch, key, said
):
    monkeypatch.setenv("NEXTSTEP_API_KEY", key)
    result = run("--base-url", "http://127.0.0.1:9/api/v1", "list", "runs")
    assert result.exit_code == ExitCode.CONFIG, result.output
    assert said in result.stderr and "paste it again" in result.stderr
    assert "sec" not in result.output
    assert no_network == []


# -- 14: pagination that never ends --------------------------------------------------------


def test_list_stops_on_pages_that_run_in_a_circle(run):
    def respond(method, path, headers):
        cursor = "a" if "cursor=a" not in path else "b"
        page = {"data": [], "pagination": {"has_more": True, "next_cursor": cursor}}
        return 200, {}, json.dumps(page).encode()

    with ScriptedServer(respond) as server:
        result = run("--api-key", KEY, "--base-url", server.base_url, "list", "runs")
    assert result.exit_code == ExitCode.API
    assert result.stderr.startswith("Error: NextStep's answer to GET /process-runs")
    assert "a second time" in result.stderr
    assert result.stderr.count("\n") == 1
    assert len(server.requests) == 3


# -- the key echoed back where a plain search does not find it ----------------------------

SECRET = "Q7vK2pX9mZ4tR8wLb3"


def assert_no_part_of(secret: str, text: str, size: int = 5) -> None:
    parts = {secret[i : i + size] for i in range(len(secret) - size + 1)}
    assert [p for p in parts if p in text] == [], text


def test_a_page_that_is_not_json_shows_no_part_of_a_key_it_echoes(run):
    # the key starts just before the 60 characters quoted of a page that is not JSON
    def respond(method, path, headers):
        body = "<html><body><p>Invalid request. token=" + headers["Authorization"][7:]
        return 502, {"Content-Type": "text/html"}, body.encode()

    with ScriptedServer(respond) as server:
        result = run(
            "--api-key", f"nxs_live_{SECRET}", "--base-url", server.base_url, "list", "runs"
        )
    assert result.exit_code == ExitCode.API, result.output
    assert "is not JSON: it starts '<html><body><p>Invalid request. token=[redacted]'" in (
        result.stderr
    )
    assert_no_part_of(SECRET, result.output)


def test_pages_in_a_circle_show_no_part_of_a_key_in_their_cursor(run):
    def respond(method, path, headers):
        cursor = "session-" * 3 + headers["Authorization"][7:] + "-" + "x" * 40
        page = {"data": [], "pagination": {"has_more": True, "next_cursor": cursor}}
        return 200, {}, json.dumps(page).encode()

    with ScriptedServer(respond) as server:
        result = run(
            "--api-key", f"nxs_live_{SECRET}", "--base-url", server.base_url, "list", "runs"
        )
    assert result.exit_code == ExitCode.API, result.output
    assert "'session-session-session-[redacted]-xxx" in result.stderr
    assert_no_part_of(SECRET, result.output)


ENCODINGS = {
    "quote": lambda key: quote(key, safe=""),
    "quote, lowercase hex": lambda key: quote(key, safe="").lower(),
    "quote_plus": quote_plus,
    "html": html.escape,
    "json": lambda key: json.dumps(key)[1:-1],
    "json, slash escaped": lambda key: json.dumps(key)[1:-1].replace("/", "\\/"),
}


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_key_echoed_encoded_is_redacted(run, encoding):
    key = 'nxs_live_Zq9+W7x/Lm4=T b&<"\\Tb'
    echoed = ENCODINGS[encoding](key)
    assert echoed != key

    def respond(method, path, headers):
        return envelope(400, "bad_request", f"rejected ?api_key={echoed}!")

    with ScriptedServer(respond) as server:
        result = run("--api-key", key, "--base-url", server.base_url, "list", "runs")
    assert result.exit_code == ExitCode.API, result.output
    assert "rejected ?api_key=[redacted]!" in result.stderr
    assert_no_part_of(echoed[9:], result.output, size=6)


# -- 16: a Retry-After of an hour ------------------------------------------------------------


def rate_limited(retry_after: str):
    def respond(method, path, headers):
        return envelope(429, "rate_limited", "Rate limit exceeded", **{"Retry-After": retry_after})

    return respond


@pytest.mark.parametrize(
    "retry_after",
    ["3600", format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), usegmt=True)],
)
def test_a_retry_after_of_an_hour_gives_up_with_a_clear_error(run, retry_after):
    with ScriptedServer(rate_limited(retry_after)) as server:
        result = run("--api-key", KEY, "--base-url", server.base_url, "list", "runs")
    assert result.exit_code == ExitCode.API
    assert len(server.requests) == 1
    assert result.stderr.count("\n") == 1
    assert "GET /process-runs" in result.stderr
    assert "until" in result.stderr
    assert "longer than the 300 s" in result.stderr
    assert "--max-retry-after" in result.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_max_retry_after_sets_the_cap_before_or_after_the_command(run, where):
    args = ["--api-key", KEY, "list", "runs"]
    args[len(args) if where == "after" else 0 : 0] = ["--max-retry-after", "20"]
    with ScriptedServer(rate_limited("30")) as server:
        result = run("--base-url", server.base_url, *args)
    assert result.exit_code == ExitCode.API
    assert "longer than the 20 s" in result.stderr
    assert len(server.requests) == 1


def test_max_retry_after_refuses_a_negative_number(run):
    result = run("--sandbox", "list", "runs", "--max-retry-after", "-1")
    assert result.exit_code == ExitCode.USAGE
    assert "--max-retry-after" in result.stderr


# -- 12: control sequences in titles, values and messages ----------------------------------

HOSTILE = "Evil \x1b]0;pwned\x07 \x1b[2J\x9b31m\u202egnp.exe\x7f\rX"
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\x7f", "\r")


def assert_escaped(text: str) -> None:
    assert not any(c in text for c in RAW), repr(text)
    assert "\\x1b]0;pwned\\x07" in text
    assert "\\x1b[2J\\x9b31m\\u202egnp.exe\\x7f" in text


def retitle(tmp_path: Path, run_id: str, title: str) -> None:
    sandbox = open_sandbox(tmp_path / DEFAULT_STATE)
    try:
        doc = sandbox.store.run(run_id)
        sandbox.store.save_run({**doc, "title": title})
    finally:
        sandbox.store.close()


def test_list_escapes_control_sequences_but_json_keeps_the_title(run, tmp_path):
    assert run("--sandbox", "list", "templates").exit_code == 0  # seeds the sandbox
    retitle(tmp_path, "run_onb_011", HOSTILE)
    result = run("--sandbox", "list", "runs")
    assert result.exit_code == 0
    assert_escaped(result.stdout)
    lines = result.stdout.splitlines()
    title_column = lines[0].index("TITLE")
    [line] = [line for line in lines if "run_onb_011" in line]
    assert line[title_column:].startswith("Evil \\x1b]0;pwned")
    runs = json.loads(run("--sandbox", "list", "runs", "--json").stdout)
    assert {r["id"]: r["title"] for r in runs}["run_onb_011"] == HOSTILE


def test_a_server_error_message_is_escaped_on_one_line(run):
    with ScriptedServer(lambda *_: envelope(404, "not_found", HOSTILE)) as server:
        result = run("--api-key", KEY, "--base-url", server.base_url, "list", "runs")
    assert result.exit_code == ExitCode.API
    assert result.stderr.count("\n") == 1
    assert_escaped(result.stderr)


def test_the_dry_run_report_escapes_a_sheet_value(run, tmp_path):
    assert run("--sandbox", "export", "run_onb_011", "-o", "one.csv").exit_code == 0
    path = tmp_path / "one.csv"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    value, field = rows[0].index("Value"), rows[0].index("field_id")
    [row] = [r for r in rows[1:] if r[field] == "el_onb_pronouns"]
    row[value] = HOSTILE.replace("\r", "")  # a CSV reader would take \r for a line end
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(rows)
    result = run("--sandbox", "import", "one.csv", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "1 to change" in result.stdout
    assert "\\x1b]0;pwned\\x07" in result.stdout
    assert not any(c in result.stdout for c in RAW)


def test_the_apply_summary_escapes_what_the_server_said(http, tmp_path, monkeypatch):
    bulk, _ = http()
    exported_and_edited(bulk, tmp_path)

    def refuse_patches(method: str, path: str, headers: dict[str, str]):
        return envelope(400, "validation_error", HOSTILE) if method == "PATCH" else None

    with RewritingProxy(os.environ["NEXTSTEP_BASE_URL"], intercept=refuse_patches) as proxy:
        monkeypatch.setenv("NEXTSTEP_BASE_URL", proxy.base_url)
        result = bulk("import", "onb.xlsx", "--yes", "--force")
    assert result.exit_code == ExitCode.FAILED, result.output
    assert "NextStep refused the request" in result.stderr
    assert_escaped(result.stderr)
    assert not any(c in result.stdout for c in RAW)
    # files keep the text as the server sent it
    [run_dir] = run_dirs(tmp_path)
    assert "\x1b]0;pwned" in (run_dir / "results.csv").read_text(encoding="utf-8-sig")

"""Fixtures: a fresh sandbox per test, reached in process or over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from bulksync.cli import cli
from bulksync.sandbox import SANDBOX_API_KEY, Sandbox, SandboxConfig, open_sandbox, sandbox_client
from bulksync.sandbox.server import ServerThread
from bulksync.sandbox.transport import SandboxTransport

AUTH = {"Authorization": f"Bearer {SANDBOX_API_KEY}"}


@pytest.fixture
def make_sandbox(tmp_path: Path) -> Iterator[object]:
    """Open a fresh, seeded sandbox with the given knobs."""
    opened: list[Sandbox] = []

    def make(**knobs: object) -> Sandbox:
        state = tmp_path / f"sandbox{len(opened)}.db"
        sandbox = open_sandbox(state, config=SandboxConfig(**knobs))  # type: ignore[arg-type]
        opened.append(sandbox)
        return sandbox

    yield make
    for sandbox in opened:
        sandbox.store.close()


@pytest.fixture
def sandbox(make_sandbox) -> Sandbox:
    return make_sandbox()


@pytest.fixture
def client(sandbox):
    with sandbox_client(sandbox) as client:
        yield client


@pytest.fixture
def serve():
    """Serve a sandbox over loopback HTTP; returns its base URL."""
    threads: list[ServerThread] = []

    def start(sandbox: Sandbox) -> str:
        thread = ServerThread(sandbox)
        threads.append(thread)
        return thread.start()

    yield start
    for thread in threads:
        thread.stop()


@pytest.fixture(params=["in-process", "http"])
def api(request, sandbox, serve) -> Iterator[httpx.Client]:
    """A raw HTTP client of the sandbox, in process and over loopback HTTP."""
    if request.param == "http":
        base = serve(sandbox)
        client = httpx.Client(base_url=base + "/", headers=AUTH)
    else:
        client = httpx.Client(
            base_url="http://sandbox.invalid/api/v1/",
            headers=AUTH,
            transport=SandboxTransport(sandbox),
        )
    with client:
        yield client


@pytest.fixture
def http(tmp_path, monkeypatch, make_sandbox, serve):
    """Run the CLI against a fresh sandbox served over HTTP; returns (invoke, sandbox)."""
    monkeypatch.chdir(tmp_path)

    def start(**knobs):
        sandbox = make_sandbox(**knobs)
        monkeypatch.setenv("NEXTSTEP_API_KEY", sandbox.config.api_key)
        monkeypatch.setenv("NEXTSTEP_BASE_URL", serve(sandbox))

        def invoke(*args: str):
            return CliRunner().invoke(cli, list(args), catch_exceptions=False)

        return invoke, sandbox

    return start


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden files under tests/fixtures/ from what the code produces now",
    )


# The application tests' fixtures (tests/apps.py): the session's LibreOffice, and the CLI
# against a sandbox in tmp_path (a module's own ``bulk`` fixture takes precedence).
from tests.apps import bulk, libreoffice  # noqa: E402, F401

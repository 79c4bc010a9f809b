"""The sandbox: NextStep's API emulated over SQLite, in process or over HTTP.

``open_sandbox`` opens (and on first use seeds) a state file and gives clients that
talk to it in process. ``bulksync sandbox serve`` serves the same thing over HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from bulksync.client import NextStepClient
from bulksync.defaults import DEFAULT_STATE
from bulksync.errors import ConfigError
from bulksync.sandbox.app import SANDBOX_API_KEY, Sandbox, SandboxConfig, SandboxStats
from bulksync.sandbox.seed import default_seed_dir, seed
from bulksync.sandbox.store import Store
from bulksync.sandbox.transport import SandboxTransport

IN_PROCESS_BASE_URL: Final = "http://sandbox.invalid/api/v1"
"""The base URL of the in-process sandbox (``.invalid`` can never be a real host)."""

__all__ = [
    "DEFAULT_STATE",
    "IN_PROCESS_BASE_URL",
    "SANDBOX_API_KEY",
    "Sandbox",
    "SandboxConfig",
    "SandboxStats",
    "Store",
    "open_sandbox",
    "reset_sandbox",
]


def open_sandbox(
    state: str | Path = DEFAULT_STATE,
    *,
    seed_dir: Path | None = None,
    config: SandboxConfig | None = None,
    **sandbox_kwargs: Any,
) -> Sandbox:
    """The sandbox kept in ``state``, seeded from ``seed_dir`` (or sample_data/) if new.

    ``seed_dir`` for a state file that already holds a sandbox is an error: seeding
    again would replace what is there (use ``reset_sandbox``).
    """
    store = Store(state)
    if store.is_empty():
        seed(store, seed_dir)
    elif seed_dir is not None:
        seeded_from = store.get_meta("seed")
        if seeded_from is None or Path(seeded_from).resolve() != Path(seed_dir).resolve():
            store.close()
            raise ConfigError(
                f"{state} already holds a sandbox (seeded from {seeded_from}); "
                f"`bulksync sandbox reset --state {state} --seed {seed_dir}` replaces it."
            )
    return Sandbox(store, config, **sandbox_kwargs)


def reset_sandbox(state: str | Path = DEFAULT_STATE, *, seed_dir: Path | None = None) -> None:
    """Throw away the sandbox's state and seed it afresh."""
    store = Store(state)
    try:
        store.clear()
        seed(store, seed_dir or default_seed_dir())
    finally:
        store.close()


def sandbox_client(sandbox: Sandbox, **client_kwargs: Any) -> NextStepClient:
    """A client of the in-process sandbox (no port, no socket)."""
    client_kwargs.setdefault("rate_limit", sandbox.config.rate_limit)
    client_kwargs.setdefault("window", sandbox.config.window)
    # In process: nothing crosses a network, whatever the base URL says.
    client_kwargs.setdefault("allow_insecure_http", True)
    return NextStepClient(
        client_kwargs.pop("api_key", sandbox.config.api_key),
        client_kwargs.pop("base_url", IN_PROCESS_BASE_URL),
        transport=SandboxTransport(sandbox),
        **client_kwargs,
    )

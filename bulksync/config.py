"""Where bulksync connects: the real NextStep or the sandbox, and with which key.

The key comes from the caller (``--api-key``) or the environment (``NEXTSTEP_API_KEY``)
and goes nowhere but the ``Authorization`` header. ``repr`` hides it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulksync.baseurl import DEFAULT_BASE_URL
from bulksync.client import NextStepClient
from bulksync.defaults import API_KEY_ENV, BASE_URL_ENV

__all__ = ["API_KEY_ENV", "BASE_URL_ENV", "Connection"]


@dataclass(frozen=True)
class Connection:
    """How to reach NextStep: a base URL and key, or the in-process sandbox."""

    api_key: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    sandbox: bool = False
    sandbox_state: Path | None = None
    """The sandbox's state file; None is its default (``bulksync.sandbox.DEFAULT_STATE``)."""

    @classmethod
    def resolve(
        cls,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        sandbox: bool = False,
        sandbox_state: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Connection:
        """Options first, then the environment, then the defaults."""
        env = os.environ if environ is None else environ
        return cls(
            api_key=api_key or env.get(API_KEY_ENV) or None,
            base_url=base_url or env.get(BASE_URL_ENV) or DEFAULT_BASE_URL,
            sandbox=sandbox,
            sandbox_state=sandbox_state or None,
        )

    def client(self, **client_kwargs: Any) -> NextStepClient:
        """A client for this connection; the in-process sandbox is opened (and seeded) here."""
        if self.sandbox:
            # Imported here: the emulator is loaded only when the sandbox is asked for.
            from bulksync.sandbox import DEFAULT_STATE, open_sandbox, sandbox_client

            sandbox = open_sandbox(self.sandbox_state or DEFAULT_STATE)
            if self.api_key:
                client_kwargs["api_key"] = self.api_key
            return sandbox_client(sandbox, **client_kwargs)
        return NextStepClient(self.api_key or "", self.base_url, **client_kwargs)

"""``Connection``: where bulksync connects, and that naming it loads nothing it does not use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bulksync.config import Connection
from bulksync.sandbox import DEFAULT_STATE


def test_importing_the_config_does_not_load_the_emulator():
    probe = (
        "import sys, bulksync.config; "
        "print(sorted(m for m in sys.modules if m.startswith('bulksync.sandbox')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_sandbox_is_opened_when_a_client_is_asked_for(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    connection = Connection.resolve(sandbox=True, environ={})
    assert not (tmp_path / DEFAULT_STATE).exists()
    with connection.client() as client:
        assert client.get_run("run_onb_003").id == "run_onb_003"
    assert (tmp_path / DEFAULT_STATE).exists()
    chosen = tmp_path / "other.db"
    with Connection.resolve(sandbox=True, sandbox_state=chosen, environ={}).client() as client:
        assert client.list_templates()
    assert chosen.exists()

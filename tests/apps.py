"""The real applications people edit exports with, driven from tests (issue 11).

- **LibreOffice** through UNO: one headless ``soffice`` per test session, listening on
  loopback only, with a profile of its own, killed at the end (``libreoffice`` fixture);
  ``tests/uno_driver.py``, run by the system interpreter that has the UNO bridge, types
  into cells, sorts, filters and saves (``LibreOffice.edit``). PDF goes through
  ``soffice --convert-to pdf`` in a process of its own, as a person printing does, so a
  crash shows as a crash and does not take the session down.
- **Gnumeric**: ``ssconvert`` re-saves a file (``gnumeric_resave``).
- **pandas**: a script's ``read_excel`` of every sheet and ``to_excel`` back
  (``pandas_resave``).

Policy: a test needing an application that is missing *skips*, with the reason shown in
the summary (``-ra``); in CI (``CI`` set, as ``.ci/run`` runs) it *fails*, since there a
missing application means the apps were not installed and nothing was tested.
Every call to an application is bounded by a timeout.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bulksync.cli import cli

ONB = "run_onb_011"  # an active onboarding run: Noah Müller


@pytest.fixture
def bulk(tmp_path, monkeypatch):
    """The CLI against an in-process sandbox whose state lives in tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEXTSTEP_API_KEY", raising=False)
    monkeypatch.delenv("NEXTSTEP_BASE_URL", raising=False)

    def invoke(*args: str):
        return CliRunner().invoke(cli, ["--sandbox", *args], catch_exceptions=False)

    return invoke


def export(bulk, name: str, *args: str) -> Path:
    result = bulk("export", *args, "-o", name)
    assert result.exit_code == 0, result.output
    return Path(name).resolve()


def dry_run(bulk, path: Path) -> dict:
    result = bulk("import", str(path), "--dry-run", "--json")
    assert result.exit_code != 1, result.output  # never an internal error
    report: dict = json.loads(result.stdout)
    return report


SYSTEM_PYTHON = "/usr/bin/python3"
DRIVER = Path(__file__).with_name("uno_driver.py")
CALL_TIMEOUT = 120  # one open-edit-save in LibreOffice, one ssconvert
START_TIMEOUT = 60  # LibreOffice accepting UNO connections


def require(what: str, present: bool) -> None:
    """Skip (locally) or fail (in CI) a test whose application is missing."""
    if present:
        return
    reason = f"{what} is not installed (CI installs it: .ci/run)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so a missing application is a failure")
    pytest.skip(reason)


def has_uno() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import uno"], capture_output=True, timeout=30, check=False
    )
    return probe.returncode == 0


def require_libreoffice() -> None:
    require("LibreOffice (soffice)", shutil.which("soffice") is not None)


def require_uno() -> None:
    require_libreoffice()
    require(f"LibreOffice's UNO bridge for {SYSTEM_PYTHON} (python3-uno)", has_uno())


def require_gnumeric() -> None:
    require("Gnumeric (ssconvert)", shutil.which("ssconvert") is not None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _quiet_env(profile: Path) -> dict[str, str]:
    # One locale, whatever the machine's: LibreOffice parses typed dates and TRUE by it.
    return {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "HOME": str(profile)}


@dataclass
class LibreOffice:
    """A headless LibreOffice listening on a loopback port."""

    port: int
    process: subprocess.Popen[bytes]

    def call(self, command: dict[str, Any]) -> dict[str, Any]:
        if self.process.poll() is not None:
            raise RuntimeError(f"LibreOffice has exited ({self.process.returncode})")
        for _ in range(2):
            done = subprocess.run(
                [SYSTEM_PYTHON, str(DRIVER)],
                input=json.dumps({"port": self.port, **command}),
                capture_output=True,
                text=True,
                timeout=CALL_TIMEOUT,
                check=False,
            )
            # A driver that died saying nothing lost its UNO bridge (seen once on a
            # machine at a load of 7): a command opens its file afresh, so it is run
            # once more. A driver that says why it failed is not.
            if done.returncode == 0 or done.stderr.strip():
                break
        if done.returncode != 0:
            raise RuntimeError(f"the UNO driver failed:\n{done.stderr}")
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer

    def edit(
        self,
        path: Path,
        steps: list[dict[str, Any]],
        save: dict[Path, str],
    ) -> list[dict[str, Any]]:
        """Open ``path``, carry out the steps, save to each of ``save`` (path → xlsx, csv
        or pdf); return each step's answer."""
        answer = self.call(
            {
                "open": str(path),
                "csv": path.suffix == ".csv",
                "steps": steps,
                "save": [{"path": str(p), "format": f} for p, f in save.items()],
            }
        )
        steps_done: list[dict[str, Any]] = answer["steps"]
        return steps_done


@pytest.fixture(scope="session")
def libreoffice() -> Iterator[LibreOffice]:
    """One LibreOffice for the session: started on first use, always killed at the end."""
    require_uno()
    home = Path(tempfile.mkdtemp(prefix="bulksync-lo-"))
    port = free_port()
    process = subprocess.Popen(
        [
            "soffice",
            "--headless",
            "--invisible",
            "--norestore",
            "--nologo",
            "--nodefault",
            f"-env:UserInstallation=file://{home}/lo",
            f"--accept=socket,host=127.0.0.1,port={port};urp;",
        ],
        env=_quiet_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: killed with all its children
    )
    office = LibreOffice(port, process)
    try:
        office.call({"wait": START_TIMEOUT})
        yield office
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
        shutil.rmtree(home, ignore_errors=True)


def soffice_to_pdf(path: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """``soffice --headless --convert-to pdf`` in a process and profile of its own."""
    require_libreoffice()
    home = Path(tempfile.mkdtemp(prefix="bulksync-pdf-"))
    try:
        return subprocess.run(
            [
                "soffice",
                "--headless",
                "--norestore",
                f"-env:UserInstallation=file://{home}/lo",
                "--convert-to",
                "pdf",
                "--outdir",
                str(out),
                str(path),
            ],
            env=_quiet_env(home),
            capture_output=True,
            text=True,
            timeout=CALL_TIMEOUT,
            check=False,
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)


def gnumeric_resave(source: Path, target: Path) -> None:
    """Re-save with Gnumeric's ``ssconvert`` (xlsx→xlsx, xlsx→csv, csv→csv).

    A CSV keeps its sidecar (``<name>.base.json``) beside it, as a person's copy would.
    """
    require_gnumeric()
    exporter = {".xlsx": "Gnumeric_Excel:xlsx2", ".csv": "Gnumeric_stf:stf_csv"}[target.suffix]
    target.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["ssconvert", "--export-type", exporter, str(source), str(target)],
        capture_output=True,
        text=True,
        timeout=CALL_TIMEOUT,
        check=False,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )
    assert done.returncode == 0 and target.exists(), done.stderr
    sidecar = source.with_name(source.name + ".base.json")
    if target.suffix == ".csv" and sidecar.exists():
        shutil.copy(sidecar, target.with_name(target.name + ".base.json"))


def pandas_resave(source: Path, target: Path, *, index: bool = False) -> None:
    """What a script does: read every sheet with pandas, write them all back (``index``:
    as ``to_excel`` does by default, with the frame's row numbers as a first column)."""
    require("pandas", importlib.util.find_spec("pandas") is not None)
    import pandas  # only the tests that re-save through pandas need it

    sheets = pandas.read_excel(source, sheet_name=None, engine="openpyxl")
    with pandas.ExcelWriter(target, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=index)

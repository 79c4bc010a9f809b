"""``bulksync export`` through the CLI against the sandbox."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from bulksync.cli import cli
from bulksync.codecs import codec_for
from bulksync.errors import ExitCode
from bulksync.sheets import read_sheet
from tests.sheets.reads import decoded


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEXTSTEP_API_KEY", raising=False)

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


def unchanged(path) -> bool:
    sheet = read_sheet(path)
    values, errors = decoded(sheet)
    return not errors and all(
        codec_for(sheet.base[k].spec.kind).equal(sheet.base[k].value, v) for k, v in values.items()
    )


def test_export_a_template_to_xlsx_in_the_runs_layout(run, tmp_path):
    result = run("--sandbox", "export", "--template", "tpl_onboarding", "-o", "onb.xlsx", "-v")
    assert result.exit_code == 0, result.output
    assert "runs layout" in result.stdout
    sheet = read_sheet(tmp_path / "onb.xlsx")
    assert sheet.meta.layout == "runs"
    assert sheet.meta.host == "sandbox.invalid"
    assert {k.run_id for k in sheet.base} and all(
        k.run_id.startswith("run_onb") for k in sheet.base
    )
    assert unchanged(tmp_path / "onb.xlsx")
    # active runs by default: one page of runs, a task list per run, the template once
    active = json.loads(
        run(
            "--sandbox",
            "list",
            "runs",
            "--template",
            "tpl_onboarding",
            "--status",
            "active",
            "--json",
        ).stdout
    )
    assert sheet.meta.runs == len(active)
    assert f"{2 + len(active)} requests" in result.stderr


def test_export_runs_by_id_to_csv_in_the_tasks_layout(run, tmp_path):
    result = run("--sandbox", "export", "run_onb_001", "run_ven_004", "-o", "two.csv")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "two.csv.base.json").exists()
    assert "two.csv.base.json" in result.stdout
    sheet = read_sheet(tmp_path / "two.csv")
    assert {k.run_id for k in sheet.base} == {"run_onb_001", "run_ven_004"}
    assert unchanged(tmp_path / "two.csv")


def test_the_api_key_is_written_nowhere(run, tmp_path):
    result = run(
        "--sandbox", "export", "--template", "tpl_vendor", "--status", "all", "-o", "v.xlsx"
    )
    assert result.exit_code == 0
    run("--sandbox", "export", "run_onb_001", "-o", "o.csv")
    for path in tmp_path.glob("*.*"):
        if path.is_file():
            assert b"nxs_live_sandbox" not in path.read_bytes(), path


@pytest.mark.parametrize(
    "args",
    [
        ("export", "-o", "x.xlsx"),
        ("export", "run_onb_001", "--template", "tpl_vendor", "-o", "x.xlsx"),
    ],
)
def test_export_needs_runs_or_a_template(run, args):
    result = run("--sandbox", *args)
    assert result.exit_code == ExitCode.USAGE
    assert "--template" in result.stderr


def test_runs_of_several_templates_do_not_fit_the_runs_layout(run):
    result = run(
        "--sandbox", "export", "run_onb_001", "run_ven_004", "--layout", "runs", "-o", "x.xlsx"
    )
    assert result.exit_code == ExitCode.CONFIG
    assert "--layout tasks" in result.stderr


def test_an_unknown_suffix_is_a_clear_error(run):
    result = run("--sandbox", "export", "run_onb_001", "-o", "x.ods", "-v")
    assert result.exit_code == ExitCode.SHEET
    assert ".xlsx and .csv" in result.stderr
    assert "requests" not in result.stderr  # refused before reading anything


def test_an_unknown_run_is_a_clear_error(run):
    result = run("--sandbox", "export", "run_nope", "-o", "x.xlsx")
    assert result.exit_code == ExitCode.API
    assert "run_nope" in result.stderr


@pytest.mark.parametrize("name", ["out.xlsx", "out.csv"])
def test_export_to_a_full_disk_is_a_clear_error(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).symlink_to("/dev/full")  # every write: ENOSPC
    command = ["--sandbox", "export", "--template", "tpl_onboarding", "-o", name]
    process = subprocess.run(
        [sys.executable, "-m", "bulksync", *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == ExitCode.STORAGE, process.stderr
    assert "Traceback" not in process.stderr and "bug" not in process.stderr
    assert name in process.stderr


def test_export_protect_locks_the_data_sheet_and_is_off_by_default(run, tmp_path):
    """Sorting needs an unprotected sheet; --protect is for teams who want the lock."""
    import openpyxl

    for args, protected in (((), False), (("--protect",), True)):
        result = run("--sandbox", "export", "--template", "tpl_onboarding", *args, "-o", "onb.xlsx")
        assert result.exit_code == 0, result.output
        book = openpyxl.load_workbook(tmp_path / "onb.xlsx")
        assert book["Runs"].protection.sheet is protected
        assert unchanged(tmp_path / "onb.xlsx")
    refused = run("--sandbox", "export", "--template", "tpl_onboarding", "--protect", "-o", "o.csv")
    assert refused.exit_code == ExitCode.SHEET
    assert "--protect is for .xlsx files" in refused.output

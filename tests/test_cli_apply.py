"""``bulksync import`` (applying) and ``bulksync undo`` through the CLI against the sandbox.

Most tests serve a sandbox over loopback HTTP, so that they can read what the server
saw (PATCHes applied) and inject faults; the confirmation prompts are answered through
a real pseudo-terminal.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bulksync.errors import ExitCode
from bulksync.rundir import read_journal
from bulksync.sandbox import sandbox_client
from tests.badserver import RewritingProxy
from tests.test_cli_import import ONB_ACTIVE, edit_runs, task_id

PRIYA = "run_onb_010"


EDITS = {
    (ONB_ACTIVE, "tt_onb_details:el_onb_pronouns"): "he/him",
    (PRIYA, "tt_onb_details:el_onb_phone"): "+91 99999 00000",
    (PRIYA, "tt_onb_dept:el_onb_dept"): "Marketing",
    (PRIYA, "tt_onb_dept:el_onb_band"): 5,
}


def exported_and_edited(bulk, tmp_path, edits=EDITS) -> Path:
    assert bulk("export", "--template", "tpl_onboarding", "-o", "onb.xlsx").exit_code == 0
    path = tmp_path / "onb.xlsx"
    edit_runs(path, edits)
    return path


def live_values(sandbox, run_id: str) -> dict[str, object]:
    with sandbox_client(sandbox) as client:
        tasks = client.run_tasks(run_id)
    values: dict[str, object] = {}
    for task in tasks:
        values[f"{task.template_task_id}:completed"] = task.completed
        for element in task.elements:
            values[f"{task.template_task_id}:{element.id}"] = element.value
    return values


def run_dirs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / ".bulksync" / "imports").iterdir())


def test_apply_writes_the_plan_once_with_a_journal_and_results(http, tmp_path):
    bulk, sandbox = http()
    path = exported_and_edited(bulk, tmp_path)
    result = bulk("import", "onb.xlsx", "--yes", "-v", "--report", "r.json", "--report", "r.html")
    assert result.exit_code == 0, result.output
    assert "Applied 4 value(s) in 3 request(s)" in result.stdout
    # the reports carry each value's outcome
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert [r["result"] for r in report["results"]] == ["applied"] * 4
    assert "Results" in (tmp_path / "r.html").read_text(encoding="utf-8")
    # requests: one GET per run with edits, one PATCH per task with changes
    assert sandbox.stats.total("PATCH") == sandbox.stats.patches_applied == 3
    assert "5 requests (GET 200×2, PATCH 200×3)" in result.stderr
    for (run_id, column), value in EDITS.items():
        assert live_values(sandbox, run_id)[column] == value
    [run_dir] = run_dirs(tmp_path)
    events = read_journal(run_dir / "journal.jsonl")
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert kinds.count("intent") == kinds.count("applied") == 3
    for e in events:
        if e["event"] == "intent":
            assert e["before"] and e["body"]
    assert "nxs_live" not in (run_dir / "journal.jsonl").read_text(encoding="utf-8")
    with (run_dir / "results.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["result"] for r in rows) == ["applied"] * 4
    # (a text a spreadsheet would run as a formula, such as "+91 …", has an apostrophe)
    assert {(r["run_id"], r["field_id"], r["after"].removeprefix("'")) for r in rows} == {
        (run_id, column.split(":")[1], str(value)) for (run_id, column), value in EDITS.items()
    }
    assert all(r["cell"].startswith("Runs!") for r in rows)
    assert (
        json.loads((run_dir / "plan.json").read_text(encoding="utf-8"))["summary"]["requests"] == 3
    )
    # the same import again: everything is already done, nothing is sent twice
    again = bulk("import", "onb.xlsx", "--yes", "-v")
    assert again.exit_code == 0, again.output
    assert "0 to change · 4 already done" in again.stdout
    assert sandbox.stats.total("PATCH") == 3
    # and an export now shows the edits
    assert bulk("export", "--template", "tpl_onboarding", "-o", "after.xlsx").exit_code == 0
    code = bulk("import", "after.xlsx", "--dry-run", "--detailed-exitcode").exit_code
    assert code == 0
    assert path.exists()


def test_apply_without_a_terminal_or_yes_refuses_and_sends_nothing(http, tmp_path):
    bulk, sandbox = http()
    exported_and_edited(bulk, tmp_path)
    result = bulk("import", "onb.xlsx")
    assert result.exit_code == ExitCode.USAGE
    assert "--yes" in result.stderr
    assert sandbox.stats.total("PATCH") == 0


def test_errors_stop_the_import_unless_skip_invalid(http, tmp_path):
    bulk, sandbox = http()
    exported_and_edited(bulk, tmp_path, {**EDITS, (PRIYA, "tt_onb_dept:el_onb_start"): "3/4/26"})
    result = bulk("import", "onb.xlsx", "--yes")
    assert result.exit_code == ExitCode.INVALID
    assert "Nothing was sent" in result.stderr
    assert sandbox.stats.total("PATCH") == 0
    result = bulk("import", "onb.xlsx", "--yes", "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert sandbox.stats.patches_applied == 3
    assert live_values(sandbox, PRIYA)["tt_onb_dept:el_onb_dept"] == "Marketing"


def test_conflicts_are_skipped_and_the_rest_applied(http, tmp_path):
    bulk, sandbox = http()
    path = exported_and_edited(bulk, tmp_path)
    details = task_id(path, ONB_ACTIVE, "tt_onb_details")
    with sandbox_client(sandbox) as client:
        client.patch_task(ONB_ACTIVE, details, elements={"el_onb_pronouns": "they/them"})
    result = bulk("import", "onb.xlsx", "--yes")
    assert result.exit_code == ExitCode.CONFLICTS
    assert live_values(sandbox, ONB_ACTIVE)["tt_onb_details:el_onb_pronouns"] == "they/them"
    assert live_values(sandbox, PRIYA)["tt_onb_dept:el_onb_band"] == 5


@pytest.mark.parametrize(
    "knobs",
    [
        {"fail_rate": 0.3},
        {"drop_rate": 0.3},
        # a 429 storm: the server allows far less than the client thinks it may send
        {"rate_limit": 6, "window": 1.0},
    ],
)
def test_faults_leave_live_state_equal_to_the_plan_each_value_applied_once(http, tmp_path, knobs):
    # A generous limit: this test is about faults, not pacing (and reads a lot to check).
    bulk, sandbox = http(fault_seed=7, rate_limit=100_000)
    edits = {**EDITS}
    with sandbox_client(sandbox) as client:
        runs = [r.id for r in client.list_runs(template_id="tpl_onboarding", status="active")]
    for n, run_id in enumerate(runs):
        edits[(run_id, "tt_onb_details:el_onb_phone")] = f"+1 555 {n:04d}"
        edits[(run_id, "tt_onb_dept:el_onb_band")] = 100 + n
    exported_and_edited(bulk, tmp_path, edits)
    calm = sandbox.config
    sandbox.config = dataclasses.replace(calm, **knobs)
    result = bulk("import", "onb.xlsx", "--yes", "-v", "--max-rate", "100000")
    assert result.exit_code in (0, ExitCode.FAILED), result.output
    sandbox.config = calm
    [run_dir] = run_dirs(tmp_path)
    events = [e["event"] for e in read_journal(run_dir / "journal.jsonl")]
    if "rate_limit" in knobs:
        assert sandbox.stats.count("PATCH", 429) > 0  # a storm indeed, and waited out
        assert result.exit_code == 0
    else:
        assert "unknown" in events and "reread" in events  # outcomes lost, then re-read
    with (run_dir / "results.csv").open(encoding="utf-8-sig") as handle:
        results = {(r["run_id"], r["field_id"]): r["result"] for r in csv.DictReader(handle)}
    for (run_id, column), value in edits.items():
        field = column.split(":")[1]
        live = live_values(sandbox, run_id)[column]
        if results.get((run_id, field)) == "applied":
            assert live == value  # the journal and results agree with live state
    # each task's PATCH applied at most once, even when its answer was lost
    tasks_with_changes = len({(r, c.split(":")[0]) for r, c in edits})
    assert sandbox.stats.patches_applied <= tasks_with_changes
    # and running it again finishes the job without applying anything twice
    again = bulk("import", "onb.xlsx", "--yes", "--max-rate", "100000")
    assert again.exit_code == 0, again.output
    for (run_id, column), value in edits.items():
        assert live_values(sandbox, run_id)[column] == value
    assert sandbox.stats.patches_applied == tasks_with_changes


def test_undo_puts_back_what_the_import_wrote_but_not_over_later_edits(http, tmp_path):
    bulk, sandbox = http()
    path = exported_and_edited(bulk, tmp_path)
    before = {k: live_values(sandbox, k[0])[k[1]] for k in EDITS}
    assert bulk("import", "onb.xlsx", "--yes").exit_code == 0
    [run_dir] = run_dirs(tmp_path)
    # someone edits one of the imported values afterwards
    dept = task_id(path, PRIYA, "tt_onb_dept")
    with sandbox_client(sandbox) as client:
        client.patch_task(PRIYA, dept, elements={"el_onb_band": 9})
    preview = bulk("undo", str(run_dir), "--dry-run", "--json")
    assert preview.exit_code == ExitCode.CONFLICTS
    plan = json.loads(preview.stdout)
    assert [c["field"] for c in plan["conflicts"]] == ["el_onb_band"]
    assert plan["summary"]["changes"] == 3
    result = bulk("undo", str(run_dir), "--yes")
    assert result.exit_code == ExitCode.CONFLICTS, result.output
    for key, value in before.items():
        live = live_values(sandbox, key[0])[key[1]]
        if key[1] == "tt_onb_dept:el_onb_band":
            assert live == 9  # the later edit survives
        else:
            assert (live or None) == (value or None)
    assert len(run_dirs(tmp_path)) == 2  # the undo has a run directory of its own


def in_a_terminal(args: list[str], answers: list[str], cwd: Path, env: dict) -> tuple[int, str]:
    """Run the CLI in a pseudo-terminal, answering each question as it comes."""
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "bulksync", *args],
        stdin=child,
        stdout=child,
        stderr=child,
        cwd=cwd,
        env=env,
        close_fds=True,
    )
    os.close(child)
    output = b""
    pending = list(answers)
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        if not ready:
            process.kill()
            break
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if pending and output.rstrip().endswith(b"[y/N]:"):
            os.write(main, pending.pop(0).encode() + b"\n")
            output += b"\n"
    process.wait(timeout=60)
    os.close(main)
    return process.returncode, output.decode("utf-8", "replace")


def test_the_canary_applies_the_first_requests_then_asks(http, tmp_path):
    bulk, sandbox = http()
    exported_and_edited(bulk, tmp_path)
    env = {**os.environ}
    answered = in_a_terminal(["import", "onb.xlsx", "--canary", "1"], ["y", "n"], tmp_path, env)
    code, output = answered
    assert "Apply 3 PATCH request(s)" in output
    assert "Canary: 1 request(s) sent" in output and "Stopped after the canary" in output
    assert sandbox.stats.patches_applied == 1
    code, output = in_a_terminal(["import", "onb.xlsx", "--canary", "1"], ["y", "y"], tmp_path, env)
    assert code == 0, output
    assert sandbox.stats.patches_applied == 3
    code, output = in_a_terminal(["import", "onb.xlsx"], [], tmp_path, env)
    assert code == 0 and "nothing to write" in output


def import_to_be_stopped(http, tmp_path):
    """A sandbox slow enough to stop an import of 36 values in the middle."""
    bulk, sandbox = http(rate_limit=100_000, latency_ms=60)
    edits = {}
    with sandbox_client(sandbox) as client:
        runs = [r.id for r in client.list_runs(template_id="tpl_onboarding", status="active")]
    for n, run_id in enumerate(runs):
        edits[(run_id, "tt_onb_details:el_onb_phone")] = f"+1 555 {n:04d}"
        edits[(run_id, "tt_onb_dept:el_onb_band")] = 200 + n
        edits[(run_id, "tt_onb_equipment:el_onb_delivery")] = f"Desk {n}"
    exported_and_edited(bulk, tmp_path, edits)
    return bulk, sandbox, edits


def start_and_wait_for_applied(tmp_path: Path, count: int):
    """Start an import in a subprocess; return it once ``count`` PATCHes are journalled."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bulksync", "import", "onb.xlsx", "--yes", "--in-flight", "2"],
        cwd=tmp_path,
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    for _ in range(500):
        if process.poll() is not None:
            break
        found = list((tmp_path / ".bulksync" / "imports").glob("*/journal.jsonl"))
        if found:
            events = [e["event"] for e in read_journal(found[0])]
            if events.count("applied") >= count:
                return process, found[0]
        select.select([], [], [], 0.02)
    return process, None


def test_ctrl_c_in_the_middle_stops_cleanly_then_run_again(http, tmp_path):
    bulk, sandbox, edits = import_to_be_stopped(http, tmp_path)
    process, journal = start_and_wait_for_applied(tmp_path, 3)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert journal is not None, "the import finished before it could be stopped"
    assert process.returncode == ExitCode.INTERRUPTED, err
    assert b"Traceback" not in err and b"Interrupted" in err
    events = read_journal(journal)
    assert events[-1]["event"] == "end"  # closed properly, results written
    assert (journal.parent / "results.csv").exists()
    result = bulk("import", "onb.xlsx", "--yes")
    assert result.exit_code == 0, result.output
    for (run_id, column), value in edits.items():
        assert live_values(sandbox, run_id)[column] == value
    tasks_with_changes = len({(r, c.split(":")[0]) for r, c in edits})
    assert sandbox.stats.patches_applied == tasks_with_changes


def test_kill_9_in_the_middle_then_run_again(http, tmp_path):
    """SIGKILL mid-import leaves a consistent journal; running again finishes the job."""
    bulk, sandbox, edits = import_to_be_stopped(http, tmp_path)
    process, journal = start_and_wait_for_applied(tmp_path, 3)
    process.kill()  # SIGKILL: no cleanup of any kind
    process.wait(timeout=30)
    assert journal is not None, "the import finished before it could be killed"
    events = read_journal(journal)
    assert events[-1]["event"] != "end"  # it really died in the middle
    # every outcome in the journal follows its intent
    intents = set()
    for event in events:
        key = (event.get("run_id"), event.get("task_id"))
        if event["event"] == "intent":
            intents.add(key)
        elif event["event"] in ("applied", "failed", "unknown", "reread"):
            assert key in intents
    applied_before = sandbox.stats.patches_applied
    assert 0 < applied_before < len(edits)
    result = bulk("import", "onb.xlsx", "--yes", "--resume")
    assert result.exit_code == 0, result.output
    # --resume went on in the same run directory: one journal, two starts
    assert [e["event"] for e in read_journal(journal)].count("start") == 2
    assert len(run_dirs(tmp_path)) == 1
    for (run_id, column), value in edits.items():
        assert live_values(sandbox, run_id)[column] == value
    tasks_with_changes = len({(r, c.split(":")[0]) for r, c in edits})
    assert sandbox.stats.patches_applied == tasks_with_changes  # nothing applied twice


def test_a_refused_value_is_recorded_and_the_others_go_on_unless_fail_fast(http, tmp_path):
    bulk, sandbox = http()
    assert (
        bulk("export", "--template", "tpl_onboarding", "--assignees", "-o", "onb.xlsx").exit_code
        == 0
    )
    edits = {
        # a well-formed user id that is not in the team: NextStep answers 400
        (ONB_ACTIVE, "tt_onb_details:assignee"): "usr_nobody",
        (PRIYA, "tt_onb_details:el_onb_phone"): "+91 1",
        (PRIYA, "tt_onb_dept:el_onb_band"): 6,
    }
    edit_runs(tmp_path / "onb.xlsx", edits)
    stopped = bulk("import", "onb.xlsx", "--yes", "--fail-fast", "--in-flight", "1")
    assert stopped.exit_code == ExitCode.FAILED, stopped.output
    assert sandbox.stats.patches_applied == 0
    assert "Unknown assignee" in stopped.stderr and "not_sent" in stopped.stderr
    result = bulk("import", "onb.xlsx", "--yes")
    assert result.exit_code == ExitCode.FAILED
    assert sandbox.stats.patches_applied == 2
    run_dir = run_dirs(tmp_path)[-1]
    errors_csv = run_dir / "errors.csv"
    with errors_csv.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    header, errors = rows[0], [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert [(e["run_id"], e["field_id"], e["Value"]) for e in errors] == [
        (ONB_ACTIVE, "assignee", "usr_nobody")
    ]
    assert "Unknown assignee" in errors[0]["Problem"]
    # errors.csv is a sheet: fix the value, import it again
    rows[1][header.index("Value")] = "usr_ana"
    with errors_csv.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(rows)
    fixed = bulk("import", str(errors_csv), "--yes")
    assert fixed.exit_code == 0, fixed.output
    with sandbox_client(sandbox) as client:
        tasks = client.run_tasks(ONB_ACTIVE)
    assert next(t for t in tasks if t.template_task_id == "tt_onb_details").assignee == "usr_ana"
    assert live_values(sandbox, PRIYA)["tt_onb_dept:el_onb_band"] == 6


def test_a_value_stored_differently_from_what_was_sent_is_a_failure(http, tmp_path, monkeypatch):
    bulk, _ = http()
    exported_and_edited(bulk, tmp_path)

    def truncate_texts(body: bytes) -> bytes:
        document = json.loads(body)
        for element in document.get("custom_elements", []):
            if isinstance(element["value"], str):
                element["value"] = element["value"][:5]
        return json.dumps(document).encode()

    with RewritingProxy(os.environ["NEXTSTEP_BASE_URL"], truncate_texts) as proxy:
        monkeypatch.setenv("NEXTSTEP_BASE_URL", proxy.base_url)
        result = bulk("import", "onb.xlsx", "--yes", "--force")
    assert result.exit_code == ExitCode.FAILED, result.output
    run_dir = run_dirs(tmp_path)[-1]
    with (run_dir / "results.csv").open(encoding="utf-8-sig") as handle:
        outcome = {r["field_id"]: (r["result"], r["message"]) for r in csv.DictReader(handle)}
    # the text NextStep took, shortened: a silent coercion is a failure of that value
    assert outcome["el_onb_phone"] == (
        "failed",
        "NextStep stored '+91 9' instead of '+91 99999 00000'",
    )
    # a shortened option is refused outright, and the PATCH is all or nothing
    assert outcome["el_onb_dept"][0] == outcome["el_onb_band"][0] == "failed"
    assert "NextStep refused the request" in outcome["el_onb_band"][1]
    events = read_journal(run_dir / "journal.jsonl")
    assert any(e["event"] == "applied" and e["verified"] is False for e in events)


def test_apply_with_json_prints_the_results_as_json(http, tmp_path):
    bulk, _ = http()
    exported_and_edited(bulk, tmp_path)
    result = bulk("import", "onb.xlsx", "--yes", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # stdout is JSON only; the rest went to stderr
    assert report["summary"]["requests"] == 3
    assert sorted({r["result"] for r in report["results"]}) == ["applied"]
    assert "Applied 4 value(s)" in result.stderr


def test_the_progress_bar_shows_the_time_left_and_the_rate_limit_waits(http, tmp_path):
    bulk, _ = http(rate_limit=2, window=1.0)
    exported_and_edited(bulk, tmp_path)
    select.select([], [], [], 1.1)  # the export's requests out of the server's window
    code, output = in_a_terminal(
        ["import", "onb.xlsx", "--yes", "--max-rate", "100000"], [], tmp_path, {**os.environ}
    )
    assert code == 0, output
    assert "Applying" in output
    # the 429s' Retry-After waits, shown as they happen
    assert re.search(r"waiting \d+ s for the rate limit", output), output
    assert "Applied" in output


def test_completing_a_run_goes_last_and_every_request_lands(http, tmp_path):
    bulk, sandbox = http()
    with sandbox_client(sandbox) as client:
        open_tasks = [t for t in client.run_tasks(ONB_ACTIVE) if not t.completed and not t.skipped]
    assert len(open_tasks) > 1
    edits = {(ONB_ACTIVE, f"{t.template_task_id}:completed"): True for t in open_tasks}
    edits[(ONB_ACTIVE, "tt_onb_details:el_onb_phone")] = "+34 600 000 000"
    exported_and_edited(bulk, tmp_path, edits)
    result = bulk("import", "onb.xlsx", "--yes", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["requests"][-1]["completes_run"] is True
    assert {r["result"] for r in report["results"]} == {"applied"}
    with sandbox_client(sandbox) as client:
        assert client.get_run(ONB_ACTIVE).status == "completed"
    assert sandbox.stats.count("PATCH", 409) == 0  # nothing came after the run was locked

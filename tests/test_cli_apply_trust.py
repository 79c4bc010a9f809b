"""Applying and undoing, when the world does not hold still: other people's edits during
the apply, a process killed between a PATCH and its journal line, an answer that cannot be
read, a disk that fills up. Each test reproduces a way an import could overwrite, lose or
double a value (issue 9), through the CLI against the sandbox over loopback HTTP."""

from __future__ import annotations

import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from bulksync.errors import ExitCode
from bulksync.rundir import read_journal
from bulksync.sandbox import sandbox_client
from tests.badserver import RewritingProxy
from tests.test_cli_apply import (
    EDITS,
    PRIYA,
    exported_and_edited,
    live_values,
    run_dirs,
)
from tests.test_cli_import import ONB_ACTIVE, edit_runs, task_id


def results_of(run_dir: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (run_dir / "results.csv").open(encoding="utf-8-sig", newline="") as handle:
        return {(r["run_id"], r["field_id"]): r for r in csv.DictReader(handle)}


def someone_edits_the_other_run_at_the_first_patch(sandbox, sheet: Path, pause: float):
    """A proxy hook: when the import's first PATCH arrives, wait ``pause`` seconds (a long
    import), then a colleague edits a value the import will write in the *other* run."""
    fired = threading.Event()
    edited: dict[str, object] = {}

    def before(method: str, path: str) -> None:
        if method != "PATCH" or fired.is_set():
            return
        fired.set()
        threading.Event().wait(pause)
        if PRIYA in path:
            run_id, template_task, field, value = (
                ONB_ACTIVE,
                "tt_onb_details",
                "el_onb_pronouns",
                "xe",
            )
        else:
            run_id, template_task, field, value = PRIYA, "tt_onb_details", "el_onb_phone", "+1 0"
        with sandbox_client(sandbox, rate_limit=100_000) as client:
            client.patch_task(
                run_id, task_id(sheet, run_id, template_task), elements={field: value}
            )
        edited.update(run_id=run_id, field=field, value=value)

    return before, edited


def through_proxy(bulk, monkeypatch, *args: str, **hooks):
    """Run the CLI through a RewritingProxy in front of the served sandbox (``--force``:
    the proxy is another host than the export's), then point back at the sandbox."""
    server = os.environ["NEXTSTEP_BASE_URL"]
    with RewritingProxy(server, **hooks) as proxy:
        monkeypatch.setenv("NEXTSTEP_BASE_URL", proxy.base_url)
        result = bulk(*args, "--force")
    monkeypatch.setenv("NEXTSTEP_BASE_URL", server)
    return result


def test_a_value_changed_in_nextstep_during_a_long_apply_is_not_overwritten(
    http, tmp_path, monkeypatch
):
    bulk, sandbox = http()
    sheet = exported_and_edited(bulk, tmp_path)
    before, edited = someone_edits_the_other_run_at_the_first_patch(sandbox, sheet, 2.5)
    result = through_proxy(
        bulk, monkeypatch, "import", "onb.xlsx", "--yes", "--in-flight", "1", before=before
    )
    assert result.exit_code == ExitCode.CONFLICTS, result.output
    run_id, field = edited["run_id"], edited["field"]
    column = next(c for (r, c) in EDITS if r == run_id and c.endswith(field))
    assert live_values(sandbox, run_id)[column] == edited["value"]  # the colleague's edit
    [run_dir] = run_dirs(tmp_path)
    row = results_of(run_dir)[(run_id, field)]
    assert row["result"] == "conflict" and "meanwhile" in row["message"]
    # the other values were written, and undo later leaves the colleague's value alone
    others = {k: v for k, v in EDITS.items() if not k[1].endswith(field)}
    for (rid, col), value in others.items():
        assert live_values(sandbox, rid)[col] == value
    undone = bulk("undo", str(run_dir), "--yes")
    assert undone.exit_code == 0, undone.output
    assert live_values(sandbox, run_id)[column] == edited["value"]


def test_on_conflict_mine_records_the_fresh_before_so_undo_restores_the_colleague(
    http, tmp_path, monkeypatch
):
    bulk, sandbox = http()
    sheet = exported_and_edited(bulk, tmp_path)
    before, edited = someone_edits_the_other_run_at_the_first_patch(sandbox, sheet, 2.5)
    args = ("import", "onb.xlsx", "--yes", "--in-flight", "1", "--on-conflict", "mine")
    result = through_proxy(bulk, monkeypatch, *args, before=before)
    assert result.exit_code == 0, result.output
    run_id, field = edited["run_id"], edited["field"]
    [run_dir] = run_dirs(tmp_path)
    row = results_of(run_dir)[(run_id, field)]
    assert row["result"] == "applied"
    assert row["before"].removeprefix("'") == edited["value"]  # guarded: "'+1 0"
    assert bulk("undo", str(run_dir), "--yes").exit_code == 0
    column = next(c for (r, c) in EDITS if r == run_id and c.endswith(field))
    assert live_values(sandbox, run_id)[column] == edited["value"]


def test_undo_reverts_a_value_whose_answer_was_never_journalled(http, tmp_path):
    """Killed between a PATCH and its journal line, then resumed: undo still reverts it."""
    bulk, sandbox = http()
    exported_and_edited(bulk, tmp_path)
    original = {k: live_values(sandbox, k[0])[k[1]] for k in EDITS}
    assert bulk("import", "onb.xlsx", "--yes").exit_code == 0
    [run_dir] = run_dirs(tmp_path)
    journal = run_dir / "journal.jsonl"
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    # What kill -9 leaves right after a PATCH went out: its intent, no answer, no end.
    last_applied = max(i for i, line in enumerate(lines) if '"event":"applied"' in line)
    journal.write_text("".join(lines[:last_applied]), encoding="utf-8")
    resumed = bulk("import", "onb.xlsx", "--yes", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "already done" in resumed.stdout
    undone = bulk("undo", str(run_dir), "--yes")
    assert undone.exit_code == 0, undone.output
    for (run_id, column), value in original.items():
        assert (live_values(sandbox, run_id)[column] or None) == (value or None), column


def test_an_unreadable_answer_to_a_patch_is_an_unknown_outcome_not_a_failure(
    http, tmp_path, monkeypatch
):
    bulk, sandbox = http()
    exported_and_edited(bulk, tmp_path)
    mangled = iter([b"<html><body>502 from the proxy</body></html>", b'{"data": {"id": "t'])

    def answer(method: str, path: str, status: int, body: bytes) -> bytes:
        if method == "PATCH" and status == 200:
            return next(mangled, body)
        return body

    result = through_proxy(
        bulk, monkeypatch, "import", "onb.xlsx", "--yes", "--in-flight", "1", answer=answer
    )
    assert result.exit_code == 0, result.output
    assert sandbox.stats.patches_applied == 3  # re-read, not resent
    [run_dir] = run_dirs(tmp_path)
    assert {r["result"] for r in results_of(run_dir).values()} == {"applied"}
    with (run_dir / "errors.csv").open(encoding="utf-8-sig") as handle:
        assert len(list(csv.reader(handle))) == 1  # the header only
    events = [e["event"] for e in read_journal(run_dir / "journal.jsonl")]
    assert events.count("unknown") == 2 and events.count("reread") == 2
    assert bulk("undo", str(run_dir), "--yes").exit_code == 0
    assert live_values(sandbox, PRIYA)["tt_onb_dept:el_onb_dept"] != "Marketing"


def test_results_csv_cannot_run_formulas(http, tmp_path):
    bulk, _ = http()
    edits = {**EDITS, (ONB_ACTIVE, "tt_onb_details:el_onb_pronouns"): "@them"}
    exported_and_edited(bulk, tmp_path, edits)
    assert bulk("import", "onb.xlsx", "--yes").exit_code == 0
    [run_dir] = run_dirs(tmp_path)
    with (run_dir / "results.csv").open(encoding="utf-8-sig", newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert "'@them" in cells and "'+91 99999 00000" in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_a_journal_that_cannot_be_written_stops_the_import_before_anything_is_sent(http, tmp_path):
    bulk, sandbox = http()
    sheet = exported_and_edited(bulk, tmp_path)
    assert bulk("import", "onb.xlsx", "--yes").exit_code == 0
    [run_dir] = run_dirs(tmp_path)
    sent = sandbox.stats.total("PATCH")
    edit_runs(sheet, {(ONB_ACTIVE, "tt_onb_details:el_onb_phone"): "+1 1"})
    journal = run_dir / "journal.jsonl"
    journal.unlink()
    journal.symlink_to("/dev/full")  # every write: ENOSPC
    device_mode = os.stat("/dev/full").st_mode
    result = bulk("import", "onb.xlsx", "--yes", "--resume")
    assert os.stat("/dev/full").st_mode == device_mode  # a link's target is not narrowed
    assert result.exit_code == ExitCode.STORAGE, result.output
    assert "Traceback" not in result.output and "bug" not in result.output
    assert "journal" in result.stderr and "space" in result.stderr
    assert sandbox.stats.total("PATCH") == sent


def test_a_disk_that_fills_after_a_patch_keeps_its_record_and_resume_and_undo_work(http, tmp_path):
    bulk, sandbox = http()
    sheet = exported_and_edited(bulk, tmp_path)
    phone = "tt_onb_details:el_onb_phone"
    original = live_values(sandbox, ONB_ACTIVE)[phone]
    assert bulk("import", "onb.xlsx", "--yes").exit_code == 0
    [run_dir] = run_dirs(tmp_path)
    journal = run_dir / "journal.jsonl"
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    # The same sheet, one more edit, resumed with a file size limit that lets the start
    # and intent lines in but not the answer's: the disk is full right after the PATCH.
    edit_runs(sheet, {(ONB_ACTIVE, phone): "+1 555 0100"})
    room = sum(len(line.encode()) for line in lines if '"event":"start"' in line)
    room += max(len(line.encode()) for line in lines if '"event":"intent"' in line) + 40
    limit = journal.stat().st_size + room

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    process = subprocess.run(
        [sys.executable, "-m", "bulksync", "import", "onb.xlsx", "--yes", "--resume"],
        cwd=tmp_path,
        env={**os.environ},
        capture_output=True,
        text=True,
        preexec_fn=limited,
        timeout=120,
    )
    assert process.returncode == ExitCode.STORAGE, process.stderr
    assert "Traceback" not in process.stderr
    assert "--resume" in process.stderr
    events = read_journal(journal)
    assert any(e["event"] == "intent" and "+1 555 0100" in json.dumps(e["body"]) for e in events)
    assert live_values(sandbox, ONB_ACTIVE)[phone] == "+1 555 0100"
    # room again: resume finds it done, and undo puts back every value of the import
    resumed = bulk("import", "onb.xlsx", "--yes", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "1 already done" in resumed.stdout or "5 already done" in resumed.stdout
    assert bulk("undo", str(run_dir), "--yes").exit_code == 0
    assert live_values(sandbox, ONB_ACTIVE)[phone] == original


def test_a_run_directory_that_cannot_be_made_is_a_clear_error_and_nothing_is_sent(http, tmp_path):
    bulk, sandbox = http()
    exported_and_edited(bulk, tmp_path)
    # The export kept its spool in .bulksync/exports (removed once written): the folder
    # is replaced by a file, so that no run directory can be made in it.
    shutil.rmtree(tmp_path / ".bulksync", ignore_errors=True)
    (tmp_path / ".bulksync").write_text("not a folder", encoding="utf-8")
    result = bulk("import", "onb.xlsx", "--yes")
    assert result.exit_code == ExitCode.STORAGE, result.output
    assert "bug" not in result.output and ".bulksync" in result.stderr
    assert sandbox.stats.total("PATCH") == 0


def test_a_resume_with_nothing_left_to_send_still_writes_results_for_the_whole_import(
    http, tmp_path
):
    bulk, _ = http()
    exported_and_edited(bulk, tmp_path)
    assert bulk("import", "onb.xlsx", "--yes").exit_code == 0
    [run_dir] = run_dirs(tmp_path)
    # kill -9 right after the last answer was journalled: no end line, no results.csv
    journal = run_dir / "journal.jsonl"
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    journal.write_text("".join(lines[:-1]), encoding="utf-8")
    (run_dir / "results.csv").unlink()
    resumed = bulk("import", "onb.xlsx", "--yes", "--resume")
    assert resumed.exit_code == 0, resumed.output
    results = results_of(run_dir)
    assert len(results) == len(EDITS)
    assert {r["result"] for r in results.values()} == {"applied"}


def test_undo_reverts_an_unanswered_patch_when_the_resume_patched_the_same_task(http, tmp_path):
    pronouns, phone = "tt_onb_details:el_onb_pronouns", "tt_onb_details:el_onb_phone"
    bulk, sandbox = http()
    sheet = exported_and_edited(bulk, tmp_path, {(ONB_ACTIVE, pronouns): "he/him"})
    original = live_values(sandbox, ONB_ACTIVE)
    assert bulk("import", "onb.xlsx", "--yes").exit_code == 0
    [run_dir] = run_dirs(tmp_path)
    journal = run_dir / "journal.jsonl"
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    # kill -9 right after the PATCH went out: its intent is on disk, its answer is not
    cut = next(i for i, line in enumerate(lines) if '"event":"applied"' in line)
    journal.write_text("".join(lines[:cut]), encoding="utf-8")
    # one more value of the same task edited in the sheet, then resumed
    edit_runs(sheet, {(ONB_ACTIVE, pronouns): "he/him", (ONB_ACTIVE, phone): "+1 555 0100"})
    assert bulk("import", "onb.xlsx", "--yes", "--resume").exit_code == 0
    assert bulk("undo", str(run_dir), "--yes").exit_code == 0
    now = live_values(sandbox, ONB_ACTIVE)
    assert now[phone] == original[phone]
    assert now[pronouns] == original[pronouns]  # the unanswered PATCH is reverted too


def test_a_patch_that_waited_out_a_429_is_checked_again_before_it_goes(http, tmp_path, monkeypatch):
    """A 429 (another tool spending the same key) holds a PATCH after its run was read:
    a colleague's edit made during that wait is seen, not overwritten."""
    bulk, sandbox = http()
    edits = {
        (PRIYA, "tt_onb_details:el_onb_phone"): "+91 99999 00000",
        (PRIYA, "tt_onb_dept:el_onb_dept"): "Marketing",
    }
    sheet = exported_and_edited(bulk, tmp_path, edits)
    dept = task_id(sheet, PRIYA, "tt_onb_dept")
    patches = []

    def throttle_the_second_patch(method: str, path: str, headers: dict[str, str]):
        if method != "PATCH":
            return None
        patches.append(path)
        if len(patches) != 2:
            return None
        # right then, a colleague edits the value this PATCH carries
        task, field, value = (
            (dept, "el_onb_dept", "Recherche & Développement")
            if dept in path
            else (task_id(sheet, PRIYA, "tt_onb_details"), "el_onb_phone", "+1 0")
        )
        with sandbox_client(sandbox, rate_limit=100_000) as client:
            client.patch_task(PRIYA, task, elements={field: value})
        patches.append((field, value))
        body = b'{"error":{"code":"rate_limited","message":"slow down"}}'
        return 429, {"Content-Type": "application/json", "Retry-After": "3"}, body

    args = ("import", "onb.xlsx", "--yes", "--in-flight", "1")
    result = through_proxy(bulk, monkeypatch, *args, intercept=throttle_the_second_patch)
    field, value = patches[2]
    column = next(c for (_, c) in edits if c.endswith(field))
    assert live_values(sandbox, PRIYA)[column] == value  # the colleague's edit survives
    assert result.exit_code == ExitCode.CONFLICTS, result.output
    [run_dir] = run_dirs(tmp_path)
    assert results_of(run_dir)[(PRIYA, field)]["result"] == "conflict"


def test_a_conflict_found_by_the_plan_is_in_results_csv_and_the_summary(http, tmp_path):
    bulk, sandbox = http()
    sheet = exported_and_edited(bulk, tmp_path)
    with sandbox_client(sandbox) as client:  # a colleague edits it after the export
        client.patch_task(
            ONB_ACTIVE,
            task_id(sheet, ONB_ACTIVE, "tt_onb_details"),
            elements={"el_onb_pronouns": "xe"},
        )
    result = bulk("import", "onb.xlsx", "--yes")
    assert result.exit_code == ExitCode.CONFLICTS, result.output
    [run_dir] = run_dirs(tmp_path)
    row = results_of(run_dir)[(ONB_ACTIVE, "el_onb_pronouns")]
    assert row["result"] == "conflict" and "not written" in row["message"]
    assert "1 conflict(s)" in result.output


def test_a_report_that_cannot_be_written_is_a_clear_error(http, tmp_path):
    bulk, sandbox = http()
    exported_and_edited(bulk, tmp_path)
    (tmp_path / "review.json").symlink_to("/dev/full")
    for extra in (("--dry-run",), ("--yes",)):
        result = bulk("import", "onb.xlsx", "--report", "review.json", *extra)
        assert result.exit_code == ExitCode.STORAGE, result.output
        assert "bug" not in result.output and "review.json" in result.stderr
    assert sandbox.stats.total("PATCH") == 0


def errors_csv_values(run_dir):
    with (run_dir / "errors.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {(r["run_id"], r["field_id"]) for r in rows if r.get("run_id")}


def refuse_first_patch():
    lock, seen = threading.Lock(), []

    def intercept(method, path, headers):
        if method != "PATCH":
            return None
        with lock:
            seen.append(path)
            if len(seen) > 1:
                return None
        body = {"error": {"code": "validation_error", "message": "refused by the test"}}
        return 400, {}, json.dumps(body).encode()

    return intercept


def test_a_failed_canary_lists_the_values_it_did_not_send(http, tmp_path, monkeypatch):
    bulk, _ = http()
    exported_and_edited(bulk, tmp_path)
    args = ("import", "onb.xlsx", "--yes", "--canary", "1")
    result = through_proxy(bulk, monkeypatch, *args, intercept=refuse_first_patch())
    assert result.exit_code == ExitCode.FAILED, result.output
    assert "Stopped after the canary" in result.stderr
    [run_dir] = run_dirs(tmp_path)
    results = {k: r["result"] for k, r in results_of(run_dir).items()}
    # every planned value has a row: the canary's failed one, and the rest not sent
    planned = {(run_id, column.split(":")[1]) for run_id, column in EDITS}
    assert set(results) == planned, results
    assert sorted(results.values()).count("not_sent") == len(planned) - 1
    # errors.csv holds "the values that failed or were not sent", to import again
    assert errors_csv_values(run_dir) == planned


def test_fail_fast_sends_nothing_after_the_first_refusal(http, tmp_path, monkeypatch):
    """Two runs in flight: run A's PATCH is refused while run B is still reading its
    tasks (its plan read is older than 2 s); B must not send its PATCHes after that."""
    bulk, _ = http()
    exported_and_edited(bulk, tmp_path)
    run_a, run_b = "run_onb_011", "run_onb_010"
    events: list[str] = []
    gets: dict[str, int] = {run_a: 0, run_b: 0}
    lock = threading.Lock()

    def intercept(method, path, headers):
        if method == "PATCH":
            with lock:
                events.append(f"PATCH {run_a if run_a in path else run_b}")
            if run_a in path:
                body = {"error": {"code": "validation_error", "message": "refused by the test"}}
                return 400, {}, json.dumps(body).encode()
        return None

    def before(method, path):
        if method != "GET":
            return
        for run_id in gets:
            if f"/process-runs/{run_id}/" in path:
                with lock:
                    gets[run_id] += 1
                    count = gets[run_id]
                if run_id == run_a and count == 1:
                    threading.Event().wait(2.5)  # the plan's read of B gets old
                if run_id == run_b and count == 2:
                    threading.Event().wait(1.5)  # B re-reads while A is refused

    args = ("import", "onb.xlsx", "--yes", "--fail-fast", "--in-flight", "4")
    result = through_proxy(bulk, monkeypatch, *args, intercept=intercept, before=before)
    assert result.exit_code == ExitCode.FAILED, result.output
    assert gets[run_b] == 2, gets  # B was read again before its PATCHes: the race is set
    assert events[0] == f"PATCH {run_a}", events
    assert events == [f"PATCH {run_a}"], f"sent after the refusal: {events[1:]}"
    [run_dir] = run_dirs(tmp_path)
    assert results_of(run_dir)[(run_b, "el_onb_phone")]["result"] == "not_sent"

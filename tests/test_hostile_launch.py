"""Hostile tests of starting runs from new rows (issue 12): each test is named for what a
user would notice. A failing test is a defect of bulksync (or of its sandbox); a
passing one is an attack that held.

Driven like tests/test_launch.py: the CLI in process, against a fresh sandbox served
over loopback HTTP. Faults aimed at one request are injected by wrapping the sandbox's
``_handle`` (``Aim``), so each scenario is deterministic.
"""

from __future__ import annotations

import csv
import json
import os
import re
import select
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from bulksync.errors import ExitCode
from bulksync.rundir import read_journal
from bulksync.sandbox import sandbox_client
from bulksync.sandbox.app import SandboxRequest, SandboxResponse
from bulksync.sheets.reading import col_name
from tests.test_cli_apply import run_dirs
from tests.test_launch import (
    TEMPLATE,
    add_rows,
    dry_run,
    export_csv,
    posts,
    runs_by_title,
    values_of,
)

NAME = "tt_onb_details:el_onb_name"
WELCOME = "tt_onb_welcome:completed"
TWIN = "Onboarding – Twin"


# -- helpers ------------------------------------------------------------------------------


class Aim:
    """Wraps a sandbox's request handling: ``decide(request, n)`` (n: how many requests
    of that method and path kind were seen before) returns None (answer normally),
    ``"drop_before"`` (the connection is dropped and nothing is done), ``"drop_after"``
    (carried out, the answer lost) or ``"fail_get"`` (a 503 for a GET)."""

    def __init__(self, sandbox, decide: Callable[[SandboxRequest, int], str | None]) -> None:
        self.sandbox = sandbox
        self.decide = decide
        self.seen: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.original = sandbox._handle
        sandbox._handle = self

    def __call__(self, request: SandboxRequest) -> SandboxResponse:
        kind = f"{request.method} {_path_kind(request.path)}"
        with self.lock:
            n = self.seen[kind]
            self.seen[kind] += 1
        what = self.decide(request, n)
        if what == "drop_before":
            return SandboxResponse(0, b"", drop=True)
        if what == "fail_get":
            body = b'{"error": {"code": "unavailable", "message": "injected"}}'
            return SandboxResponse(503, body, {"Content-Type": "application/json"})
        response = self.original(request)
        if what == "drop_after":
            return SandboxResponse(0, b"", drop=True)
        return response

    def off(self) -> None:
        self.sandbox._handle = self.original


def _path_kind(path: str) -> str:
    parts = [p for p in path.split("/") if p][2:]  # without api/v1
    if parts[:1] == ["process-runs"]:
        return {1: "runs", 2: "run", 3: "run_tasks", 4: "task"}.get(len(parts), "?")
    return "templates"


def _post_name(request: SandboxRequest) -> str:
    try:
        return str(json.loads(request.body or b"{}").get("name", ""))
    except ValueError:
        return ""


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def _write_csv(path: Path, table: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows(table)


def _col(header: list[str], name: str) -> int:
    return next(i for i, t in enumerate(header) if t == name or t.endswith(f"[{name}]"))


def _with_context_columns(path: Path) -> None:
    """Give an exported runs-layout CSV the new rows' Due date and Started by columns,
    as a header cell ``Title [key]`` (the export may not write them yet)."""
    table = _read_csv(path)
    if any(t.endswith("[due_date]") or t == "Due date" for t in table[0]):
        return
    table[0][1:1] = ["Due date [due_date]", "Started by [started_by]"]
    for row in table[1:]:
        row[1:1] = ["", ""]
    _write_csv(path, table)


def _ctx(path: Path, key: str) -> str:
    """The name ``add_rows`` finds a context column by: its key in brackets, or the
    title the export gives it (``Due date``, ``Started by``)."""
    header = _read_csv(path)[0]
    if any(t.endswith(f"[{key}]") for t in header):
        return key
    return {"due_date": "Due date", "started_by": "Started by"}[key]


def _results(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "results.csv").open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _requests(sandbox) -> int:
    return sum(sandbox.stats.by_status.values())


def _fresh(http, **knobs):
    bulk, sandbox = http(**knobs)
    path = export_csv(bulk)
    return bulk, sandbox, path, runs_by_title(sandbox)


# =========================================================================================
# Defects
# =========================================================================================


def test_renaming_a_started_row_and_importing_again_does_not_start_a_second_run(http):
    """A row started by an import, whose title the user then corrects in the same sheet
    ('Onboarding – Ana' → 'Onboarding – Ana Lima'), must not start a second run on the
    next import of that sheet: the journal says that row was started. Expected: the row
    is reported as started already (or as a conflict, exit 9) and nothing is POSTed.
    Today the row's key (title + occurrence) changes with the title, so the rerun does
    not know it and POSTs a second run for the same person."""
    bulk, sandbox, path, before = _fresh(http)
    add_rows(path, [{"Run": "Onboarding – Ana", NAME: "Ana Lima"}])
    assert bulk("import", "launch.csv", "--yes").exit_code == 0
    assert posts(sandbox) == 1
    table = _read_csv(path)
    table[-1][0] = "Onboarding – Ana Lima"  # the user corrects the title
    _write_csv(path, table)
    result = bulk("import", "launch.csv", "--yes")
    assert posts(sandbox) == 1, "a second run was started for the same row"
    assert sum((runs_by_title(sandbox) - before).values()) == 1
    assert result.exit_code in (0, ExitCode.CONFLICTS)


@pytest.mark.parametrize("how", ["row inserted above", "missing title filled in"])
def test_a_row_never_takes_the_run_its_twin_started(http, how):
    """Two new rows with the same title are two runs. When an import started one of them
    (B), and the sheet then gets another row with that title *above* it (a row inserted,
    or a row that had no title at the first import, run with --skip-invalid, and now
    has one), the next import must start a run for the other row, with *its* values,
    and leave B's run to B. Today row keys are title + occurrence number, so the other
    row takes B's key: it is reported 'started already' with B's run, and B starts a
    second run with B's values; the other row's values never reach NextStep."""
    bulk, sandbox, path, before = _fresh(http)
    if how == "row inserted above":
        add_rows(path, [{"Run": TWIN, NAME: "Bea"}])
        assert bulk("import", "launch.csv", "--yes").exit_code == 0
        table = _read_csv(path)
        new = [""] * len(table[0])
        new[0], new[_col(table[0], NAME)] = TWIN, "Ann"
        table.insert(len(table) - 1, new)  # typed above Bea's row
        _write_csv(path, table)
    else:
        add_rows(path, [{NAME: "Ann"}, {"Run": TWIN, NAME: "Bea"}])
        first = bulk("import", "launch.csv", "--yes", "--skip-invalid")
        assert first.exit_code in (0, ExitCode.INVALID, ExitCode.FAILED), first.output
        assert posts(sandbox) == 1
        table = _read_csv(path)
        table[-2][0] = TWIN  # the title the first row lacked
        _write_csv(path, table)
    _code, report = dry_run(bulk, "launch.csv")
    by_name = {c["cell_row"]: c for c in report["creates"]}
    ann_row = len(table) - 1  # 1-based sheet row of Ann (the second-last row)
    ann = by_name[ann_row]
    assert ann["outcome"] == "start", f"Ann's row is reported {ann['outcome']} ({ann['note']})"
    assert bulk("import", "launch.csv", "--yes").exit_code == 0
    assert runs_by_title(sandbox)[TWIN] - before[TWIN] == 2
    with sandbox_client(sandbox) as client:
        names = sorted(
            e.value
            for r in client.list_runs(template_id=TEMPLATE)
            if r.title == TWIN
            for t in client.run_tasks(r.id)
            for e in t.elements
            if e.id == "el_onb_name"
        )
    assert names == ["Ann", "Bea"]


def test_a_twin_whose_post_was_never_answered_does_not_adopt_its_twins_run_on_rerun(http):
    """Two new rows with the same title and the same values are two runs. When the
    first row's POSTs were all lost before NextStep did anything (the row fails: 'did
    not answer 4 times') and its twin was started, running the import again must start
    the first row's run, not take the twin's run as the first row's ('adopted'), which
    leaves two rows with one run. The search for a lost POST's run must not consider a
    run that the journals say another row started."""
    bulk, sandbox, path, before = _fresh(http)
    add_rows(path, [{"Run": TWIN, NAME: "Twin"}, {"Run": TWIN, NAME: "Twin"}])
    aim = Aim(sandbox, lambda r, n: "drop_before" if r.method == "POST" and n < 4 else None)
    first = bulk("import", "launch.csv", "--yes")
    aim.off()
    assert first.exit_code == ExitCode.FAILED, first.output
    assert runs_by_title(sandbox)[TWIN] - before[TWIN] == 1  # the twin only
    again = bulk("import", "launch.csv", "--yes")
    assert again.exit_code == 0, again.output
    assert runs_by_title(sandbox)[TWIN] - before[TWIN] == 2, (
        "the first row took its twin's run: two rows, one run"
    )


def test_a_canary_runs_twin_with_a_lost_answer_does_not_adopt_the_canary_run(http):
    """With --canary 1, the first of two same-title rows is started in the canary and
    the second after it. When the second row's POST is lost before NextStep did
    anything, bulksync must send it again (no run of it exists), not take the canary's
    run, started by this very import for the other row, as the second row's. Today the
    runs claimed in the canary batch are forgotten by the next batch's search."""
    bulk, sandbox, path, before = _fresh(http)
    add_rows(path, [{"Run": TWIN, NAME: "Twin"}, {"Run": TWIN, NAME: "Twin"}])
    aim = Aim(sandbox, lambda r, n: "drop_before" if r.method == "POST" and n == 1 else None)
    result = bulk("import", "launch.csv", "--yes", "--canary", "1")
    aim.off()
    assert result.exit_code == 0, result.output
    [run_dir] = run_dirs(Path.cwd())
    started = [r for r in _results(run_dir) if r["field"] == "Run started"]
    assert len({r["run_id"] for r in started}) == 2, started
    assert runs_by_title(sandbox)[TWIN] - before[TWIN] == 2


def _started_without_ticks(bulk, sandbox, path) -> tuple[str, Path]:
    """A row started by an import that was killed after the POST's answer and before its
    tick: the journal cut after 'started', the task unticked in the sandbox."""
    add_rows(path, [{"Run": "Onboarding – Half", WELCOME: "TRUE"}])
    assert bulk("import", "launch.csv", "--yes").exit_code == 0
    [run_dir] = run_dirs(Path.cwd())
    journal = run_dir / "journal.jsonl"
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if json.loads(line)["event"] == "started")
    journal.write_text("".join(lines[: cut + 1]), encoding="utf-8")
    (run_dir / "results.csv").unlink()
    run_id = json.loads(lines[cut])["run_id"]
    with sandbox_client(sandbox) as client:
        [task] = [t for t in client.run_tasks(run_id) if t.template_task_id == "tt_onb_welcome"]
        client.patch_task(run_id, task.id, completed=False)
    return run_id, run_dir


def test_a_row_started_already_with_its_tick_pending_is_not_counted_as_a_run_to_start(http):
    """After an import that started a row's run and was killed before its tick, the dry
    run of the same sheet has nothing to POST for that row: `summary.creates` (the runs
    the import starts) is 0, the JSON `requests` list no POST for it, and the request
    count is the read of its tasks and one PATCH. Today the row counts as a run to
    start and a POST is listed that is never sent."""
    bulk, sandbox, path, _ = _fresh(http)
    run_id, _ = _started_without_ticks(bulk, sandbox, path)
    code, report = dry_run(bulk, "launch.csv")
    assert code == 0
    [row] = report["creates"]
    assert row["outcome"] == "started" and row["run_id"] == run_id
    assert row["requests"] == 2
    assert report["summary"]["requests"] == 2
    assert (report["summary"]["creates"], [r["method"] for r in report["requests"]]) == (0, [])


def test_undo_of_a_rerun_does_not_untick_a_run_an_earlier_import_started(http):
    """Undo does not untick or unassign what an import set on the runs started from the
    sheet. That holds also for the ticks a rerun sets on a run an earlier (killed)
    import started: undoing the rerun must leave the tick, and list the run as one the
    sheet started. Today the rerun's journal has no 'started' line for that run, so its
    tick counts as an edit of an existing run and undo unticks it."""
    bulk, sandbox, path, _ = _fresh(http)
    _run_id, first_dir = _started_without_ticks(bulk, sandbox, path)
    again = bulk("import", "launch.csv", "--yes")
    assert again.exit_code == 0, again.output
    assert values_of(sandbox, "Onboarding – Half")[0][WELCOME] is True
    [rerun_dir] = [d for d in run_dirs(Path.cwd()) if d != first_dir]
    undo = bulk("undo", str(rerun_dir), "--yes")
    assert undo.exit_code == 0, undo.output
    assert values_of(sandbox, "Onboarding – Half")[0][WELCOME] is True, "undo unticked it"


def test_n_a_typed_as_a_new_rows_value_is_not_dropped_silently(http):
    """A new row's Pronouns typed as 'n/a' (a real answer) must reach the run, or at
    least be reported; today the cell is skipped without a word, as if empty, while in
    an existing run's row the same text is imported."""
    bulk, _sandbox, path, _ = _fresh(http)
    add_rows(path, [{"Run": "Onboarding – NA", "tt_onb_details:el_onb_pronouns": "n/a"}])
    _code, report = dry_run(bulk, "launch.csv")
    [start] = report["creates"]
    said = [i for i in report["errors"] + report["warnings"] if "n/a" in json.dumps(i)]
    if said:
        return  # reported: fine
    assert start["values"].get("tt_onb_details:el_onb_pronouns") == "n/a", start["values"]


def test_a_started_by_who_is_not_a_team_member_starts_no_run(http):
    """'Started by' must be an active member of the team (docs/import.md; the API
    contract, Part B: an actor_email that is not one is a 400 and no run is created).
    A row whose Started by is a syntactically valid stranger's address must not start a
    run recorded as started by that stranger: an error at the cell (nothing sent), or
    the POST refused and the row failed. Today the sandbox accepts any actor_email and
    bulksync does not check it, so the run is started by 'nobody@elsewhere.example'."""
    bulk, sandbox, path, before = _fresh(http)
    _with_context_columns(path)
    add_rows(
        path,
        [{"Run": "Onboarding – Stranger", _ctx(path, "started_by"): "nobody@elsewhere.example"}],
    )
    bulk("import", "launch.csv", "--yes")
    started = runs_by_title(sandbox) - before
    if started:
        _, run = values_of(sandbox, "Onboarding – Stranger")
        assert run["started_by"] != "nobody@elsewhere.example"


def test_a_search_that_cannot_be_read_does_not_lose_the_other_rows_results(http):
    """When a POST's answer is lost and the search for its run cannot be read either
    (NextStep keeps answering 503 to the list of runs), that row fails with a clear
    message; the other rows are still started, and results.csv has a row per run
    started, with its id. Today the search's error (an ApiError from
    ``Starter._search``) escapes the starter and ends the import with exit 5: the rows
    after it are never tried, and there is no results.csv (runs started meanwhile by
    other in-flight groups would be in no results file)."""
    bulk, sandbox, path, before = _fresh(http)
    titles = [f"Onboarding – Row {n}" for n in range(4)]
    add_rows(path, [{"Run": t} for t in titles])
    lost = {"yes": False}

    def decide(request: SandboxRequest, n: int) -> str | None:
        if request.method == "POST" and _post_name(request) == titles[0] and not lost["yes"]:
            lost["yes"] = True
            return "drop_after"
        if lost["yes"] and request.method == "GET" and _path_kind(request.path) == "runs":
            return "fail_get"
        return None

    aim = Aim(sandbox, decide)
    result = bulk("import", "launch.csv", "--yes", "--in-flight", "1")
    aim.off()
    assert "Traceback" not in result.output
    started = runs_by_title(sandbox) - before
    assert [started[t] for t in titles[1:]] == [1, 1, 1], "the other rows were not started"
    [run_dir] = run_dirs(Path.cwd())
    assert (run_dir / "results.csv").exists(), "no results.csv"
    assert result.exit_code == ExitCode.FAILED, result.output
    rows = {r["run"]: r for r in _results(run_dir) if r["field"] == "Run started"}
    for title in titles[1:]:
        assert rows[title]["result"] == "started" and rows[title]["run_id"]
    assert rows[titles[0]]["result"] == "failed"


def test_a_conflict_row_beside_a_row_to_start_exits_9_and_is_in_results(http, tmp_path):
    """In a copy imported from another folder, a row whose title was started since the
    export is a conflict (not started) while a really new row is started: exit 9, and
    results.csv has a row for each (conflict; started with its run id). Today the
    apply exits 0, says '0 conflict(s)', and results.csv has no row for the conflict:
    only rows that are sent become StartResults (``apply.apply_plan`` passes
    ``plan.unwritten()``, the value conflicts, but not the new rows in conflict), so
    ``ApplyResult.exit_code``'s check for a start in conflict never sees one."""
    bulk, sandbox, path, before = _fresh(http)
    add_rows(path, [{"Run": "Onboarding – First"}])
    assert bulk("import", "launch.csv", "--yes").exit_code == 0
    other = tmp_path / "other2"
    other.mkdir()
    for name in ("launch.csv", "launch.csv.base.json"):
        (other / name).write_bytes(Path(name).read_bytes())
    os.chdir(other)
    add_rows(other / "launch.csv", [{"Run": "Onboarding – Second"}])
    result = bulk("import", "launch.csv", "--yes")
    assert result.exit_code == ExitCode.CONFLICTS, result.output
    assert runs_by_title(sandbox) - before == Counter(
        {"Onboarding – First": 1, "Onboarding – Second": 1}
    )
    [run_dir] = run_dirs(other)
    rows = {r["run"]: r for r in _results(run_dir) if r["field"] == "Run started"}
    assert rows["Onboarding – First"]["result"] == "conflict"
    assert (
        rows["Onboarding – Second"]["result"] == "started" and rows["Onboarding – Second"]["run_id"]
    )


# =========================================================================================
# Attacks that held
# =========================================================================================


def test_bad_new_rows_are_errors_at_their_cells_and_nothing_is_sent(http):
    """Formulas in a title or a value, a title of spaces with values, a bad option, a
    value in a display-only column; each at its cell, no traceback, no request."""
    bulk, sandbox, path, _ = _fresh(http)
    add_rows(
        path,
        [
            {"Run": "=1+1"},
            {"Run": "   ", "tt_onb_dept:el_onb_band": "3"},
            {"Run": "Formula value", NAME: "=A1"},
            {"Run": "Bad option", "tt_onb_dept:el_onb_dept": "Sales"},
            {"Run": "Too exact", "tt_onb_dept:el_onb_band": "9007199254740993"},
        ],
    )
    first = len(_read_csv(path)) - 4
    code, report = dry_run(bulk, "launch.csv")
    assert code == ExitCode.INVALID
    codes = {(e["code"], int(re.sub(r"\D", "", e["cell"].split("!")[1]))) for e in report["errors"]}
    assert ("formula", first) in codes and ("title_required", first + 1) in codes
    assert ("formula", first + 2) in codes and ("not_an_option", first + 3) in codes
    assert ("inexact_number", first + 4) in codes
    result = bulk("import", "launch.csv", "--yes")
    assert result.exit_code == ExitCode.INVALID and "Traceback" not in result.output
    assert posts(sandbox) == 0


def test_odd_due_dates_and_started_by_are_errors_at_their_cells(http):
    bulk, sandbox, path, _ = _fresh(http)
    _with_context_columns(path)
    add_rows(
        path,
        [
            {"Run": "A", _ctx(path, "due_date"): "2027-02-30"},
            {"Run": "B", _ctx(path, "due_date"): "2027-01-29 14:30"},
            {"Run": "C", _ctx(path, "due_date"): "03/04/2027"},
            {"Run": "D", _ctx(path, "started_by"): "not an email"},
        ],
    )
    code, report = dry_run(bulk, "launch.csv")
    assert code == ExitCode.INVALID
    assert Counter(e["code"] for e in report["errors"]) == {"not_a_date": 3, "not_an_email": 1}
    header = _read_csv(path)[0]
    columns = {col_name(header.index("Due date")), col_name(header.index("Started by"))}
    assert {e["cell"].split("!")[1].rstrip("0123456789") for e in report["errors"]} == columns
    assert bulk("import", "launch.csv", "--yes").exit_code == ExitCode.INVALID
    assert posts(sandbox) == 0


def test_unpublished_template_and_no_base_csv_start_nothing(http):
    bulk, sandbox = http()
    path = export_csv(bulk, "draft.csv", template="tpl_access_review")
    add_rows(path, [{"Run": "Q1 review"}])
    assert bulk("import", "draft.csv", "--yes").exit_code == ExitCode.INVALID
    path = export_csv(bulk, "nobase.csv")
    add_rows(path, [{"Run": "No base"}])
    Path(f"{path}.base.json").unlink()
    result = bulk("import", "nobase.csv", "--yes", "--no-base", "--json")
    assert result.exit_code == ExitCode.INVALID and "Traceback" not in result.output
    assert "no_template" in result.output
    assert posts(sandbox) == 0


def test_odd_titles_and_every_value_type_reach_the_run_exactly(http):
    """A huge title, an emoji title, a title with a leading '=', options with commas
    and a leading '=', a 53-bit integer, decimals, multi-line text."""
    bulk, sandbox, path, before = _fresh(http)
    huge = "Onboarding " + "x" * 3000
    rows = [
        {
            "Run": "🚀 Onboarding – Zoë 🎉",
            "tt_onb_dept:el_onb_dept": "'=Unassigned",
            "tt_onb_accounts:el_onb_systems": "'=Legacy ERP; Über-Admin console",
            "tt_onb_equipment:el_onb_accessories": "Keyboard, US layout, Keyboard, DE layout",
            "tt_onb_dept:el_onb_band": "9007199254740991",
            "tt_onb_review:el_onb_score": "0.1",
            "tt_onb_equipment:el_onb_delivery": "line 1\nline 2\n\n  line 4",
            "tt_onb_details:el_onb_empno": "0296",
            "tt_onb_tour:el_onb_badge": "yes",
        },
        {"Run": huge, "tt_onb_dept:el_onb_dept": "Sales, EMEA", "tt_onb_dept:el_onb_band": "-3.25"},
        {"Run": "'=Not a formula"},
    ]
    add_rows(path, rows)
    result = bulk("import", "launch.csv", "--yes")
    assert result.exit_code == 0, result.output
    assert runs_by_title(sandbox) - before == Counter(
        {"🚀 Onboarding – Zoë 🎉": 1, huge: 1, "=Not a formula": 1}
    )
    values, _ = values_of(sandbox, "🚀 Onboarding – Zoë 🎉")
    assert values["tt_onb_dept:el_onb_dept"] == "=Unassigned"
    assert values["tt_onb_accounts:el_onb_systems"] == ["=Legacy ERP", "Über-Admin console"]
    assert values["tt_onb_equipment:el_onb_accessories"] == [
        "Keyboard, US layout",
        "Keyboard, DE layout",
    ]
    assert values["tt_onb_dept:el_onb_band"] == 9007199254740991
    assert values["tt_onb_review:el_onb_score"] == 0.1
    assert values["tt_onb_equipment:el_onb_delivery"] == "line 1\nline 2\n\n  line 4"
    assert values["tt_onb_details:el_onb_empno"] == "0296"
    assert values["tt_onb_tour:el_onb_badge"] is True
    values, _ = values_of(sandbox, huge)
    assert values["tt_onb_dept:el_onb_dept"] == "Sales, EMEA"
    assert values["tt_onb_dept:el_onb_band"] == -3.25
    assert bulk("import", "launch.csv", "--yes").exit_code == 0
    assert posts(sandbox) == 3


def test_a_title_changed_only_in_case_and_blanks_is_the_same_row(http):
    bulk, sandbox, path, _before = _fresh(http)
    add_rows(path, [{"Run": "Onboarding – Case Row"}])
    assert bulk("import", "launch.csv", "--yes").exit_code == 0
    table = _read_csv(path)
    table[-1][0] = "  onboarding –   CASE row "
    _write_csv(path, table)
    _code, report = dry_run(bulk, "launch.csv")
    assert [c["outcome"] for c in report["creates"]] == ["started"]
    assert bulk("import", "launch.csv", "--yes").exit_code == 0
    assert posts(sandbox) == 1


def test_request_counts_and_results_tell_the_truth(http):
    """summary.requests is what the apply sends: POSTs, a read and PATCHes per row with
    ticks and assignees; results.csv has each started run's id; the key is nowhere."""
    bulk, sandbox = http()
    assert bulk("export", "--template", TEMPLATE, "--assignees", "-o", "launch.csv").exit_code == 0
    path = Path("launch.csv").resolve()
    add_rows(
        path,
        [
            {"Run": "Onboarding – R1", WELCOME: "TRUE", "tt_onb_contract:completed": "TRUE"},
            {"Run": "Onboarding – R2", "tt_onb_dept:assignee": "ana.garcia@acme.example"},
            {"Run": "Onboarding – R3", NAME: "R3"},
        ],
    )
    exported = _requests(sandbox)
    result = bulk("import", "launch.csv", "--dry-run", "--json", "--report", "plan.html")
    report = json.loads(result.stdout)
    assert report["summary"]["creates"] == 3
    planned = report["summary"]["requests"]
    assert planned == 3 + (1 + 2) + (1 + 1)  # POSTs; R1: read + 2 PATCHes; R2: read + PATCH
    reads = _requests(sandbox) - exported  # what planning reads; the apply reads it again
    applied = bulk("import", "launch.csv", "--yes", "--json", "--report", "after.json")
    assert applied.exit_code == 0, applied.output
    assert _requests(sandbox) - exported - 2 * reads == planned
    [run_dir] = run_dirs(Path.cwd())
    started = [r for r in _results(run_dir) if r["field"] == "Run started"]
    assert len(started) == 3 and all(r["run_id"] and r["result"] == "started" for r in started)
    key = sandbox.config.api_key
    for file in [*run_dir.iterdir(), Path("plan.html"), Path("after.json")]:
        assert key not in file.read_text(encoding="utf-8", errors="replace"), file


def test_a_copy_in_another_folder_is_a_conflict_exit_9_and_results_say_so(http, tmp_path):
    bulk, sandbox, path, _before = _fresh(http)
    add_rows(path, [{"Run": "Onboarding – Elsewhere"}])
    assert bulk("import", "launch.csv", "--yes").exit_code == 0
    other = tmp_path / "other"
    other.mkdir()
    for name in ("launch.csv", "launch.csv.base.json"):
        (other / name).write_bytes(Path(name).read_bytes())
    os.chdir(other)
    result = bulk("import", "launch.csv", "--yes")
    assert result.exit_code == ExitCode.CONFLICTS
    assert runs_by_title(sandbox)["Onboarding – Elsewhere"] == 1


def test_a_429_storm_starts_each_row_once(http):
    bulk, sandbox, path, before = _fresh(http, rate_limit=3, window=1.0)
    titles = [f"Onboarding – Storm {n}" for n in range(6)]
    add_rows(path, [{"Run": t, WELCOME: "TRUE"} for t in titles])
    result = bulk("import", "launch.csv", "--yes", "--max-rate", "100000")
    assert result.exit_code == 0, result.output
    assert runs_by_title(sandbox) - before == Counter({t: 1 for t in titles})
    assert sandbox.stats.count("POST", 429) > 0 or sandbox.stats.count("GET", 429) > 0


def test_lost_answers_to_a_post_and_to_the_search_then_a_rerun_start_each_row_once(http):
    """A POST carried out with its answer lost, and the searches for it answered 503:
    the row fails, nothing is sent twice; a rerun finds and adopts the run."""
    bulk, sandbox, path, _before = _fresh(http)
    add_rows(path, [{"Run": "Onboarding – Lost", NAME: "Lost"}])
    state = {"posted": False}

    def decide(request: SandboxRequest, n: int) -> str | None:
        if request.method == "POST" and not state["posted"]:
            state["posted"] = True
            return "drop_after"
        if state["posted"] and request.method == "GET" and _path_kind(request.path) == "runs":
            return "fail_get"
        return None

    aim = Aim(sandbox, decide)
    first = bulk("import", "launch.csv", "--yes")
    aim.off()
    assert "Traceback" not in first.output
    assert runs_by_title(sandbox)["Onboarding – Lost"] == 1
    again = bulk("import", "launch.csv", "--yes")
    assert again.exit_code == 0, again.output
    assert runs_by_title(sandbox)["Onboarding – Lost"] == 1
    assert posts(sandbox) == 1


def test_kill_9_right_after_a_post_then_a_plain_rerun_starts_each_row_once(http):
    """kill -9 while POSTs are in flight (answers slow), then a plain rerun (a new run
    directory, not --resume): every row ends as exactly one run."""
    bulk, sandbox, path, before = _fresh(http, rate_limit=100_000, latency_ms=150)
    titles = [f"Onboarding – Kill {n}" for n in range(6)]
    add_rows(path, [{"Run": t, WELCOME: "TRUE"} for t in titles])
    process = subprocess.Popen(
        [sys.executable, "-m", "bulksync", "import", "launch.csv", "--yes", "--in-flight", "2"],
        cwd=Path.cwd(),
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    killed = False
    try:
        for _ in range(1500):
            if process.poll() is not None:
                break
            found = list((Path.cwd() / ".bulksync" / "imports").glob("*/journal.jsonl"))
            events = [e["event"] for e in read_journal(found[0])] if found else []
            if events.count("start_intent") >= 3 and events.count("start_intent") > events.count(
                "started"
            ):
                process.kill()
                killed = True
                break
            select.select([], [], [], 0.01)
    finally:
        process.kill()
        process.wait(timeout=30)
    assert killed, "the import finished before it could be killed"
    result = bulk("import", "launch.csv", "--yes")
    assert result.exit_code == 0, result.output
    assert runs_by_title(sandbox) - before == Counter({t: 1 for t in titles})
    for title in titles:
        assert values_of(sandbox, title)[0][WELCOME] is True


def test_fail_fast_and_skip_invalid_start_only_the_valid_rows_once(http):
    bulk, sandbox, path, before = _fresh(http)
    add_rows(
        path,
        [
            {"Run": "Onboarding – Good 1"},
            {"Run": "Onboarding – Bad", "tt_onb_dept:el_onb_dept": "Nope"},
            {"Run": "Onboarding – Good 2"},
        ],
    )
    result = bulk("import", "launch.csv", "--yes", "--skip-invalid", "--fail-fast")
    assert "Traceback" not in result.output
    assert runs_by_title(sandbox) - before == Counter(
        {"Onboarding – Good 1": 1, "Onboarding – Good 2": 1}
    )
    bulk("import", "launch.csv", "--yes", "--skip-invalid")
    assert posts(sandbox) == 2


def test_undo_lists_the_started_runs_and_keeps_their_ticks(http):
    bulk, sandbox, path, _before = _fresh(http)
    add_rows(path, [{"Run": "Onboarding – Keep", WELCOME: "TRUE"}])
    assert bulk("import", "launch.csv", "--yes").exit_code == 0
    [run_dir] = run_dirs(Path.cwd())
    undo = bulk("undo", str(run_dir), "--dry-run", "--json")
    report = json.loads(undo.stdout)
    assert [r["title"] for r in report["started_runs"]] == ["Onboarding – Keep"]
    assert bulk("undo", str(run_dir), "--yes").exit_code == 0
    assert values_of(sandbox, "Onboarding – Keep")[0][WELCOME] is True


def test_values_in_columns_the_template_no_longer_has_are_errors_at_their_cells(http):
    bulk, sandbox, path, _ = _fresh(http)
    store = sandbox.store
    [details] = [t for t in store.template_tasks(TEMPLATE) if t["id"] == "tt_onb_details"]
    details["custom_elements"] = [
        e for e in details["custom_elements"] if e["id"] != "el_onb_pronouns"
    ]
    with store.transaction():
        store._db.execute(
            "UPDATE template_tasks SET doc = ? WHERE template_id = ? AND id = ?",
            (json.dumps(details), TEMPLATE, "tt_onb_details"),
        )
        store._db.execute(
            "DELETE FROM template_tasks WHERE template_id = ? AND id = ?",
            (TEMPLATE, "tt_onb_buddy"),
        )
    add_rows(
        path,
        [
            {
                "Run": "Onboarding – Old columns",
                "tt_onb_details:el_onb_pronouns": "she/her",
                "tt_onb_buddy:el_onb_buddy": "grace.oneil@acme.example",
                NAME: "Fine",
            }
        ],
    )
    code, report = dry_run(bulk, "launch.csv")
    assert code == ExitCode.INVALID
    header = _read_csv(path)[0]
    cells = {e["cell"] for e in report["errors"] if e["code"] == "not_in_template"}
    row = len(_read_csv(path))
    from bulksync.sheets.reading import col_name

    assert cells == {
        f"launch.csv!{col_name(_col(header, 'tt_onb_details:el_onb_pronouns'))}{row}",
        f"launch.csv!{col_name(_col(header, 'tt_onb_buddy:el_onb_buddy'))}{row}",
    }
    assert bulk("import", "launch.csv", "--yes").exit_code == ExitCode.INVALID
    assert posts(sandbox) == 0

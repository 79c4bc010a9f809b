"""Starting runs from new rows of a runs-layout sheet, at CLI level, against the sandbox
over loopback HTTP: exactly the runs asked for, with exactly their values, and never a
run started twice, whatever the network or a rerun does."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import select
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bulksync.errors import ExitCode
from bulksync.rundir import read_journal
from bulksync.sandbox import sandbox_client
from tests.test_cli_apply import run_dirs

TEMPLATE = "tpl_onboarding"
ACTOR = "chen.wei@acme.example"
ROW = {
    "Run": "Onboarding – Noor Haddad",
    "Due date": "2027-01-29",
    "Started by": ACTOR,
    "tt_onb_welcome:completed": "TRUE",
    "tt_onb_details:el_onb_name": "Noor Haddad",
    "tt_onb_details:el_onb_email": "noor@example.org",
    "tt_onb_details:el_onb_empno": "007",
    "tt_onb_dept:el_onb_dept": "Recherche & Développement",
    "tt_onb_dept:el_onb_start": "2027-01-04",
    "tt_onb_dept:el_onb_band": "4.5",
    "tt_onb_contract:el_onb_signed": "TRUE",
    "tt_onb_equipment:el_onb_laptop": 'MacBook Pro 14"',
    "tt_onb_equipment:el_onb_accessories": "Monitor; Keyboard, DE layout",
    "tt_onb_equipment:el_onb_delivery": "Reception, 2nd floor\nask for Sam",
    "tt_onb_accounts:el_onb_github": "https://github.com/noor",
    "tt_onb_contract:completed": "TRUE",
}
"""A new row with a value of every element type, and two ticks."""
EXPECTED = {
    "tt_onb_details:el_onb_name": "Noor Haddad",
    "tt_onb_details:el_onb_email": "noor@example.org",
    "tt_onb_details:el_onb_empno": "007",
    "tt_onb_dept:el_onb_dept": "Recherche & Développement",
    "tt_onb_dept:el_onb_start": "2027-01-04",
    "tt_onb_dept:el_onb_band": 4.5,
    "tt_onb_contract:el_onb_signed": True,
    "tt_onb_equipment:el_onb_laptop": 'MacBook Pro 14"',
    "tt_onb_equipment:el_onb_accessories": ["Monitor", "Keyboard, DE layout"],
    "tt_onb_equipment:el_onb_delivery": "Reception, 2nd floor\nask for Sam",
    "tt_onb_accounts:el_onb_github": "https://github.com/noor",
    "tt_onb_welcome:completed": True,
    "tt_onb_contract:completed": True,
    "tt_onb_dept:completed": False,
}


def export_csv(bulk, name: str = "launch.csv", template: str = TEMPLATE) -> Path:
    result = bulk("export", "--template", template, "-o", name)
    assert result.exit_code == 0, result.output
    return Path(name).resolve()


def add_rows(path: Path, rows: list[dict[str, str]]) -> None:
    """Append new rows to an exported runs-layout CSV, by column title or key."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        table = list(csv.reader(handle))
    header = table[0]

    def column(name: str) -> int:
        return next(
            i for i, title in enumerate(header) if title == name or title.endswith(f"[{name}]")
        )

    for values in rows:
        row = [""] * len(header)
        for name, value in values.items():
            row[column(name)] = value
        table.append(row)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows(table)


def records(path: Path) -> int:
    """The CSV's records, header included (a record may span lines)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return sum(1 for _ in csv.reader(handle))


def runs_by_title(sandbox, template: str = TEMPLATE) -> Counter[str]:
    with sandbox_client(sandbox) as client:
        return Counter(r.title for r in client.list_runs(template_id=template))


def values_of(sandbox, title: str) -> tuple[dict[str, object], dict[str, object]]:
    """The run with this title: its fields by column key, and the run itself."""
    with sandbox_client(sandbox) as client:
        [run] = [r for r in client.list_runs(template_id=TEMPLATE) if r.title == title]
        found: dict[str, object] = {}
        for task in client.run_tasks(run.id):
            found[f"{task.template_task_id}:completed"] = task.completed
            for element in task.elements:
                found[f"{task.template_task_id}:{element.id}"] = element.value
    return found, dataclasses.asdict(run)


def dry_run(bulk, name: str) -> tuple[int, dict]:
    result = bulk("import", name, "--dry-run", "--json")
    return result.exit_code, json.loads(result.stdout)


def posts(sandbox) -> int:
    return sum(n for (method, _), n in sandbox.stats.by_status.items() if method == "POST")


def test_a_new_row_of_every_type_starts_exactly_that_run_with_exactly_its_values(http):
    bulk, sandbox = http()
    path = export_csv(bulk)
    before = runs_by_title(sandbox)
    lines = records(path)
    add_rows(path, [ROW, {"Run": "Onboarding – Ines Costa", "tt_onb_dept:el_onb_band": "3"}])
    code, report = dry_run(bulk, "launch.csv")
    assert code == 0, report["errors"]
    assert report["summary"]["creates"] == 2
    [noor, ines] = report["creates"]
    assert noor["title"] == ROW["Run"] and noor["cell_row"] == lines + 1
    assert noor["due_date"] == "2027-01-29" and noor["actor_email"] == ACTOR
    assert noor["then"] == {"completed": ["tt_onb_welcome", "tt_onb_contract"], "assignee": {}}
    assert noor["values"]["tt_onb_dept:el_onb_band"] == 4.5
    # POST + read + a PATCH per ticked task; and a POST alone
    assert noor["requests"] == 4 and ines["requests"] == 1
    assert report["summary"]["requests"] == 5
    assert posts(sandbox) == 0  # the dry run sends nothing

    result = bulk("import", "launch.csv", "--yes")
    assert result.exit_code == 0, result.output
    after = runs_by_title(sandbox)
    assert after - before == Counter({ROW["Run"]: 1, "Onboarding – Ines Costa": 1})
    values, run = values_of(sandbox, ROW["Run"])
    for key, value in EXPECTED.items():
        assert values[key] == value, key
    assert run["due_date"].startswith("2027-01-29") and run["started_by"] == ACTOR
    assert posts(sandbox) == 2 and sandbox.stats.patches_applied == 2
    # results.csv gives each new run's id and link
    [run_dir] = run_dirs(Path.cwd())
    with (run_dir / "results.csv").open(encoding="utf-8-sig") as handle:
        started = [r for r in csv.DictReader(handle) if r["field"] == "Run started"]
    assert {r["run"] for r in started} == {ROW["Run"], "Onboarding – Ines Costa"}
    assert all(r["result"] == "started" and r["after"].endswith(r["run_id"]) for r in started)

    # the same file again starts nothing, and says why
    again = bulk("import", "launch.csv", "--yes")
    assert again.exit_code == 0, again.output
    assert runs_by_title(sandbox) == after and posts(sandbox) == 2
    asked = sum(sandbox.stats.by_status.values())
    code, report = dry_run(bulk, "launch.csv")
    assert [c["outcome"] for c in report["creates"]] == ["started", "started"]
    assert report["summary"]["creates"] == 0 and report["summary"]["requests"] == 0
    # every row is in the journals: the template and its tasks are read (to check the
    # rows), its runs are not listed
    assert sum(sandbox.stats.by_status.values()) - asked == 2


def test_bad_values_and_a_missing_title_are_errors_at_their_cells_and_nothing_is_sent(http):
    bulk, sandbox = http()
    path = export_csv(bulk)
    rows = records(path) - 1
    add_rows(
        path,
        [
            {"Run": "Onboarding – Ok", "tt_onb_dept:el_onb_dept": "Engineering"},
            {"Run": "Onboarding – Bad", "tt_onb_dept:el_onb_dept": "Finance"},
            {"tt_onb_dept:el_onb_start": "2027-02-30"},
            {"Run": "Onboarding – Worse", "Started by": "not an email"},
            {},  # a row left empty is ignored
        ],
    )
    code, report = dry_run(bulk, "launch.csv")
    assert code == ExitCode.INVALID
    first = rows + 2
    got = {(e["code"], e["cell"].split("!")[1]) for e in report["errors"]}
    assert (
        "not_an_option",
        f"{'ABCDEFGHIJKLMNOPQRSTUVWXYZ'[_col(path, 'el_onb_dept')]}{first + 1}",
    ) in got
    assert ("title_required", f"A{first + 2}") in got
    assert any(code == "not_a_date" for code, _ in got)
    assert any(code == "not_an_email" for code, _ in got)
    result = bulk("import", "launch.csv", "--yes")
    assert result.exit_code == ExitCode.INVALID
    assert posts(sandbox) == 0


def _col(path: Path, key: str) -> int:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle))
    return next(i for i, title in enumerate(header) if title.endswith(f":{key}]"))


def test_an_unpublished_template_starts_nothing_and_says_so(http):
    bulk, sandbox = http()
    path = export_csv(bulk, "draft.csv", template="tpl_access_review")
    add_rows(path, [{"Run": "Q1 review"}])
    code, report = dry_run(bulk, "draft.csv")
    assert code == ExitCode.INVALID
    [error] = report["errors"]
    assert error["code"] == "template_unpublished" and "publish it" in error["message"]
    assert bulk("import", "draft.csv", "--yes").exit_code == ExitCode.INVALID
    assert posts(sandbox) == 0


def test_same_titles_and_titles_in_use_are_warnings_and_each_row_starts_a_run(http):
    bulk, sandbox = http()
    path = export_csv(bulk)
    existing = next(iter(runs_by_title(sandbox)))
    add_rows(path, [{"Run": "Onboarding – Twin"}, {"Run": "Onboarding – Twin"}, {"Run": existing}])
    code, report = dry_run(bulk, "launch.csv")
    assert code == 0
    assert sorted(w["code"] for w in report["warnings"]) == ["duplicate_title", "title_in_use"]
    before = runs_by_title(sandbox)
    assert bulk("import", "launch.csv", "--yes").exit_code == 0
    assert runs_by_title(sandbox) - before == Counter({"Onboarding – Twin": 2, existing: 1})
    assert bulk("import", "launch.csv", "--yes").exit_code == 0
    assert runs_by_title(sandbox) - before == Counter({"Onboarding – Twin": 2, existing: 1})


def test_a_copy_of_the_sheet_beside_it_or_elsewhere_never_starts_a_run_again(http, tmp_path):
    bulk, sandbox = http()
    path = export_csv(bulk)
    add_rows(path, [{"Run": "Onboarding – Copy"}])
    assert bulk("import", "launch.csv", "--yes").exit_code == 0
    # a copy beside it: the journals of this export say the row was started
    shutil.copy(path, "copy.csv")
    shutil.copy(f"{path}.base.json", "copy.csv.base.json")
    code, report = dry_run(bulk, "copy.csv")
    assert code == 0 and report["creates"][0]["outcome"] == "started"
    # a copy in another folder, with no journal: NextStep has a run of that title
    # started since the export, so the row is a conflict and is not started
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(path, elsewhere / "launch.csv")
    shutil.copy(f"{path}.base.json", elsewhere / "launch.csv.base.json")
    os.chdir(elsewhere)
    code, report = dry_run(bulk, "launch.csv")
    assert code == ExitCode.CONFLICTS
    [start] = report["creates"]
    assert start["outcome"] == "conflict" and start["found"] and not start["written"]
    assert bulk("import", "launch.csv", "--yes").exit_code == ExitCode.CONFLICTS
    assert runs_by_title(sandbox)["Onboarding – Copy"] == 1
    # --on-conflict mine starts another, as asked
    mine = bulk("import", "launch.csv", "--yes", "--on-conflict", "mine")
    assert mine.exit_code == 0, mine.output
    assert runs_by_title(sandbox)["Onboarding – Copy"] == 2


TITLES = [f"Onboarding – New hire {n:02d}" for n in range(12)]


@pytest.mark.parametrize("knobs", [{"drop_rate": 0.35}, {"fail_rate": 0.35}])
def test_under_lost_answers_every_row_ends_as_exactly_one_run(http, knobs):
    bulk, sandbox = http(fault_seed=11, rate_limit=100_000)
    path = export_csv(bulk)
    add_rows(
        path,
        [
            {"Run": t, "tt_onb_details:el_onb_name": t[-6:], "tt_onb_welcome:completed": "TRUE"}
            for t in TITLES
        ],
    )
    before = runs_by_title(sandbox)
    calm = sandbox.config
    sandbox.config = dataclasses.replace(calm, **knobs)
    result = bulk("import", "launch.csv", "--yes", "--max-rate", "100000")
    assert result.exit_code in (0, ExitCode.FAILED), result.output
    sandbox.config = calm
    [run_dir] = run_dirs(Path.cwd())
    events = [e["event"] for e in read_journal(run_dir / "journal.jsonl")]
    assert "start_unknown" in events  # answers were lost indeed
    if knobs.get("drop_rate"):
        assert "start_adopted" in events  # a run started without an answer was found
    again = bulk("import", "launch.csv", "--yes", "--max-rate", "100000")
    assert again.exit_code == 0, again.output
    assert runs_by_title(sandbox) - before == Counter({t: 1 for t in TITLES})
    for title in TITLES:
        values, _ = values_of(sandbox, title)
        assert values["tt_onb_details:el_onb_name"] == title[-6:]
        assert values["tt_onb_welcome:completed"] is True


def test_kill_9_while_starting_runs_then_resume_starts_each_run_once(http):
    bulk, sandbox = http(rate_limit=100_000, latency_ms=60)
    path = export_csv(bulk)
    add_rows(path, [{"Run": t, "tt_onb_welcome:completed": "TRUE"} for t in TITLES])
    before = runs_by_title(sandbox)
    process = subprocess.Popen(
        [sys.executable, "-m", "bulksync", "import", "launch.csv", "--yes", "--in-flight", "2"],
        cwd=Path.cwd(),
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    journal = None
    for _ in range(1000):
        if process.poll() is not None:
            break
        found = list((Path.cwd() / ".bulksync" / "imports").glob("*/journal.jsonl"))
        if found and [e["event"] for e in read_journal(found[0])].count("started") >= 3:
            journal = found[0]
            break
        select.select([], [], [], 0.02)
    process.kill()
    process.wait(timeout=30)
    assert journal is not None, "the import finished before it could be killed"
    started = runs_by_title(sandbox) - before
    assert 3 <= sum(started.values()) < len(TITLES)
    result = bulk("import", "launch.csv", "--yes", "--resume")
    assert result.exit_code == 0, result.output
    assert runs_by_title(sandbox) - before == Counter({t: 1 for t in TITLES})
    for title in TITLES:
        assert values_of(sandbox, title)[0]["tt_onb_welcome:completed"] is True
    # and once more, from scratch: nothing
    posted = posts(sandbox)
    assert bulk("import", "launch.csv", "--yes").exit_code == 0
    assert posts(sandbox) == posted


def test_undo_lists_the_runs_it_cannot_delete_and_reverts_the_edits(http):
    bulk, sandbox = http()
    path = export_csv(bulk)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        table = list(csv.reader(handle))
    band = _col(path, "el_onb_band")
    was = table[1][band]
    table[1][band] = "42"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows(table)
    add_rows(path, [{"Run": "Onboarding – Undo me"}])
    dry = bulk("import", "launch.csv", "--dry-run")
    assert "undo cannot delete" in dry.output.replace("\n", " ")
    assert bulk("import", "launch.csv", "--yes").exit_code == 0
    [run_dir] = run_dirs(Path.cwd())
    result = bulk("undo", str(run_dir), "--yes")
    assert result.exit_code == 0, result.output
    assert "undo cannot delete" in result.stderr and "Onboarding – Undo me" in result.stderr
    assert runs_by_title(sandbox)["Onboarding – Undo me"] == 1  # still there
    run_id = table[1][table[0].index("run_id")]
    with sandbox_client(sandbox) as client:
        tasks = client.run_tasks(run_id)
    [element] = [e for t in tasks for e in t.elements if e.id == "el_onb_band"]
    assert str(element.value if element.value is not None else "") in (was, was + ".0")


def test_rows_appended_below_an_xlsx_export_start_runs(http):
    """A row typed at the bottom of any runs-layout workbook, as a spreadsheet app
    saves it (typed cells: a date cell, a number, a boolean), starts its run."""
    import datetime as dt

    import openpyxl

    bulk, sandbox = http()
    assert bulk("export", "--template", TEMPLATE, "-o", "onb.xlsx").exit_code == 0
    book = openpyxl.load_workbook("onb.xlsx")
    data = book["Runs"]
    keys = [c.value for c in data[2]]
    last = data.max_row
    while last > 3 and not data.cell(last, 1).value:
        last -= 1
    new = last + 2  # a blank row between: still read

    def put(key: str, value: object) -> None:
        data.cell(new, keys.index(key) + 1, value)

    put("run", "Onboarding – Typed in Excel")
    put("tt_onb_dept:el_onb_start", dt.datetime(2027, 3, 1))
    put("tt_onb_dept:el_onb_band", 7)
    put("tt_onb_dept:el_onb_dept", "Marketing")
    put("tt_onb_contract:el_onb_signed", True)
    put("tt_onb_equipment:el_onb_accessories", "Headset; Monitor")
    put("tt_onb_welcome:completed", True)
    book.save("onb.xlsx")
    code, report = dry_run(bulk, "onb.xlsx")
    assert code == 0, report["errors"]
    [start] = report["creates"]
    assert start["cell"] == f"Runs!A{new}"
    assert bulk("import", "onb.xlsx", "--yes").exit_code == 0
    values, _ = values_of(sandbox, "Onboarding – Typed in Excel")
    assert values["tt_onb_dept:el_onb_start"] == "2027-03-01"
    assert values["tt_onb_dept:el_onb_band"] == 7
    assert values["tt_onb_dept:el_onb_dept"] == "Marketing"
    assert values["tt_onb_contract:el_onb_signed"] is True
    assert values["tt_onb_equipment:el_onb_accessories"] == ["Headset", "Monitor"]
    assert values["tt_onb_welcome:completed"] is True
    assert bulk("import", "onb.xlsx", "--yes").exit_code == 0
    assert runs_by_title(sandbox)["Onboarding – Typed in Excel"] == 1


def test_the_canary_counts_a_run_to_start_and_a_refused_one_stops_the_rest(http):
    bulk, sandbox = http()
    path = export_csv(bulk)
    add_rows(path, [{"Run": "Onboarding – Canary 1"}, {"Run": "Onboarding – Canary 2"}])
    result = bulk("import", "launch.csv", "--yes", "--canary", "1")
    assert result.exit_code == 0, result.output
    assert "Canary: 1 request(s) sent" in result.stderr
    assert posts(sandbox) == 2
    # a row NextStep refuses (its starter is no member of the team) stops the rest
    path = export_csv(bulk, "second.csv")
    add_rows(
        path,
        [
            {"Run": "Onboarding – Refused", "tt_onb_details:el_onb_name": "x"},
            {"Run": "Onboarding – Never sent"},
        ],
    )
    with path.open(encoding="utf-8-sig", newline="") as handle:
        table = list(csv.reader(handle))
    table[-2][table[0].index("Started by")] = "stranger@example.org"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows(table)
    result = bulk("import", "second.csv", "--yes", "--canary", "1")
    assert result.exit_code == ExitCode.FAILED, result.output
    assert "Stopped after the canary" in result.stderr
    assert "not an active member" in result.stderr  # NextStep's reason, at the row
    assert runs_by_title(sandbox)["Onboarding – Never sent"] == 0
    assert runs_by_title(sandbox)["Onboarding – Refused"] == 0
    # results.csv says both: refused, and not sent
    [run_dir] = [d for d in run_dirs(Path.cwd()) if d.name.endswith("second")]
    with (run_dir / "results.csv").open(encoding="utf-8-sig") as handle:
        rows = {r["run"]: r["result"] for r in csv.DictReader(handle)}
    assert rows == {"Onboarding – Refused": "failed", "Onboarding – Never sent": "not_sent"}

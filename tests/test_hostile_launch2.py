"""Hostile tests of starting runs (issue 12), round 2: the xlsx launch sheet as people
use it (typing, sorting, deleting and copying rows, --with-runs, --protect, LibreOffice),
the library's ``start_runs``, the reports' numbers, and pacing. Each test is named for
what a user would notice. A failing test is a defect of bulksync; a passing one is an
attack that held.

Driven as tests/test_hostile_launch.py: the CLI in process against a fresh sandbox over
loopback HTTP (the ``http`` fixture); xlsx edits with openpyxl (what a person's typing,
sorting and row copying leave in the file), LibreOffice through tests/apps.py.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bulksync.errors import ExitCode
from bulksync.sandbox import sandbox_client
from tests.test_cli_apply import run_dirs
from tests.test_launch import TEMPLATE, dry_run, posts, runs_by_title, values_of

NAME = "tt_onb_details:el_onb_name"
WELCOME = "tt_onb_welcome:completed"
BAND = "tt_onb_dept:el_onb_band"
FIRST = 4  # the first data row of a runs-layout xlsx (three header rows)


# -- helpers ------------------------------------------------------------------------------


def export_xlsx(bulk, name: str = "launch.xlsx", *args: str) -> Path:
    result = bulk("export", "--template", TEMPLATE, *args, "-o", name)
    assert result.exit_code == 0, result.output
    return Path(name).resolve()


def _keys(ws) -> list[str]:
    return [c.value for c in ws[2]]


def xfill(path: Path, rows: dict[int, dict[str, Any]], out: Path | None = None) -> None:
    """Type values into rows of the Runs sheet (by sheet row number and column key)."""
    book = openpyxl.load_workbook(path)
    ws = book["Runs"]
    keys = _keys(ws)
    for number, values in rows.items():
        for key, value in values.items():
            ws.cell(number, keys.index(key) + 1).value = value
    book.save(out or path)


def xrows(path: Path) -> list[list[Any]]:
    """The data rows of the Runs sheet, every cell (the hidden ones included)."""
    book = openpyxl.load_workbook(path)
    ws = book["Runs"]
    return [[c.value for c in row] for row in ws.iter_rows(min_row=FIRST)]


def xput_rows(path: Path, rows: list[list[Any]]) -> None:
    """Write the data rows back from FIRST on (what a sort or a row move leaves)."""
    book = openpyxl.load_workbook(path)
    ws = book["Runs"]
    for r in range(FIRST, max(ws.max_row, FIRST + len(rows) - 1) + 1):
        values = rows[r - FIRST] if r - FIRST < len(rows) else []
        for c in range(1, ws.max_column + 1):
            ws.cell(r, c).value = values[c - 1] if c - 1 < len(values) else None
    book.save(path)


def col(path: Path, key: str) -> int:
    book = openpyxl.load_workbook(path, read_only=True)
    keys = [c.value for c in next(book["Runs"].iter_rows(min_row=2, max_row=2))]
    return keys.index(key)


def results_of(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "results.csv").open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def started_rows_of(run_dir: Path) -> list[dict[str, str]]:
    return [r for r in results_of(run_dir) if r["field"] == "Run started"]


def by_method(sandbox) -> Counter[str]:
    counts: Counter[str] = Counter()
    for (method, _status), n in sandbox.stats.by_status.items():
        counts[method] += n
    return counts


# =========================================================================================
# The xlsx launch sheet as people use it
# =========================================================================================


def test_sorting_a_launch_sheet_by_run_after_importing_it_starts_nothing_more(http):
    bulk, sandbox = http()
    path = export_xlsx(bulk, "launch.xlsx", "--new", "6")
    xfill(
        path,
        {
            FIRST: {"run": "Onboarding – Zed", NAME: "Zed", BAND: 3},
            FIRST + 2: {"run": "Onboarding – Amy", NAME: "Amy", WELCOME: True},
            FIRST + 4: {"run": "Onboarding – Max", NAME: "Max"},
        },
    )
    assert bulk("import", "launch.xlsx", "--yes").exit_code == 0
    assert posts(sandbox) == 3
    rows = xrows(path)
    run = col(path, "run")
    rows.sort(key=lambda r: (r[run] is None, r[run] or ""))
    xput_rows(path, rows)
    code, report = dry_run(bulk, "launch.xlsx")
    assert code == 0, report
    assert sorted(c["outcome"] for c in report["creates"]) == ["started"] * 3
    assert bulk("import", "launch.xlsx", "--yes").exit_code == 0
    assert posts(sandbox) == 3


def test_correcting_a_title_then_sorting_the_sheet_does_not_start_a_second_run(http):
    """Round 1 made a corrected title ('Onboarding – Ana' → 'Onboarding – Ana Lima') a
    conflict rather than a second run, but only while the row stays where it was
    imported from. People sort a launch sheet by Run. After correcting the title and
    sorting, the next import must still not start a second run for Ana: the row is
    the same row (its hidden 'bulksync row' key cell moved with it), so it is started
    already or at least a conflict (exit 9). Today it is matched by title (new) and by
    sheet row number (now Bob's), finds neither and POSTs a second run for Ana."""
    bulk, sandbox = http()
    path = export_xlsx(bulk, "launch.xlsx", "--new", "3")
    xfill(
        path,
        {
            FIRST: {"run": "Onboarding – Bob", NAME: "Bob"},
            FIRST + 1: {"run": "Onboarding – Ana", NAME: "Ana Lima"},
        },
    )
    assert bulk("import", "launch.xlsx", "--yes").exit_code == 0
    assert posts(sandbox) == 2
    xfill(path, {FIRST + 1: {"run": "Onboarding – Ana Lima"}})  # the title corrected
    rows = xrows(path)
    run = col(path, "run")
    rows.sort(key=lambda r: (r[run] is None, r[run] or ""))  # sorted by Run: Ana first
    xput_rows(path, rows)
    result = bulk("import", "launch.xlsx", "--yes")
    assert posts(sandbox) == 2, "a second run was started for Ana"
    assert result.exit_code in (0, ExitCode.CONFLICTS), result.output


def test_deleting_a_started_row_and_typing_the_next_hire_into_the_empty_row_starts_it(http):
    """A person deletes the row of a hire started by mistake (to archive that run in
    NextStep) and types the right hire into the next empty row, which after the
    deletion is at the deleted row's place. The new row is another row: it has its own
    hidden 'bulksync row' key (the deleted row's key went with it), another title and
    other values. Expected: the import starts the new hire's run (exit 0). Today it is
    taken for the deleted row 'under another title' (matched by sheet row number only)
    and refused as a conflict, exit 9: the hire is not started."""
    bulk, sandbox = http()
    path = export_xlsx(bulk, "launch.xlsx", "--new", "4")
    xfill(
        path,
        {FIRST: {"run": "Onboarding – Keep"}, FIRST + 1: {"run": "Onboarding – Wrong person"}},
    )
    assert bulk("import", "launch.xlsx", "--yes").exit_code == 0
    rows = xrows(path)
    del rows[1]  # the row deleted: the empty rows below move up, with their own keys
    xput_rows(path, rows)
    xfill(path, {FIRST + 1: {"run": "Onboarding – Right person", NAME: "Right"}})
    result = bulk("import", "launch.xlsx", "--yes")
    assert runs_by_title(sandbox)["Onboarding – Right person"] == 1, result.output
    assert result.exit_code == 0, result.output
    assert posts(sandbox) == 3


def test_a_whole_started_row_copied_into_an_empty_row_and_retitled_starts_one_run(http):
    """Ctrl-C/V of a started row (its hidden 'bulksync row' key cell included) into an
    empty row, then a new title: one new run with the copied values and tick; the
    original row is started already. Held."""
    bulk, sandbox = http()
    path = export_xlsx(bulk, "launch.xlsx", "--new", "4")
    xfill(path, {FIRST: {"run": "Onboarding – Orig", NAME: "Orig", WELCOME: True}})
    assert bulk("import", "launch.xlsx", "--yes").exit_code == 0
    rows = xrows(path)
    rows[2] = list(rows[0])
    rows[2][col(path, "run")] = "Onboarding – Copy"
    xput_rows(path, rows)
    result = bulk("import", "launch.xlsx", "--yes")
    assert result.exit_code == 0, result.output
    assert posts(sandbox) == 2
    values, _ = values_of(sandbox, "Onboarding – Copy")
    assert values[NAME] == "Orig" and values[WELCOME] is True
    assert bulk("import", "launch.xlsx", "--yes").exit_code == 0
    assert posts(sandbox) == 2


def test_rows_typed_below_the_new_rows_start_their_runs_once(http):
    """More rows than --new 2 (typed in the rows below the last new one). Held."""
    bulk, sandbox = http()
    path = export_xlsx(bulk, "launch.xlsx", "--new", "2")
    xfill(path, {FIRST + i: {"run": f"Onboarding – More {i}", NAME: f"N{i}"} for i in range(5)})
    assert bulk("import", "launch.xlsx", "--yes").exit_code == 0
    assert bulk("import", "launch.xlsx", "--yes").exit_code == 0
    assert posts(sandbox) == 5
    for i in range(5):
        assert values_of(sandbox, f"Onboarding – More {i}")[0][NAME] == f"N{i}"


def test_with_runs_edits_go_first_then_runs_start_and_undo_keeps_the_new_run(http):
    """--with-runs: an edit of an existing run and a new row in one import: the PATCH
    first, then the POST; undo puts the edit back and lists the run it cannot delete.
    Held."""
    bulk, sandbox = http()
    path = export_xlsx(bulk, "launch.xlsx", "--new", "2", "--with-runs")
    rows = xrows(path)
    first_new = FIRST + sum(1 for r in rows if r[col(path, "run_id")])
    before = rows[0][col(path, NAME)]
    xfill(path, {FIRST: {NAME: "Edited name"}, first_new: {"run": "Onboarding – With runs"}})
    result = bulk("import", "launch.xlsx", "--yes")
    assert result.exit_code == 0, result.output
    [run_dir] = run_dirs(Path.cwd())
    events = [json.loads(line)["event"] for line in (run_dir / "journal.jsonl").open()]
    assert events.index("applied") < events.index("start_intent")
    undo = bulk("undo", str(run_dir), "--yes")
    assert undo.exit_code == 0, undo.output
    assert "Onboarding – With runs" in undo.output
    run_id = rows[0][col(path, "run_id")]
    with sandbox_client(sandbox) as client:
        [task] = [t for t in client.run_tasks(run_id) if t.template_task_id == "tt_onb_details"]
        assert task.element("el_onb_name").value == before
    assert runs_by_title(sandbox)["Onboarding – With runs"] == 1


# -- LibreOffice ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("launch.xlsx", ()),
        ("launch.xlsx", ("--with-runs", "--protect")),
        ("launch.csv", ()),
        ("launch.csv", ("--with-runs",)),
    ],
    ids=["xlsx", "xlsx-with-runs-protect", "csv", "csv-with-runs"],
)
def test_an_untouched_launch_sheet_resaved_by_libreoffice_is_no_change(
    http, libreoffice, tmp_path, name, args
):
    """A launch sheet opened in LibreOffice and saved untouched: no run to start, no
    change, no error, no warning, nothing sent. Held."""
    import shutil

    bulk, sandbox = http()
    path = export_xlsx(bulk, name, "--new", "5", *args)
    saved = tmp_path / "lo" / name
    saved.parent.mkdir()
    if name.endswith(".csv"):
        shutil.copy(f"{path}.base.json", saved.parent)
    libreoffice.edit(path, [], {saved: path.suffix[1:]})
    code, report = dry_run(bulk, str(saved))
    assert code == 0, report
    assert (report["creates"], report["changes"], report["errors"], report["warnings"]) == (
        [],
        [],
        [],
        [],
    )
    result = bulk("import", str(saved), "--yes")
    assert result.exit_code == 0, result.output
    assert posts(sandbox) == 0 and by_method(sandbox)["PATCH"] == 0


def _lo_ref(path: Path):
    keys = _keys(openpyxl.load_workbook(path)["Runs"])

    def ref(key: str, row: int) -> str:
        return f"Runs!{openpyxl.utils.get_column_letter(keys.index(key) + 1)}{row}"

    return ref, openpyxl.utils.get_column_letter(len(keys))


def test_a_protected_launch_sheet_takes_typing_in_new_and_appended_rows(
    http, libreoffice, tmp_path
):
    """--protect: the new rows and the rows typed below them are editable in
    LibreOffice (title, due date, a value, a tick), and start each run once. Held."""
    bulk, sandbox = http()
    path = export_xlsx(bulk, "launch.xlsx", "--new", "2", "--protect")
    ref, _last = _lo_ref(path)
    steps = []
    for r in range(FIRST, FIRST + 4):
        steps += [
            {"type": ref("run", r), "text": f"Onboarding – P{r}"},
            {"type": ref(NAME, r), "text": f"P{r}"},
            {"type": ref("due_date", r), "text": "2027-03-01"},
            {"type": ref(WELCOME, r), "text": "TRUE"},
        ]
    answers = libreoffice.edit(path, steps, {tmp_path / "typed.xlsx": "xlsx"})
    assert all(a["string"] for a in answers), answers
    assert bulk("import", "typed.xlsx", "--yes").exit_code == 0
    assert bulk("import", "typed.xlsx", "--yes").exit_code == 0
    assert posts(sandbox) == 4
    for r in range(FIRST, FIRST + 4):
        values, run = values_of(sandbox, f"Onboarding – P{r}")
        assert values[NAME] == f"P{r}" and values[WELCOME] is True
        assert str(run["due_date"]).startswith("2027-03-01")


def test_a_launch_sheet_sorted_in_libreoffice_between_imports_starts_nothing_more(
    http, libreoffice, tmp_path
):
    """Typed in LibreOffice, imported, then sorted by Run descending (the whole rows,
    the hidden key column too) and saved: the next import starts nothing. Held."""
    bulk, sandbox = http()
    path = export_xlsx(bulk, "launch.xlsx", "--new", "4")
    ref, last = _lo_ref(path)
    titles = ["Onboarding – Bea", "Onboarding – Cy", "Onboarding – Al"]
    steps = []
    for r, title in zip((FIRST, FIRST + 1, FIRST + 3), titles, strict=True):
        steps += [
            {"type": ref("run", r), "text": title},
            {"type": ref(NAME, r), "text": title[-3:]},
        ]
    libreoffice.edit(path, steps, {tmp_path / "typed.xlsx": "xlsx"})
    assert bulk("import", "typed.xlsx", "--yes").exit_code == 0
    [sort] = libreoffice.edit(
        tmp_path / "typed.xlsx",
        [{"sort": f"Runs!A{FIRST}:{last}{FIRST + 3}", "column": 0, "descending": True}],
        {tmp_path / "typed.xlsx": "xlsx"},
    )
    assert sort["after"] != sort["before"], sort
    code, report = dry_run(bulk, "typed.xlsx")
    assert code == 0, report
    assert [c["outcome"] for c in report["creates"]] == ["started"] * 3
    assert bulk("import", "typed.xlsx", "--yes").exit_code == 0
    assert posts(sandbox) == 3


# =========================================================================================
# The library: start_runs
# =========================================================================================


def _launch(client, tmp_path, rows, template: str = TEMPLATE, **kwargs):
    from bulksync import start_runs

    options = {"state_dir": tmp_path / "state", "batch": "hires"} | kwargs
    return start_runs(client, template, rows, **options)


def _library_titles(client) -> Counter[str]:
    return Counter(r.title for r in client.list_runs(template_id=TEMPLATE))


def test_a_pandas_row_with_a_missing_date_is_not_a_crash(sandbox, client, tmp_path):
    """Rows made with pandas (``df.to_dict("records")``) hold ``NaT`` where a date
    column is empty. ``start_runs`` must take it as empty (as it takes None), or say at
    the row and key that it is not a value (an error, or the documented TypeError
    naming rows[1]['due_date']). Today NaT (a datetime subclass) is passed to the date
    codec as a date and ``raw.time()`` raises ``ValueError: NaTType does not support
    time`` from deep inside plan_import: a traceback that names no row."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        [
            {"title": "Onboarding – Pandas A", "due_date": pd.Timestamp("2027-02-01")},
            {"title": "Onboarding – Pandas B", "due_date": None},
        ]
    )
    rows = frame.to_dict("records")
    assert rows[1]["due_date"] is pd.NaT
    try:
        launch = _launch(client, tmp_path, rows, dry_run=True)
    except TypeError as exc:
        assert "rows[1]" in str(exc) and "due_date" in str(exc), exc
        return
    assert [s.due_date for s in launch.plan.creates] == ["2027-02-01", None] or any(
        i.cell == "rows[1]['due_date']" for i in launch.errors
    ), launch.errors


def test_a_pandas_nan_never_starts_a_run_titled_nan(sandbox, client, tmp_path):
    """pandas fills an empty cell of a text column with NaN (a float). A row whose title
    is NaN, or whose Pronouns is NaN, must not start a run titled 'nan' or pre-fill
    the text 'nan': NaN is empty (the title then is required: title_required), or an
    error at its row and key. Today NaN is read as the text 'nan': the plan starts a
    run titled 'nan' without a word, and pre-fills Pronouns = 'nan'."""
    nan = float("nan")
    rows = [
        {"title": nan, "Legal name": "Nobody"},
        {"title": "Onboarding – Nan values", "Pronouns": nan},
    ]
    launch = _launch(client, tmp_path, rows, dry_run=True)
    titles = [s.title for s in launch.plan.creates]
    assert "nan" not in titles, "a run titled 'nan' is planned"
    prefilled = {p.column: p.value for s in launch.plan.creates for p in s.values}
    assert prefilled.get("tt_onb_details:el_onb_pronouns") != "nan", prefilled


def test_start_runs_with_an_empty_template_id_says_so_and_does_not_blame_the_base_url(
    sandbox, client, tmp_path
):
    """``start_runs(client, "", rows, …)`` (a template id read from an empty config
    value) must say the template id is missing: a ValueError as for an empty batch, or
    the plan's no_template/template_gone error. Today it GETs /process-templates/ (the
    list), and raises ResponseError: 'the answer has no "data" object. Is … a NextStep
    API (check --base-url)?', sending the user after a wrong base URL."""
    from bulksync.errors import ResponseError

    try:
        launch = _launch(client, tmp_path, [{"title": "Onboarding – No template"}], template="")
    except ResponseError as exc:
        pytest.fail(f"ResponseError: {exc}")
    except ValueError as exc:
        assert "template" in str(exc)
    else:
        assert {i.code.value for i in launch.errors} & {"no_template", "template_gone"}
    assert posts(sandbox) == 0


def test_start_runs_progress_counts_requests_as_documented(sandbox, client, tmp_path):
    """``progress(done, total)`` is 'called with (requests done, requests in all)'
    (launch_rows.Progress; docs/library.md: 'as the requests go'). Three rows with a
    tick and an assignee and one plain row are 13 requests (plan.requests; the sandbox
    sees 4 POSTs, 3 reads of tasks, 6 PATCHes): the last call must be (13, 13). Today
    it counts rows: (0, 4) … (4, 4)."""
    rows = [
        {"title": f"Onboarding – P{i}", WELCOME: True, "tt_onb_dept:assignee": "usr_ana"}
        for i in range(3)
    ] + [{"title": "Onboarding – Plain"}]
    calls: list[tuple[int, int]] = []
    launch = _launch(client, tmp_path, rows, progress=lambda *call: calls.append(call))
    assert launch.result is not None and launch.result.exit_code() == ExitCode.OK
    assert launch.plan.requests == 13
    assert calls[-1] == (13, 13), calls


# =========================================================================================
# Rate limit and pacing
# =========================================================================================


def _csv_launch(bulk, rows: list[dict[str, Any]]) -> Path:
    from tests.test_launch import add_rows, export_csv

    path = export_csv(bulk)
    add_rows(path, rows)
    return path


def test_150_runs_against_a_tight_rate_limit_start_each_once_without_a_429_storm(http):
    """150 new rows (a fifth with a tick) against NextStep at 20 requests per 2 s, with
    --max-rate above it (600/min): every row ends as exactly one run, with its tick,
    exit 0, and the 429s stay few (bulksync backs off). Held (about 20 s)."""
    bulk, sandbox = http(rate_limit=20, window=2.0)
    titles = [f"Onboarding – Paced {n:03d}" for n in range(150)]
    ticked = {t: "TRUE" if n % 5 == 0 else "" for n, t in enumerate(titles)}
    _csv_launch(bulk, [{"Run": t, WELCOME: ticked[t]} for t in titles])
    before = runs_by_title(sandbox)
    result = bulk("import", "launch.csv", "--yes", "--max-rate", "600")
    assert result.exit_code == 0, result.output[-2000:]
    assert runs_by_title(sandbox) - before == Counter({t: 1 for t in titles})
    assert sandbox.stats.count("POST", 201) == 150
    limited = sum(n for (_, status), n in sandbox.stats.by_status.items() if status == 429)
    assert limited <= 60, dict(sandbox.stats.by_status)
    [run_dir] = run_dirs(Path.cwd())
    assert Counter(r["result"] for r in started_rows_of(run_dir)) == {"started": 150}
    for title in titles[:6]:
        assert values_of(sandbox, title)[0][WELCOME] is bool(ticked[title])


# =========================================================================================
# Reports
# =========================================================================================


def _refuse_posts_named(sandbox, title: str) -> None:
    """NextStep answers a POST that starts a run with this title 422 (nothing started)."""
    from bulksync.sandbox.app import SandboxResponse

    original = sandbox._handle

    def handle(request):
        if request.method == "POST" and title in (request.body or b"").decode("utf-8"):
            body = b'{"error": {"code": "validation_failed", "message": "injected refusal"}}'
            return SandboxResponse(422, body, {"Content-Type": "application/json"})
        return original(request)

    sandbox._handle = handle


def _parenthesised_counts(text: str) -> tuple[int, int]:
    """The total of 'The import sends N requests (…)' and the sum of the numbers
    inside the parentheses."""
    import re

    match = re.search(r"sends (\d+) requests? \(([^)]*)\)", text)
    assert match, text
    parts = [int(n) for n in re.findall(r"(\d+) (?:POST|PATCH|to read)", match.group(2))]
    return int(match.group(1)), sum(parts)


def test_the_plan_text_explains_every_request_of_a_row_started_already_with_pending_ticks(http):
    """After an import that started a row's run and was cut off before its tick, the
    dry run of the sheet (with two more new rows) says how many requests go and what
    they are: the breakdown in parentheses adds up to the total, and the started row's
    read of its tasks is not called a PATCH. Today the pending row's 2 requests (a read,
    a PATCH) are in the total and nowhere in the breakdown ('6 requests (2 POST requests
    to start runs, and 2 to read their tasks …)'), and with that row alone the text says
    '2 PATCH requests' where one is a GET (report.starts.requests_phrase counts only
    ``plan.starts``, not ``plan.start_work``)."""
    from tests.test_hostile_launch import _started_without_ticks
    from tests.test_launch import add_rows, export_csv

    bulk, sandbox = http()
    path = export_csv(bulk)
    _started_without_ticks(bulk, sandbox, path)
    alone = bulk("import", "launch.csv", "--dry-run").output
    assert "2 PATCH requests" not in alone, alone
    add_rows(
        path,
        [{"Run": "Onboarding – R2"}, {"Run": "Onboarding – R3", "tt_onb_dept:completed": "TRUE"}],
    )
    text = bulk("import", "launch.csv", "--dry-run").output
    total, explained = _parenthesised_counts(text)
    assert total == 6
    assert explained == total, text


def test_the_summary_after_applying_counts_the_requests_the_plan_announced(http):
    """A new row with a tick: the plan says '3 requests (1 POST request to start a run,
    and 2 to read its tasks and set ticks and assignees)' and NextStep receives a POST,
    a GET of the run's tasks and a PATCH. The line after applying must say the same
    number. Today it says 'Applied 1 value(s) in 2 request(s)': the read of the new
    run's tasks counted in the plan is not counted after (``Starter.requests`` counts
    POSTs and PATCHes only, cli/planning._say_applied prints it)."""
    from tests.test_launch import add_rows, export_csv

    bulk, sandbox = http()
    path = export_csv(bulk)
    add_rows(path, [{"Run": "Onboarding – Ticked", WELCOME: "TRUE"}])
    plan = bulk("import", "launch.csv", "--dry-run").output
    assert "sends 3 requests" in plan, plan
    before = Counter(sandbox.stats.by_status)
    result = bulk("import", "launch.csv", "--yes")
    assert result.exit_code == 0, result.output
    sent = Counter(sandbox.stats.by_status) - before
    assert sent[("POST", 201)] == 1 and sent[("PATCH", 200)] == 1
    assert "in 3 request(s)" in result.output, result.output


def test_results_csv_json_and_terminal_tell_started_already_started_conflict_failed(http, tmp_path):
    """One import with a row of each outcome: results.csv has a 'Run started' row for
    each (run id where there is one), --json's ``starts`` the same, the terminal line
    counts them, exit 5 (a row failed). Held."""
    from tests.test_hostile_launch import _started_without_ticks
    from tests.test_launch import add_rows, export_csv

    bulk, sandbox = http()
    path = export_csv(bulk)
    _started_without_ticks(bulk, sandbox, path)
    with sandbox_client(sandbox) as client:
        client.create_run_body({"template_id": TEMPLATE, "name": "Onboarding – By hand"})
    add_rows(
        path,
        [
            {"Run": "Onboarding – New"},
            {"Run": "Onboarding – By hand"},
            {"Run": "Onboarding – Refused"},
        ],
    )
    _refuse_posts_named(sandbox, "Onboarding – Refused")
    result = bulk("import", "launch.csv", "--yes", "--json")
    assert result.exit_code == ExitCode.FAILED, result.output
    report = json.loads(result.stdout)
    got = {s["title"]: (s["result"], bool(s["run_id"])) for s in report["starts"]}
    assert got == {
        "Onboarding – Half": ("already_started", True),
        "Onboarding – New": ("started", True),
        "Onboarding – By hand": ("conflict", False),
        "Onboarding – Refused": ("failed", False),
    }
    [run_dir] = [d for d in run_dirs(Path.cwd()) if (d / "results.csv").exists()]
    rows = {r["run"]: (r["result"], bool(r["run_id"])) for r in started_rows_of(run_dir)}
    assert rows == got
    assert "Started 1 run(s); 1 started already by an earlier import; 2 not started" in (
        result.stderr
    ), result.stderr
    assert posts(sandbox) == 1 + 1 + 1 + 1  # Half's, by hand, New's, the refused one


def test_a_runs_row_whose_hidden_run_id_was_cleared_does_not_start_a_copy_of_the_run(http):
    """In a launch sheet exported --with-runs, a person clears a range of an existing
    run's row that spans the hidden run_id column (or clears that cell alone). The row
    is otherwise exactly the run's exported row, at its place, with the run's hidden
    'bulksync row' key, and its Status cell still says 'active': it is that run's row
    with an edited id cell, not a run to start. Expected: an error at the run_id cell
    (docs/import.md: an edited id cell is refused), nothing sent. Today it is read as a
    new row: the plan starts a second 'Onboarding – Noah Müller' with every value of the
    run, ticks included, and only warns (title_in_use, rows_missing); exit 0."""
    bulk, sandbox = http()
    path = export_xlsx(bulk, "launch.xlsx", "--new", "2", "--with-runs")
    rows = xrows(path)
    index = next(i for i, r in enumerate(rows) if r[col(path, "run_id")] and "n/a" not in r)
    title = rows[index][col(path, "run")]
    xfill(path, {FIRST + index: {"run_id": None}})
    code, report = dry_run(bulk, "launch.xlsx")
    assert [c["title"] for c in report["creates"]] == [], (title, report["warnings"])
    assert code == ExitCode.INVALID
    bulk("import", "launch.xlsx", "--yes")
    assert posts(sandbox) == 0, f"a second {title!r} was started"


def test_sorting_a_with_runs_launch_sheet_before_and_between_imports(http):
    """--with-runs, two new rows typed, the whole sheet sorted by Run (new rows among the
    runs' rows) before the first import and again, reversed, before the second: the
    first starts both, the second nothing, and no run is edited. Held."""
    bulk, sandbox = http()
    path = export_xlsx(bulk, "launch.xlsx", "--new", "3", "--with-runs")
    rows = xrows(path)
    n = sum(1 for r in rows if r[col(path, "run_id")])
    xfill(
        path,
        {
            FIRST + n: {"run": "Onboarding – Aaa", NAME: "A"},
            FIRST + n + 2: {"run": "Onboarding – Zzz", WELCOME: True},
        },
    )
    run = col(path, "run")

    def by_run(reverse: bool) -> None:
        rows = xrows(path)
        rows.sort(key=lambda r: (r[run] is None, str(r[run] or "")), reverse=reverse)
        xput_rows(path, rows)

    by_run(False)
    code, report = dry_run(bulk, "launch.xlsx")
    assert (code, report["changes"], len(report["creates"])) == (0, [], 2), report
    assert bulk("import", "launch.xlsx", "--yes").exit_code == 0
    by_run(True)
    code, report = dry_run(bulk, "launch.xlsx")
    assert (code, report["changes"]) == (0, [])
    assert [c["outcome"] for c in report["creates"]] == ["started", "started"]
    assert bulk("import", "launch.xlsx", "--yes").exit_code == 0
    assert posts(sandbox) == 2 and by_method(sandbox)["PATCH"] == 1


@pytest.mark.parametrize("resume", [True, False], ids=["resume", "rerun"])
def test_an_adopted_run_is_said_once_on_the_terminal(http, resume):
    """An import killed between a row's POST (carried out) and its journal line, then
    the import again (--resume, or plainly): the run is found and adopted, no second
    POST. The terminal's line for the row says so once. Today it says it twice in two
    wordings: 'adopted: run …; its POST's answer was lost; the run it started was found
    and taken; its request's answer was lost; the run it started was found and taken'
    (report.starts.result_text adds its phrase for ADOPTED and then the result's
    message, which launch_apply.Starter._adopt sets to the same thing)."""
    from tests.test_launch import add_rows, export_csv

    bulk, sandbox = http()
    path = export_csv(bulk)
    add_rows(path, [{"Run": "Onboarding – Cut", NAME: "Cut", WELCOME: "TRUE"}])
    assert bulk("import", "launch.csv", "--yes").exit_code == 0
    [run_dir] = run_dirs(Path.cwd())
    journal = run_dir / "journal.jsonl"
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if json.loads(line)["event"] == "start_intent")
    journal.write_text("".join(lines[: cut + 1]), encoding="utf-8")  # killed after the POST
    (run_dir / "results.csv").unlink()
    result = bulk("import", "launch.csv", "--yes", *(("--resume",) if resume else ()))
    assert result.exit_code == 0, result.output
    assert posts(sandbox) == 1 and runs_by_title(sandbox)["Onboarding – Cut"] == 1
    [line] = [x for x in result.output.splitlines() if "Onboarding – Cut" in x and "adopted" in x]
    assert line.count("was found and taken") == 1, line

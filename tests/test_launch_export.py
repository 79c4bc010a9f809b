"""A launch sheet (issue 12, export side): `bulksync export --template ID --new N` writes
the runs layout of the template with N empty rows to fill, one per run to start.

Everything runs against the sandbox; the workbook is read back with openpyxl (what a
spreadsheet app is given) and with bulksync's own reader.
"""

from __future__ import annotations

import csv
import datetime as dt
import json

import httpx
import openpyxl
import pytest
from click.testing import CliRunner
from openpyxl.worksheet.cell_range import MultiCellRange

from bulksync.cli import cli
from bulksync.client import NextStepClient
from bulksync.codecs import COMPLETION, is_writable
from bulksync.errors import ConfigError, ExitCode
from bulksync.fetch import fetch_snapshot
from bulksync.sandbox import IN_PROCESS_BASE_URL, sandbox_client
from bulksync.sandbox.transport import SandboxTransport
from bulksync.sheets import Layout, read_sheet, write_export
from bulksync.sheets.layout import RUN_CONTEXT_COLUMNS, Context
from bulksync.sheets.xlsx import BASE_SHEET
from bulksync.sheets.xlsx_rules import APPENDED_ROWS

FIRST = 4
"""The first data row of the runs layout (three header rows above)."""
CONTEXT_KEYS = ["run", "status", "due_date", "started_by", "run_id"]


class Recording(SandboxTransport):
    """The sandbox, in process, noting each request's method and path."""

    def __init__(self, sandbox) -> None:
        super().__init__(sandbox)
        self.seen: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path.split("/api/v1/", 1)[-1]))
        return super().handle_request(request)


@pytest.fixture
def bulk(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEXTSTEP_API_KEY", raising=False)
    monkeypatch.delenv("NEXTSTEP_BASE_URL", raising=False)

    def invoke(*args: str):
        return CliRunner().invoke(cli, ["--sandbox", *args], catch_exceptions=False)

    return invoke


def launch_snapshot(sandbox, template="tpl_onboarding", **kwargs):
    with sandbox_client(sandbox) as client:
        return fetch_snapshot(
            client, template_id=template, with_template=True, launch=True, **kwargs
        )


def template_keys(sandbox, template="tpl_onboarding") -> list[str]:
    """The value columns a run started from the template now has, in order."""
    with sandbox_client(sandbox) as client:
        tasks = client.template_tasks(template)
    keys = []
    for task in tasks:
        keys.append(f"{task.id}:{COMPLETION}")
        keys += [
            f"{task.id}:{e.id}" for e in task.elements if not e.display_only and is_writable(e.type)
        ]
    return keys


def data_rows(sheet) -> list[tuple]:
    return list(sheet.iter_rows(min_row=FIRST, values_only=True))


def validation_at(sheet, ref: str):
    """The data validation that covers a cell, or None."""
    found = [dv for dv in sheet.data_validations.dataValidation if ref in MultiCellRange(dv.sqref)]
    assert len(found) <= 1, (ref, [str(dv.sqref) for dv in found])
    return found[0] if found else None


# -- fetching ---------------------------------------------------------------------------


def test_a_launch_sheet_reads_the_template_and_its_tasks_and_lists_no_runs(sandbox):
    transport = Recording(sandbox)
    with NextStepClient(
        sandbox.config.api_key,
        IN_PROCESS_BASE_URL,
        transport=transport,
        allow_insecure_http=True,
    ) as client:
        snapshot = fetch_snapshot(
            client, template_id="tpl_onboarding", with_template=True, launch=True, with_runs=False
        )
    assert transport.seen == [
        ("GET", "process-templates/tpl_onboarding"),
        ("GET", "process-templates/tpl_onboarding/tasks"),
    ]
    assert sandbox.stats.total() == 2
    assert snapshot.runs == () and snapshot.template_tasks
    assert snapshot.template is not None and snapshot.template.is_published


def test_the_cli_launch_sheet_costs_two_requests(http, tmp_path):
    invoke, sandbox = http()
    result = invoke("export", "--template", "tpl_onboarding", "--new", "7", "-o", "l.xlsx")
    assert result.exit_code == 0, result.output
    assert sandbox.stats.total("GET") == sandbox.stats.total() == 2
    assert "0 runs, 0 values and 7 empty rows for runs to start" in result.stdout


def test_with_runs_the_runs_in_status_are_read_too(http, tmp_path):
    invoke, sandbox = http()
    runs = len(sandbox.store.runs("tpl_onboarding"))
    result = invoke(
        "export", "--template", "tpl_onboarding", "--new", "3", "--with-runs", "--status",
        "all", "-o", "l.xlsx",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    sheet = read_sheet(tmp_path / "l.xlsx")
    assert sheet.meta.runs == runs and sheet.meta.new_rows == 3  # completed runs too
    statuses = {r[1] for r in data_rows(openpyxl.load_workbook(tmp_path / "l.xlsx")["Runs"])}
    assert {"active", "completed", None} == statuses


# -- the rows ---------------------------------------------------------------------------


def test_a_launch_sheet_has_n_empty_rows_with_the_template_columns(sandbox, tmp_path):
    path = tmp_path / "launch.xlsx"
    result = write_export(launch_snapshot(sandbox, with_runs=False), path, new_rows=6)
    assert (result.layout, result.runs, result.values, result.new_rows) == (Layout.RUNS, 0, 0, 6)
    book = openpyxl.load_workbook(path)
    sheet = book["Runs"]
    keys = [c.value for c in sheet[2]]
    assert keys == [*CONTEXT_KEYS, *template_keys(sandbox), "bulksync_row"]
    assert [c.value for c in sheet[3]][:5] == ["Run", "Status", "Due date", "Started by", "run_id"]
    rows = data_rows(sheet)
    assert len(rows) == 6
    # empty but for the hidden row key, which the mirror holds too
    assert all(set(row[:-1]) == {None} for row in rows)
    assert [row[-1] for row in rows] == list(range(FIRST, FIRST + 6))
    mirror = list(book[BASE_SHEET].iter_rows(min_row=FIRST, values_only=True))
    assert [row[-1] for row in mirror] == [row[-1] for row in rows]
    assert all(set(row[:-1]) <= {None} for row in mirror)
    # recorded, and an untouched launch sheet reads as exported: nothing to import
    for only_edited in (True, False):
        read = read_sheet(path, only_edited=only_edited)
        assert read.meta.new_rows == 6 and read.meta.runs == 0
        assert read.cells == () and read.row_problems == ()


def test_new_rows_are_editable_where_a_started_run_takes_a_value_also_under_protect(
    sandbox, tmp_path
):
    path = tmp_path / "launch.xlsx"
    snapshot = launch_snapshot(sandbox, status="active")
    write_export(snapshot, path, new_rows=4, protect=True)
    sheet = openpyxl.load_workbook(path)["Runs"]
    assert sheet.protection.sheet
    keys = [c.value for c in sheet[2]]
    template = set(template_keys(sandbox))
    new = list(sheet.iter_rows(min_row=FIRST + len(snapshot.runs)))
    assert len(new) == 4
    for row in new:
        for cell, key in zip(row, keys, strict=True):
            editable = key in template or key in ("run", "due_date", "started_by")
            assert cell.protection.locked is not editable, (cell.coordinate, key)
            assert (cell.fill.fgColor.rgb == "FFEDEDED") is not editable, cell.coordinate
    # the runs' own context cells stay grey and locked
    first = next(sheet.iter_rows(min_row=FIRST, max_row=FIRST))
    assert all(first[keys.index(k)].protection.locked for k in CONTEXT_KEYS)


def test_new_rows_and_the_rows_below_them_have_the_runs_validations(sandbox, tmp_path):
    path = tmp_path / "launch.xlsx"
    write_export(launch_snapshot(sandbox, with_runs=False), path, new_rows=5)
    sheet = openpyxl.load_workbook(path)["Runs"]
    keys = [c.value for c in sheet[2]]
    letter = {key: openpyxl.utils.get_column_letter(i + 1) for i, key in enumerate(keys)}
    last = FIRST + 5 - 1
    for row in (FIRST, last, last + APPENDED_ROWS):
        title = validation_at(sheet, f"{letter['run']}{row}")
        assert title is not None and "Title of the run to start (required)" in title.prompt
        assert validation_at(sheet, f"{letter['due_date']}{row}").type == "date"
        started = validation_at(sheet, f"{letter['started_by']}{row}")
        assert started.type == "custom" and '"@"' in started.formula1
        assert "email address" in started.prompt
        assert validation_at(sheet, f"{letter['tt_onb_dept:el_onb_dept']}{row}").type == "list"
        assert validation_at(sheet, f"{letter['tt_onb_dept:el_onb_start']}{row}").type == "date"
        done = validation_at(sheet, f"{letter['tt_onb_welcome:completed']}{row}")
        assert done.type == "list" and done.formula1 == '"TRUE,FALSE"'
        assert validation_at(sheet, f"{letter['status']}{row}") is None
    assert validation_at(sheet, f"{letter['run']}{last + APPENDED_ROWS + 1}") is None
    # every value column of the template is validated in a new row, as in a run's row
    for key in template_keys(sandbox):
        assert validation_at(sheet, f"{letter[key]}{FIRST}") is not None, key
    # an appended row's cells are formatted as the new rows' are (column formats)
    assert sheet.column_dimensions[letter["due_date"]].number_format == "yyyy-mm-dd"
    assert sheet.column_dimensions[letter["tt_onb_details:el_onb_name"]].number_format == "@"
    assert sheet.column_dimensions[letter["run"]].protection.locked is False


def test_a_new_rows_dropdown_is_the_one_of_the_runs(sandbox, tmp_path):
    """The same rule (and options list) covers a run's Department and a new row's."""
    path = tmp_path / "launch.xlsx"
    snapshot = launch_snapshot(sandbox, status="active")
    write_export(snapshot, path, new_rows=2)
    sheet = openpyxl.load_workbook(path)["Runs"]
    col = [c.value for c in sheet[2]].index("tt_onb_dept:el_onb_dept") + 1
    letter = openpyxl.utils.get_column_letter(col)
    run_row, new_row = FIRST, FIRST + len(snapshot.runs)
    assert validation_at(sheet, f"{letter}{run_row}") is validation_at(sheet, f"{letter}{new_row}")


def test_typed_cells_of_new_rows_are_highlighted_like_edits(sandbox, tmp_path):
    path = tmp_path / "launch.xlsx"
    write_export(launch_snapshot(sandbox, with_runs=False), path, new_rows=3)
    sheet = openpyxl.load_workbook(path)["Runs"]
    keys = [c.value for c in sheet[2]]
    covered = {}
    for cf_range in sheet.conditional_formatting:
        for rule in cf_range.rules:
            assert "EXACT" in rule.formula[0] and BASE_SHEET in rule.formula[0]
        for cells in cf_range.sqref.ranges:
            covered[cells.min_col] = (cells.min_row, cells.max_row)
    for key in ("run", "due_date", "started_by", *template_keys(sandbox)):
        assert covered[keys.index(key) + 1] == (FIRST, FIRST + 2), key
    assert keys.index("status") + 1 not in covered


def test_a_column_only_older_runs_have_is_na_in_a_new_row(sandbox, tmp_path):
    """A field the template no longer has: n/a, grey, locked; no validation."""
    snapshot = launch_snapshot(sandbox, status=None)
    trimmed = tuple(
        t if t.id != "tt_onb_details" else t.__class__(**{**_fields(t), "elements": t.elements[1:]})
        for t in snapshot.template_tasks
    )
    gone = f"tt_onb_details:{snapshot.template_tasks[1].elements[0].id}"
    old = snapshot.__class__(**{**_fields(snapshot), "template_tasks": trimmed})
    path = tmp_path / "launch.xlsx"
    write_export(old, path, new_rows=2, protect=True)
    sheet = openpyxl.load_workbook(path)["Runs"]
    col = [c.value for c in sheet[2]].index(gone)
    new = list(sheet.iter_rows(min_row=FIRST + len(snapshot.runs)))
    assert [row[col].value for row in new] == ["n/a", "n/a"]
    assert all(row[col].protection.locked for row in new)
    assert validation_at(sheet, new[0][col].coordinate) is None
    mirror = list(openpyxl.load_workbook(path)[BASE_SHEET].iter_rows(min_row=new[0][0].row))
    assert [row[col].value for row in mirror] == ["n/a", "n/a"]  # not marked as an edit


def _fields(obj) -> dict:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


# -- existing runs: due date and started by ---------------------------------------------


def test_existing_runs_show_their_due_date_and_who_started_them(sandbox, tmp_path):
    with sandbox_client(sandbox) as client:
        snapshot = fetch_snapshot(client, template_id="tpl_onboarding", with_template=True)
    path = tmp_path / "onb.xlsx"
    write_export(snapshot, path, layout=Layout.RUNS)
    sheet = openpyxl.load_workbook(path)["Runs"]
    keys = [c.value for c in sheet[2]]
    assert keys[:5] == CONTEXT_KEYS == [c.key for c in RUN_CONTEXT_COLUMNS]
    runs = {run.id: run for run in snapshot.runs}
    assert any(run.due_date for run in runs.values())
    assert any(not run.due_date for run in runs.values())
    base = read_sheet(path).base
    context = Context(snapshot)
    for row in sheet.iter_rows(min_row=FIRST):
        run = runs[row[keys.index("run_id")].value]
        due, started = row[keys.index("due_date")], row[keys.index("started_by")]
        if run.due_date:
            assert due.value == dt.datetime.fromisoformat(run.due_date[:10])
            assert due.number_format == "yyyy-mm-dd"
        else:
            assert due.value is None
        assert started.value == run.started_by
        for cell in (due, started):  # read-only context: grey, locked
            assert cell.protection.locked and cell.fill.fgColor.rgb == "FFEDEDED"
        recorded = base.run(run.id)
        assert recorded is not None
        assert recorded.due_date == (run.due_date or "")[:10]
        assert recorded.started_by == (run.started_by or "")
        of_run = context.of_run(run.id)
        assert (of_run["due_date"], of_run["started_by"]) == (
            recorded.due_date,
            recorded.started_by,
        )
    assert Context().of_run("nope")["due_date"] == Context().of_run("nope")["started_by"] == ""


def test_a_base_document_without_due_date_and_started_by_reads_as_empty(sandbox, tmp_path):
    from bulksync.sheets.meta import RunBase, Shared

    run = RunBase("r1", [{"title": "T", "status": "active", "tasks": {}}], Shared((), ()))
    assert (run.due_date, run.started_by) == ("", "")


# -- CSV --------------------------------------------------------------------------------


def test_a_csv_launch_sheet_has_n_empty_rows_and_keeps_its_tie_when_filled(sandbox, tmp_path):
    path = tmp_path / "launch.csv"
    result = write_export(launch_snapshot(sandbox, with_runs=False), path, new_rows=4)
    assert result.sidecar is not None and result.new_rows == 4
    rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    header, body = rows[0], rows[1:]
    assert header[:5] == ["Run", "Status", "Due date", "Started by", "run_id"]
    assert len(body) == 4 and all(set(row) == {""} and len(row) == len(header) for row in body)
    side = json.loads(result.sidecar.read_text(encoding="utf-8"))
    assert side["meta"]["new_rows"] == 4 and side["runs"] == {}
    untouched = read_sheet(path)
    assert untouched.cells == () and untouched.row_problems == ()
    # Filled and appended rows: the tie between the CSV and its sidecar still holds.
    body[0][0], body[0][2] = "Onboarding – Ada", "2027-05-01"
    body.append(["Onboarding – Grace", *[""] * (len(header) - 1)])
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows([header, *body])
    assert read_sheet(path).meta.export_id == side["meta"]["export_id"]


# -- the About sheet --------------------------------------------------------------------


def test_the_about_sheet_says_how_to_start_runs_in_the_runs_layout_only(sandbox, tmp_path):
    with sandbox_client(sandbox) as client:
        snapshot = fetch_snapshot(client, template_id="tpl_onboarding", with_template=True)
    about = {}
    for layout in Layout:
        path = tmp_path / f"{layout.value}.xlsx"
        write_export(snapshot, path, layout=layout)
        book = openpyxl.load_workbook(path)
        about[layout] = "\n".join(str(c.value) for c in book["About"]["A"] if c.value)
    assert "How to start runs" not in about[Layout.TASKS]
    text = about[Layout.RUNS]
    assert "How to start runs" in text
    for said in (
        "title) is required",
        "Started by (the email address of a member",
        "filled in as the run starts",
        "completion ticks (TRUE) and assignees are set right after it starts",
        "A row left empty is ignored",
        "never starts a run twice",
        "archived in NextStep",
    ):
        assert said in text, said


# -- the CLI ----------------------------------------------------------------------------


def test_an_unpublished_template_warns_but_the_sheet_is_written(bulk, tmp_path):
    result = bulk("export", "--template", "tpl_access_review", "--new", "3", "-o", "d.xlsx")
    assert result.exit_code == 0, result.output
    assert "not published" in result.stderr and "tpl_access_review" in result.stderr
    assert "until it is published" in result.stderr
    assert read_sheet(tmp_path / "d.xlsx").meta.new_rows == 3
    about = " ".join(
        str(c.value) for c in openpyxl.load_workbook(tmp_path / "d.xlsx")["About"]["A"]
    )
    assert "is not published" in about
    published = bulk("export", "--template", "tpl_onboarding", "--new", "1", "-o", "o.xlsx")
    assert published.exit_code == 0 and "not published" not in published.stderr
    quiet = bulk("-q", "export", "--template", "tpl_access_review", "--new", "1", "-o", "q.xlsx")
    assert quiet.exit_code == 0 and quiet.stderr == ""


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--template", "tpl_onboarding", "--new", "2", "--status", "all"], "add --with-runs"),
        (["--template", "tpl_onboarding", "--new", "2", "--layout", "tasks"], "runs layout"),
        (["run_onb_011", "--new", "2"], "not run ids"),
        (["--template", "tpl_onboarding", "--new", "0"], "1<=x<=10000"),
        (["--template", "tpl_onboarding", "--new", "10001"], "1<=x<=10000"),
        (["--template", "tpl_onboarding", "--with-runs"], "goes with --new"),
    ],
)
def test_launch_options_that_do_not_go_together_are_usage_errors(bulk, tmp_path, args, said):
    result = bulk("export", *args, "-o", "x.xlsx")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert said in result.stderr
    assert not (tmp_path / "x.xlsx").exists()


def test_the_library_refuses_new_rows_it_cannot_make(sandbox, tmp_path):
    with sandbox_client(sandbox) as client:
        without_template = fetch_snapshot(client, run_ids=["run_onb_011"])
        with pytest.raises(ConfigError):
            fetch_snapshot(client, with_runs=False)
    with pytest.raises(ConfigError, match="template's tasks"):
        write_export(without_template, tmp_path / "x.xlsx", layout=Layout.RUNS, new_rows=2)
    with pytest.raises(ConfigError, match="runs-layout"):
        write_export(launch_snapshot(sandbox), tmp_path / "x.xlsx", layout=Layout.TASKS, new_rows=2)

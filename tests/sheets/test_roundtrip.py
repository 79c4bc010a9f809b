"""Export then read back gives exactly the exported values, in both layouts and formats."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulksync.codecs import ASSIGNEE, CODECS, COMPLETION, codec_for, is_writable
from bulksync.diff import plan_import
from bulksync.errors import SheetError
from bulksync.fetch import fetch_snapshot
from bulksync.model import JSON, Element, Run, Task, TemplateTask
from bulksync.sandbox import sandbox_client
from bulksync.sheets import Layout, read_sheet, write_export
from bulksync.sheets.csvfile import sniff_delimiter
from bulksync.sheets.xlsx import BASE_SHEET
from bulksync.snapshot import Snapshot
from tests.sheets.reads import decoded

FORMATS = [".xlsx", ".csv"]


def assert_reads_back(path: Path, snapshot: Snapshot, *, assignees: bool) -> dict:
    sheet = read_sheet(path)
    values, errors = decoded(sheet)
    assert errors == []
    expected = {f.spec.key: f for f in snapshot.fields(assignees=assignees)}
    assert set(values) == set(expected)
    for key, field in expected.items():
        codec = codec_for(field.spec.kind)
        assert codec.equal(values[key], field.value), (key, field.value, values[key])
        assert codec.equal(sheet.base[key].value, field.value)
    return values


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory):
    from bulksync.sandbox import open_sandbox

    sandbox = open_sandbox(tmp_path_factory.mktemp("rt") / "s.db")
    with sandbox_client(sandbox) as client:
        every = fetch_snapshot(client, status=None)
        templates = {
            t: fetch_snapshot(client, template_id=t, with_template=True)
            for t in ("tpl_onboarding", "tpl_vendor", "tpl_implementation")
        }
    sandbox.store.close()
    return every, templates


@pytest.mark.parametrize("suffix", FORMATS)
def test_every_sample_run_reads_back_in_the_tasks_layout(snapshots, tmp_path, suffix):
    every, _ = snapshots
    path = tmp_path / f"all{suffix}"
    result = write_export(every, path, layout=Layout.TASKS)
    assert result.runs == len(every.runs) >= 30
    assert_reads_back(path, every, assignees=True)


@pytest.mark.parametrize("suffix", FORMATS)
@pytest.mark.parametrize("template", ["tpl_onboarding", "tpl_vendor", "tpl_implementation"])
@pytest.mark.parametrize("assignees", [False, True])
def test_every_template_reads_back_in_the_runs_layout(
    snapshots, tmp_path, suffix, template, assignees
):
    snapshot = snapshots[1][template]
    path = tmp_path / f"{template}{suffix}"
    write_export(snapshot, path, layout=Layout.RUNS, assignees=assignees)
    assert_reads_back(path, snapshot, assignees=assignees)


def test_export_reads_only_what_it_needs(sandbox):
    with sandbox_client(sandbox) as client:
        snapshot = fetch_snapshot(client, template_id="tpl_onboarding", with_template=True)
    runs = len(snapshot.runs)
    # one page of runs, one task list per run, the template's tasks once
    assert client.stats.sent("GET") == 1 + runs + 1
    assert sandbox.stats.total("GET") == 1 + runs + 1


def test_runs_from_an_older_template_version_get_na_cells(snapshots, tmp_path):
    import python_calamine

    snapshot = snapshots[1]["tpl_onboarding"]
    path = tmp_path / "onb.xlsx"
    write_export(snapshot, path, layout=Layout.RUNS)
    rows = (
        python_calamine.CalamineWorkbook.from_path(str(path))
        .get_sheet_by_name("Runs")
        .to_python(skip_empty_area=False)
    )
    keys = rows[1]
    pronouns = keys.index("tt_onb_details:el_onb_pronouns")
    old = [r for r in rows[3:] if r[pronouns] == "n/a"]
    assert old
    assert len(old) < len(rows) - 3


def test_one_value_per_cell_type_in_xlsx(snapshots, tmp_path):
    """Cells are typed: text stays text, numbers are numbers, dates are dates."""
    import python_calamine

    every, _ = snapshots
    path = tmp_path / "typed.xlsx"
    write_export(every, path, layout=Layout.TASKS)
    rows = (
        python_calamine.CalamineWorkbook.from_path(str(path))
        .get_sheet_by_name("Fields")
        .to_python(skip_empty_area=False)
    )
    header = rows[0]
    value, kind = header.index("Value"), header.index("Type")
    by_kind: dict[str, set] = {}
    for row in rows[1:]:
        if row[value] != "":
            by_kind.setdefault(row[kind], set()).add(type(row[value]))
    assert by_kind["shortText"] == {str}
    assert by_kind["number"] <= {float, int}
    assert by_kind["date"] == {dt.date}
    assert by_kind["checkbox"] == {bool}
    assert by_kind["completion"] == {bool}


# -- values a spreadsheet cannot hold ------------------------------------------------------


def one_run(elements: list[Element], *, completed: bool = False) -> Snapshot:
    run = Run(
        "run_x",
        "tpl_x",
        "Run X",
        "completed" if completed else "active",
        None,
        None,
        None,
        None,
        False,
        (),
        None,
        None,
        None,
    )
    task = Task(
        "tsk_x",
        "run_x",
        "tt_x",
        "Task X",
        completed,
        None,
        None,
        0,
        None,
        None,
        False,
        False,
        "task",
        None,
        tuple(elements),
    )
    return Snapshot("example.test", "2026-11-28T00:00:00+00:00", (run,), {"run_x": (task,)})


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_value_too_long_for_a_cell_is_locked_not_truncated(tmp_path, suffix):
    long_text = "x" * 40_000
    snapshot = one_run([Element("el_long", "longText", "Notes", long_text)])
    path = tmp_path / f"long{suffix}"
    write_export(snapshot, path)
    sheet = read_sheet(path)
    base = next(f for k, f in sheet.base.items() if k.field == "el_long")
    assert base.value == long_text
    assert "40,000 characters" in base.spec.locked
    values, _ = decoded(sheet)
    assert values[base.spec.key] == long_text


def test_control_characters_are_locked_with_a_note_in_xlsx(tmp_path):
    import zipfile

    snapshot = one_run([Element("el_c", "shortText", "Code", "a\x01b")])
    path = tmp_path / "ctrl.xlsx"
    write_export(snapshot, path)
    sheet = read_sheet(path)
    field = next(f for k, f in sheet.base.items() if k.field == "el_c")
    assert "control characters" in field.spec.locked
    assert decoded(sheet)[0][field.spec.key] == "a\x01b"
    with zipfile.ZipFile(path) as book:
        comments = [n for n in book.namelist() if "comments" in n]
        assert comments
        assert b"Not editable here" in book.read(comments[0])


def test_too_many_rows_for_a_worksheet_stops_with_what_to_do(tmp_path):
    snapshot = one_run([Element(f"el_{i}", "shortText", f"F{i}", "v") for i in range(20)])
    with pytest.raises(SheetError, match=r"--layout runs, or to a \.csv"):
        write_export(snapshot, tmp_path / "big.xlsx", max_rows=10)
    write_export(snapshot, tmp_path / "big.csv", max_rows=10)  # CSV has no such limit


# -- CSV as spreadsheet apps write it back -----------------------------------------------


def rewrite_csv(
    path: Path, *, delimiter: str, bom: bool, newline: str, encoding: str = "utf-8"
) -> None:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    with path.open("w", encoding=("utf-8-sig" if bom else encoding), newline="") as handle:
        csv.writer(handle, delimiter=delimiter, lineterminator=newline).writerows(rows)


@pytest.mark.parametrize(
    ("delimiter", "bom", "newline"), [(";", False, "\n"), ("\t", True, "\r\n"), (",", False, "\n")]
)
def test_csv_read_back_with_other_delimiters_boms_and_line_ends(
    snapshots, tmp_path, delimiter, bom, newline
):
    snapshot = snapshots[1]["tpl_implementation"]
    path = tmp_path / "impl.csv"
    write_export(snapshot, path, layout=Layout.TASKS)
    rewrite_csv(path, delimiter=delimiter, bom=bom, newline=newline)
    assert_reads_back(path, snapshot, assignees=True)


# Titles and values holding what a CSV reader could take for structure.
TRICKY = st.text(alphabet=st.sampled_from(list("ab ,;\t\"'\n")), min_size=1, max_size=10)


def titled(title: str, labels: list[str], values: list[str]) -> Snapshot:
    """One run of a template with one task called ``title``, a text field per label."""
    elements = [
        Element(f"el_{i}", "shortText", label, value)
        for i, (label, value) in enumerate(zip(labels, values, strict=True))
    ]
    base = one_run(elements)
    task = dataclasses.replace(base.tasks["run_x"][0], title=title)
    template = TemplateTask("tt_x", title, 0, None, "task", False, tuple(elements))
    run = dataclasses.replace(base.runs[0], title=title)
    return Snapshot(base.host, base.taken_at, (run,), {"run_x": (task,)}, (template,), "tpl_x")


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    title=TRICKY,
    labels=st.lists(TRICKY, min_size=1, max_size=3),
    value=TRICKY,
    layout=st.sampled_from([Layout.RUNS, Layout.TASKS]),
    delimiter=st.sampled_from([",", ";", "\t"]),
    bom=st.booleans(),
    newline=st.sampled_from(["\r\n", "\n"]),  # CR alone: see the table test below
)
def test_an_unedited_csv_imports_as_no_change_whatever_its_titles_and_delimiter(
    tmp_path, title, labels, value, layout, delimiter, bom, newline
):
    snapshot = titled(title, labels, [value] * len(labels))
    path = tmp_path / "tricky.csv"
    write_export(snapshot, path, layout=layout)
    if (delimiter, bom, newline) != (",", True, "\r\n"):  # else: as exported, untouched
        rewrite_csv(path, delimiter=delimiter, bom=bom, newline=newline)
    plan = plan_import(read_sheet(path), lambda runs: snapshot.tasks, host="example.test")
    assert (plan.errors, plan.changes, plan.conflicts) == ((), (), ())  # a Plan holds tuples


@pytest.mark.parametrize(
    ("title", "delimiter", "bom", "newline"),
    [
        ("Laptop; badge; keys", ",", True, "\r\n"),  # as exported: ';' only in quoted cells
        ("Laptop, badge, keys", ";", False, "\r\n"),  # re-saved by Excel in a ';' locale
        ("Laptop, badge, keys", ";", False, "\r"),  # ... by an old Mac Excel: CR alone
        ("Laptop, badge, keys", "\t", False, "\n"),
        ('Say "hi"; then\tgo, now', ";", True, "\r\n"),
        ('Say "hi"; then\tgo, now', "\t", False, "\r\n"),
        ("Two\nlines; or, three", ";", False, "\r\n"),  # a header cell over two lines
    ],
)
def test_delimiters_inside_quoted_header_cells_do_not_count(
    tmp_path, title, delimiter, bom, newline
):
    labels = [f"{title} {i}" for i in range(4)]  # many header cells that hold the others
    snapshot = titled(title, labels, [title] * 4)
    path = tmp_path / "t.csv"
    write_export(snapshot, path, layout=Layout.RUNS, assignees=True)
    rewrite_csv(path, delimiter=delimiter, bom=bom, newline=newline)
    assert sniff_delimiter(path.read_text(encoding="utf-8-sig")) == delimiter
    assert_reads_back(path, snapshot, assignees=True)


def test_a_csv_with_another_delimiter_is_refused_saying_so(tmp_path):
    snapshot = titled("Laptop, badge", ["Serial; tag"], ["x"])
    path = tmp_path / "pipe.csv"
    write_export(snapshot, path, layout=Layout.RUNS)
    rewrite_csv(path, delimiter="|", bom=False, newline="\r\n")
    with pytest.raises(SheetError) as caught:
        read_sheet(path)
    assert "not separated by ',' ';' or a tab (it looks like '|')" in str(caught.value)
    assert "is gone" not in str(caught.value)


def test_csv_guards_formulas_and_typed_looking_text(snapshots, tmp_path):
    every, _ = snapshots
    path = tmp_path / "all.csv"
    write_export(every, path, layout=Layout.TASKS)
    text = path.read_text(encoding="utf-8-sig")
    assert ",'007," in text
    assert ",'=HYPERLINK(" in text or "'=HYPERLINK(" in text
    assert ",'+46 70 123 45 67," in text
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.reader(handle):
            for cell in row:
                assert not cell.startswith(("=", "+", "@")), cell


def test_a_legacy_encoding_needs_to_be_named(tmp_path):
    snapshot = one_run([Element("el_n", "shortText", "Name", "Müller")])
    path = tmp_path / "legacy.csv"
    write_export(snapshot, path)
    rewrite_csv(path, delimiter=";", bom=False, newline="\r\n", encoding="cp1252")
    with pytest.raises(SheetError, match="--encoding"):
        read_sheet(path)
    values, errors = decoded(read_sheet(path, encoding="cp1252"))
    assert errors == []
    assert "Müller" in values.values()


def test_a_csv_without_its_base_snapshot_is_refused(tmp_path):
    snapshot = one_run([Element("el_n", "shortText", "Name", "x")])
    path = tmp_path / "x.csv"
    write_export(snapshot, path)
    (tmp_path / "x.csv.base.json").unlink()
    with pytest.raises(SheetError, match="base snapshot"):
        read_sheet(path)


def test_a_foreign_xlsx_is_refused(tmp_path):
    import xlsxwriter

    book = xlsxwriter.Workbook(str(tmp_path / "other.xlsx"))
    book.add_worksheet().write(0, 0, "hello")
    book.close()
    with pytest.raises(SheetError, match="not a bulksync export"):
        read_sheet(tmp_path / "other.xlsx")


# -- after LibreOffice re-saved it ------------------------------------------------------


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
@pytest.mark.parametrize("layout", [Layout.TASKS, Layout.RUNS])
def test_an_xlsx_resaved_by_libreoffice_reads_back_unchanged(snapshots, tmp_path, layout):
    snapshot = snapshots[1]["tpl_onboarding"]
    path = tmp_path / "onb.xlsx"
    write_export(snapshot, path, layout=layout)
    out = tmp_path / "resaved"
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{tmp_path}/lo",
            "--headless",
            "--calc",
            "--convert-to",
            "xlsx",
            "--outdir",
            str(out),
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    assert_reads_back(out / "onb.xlsx", snapshot, assignees=layout is Layout.TASKS)


# -- the law, for any values ---------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
OPTION = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(
    lambda o: o.strip() == o and o.strip() != ""
)
DATES = st.dates(dt.date(1800, 1, 1), dt.date(9999, 12, 31)).map(dt.date.isoformat)
NUMBERS = st.one_of(st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False))

# Any value NextStep may hold, per field type, given a field's options. Text of any kind
# (an email, a web address) need not be valid: a value left as exported is never checked.
VALUES: dict[str, Callable[[list[str]], st.SearchStrategy[JSON]]] = {
    "shortText": lambda options: st.one_of(st.none(), TEXT),
    "longText": lambda options: st.one_of(st.none(), TEXT),
    "email": lambda options: st.one_of(st.none(), TEXT),
    "website": lambda options: st.one_of(st.none(), TEXT),
    "number": lambda options: st.one_of(st.none(), NUMBERS),
    "date": lambda options: st.one_of(st.none(), DATES),
    "checkbox": lambda options: st.booleans(),
    "dropdown": lambda options: st.one_of(st.none(), st.sampled_from(options)),
    "multichoice": lambda options: st.lists(st.sampled_from(options), unique=True),
    COMPLETION: lambda options: st.booleans(),
    ASSIGNEE: lambda options: st.one_of(st.none(), TEXT),
}
WITH_OPTIONS = ("dropdown", "multichoice")


def test_the_law_draws_values_of_every_field_type():
    assert set(VALUES) == set(CODECS)


@st.composite
def elements(draw) -> list[Element]:
    out = []
    options = draw(st.lists(OPTION, min_size=1, max_size=5, unique=True))
    writable = [kind for kind in VALUES if is_writable(kind)]
    for i, kind in enumerate(writable):
        out.append(
            Element(
                f"el_{i}",
                kind,
                kind.title(),
                draw(VALUES[kind](options)),
                options=tuple(options) if kind in WITH_OPTIONS else (),
            )
        )
    return out


def live_reader(snapshot: Snapshot):
    """NextStep as it was at export: each run's tasks, those the snapshot was made from."""

    def read(runs):
        return {run_id: snapshot.tasks.get(run_id) for run_id in runs}

    return read


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fields=elements(),
    completed=VALUES[COMPLETION]([]),
    assignee=VALUES[ASSIGNEE]([]),
    suffix=st.sampled_from(FORMATS),
    layout=st.sampled_from([Layout.TASKS, Layout.RUNS]),
    only_edited=st.booleans(),
)
def test_export_then_import_with_no_edit_plans_nothing(
    tmp_path, fields, completed, assignee, suffix, layout, only_edited
):
    """The law: a sheet imported as exported asks for nothing, whatever its values.

    It runs the path an import takes: write_export, read_sheet, plan_import with live
    state as it was at export. ``only_edited`` as import reads (an xlsx compared with
    its hidden copy of the exported rows), or every cell decoded and compared.
    """
    snapshot = one_run(fields, completed=completed)
    task = dataclasses.replace(snapshot.tasks["run_x"][0], assignee=assignee)
    snapshot = dataclasses.replace(snapshot, tasks={"run_x": (task,)})
    if layout is Layout.RUNS:
        tt = TemplateTask("tt_x", "Task X", 0, None, "task", False, tuple(fields))
        snapshot = dataclasses.replace(snapshot, template_tasks=(tt,), template_id="tpl_x")
    path = tmp_path / f"law{suffix}"
    write_export(snapshot, path, layout=layout, assignees=True)
    sheet = read_sheet(path, only_edited=only_edited)
    plan = plan_import(sheet, live_reader(snapshot), host=snapshot.host)
    assert plan.errors == ()
    assert (plan.changes, plan.conflicts, plan.already_done) == ((), (), ())
    assert plan.patches == ()
    assert_reads_back(path, snapshot, assignees=True)


def test_the_mirror_behind_the_highlighting_matches_every_value_cell(snapshots, tmp_path):
    """Edited cells are highlighted where they differ from the hidden _base sheet, so an
    unedited export must match it cell for cell in every highlighted column."""
    import python_calamine

    snapshot = snapshots[1]["tpl_onboarding"]
    path = tmp_path / "onb.xlsx"
    write_export(snapshot, path, layout=Layout.RUNS, assignees=True)
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    data = book.get_sheet_by_name("Runs").to_python(skip_empty_area=False)
    mirror = book.get_sheet_by_name(BASE_SHEET).to_python(skip_empty_area=False)
    keys = data[1]
    value_cols = [c for c, key in enumerate(keys) if ":" in str(key)]
    assert any(row[c] == "n/a" for row in data[3:] for c in value_cols)
    for r, row in enumerate(data[3:], start=3):
        for c in value_cols:
            assert row[c] == mirror[r][c], (r, c, row[c])


def test_count_fields_counts_what_fields_yields(snapshots):
    every, templates = snapshots
    for snapshot in (every, *templates.values()):
        for assignees in (True, False):
            expected = sum(1 for _ in snapshot.fields(assignees=assignees))
            assert snapshot.count_fields(assignees=assignees) == expected > 0

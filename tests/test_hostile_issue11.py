"""Hostile re-checks of issue 11's "Done when" after its fixes landed.

Each test is a case a person or a script meets, where the dry run still shows a change
nobody made, or an error that does not say what happened and how to put it right.
These tests fail until bulksync handles the case; they do not need LibreOffice (each
app's effect on the bytes is reproduced exactly, as observed with LibreOffice 7.4,
Gnumeric 1.12 and pandas).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import openpyxl
import pytest

from bulksync.sandbox import DEFAULT_STATE, open_sandbox, sandbox_client
from tests.apps import ONB, export

# Texts a person may well write, which pandas' read_csv / read_excel take as missing
# (its default na_values) and to_csv writes back as an empty cell.
NA_TEXTS = {
    ("tt_onb_details", "el_onb_pronouns"): "N/A",
    ("tt_onb_equipment", "el_onb_delivery"): "None",
    ("tt_onb_review", "el_onb_feedback"): "NA",
}


def set_live(tmp_path: Path, texts: dict[tuple[str, str], object], run: str = ONB) -> None:
    """Values set in NextStep before the export, as a person's edit there would."""
    sandbox = open_sandbox(tmp_path / DEFAULT_STATE)
    try:
        with sandbox_client(sandbox) as client:
            tasks = {t.template_task_id: t for t in client.run_tasks(run)}
            by_task: dict[str, dict[str, object]] = {}
            for (template_task, field), text in texts.items():
                by_task.setdefault(template_task, {})[field] = text
            for template_task, elements in by_task.items():
                client.patch_task(run, tasks[template_task].id, elements=elements)
    finally:
        sandbox.store.close()


def dry(bulk, path: Path, *extra: str) -> tuple[int, str, dict | None]:
    result = bulk("import", str(path), "--dry-run", "--json", *extra)
    try:
        report = json.loads(result.stdout)
    except ValueError:
        report = None
    return result.exit_code, result.output, report


def with_sidecar(source: Path, target: Path) -> None:
    shutil.copy(
        source.with_name(source.name + ".base.json"), target.with_name(target.name + ".base.json")
    )


# 1. pandas read_csv / to_csv (defaults) of a CSV export --------------------------------


@pytest.mark.parametrize("layout", ["runs", "tasks"])
def test_pandas_csv_round_trip_does_not_clear_texts_pandas_reads_as_missing(
    bulk,
    tmp_path,
    layout,
):
    """`pd.read_csv(f).to_csv(g, index=False)`, nothing edited: 'N/A', 'None', 'NA'
    come back as empty cells, and the dry run plans to clear them, with no word."""
    pandas = pytest.importorskip("pandas")
    bulk("list", "runs")  # create the sandbox state
    set_live(tmp_path, NA_TEXTS)
    path = export(bulk, "onb.csv", "--template", "tpl_onboarding", "--layout", layout)
    out = path.with_name("script.csv")
    pandas.read_csv(path).to_csv(out, index=False)
    with_sidecar(path, out)
    _code, output, report = dry(bulk, out)
    assert report is not None, output
    cleared = [c for c in report["changes"] if c["after"] in (None, "")]
    assert cleared == [], (
        "untouched texts pandas read as missing are planned as cleared: "
        + json.dumps(cleared, ensure_ascii=False)
    )


# 2. A CSV saved by LibreOffice as Windows-1252 ("Western Europe") -----------------------


def test_cp1252_csv_with_characters_it_cannot_hold_is_not_planned_as_question_marks(
    bulk,
    tmp_path,
):
    """LibreOffice saving as Windows-1252 writes '?' for what cp1252 cannot hold
    ('渡辺 直美'); bulksync says to give --encoding cp1252, and then plans
    '渡辺 直美 → ?? ??' on a cell nobody touched."""
    path = export(bulk, "onb.csv", "--template", "tpl_onboarding")
    text = path.read_text(encoding="utf-8-sig")
    assert "渡辺 直美" in text
    out = path.with_name("western.csv")
    out.write_bytes(text.encode("cp1252", errors="replace"))  # what LibreOffice writes
    with_sidecar(path, out)
    _code, output, _ = dry(bulk, out)
    assert "--encoding" in output  # its advice, followed next
    _code, output, report = dry(bulk, out, "--encoding", "cp1252")
    assert report is not None, output
    lost = [c for c in report["changes"] if "?" in str(c["after"])]
    assert lost == [], (
        "characters the legacy charset could not hold are planned as '?': "
        + json.dumps(lost, ensure_ascii=False)
    )


# 3. UTF-8 opened as Western Europe in LibreOffice, saved as UTF-8 -----------------------


def lo_windows_1252(data: bytes) -> str:
    """How LibreOffice 7.4 decodes bytes as 'Western Europe (Windows-1252/WinLatin 1)':
    the five bytes cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) become
    private-use characters U+F181… rather than being refused."""
    return "".join(
        chr(0xF100 + b) if b in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else bytes([b]).decode("cp1252")
        for b in data
    )


def test_mojibake_of_a_capital_a_acute_is_not_planned_as_a_change(bulk, tmp_path):
    """'José Álvarez-Núñez' read as Windows-1252 in LibreOffice and saved as UTF-8 becomes
    'JosÃ© Ã\\uf181lvarez-NÃºÃ±ez' (observed: LibreOffice maps the undefined byte 0x81
    to U+F181). Other garbled cells are refused as mojibake, but this one is listed as an
    ordinary change ("would send 1 PATCH request once the errors are fixed")."""
    path = export(bulk, "one.csv", "run_onb_006", "--layout", "runs")
    out = path.with_name("western.csv")
    out.write_text(lo_windows_1252(path.read_bytes()), encoding="utf-8")
    with_sidecar(path, out)
    _code, output, report = dry(bulk, out)
    assert report is not None, output
    garbled = [c for c in report["changes"] if "Ã" in str(c["after"])]
    assert garbled == [], "a garbled untouched value is planned as a change: " + json.dumps(
        garbled, ensure_ascii=False
    )
    named = {e.get("cell") for e in report["errors"] if e.get("code") == "mojibake"}
    assert "western.csv!H2" in named, report["errors"]


# 4. A CSV saved as UTF-16 (LibreOffice: "Unicode (UTF-16)") ----------------------------


def test_utf16_csv_is_read_or_refused_with_the_right_advice(bulk, tmp_path):
    """A UTF-16 file starts with its byte-order mark; bulksync says 'is not UTF-8 (byte
    0 cannot be read) … give it with --encoding, for example --encoding cp1252', advice
    that reads it as garbage. Read it (the BOM says what it is) or say --encoding utf-16."""
    path = export(bulk, "onb.csv", "--template", "tpl_onboarding")
    out = path.with_name("utf16.csv")
    out.write_bytes(path.read_text(encoding="utf-8-sig").encode("utf-16"))
    with_sidecar(path, out)
    _code, output, report = dry(bulk, out)
    if report is not None:  # read as what it is: an unedited file, no change
        assert report["summary"]["changes"] == 0 and report["summary"]["errors"] == 0
    else:
        assert "utf-16" in output.lower(), output


# 5. A bulksync CSV re-saved as xlsx (Gnumeric `ssconvert x.csv x.xlsx`, Save As) ---------


def test_a_bulksync_csv_resaved_as_xlsx_is_refused_saying_what_to_do(bulk, tmp_path):
    """bulksync says 'is not a bulksync export … Export the runs with `bulksync export`
    and edit that file': the person's edits are lost by that advice. It is a bulksync
    CSV (its header carries the export's marker): say to save it as CSV again, beside
    its .base.json."""
    path = export(bulk, "onb.csv", "--template", "tpl_onboarding")
    import csv

    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "onb"
    for row in rows:
        sheet.append(row)
    out = path.with_name("onb.xlsx")
    book.save(out)
    code, output, _ = dry(bulk, out)
    assert code not in (0, 1), output
    assert "not a bulksync export" not in output, output
    assert "csv" in output.lower(), output


# 6. An xlsx export saved as CSV (LibreOffice File ▸ Save As, data sheet) -----------------


def test_an_xlsx_export_saved_as_csv_is_not_told_to_put_back_a_sidecar_it_never_had(
    bulk,
    tmp_path,
):
    """bulksync says 'has no base snapshot beside it (x.csv.base.json) … Put the file
    back beside it' — there never was one: the base is inside the xlsx. Say so (import
    the .xlsx; or save as xlsx)."""
    path = export(bulk, "onb.xlsx", "--template", "tpl_onboarding", "--layout", "tasks")
    book = openpyxl.load_workbook(path)
    out = path.with_name("Fields.csv")
    import csv

    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        for row in book["Fields"].iter_rows(values_only=True):
            writer.writerow(["" if v is None else v for v in row])
    code, output, _ = dry(bulk, out)
    assert code not in (0, 1), output
    assert "Put the file back beside it" not in output, output
    assert "xlsx" in output, output


# 7. pandas read_excel(dtype=str) — the usual way to keep leading zeros -----------------


def test_pandas_dtype_str_resave_does_not_fault_one_untouched_date(bulk, tmp_path):
    """`read_excel(sheet_name=None, dtype=str)` then `to_excel(index=False)`, nothing
    edited: every date becomes the text 'YYYY-MM-DD 00:00:00'. Eleven such cells pass as
    unchanged, but Runs!N8 (the run whose title starts with '=') is an error 'is not an
    ISO date; write it as YYYY-MM-DD', as if the person had typed it."""
    pandas = pytest.importorskip("pandas")
    path = export(bulk, "onb.xlsx", "--template", "tpl_onboarding")
    out = path.with_name("script.xlsx")
    sheets = pandas.read_excel(path, sheet_name=None, dtype=str, engine="openpyxl")
    with pandas.ExcelWriter(out, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)
    _code, output, report = dry(bulk, out)
    assert report is not None, output
    assert report["errors"] == [] and report["changes"] == [], json.dumps(
        report["errors"], ensure_ascii=False
    )

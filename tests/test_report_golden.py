"""Golden files for the import report: terminal text, JSON and HTML of one dry run.

The scenario, all through the CLI against a fresh sandbox: export the active onboarding
runs, edit the workbook as a person would (a change, a value with only its case wrong,
an invalid value, and an edit to a value someone else changed in NextStep meanwhile),
then `bulksync import --dry-run` in its three forms. What varies between runs (the
export's time, the version, the temporary directory) is normalised; the sandbox's seed
gives the same ids every time. HTML is compared as its text and structure, not bytes.

After a deliberate change to a report, rewrite the files and review their diff:
`pytest tests/test_report_golden.py --update-golden`.
"""

from __future__ import annotations

import difflib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from bulksync.cli import cli
from bulksync.sandbox import DEFAULT_STATE, open_sandbox, sandbox_client

FIXTURES = Path(__file__).parent / "fixtures"
NOAH, PRIYA = "run_onb_011", "run_onb_010"

EDITS = {
    (NOAH, "tt_onb_details:el_onb_pronouns"): "she/her",  # a change
    (PRIYA, "tt_onb_dept:el_onb_dept"): "sales, emea",  # a change, with a warning
    (NOAH, "tt_onb_details:el_onb_email"): "noah at example",  # an error
    (NOAH, "tt_onb_details:el_onb_name"): "Noah Müller-Lüdenscheidt",  # a conflict
}
LIVE_EDIT = (NOAH, "tt_onb_details", "el_onb_name", "Noah Mueller")

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?")
VERSION = re.compile(r"bulksync \d+\.\d+\.\d+\S*")


def normalise(text: str, tmp_path: Path) -> str:
    text = text.replace(str(tmp_path), "<tmp>")
    text = TIMESTAMP.sub("<time>", text)
    return VERSION.sub("bulksync <version>", text)


class Outline(HTMLParser):
    """A page as lines of text, with the structure a reader relies on marked.

    Headings keep their level and id, tables their rows (``| cell | cell |``), cards
    and banners their class; old and new values are shown as ``[-old-]`` and ``{+new+}``,
    a line break within a cell as ``⏎``.
    Styles, scripts and whitespace layout are left out.
    """

    BLOCKS = frozenset(
        {"title", "header", "main", "footer", "h1", "h2", "h3", "p", "div", "table", "ul", "li"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.text: list[str] = []
        self.row: list[str] | None = None
        self.skip = 0
        self.spans: list[str] = []

    def flush(self) -> None:
        text = " ".join("".join(self.text).split())
        self.text = []
        if not text:
            return
        if self.row is not None:
            self.row.append(text)
        else:
            self.lines.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("style", "script"):
            self.skip += 1
        elif tag in self.BLOCKS:
            self.flush()
            marker = tag
            if a.get("id"):
                marker += f"#{a['id']}"
            if a.get("class"):
                marker += f".{'.'.join((a['class'] or '').split())}"
            if tag in ("h1", "h2", "h3", "table") or (tag == "div" and a.get("class")):
                self.lines.append(f"<{marker}>")
        elif tag == "tr":
            self.flush()
            self.row = []
        elif tag in ("td", "th"):
            self.flush()
        elif tag == "br":
            self.text.append(" ⏎ ")
        elif tag == "span":
            kind = (a.get("class") or "").split()
            mark = "[-" if "old" in kind else "{+" if "new" in kind else ""
            self.spans.append(mark)
            self.text.append(mark)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self.skip -= 1
        elif tag == "span" and self.spans:
            mark = self.spans.pop()
            self.text.append({"[-": "-]", "{+": "+}"}.get(mark, ""))
        elif tag in ("td", "th"):
            self.flush()
        elif tag in ("b", "strong", "code"):
            self.text.append(" ")  # inline, but a word of its own: "<b>2</b>errors"
        elif tag == "tr" and self.row is not None:
            self.flush()
            self.lines.append("| " + " | ".join(self.row) + " |")
            self.row = None
        elif tag in self.BLOCKS:
            self.flush()

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.text.append(data)


def html_outline(html: str) -> str:
    parser = Outline()
    parser.feed(html)
    parser.close()
    parser.flush()
    return "\n".join(parser.lines) + "\n"


def check_golden(request: pytest.FixtureRequest, name: str, actual: str) -> None:
    path = FIXTURES / name
    if request.config.getoption("--update-golden"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run pytest {request.path} --update-golden"
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                f"tests/fixtures/{name} (golden)",
                "now",
            )
        )
        pytest.fail(
            f"the report differs from tests/fixtures/{name}; if the change is meant, "
            f"rewrite it with --update-golden and review the diff:\n{diff}",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The three reports of one dry run of the scenario, normalised (HTML as its outline)."""
    tmp_path = tmp_path_factory.mktemp("golden")
    runner = CliRunner(env={"NEXTSTEP_API_KEY": None, "NEXTSTEP_BASE_URL": None})

    def bulk(*args: str):
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(tmp_path)
            return runner.invoke(cli, ["--sandbox", *args], catch_exceptions=False)

    exported = bulk("export", "--template", "tpl_onboarding", "-o", "onb.xlsx")
    assert exported.exit_code == 0, exported.output

    book = openpyxl.load_workbook(tmp_path / "onb.xlsx")
    sheet = book["Runs"]
    keys = [c.value for c in sheet[2]]
    done = set()
    for row in sheet.iter_rows(min_row=4):
        for (run_id, column), value in EDITS.items():
            if row[keys.index("run_id")].value == run_id:
                row[keys.index(column)].value = value
                done.add((run_id, column))
    book.save(tmp_path / "onb.xlsx")
    assert done == set(EDITS)

    # Someone changes a value in NextStep after the export: the sheet's edit conflicts.
    run_id, template_task, element, value = LIVE_EDIT
    sandbox = open_sandbox(tmp_path / DEFAULT_STATE)
    try:
        with sandbox_client(sandbox) as client:
            task = next(t for t in client.run_tasks(run_id) if t.template_task_id == template_task)
            client.patch_task(run_id, task.id, elements={element: value})
    finally:
        sandbox.store.close()

    text = bulk("import", "onb.xlsx", "--dry-run")
    as_json = bulk("import", "onb.xlsx", "--dry-run", "--json")
    html = bulk("import", "onb.xlsx", "--dry-run", "--report", "review.html")
    for result in (text, as_json, html):
        assert result.exit_code == 8, result.output  # errors stand: INVALID
    return {
        "text": normalise(text.stdout, tmp_path),
        "json": normalise(as_json.stdout, tmp_path),
        # Normalised after parsing: "<time>" would read as a tag.
        "html": normalise(
            html_outline((tmp_path / "review.html").read_text(encoding="utf-8")), tmp_path
        ),
    }


def test_the_terminal_report_matches_its_golden_file(request, dry_run):
    check_golden(request, "import_dry_run.txt", dry_run["text"])


def test_the_json_report_matches_its_golden_file(request, dry_run):
    report = json.loads(dry_run["json"])
    actual = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    golden = FIXTURES / "import_dry_run.json"
    # Values, not bytes: the same JSON document, whatever its layout.
    if (
        not request.config.getoption("--update-golden")
        and golden.exists()
        and json.loads(golden.read_text(encoding="utf-8")) == report
    ):
        return
    check_golden(request, "import_dry_run.json", actual)


def test_the_html_report_matches_its_golden_file_in_text_and_structure(request, dry_run):
    check_golden(request, "import_dry_run.html.txt", dry_run["html"])


def test_the_scenario_shows_every_kind_of_finding(dry_run):
    """The golden files cover what they claim to: a test over an empty report proves
    nothing."""
    summary = json.loads(dry_run["json"])["summary"]
    assert summary["changes"] >= 2
    assert summary["conflicts"] == 1
    assert summary["errors"] == 1
    assert summary["warnings"] == 1
    # The export's time and the version are normalised, not golden.
    assert "<time>" in dry_run["text"]
    assert "at <time>" in dry_run["html"]
    assert "bulksync <version>" in dry_run["html"]
    outline = dry_run["html"]
    for section in ("errors", "conflicts", "changes", "requests"):
        assert f"<h2#{section}>" in outline
    assert "{+she/her+}" in outline


def test_the_html_outline_keeps_text_and_structure():
    page = (
        "<html><head><style>td { color: red }</style><title>T</title></head><body>"
        '<h2 id="x">Changes</h2><div class="card bad"><b>2</b>errors</div>'
        "<table><tr><th>Cell</th><th>Change</th></tr>"
        '<tr><td>A1</td><td><span class="old">a</span>→<span class="new">b</span></td></tr>'
        "</table></body></html>"
    )
    assert html_outline(page).splitlines() == [
        "T",
        "<h2#x>",
        "Changes",
        "<div.card.bad>",
        "2 errors",
        "<table>",
        "| Cell | Change |",
        "| A1 | [-a-]→{+b+} |",
    ]

"""Codecs: what a person types reads as the value they mean, or as a clear error."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bulksync.codecs import CellError, UnholdableValue, codec_for, split_multichoice


@pytest.mark.parametrize(
    ("raw", "value"), [(123.0, "123"), ("007", "007"), (None, None), ("", None), (True, "TRUE")]
)
def test_text_reads_what_the_person_sees(raw, value):
    assert codec_for("shortText").from_cell(raw) == value


def test_text_compares_line_endings_and_empties_alike():
    text = codec_for("longText")
    assert text.equal("a\r\nb", "a\nb")
    assert text.equal("", None)
    assert not text.equal("a", "A")


@pytest.mark.parametrize(
    ("raw", "value"), [(4.0, 4), ("12", 12), ("-3.5", -3.5), (" 7 ", 7), ("1e3", 1000)]
)
def test_numbers(raw, value):
    got = codec_for("number").from_cell(raw)
    assert got == value
    assert type(got) is type(value)


@pytest.mark.parametrize("raw", ["12 kg", "1,234", "abc", True, dt.date(2026, 1, 1)])
def test_not_numbers(raw):
    with pytest.raises(CellError) as caught:
        codec_for("number").from_cell(raw)
    assert caught.value.code == "not_a_number"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (dt.date(2026, 12, 31), "2026-12-31"),
        (dt.datetime(2024, 2, 29), "2024-02-29"),
        ("2026-01-31", "2026-01-31"),
        ("2026/12/31", "2026-12-31"),  # Gnumeric's CSV
        ("2026.1.5", "2026-01-05"),
        (" 2026/1/05 ", "2026-01-05"),
    ],
)
def test_dates(raw, value):
    assert codec_for("date").from_cell(raw) == value


@pytest.mark.parametrize(
    "raw",
    [
        "03/04/2026",
        "2026-02-30",
        "31.12.2026",
        "2026/02/30",
        "2026/12-31",
        "26/12/31",
        dt.datetime(2026, 1, 1, 9, 30),
    ],
)
def test_ambiguous_or_impossible_dates_are_errors(raw):
    with pytest.raises(CellError, match="date"):
        codec_for("date").from_cell(raw)


def test_dates_before_1900_stay_text_in_a_cell():
    assert codec_for("date").to_cell("1899-12-31") == "1899-12-31"
    assert codec_for("date").to_cell("1900-01-01") == dt.date(1900, 1, 1)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (True, True),
        ("true", True),
        ("Yes", True),
        ("1", True),
        (1.0, True),
        ("FALSE", False),
        ("no", False),
        (None, False),
        (0, False),
    ],
)
def test_booleans(raw, value):
    assert codec_for("checkbox").from_cell(raw) is value
    assert codec_for("completed").from_cell(raw) is value


def test_not_a_boolean():
    with pytest.raises(CellError, match="TRUE or FALSE"):
        codec_for("checkbox").from_cell("done")


OPTIONS = ["Monitor", "Keyboard, US layout", "Keyboard, DE layout", "=Legacy ERP", "Über"]


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("Monitor; Keyboard, US layout", ["Monitor", "Keyboard, US layout"]),
        ("Keyboard, US layout, Monitor", ["Keyboard, US layout", "Monitor"]),
        ("Monitor\nÜber\n", ["Monitor", "Über"]),
        ("=Legacy ERP;Monitor;Monitor", ["=Legacy ERP", "Monitor"]),
        ("", []),
    ],
)
def test_multichoice_matches_options_that_hold_separators(text, items):
    assert split_multichoice(text, OPTIONS) == (items, [])


def test_multichoice_reports_what_it_does_not_know():
    assert split_multichoice("Monitor; Mouse", OPTIONS) == (["Monitor"], ["Mouse"])


def test_multichoice_writes_what_reads_back_or_refuses():
    codec = codec_for("multichoice")
    assert codec.to_cell(["Monitor", "Über"], OPTIONS) == "Monitor; Über"
    tricky = ["a", "a; b", "b"]
    assert codec.to_cell(["a", "b"], tricky) == "a\nb"
    assert codec.from_cell("a\nb", tricky) == ["a", "b"]
    assert codec.from_cell("a; b", tricky) == ["a; b"]
    both = ["x; y", "x\ny", "x", "y"]
    assert isinstance(codec.to_cell(["x", "y"], both), UnholdableValue)
    assert codec.equal(["b", "a"], ["a", "b"])


@pytest.mark.parametrize(
    "raw", ["9007199254740993", "12345678901234567890", "1e-400", "1e400", 2**53 + 1]
)
def test_numbers_no_float_holds_exactly_are_refused_not_rounded(raw):
    with pytest.raises(CellError) as caught:
        codec_for("number").from_cell(raw)
    assert caught.value.code == "inexact_number"
    assert "text field" in caught.value.message


@pytest.mark.parametrize(("raw", "value"), [("１２３", 123), ("٣٫٥", 3.5), ("−２", -2), ("৭", 7)])
def test_digits_of_other_scripts_read_as_the_number_with_a_note(raw, value):
    number = codec_for("number")
    assert number.from_cell(raw) == value
    assert number.read_note(raw) is not None
    assert number.read_note("123") is None


@given(st.text(), st.sampled_from(["shortText", "longText", "email", "dropdown", "assignee"]))
def test_text_in_any_normal_form_is_equal_to_itself(text, kind):
    codec = codec_for(kind)
    forms = [unicodedata.normalize(f, text) for f in ("NFC", "NFD")]
    assert codec.equal(*forms)
    assert codec.equal(codec.from_cell(forms[1]), forms[0])


def test_options_match_in_any_normal_form_and_keep_nextsteps_spelling():
    options = [unicodedata.normalize("NFD", "Développement"), "Sales, EMEA"]
    nfc = unicodedata.normalize("NFC", "Développement")
    assert codec_for("dropdown").check(nfc, options) == (options[0], None)
    multichoice = codec_for("multichoice")
    assert multichoice.from_cell(f"Sales, EMEA; {nfc}", options) == [options[1], options[0]]
    assert multichoice.equal([nfc], [options[0]])


def test_every_code_a_codec_or_a_sheet_reader_raises_is_an_issue_code():
    """validate turns each CellError and row problem into an Issue by its code: a code
    that is not an IssueCode would end the import as an internal error (exit 1)."""
    import re
    from pathlib import Path

    import bulksync
    from bulksync.issues import IssueCode

    package = Path(bulksync.__file__).parent
    raised = set()
    for path in [*package.glob("codecs/*.py"), *package.glob("sheets/*.py")]:
        text = path.read_text(encoding="utf-8")
        raised |= set(re.findall(r'(?:CellError|RowProblem)\(\s*"([a-z_]+)"', text))
    assert len(raised) >= 8  # the scan still finds them
    assert raised <= {code.value for code in IssueCode}, raised - {c.value for c in IssueCode}


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text()
    | st.sampled_from(["nan", "NaN", "inf", "-0.0", "1", "1.0", "2026-01-31"]),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=6,
)


@given(
    st.sampled_from(
        [
            "shortText",
            "email",
            "website",
            "number",
            "date",
            "checkbox",
            "dropdown",
            "multichoice",
            "completed",
            "assignee",
            "rating",
        ]
    ),
    JSON_VALUES,
    JSON_VALUES,
)
@example(kind="number", a="nan", b=float("nan"))
@example(kind="multichoice", a=[float("nan")], b=[])
def test_equal_is_the_comparison_of_the_canonical_spellings(kind, a, b):
    """``equal`` skips normalising one value compared with itself; the answer is what
    comparing the canonical spellings gives, also for a value unequal to itself (a
    number field's text "nan" reads as NaN)."""
    codec = codec_for(kind)
    for x, y in ((a, b), (a, a), (b, b)):
        assert codec.equal(x, y) == (codec.canonical(x) == codec.canonical(y))

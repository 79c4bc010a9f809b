"""The JSON report is written as it is made, and is still exactly ``json.dumps``'s text.

``plan_json_pieces`` encodes the report's long lists an item at a time, so that a plan of
tens of thousands of changes never has them all as dictionaries at once (issue 13). What
a reader (or a script comparing reports) gets must not change: the text is compared, byte
for byte, with ``json.dumps(plan.as_dict(), indent=2, ensure_ascii=False)`` for plans of
every shape: empty lists, one item, many, values with line breaks, quotes, non-ASCII
text and nested lists, before and after applying.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulksync.issues import Issue, IssueCode
from bulksync.plans import (
    ApplyResult,
    Change,
    OnConflict,
    Outcome,
    Patch,
    Plan,
    Result,
    ValueResult,
)
from bulksync.report import plan_json
from bulksync.report.json import plan_json_pieces
from bulksync.snapshot import FieldKey
from tests.test_report_starts import ANA, BEN, CARA_STARTED, make_plan

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", "line one\nline two", 'a "quoted" word', "tab\there", "ünïcødé – ✓", "\\n"]
)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)


def expected(plan: Plan, result: ApplyResult | None = None) -> str:
    whole: dict[str, Any] = plan.as_dict()
    if result is not None:
        from bulksync.results import result_dicts

        whole |= {
            "results": result_dicts(result),
            "starts": [s.as_dict() for s in result.starts],
        }
    return json.dumps(whole, indent=2, ensure_ascii=False)


FIELDS = st.sampled_from(["el_a", "completed", "assignee"])


@st.composite
def changes(draw: st.DrawFn) -> list[Change]:
    made = []
    for i in range(draw(st.integers(0, 4))):
        outcome = draw(st.sampled_from(list(Outcome)))
        made.append(
            Change(
                key=FieldKey(
                    f"run_{i % 2}", f"tsk_{i}", draw(st.sampled_from(["el_a", "completed"]))
                ),
                cell=f"Runs!G{4 + i}",
                kind="shortText",
                label=draw(TEXT),
                base=draw(VALUES),
                sheet=draw(VALUES),
                live=draw(VALUES),
                outcome=outcome,
                written=outcome is not Outcome.ALREADY_DONE,
                task_title=draw(TEXT),
                run_title=draw(TEXT),
            )
        )
    return made


def plan_of(made: list[Change], issues: list[Issue] = ()) -> Plan:  # type: ignore[assignment]
    patches = []
    for change in made:
        if change.written:
            patch = Patch(change.key.run_id, change.key.task_id)
            patch.add(change)
            patches.append(patch)
    return Plan(
        "onb.xlsx",
        "sandbox.invalid",
        "sandbox.invalid",
        "2026-11-28T09:00:00+00:00",
        True,
        OnConflict.SKIP,
        changes=tuple(c for c in made if c.outcome is Outcome.CHANGE),
        already_done=tuple(c for c in made if c.outcome is Outcome.ALREADY_DONE),
        conflicts=tuple(c for c in made if c.outcome is Outcome.CONFLICT),
        errors=tuple(issues),
        patches=tuple(patches),
    )


@settings(max_examples=150, deadline=None)
@given(changes())
def test_the_report_is_json_dumps_text_for_any_values(made: list[Change]) -> None:
    plan = plan_of(made)
    assert plan_json(plan) == expected(plan)


def test_an_empty_plan_writes_its_empty_lists_as_json_dumps_does() -> None:
    plan = plan_of([])
    text = plan_json(plan)
    assert text == expected(plan)
    assert '"changes": [],' in text


def test_a_plan_with_errors_new_rows_and_results_is_json_dumps_text() -> None:
    error = Issue.of(
        IssueCode.RUN_NOT_FOUND, "Runs!B7", FieldKey("run_9", "t", "f"), "x", run_id="run_9"
    )
    plan = make_plan(ANA, BEN, CARA_STARTED, patches=3, runs_read=2)
    plan = plan_of(list(plan.changes), [error])
    assert plan_json(plan) == expected(plan)
    with_rows = make_plan(ANA, BEN, CARA_STARTED, patches=2, runs_read=2)
    assert plan_json(with_rows) == expected(with_rows)
    sent = tuple(ValueResult(c, Result.APPLIED, "", c.sheet) for c in with_rows.changes)
    result = ApplyResult(Path("run"), sent=sent, requests=len(sent))
    assert plan_json(with_rows, result) == expected(with_rows, result)


def test_a_large_report_comes_in_pieces_that_join_to_the_same_text() -> None:
    made = [
        Change(
            key=FieldKey(f"run_{i}", "tsk", "el_a"),
            cell=f"Runs!G{4 + i}",
            kind="shortText",
            label="Pronouns",
            base="he/him",
            sheet=f"they/them {i}",
            live="he/him",
            outcome=Outcome.CHANGE,
            written=True,
        )
        for i in range(3000)
    ]
    plan = plan_of(made)
    pieces = list(plan_json_pieces(plan))
    assert len(pieces) > 3
    assert "".join(pieces) == expected(plan)


def test_a_report_file_written_in_pieces_holds_the_whole_report(tmp_path: Path) -> None:
    from bulksync.report import write_report

    plan = make_plan(ANA, BEN, patches=40, runs_read=40)
    path = tmp_path / "reports" / "plan.json"
    write_report(path, plan_json_pieces(plan))
    assert path.read_text(encoding="utf-8") == plan_json(plan) + "\n"
    assert json.loads(path.read_text(encoding="utf-8"))["summary"]["changes"] == 40


def test_a_report_cut_short_leaves_the_earlier_report_whole(tmp_path: Path) -> None:
    """Ctrl-C while a large report is being written: the report of the earlier run is
    still there, whole, and no part file is left behind."""
    from bulksync.report import write_report

    plan = make_plan(ANA, BEN, patches=400, runs_read=400)
    path = tmp_path / "plan.json"
    write_report(path, plan_json_pieces(plan))
    earlier = path.read_text(encoding="utf-8")

    def cut_short() -> Iterator[str]:
        pieces = plan_json_pieces(plan)
        yield next(pieces)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_report(path, cut_short())
    assert path.read_text(encoding="utf-8") == earlier
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_a_report_to_a_full_device_is_a_storage_error_and_the_device_stays(
    tmp_path: Path,
) -> None:
    from bulksync.errors import StorageError
    from bulksync.report import write_report

    link = tmp_path / "review.json"
    link.symlink_to("/dev/full")  # every write: ENOSPC
    before = os.stat("/dev/full")
    with pytest.raises(StorageError, match="No space left on device"):
        write_report(link, plan_json_pieces(make_plan(ANA, patches=2)))
    assert link.is_symlink()
    assert os.stat("/dev/full").st_rdev == before.st_rdev


def test_a_patch_takes_its_fields_by_name() -> None:
    """``elements`` was once Patch's third field: given that way, it is refused, never
    taken for the completion."""
    with pytest.raises(TypeError):
        Patch("run_1", "tsk_1", {"el_onb_band": 3})  # type: ignore[misc]

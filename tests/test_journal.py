"""``bulksync.journal``: the write-ahead journal, and what it says an import wrote.

``Journal`` is tested on real files (and on /dev/full, reached through a symbolic link so
that nothing changes the device itself); ``written_values`` on journals written here line
by line, in the format ``Journal.record`` writes, one table row per story of a request.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import stat
from pathlib import Path

import pytest

from bulksync import StorageError, Written, written_values
from bulksync.journal import Journal
from bulksync.rundir import read_journal

# -- Journal -------------------------------------------------------------------------------


def lines(path: Path) -> list[dict]:
    """The journal as another process would read it now."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_record_is_one_json_line_on_disk_when_record_returns(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    try:
        journal.record("start", file="sheet.xlsx", host="example.test", patches=1)
        assert [e["event"] for e in lines(path)] == ["start"]
        body = {"custom_elements": [{"id": "el_name", "value": "Zoë"}]}
        journal.record("intent", run_id="r1", task_id="t1", body=body, before={"el_name": "Ana"})
        [start, intent] = lines(path)
        assert start["host"] == "example.test"
        assert (intent["event"], intent["body"], intent["before"]) == (
            "intent",
            body,
            {"el_name": "Ana"},
        )
        assert "Zoë" in path.read_text(encoding="utf-8")  # kept readable, not \u-escaped
        assert intent["at"].endswith("+00:00")
    finally:
        journal.close()


def test_a_journal_is_private_and_a_resumed_one_keeps_its_lines(tmp_path):
    path = tmp_path / "journal.jsonl"
    first = Journal(path)
    first.record("start", patches=2)
    first.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds people's data
    again = Journal(path)
    again.record("end", summary="")
    again.close()
    assert [e["event"] for e in lines(path)] == ["start", "end"]


def test_a_journal_whose_folder_cannot_exist_is_a_storage_error(tmp_path):
    (tmp_path / "imports").write_text("a file where the run directory should be")
    path = tmp_path / "imports" / "journal.jsonl"
    with pytest.raises(StorageError) as caught:
        Journal(path)
    assert str(path) in str(caught.value)
    assert "--resume" in str(caught.value)


def test_a_full_disk_is_a_storage_error_and_nothing_more_is_recorded(tmp_path):
    before = os.stat("/dev/full")
    path = tmp_path / "journal.jsonl"
    path.symlink_to("/dev/full")  # a link: bulksync leaves what it points to alone
    journal = Journal(path)
    try:
        with pytest.raises(StorageError) as caught:
            journal.record("intent", run_id="r1", task_id="t1", body={}, before={})
        assert str(path) in str(caught.value)
        assert "nothing more is sent" in str(caught.value)
        with pytest.raises(StorageError):
            journal.record("end", summary="")
    finally:
        journal.close()
    after = os.stat("/dev/full")
    assert (after.st_mode, after.st_uid) == (before.st_mode, before.st_uid)


@pytest.fixture
def file_size_limit():
    """Set the largest file this process may write (``RLIMIT_FSIZE``), put back after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not a killed process

    def limit(size: int) -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))

    try:
        yield limit
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def test_after_a_failed_record_the_journal_refuses_every_later_one(tmp_path, file_size_limit):
    """Once a line is lost, nothing is recorded (so nothing is sent), even when the disk
    has room again: a later line would follow a line that is not there."""
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    try:
        journal.record("start", patches=2)
        size = path.stat().st_size
        file_size_limit(size + 10)  # the disk fills up
        with pytest.raises(StorageError):
            journal.record("intent", run_id="r1", task_id="t1", body={"x": "y" * 100}, before={})
        file_size_limit(resource.RLIM_INFINITY)  # and has room again
        with pytest.raises(StorageError):
            journal.record("intent", run_id="r1", task_id="t2", body={}, before={})
        assert journal.broken is not None
    finally:
        journal.close()
    # The refused line is nowhere, and the failed one stays as cut short: nothing is
    # buffered to be written on close, so the journal never holds an intent of a request
    # that was not sent.
    assert "t2" not in path.read_text(encoding="utf-8")
    assert [e["event"] for e in read_journal(path)] == ["start"]


# -- written_values --------------------------------------------------------------------------

AT = "2026-11-28T10:00:00.000+00:00"


def event(kind: str, task: str = "t1", **fields: object) -> dict:
    return {"event": kind, "run_id": "r1", "task_id": task, **fields}


def intent(task: str = "t1", before: dict | None = None, **values: object) -> dict:
    body = {"custom_elements": [{"id": k, "value": v} for k, v in values.items()]}
    return event("intent", task, body=body, before=before or {k: "old" for k in values})


def applied(task: str = "t1", **values: object) -> dict:
    return event("applied", task, values=values, verified=True)


START = {"event": "start", "file": "sheet.xlsx", "host": "example.test", "patches": 1}
END = {"event": "end", "summary": "done"}
UNKNOWN = event("unknown", error="the connection was lost after the request was sent")


def journal_dir(tmp_path: Path, events: list[dict], tail: str = "") -> Path:
    """A run directory whose journal holds these events, as ``Journal.record`` writes them."""
    with (tmp_path / "journal.jsonl").open("w", encoding="utf-8") as f:
        for e in events:
            f.write(json.dumps({"at": AT, **e}, ensure_ascii=False, separators=(",", ":")))
            f.write("\n")
        f.write(tail)
    return tmp_path


def w(field: str, before: object, after: object, task: str = "t1") -> Written:
    return Written("r1", task, field, before, after)


WRITTEN = {
    "applied: written": (
        [START, intent(el_a="new"), applied(el_a="new"), END],
        [w("el_a", "old", "new")],
    ),
    "applied, NextStep stored another value: what it stored": (
        [START, intent(el_a="new"), event("applied", values={"el_a": "NEW"}, verified=False)],
        [w("el_a", "old", "NEW")],
    ),
    "refused: nothing written": (
        [START, intent(el_a="new"), event("failed", code="validation", error="no"), END],
        [],
    ),
    "rate limited: nothing written": (
        [START, intent(el_a="new"), event("rate_limited", error="429"), END],
        [],
    ),
    "no answer: maybe written, with its before": (
        [START, intent(el_a="new", el_b=2)],
        [w("el_a", "old", "new"), w("el_b", "old", 2)],
    ),
    "no answer, then a later request of the same task answered: both": (
        [START, intent(el_a="new"), intent(el_b="b2", before={"el_b": "b1"}), applied(el_b="b2")],
        [w("el_b", "b1", "b2"), w("el_a", "old", "new")],
    ),
    "no answer, then a later request of the same task refused: the first maybe": (
        [START, intent(el_a="new"), intent(el_b="b2"), event("failed", error="no")],
        [w("el_a", "old", "new")],
    ),
    "unknown outcome, re-read shows it stored: written": (
        [START, intent(el_a="new"), UNKNOWN, event("reread", values={"el_a": "new"}, todo=[])],
        [w("el_a", "old", "new")],
    ),
    "unknown outcome, re-read: one stored, the other resent and refused": (
        [
            START,
            intent(el_a="new", el_b="b2"),
            UNKNOWN,
            event("reread", values={"el_a": "new"}, todo=["el_b"]),
            intent(el_b="b2"),
            event("failed", error="no"),
        ],
        [w("el_a", "old", "new")],
    ),
    "unknown outcome, re-read: still as before, resent and applied": (
        [
            START,
            intent(el_a="new"),
            UNKNOWN,
            event("reread", values={}, todo=["el_a"]),
            intent(el_a="new"),
            applied(el_a="new"),
        ],
        [w("el_a", "old", "new")],
    ),
    "unknown outcome, then the process died: maybe written": (
        [START, intent(el_a="new"), UNKNOWN],
        [w("el_a", "old", "new")],
    ),
    "completion and assignee of an unanswered request: maybe written": (
        [
            START,
            event(
                "intent",
                body={"completed": True, "assignee": "usr_bea"},
                before={"completed": False, "assignee": "usr_ana"},
            ),
        ],
        [w("completed", False, True), w("assignee", "usr_ana", "usr_bea")],
    ),
    "two tasks, one applied and one refused: only the applied one": (
        [
            START,
            intent("t1", el_a="new"),
            intent("t2", el_a="new"),
            applied("t1", el_a="new"),
            event("failed", "t2", error="no"),
            END,
        ],
        [w("el_a", "old", "new", "t1")],
    ),
}


@pytest.mark.parametrize(("events", "expected"), WRITTEN.values(), ids=list(WRITTEN))
def test_written_values_are_what_was_or_may_have_been_written(tmp_path, events, expected):
    found = written_values(journal_dir(tmp_path, events))
    key = lambda v: (v.task_id, v.field)  # noqa: E731
    assert sorted(found, key=key) == sorted(expected, key=key)


def test_a_request_whose_answer_was_cut_short_by_a_crash_may_be_written(tmp_path):
    cut = '{"at":"2026-11-28T10:00:01.000+00:00","event":"applied","run_id":"r1","ta'
    found = written_values(journal_dir(tmp_path, [START, intent(el_a="new")], cut))
    assert found == [w("el_a", "old", "new")]


def test_a_resumed_journal_after_a_line_cut_short_loses_none_of_its_new_lines(tmp_path):
    """A crash (or a full disk) in the middle of a line leaves it without its line break.
    The next import of the run directory (--resume, or undo reading it) appends to the
    same file: its first record must start a line of its own, or it would be glued to the
    broken one and read as garbage, and a request it records would be forgotten."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    path = run_dir / "journal.jsonl"
    path.write_text(
        json.dumps(intent("t1", {"el_a": "old"}, el_a="new")) + "\n" + '{"at":"2026-', "utf-8"
    )
    journal = Journal(path)
    journal.record("start", file="x.xlsx", host="h", patches=1)
    journal.record(
        "intent", run_id="r1", task_id="t2", body={"completed": True}, before={"completed": False}
    )
    journal.close()
    events = [e["event"] for e in read_journal(path)]
    assert events == ["intent", "start", "intent"]
    assert written_values(run_dir) == [
        Written("r1", "t1", "el_a", "old", "new"),
        Written("r1", "t2", "completed", False, True),
    ]

"""``bulksync.spool``: an export's runs kept on disk as they are read."""

from __future__ import annotations

import json
import stat

import pytest

from bulksync.errors import SheetError
from bulksync.spool import HEADER, LISTING, RUNS, Draft, Spool

TASK = {
    "id": "tsk_1",
    "instance_id": "run_a",
    "title": "Details",
    "completed": False,
    "custom_elements": [{"id": "el_name", "type": "shortText", "label": "Name", "value": "Ana"}],
}


def task(run_id: str, value: str) -> dict:
    document = json.loads(json.dumps(TASK))
    document["instance_id"] = run_id
    document["custom_elements"][0]["value"] = value
    return document


def spool_with(tmp_path, runs: dict[str, str]) -> Spool:
    draft = Draft(tmp_path / ".bulksync" / "exports" / "out.xlsx-0")
    keep = draft.keep("run")
    for run_id in runs:
        keep({"id": run_id})
    spool = draft.commit({"host": "h.test"})
    for run_id, value in runs.items():
        spool.append(run_id, f"2026-11-28T09:00:0{len(spool)}+00:00", [task(run_id, value)])
    return spool


def test_a_spool_is_private_and_its_listing_in_place_only_once_whole(tmp_path):
    draft = Draft(tmp_path / ".bulksync" / "exports" / "out.xlsx-0")
    draft.keep("run")({"id": "run_a"})
    assert not (tmp_path / ".bulksync" / "exports" / "out.xlsx-0").exists()  # a draft
    spool = draft.commit({"host": "h.test"})
    spool.append("run_a", "2026-11-28T09:00:00+00:00", [task("run_a", "Ana")])
    spool.close()
    for folder in (tmp_path / ".bulksync", spool.folder.parent, spool.folder):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for name in (HEADER, LISTING, RUNS):
        assert stat.S_IMODE((spool.folder / name).stat().st_mode) == 0o600, name
    again = Spool.open(spool.folder)
    assert again.header["host"] == "h.test"
    assert list(again.listing()) == [("run", {"id": "run_a"})]
    assert "run_a" in again and again.read_at["run_a"] == "2026-11-28T09:00:00+00:00"


def test_a_torn_last_line_is_cut_and_a_damaged_one_read_again(tmp_path):
    spool = spool_with(tmp_path, {"run_a": "Ana", "run_b": "Bo", "run_c": "Cy"})
    spool.close()
    runs = spool.folder / RUNS
    lines = runs.read_bytes().splitlines(keepends=True)
    # run_b's line damaged in place, run_c's cut in the middle of writing (kill -9)
    runs.write_bytes(lines[0] + b"{not json\n" + lines[2][:25])
    reopened = Spool.open(spool.folder)
    assert "run_a" in reopened and "run_b" not in reopened and "run_c" not in reopened
    reopened.append("run_c", "2026-11-28T10:00:00+00:00", [task("run_c", "Cy again")])
    reopened.append("run_b", "2026-11-28T10:00:01+00:00", [task("run_b", "Bo again")])
    tasks = reopened.tasks()
    assert tasks["run_c"][0].element("el_name").value == "Cy again"
    assert tasks["run_b"][0].element("el_name").value == "Bo again"
    assert tasks["run_a"][0].element("el_name").value == "Ana"
    reopened.close()
    assert len(Spool.open(spool.folder)) == 3  # the torn bytes are gone, the lines whole


def test_tasks_are_read_from_the_spool_when_asked_and_few_are_kept(tmp_path):
    spool = spool_with(tmp_path, {f"run_{n}": f"V{n}" for n in range(5)})
    tasks = spool.tasks()
    assert len(tasks) == 5 and list(tasks) == [f"run_{n}" for n in range(5)]
    assert [tasks[f"run_{n}"][0].element("el_name").value for n in range(5)] == [
        f"V{n}" for n in range(5)
    ]
    assert tasks.get("run_x", ()) == ()
    assert len(tasks._kept) == tasks.KEPT  # the last two asked for, no more
    spool.remove()
    assert not spool.folder.exists()


def test_a_spool_of_another_format_or_none_is_refused(tmp_path):
    spool = spool_with(tmp_path, {"run_a": "Ana"})
    spool.close()
    with pytest.raises(SheetError, match="no interrupted export"):
        Spool.open(tmp_path / "nothing")
    (spool.folder / HEADER).write_text(json.dumps({"format": 99}) + "\n", encoding="utf-8")
    with pytest.raises(SheetError, match="another bulksync"):
        Spool.open(spool.folder)

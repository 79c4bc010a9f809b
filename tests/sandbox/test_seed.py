"""The sample team is realistic and holds the values that break naive tools."""

from __future__ import annotations

import json
import re

import pytest

from bulksync.errors import ConfigError
from bulksync.sandbox import open_sandbox
from bulksync.sandbox.rules import DISPLAY_ONLY_TYPES, WRITABLE_TYPES
from bulksync.sandbox.seed import default_seed_dir, seed
from bulksync.sandbox.store import Store


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    sandbox = open_sandbox(tmp_path_factory.mktemp("seed") / "s.db")
    store = sandbox.store
    runs = store.runs()
    tasks = [t for r in runs for t in store.tasks(r["id"])]
    values = [e["value"] for t in tasks for e in t["custom_elements"]]
    yield store, runs, tasks, values
    store.close()


def test_three_published_templates_with_sections_and_a_draft(team):
    store, *_ = team
    templates = store.templates()
    published = [t for t in templates if t["is_published"]]
    assert len(published) >= 3
    assert all(len(t["sections"]) >= 2 for t in published)
    assert any(not t["is_published"] for t in templates)


def test_every_element_type_is_used(team):
    store, *_ = team
    used = {
        e["type"]
        for t in store.templates()
        for task in store.template_tasks(t["id"])
        for e in task["custom_elements"]
    }
    assert used >= WRITABLE_TYPES | DISPLAY_ONLY_TYPES


def test_options_hold_a_comma_non_ascii_and_a_leading_equals(team):
    store, *_ = team
    options = [
        o
        for t in store.templates()
        for task in store.template_tasks(t["id"])
        for e in task["custom_elements"]
        for o in e.get("options", [])
    ]
    assert any("," in o for o in options)
    assert any(not o.isascii() for o in options)
    assert any(o.startswith("=") for o in options)


def test_runs_cover_the_states_people_meet(team):
    _, runs, tasks, _ = team
    assert len(runs) >= 30
    assert sum(r["status"] == "completed" for r in runs) >= 3
    assert any(t["skipped"] for t in tasks)
    assert any(
        t["skipped"]
        for r in runs
        if r["status"] == "active"
        for t in tasks
        if t["instance_id"] == r["id"]
    )
    assert any(t["is_essential"] for t in tasks)
    assert any(t["type"] == "approval" for t in tasks)
    assert any(t["assignee"] for t in tasks)
    assert any(t["assignee"] is None for t in tasks)


def test_some_runs_come_from_an_older_template_version(team):
    store, runs, *_ = team
    onboarding = [r for r in runs if r["template_id"] == "tpl_onboarding"]
    sizes = {len(store.tasks(r["id"])) for r in onboarding}
    assert len(sizes) == 2


def test_values_that_break_naive_tools_are_there(team):
    *_, values = team
    texts = [v for v in values if isinstance(v, str)]
    assert "007" in texts
    assert any(re.fullmatch(r"\d{16,}", v) for v in texts)
    assert any("\n" in v for v in texts)
    assert any("\r\n" in v for v in texts)
    assert any(not v.isascii() for v in texts)
    for lead in "=+-@":
        assert any(v.startswith(lead) for v in texts), lead
    assert "" in texts
    assert None in values
    dates = {v for v in texts if re.fullmatch(r"\d{4}-\d\d-\d\d", v)}
    assert {"2026-12-31", "2024-02-29", "2026-01-31"} <= dates
    assert any(isinstance(v, float) for v in values)
    assert any(isinstance(v, list) and not v for v in values)


def test_a_seed_value_the_api_would_refuse_is_refused(tmp_path):
    source = default_seed_dir()
    for name in ("team.json", "templates.json"):
        (tmp_path / name).write_text((source / name).read_text(encoding="utf-8"), encoding="utf-8")
    runs = json.loads((source / "runs.json").read_text(encoding="utf-8"))
    runs[0]["tasks"]["tt_onb_dept"]["values"]["el_onb_dept"] = "Enginering"
    (tmp_path / "runs.json").write_text(json.dumps(runs), encoding="utf-8")
    store = Store(tmp_path / "s.db")
    with pytest.raises(ConfigError, match="Must be one of"):
        seed(store, tmp_path)
    assert store.is_empty()
    store.close()


def test_the_seed_file_matches_its_generator(tmp_path, monkeypatch):
    """sample_data/_build.py is the source; the JSON beside it must be what it writes."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_build", default_seed_dir() / "_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "HERE", tmp_path)
    module.main()
    for name in ("team.json", "templates.json", "runs.json"):
        assert (tmp_path / name).read_text(encoding="utf-8") == (
            default_seed_dir() / name
        ).read_text(encoding="utf-8"), name

"""The sandbox answers like NextStep: every rule of the contract, in process and over HTTP."""

from __future__ import annotations

import re

import httpx
import pytest

ONB_RUN = "run_onb_003"  # active onboarding run, template version 3
DONE_RUN = "run_onb_001"  # completed


def data(response: httpx.Response):
    assert response.status_code == 200, response.text
    return response.json()["data"]


def error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    return body["error"]["message"]


def task_with(api: httpx.Client, run_id: str, element_type: str):
    tasks = data(api.get(f"process-runs/{run_id}/tasks", params={"limit": 100}))
    for task in tasks:
        for element in task["custom_elements"]:
            if element["type"] == element_type:
                return task, element
    raise AssertionError(f"no {element_type} element in {run_id}")


def patch(api: httpx.Client, task: dict, body: dict) -> httpx.Response:
    return api.patch(f"process-runs/{task['instance_id']}/tasks/{task['id']}", json=body)


# -- auth -----------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer nxs_live_wrong", "nxs_live_sandbox", "Basic x"])
def test_a_missing_or_wrong_key_is_401(api, header):
    headers = {"Authorization": header} if header else {}
    client_headers = dict(api.headers)
    client_headers.pop("authorization")
    response = httpx.Client(
        base_url=api.base_url, headers=client_headers, transport=api._transport
    ).get("process-templates", headers=headers)
    error(response, 401, "unauthorized")


# -- templates ------------------------------------------------------------------------------


def test_templates_list_and_one(api):
    templates = data(api.get("process-templates"))
    assert {t["title"] for t in templates} >= {
        "Employee Onboarding",
        "Vendor Security Review",
        "Customer Implementation",
    }
    for template in templates:
        assert set(template) >= {
            "id",
            "title",
            "description",
            "is_published",
            "version",
            "sections",
        }
    one = data(api.get("process-templates/tpl_vendor"))
    assert one["title"] == "Vendor Security Review"
    assert [s["title"] for s in one["sections"]] == ["Intake", "Assessment", "Decision"]


def test_template_tasks_are_in_order_and_have_no_values(api):
    tasks = data(api.get("process-templates/tpl_onboarding/tasks", params={"limit": 100}))
    assert [t["order"] for t in tasks] == sorted(t["order"] for t in tasks)
    for task in tasks:
        assert set(task) == {
            "id",
            "title",
            "order",
            "section_id",
            "type",
            "is_essential",
            "custom_elements",
        }
        assert all("value" not in e for e in task["custom_elements"])


def test_unknown_template_is_404(api):
    error(api.get("process-templates/tpl_nope"), 404, "not_found")
    error(api.get("process-templates/tpl_nope/tasks"), 404, "not_found")


# -- pagination -----------------------------------------------------------------------------


def test_lists_default_to_20_items(api):
    body = api.get("process-runs").json()
    assert len(body["data"]) == 20
    assert body["pagination"]["has_more"] is True


def test_cursor_pagination_walks_every_run_once(api):
    seen, cursor = [], None
    while True:
        params = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        body = api.get("process-runs", params=params).json()
        assert len(body["data"]) <= 7
        seen += [r["id"] for r in body["data"]]
        # Part B: next_cursor is the id of the page's last item, on the last page too.
        assert body["pagination"]["next_cursor"] == body["data"][-1]["id"]
        if not body["pagination"]["has_more"]:
            break
        cursor = body["pagination"]["next_cursor"]
    everything = [r["id"] for r in data(api.get("process-runs", params={"limit": 100}))]
    assert seen == everything
    assert len(set(seen)) == len(seen) >= 30


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1.5", ""])
def test_a_bad_limit_is_400(api, limit):
    error(api.get("process-runs", params={"limit": limit}), 400, "validation_error")


def test_run_tasks_paginate_and_keep_section_then_task_order(api):
    first = api.get(f"process-runs/{ONB_RUN}/tasks", params={"limit": 3}).json()
    assert len(first["data"]) == 3
    assert first["pagination"]["has_more"] is True
    tasks = data(api.get(f"process-runs/{ONB_RUN}/tasks", params={"limit": 100}))
    run = data(api.get(f"process-runs/{ONB_RUN}"))
    section_order = {s["id"]: s["order"] for s in run["sections"]}
    keys = [(section_order[t["section_id"]], t["order"]) for t in tasks]
    assert keys == sorted(keys)
    assert [t["id"] for t in tasks[:3]] == [t["id"] for t in first["data"]]


# -- runs -----------------------------------------------------------------------------------


def test_runs_are_newest_first_and_filter(api):
    runs = data(api.get("process-runs", params={"limit": 100}))
    created = [r["created_at"] for r in runs]
    assert created == sorted(created, reverse=True)
    completed = data(api.get("process-runs", params={"limit": 100, "status": "completed"}))
    assert completed and all(r["status"] == "completed" for r in completed)
    active = data(api.get("process-runs", params={"limit": 100, "status": "active"}))
    assert len(active) + len(completed) == len(runs)
    vendor = data(api.get("process-runs", params={"limit": 100, "template_id": "tpl_vendor"}))
    assert vendor and all(r["template_id"] == "tpl_vendor" for r in vendor)
    error(api.get("process-runs", params={"status": "done"}), 400, "validation_error")


def test_run_object_has_the_documented_fields(api):
    run = data(api.get(f"process-runs/{ONB_RUN}"))
    assert set(run) >= {
        "id",
        "template_id",
        "title",
        "status",
        "started_by",
        "team_id",
        "timezone",
        "due_date",
        "is_shared",
        "sections",
        "created_at",
        "updated_at",
        "completed_at",
    }
    error(api.get("process-runs/run_nope"), 404, "not_found")
    error(api.get("process-runs/run_nope/tasks"), 404, "not_found")


def test_task_object_has_the_documented_fields(api):
    task, _ = task_with(api, ONB_RUN, "dropdown")
    one = data(api.get(f"process-runs/{ONB_RUN}/tasks/{task['id']}"))
    assert set(one) >= {
        "id",
        "instance_id",
        "template_task_id",
        "title",
        "completed",
        "completed_at",
        "completed_by",
        "order",
        "section_id",
        "assignee",
        "is_essential",
        "skipped",
        "type",
        "due_date",
        "webhook_enabled",
        "custom_elements",
        "created_at",
    }
    assert one["instance_id"] == ONB_RUN
    for element in one["custom_elements"]:
        assert set(element) >= {"id", "type", "label", "value", "required", "display_only"}
    error(api.get(f"process-runs/{ONB_RUN}/tasks/tsk_nope"), 404, "not_found")


# -- PATCH: values by type ------------------------------------------------------------------

GOOD = {
    "shortText": "007",
    "longText": "line one\nline two",
    "email": "new.person@example.com",
    "website": "https://example.com/a?b=c",
    "number": 12.5,
    "date": "2026-12-31",
    "checkbox": True,
}
BAD = {
    "shortText": 5,
    "longText": ["x"],
    "email": "not-an-email",
    "website": "example.com",
    "number": "12",
    "date": "03/04/2026",
    "checkbox": "yes",
    "dropdown": "Enginering",
    "multichoice": "Monitor",
}


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_a_valid_value_is_stored_and_returned(api, kind):
    task, element = task_with(api, ONB_RUN if kind != "website" else "run_imp_002", kind)
    updated = data(
        patch(api, task, {"custom_elements": [{"id": element["id"], "value": GOOD[kind]}]})
    )
    stored = next(e for e in updated["custom_elements"] if e["id"] == element["id"])
    assert stored["value"] == GOOD[kind]
    again = data(api.get(f"process-runs/{task['instance_id']}/tasks/{task['id']}"))
    assert next(e for e in again["custom_elements"] if e["id"] == element["id"]) == stored


def test_dropdown_and_multichoice_take_their_options(api):
    task, element = task_with(api, ONB_RUN, "dropdown")
    value = element["options"][-1]
    assert data(patch(api, task, {"custom_elements": [{"id": element["id"], "value": value}]}))
    task, element = task_with(api, ONB_RUN, "multichoice")
    value = element["options"][:2]
    updated = data(patch(api, task, {"custom_elements": [{"id": element["id"], "value": value}]}))
    assert next(e for e in updated["custom_elements"] if e["id"] == element["id"])["value"] == value


@pytest.mark.parametrize("kind", sorted(BAD))
def test_an_invalid_value_is_400_with_the_documented_message(api, kind):
    task, element = task_with(api, ONB_RUN if kind != "website" else "run_imp_002", kind)
    message = error(
        patch(api, task, {"custom_elements": [{"id": element["id"], "value": BAD[kind]}]}),
        400,
        "validation_error",
    )
    assert message.startswith(f'Invalid value for {kind} "{element["label"]}".')
    if kind == "dropdown":
        assert message.endswith("Must be one of: " + ", ".join(element["options"]))


@pytest.mark.parametrize(
    ("kind", "empty"),
    [
        ("shortText", None),
        ("number", None),
        ("date", None),
        ("dropdown", None),
        ("multichoice", []),
        ("checkbox", False),
    ],
)
def test_null_clears_a_field_even_a_required_one(api, kind, empty):
    task, element = task_with(api, ONB_RUN, kind)
    updated = data(patch(api, task, {"custom_elements": [{"id": element["id"], "value": None}]}))
    assert next(e for e in updated["custom_elements"] if e["id"] == element["id"])["value"] == empty


@pytest.mark.parametrize("kind", ["text", "image", "video", "lineBreak"])
def test_writing_a_display_only_element_is_400(api, kind):
    run = "run_imp_002" if kind == "video" else ONB_RUN
    if kind == "lineBreak":
        run = "run_imp_002"
    task, element = task_with(api, run, kind)
    assert element["display_only"] is True
    error(
        patch(api, task, {"custom_elements": [{"id": element["id"], "value": "x"}]}),
        400,
        "validation_error",
    )


def test_unknown_element_is_400(api):
    task, _ = task_with(api, ONB_RUN, "shortText")
    error(
        patch(api, task, {"custom_elements": [{"id": "el_nope", "value": "x"}]}),
        400,
        "validation_error",
    )


def test_patch_is_all_or_nothing(api):
    task, element = task_with(api, ONB_RUN, "shortText")
    before = data(api.get(f"process-runs/{ONB_RUN}/tasks/{task['id']}"))
    body = {
        "completed": True,
        "assignee": "usr_ana",
        "custom_elements": [
            {"id": element["id"], "value": "changed"},
            {"id": "el_nope", "value": 1},
        ],
    }
    error(patch(api, task, body), 400, "validation_error")
    assert data(api.get(f"process-runs/{ONB_RUN}/tasks/{task['id']}")) == before


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"'])
def test_malformed_json_is_400(api, body):
    task, _ = task_with(api, ONB_RUN, "shortText")
    response = api.patch(
        f"process-runs/{ONB_RUN}/tasks/{task['id']}",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    error(response, 400, "validation_error")


@pytest.mark.parametrize(
    "body",
    [
        {"completed": "yes"},
        {"custom_elements": {"id": "x"}},
        {"assignee": 7},
        {"actor_email": 1},
        {"skipped": True},
    ],
)
def test_wrong_field_types_are_400(api, body):
    task, _ = task_with(api, ONB_RUN, "shortText")
    error(patch(api, task, body), 400, "validation_error")


def test_patch_unknown_run_or_task_is_404(api):
    error(api.patch("process-runs/run_nope/tasks/tsk_x", json={}), 404, "not_found")
    error(api.patch(f"process-runs/{ONB_RUN}/tasks/tsk_nope", json={}), 404, "not_found")


# -- completion, assignee, run locking -----------------------------------------------------


ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")


def test_completing_sets_and_uncompleting_clears_the_completion_fields(api):
    task = next(
        t
        for t in data(api.get(f"process-runs/{ONB_RUN}/tasks", params={"limit": 100}))
        if not t["completed"]
    )
    done = data(patch(api, task, {"completed": True, "actor_email": "ops@acme.example"}))
    assert done["completed"] is True
    assert ISO_MS.match(done["completed_at"])
    assert done["completed_by"] == "ops@acme.example"
    by_api = data(patch(api, task, {"completed": False}))
    assert (by_api["completed"], by_api["completed_at"], by_api["completed_by"]) == (
        False,
        None,
        None,
    )
    assert data(patch(api, task, {"completed": True}))["completed_by"] == "api"


def test_assignee_by_id_or_email_and_null_unassigns(api):
    task, _ = task_with(api, ONB_RUN, "shortText")
    assert data(patch(api, task, {"assignee": "usr_grace"}))["assignee"] == "usr_grace"
    assert data(patch(api, task, {"assignee": "x@example.com"}))["assignee"] == "x@example.com"
    assert data(patch(api, task, {"assignee": None}))["assignee"] is None
    error(patch(api, task, {"assignee": "usr_nobody"}), 400, "validation_error")


def test_completing_every_open_task_completes_and_locks_the_run(api):
    run_id = "run_onb_005"
    tasks = data(api.get(f"process-runs/{run_id}/tasks", params={"limit": 100}))
    open_tasks = [t for t in tasks if not (t["completed"] or t["skipped"])]
    for task in open_tasks[:-1]:
        data(patch(api, task, {"completed": True}))
        assert data(api.get(f"process-runs/{run_id}"))["status"] == "active"
    data(patch(api, open_tasks[-1], {"completed": True}))
    run = data(api.get(f"process-runs/{run_id}"))
    assert run["status"] == "completed"
    assert ISO_MS.match(run["completed_at"])
    assert run_id in {
        r["id"] for r in data(api.get("process-runs", params={"status": "completed", "limit": 100}))
    }
    error(patch(api, tasks[0], {"completed": False}), 409, "run_completed")


def test_skipped_tasks_count_as_done_for_run_completion(api):
    run_id = "run_imp_007"  # has a skipped training task
    tasks = data(api.get(f"process-runs/{run_id}/tasks", params={"limit": 100}))
    assert any(t["skipped"] for t in tasks)
    for task in tasks:
        if not (task["completed"] or task["skipped"]):
            data(patch(api, task, {"completed": True}))
    assert data(api.get(f"process-runs/{run_id}"))["status"] == "completed"


def test_tasks_of_a_completed_run_cannot_be_updated(api):
    task, element = task_with(api, DONE_RUN, "shortText")
    before = data(api.get(f"process-runs/{DONE_RUN}/tasks/{task['id']}"))
    error(
        patch(api, task, {"custom_elements": [{"id": element["id"], "value": "x"}]}),
        409,
        "run_completed",
    )
    assert data(api.get(f"process-runs/{DONE_RUN}/tasks/{task['id']}")) == before


# -- creating runs --------------------------------------------------------------------------


def test_create_run_from_a_published_template_with_prefill(api):
    response = api.post(
        "process-runs",
        json={
            "template_id": "tpl_vendor",
            "title": "Security review – Zeta",
            "due_date": "2027-01-31",
            "custom_elements": [
                {"task_id": "tt_ven_intake", "element_id": "el_ven_name", "value": "Zeta"}
            ],
        },
    )
    assert response.status_code == 201, response.text
    run = response.json()["data"]
    assert (run["title"], run["status"], run["template_id"]) == (
        "Security review – Zeta",
        "active",
        "tpl_vendor",
    )
    tasks = data(api.get(f"process-runs/{run['id']}/tasks", params={"limit": 100}))
    template_tasks = data(api.get("process-templates/tpl_vendor/tasks", params={"limit": 100}))
    assert [t["template_task_id"] for t in tasks] == [t["id"] for t in template_tasks]
    intake = tasks[0]
    assert next(e for e in intake["custom_elements"] if e["id"] == "el_ven_name")["value"] == "Zeta"
    assert data(api.get("process-runs", params={"limit": 1}))[0]["id"] == run["id"]


def test_create_run_refuses_drafts_bad_values_and_unknown_templates(api):
    error(
        api.post("process-runs", json={"template_id": "tpl_access_review", "name": "Q4"}),
        400,
        "validation_error",
    )
    error(api.post("process-runs", json={"template_id": "tpl_nope", "name": "x"}), 404, "not_found")
    error(api.post("process-runs", json={"template_id": "tpl_vendor"}), 400, "validation_error")
    error(
        api.post(
            "process-runs",
            json={
                "template_id": "tpl_vendor",
                "name": "x",
                "custom_elements": [
                    {"task_id": "tt_ven_intake", "element_id": "el_ven_site", "value": "not a url"}
                ],
            },
        ),
        400,
        "validation_error",
    )


def test_create_run_takes_a_team_member_as_its_starter_and_nobody_else(api):
    before = len(api.get("process-runs", params={"limit": 100}).json()["data"])
    error(
        api.post(
            "process-runs",
            json={"template_id": "tpl_vendor", "name": "x", "actor_email": "someone@else.org"},
        ),
        400,
        "validation_error",
    )
    assert len(api.get("process-runs", params={"limit": 100}).json()["data"]) == before
    made = api.post(
        "process-runs",
        json={"template_id": "tpl_vendor", "name": "x", "actor_email": "Chen.Wei@acme.example"},
    )
    assert made.status_code == 201
    assert made.json()["data"]["started_by"] == "Chen.Wei@acme.example"


def test_unknown_endpoints_are_404_and_wrong_methods_405(api):
    error(api.get("users"), 404, "not_found")
    assert api.delete(f"process-runs/{ONB_RUN}").status_code == 405

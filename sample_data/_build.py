"""Write the sample team's JSON files: team.json, templates.json, runs.json.

Run from anywhere: ``python sample_data/_build.py``. The output is deterministic.
The values are chosen to break naive tools: leading zeros, digit strings longer than
15 digits, multi-line text, non-ASCII, text starting with = + - @, empty and cleared
values, dates at month and year ends, options holding commas, non-ASCII and a leading =.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

USERS = [
    ("usr_ana", "ana.garcia@acme.example", "Ana García"),
    ("usr_bjorn", "bjorn.lindqvist@acme.example", "Björn Lindqvist"),
    ("usr_chen", "chen.wei@acme.example", "Chen Wei"),
    ("usr_dmitri", "dmitri.ivanov@acme.example", "Dmitri Ivanov"),
    ("usr_emeka", "emeka.okafor@acme.example", "Emeka Okafor"),
    ("usr_fatima", "fatima.zahra@acme.example", "Fatima Zahra"),
    ("usr_grace", "grace.oneil@acme.example", "Grace O'Neil"),
    ("usr_hiro", "hiroshi.tanaka@acme.example", "田中 博 (Hiroshi Tanaka)"),
]


def el(
    eid: str, kind: str, label: str, *, required: bool = False, options: list[str] | None = None
) -> dict[str, Any]:
    element: dict[str, Any] = {"id": eid, "type": kind, "label": label, "required": required}
    if options is not None:
        element["options"] = options
    return element


def task(
    tid: str,
    title: str,
    section: str,
    elements: list[dict[str, Any]],
    *,
    kind: str = "task",
    essential: bool = False,
) -> dict[str, Any]:
    return {
        "id": tid,
        "title": title,
        "section_id": section,
        "type": kind,
        "is_essential": essential,
        "custom_elements": elements,
    }


DEPARTMENTS = [
    "Engineering",
    "Marketing",
    "Sales, EMEA",
    "Sales, Americas",
    "Recherche & Développement",
    "=Unassigned",
]
ACCESSORIES = [
    "Monitor",
    "Keyboard, US layout",
    "Keyboard, DE layout",
    "Headset",
    "Ergonomic chair",
]
SYSTEMS = ["Email", "Slack", "GitHub", "Jira", "Über-Admin console", "=Legacy ERP"]

ONBOARDING = {
    "id": "tpl_onboarding",
    "title": "Employee Onboarding",
    "is_published": True,
    "version": 3,
    "description": "Everything from signed offer to the 30-day review.",
    "created_at": "2025-09-01T08:00:00.000Z",
    "updated_at": "2026-10-01T09:30:00.000Z",
    "sections": [
        {"id": "sec_onb_before", "title": "Before day one", "order": 0, "color": "#4f46e5"},
        {"id": "sec_onb_day1", "title": "First day", "order": 1, "color": "#059669"},
        {"id": "sec_onb_month1", "title": "First month", "order": 2, "color": "#d97706"},
    ],
    "tasks": [
        task(
            "tt_onb_welcome",
            "Read me first",
            "sec_onb_before",
            [
                el("el_onb_intro", "text", "What this checklist is for"),
                el("el_onb_photo", "image", "Team photo"),
            ],
        ),
        task(
            "tt_onb_details",
            "Collect personal details",
            "sec_onb_before",
            [
                el("el_onb_name", "shortText", "Legal name", required=True),
                el("el_onb_pronouns", "shortText", "Pronouns"),
                el("el_onb_email", "email", "Personal email", required=True),
                el("el_onb_phone", "shortText", "Phone"),
                el("el_onb_break", "lineBreak", ""),
                el("el_onb_empno", "shortText", "Employee number"),
                el("el_onb_payref", "shortText", "Payroll reference"),
            ],
            essential=True,
        ),
        task(
            "tt_onb_dept",
            "Assign department and start date",
            "sec_onb_before",
            [
                el("el_onb_dept", "dropdown", "Department", required=True, options=DEPARTMENTS),
                el("el_onb_start", "date", "Start date", required=True),
                el("el_onb_band", "number", "Salary band"),
            ],
        ),
        task(
            "tt_onb_contract",
            "Approve the contract",
            "sec_onb_before",
            [
                el("el_onb_signed", "checkbox", "Contract signed", required=True),
            ],
            kind="approval",
            essential=True,
        ),
        task(
            "tt_onb_equipment",
            "Order equipment",
            "sec_onb_before",
            [
                el(
                    "el_onb_laptop",
                    "dropdown",
                    "Laptop",
                    options=['MacBook Pro 14"', "ThinkPad X1 Carbon", "Dell XPS 13"],
                ),
                el("el_onb_accessories", "multichoice", "Accessories", options=ACCESSORIES),
                el("el_onb_delivery", "longText", "Delivery notes"),
            ],
        ),
        task(
            "tt_onb_accounts",
            "Create accounts",
            "sec_onb_day1",
            [
                el("el_onb_workemail", "email", "Work email", required=True),
                el("el_onb_github", "website", "GitHub profile"),
                el("el_onb_systems", "multichoice", "Systems", options=SYSTEMS),
            ],
        ),
        task(
            "tt_onb_tour",
            "Office tour",
            "sec_onb_day1",
            [
                el("el_onb_video", "video", "Welcome video"),
                el("el_onb_badge", "checkbox", "Badge handed over"),
            ],
        ),
        task(
            "tt_onb_buddy",
            "Meet your buddy",
            "sec_onb_month1",
            [
                el("el_onb_buddy", "email", "Buddy's email"),
                el("el_onb_meet", "date", "First meeting"),
            ],
        ),
        task(
            "tt_onb_security",
            "Security awareness training",
            "sec_onb_month1",
            [
                el("el_onb_training", "date", "Completed on"),
            ],
            essential=True,
        ),
        task(
            "tt_onb_review",
            "30-day review",
            "sec_onb_month1",
            [
                el(
                    "el_onb_rating",
                    "dropdown",
                    "Rating",
                    required=True,
                    options=["Exceeds expectations", "Meets expectations", "Below expectations"],
                ),
                el("el_onb_score", "number", "Score (0-10)"),
                el("el_onb_feedback", "longText", "Feedback"),
            ],
            kind="approval",
        ),
    ],
}

VENDOR = {
    "id": "tpl_vendor",
    "title": "Vendor Security Review",
    "is_published": True,
    "version": 1,
    "description": "Assess a new supplier before it touches our data.",
    "created_at": "2025-10-15T10:00:00.000Z",
    "updated_at": "2025-10-15T10:00:00.000Z",
    "sections": [
        {"id": "sec_ven_intake", "title": "Intake", "order": 0, "color": "#0ea5e9"},
        {"id": "sec_ven_assess", "title": "Assessment", "order": 1, "color": "#a855f7"},
        {"id": "sec_ven_decide", "title": "Decision", "order": 2, "color": "#ef4444"},
    ],
    "tasks": [
        task(
            "tt_ven_intake",
            "Vendor intake",
            "sec_ven_intake",
            [
                el("el_ven_name", "shortText", "Vendor name", required=True),
                el("el_ven_site", "website", "Vendor website", required=True),
                el("el_ven_contact", "email", "Security contact"),
                el("el_ven_spend", "number", "Annual spend (EUR)"),
                el("el_ven_duns", "shortText", "DUNS number"),
                el("el_ven_taxid", "shortText", "Tax ID"),
                el("el_ven_diagram", "image", "Architecture diagram"),
            ],
        ),
        task(
            "tt_ven_scope",
            "Data in scope",
            "sec_ven_intake",
            [
                el("el_ven_guide", "text", "How to pick a risk tier"),
                el(
                    "el_ven_data",
                    "multichoice",
                    "Data categories",
                    options=[
                        "Personal data",
                        "Payment data (PCI)",
                        "Health data",
                        "Source code",
                        "None, public only",
                    ],
                ),
                el(
                    "el_ven_tier",
                    "dropdown",
                    "Risk tier",
                    required=True,
                    options=["Tier 1 – critical", "Tier 2", "Tier 3", "+Exempt"],
                ),
            ],
        ),
        task(
            "tt_ven_questionnaire",
            "Security questionnaire",
            "sec_ven_assess",
            [
                el("el_ven_sent", "date", "Sent on"),
                el("el_ven_returned", "date", "Returned on"),
                el("el_ven_soc2", "checkbox", "SOC 2 report received"),
                el("el_ven_iso", "checkbox", "ISO 27001 certified"),
                el("el_ven_findings", "longText", "Findings"),
            ],
        ),
        task(
            "tt_ven_pentest",
            "Review the penetration test",
            "sec_ven_assess",
            [
                el("el_ven_pentest", "date", "Report dated"),
                el("el_ven_critical", "number", "Critical findings"),
            ],
        ),
        task(
            "tt_ven_legal",
            "Legal review",
            "sec_ven_decide",
            [
                el("el_ven_dpa", "checkbox", "DPA signed", required=True),
                el("el_ven_counsel", "email", "Counsel"),
            ],
            kind="approval",
            essential=True,
        ),
        task(
            "tt_ven_decision",
            "Decision",
            "sec_ven_decide",
            [
                el(
                    "el_ven_outcome",
                    "dropdown",
                    "Outcome",
                    required=True,
                    options=["Approved", "Approved with conditions", "Rejected"],
                ),
                el("el_ven_conditions", "longText", "Conditions"),
                el("el_ven_renewal", "date", "Next review"),
            ],
            kind="approval",
            essential=True,
        ),
    ],
}

IMPLEMENTATION = {
    "id": "tpl_implementation",
    "title": "Customer Implementation",
    "is_published": True,
    "version": 2,
    "description": "From signed order to go-live.",
    "created_at": "2025-11-20T14:00:00.000Z",
    "updated_at": "2026-03-02T11:00:00.000Z",
    "sections": [
        {"id": "sec_imp_kickoff", "title": "Kickoff", "order": 0, "color": "#22c55e"},
        {"id": "sec_imp_config", "title": "Configuration", "order": 1, "color": "#64748b"},
        {"id": "sec_imp_golive", "title": "Go-live", "order": 2, "color": "#f43f5e"},
    ],
    "tasks": [
        task(
            "tt_imp_kickoff",
            "Kickoff call",
            "sec_imp_kickoff",
            [
                el("el_imp_customer", "shortText", "Customer", required=True),
                el("el_imp_csm", "email", "Customer success manager"),
                el("el_imp_date", "date", "Kickoff date"),
                el(
                    "el_imp_plan",
                    "dropdown",
                    "Plan",
                    options=["Starter", "Growth", "Enterprise", "Enterprise, on-premises"],
                ),
            ],
        ),
        task(
            "tt_imp_contacts",
            "Customer contacts",
            "sec_imp_kickoff",
            [
                el("el_imp_admin", "email", "Admin contact"),
                el("el_imp_phone", "shortText", "Phone"),
                el("el_imp_portal", "website", "Customer portal"),
            ],
        ),
        task(
            "tt_imp_sso",
            "Configure single sign-on",
            "sec_imp_config",
            [
                el(
                    "el_imp_idp",
                    "dropdown",
                    "Identity provider",
                    options=["Okta", "Microsoft Entra ID", "Google Workspace", "None"],
                ),
                el("el_imp_sso_ok", "checkbox", "SSO tested"),
            ],
        ),
        task(
            "tt_imp_import",
            "Import data",
            "sec_imp_config",
            [
                el("el_imp_records", "number", "Records imported"),
                el(
                    "el_imp_modules",
                    "multichoice",
                    "Modules",
                    options=["Billing", "CRM", "Reporting", "Inventory", "Zoll & Logistik"],
                ),
                el("el_imp_break", "lineBreak", ""),
                el("el_imp_mapping", "longText", "Field mapping notes"),
            ],
        ),
        task(
            "tt_imp_training",
            "Train the admins",
            "sec_imp_config",
            [
                el("el_imp_video", "video", "Training video"),
                el("el_imp_sessions", "number", "Sessions held"),
                el("el_imp_recording", "website", "Recording"),
            ],
        ),
        task(
            "tt_imp_golive",
            "Go-live sign-off",
            "sec_imp_golive",
            [
                el("el_imp_golive", "date", "Go-live date", required=True),
                el("el_imp_signoff", "checkbox", "Customer signed off", required=True),
                el("el_imp_remarks", "longText", "Remarks"),
            ],
            kind="approval",
            essential=True,
        ),
    ],
}

ACCESS_REVIEW = {
    "id": "tpl_access_review",
    "title": "Quarterly Access Review (draft)",
    "is_published": False,
    "version": 1,
    "description": "Not published yet: runs cannot be started from it.",
    "created_at": "2026-11-01T09:00:00.000Z",
    "updated_at": "2026-11-01T09:00:00.000Z",
    "sections": [{"id": "sec_acc_main", "title": "Review", "order": 0, "color": None}],
    "tasks": [
        task(
            "tt_acc_export",
            "Export the user list",
            "sec_acc_main",
            [
                el("el_acc_system", "shortText", "System"),
            ],
        ),
        task(
            "tt_acc_signoff",
            "Owner sign-off",
            "sec_acc_main",
            [
                el("el_acc_ok", "checkbox", "Access confirmed"),
            ],
            kind="approval",
        ),
    ],
}

TEMPLATES = [ONBOARDING, VENDOR, IMPLEMENTATION, ACCESS_REVIEW]


def done(by: str, at: str, **extra: Any) -> dict[str, Any]:
    return {"completed": True, "completed_by": by, "completed_at": at, **extra}


def onboarding_run(n: int, name: str, created: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": f"run_onb_{n:03d}",
        "template_id": "tpl_onboarding",
        "title": f"Onboarding – {name}",
        "created_at": created,
        **kw,
    }


ANA, BJORN, CHEN, DMITRI = (u[1] for u in USERS[:4])

RUNS: list[dict[str, Any]] = [
    # A complete, fully filled run: the one to compare the rest with.
    onboarding_run(
        1,
        "Zoë Ångström",
        "2026-01-05T09:00:00.000Z",
        started_by=ANA,
        status="completed",
        due_date="2026-01-31",
        tasks={
            "tt_onb_welcome": done(ANA, "2026-01-05T09:10:00.000Z"),
            "tt_onb_details": done(
                ANA,
                "2026-01-06T10:00:00.000Z",
                assignee="usr_ana",
                values={
                    "el_onb_name": "Zoë Ångström",
                    "el_onb_pronouns": "she/her",
                    "el_onb_email": "zoe.angstrom@example.se",
                    "el_onb_phone": "+46 70 123 45 67",
                    "el_onb_empno": "007",
                    "el_onb_payref": "12345678901234567890",
                },
            ),
            "tt_onb_dept": done(
                BJORN,
                "2026-01-06T11:00:00.000Z",
                assignee=BJORN,
                values={
                    "el_onb_dept": "Recherche & Développement",
                    "el_onb_start": "2026-01-31",
                    "el_onb_band": 4,
                },
            ),
            "tt_onb_contract": done(
                DMITRI, "2026-01-07T08:00:00.000Z", values={"el_onb_signed": True}
            ),
            "tt_onb_equipment": done(
                CHEN,
                "2026-01-08T15:00:00.000Z",
                values={
                    "el_onb_laptop": 'MacBook Pro 14"',
                    "el_onb_accessories": ["Monitor", "Keyboard, US layout"],
                    "el_onb_delivery": "Leave at reception.\nCall +46 70 123 45 67 first.",
                },
            ),
            "tt_onb_accounts": done(
                CHEN,
                "2026-01-31T09:00:00.000Z",
                values={
                    "el_onb_workemail": "zoe.angstrom@acme.example",
                    "el_onb_github": "https://github.com/zoe-a",
                    "el_onb_systems": ["Email", "Slack", "GitHub"],
                },
            ),
            "tt_onb_tour": done(ANA, "2026-01-31T11:00:00.000Z", values={"el_onb_badge": True}),
            "tt_onb_buddy": done(
                ANA,
                "2026-02-02T09:00:00.000Z",
                values={"el_onb_buddy": "grace.oneil@acme.example", "el_onb_meet": "2026-02-02"},
            ),
            "tt_onb_security": done(
                ANA, "2026-02-27T09:00:00.000Z", values={"el_onb_training": "2026-02-27"}
            ),
            "tt_onb_review": done(
                DMITRI,
                "2026-03-02T16:00:00.000Z",
                values={
                    "el_onb_rating": "Exceeds expectations",
                    "el_onb_score": 9.5,
                    "el_onb_feedback": "Strong start.\r\nOwns the billing migration.",
                },
            ),
        },
    ),
    # Completed, with the office tour skipped.
    onboarding_run(
        2,
        "Łukasz Żółć",
        "2026-02-02T09:00:00.000Z",
        started_by=BJORN,
        status="completed",
        tasks={
            "tt_onb_welcome": done(BJORN, "2026-02-02T09:05:00.000Z"),
            "tt_onb_details": done(
                BJORN,
                "2026-02-03T09:00:00.000Z",
                values={
                    "el_onb_name": "Łukasz Żółć",
                    "el_onb_email": "lukasz@example.pl",
                    "el_onb_empno": "0042",
                    "el_onb_payref": "000000000000000012345",
                },
            ),
            "tt_onb_dept": done(
                BJORN,
                "2026-02-03T10:00:00.000Z",
                values={
                    "el_onb_dept": "Engineering",
                    "el_onb_start": "2026-02-28",
                    "el_onb_band": 3,
                },
            ),
            "tt_onb_contract": done(
                DMITRI, "2026-02-04T10:00:00.000Z", values={"el_onb_signed": True}
            ),
            "tt_onb_equipment": done(
                CHEN,
                "2026-02-10T10:00:00.000Z",
                values={
                    "el_onb_laptop": "ThinkPad X1 Carbon",
                    "el_onb_accessories": ["Keyboard, DE layout"],
                },
            ),
            "tt_onb_accounts": done(
                CHEN,
                "2026-02-28T10:00:00.000Z",
                values={
                    "el_onb_workemail": "lukasz.zolc@acme.example",
                    "el_onb_systems": ["=Legacy ERP", "Jira"],
                },
            ),
            "tt_onb_tour": {"skipped": True},
            "tt_onb_buddy": done(
                BJORN, "2026-03-02T10:00:00.000Z", values={"el_onb_meet": "2026-03-31"}
            ),
            "tt_onb_security": done(
                BJORN, "2026-03-31T10:00:00.000Z", values={"el_onb_training": "2026-03-31"}
            ),
            "tt_onb_review": done(
                DMITRI,
                "2026-04-01T10:00:00.000Z",
                values={"el_onb_rating": "Meets expectations", "el_onb_score": 7},
            ),
        },
    ),
]

# Active onboarding runs in various states. Some were started from version 2 of the
# template, before "Pronouns" and the security training existed.
ONB_PEOPLE = [
    ("渡辺 直美", "naomi.watanabe@example.jp", "Engineering", "2026-12-01"),
    ("Björk Guðmundsdóttir", "bjork@example.is", "Marketing", "2026-12-31"),
    ("Siobhán O'Connor", "siobhan.oconnor@example.ie", "Sales, EMEA", "2027-01-04"),
    ("José Álvarez-Núñez", "jose.alvarez@example.es", "Sales, Americas", "2026-11-30"),
    ('=HYPERLINK("http://evil.example")', "test.user@example.com", "=Unassigned", "2027-01-31"),
    ("Amara Nwosu", "amara.nwosu@example.ng", "Engineering", "2027-02-28"),
    ("Mateo Rossi", "mateo.rossi@example.it", "Recherche & Développement", "2026-12-15"),
    ("Priya Raghunathan", "priya.r@example.in", "Engineering", "2027-03-31"),
    ("Noah Müller", "noah.mueller@example.de", "Marketing", "2026-12-31"),
    ("Chloé Dubois", "chloe.dubois@example.fr", "Sales, EMEA", "2027-01-15"),
    ("Oliver Smith", "oliver.smith@example.co.uk", "Engineering", "2027-01-04"),
    ("Sofía Herrera", "sofia.herrera@example.mx", "Sales, Americas", "2027-02-01"),
]
PHONES = [
    "+81 3-1234-5678",
    "-",
    "@ask HR",
    "+353 1 234 5678",
    "",
    None,
    "0049 30 1234567",
    "+91 98765 43210",
    None,
    "+33 1 23 45 67 89",
    "+44 20 7946 0958",
    "+52 55 1234 5678",
]

for i, (name, email, dept, start) in enumerate(ONB_PEOPLE):
    n = i + 3
    old_version = i % 4 == 3
    created = f"2026-{(i % 9) + 3:02d}-{(i * 7) % 27 + 1:02d}T{8 + i % 9:02d}:00:00.000Z"
    tasks: dict[str, Any] = {
        "tt_onb_welcome": done(ANA, created.replace(":00:00.000Z", ":30:00.000Z")),
        "tt_onb_details": {
            "assignee": USERS[i % 8][0] if i % 3 else None,
            "values": {
                "el_onb_name": name,
                "el_onb_email": email,
                "el_onb_phone": PHONES[i],
                "el_onb_empno": f"{i * 37 % 1000:04d}",
                "el_onb_payref": f"{987654321012345678 + i}",
            },
        },
        "tt_onb_dept": {
            "assignee": BJORN if i % 2 else None,
            "values": {
                "el_onb_dept": dept,
                "el_onb_start": start,
                "el_onb_band": (i % 5) + 1 if i % 4 else None,
            },
        },
        "tt_onb_equipment": {
            "assignee": CHEN,
            "values": {
                "el_onb_laptop": ['MacBook Pro 14"', "ThinkPad X1 Carbon", "Dell XPS 13", None][
                    i % 4
                ],
                "el_onb_accessories": [ACCESSORIES[j] for j in range(5) if (i >> j) & 1],
                "el_onb_delivery": [
                    "Deliver to the Berlin office,\n2nd floor.",
                    "-",
                    "@reception: hold",
                    "Home address:\nCalle Mayor 1\n28013 Madrid",
                    None,
                ][i % 5],
            },
        },
    }
    if not old_version:
        tasks["tt_onb_details"]["values"]["el_onb_pronouns"] = ["", "he/him", "they/them", None][
            i % 4
        ]
    if i % 2 == 0:
        tasks["tt_onb_details"].update(done(ANA, f"2026-{(i % 9) + 3:02d}-28T12:00:00.000Z"))
        tasks["tt_onb_dept"].update(done(BJORN, f"2026-{(i % 9) + 3:02d}-28T13:00:00.000Z"))
    if i % 3 == 0:
        tasks["tt_onb_contract"] = done(
            DMITRI, "2026-10-31T23:59:00.000Z", values={"el_onb_signed": True}
        )
    if i in (4, 9):
        tasks["tt_onb_accounts"] = {
            "values": {
                "el_onb_workemail": "someone@acme.example",
                "el_onb_github": "http://example.com/profile?id=0042",
                "el_onb_systems": SYSTEMS[:],
            }
        }
        tasks["tt_onb_review"] = {
            "values": {
                "el_onb_rating": "Meets expectations",
                "el_onb_score": 0,
                "el_onb_feedback": "+1 from the team\n-2 days late on the docs",
            }
        }
    run = onboarding_run(
        n, name, created, started_by=USERS[i % 8][1], tasks=tasks, due_date=start if i % 2 else None
    )
    if old_version:
        run["omit_elements"] = ["el_onb_pronouns"]
        run["omit_tasks"] = ["tt_onb_security"]
    RUNS.append(run)


def vendor_run(n: int, vendor: str, created: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": f"run_ven_{n:03d}",
        "template_id": "tpl_vendor",
        "title": f"Security review – {vendor}",
        "created_at": created,
        **kw,
    }


VENDORS = [
    (
        "Acme Cloud GmbH",
        "https://acme-cloud.example.de",
        "security@acme-cloud.example.de",
        1250000,
        "001234567",
        "4012888888881881234",
        "Tier 1 – critical",
    ),
    (
        "Nordlys AS",
        "https://nordlys.example.no",
        "sec@nordlys.example.no",
        48000.5,
        "0987654321",
        "NO 987 654 321 MVA",
        "Tier 2",
    ),
    (
        "Shenzhen Widget Co., Ltd.",
        "http://widget.example.cn",
        None,
        0,
        "000000001",
        "91440300MA5FXXXXXX",
        "Tier 3",
    ),
    (
        "+Plus Analytics",
        "https://plus-analytics.example.com/",
        "privacy@plus-analytics.example.com",
        -1500,
        None,
        "12345678901234567",
        "+Exempt",
    ),
    (
        "Café Olé Ltda.",
        "https://cafe-ole.example.br/sobre?lang=pt",
        "seguranca@cafe-ole.example.br",
        99999.99,
        "123456789",
        "12.345.678/0001-95",
        "Tier 2",
    ),
    (
        "@Home Services",
        "https://at-home.example.com",
        "it@at-home.example.com",
        7200,
        "007007007",
        "",
        "Tier 3",
    ),
    (
        "Quantum Ledger Inc.",
        "https://qledger.example.com",
        "ciso@qledger.example.com",
        2500000,
        "555555555",
        "98-7654321",
        "Tier 1 – critical",
    ),
    (
        "Ωmega Data",
        "https://omega-data.example.gr",
        "security@omega-data.example.gr",
        31000,
        "246813579",
        "EL123456789",
        "Tier 2",
    ),
    ("Blue Fjord Ltd", "https://bluefjord.example.co.uk", None, None, None, None, "Tier 3"),
]

for i, (vendor, site, contact, spend, duns, taxid, tier) in enumerate(VENDORS):
    created = f"2026-{(i % 10) + 1:02d}-{(i * 5) % 28 + 1:02d}T10:00:00.000Z"
    tasks = {
        "tt_ven_intake": {
            "assignee": "usr_fatima" if i % 2 else "fatima.zahra@acme.example",
            "values": {
                "el_ven_name": vendor,
                "el_ven_site": site,
                "el_ven_contact": contact,
                "el_ven_spend": spend,
                "el_ven_duns": duns,
                "el_ven_taxid": taxid,
            },
        },
        "tt_ven_scope": {
            "values": {
                "el_ven_tier": tier,
                "el_ven_data": [
                    ["Personal data", "Payment data (PCI)"],
                    ["None, public only"],
                    [],
                    ["Source code"],
                    ["Personal data", "Health data"],
                ][i % 5],
            }
        },
    }
    status = "active"
    if i < 3:
        # Reviewed and decided: the run is completed.
        stamp = f"2026-{(i % 10) + 2:02d}-28T17:00:00.000Z"
        tasks["tt_ven_intake"].update(done("fatima.zahra@acme.example", created))
        tasks["tt_ven_scope"].update(done("fatima.zahra@acme.example", created))
        tasks["tt_ven_questionnaire"] = done(
            "emeka.okafor@acme.example",
            stamp,
            values={
                "el_ven_sent": "2025-12-31",
                "el_ven_returned": "2026-01-31",
                "el_ven_soc2": i != 2,
                "el_ven_iso": i == 0,
                "el_ven_findings": "No critical findings.\nTwo medium: see ticket SEC-118.",
            },
        )
        tasks["tt_ven_pentest"] = (
            {"skipped": True}
            if i == 2
            else done(
                "emeka.okafor@acme.example",
                stamp,
                values={"el_ven_pentest": "2025-11-30", "el_ven_critical": 0},
            )
        )
        tasks["tt_ven_legal"] = done(
            "grace.oneil@acme.example",
            stamp,
            values={"el_ven_dpa": True, "el_ven_counsel": "grace.oneil@acme.example"},
        )
        tasks["tt_ven_decision"] = done(
            "dmitri.ivanov@acme.example",
            stamp,
            values={
                "el_ven_outcome": ["Approved", "Approved with conditions", "Rejected"][i],
                "el_ven_conditions": [None, "=Re-review after SOC 2 renewal", "-"][i],
                "el_ven_renewal": ["2026-12-31", "2027-06-30", None][i],
            },
        )
        status = "completed"
    elif i in (4, 6):
        tasks["tt_ven_questionnaire"] = {
            "assignee": "usr_emeka",
            "values": {
                "el_ven_sent": "2026-02-28",
                "el_ven_soc2": True,
                "el_ven_findings": "Awaiting answers on:\n- encryption at rest\n- key rotation",
            },
        }
    RUNS.append(
        vendor_run(
            i + 1,
            vendor,
            created,
            started_by="fatima.zahra@acme.example",
            status=status,
            is_shared=i % 3 == 0,
            tasks=tasks,
        )
    )


def impl_run(n: int, customer: str, created: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": f"run_imp_{n:03d}",
        "template_id": "tpl_implementation",
        "title": f"Implementation – {customer}",
        "created_at": created,
        **kw,
    }


CUSTOMERS = [
    ("Globex Corporation", "Enterprise", "Okta", 1048576, ["Billing", "CRM", "Reporting"]),
    ("Initech", "Growth", "Microsoft Entra ID", 250, ["CRM"]),
    (
        "Umbrella Logistics",
        "Enterprise, on-premises",
        "None",
        3500000,
        ["Inventory", "Zoll & Logistik"],
    ),
    ("Stark Städtische Werke", "Starter", "Google Workspace", 0, []),
    ("Soylent Foods", "Growth", "Okta", 12000, ["Billing", "Reporting"]),
    (
        "Wayne Enterprises",
        "Enterprise",
        "Microsoft Entra ID",
        999999999999,
        ["Billing", "CRM", "Reporting", "Inventory"],
    ),
    ("Hooli", "Starter", None, None, []),
    ("Tyrell Corp", "Enterprise", "Okta", 42, ["CRM", "Zoll & Logistik"]),
    ("Cyberdyne Systems", "Growth", "Google Workspace", 77, ["Reporting"]),
]

for i, (customer, plan, idp, records, modules) in enumerate(CUSTOMERS):
    created = f"2026-{(i % 11) + 1:02d}-{(i * 3) % 28 + 1:02d}T14:00:00.000Z"
    tasks = {
        "tt_imp_kickoff": done(
            "hiroshi.tanaka@acme.example",
            created,
            assignee="usr_hiro",
            values={
                "el_imp_customer": customer,
                "el_imp_csm": "hiroshi.tanaka@acme.example",
                "el_imp_date": [
                    "2026-01-31",
                    "2026-02-28",
                    "2024-02-29",
                    "2026-04-30",
                    "2026-05-31",
                    "2026-06-30",
                    "2026-07-31",
                    "2026-08-31",
                    "2026-12-31",
                ][i],
                "el_imp_plan": plan,
            },
        ),
        "tt_imp_contacts": {
            "assignee": "usr_grace" if i % 2 else None,
            "values": {
                "el_imp_admin": f"admin{i}@customer{i}.example",
                "el_imp_phone": [
                    "+1 555 0100",
                    "=1+1",
                    "-",
                    "@helpdesk",
                    "030 1234567",
                    None,
                    "",
                    "0800 000 000",
                    "+49 (0)30 123",
                ][i],
                "el_imp_portal": f"https://portal.customer{i}.example/login" if i % 3 else None,
            },
        },
        "tt_imp_sso": {"values": {"el_imp_idp": idp, "el_imp_sso_ok": i % 2 == 0}},
        "tt_imp_import": {
            "values": {
                "el_imp_records": records,
                "el_imp_modules": modules,
                "el_imp_mapping": [
                    'customer_no → Kundennummer\n"VAT" → tax_id',
                    None,
                    "See sheet 'Mapping v2'",
                    "x" * 300,
                    "Tab\tseparated\tnotes",
                    None,
                    "",
                    "Line 1\r\nLine 2\r\nLine 3",
                    "-",
                ][i],
            }
        },
    }
    status = "active"
    if i in (0, 3):
        stamp = "2026-06-30T18:00:00.000Z" if i == 0 else "2026-12-31T23:59:59.999Z"
        tasks["tt_imp_contacts"].update(done("grace.oneil@acme.example", stamp))
        tasks["tt_imp_sso"].update(done("chen.wei@acme.example", stamp))
        tasks["tt_imp_import"].update(done("chen.wei@acme.example", stamp))
        tasks["tt_imp_training"] = (
            done(
                "hiroshi.tanaka@acme.example",
                stamp,
                values={
                    "el_imp_sessions": 3,
                    "el_imp_recording": "https://videos.example.com/training/123",
                },
            )
            if i == 0
            else {"skipped": True}
        )
        tasks["tt_imp_golive"] = done(
            "hiroshi.tanaka@acme.example",
            stamp,
            values={
                "el_imp_golive": "2026-06-30" if i == 0 else "2026-12-31",
                "el_imp_signoff": True,
                "el_imp_remarks": "Smooth go-live." if i == 0 else None,
            },
        )
        status = "completed"
    elif i == 6:
        tasks["tt_imp_training"] = {"skipped": True}
    elif i == 5:
        tasks["tt_imp_golive"] = {
            "assignee": "usr_dmitri",
            "due_date": "2027-01-31T17:00:00.000Z",
            "values": {"el_imp_golive": "2027-01-31"},
        }
    run = impl_run(
        i + 1,
        customer,
        created,
        started_by="hiroshi.tanaka@acme.example",
        status=status,
        due_date=f"2027-0{i % 9 + 1}-01",
        tasks=tasks,
    )
    if i == 8:
        run["omit_tasks"] = ["tt_imp_training"]
    RUNS.append(run)


def main() -> None:
    team = {
        "team_id": "team_acme",
        "timezone": "Europe/Berlin",
        "users": [{"id": u, "email": e, "name": n} for u, e, n in USERS],
    }
    for name, data in (("team.json", team), ("templates.json", TEMPLATES), ("runs.json", RUNS)):
        text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
        (HERE / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(TEMPLATES)} templates and {len(RUNS)} runs to {HERE}")


if __name__ == "__main__":
    main()

"""The team benchmark's quick mode (``benchmarks/bench_team.py --quick``), as CI runs it.

A generated team of 30 runs served on loopback: every export and dry run sends exactly
the requests it needs, the apply one PATCH per edited task, nothing is refused at a
short rate-limit window, and bulksync writes over none of another person's edits where
the naive script does. Counts only: timings are the benchmark's to print, never a test's
to assert.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_team

pytestmark = pytest.mark.slow  # it waits out a rate-limit window of 1 s


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    work = tmp_path_factory.mktemp("bench_team")
    args = bench_team.parse_args(["--quick", "--work", str(work)])
    return bench_team.measure(args, work, say=lambda _text: None)


def test_every_job_sends_the_fewest_requests(results):
    assert bench_team.problems(results) == []
    runs = results["runs"]
    # 1 page of runs, 1 task list per run, and the template's tasks for the runs layout.
    assert [job.sent for job in results["exports"]] == [runs + 2, runs + 2, runs + 1, runs + 1]
    unedited = [job for job in results["dry_runs"] if job.name.endswith(", 0% edited")]
    assert len(unedited) == 4
    assert all(job.sent == 0 for job in unedited)
    for job in results["dry_runs"]:
        assert job.extra["changes"] == job.extra["edits"]
        assert job.ratio == 1.0


def test_the_apply_sends_a_patch_per_edited_task_and_applies_every_edit(results):
    apply = results["apply"]
    assert apply.requests["PATCH"] == apply.extra["patches_needed"] > 0
    assert apply.extra["values_applied"] == apply.extra["values_edited"]


def test_no_request_is_refused_at_a_short_rate_limit_window(results):
    paced = results["paced"]
    assert (paced["export"]["429s"], paced["apply"]["429s"]) == (0, 0)
    assert paced["export"]["requests"] == results["exports"][0].sent


def test_bulksync_keeps_other_peoples_edits_where_the_naive_script_does_not(results):
    naive = results["naive"]
    assert naive["bulksync"]["clobbered"] == 0
    assert naive["bulksync"]["edits_applied"] == naive["bulksync"]["edits"]
    assert naive["naive_unedited"]["changes"] > 0  # an unedited sheet, "changed"
    assert naive["naive"]["clobbered"] > 0


def test_a_request_over_the_minimum_is_a_failure(results):
    export = results["exports"][0]
    wasteful = dataclasses.replace(
        export, extra={**export.extra, "requests_each": [{"GET": export.minimum + 1}]}
    )
    found = bench_team.problems({**results, "exports": [wasteful, *results["exports"][1:]]})
    assert len(found) == 1
    assert "the minimum is" in found[0]

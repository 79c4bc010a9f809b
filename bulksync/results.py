"""The results files of an import's run directory: ``results.csv``, a row per value,
and ``errors.csv``, the values to fix and import again."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from bulksync.launch import StartResult
from bulksync.plans import ApplyResult, Change, Plan, Result, ValueResult, describe
from bulksync.private import private_file
from bulksync.rundir import ERRORS, RESULTS, START_KEY_PREFIX, merge_results
from bulksync.sheets import write_retry_csv
from bulksync.sheets.csvfile import guard, sidecar

RESULT_COLUMNS: Final = (
    "cell",
    "run",
    "task",
    "field",
    "run_id",
    "task_id",
    "field_id",
    "before",
    "after",
    "result",
    "message",
)


def write_results(
    report: ApplyResult,
    run_dir: Path,
    *,
    host: str = "",
    already_done: Sequence[Change] = (),
    link: Callable[[str], str] | None = None,
) -> None:
    """``results.csv``, a row per value; ``errors.csv``, the values that failed or were
    not sent, as a sheet to fix and import again (``bulksync import errors.csv``).

    A run to start has a row too (field ``Run started``): the new run's id, and in
    ``after`` its link (``link`` makes it from the id), or why it was not started.
    ``results.csv`` covers the whole import, also when it was resumed: the rows of
    earlier attempts in ``run_dir`` are merged in (``rundir.merge_results``), and the
    values the plan found ``already_done`` are listed as such.
    """
    rows = merge_results(
        run_dir,
        [_start_row(s, link) for s in report.starts] + [_result_row(r) for r in report.results],
        [_result_row(ValueResult(c, Result.ALREADY_DONE)) for c in already_done],
    )
    with private_file(run_dir / RESULTS).open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(RESULT_COLUMNS)
        writer.writerows(rows)
    retry = [
        (
            r.change.with_live(r.stored) if r.stored_known else r.change,
            f"{r.result.value}: {r.message}",
        )
        for r in report.results
        if r.result in (Result.FAILED, Result.NOT_SENT)
    ]
    private_file(sidecar(private_file(run_dir / ERRORS)))
    write_retry_csv(run_dir / ERRORS, retry, host=host)


def write_resumed_results(plan: Plan, run_dir: Path) -> Path:
    """``results.csv`` of a resumed import with nothing left to send, so that it covers
    the whole import (a kill -9 may have left none): what earlier attempts did, and what
    the plan found done. Returns its path."""
    write_results(ApplyResult(run_dir), run_dir, host=plan.host, already_done=plan.already_done)
    return run_dir / RESULTS


def result_dicts(report: ApplyResult) -> list[dict[str, Any]]:
    """The results as the JSON report carries them."""
    return [
        {
            "cell": r.change.cell,
            "run_id": r.change.key.run_id,
            "task_id": r.change.key.task_id,
            "field": r.change.key.field,
            "label": r.change.label,
            "before": r.change.live,
            "after": r.change.sheet,
            "result": r.result.value,
            "message": r.message,
        }
        for r in report.results
    ]


def _result_row(result: ValueResult) -> list[str]:
    """A row of results.csv; a text a spreadsheet would run as a formula gets an apostrophe."""
    change = result.change
    row = [
        change.cell,
        change.run_title,
        change.task_title,
        change.label,
        change.key.run_id,
        change.key.task_id,
        change.key.field,
        describe(change.live),
        describe(change.sheet),
        result.result.value,
        result.message,
    ]
    return [guard(text, as_text=False) for text in row]


START_FIELD: Final = "Run started"


def _start_row(result: StartResult, link: Callable[[str], str] | None) -> list[str]:
    """A row of results.csv for a run to start; its ``field_id`` is the row's key, by
    which a resumed import's row replaces an earlier attempt's."""
    start, run_id = result.start, result.run_id or ""
    row = [
        start.cell,
        start.title,
        "",
        START_FIELD,
        run_id,
        "",
        f"{START_KEY_PREFIX}{start.key}",
        "",
        (link(run_id) if link else run_id) if run_id else "",
        result.result.value,
        result.message
        + (f"; {result.then_failed} tick(s) or assignee(s) not set" if result.then_failed else ""),
    ]
    return [guard(text, as_text=False) for text in row]

"""The import plan as JSON (``--json``, ``--report FILE.json``; see docs/import.md)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from bulksync.plans import ApplyResult, Plan
from bulksync.results import result_dicts


def plan_json(plan: Plan, result: ApplyResult | None = None) -> str:
    """The JSON report: the plan, and after applying, each value's ``results`` and each
    run to start's ``starts``."""
    return "".join(plan_json_pieces(plan, result))


def plan_json_pieces(plan: Plan, result: ApplyResult | None = None) -> Iterator[str]:
    """``plan_json``'s text in pieces of about 64 KiB, for writing as it is made.

    The text is ``json.dumps(..., indent=2)``'s of the whole report, byte for byte, but
    the long lists (changes, requests, results) are encoded an item at a time
    (``Plan.json_fields``): the indented encoder makes a small string per token, a
    list of them all took some 5 KiB a change, and the report's lists made at once
    some 1.2 KiB more (issue 13)."""
    batch: list[str] = []
    size = 0
    for chunk in _object(_report_fields(plan, result)):
        batch.append(chunk)
        size += len(chunk)
        if size >= _PIECE:
            yield "".join(batch)
            batch, size = [], 0
    yield "".join(batch)


_PIECE = 1 << 16
_ENCODER = json.JSONEncoder(ensure_ascii=False, indent=2)


def _report_fields(plan: Plan, result: ApplyResult | None) -> Iterator[tuple[str, Any]]:
    yield from plan.json_fields()
    if result is not None:
        yield "results", iter(result_dicts(result))
        yield "starts", (s.as_dict() for s in result.starts)


def _object(fields: Iterable[tuple[str, Any]]) -> Iterator[str]:
    """A top-level JSON object as ``json.dumps(indent=2)`` writes it, a value at a time;
    a value that is an iterator is written as a list, an item at a time."""
    separator = "{\n  "
    for key, value in fields:
        yield separator + _ENCODER.encode(key) + ": "
        separator = ",\n  "
        if isinstance(value, Iterator):
            yield from _list(value)
        else:
            yield _indented(value, "\n  ")
    yield "{}" if separator == "{\n  " else "\n}"


def _list(items: Iterator[Any]) -> Iterator[str]:
    separator = "[\n    "
    for item in items:
        yield separator + _indented(item, "\n    ")
        separator = ",\n    "
    yield "[]" if separator == "[\n    " else "\n  ]"


def _indented(value: Any, newline: str) -> str:
    """``value`` encoded as the indented encoder would nested this deep: a newline in the
    encoded text is always the encoder's own (one in a string is written ``\\n``)."""
    return _ENCODER.encode(value).replace("\n", newline)

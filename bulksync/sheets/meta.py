"""What an export records about itself: metadata and the base snapshot.

The base snapshot is every exported value as it was at export time, with what import
needs to read and check it (ids, type, label, options, lock). It is JSON, stored in the
hidden ``_bulksync`` sheet of an xlsx (in chunks that fit a cell) or in a sidecar file
``FILE.csv.base.json`` beside a CSV.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Final

from bulksync.errors import SheetError
from bulksync.sheets.layout import Context
from bulksync.snapshot import FieldKey, FieldSpec, FieldValue

FORMAT_VERSION: Final = 1


@dataclass(frozen=True)
class ExportMeta:
    """Facts about one export (never the API key)."""

    bulksync_version: str
    host: str
    exported_at: str
    layout: str
    sheet: str
    runs: int
    values: int
    template_id: str | None = None
    assignees: bool = True
    format_version: int = FORMAT_VERSION

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], where: str) -> ExportMeta:
        version = raw.get("format_version")
        if version != FORMAT_VERSION:
            raise SheetError(
                f"{where} was written in bulksync sheet format {version!r}; this bulksync "
                f"reads format {FORMAT_VERSION}. Export the runs again."
            )
        try:
            return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})
        except TypeError as exc:
            raise SheetError(f"{where} has incomplete bulksync metadata ({exc}).") from None


class BaseWriter:
    """Collects the base snapshot as fields are written, with their option lists shared."""

    def __init__(self, context: Context | None = None) -> None:
        self._options: dict[tuple[str, ...], int] = {}
        self._rows: list[list[Any]] = []
        self._context = context

    def add(self, field: FieldValue) -> None:
        spec = field.spec
        options = -1
        if spec.options:
            options = self._options.setdefault(spec.options, len(self._options))
        self._rows.append(
            [
                spec.key.run_id,
                spec.key.task_id,
                spec.template_task_id,
                spec.key.field,
                spec.kind,
                spec.label,
                int(spec.required),
                options,
                spec.locked,
                field.value,
            ]
        )

    def __len__(self) -> int:
        return len(self._rows)

    def to_json(self) -> str:
        document: dict[str, Any] = {"options": list(self._options), "fields": self._rows}
        if self._context is not None:
            document["runs"] = self._context.runs
            document["tasks"] = self._context.tasks
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def read_base(text: str, where: str) -> tuple[dict[FieldKey, FieldValue], Context | None]:
    """The base snapshot by field, and the context cells as exported (None if not kept)."""
    try:
        document = json.loads(text)
        option_lists = [tuple(o) for o in document["options"]]
        base: dict[FieldKey, FieldValue] = {}
        for row in document["fields"]:
            run_id, task_id, tt_id, field, kind, label, required, options, locked, value = row
            key = FieldKey(run_id, task_id, field)
            spec = FieldSpec(
                key,
                tt_id,
                kind,
                label,
                bool(required),
                option_lists[options] if options >= 0 else (),
                locked,
            )
            base[key] = FieldValue(spec, value)
        context = None
        if "runs" in document:
            context = Context(
                {k: (v[0], v[1]) for k, v in document["runs"].items()},
                {
                    run: {t: (v[0], v[1]) for t, v in tasks.items()}
                    for run, tasks in document["tasks"].items()
                },
            )
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise SheetError(
            f"The base snapshot in {where} is damaged ({type(exc).__name__}); export again."
        ) from None
    return base, context


def chunks(text: str, size: int = 32_000) -> Iterable[str]:
    """Pieces of ``text`` that each fit a spreadsheet cell."""
    return (text[i : i + size] for i in range(0, len(text), size)) if text else [""]


def locked_as_unholdable(field: FieldValue, why: str) -> FieldValue:
    """The field, locked because no cell can hold its value exactly; import keeps it."""
    spec = field.spec
    reason = f"{UNHOLDABLE}: {why}"
    return FieldValue(replace(spec, locked=reason), field.value)


UNHOLDABLE: Final = "cannot be held in a spreadsheet cell"

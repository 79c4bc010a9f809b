"""TRUE/FALSE values: the ``checkbox`` element, and a task's completion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from bulksync.codecs.base import CellError, CellValue, Codec, ListSource, text_of
from bulksync.model import JSON

COMPLETION: Final = "completed"
"""The field name of a task's completion (its kind too)."""

BOOLEAN_FORMAT: Final = '"TRUE";"TRUE";"FALSE"'
"""A number format that shows a boolean (or its number) as TRUE or FALSE."""

_TRUE = frozenset({"true", "yes", "1", "y"})
_FALSE = frozenset({"false", "no", "0", "n", ""})


@dataclass(frozen=True)
class BooleanCodec(Codec):
    """A ``checkbox``: TRUE or FALSE, never empty."""

    width: ClassVar[float] = 11
    hint_text: ClassVar[str] = "TRUE; FALSE"
    prompt: ClassVar[str] = "TRUE or FALSE."

    def xlsx_format(self) -> dict[str, Any]:
        """Shown as TRUE or FALSE whatever the app keeps: LibreOffice stores a boolean
        as the number 1 or 0 and, in a column with no TRUE, shows 0 without this."""
        return {"num_format": BOOLEAN_FORMAT}

    def xlsx_validation(self, options: tuple[str, ...], lists: ListSource) -> dict[str, Any]:
        return {"validate": "list", "source": ["TRUE", "FALSE"]}

    def empty(self) -> JSON:
        return False

    def is_cleared(self, value: JSON) -> bool:
        return False  # FALSE is an answer

    def canonical(self, value: JSON) -> JSON:
        return bool(value)

    def holds(self, value: JSON) -> bool:
        return value is None or isinstance(value, bool)

    def to_cell(self, value: JSON, options: Sequence[str] = ()) -> CellValue:
        return bool(value)

    def to_text(self, value: JSON, options: Sequence[str] = ()) -> str:
        return "TRUE" if value else "FALSE"

    def from_cell(self, raw: CellValue, options: Sequence[str] = ()) -> JSON:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int | float) and raw in (0, 1):
            return bool(raw)
        text = text_of(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise CellError("not_a_boolean", f"{text_of(raw)!r} is not TRUE or FALSE")


@dataclass(frozen=True)
class CompletionCodec(BooleanCodec):
    """A task's completion: TRUE completes the task, FALSE reopens it."""

    prompt: ClassVar[str] = "TRUE when the task is done, FALSE to reopen it."

    @property
    def label(self) -> str:
        return "completion"

"""One codec per field type: everything bulksync knows about a NextStep element type.

A *field* is one editable value of a task: a writable form element (``shortText`` …
``multichoice``), the task's completion, or its assignee. Its codec says how a value is
written to a cell and read back (``to_cell``, ``to_text``, ``from_cell``), compared
(``equal``), checked when edited (``check``), and how its cells look in an export: the
Type and Allowed values columns (``label``, ``hint``), the column ``width``, the xlsx
cell format and data validation (``xlsx_format``, ``xlsx_validation``, ``prompt``), and
whether a CSV keeps it as text (``csv_text``). The sheet writers and readers ask the
codec; none of them names a type.

Values on the API side are JSON (``None``, str, int, float, bool, list of str). On the
sheet side a cell holds ``None``, str, int, float, bool or ``datetime.date``. Reading a
cell gives the API value, or raises ``CellError`` with a code and a message that says
how to fix it.

Empty values: text, number, date, dropdown and assignee are ``None`` when empty (an
empty text ``""`` is the same empty value); multichoice is ``[]``; checkbox and
completion are ``False``. ``equal`` compares with each type's own equality.

**Adding an element type** is adding one codec: a module here (``codecs/rating.py``)
with a frozen dataclass subclass of ``Codec`` (or of ``TextCodec`` for a kind of text)
that overrides what differs from plain text — ``from_cell``/``to_cell`` and
``canonical`` for a value that is not a string, ``check`` for its rules, and the class
attributes ``width``, ``hint_text``, ``prompt``, ``csv_text`` and ``xlsx_validation``
for its cells — and one line in ``CODECS`` below, keyed by the type's NextStep name.
Registered, it is writable; the round-trip law in ``tests/sheets/test_roundtrip.py``
then asks for a strategy that draws its values.
"""

from __future__ import annotations

from typing import Final

from bulksync.codecs.assignee import ASSIGNEE, AssigneeCodec
from bulksync.codecs.base import (
    MAX_CELL_TEXT,
    CellError,
    CellValue,
    Codec,
    ListSource,
    UnholdableValue,
    garbled,
    lost_characters,
    nfc,
    text_of,
    unholdable,
)
from bulksync.codecs.checkbox import COMPLETION, BooleanCodec, CompletionCodec
from bulksync.codecs.choice import (
    MULTI_SEPARATOR,
    DropdownCodec,
    MultichoiceCodec,
    split_multichoice,
)
from bulksync.codecs.date import DateCodec
from bulksync.codecs.email import EmailCodec
from bulksync.codecs.number import NumberCodec
from bulksync.codecs.text import LongTextCodec, TextCodec
from bulksync.codecs.website import WebsiteCodec

__all__ = [
    "ASSIGNEE",
    "CODECS",
    "COMPLETION",
    "DISPLAY_ONLY_TYPES",
    "MAX_CELL_TEXT",
    "MULTI_SEPARATOR",
    "AssigneeCodec",
    "BooleanCodec",
    "CellError",
    "CellValue",
    "Codec",
    "CompletionCodec",
    "DateCodec",
    "DropdownCodec",
    "EmailCodec",
    "ListSource",
    "LongTextCodec",
    "MultichoiceCodec",
    "NumberCodec",
    "TextCodec",
    "UnholdableValue",
    "WebsiteCodec",
    "codec_for",
    "garbled",
    "is_writable",
    "lost_characters",
    "nfc",
    "split_multichoice",
    "text_of",
    "unholdable",
]

DISPLAY_ONLY_TYPES: Final = frozenset({"text", "image", "video", "lineBreak"})

CODECS: Final[dict[str, Codec]] = {
    "shortText": TextCodec("shortText"),
    "longText": LongTextCodec("longText"),
    "email": EmailCodec("email"),
    "website": WebsiteCodec("website"),
    "number": NumberCodec("number"),
    "date": DateCodec("date"),
    "checkbox": BooleanCodec("checkbox"),
    "dropdown": DropdownCodec("dropdown"),
    "multichoice": MultichoiceCodec("multichoice"),
    COMPLETION: CompletionCodec(COMPLETION),
    ASSIGNEE: AssigneeCodec(ASSIGNEE),
}


def codec_for(kind: str) -> Codec:
    """The codec of a field type; unknown types are treated as text."""
    return CODECS.get(kind) or Codec(kind)


def is_writable(kind: str) -> bool:
    """An element type bulksync can write (display-only and unknown types are not)."""
    return kind in CODECS and kind not in (COMPLETION, ASSIGNEE)

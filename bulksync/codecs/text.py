"""Text elements: ``shortText`` and ``longText``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from bulksync.codecs.base import Codec


@dataclass(frozen=True)
class TextCodec(Codec):
    """One line of text (``shortText``); what the base codec does, kept as text in a CSV."""

    csv_text: ClassVar[bool] = True

    def xlsx_format(self) -> dict[str, Any]:
        """The Text number format (``@``): what a person types stays as typed.

        In a General cell a spreadsheet app reads ``007`` as 7 and an 18-digit
        reference as ``9.87654321012346E+17``; in a Text cell it keeps the characters.
        """
        return {"num_format": "@"}


@dataclass(frozen=True)
class LongTextCodec(TextCodec):
    """Text of several lines (``longText``): a wide column, wrapped."""

    width: ClassVar[float] = 36

    def xlsx_format(self) -> dict[str, Any]:
        return super().xlsx_format() | {"text_wrap": True}

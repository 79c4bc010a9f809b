"""Text elements: ``shortText`` and ``longText``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from bulksync.codecs.base import Codec


@dataclass(frozen=True)
class TextCodec(Codec):
    """One line of text (``shortText``); what the base codec does, kept as text in a CSV."""

    csv_text: ClassVar[bool] = True


@dataclass(frozen=True)
class LongTextCodec(TextCodec):
    """Text of several lines (``longText``): a wide column, wrapped."""

    width: ClassVar[float] = 36

    def xlsx_format(self) -> dict[str, Any]:
        return {"text_wrap": True}

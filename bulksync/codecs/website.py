"""The ``website`` element: an http(s) address, checked when edited."""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from bulksync.codecs.base import CellError
from bulksync.codecs.text import TextCodec
from bulksync.model import JSON


@dataclass(frozen=True)
class WebsiteCodec(TextCodec):
    width: ClassVar[float] = 28
    prompt: ClassVar[str] = "An http:// or https:// address."

    def check(self, value: JSON, options: Sequence[str] = ()) -> tuple[JSON, str | None]:
        if value is None:
            return value, None
        text = str(value).strip()
        parts = urllib.parse.urlsplit(text)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname or " " in text:
            raise CellError(
                "not_a_url",
                f"{text!r} is not a web address; write it in full, for example "
                "https://example.com/page",
            )
        return text, None

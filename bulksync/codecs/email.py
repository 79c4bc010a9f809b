"""The ``email`` element: an email address, checked when edited."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import email_validator

from bulksync.codecs.base import CellError
from bulksync.codecs.text import TextCodec
from bulksync.model import JSON


@dataclass(frozen=True)
class EmailCodec(TextCodec):
    width: ClassVar[float] = 26
    prompt: ClassVar[str] = "An email address."

    def check(self, value: JSON, options: Sequence[str] = ()) -> tuple[JSON, str | None]:
        if value is None:
            return value, None
        text = str(value).strip()
        try:
            email_validator.validate_email(text, check_deliverability=False)
        except email_validator.EmailNotValidError as exc:
            raise CellError("not_an_email", f"{text!r} is not an email address: {exc}") from None
        return text, None

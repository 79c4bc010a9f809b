"""A task's assignee: a user id or an email address (empty unassigns)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

from bulksync.codecs.base import CellError
from bulksync.codecs.email import EmailCodec
from bulksync.codecs.text import TextCodec
from bulksync.model import JSON

ASSIGNEE: Final = "assignee"
"""The field name of a task's assignee (its kind too)."""

_USER_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")


@dataclass(frozen=True)
class AssigneeCodec(TextCodec):
    width: ClassVar[float] = 24
    hint_text: ClassVar[str] = "user id or email"
    prompt: ClassVar[str] = "A user id or an email address; empty unassigns."

    def check(self, value: JSON, options: Sequence[str] = ()) -> tuple[JSON, str | None]:
        if value is None:
            return value, None
        text = str(value).strip()
        if "@" in text:
            return EmailCodec("email").check(text, options)
        if not _USER_ID.fullmatch(text):
            raise CellError(
                "not_an_assignee",
                f"{text!r} is neither a user id (such as usr_ana) nor an email address; "
                "leave the cell empty to unassign",
            )
        return text, None

"""How every report shows a value: ``describe``, with the spaces at its ends made visible."""

from __future__ import annotations

from typing import Final

from bulksync.model import JSON
from bulksync.plans import describe

EDGE_SPACE: Final = "⎵"
"""A space at either end of a value, as the reports show it: ``Noah⎵``. A trailing
space is an edit, and would be invisible."""


def marked(value: JSON) -> str:
    """A value as a report shows it (``describe``), each space at its ends as ``⎵``."""
    text = describe(value)
    body = text.strip(" ")
    if body == text:
        return text
    if not body:
        return EDGE_SPACE * len(text)
    start = text.index(body)
    return EDGE_SPACE * start + body + EDGE_SPACE * (len(text) - start - len(body))

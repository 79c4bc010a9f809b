"""The ``number`` element: a JSON number, which NextStep keeps as a 64-bit float."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from bulksync.codecs.base import CellError, CellValue, Codec, ListSource, text_of
from bulksync.model import JSON


@dataclass(frozen=True)
class NumberCodec(Codec):
    width: ClassVar[float] = 11
    prompt: ClassVar[str] = "A number; use '.' for decimals."

    def xlsx_validation(self, options: tuple[str, ...], lists: ListSource) -> dict[str, Any]:
        return {"validate": "decimal", "criteria": "between", "minimum": -1e300, "maximum": 1e300}

    def canonical(self, value: JSON) -> JSON:
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return repr(value)  # not a number: equal to nothing but itself
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() and abs(number) < 2**53 else number

    def equal(self, a: JSON, b: JSON) -> bool:
        if isinstance(a, str) or isinstance(b, str):
            # Not the shortcut for one value: a text "nan" reads as NaN, unequal to itself.
            return bool(self.canonical(a) == self.canonical(b))
        return super().equal(a, b)

    def holds(self, value: JSON) -> bool:
        return value is None or (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )

    def to_cell(self, value: JSON, options: Sequence[str] = ()) -> CellValue:
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        number = self.canonical(value)
        # Not a number (stored so by another client): shown as the text it is.
        return number if isinstance(number, int | float) else str(value)

    def to_text(self, value: JSON, options: Sequence[str] = ()) -> str:
        if value is None:
            return ""
        number = self.canonical(value)
        if isinstance(number, float):
            return repr(number)
        return str(number) if isinstance(number, int) else str(value)

    def from_cell(self, raw: CellValue, options: Sequence[str] = ()) -> JSON:
        """The number a cell holds, exactly as NextStep would store it, or ``CellError``.

        NextStep keeps a number as JSON, a 64-bit float: a number typed as text that
        no float holds exactly (past 2**53, 20 digits, 1e-400) is refused rather than
        rounded. Digits of other scripts (``１２３``, ``١٢٣``) are read; ``read_note``
        warns about them.
        """
        if raw is None or raw == "":
            return None
        if isinstance(raw, (bool, dt.date)):
            raise CellError("not_a_number", f"{text_of(raw)!r} is not a number; type a number")
        if isinstance(raw, int | float):
            number = float(raw)
            exact = isinstance(raw, float) or int(number) == raw
        else:
            number, exact = _parse(raw)
        if not exact or not math.isfinite(number):
            raise CellError("inexact_number", _inexact(text_of(raw).strip(), number))
        return int(number) if number.is_integer() and abs(number) < 2**53 else number

    def read_note(self, raw: CellValue) -> str | None:
        if not isinstance(raw, str):
            return None
        text = raw.strip()
        ascii_text = _ascii_number(text)
        if ascii_text == text or not _NUMBER.fullmatch(ascii_text):
            return None
        return (
            f"{text!r} has digits or signs of another script, read as {ascii_text}; type "
            "ASCII digits 0-9 to be sure the number is the one you mean"
        )


_NUMBER: Final = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)
_SIGNS: Final = str.maketrans({"\u2212": "-", "\u066b": ".", "\u066c": ","})
"""Minus sign, Arabic decimal and thousands separators (NFKC keeps them)."""


def _parse(raw: str) -> tuple[float, bool]:
    """A number typed as text, and whether the float is exactly the number typed."""
    text = _ascii_number(raw.strip())
    if not _NUMBER.fullmatch(text):
        raise CellError(
            "not_a_number",
            f"{raw!r} is not a number; type digits with a '.' for decimals, "
            "no thousands separators or units",
        )
    number = float(text)
    exact = math.isfinite(number) and decimal.Decimal(text) == decimal.Decimal(repr(number))
    return number, exact


def _ascii_number(text: str) -> str:
    """``text`` with digits of any script as 0-9, full-width forms and signs as ASCII."""
    text = unicodedata.normalize("NFKC", text).translate(_SIGNS)
    if text.isascii():
        return text
    return "".join(
        str(unicodedata.decimal(c))
        if not c.isascii() and unicodedata.decimal(c, None) is not None
        else c
        for c in text
    )


def _inexact(text: str, number: float) -> str:
    if not math.isfinite(number):
        became = "beyond the largest number NextStep can store (about 1.8e308)"
    else:
        shown = str(int(number)) if number.is_integer() else repr(number)
        became = f"not a number NextStep can store exactly: it would become {shown}"
    return (
        f"{text!r} is {became}. NextStep keeps numbers as 64-bit floating point (about 15 "
        "significant digits; whole numbers up to 9,007,199,254,740,992). Round it, or keep "
        "long identifiers such as account numbers in a text field"
    )

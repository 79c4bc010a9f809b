"""Text elements: ``shortText`` and ``longText``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from bulksync.codecs.base import CellValue, Codec, text_of
from bulksync.model import JSON


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

    def converted(self, raw: CellValue, base: JSON, *, number_cell: bool) -> str | None:
        return converted_digits(text_of(raw), base, number_cell=number_cell)


@dataclass(frozen=True)
class LongTextCodec(TextCodec):
    """Text of several lines (``longText``): a wide column, wrapped."""

    width: ClassVar[float] = 36

    def xlsx_format(self) -> dict[str, Any]:
        return super().xlsx_format() | {"text_wrap": True}


_NUMBER: Final = re.compile(r"[+-]?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?")
_TYPE_AS_TEXT: Final = (
    "format the cell as Text, or type an apostrophe first: {example} (the apostrophe is "
    "not imported)"
)


def converted_digits(shown: str, base: JSON, *, number_cell: bool) -> str | None:
    """Why an edited text-like cell holds digits a spreadsheet app turned into a number,
    or None when nothing shows that it did.

    ``shown`` is the cell as text: an xlsx number cell (``number_cell``) as Python spells
    it, or a CSV cell as the app saved it. An app evidently converted typed digits when:

    - the number is in exponent form (``9.87654321012346E+17``): how an app shows a
      number of more than 15 digits, of which it kept 15;
    - it has more than 15 digits (an xlsx number cell: any, for an app keeps 15; a CSV:
      only when the digits past the 15th are zeros, as an app writes the number it kept);
    - the base value is digits with a leading zero (``0296``) and the number has none:
      digits in such a field are a code, and a number cannot start with 0;
    - it ends in ``.0`` (``296.0``, as pandas writes whole numbers of a column with
      empty cells) where the base is not a decimal number itself.

    A number over text that is no code (``42`` over ``41`` or over a name) is an edit:
    its text is what was typed, exactly.
    """
    match = _NUMBER.fullmatch(shown.strip())
    if match is None:
        return None
    whole, fraction, exponent = match.groups()
    what = "LibreOffice or Excel turned the digits typed here into a number"
    base_text = "" if base is None else str(base).strip()
    if exponent is not None:
        return (
            f"{what} and shows it in exponent form ({shown.strip()}), with only 15 of its "
            "digits; " + _TYPE_AS_TEXT.format(example="'987654321012345678")
        )
    digits = whole.lstrip("0")
    if len(digits) > 15 and (number_cell or not digits[15:].strip("0")):
        return (
            f"{what}: it has {len(digits)} digits, and a spreadsheet keeps 15 of a number's "
            "digits (the rest become 0); " + _TYPE_AS_TEXT.format(example=f"'{whole}")
        )
    if re.fullmatch(r"0\d+", base_text) and not whole.startswith("0") and fraction is None:
        return (
            f"{what} ({shown.strip()}), dropping its leading zero ({base_text!r} was "
            "exported); " + _TYPE_AS_TEXT.format(example="'" + whole.zfill(len(base_text)))
        )
    base_number = _NUMBER.fullmatch(base_text)
    if fraction is not None and not fraction.strip("0") and not (base_number and base_number[2]):
        return (
            f"the program that saved the file turned the digits typed here into a number: "
            f"{shown.strip()} ends in .0; " + _TYPE_AS_TEXT.format(example=f"'{whole}")
        )
    return None

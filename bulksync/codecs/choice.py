"""Elements with options: ``dropdown`` (one option) and ``multichoice`` (a list of them)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from bulksync.codecs.base import (
    CellError,
    CellValue,
    ListSource,
    UnholdableValue,
    nfc,
    text_of,
)
from bulksync.codecs.text import TextCodec
from bulksync.model import JSON

MULTI_SEPARATOR: Final = "; "


def _closest(text: str, options: Sequence[str]) -> str:
    lowered = {o.lower(): o for o in options}
    close = difflib.get_close_matches(text.lower(), list(lowered), n=1, cutoff=0.6)
    if close:
        return f"; did you mean {lowered[close[0]]!r}?"
    shown = ", ".join(options[:8]) + (" …" if len(options) > 8 else "")
    return f"; the options are: {shown}"


def _as_option(item: str, options: Sequence[str]) -> tuple[str, bool]:
    """The option an item names, and whether only its case differed; CellError if none.

    Compared in NFC: the option is returned as NextStep spells it.
    """
    text = nfc(item.strip())
    same = [o for o in options if nfc(o) == text]
    if same:
        return same[0], False
    by_case = [o for o in options if nfc(o).lower() == text.lower()]
    if len(by_case) == 1:
        return by_case[0], True
    raise CellError("not_an_option", f"{text!r} is not one of the options{_closest(text, options)}")


@dataclass(frozen=True)
class DropdownCodec(TextCodec):
    prompt: ClassVar[str] = "Pick one of the options."

    def xlsx_validation(self, options: tuple[str, ...], lists: ListSource) -> dict[str, Any]:
        if not options:
            return super().xlsx_validation(options, lists)
        return {"validate": "list", "source": lists(options)}

    def check(self, value: JSON, options: Sequence[str] = ()) -> tuple[JSON, str | None]:
        if value is None or not options:
            return value, None
        option, by_case = _as_option(str(value), options)
        if by_case:
            return option, f"{str(value).strip()!r} taken as the option {option!r}"
        return option, None


@dataclass(frozen=True)
class MultichoiceCodec(TextCodec):
    width: ClassVar[float] = 30
    prompt: ClassVar[str] = "Options from 'Allowed values', separated by ';'."

    def xlsx_format(self) -> dict[str, Any]:
        return super().xlsx_format() | {"text_wrap": True}

    def empty(self) -> JSON:
        return []

    def canonical(self, value: JSON) -> JSON:
        if not value:
            return frozenset()
        if not isinstance(value, list):
            return repr(value)  # not a list: equal to nothing but itself
        return frozenset(nfc(str(item)) for item in value)

    def holds(self, value: JSON) -> bool:
        return value is None or (
            isinstance(value, list) and all(isinstance(item, str) for item in value)
        )

    def to_cell(self, value: JSON, options: Sequence[str] = ()) -> CellValue:
        """Items joined by "; ", or by line breaks where options hold "; " themselves.

        An encoding that would not read back as the same items is refused: the cell is
        then exported locked (see ``codecs.unholdable``).
        """
        if not value:
            return None
        for separator in (MULTI_SEPARATOR, "\n"):
            text = separator.join(value)
            items, unknown = split_multichoice(text, options or value)
            if not unknown and items == list(dict.fromkeys(value)):
                return text
        return UnholdableValue(MULTI_SEPARATOR.join(value))

    def from_cell(self, raw: CellValue, options: Sequence[str] = ()) -> JSON:
        text = text_of(raw)
        items, unknown = split_multichoice(text, options)
        if unknown:
            return items + unknown  # validation names the unknown items
        return items

    def check(self, value: JSON, options: Sequence[str] = ()) -> tuple[JSON, str | None]:
        if not value or not options or not isinstance(value, list):
            return value, None
        chosen: list[str] = []
        renamed: list[str] = []
        wrong: list[str] = []
        for item in value:
            try:
                option, by_case = _as_option(str(item), options)
            except CellError as exc:
                wrong.append(exc.message)
                continue
            if option not in chosen:
                chosen.append(option)
                if by_case:
                    renamed.append(f"{str(item).strip()!r} as {option!r}")
        if wrong:
            raise CellError("not_an_option", "; ".join(wrong))
        return chosen, ("taken " + ", ".join(renamed)) if renamed else None


_SEPARATORS: Final = ";,\n\r"


def split_multichoice(text: str, options: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split a multichoice cell into known options and unknown parts.

    Items are separated by ``;``, ``,`` or line breaks, but an option that itself holds
    a separator ("Keyboard, US layout") is matched whole: at each place the longest
    option that fits wins. Duplicates are dropped; the order is the cell's.
    """
    # Matched in NFC; each item is returned as the option is spelled.
    spelled = {nfc(o): o for o in options}
    by_length = sorted(spelled, key=len, reverse=True)
    text = nfc(text)
    items: list[str] = []
    unknown: list[str] = []
    pos, end = 0, len(text)
    while pos < end:
        while pos < end and (text[pos] in _SEPARATORS or text[pos].isspace()):
            pos += 1
        if pos >= end:
            break
        match = _option_at(text, pos, by_length)
        if match is not None:
            if spelled[match] not in items:
                items.append(spelled[match])
            pos += len(match)
            continue
        stop = pos
        while stop < end and text[stop] not in _SEPARATORS:
            stop += 1
        part = text[pos:stop].strip()
        if part and part not in unknown:
            unknown.append(part)
        pos = stop
    return items, unknown


def _option_at(text: str, pos: int, by_length: Sequence[str]) -> str | None:
    """The longest option that starts at ``pos`` and ends at a separator or the end."""
    for option in by_length:
        if option and text.startswith(option, pos):
            rest = text[pos + len(option) :].lstrip(" \t")
            if not rest or rest[0] in _SEPARATORS:
                return option
    return None

"""The sandbox's value rules: every writable type has its check, and only those do."""

from __future__ import annotations

import pytest

from bulksync.sandbox.rules import DISPLAY_ONLY_TYPES, WRITABLE_TYPES, RuleError, check_value


@pytest.mark.parametrize("kind", sorted(WRITABLE_TYPES))
def test_every_writable_type_checks_its_values(kind):
    element = {"id": "el_x", "type": kind, "label": "X", "options": ["A"]}
    with pytest.raises(RuleError) as caught:
        check_value(element, {"not": "a value of any type"})
    assert caught.value.message.startswith(f'Invalid value for {kind} "X". Must be ')


@pytest.mark.parametrize("kind", sorted(DISPLAY_ONLY_TYPES | {"signature"}))
def test_other_types_cannot_be_written(kind):
    with pytest.raises(RuleError) as caught:
        check_value({"id": "el_x", "type": kind}, "A")
    assert caught.value.message in (
        f'Element "el_x" is display-only ({kind}) and cannot be written',
        f"Element \"el_x\" has type '{kind}', which cannot be written",
    )

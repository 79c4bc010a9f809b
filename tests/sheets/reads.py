"""What a sheet's cells read as, cell by cell: the tests' view of a file read back.

Production never decodes a sheet whole (``plan_import`` decodes each cell it needs,
compared with its base); tests that check what every cell of an export reads back as
use this.
"""

from __future__ import annotations

from pathlib import Path

from bulksync.codecs import CellError, codec_for
from bulksync.fetch import fetch_snapshot
from bulksync.model import JSON
from bulksync.sandbox import open_sandbox, sandbox_client
from bulksync.sheets import Sheet, SheetCell
from bulksync.sheets.meta import UNHOLDABLE
from bulksync.snapshot import FieldKey, Snapshot


def decoded(sheet: Sheet) -> tuple[dict[FieldKey, JSON], list[tuple[SheetCell, CellError]]]:
    """Every cell's API value by field, and the cells that hold no valid value.

    A field that is locked because no cell could hold its value reads as its base
    value: what the sheet shows there is not an edit.
    """
    values: dict[FieldKey, JSON] = {}
    errors: list[tuple[SheetCell, CellError]] = []
    for cell in sheet.cells:
        base = sheet.base.get(cell.key)
        if base is None:
            continue
        if base.spec.locked and base.spec.locked.startswith(UNHOLDABLE):
            values[cell.key] = base.value
            continue
        raw = sheet.raw(cell) if sheet.special else cell.raw
        try:
            values[cell.key] = codec_for(base.spec.kind).from_cell(raw, base.spec.options)
        except CellError as exc:
            errors.append((cell, exc))
    return values, errors


def onboarding_snapshot(folder: Path) -> Snapshot:
    """Every run of the sample sandbox's onboarding template, with the template, read
    from a sandbox whose state lives in ``folder``."""
    sandbox = open_sandbox(folder / "s.db")
    with sandbox_client(sandbox) as client:
        found = fetch_snapshot(
            client, template_id="tpl_onboarding", status=None, with_template=True
        )
    sandbox.store.close()
    return found

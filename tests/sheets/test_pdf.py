"""Every export of the sample data prints: LibreOffice converts it to PDF.

LibreOffice 7.4's print renderer aborted on a conditional format that compared two
boolean cells (``A100<>B100`` over two FALSE cells); the edit highlighting did, and
6 of the 8 sample exports could not be printed or exported as PDF.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bulksync.fetch import fetch_snapshot
from bulksync.sandbox import open_sandbox, sandbox_client
from bulksync.sheets import Layout, write_export

pytestmark = pytest.mark.skipif(
    shutil.which("soffice") is None, reason="LibreOffice is not installed (CI installs it)"
)

TEMPLATES = ("tpl_onboarding", "tpl_vendor", "tpl_implementation", "tpl_access_review")
"""The sample data's templates (the last has no runs: an export of only the About sheet
and the headers)."""


@pytest.mark.parametrize("layout", list(Layout))
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_sample_export_converts_to_pdf(tmp_path: Path, template: str, layout: Layout):
    sandbox = open_sandbox(tmp_path / "s.db")
    with sandbox_client(sandbox) as client:
        snapshot = fetch_snapshot(
            client, template_id=template, status=None, with_template=layout is Layout.RUNS
        )
    sandbox.store.close()
    path = tmp_path / f"{template}-{layout.value}.xlsx"
    write_export(snapshot, path, layout=layout)
    done = subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{tmp_path}/lo",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path / "pdf"),
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    pdf = tmp_path / "pdf" / f"{path.stem}.pdf"
    assert done.returncode == 0 and pdf.exists(), (done.returncode, done.stdout, done.stderr)
    assert pdf.stat().st_size > 1000
    assert pdf.read_bytes().startswith(b"%PDF")

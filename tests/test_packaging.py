"""The package as pip installs it from a wheel, not only from this checkout."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_for_the_wheel():
    """An unlisted subpackage works in an editable install and is missing from a wheel."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "bulksync").rglob("__init__.py")
    }
    assert on_disk <= listed
    mapped = config["tool"]["setuptools"]["package-dir"]
    for package, folder in mapped.items():
        assert package in listed and (ROOT / folder / "__init__.py").exists()

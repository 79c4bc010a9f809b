"""Private files and folders: what bulksync keeps beside a sheet is for its owner only.

Journals, plans, results and the sandbox's state hold personal data (names, phone
numbers, salary bands). Folders are made 0700 and files 0600, whatever the umask: a
file is created with its mode (``os.open``), never made first and narrowed after.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Final

DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner can enter (made, or narrowed if it exists)."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _narrow(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """``path`` as a file only its owner can read: created empty if missing, else narrowed.

    Opening the path afterwards to write (``"w"`` or ``"a"``) keeps the mode.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        _narrow(path, FILE_MODE)
    return path


def _narrow(path: Path, mode: int) -> None:
    # Not ours (a shared folder someone else made): leave it, the files in it are private.
    # A symbolic link is left alone too: narrowing would change the mode of whatever it
    # points to (a device, a file elsewhere), which is not bulksync's to change.
    with contextlib.suppress(PermissionError):
        if path.is_symlink():
            return
        if path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)

"""Names and defaults that the command line shows in its help.

They live here, in a module that imports nothing of bulksync's and no third-party
package, so that ``bulksync --help`` and ``--version`` print without loading httpx, the
sheets or the sandbox. ``bulksync.config`` and ``bulksync.sandbox`` use them from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

API_KEY_ENV: Final = "NEXTSTEP_API_KEY"
BASE_URL_ENV: Final = "NEXTSTEP_BASE_URL"

DEFAULT_STATE: Final = Path(".bulksync") / "sandbox.db"
"""Where the sandbox keeps its state, unless told otherwise (``--state``)."""

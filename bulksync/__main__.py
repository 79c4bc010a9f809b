"""``python -m bulksync``: the same as the ``bulksync`` command."""

from __future__ import annotations

from bulksync.cli import main

if __name__ == "__main__":
    main()

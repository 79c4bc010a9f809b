"""Small performance helpers, each one measured by a script in benchmarks/."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a sheet's rows and cells are built.

    Reading or writing a large sheet makes hundreds of thousands of small objects
    (rows, cells, values), none of them in a reference cycle; each time the collector
    runs it walks all of them, which cost a third of a dry run's time
    (benchmarks/bench_import.py). Reference counting still frees everything.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

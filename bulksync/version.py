"""bulksync's version: the one place it is written (pyproject.toml reads it from here).

A module of its own, at the bottom of the layers, so that the modules that stamp the
version into what they write (sheets, reports, the User-Agent) need not import the
package's public face above them.
"""

from __future__ import annotations

__version__ = "0.1.0"

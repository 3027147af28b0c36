"""The version, read once from the installed package's metadata (pyproject.toml is the source)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Final

__all__ = ["SERVER_VERSION", "__version__"]

try:
    __version__: Final = version("triochat")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"  # type: ignore[misc]

#: What the server calls itself in 002/004/351 replies.
SERVER_VERSION: Final = f"triochat-{__version__}"

"""triochat: a chat server and client on Trio's structured concurrency, speaking IRC."""

from __future__ import annotations

from ._config import ServerConfig as ServerConfig

__all__ = ["ServerConfig"]

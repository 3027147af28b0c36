"""Admission: how many connections may be open, in all and per address.

Checked at accept, before a connection costs a handshake or any state, so a
client past a limit is told which one and nothing else is spent on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._config import ServerConfig

__all__ = ["Admission"]


class Admission:
    """Counts open connections (TLS handshakes included) in all and per address."""

    def __init__(self) -> None:
        self.open = 0
        self._per_host: dict[str, int] = {}
        #: Connections refused because of ``max_clients`` or ``max_per_ip``.
        self.refused = 0

    def admit(self, config: ServerConfig, host: str) -> str | None:
        """Count a new connection from ``host`` in; or say which limit refuses it."""
        if config.max_clients is not None and self.open >= config.max_clients:
            self.refused += 1
            return f"Closing link: Too many connections (limit {config.max_clients})"
        from_host = self._per_host.get(host, 0)
        if config.max_per_ip is not None and from_host >= config.max_per_ip:
            self.refused += 1
            return (
                f"Closing link: Too many connections from your address (limit {config.max_per_ip})"
            )
        self.open += 1
        self._per_host[host] = from_host + 1
        return None

    def release(self, host: str) -> None:
        """A connection admitted from ``host`` has closed."""
        self.open -= 1
        left = self._per_host[host] - 1
        if left:
            self._per_host[host] = left
        else:
            del self._per_host[host]

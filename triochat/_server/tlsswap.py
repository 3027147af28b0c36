"""TLS listeners whose certificate can be replaced while they run (certbot renewals).

:class:`trio.SSLListener` keeps its context in a private attribute; this
listener reads the context from a :class:`TlsContextHolder` at every accept
instead. A reload loads the new chain into a *new* :class:`ssl.SSLContext`
and puts it in the holder: new handshakes present the new certificate, and
connections already established keep the one they negotiated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    import ssl

__all__ = ["SwappableTlsListener", "TlsContextHolder"]


class TlsContextHolder:
    """The server context that new TLS connections use; replaced whole, never mutated."""

    __slots__ = ("context",)

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context


class SwappableTlsListener(trio.abc.Listener[trio.SSLStream[Any]]):
    """Accepts from ``transport_listener`` and wraps each stream with the holder's context.

    Like :class:`trio.SSLListener`, the handshake is left to the stream's first
    use, so a slow client never holds up the accept loop.
    """

    def __init__(
        self, transport_listener: trio.abc.Listener[Any], holder: TlsContextHolder
    ) -> None:
        self.transport_listener = transport_listener
        self.holder = holder

    async def accept(self) -> trio.SSLStream[Any]:
        transport = await self.transport_listener.accept()
        return trio.SSLStream(transport, self.holder.context, server_side=True)

    async def aclose(self) -> None:
        await self.transport_listener.aclose()

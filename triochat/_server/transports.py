"""The transport step: from an accepted stream to a stream of IRC lines and its :class:`PeerInfo`.

TLS is negotiated here, per connection and within ``handshake_timeout``, so a
slow or silent peer only ever holds its own task. Other transports (the
WebSocket listener) do their own handshake and hand the server a stream and
a :class:`PeerInfo` directly.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from typing import TYPE_CHECKING, Any

import trio

from .._state.model import PeerInfo

if TYPE_CHECKING:
    from .._state.model import TransportKind

__all__ = ["negotiate", "peer_info"]

log = logging.getLogger("triochat.server")

#: Said in plain text to a client that spoke plain text to the TLS port.
_PLAIN_ON_TLS_PORT = b"\r\nERROR :Closing link: this port speaks TLS; connect with TLS\r\n"


def peer_info(stream: trio.abc.Stream) -> PeerInfo:
    """What the socket under ``stream`` says about the peer (before any handshake)."""
    kind: TransportKind = "tcp"
    inner = stream
    while isinstance(inner, trio.SSLStream):
        kind = "tls"
        inner = inner.transport_stream
    host = "localhost"
    if isinstance(inner, trio.SocketStream):
        address = inner.socket.getpeername()
        if isinstance(address, tuple):
            host = str(address[0])
    elif kind == "tcp":
        kind = "memory"
    return PeerInfo(host, secure=kind == "tls", kind=kind)


async def negotiate(stream: trio.abc.Stream, peer: PeerInfo, *, within: float) -> PeerInfo | None:
    """Finish the transport's handshake; the peer as now known, or None (and closed).

    For TLS: the handshake within ``within`` seconds, and the fingerprint of the
    client certificate when the peer presented one.
    """
    if not isinstance(stream, trio.SSLStream):
        return peer
    if not await _tls_handshake(stream, peer.host, within):
        return None
    der = stream.getpeercert(binary_form=True)
    if der:
        return PeerInfo(peer.host, True, peer.kind, hashlib.sha256(der).hexdigest())
    return peer


async def _tls_handshake(stream: trio.SSLStream[Any], host: str, within: float) -> bool:
    with trio.move_on_after(within):
        try:
            await stream.do_handshake()
        except trio.BrokenResourceError as error:
            log.info("TLS handshake with %s failed: %s", host, error.__cause__ or error)
            # Most often a plain-text client on the TLS port: tell it in its language.
            with trio.move_on_after(1):
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await stream.transport_stream.send_all(_PLAIN_ON_TLS_PORT)
        else:
            return True
    log.info("TLS handshake with %s did not complete", host)
    await trio.aclose_forcefully(stream)
    return False

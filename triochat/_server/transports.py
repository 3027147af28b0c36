"""The transport step: from an accepted stream to a stream of IRC lines and its :class:`PeerInfo`.

TLS is negotiated here, per connection and within ``handshake_timeout``, so a
slow or silent peer only ever holds its own task. Other transports (the
WebSocket listener) do their own handshake and hand the server a stream and
a :class:`PeerInfo` directly.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
from typing import TYPE_CHECKING, Any

import trio

from .._state.model import PeerInfo

if TYPE_CHECKING:
    from .._state.model import TransportKind

__all__ = ["negotiate", "peer_info", "receive_plain"]

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


async def receive_plain(sock: trio.socket.SocketType, max_bytes: int) -> bytes:
    """``receive_some`` of a plain TCP stream, straight from the kernel.

    The steps of trio's ``SocketStream.receive_some`` (a cancellation point,
    a read, then a schedule point; or waits until readable) without its five
    layers of wrappers: an idle connection spends its life suspended here, and
    each layer is an object it keeps (about 1.3 KB in all). For the
    socket under a plain TCP stream (``SocketStream.socket``).
    """
    await trio.lowlevel.checkpoint_if_cancelled()
    data = _read_now(sock, max_bytes)
    if data is not None:
        await trio.lowlevel.cancel_shielded_checkpoint()  # fairness: others run between reads
        return data
    while True:
        await trio.lowlevel.wait_readable(sock)
        data = _read_now(sock, max_bytes)
        if data is not None:
            return data


def _read_now(sock: trio.socket.SocketType, max_bytes: int) -> bytes | None:
    """What the kernel holds for ``sock`` (b"" at EOF); None when nothing yet."""
    try:
        return os.read(sock.fileno(), max_bytes)
    except BlockingIOError:
        return None
    except OSError as error:  # as SocketStream says it
        if error.errno == errno.EBADF:
            raise trio.ClosedResourceError("this socket was already closed") from None
        raise trio.BrokenResourceError(f"socket connection broken: {error}") from error

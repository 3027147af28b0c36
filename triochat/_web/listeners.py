"""Binding the web ports (plain or TLS) and naming them as a browser would."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from .._server.tlsswap import SwappableTlsListener

if TYPE_CHECKING:
    from .._server.tlsswap import TlsContextHolder

__all__ = ["open_web_listeners", "web_url"]


async def open_web_listeners(
    host: str,
    port: int | None,
    tls_port: int | None,
    tls: TlsContextHolder | None,
    *,
    tls_on_port: bool = False,
) -> list[trio.abc.Listener[Any]]:
    """HTTP listeners on ``port`` (HTTPS if ``tls_on_port``) and HTTPS ones on ``tls_port``.

    HTTPS listeners read the certificate from ``tls`` at every accept, so a
    reload (SIGHUP, REHASH) that swaps it serves new handshakes at once.
    """
    listeners: list[trio.abc.Listener[Any]] = []
    if port is not None:
        for listener in await trio.open_tcp_listeners(port, host=host):
            use_tls = tls_on_port and tls is not None
            listeners.append(SwappableTlsListener(listener, tls) if use_tls else listener)  # type: ignore[arg-type]
    if tls_port is not None and tls is not None:
        tcp = await trio.open_tcp_listeners(tls_port, host=host)
        listeners.extend(SwappableTlsListener(listener, tls) for listener in tcp)
    return listeners


def web_url(listener: trio.abc.Listener[Any]) -> str:
    """The address to open in a browser, e.g. ``http://127.0.0.1:8080/``."""
    scheme = "http"
    if isinstance(listener, SwappableTlsListener | trio.SSLListener):
        scheme = "https"
        listener = listener.transport_listener
    assert isinstance(listener, trio.SocketListener)
    host, port, *_ = listener.socket.getsockname()
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}/"

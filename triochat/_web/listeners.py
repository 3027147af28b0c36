"""Binding the web ports (plain or TLS) and naming them as a browser would."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    import ssl

__all__ = ["open_web_listeners", "web_url"]


async def open_web_listeners(
    host: str,
    port: int | None,
    tls_port: int | None,
    context: ssl.SSLContext | None,
    *,
    tls_on_port: bool = False,
) -> list[trio.abc.Listener[Any]]:
    """HTTP listeners on ``port`` (HTTPS if ``tls_on_port``) and HTTPS ones on ``tls_port``."""
    listeners: list[trio.abc.Listener[Any]] = []
    if port is not None:
        for listener in await trio.open_tcp_listeners(port, host=host):
            use_tls = tls_on_port and context is not None
            listeners.append(trio.SSLListener(listener, context) if use_tls else listener)  # type: ignore[arg-type]
    if tls_port is not None and context is not None:
        tcp = await trio.open_tcp_listeners(tls_port, host=host)
        listeners.extend(trio.SSLListener(listener, context) for listener in tcp)
    return listeners


def web_url(listener: trio.abc.Listener[Any]) -> str:
    """The address to open in a browser, e.g. ``http://127.0.0.1:8080/``."""
    scheme = "http"
    if isinstance(listener, trio.SSLListener):
        scheme = "https"
        listener = listener.transport_listener
    assert isinstance(listener, trio.SocketListener)
    host, port, *_ = listener.socket.getsockname()
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}/"

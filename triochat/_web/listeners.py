"""Binding the web ports and running them beside the IRC listeners, for ``triochat serve``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from .._server.server import ChatServer
from .server import WebServer

if TYPE_CHECKING:
    import ssl
    from collections.abc import Awaitable, Callable, Sequence

    from .._config import ServerConfig
    from .._history.store import HistoryStore
    from .handshake import WebPolicy

__all__ = ["open_web_listeners", "serve_with_web", "web_url"]


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


async def serve_with_web(
    listeners: Sequence[trio.abc.Listener[Any]],
    web_listeners: Sequence[trio.abc.Listener[Any]],
    config: ServerConfig,
    policy: WebPolicy,
    *,
    store: HistoryStore | None = None,
    shutdown_trigger: Callable[[], Awaitable[object]],
) -> None:
    """One chat server on IRC listeners and web listeners, stopping both on the trigger."""
    chat = ChatServer(config, store=store)
    web = WebServer(chat, policy)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: chat.serve(
                listeners, shutdown_trigger=shutdown_trigger, task_status=task_status
            )
        )
        await nursery.start(
            lambda task_status: web.serve(
                web_listeners, shutdown_trigger=shutdown_trigger, task_status=task_status
            )
        )

"""The web client's part of ``triochat serve``: its options, and serving it beside IRC.

Kept out of ``_cli/serve.py`` so that the serve command needs only a few lines
to offer it: :func:`add_web_arguments`, :meth:`WebOptions.from_args`,
:meth:`WebOptions.open` and :func:`serve_chat_and_web`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import trio

from .handshake import WebPolicy
from .listeners import open_web_listeners
from .server import WebServer

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from .._ops.http import OpsEndpoint
    from .._server.server import ChatServer
    from .._server.tlsswap import TlsContextHolder

__all__ = ["WebOptions", "add_web_arguments", "serve_chat_and_web"]

_ORIGIN = re.compile(r"https?://[^/\s]+/?")


def add_web_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the web options: ports, host, allowed origins, trusted proxies."""
    web = parser.add_argument_group("web client (a browser chats over WebSocket at /irc)")
    web.add_argument(
        "--web-port",
        type=int,
        metavar="PORT",
        help="serve the browser client on this port (HTTPS with --tls, unless --web-tls-port;"
        " 0 picks a free port and prints it; default: no web client)",
    )
    web.add_argument(
        "--web-tls-port",
        type=int,
        metavar="PORT",
        help="serve the browser client over HTTPS on this port, with --cert",
    )
    web.add_argument(
        "--web-host",
        metavar="ADDRESS",
        help="address for the web ports (default: the same as --host)",
    )
    web.add_argument(
        "--web-origin",
        action="append",
        metavar="URL",
        help="also accept WebSockets from pages of this origin, e.g. https://chat.example.org"
        " (repeatable; the web client's own origin is always accepted)",
    )
    web.add_argument(
        "--trusted-proxy",
        action="append",
        metavar="ADDR",
        help="believe X-Forwarded-For from this address or network (repeatable)",
    )


@dataclass(frozen=True, slots=True)
class WebOptions:
    """The web listener's options: ports, host and who may connect."""

    port: int | None
    tls_port: int | None
    host: str | None
    #: ``--web-port`` speaks HTTPS (``--tls`` without ``--web-tls-port``).
    tls_on_port: bool
    policy: WebPolicy

    @classmethod
    def from_settings(cls, web: Mapping[str, object], *, tls: bool) -> WebOptions | None:
        """None without a web port; ``ValueError`` for a bad origin or proxy address.

        ``web`` holds the ``listeners.web`` settings (flags or config file);
        ``tls`` says whether the server speaks TLS (``--tls``).
        """
        port = cast("int | None", web.get("web_port"))
        tls_port = cast("int | None", web.get("web_tls_port"))
        if port is None and tls_port is None:
            return None
        origins = list(cast("Sequence[str] | None", web.get("web_origin")) or ())
        for origin in origins:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(f"--web-origin must look like https://host[:port]: {origin!r}")
        proxies = list(cast("Sequence[str] | None", web.get("trusted_proxy")) or ())
        try:
            policy = WebPolicy.build(origins, proxies)
        except ValueError as error:
            raise ValueError(f"--trusted-proxy: {error}") from None
        tls_on_port = tls and tls_port is None
        host = cast("str | None", web.get("web_host"))
        return cls(port, tls_port, host, tls_on_port, policy)

    @property
    def needs_certificate(self) -> bool:
        return self.tls_port is not None or self.tls_on_port

    async def open(self, host: str, tls: TlsContextHolder | None) -> list[trio.abc.Listener[Any]]:
        """Bind the web ports (``OSError`` if one is taken)."""
        return await open_web_listeners(
            self.host or host, self.port, self.tls_port, tls, tls_on_port=self.tls_on_port
        )


async def serve_chat_and_web(
    chat: ChatServer,
    listeners: Sequence[trio.abc.Listener[Any]],
    web_listeners: Sequence[trio.abc.Listener[Any]],
    policy: WebPolicy,
    *,
    ops: OpsEndpoint | None = None,
    shutdown_trigger: Callable[[], Awaitable[object]],
) -> None:
    """Run ``chat`` on its IRC listeners and the web client beside it, until the trigger.

    Both stop on the trigger and this returns when both have: so WebSocket
    users get their goodbye and close frame within the same grace as TCP ones.
    With ``ops``, the web port also answers ``/metrics``, ``/healthz`` and ``/readyz``.
    """
    web = WebServer(chat, policy, ops=ops)
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

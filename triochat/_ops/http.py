"""A tiny HTTP/1.1 endpoint for ``/metrics``, ``/healthz`` and ``/readyz``, on trio and h11.

Pure routing (:meth:`OpsEndpoint.route`: a path in, status, headers and body
out) is kept apart from the connection loop (:meth:`OpsEndpoint.handle_http`,
the HTTP/1.1 steps of :mod:`triochat._web.http1` that the web listener uses
too), so the web listener mounts the same three paths on its own port by
calling ``route``.

Every request, and every wait for the next one on a kept-alive connection, is
bounded by ``request_timeout``; at most ``max_connections`` are served at
once; and nothing a client sends, nor a bug in a route, escapes
:meth:`~OpsEndpoint.handle_http` into the accept loop.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

import trio

from .._web.http1 import HttpResponse, finish_cycle, new_connection, read_request, send_response
from .health import readiness_problems
from .metrics import exposition
from .textformat import CONTENT_TYPE

if TYPE_CHECKING:
    from collections.abc import Sequence

    import h11

    from .._server.server import ChatServer

__all__ = ["OPS_PATHS", "OpsEndpoint", "Response", "open_ops_listeners", "serve_ops"]

log = logging.getLogger("triochat.ops")

#: Status, headers, body: what a route gives back.
Response = tuple[int, list[tuple[str, str]], bytes]
#: The paths this endpoint answers (the web port mounts them too).
OPS_PATHS: Final = frozenset({"/metrics", "/healthz", "/readyz"})

_TEXT: Final = "text/plain; charset=utf-8"
#: The longest request head we read (a scraper's is a few hundred bytes).
MAX_REQUEST_HEAD: Final = 8192
#: A request body we read and drop before the next request (scrapers send none).
MAX_DISCARDED_BODY: Final = 8192


def _text(status: int, body: str, content_type: str = _TEXT) -> Response:
    return status, [("Content-Type", content_type), ("Cache-Control", "no-store")], body.encode()


class OpsEndpoint:
    """The operations endpoints of one running :class:`ChatServer`."""

    def __init__(
        self, server: ChatServer, *, request_timeout: float = 10.0, max_connections: int = 64
    ) -> None:
        self.server = server
        self.request_timeout = request_timeout
        self.max_connections = max_connections
        self._open = 0

    # -- routes: pure, no I/O ------------------------------------------------

    def route(self, path: str, method: str = "GET") -> Response:
        """Answer one request for ``path`` (its query string is ignored)."""
        path = path.partition("?")[0]
        handler = {"/metrics": self.metrics, "/healthz": self.healthz, "/readyz": self.readyz}.get(
            path
        )
        if handler is None:
            return _text(404, "not found: try /metrics, /healthz or /readyz\n")
        if method not in ("GET", "HEAD"):
            status, headers, body = _text(405, "only GET and HEAD\n")
            return status, [*headers, ("Allow", "GET, HEAD")], body
        try:
            return handler()
        except Exception:
            log.exception("%s failed", path)
            return _text(500, "internal error\n")

    def metrics(self) -> Response:
        """The Prometheus text exposition of the server and the process."""
        return _text(200, exposition(self.server), CONTENT_TYPE)

    def healthz(self) -> Response:
        """Alive: the event loop answers."""
        return _text(200, "ok\n")

    def readyz(self) -> Response:
        """Ready for new clients, or 503 with every reason why not."""
        problems = readiness_problems(self.server)
        if problems:
            return _text(503, "".join(f"not ready: {problem}\n" for problem in problems))
        return _text(200, "ready\n")

    # -- the connection loop --------------------------------------------------

    async def handle_http(self, stream: trio.abc.Stream) -> None:
        """Serve HTTP/1.1 requests on ``stream`` until it closes or idles; never raises."""
        if self._open >= self.max_connections:
            await trio.aclose_forcefully(stream)
            return
        self._open += 1
        try:
            http = new_connection(MAX_REQUEST_HEAD)
            while await self._one_request(stream, http):
                pass
        except Exception as error:  # a broken peer, or a bug: never the accept loop's problem
            log.debug("metrics connection ended: %r", error)
        finally:
            self._open -= 1
            await trio.aclose_forcefully(stream)

    async def _one_request(self, stream: trio.abc.Stream, http: h11.Connection) -> bool:
        """Read one request and answer it, within the timeout; True to read another."""
        with trio.move_on_after(self.request_timeout):
            request = await read_request(stream, http)
            if request is None:
                return False
            response = HttpResponse(*self.route(request.target, request.method))
            await send_response(stream, http, response, head=request.method == "HEAD")
            return await finish_cycle(stream, http, max_discarded_body=MAX_DISCARDED_BODY)
        return False


async def open_ops_listeners(host: str, port: int) -> list[trio.SocketListener]:
    """TCP listeners for the endpoint (port 0 picks a free one)."""
    return await trio.open_tcp_listeners(port, host=host)


async def serve_ops(
    endpoint: OpsEndpoint,
    listeners: Sequence[trio.abc.Listener[Any]],
    *,
    task_status: trio.TaskStatus[list[trio.abc.Listener[Any]]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``endpoint`` on ``listeners`` until cancelled; started once they accept."""
    await trio.serve_listeners(endpoint.handle_http, list(listeners), task_status=task_status)

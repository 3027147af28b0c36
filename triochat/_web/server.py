"""The web listener's trio layer: HTTP with h11, then IRC over WebSocket into the chat server.

Each accepted connection is one task that never raises: it reads HTTP
requests (each within ``handshake_timeout``, which also bounds how long an
idle keep-alive connection is kept), answers them from the packaged static
files, and on ``GET /irc`` with a valid WebSocket handshake switches to
wsproto and hands a :class:`~.wsstream.WebSocketStream` to
:meth:`ChatServer.handle_connection`, which then treats it like any client.
"""

from __future__ import annotations

import logging
from functools import partial
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import h11
import trio
from wsproto.connection import Connection, ConnectionType

from .._ops.http import OPS_PATHS
from .._server.transports import peer_info
from .._state.model import PeerInfo
from .handshake import (
    WEBSOCKET_PATH,
    Accept,
    WebPolicy,
    check_upgrade,
    client_address,
    is_websocket_upgrade,
)
from .http1 import (
    RECEIVE_BYTES,
    HttpRequest,
    HttpResponse,
    finish_cycle,
    new_connection,
    read_request,
    send_response,
)
from .static import error_response, load_static, respond
from .wsstream import WebSocketStream

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from .._ops.http import OpsEndpoint
    from .._server.server import ChatServer
    from .static import StaticFile

__all__ = ["WebServer"]

log = logging.getLogger("triochat.web")

#: Request line plus headers; more is refused with 431 (h11 counts it).
MAX_REQUEST_HEAD: Final = 16 * 1024
#: A request body we are willing to read and throw away (we take none).
MAX_DISCARDED_BODY: Final = 64 * 1024
SERVER_HEADER: Final = ("Server", "triochat")


_Upgraded: TypeAlias = tuple[WebSocketStream, PeerInfo]


class WebServer:
    """Serves the web client and ``/irc`` for one :class:`ChatServer`."""

    def __init__(
        self,
        chat: ChatServer,
        policy: WebPolicy | None = None,
        *,
        files: dict[str, StaticFile] | None = None,
        ops: OpsEndpoint | None = None,
    ) -> None:
        self.chat = chat
        #: Answers /metrics, /healthz and /readyz on this port too, when given.
        self.ops = ops
        self.policy = policy or WebPolicy()
        self.files = load_static() if files is None else files
        #: Scopes of HTTP connections waiting for a request: cancelled on shutdown.
        self._idle: set[trio.CancelScope] = set()
        self._stopping = False

    async def serve(
        self,
        listeners: Sequence[trio.abc.Listener[Any]],
        *,
        shutdown_trigger: Callable[[], Awaitable[object]] | None = None,
        task_status: trio.TaskStatus[WebServer] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept on ``listeners`` until ``shutdown_trigger`` returns (or forever).

        Then stop accepting and drop idle HTTP connections; WebSocket clients
        are told by the chat server's own shutdown, and get ``shutdown_grace``
        plus ``close_timeout`` to finish before they are cut.
        """
        async with trio.open_nursery() as connections:
            async with trio.open_nursery() as acceptors:
                await acceptors.start(
                    partial(
                        trio.serve_listeners,
                        self.handle_connection,
                        list(listeners),
                        handler_nursery=connections,
                    )
                )
                task_status.started(self)
                if shutdown_trigger is None:
                    await trio.sleep_forever()
                else:
                    await shutdown_trigger()
                acceptors.cancel_scope.cancel()
            self._stopping = True
            for scope in self._idle:
                scope.cancel()
            config = self.chat.config
            grace = config.shutdown_grace + config.close_timeout
            connections.cancel_scope.deadline = trio.current_time() + grace

    async def handle_connection(self, stream: trio.abc.Stream) -> None:
        """Serve one HTTP connection, and its WebSocket if it opens one; never raises."""
        peer = peer_info(stream)
        upgraded: _Upgraded | None = None
        try:
            upgraded = await self._serve_http(stream, peer)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except Exception:
            log.exception("web connection from %s failed; dropping it", peer.host)
        finally:
            if upgraded is None:
                await trio.aclose_forcefully(stream)
        if upgraded is None:
            return
        websocket, client = upgraded
        if self._stopping:  # switched just as the server stops: the chat has said goodbye
            with trio.move_on_after(self.chat.config.close_timeout):
                await websocket.aclose()
            await trio.aclose_forcefully(websocket)
            return
        # The HTTP side (h11's buffers, the request) is garbage by now: only
        # the WebSocket's own state stays for as long as the user chats.
        await self.chat.handle_connection(websocket, client)

    async def _serve_http(self, stream: trio.abc.Stream, peer: PeerInfo) -> _Upgraded | None:
        """Answer requests until the connection ends, or until it switches to WebSocket."""
        http = new_connection(MAX_REQUEST_HEAD)
        timeout = self.chat.config.handshake_timeout
        while not self._stopping:
            with trio.CancelScope(deadline=trio.current_time() + timeout) as scope:
                self._idle.add(scope)
                try:
                    request = await read_request(stream, http, self._refusal)
                finally:
                    self._idle.discard(scope)
            if scope.cancelled_caught or request is None:
                return None
            if request.path == WEBSOCKET_PATH and is_websocket_upgrade(request.headers):
                return await self._upgrade(stream, http, peer, request)
            await self._send(stream, http, self._respond(request), head=request.method == "HEAD")
            if not await finish_cycle(stream, http, max_discarded_body=MAX_DISCARDED_BODY):
                return None
        return None

    def _respond(self, request: HttpRequest) -> HttpResponse:
        """A static file, or an operations path when the ops endpoint is mounted here."""
        if self.ops is not None and request.path in OPS_PATHS:
            return HttpResponse(*self.ops.route(request.target, request.method))
        return respond(self.files, request.method, request.target, request.headers)

    @staticmethod
    def _refusal(status: int) -> HttpResponse:
        """The answer to a malformed request (400, or 431 for a head too long)."""
        response = error_response(status, HTTPStatus(status).phrase)
        return HttpResponse(status, [SERVER_HEADER, *response.headers], response.body)

    async def _send(
        self,
        stream: trio.abc.Stream,
        http: h11.Connection,
        response: HttpResponse,
        *,
        head: bool = False,
    ) -> None:
        """Every answer names the server; errors, and answers while stopping, close."""
        response = HttpResponse(response.status, [SERVER_HEADER, *response.headers], response.body)
        close = self._stopping or response.status >= 400
        await send_response(stream, http, response, head=head, close=close)

    async def _upgrade(
        self,
        stream: trio.abc.Stream,
        http: h11.Connection,
        peer: PeerInfo,
        request: HttpRequest,
    ) -> _Upgraded | None:
        """Switch to WebSocket: the stream and peer for the chat server; None if refused."""
        headers = request.headers
        client = client_address(peer.host, peer.secure, headers, self.policy)
        decision = check_upgrade(request.method, headers, secure=client.secure, policy=self.policy)
        if not isinstance(decision, Accept):
            refusal = error_response(decision.status, decision.reason, headers.get("host"))
            await self._send(stream, http, refusal)
            return None
        # The request has no body: read to its end so h11 reaches the switch.
        while (event := http.next_event()) is not h11.PAUSED:
            if event is h11.NEED_DATA:
                http.receive_data(bytes(await stream.receive_some(RECEIVE_BYTES)))
            elif isinstance(event, h11.ConnectionClosed):
                return None
        response = h11.InformationalResponse(
            status_code=101, headers=[SERVER_HEADER, *decision.headers]
        )
        await stream.send_all(http.send(response) or b"")
        trailing, _closed = http.trailing_data
        websocket = WebSocketStream(
            stream,
            Connection(ConnectionType.SERVER, trailing_data=bytes(trailing)),
            binary=decision.binary,
            close_wait=min(2.0, self.chat.config.close_timeout),
        )
        log.debug("WebSocket from %s (%s)", client.host, "binary" if decision.binary else "text")
        return websocket, PeerInfo(client.host, client.secure, "websocket")

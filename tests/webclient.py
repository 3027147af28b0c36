"""A WebSocket IRC client for tests (wsproto, any stream), and a raw HTTP helper (h11).

:class:`ClientWebSocket` is a ``trio.abc.Stream`` of CRLF-terminated lines,
so the harness's :class:`IrcClient` drives a WebSocket user exactly as it
drives a TCP one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import h11
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

TEXT = "text.ircv3.net"
BINARY = "binary.ircv3.net"


class Refused(Exception):
    """The server answered the handshake with an HTTP error."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"{status}: {body!r}")
        self.status = status
        self.body = body


class ClientWebSocket(trio.abc.Stream):
    """The client side of an open WebSocket, as a stream of IRC lines."""

    def __init__(self, stream: trio.abc.Stream, ws: WSConnection, subprotocol: str | None) -> None:
        self.stream = stream
        self.ws = ws
        self.subprotocol = subprotocol
        self._inbox = bytearray()
        self._message = bytearray()
        #: The kinds of message received: "text" or "bytes", in order.
        self.kinds: list[str] = []
        #: The server's close code, once it closed.
        self.close_code: int | None = None
        self.binary = subprotocol == BINARY

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        while not self._inbox and self.close_code is None:
            data = await self.stream.receive_some(65536)
            self.ws.receive_data(bytes(data) if data else None)
            for event in self.ws.events():
                if isinstance(event, Message):
                    payload = event.data
                    self._message += payload.encode() if isinstance(payload, str) else payload
                    if event.message_finished:
                        self.kinds.append("text" if isinstance(event, TextMessage) else "bytes")
                        self._inbox += bytes(self._message) + b"\r\n"
                        self._message.clear()
                elif isinstance(event, CloseConnection):
                    self.close_code = event.code
                    if self.ws.state.name == "REMOTE_CLOSING":
                        await self.stream.send_all(self.ws.send(event.response()))
                elif isinstance(event, Ping):
                    await self.stream.send_all(self.ws.send(event.response()))
        data = bytes(self._inbox)
        self._inbox.clear()
        return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        frames = b""
        for line in bytes(data).split(b"\r\n"):
            if line:
                event = BytesMessage(data=line) if self.binary else TextMessage(data=line.decode())
                frames += self.ws.send(event)
        await self.stream.send_all(frames)

    async def send_raw(self, data: bytes) -> None:
        """Bytes straight to the socket: hand-made (or broken) frames."""
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def wait_close(self) -> int:
        """Read until the server closes the WebSocket; its close code."""
        while self.close_code is None:
            if not await self.receive_some():
                break
        assert self.close_code is not None
        return self.close_code

    async def aclose(self) -> None:
        await self.stream.aclose()


async def open_websocket(
    stream: trio.abc.Stream,
    *,
    host: str = "chat.test",
    origin: str | None = "http://chat.test",
    subprotocols: Sequence[str] = (TEXT,),
    headers: Sequence[tuple[str, str]] = (),
    target: str = "/irc",
) -> ClientWebSocket:
    """Do the opening handshake on ``stream``; :class:`Refused` on an HTTP error."""
    ws = WSConnection(ConnectionType.CLIENT)
    extra = [(k.encode(), v.encode()) for k, v in headers]
    if origin is not None:
        extra.append((b"origin", origin.encode()))
    request = Request(
        host=host, target=target, subprotocols=list(subprotocols), extra_headers=extra
    )
    await stream.send_all(ws.send(request))
    status = 0
    body = b""
    while True:
        data = await stream.receive_some(65536)
        ws.receive_data(bytes(data) if data else None)
        for event in ws.events():
            if isinstance(event, AcceptConnection):
                return ClientWebSocket(stream, ws, event.subprotocol)
            if isinstance(event, RejectConnection):
                status = event.status_code
                if not event.has_body:
                    raise Refused(status, body)
            elif isinstance(event, RejectData):
                body += event.data
                if event.body_finished:
                    raise Refused(status, body)
        if not data:
            raise Refused(status, body)


@dataclass
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    raw_headers: list[tuple[str, str]] = field(default_factory=list)


async def http_request(
    stream: trio.abc.Stream,
    target: str = "/",
    *,
    method: str = "GET",
    headers: Sequence[tuple[str, str]] = (),
    host: str = "chat.test",
    http: h11.Connection | None = None,
) -> HttpReply:
    """One request on ``stream`` (pass ``http`` to reuse a keep-alive connection)."""
    http = http or h11.Connection(h11.CLIENT)
    if http.our_state is h11.DONE:
        http.start_next_cycle()
    all_headers = [("Host", host), *headers]
    await stream.send_all(
        (http.send(h11.Request(method=method, target=target, headers=all_headers)) or b"")
        + (http.send(h11.EndOfMessage()) or b"")
    )
    reply: HttpReply | None = None
    while True:
        event = http.next_event()
        if event is h11.NEED_DATA:
            http.receive_data(bytes(await stream.receive_some(65536)))
        elif isinstance(event, h11.Response):
            pairs = [(k.decode(), v.decode()) for k, v in event.headers]
            reply = HttpReply(event.status_code, {k.lower(): v for k, v in pairs}, b"", pairs)
        elif isinstance(event, h11.Data):
            assert reply is not None
            reply.body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert reply is not None
            return reply
        else:
            raise AssertionError(f"unexpected {event!r}")

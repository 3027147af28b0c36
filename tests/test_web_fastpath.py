"""The fan-out's direct path for WebSocket clients, over real sockets (socketpair, loopback).

In-memory streams never reach ``os.write``: these tests use real TCP
connections, with small receive buffers where the kernel must fill up, so
that the flusher's direct writes, cut frames and the writer task that sends
their rest all happen, and check what the clients parse with wsproto.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import pytest
import trio
from harness import IrcClient, config
from webclient import ClientWebSocket, open_websocket
from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection, Ping, Pong, TextMessage

from triochat._server.fanout import Flusher, Outbox
from triochat._server.server import ChatServer
from triochat._web.listeners import open_web_listeners, web_url
from triochat._web.server import WebServer
from triochat._web.wsstream import WebSocketStream

if TYPE_CHECKING:
    from triochat._config import ServerConfig

#: A receive buffer small enough that the server's writes to this client soon block.
SMALL_BUFFER = 4096


def websocket_pair() -> tuple[WebSocketStream, trio.SocketStream, Connection]:
    """A server-side WebSocket over a real socket (``socketpair``), its peer, the peer's wsproto."""
    ours, theirs = trio.socket.socketpair()
    server = WebSocketStream(trio.SocketStream(ours), Connection(ConnectionType.SERVER))
    return server, trio.SocketStream(theirs), Connection(ConnectionType.CLIENT)


async def receive_messages(
    stream: trio.SocketStream, ws: Connection, count: int, into: list[str]
) -> None:
    """Parse frames with wsproto until ``count`` whole text messages have arrived."""
    message = ""
    while len(into) < count:
        data = await stream.receive_some(65536)
        assert data, "closed early"
        ws.receive_data(bytes(data))
        for event in ws.events():
            assert isinstance(event, TextMessage), event  # anything else: broken framing
            message += event.data
            if event.message_finished:
                into.append(message)
                message = ""


async def test_a_write_waits_for_the_rest_of_a_frame_the_kernel_cut() -> None:
    server, peer, client = websocket_pair()
    flusher = Flusher()
    lines = [f"PRIVMSG #a :{n} {'x' * 200}" for n in range(10_000)]  # 2 MB: the socket fills
    received: list[str] = []
    with trio.fail_after(20):
        async with server, peer, trio.open_nursery() as nursery:
            outbox = Outbox(server, flusher, sendq_bytes=64 << 20, on_overflow=list)
            outbox.attach(nursery)
            for line in lines:
                outbox.put(f"{line}\r\n".encode())
            flusher.flush()  # one direct write: the kernel takes what fits, maybe half a frame
            assert outbox.queued > 0
            assert server.direct_fd() is None  # held for the rest
            nursery.start_soon(receive_messages, peer, client, len(lines) + 1, received)
            # Anything else written now (a pong, a close, send_all) waits for the rest.
            await server.send_all(b"after\r\n")
            await outbox.wait_written()
            assert outbox.queued == 0
    assert received == [*lines, "after"]


async def test_an_abandoned_cut_frame_breaks_the_websocket() -> None:
    server, peer, _client = websocket_pair()
    flusher = Flusher()
    with trio.fail_after(20):
        async with server, peer, trio.open_nursery() as nursery:
            outbox = Outbox(server, flusher, sendq_bytes=64 << 20, on_overflow=list)
            outbox.attach(nursery)
            for n in range(10_000):
                outbox.put(f"PRIVMSG #a :{n} {'x' * 200}\r\n".encode())
            flusher.flush()
            assert server.direct_fd() is None
            outbox.abandon()  # kicked: the rest of the cut frame is never sent
            await outbox.wait_written()
            # The peer has half a frame: nothing more may be framed after it.
            with pytest.raises(trio.BrokenResourceError):
                await server.send_all(b"ERROR :Closing link\r\n")
            assert server.direct_fd() is None


class Running:
    """A chat server with an IRC port and a web port on 127.0.0.1."""

    def __init__(self, chat: ChatServer, irc_port: int, web_port: int) -> None:
        self.chat = chat
        self.irc_port = irc_port
        self.web_port = web_port
        self.streams: list[trio.SocketStream] = []

    async def open(self, port: int, *, receive_buffer: int | None = None) -> trio.SocketStream:
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:  # before connecting, so the window starts small
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        await sock.connect(("127.0.0.1", port))
        stream = trio.SocketStream(sock)
        self.streams.append(stream)
        return stream

    async def tcp(self, nick: str) -> IrcClient:
        client = IrcClient(await self.open(self.irc_port), nick)
        await client.register(nick)
        return client

    async def raw_websocket(self, *, receive_buffer: int | None = None) -> ClientWebSocket:
        stream = await self.open(self.web_port, receive_buffer=receive_buffer)
        host = f"127.0.0.1:{self.web_port}"
        return await open_websocket(stream, host=host, origin=f"http://{host}")

    async def websocket(self, nick: str, *, receive_buffer: int | None = None) -> IrcClient:
        client = IrcClient(await self.raw_websocket(receive_buffer=receive_buffer), nick)
        await client.register(nick)
        return client

    def websocket_outboxes_queued(self) -> list[int]:
        """Bytes not yet taken by the kernel, for each WebSocket connection being served."""
        return [
            connection.outbox.queued
            for connection in self.chat.delivery.connections.values()
            if isinstance(connection.stream, WebSocketStream)
        ]

    async def close(self) -> None:
        for stream in self.streams:
            await trio.aclose_forcefully(stream)


async def start(nursery: trio.Nursery, server_config: ServerConfig) -> Running:
    chat = ChatServer(server_config)
    irc = await trio.open_tcp_listeners(0, host="127.0.0.1")
    web = await open_web_listeners("127.0.0.1", 0, None, None, tls_on_port=False)
    await nursery.start(chat.serve, irc)
    await nursery.start(WebServer(chat).serve, web)
    web_port = int(web_url(web[0]).rsplit(":", 1)[1].rstrip("/"))
    return Running(chat, irc[0].socket.getsockname()[1], web_port)


class Progress:
    """How many messages a reader has checked, to be awaited by the sender."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = trio.Event()

    def advance(self) -> None:
        self.count += 1
        self._changed.set()
        self._changed = trio.Event()

    async def reach(self, count: int) -> None:
        while self.count < count:
            await self._changed.wait()


@pytest.mark.e2e
async def test_a_stalled_websocket_is_kicked_while_websocket_and_tcp_readers_get_everything(
    nursery: trio.Nursery,
) -> None:
    # A trusted bot talks (no flood control), one batch at a time once the
    # healthy readers have read the last: their outboxes stay far below the
    # SendQ while the stalled client's fills its kernel buffers, then the SendQ.
    running = await start(nursery, config(sendq_bytes=1 << 20, flood_control=False))
    batch = 1000
    padding = "padding " * 22
    with trio.fail_after(60):
        talker = await running.tcp("talker")
        tcp_reader = await running.tcp("tcpreader")
        ws_reader = await running.websocket("wsreader")
        stalled = await running.websocket("stalled", receive_buffer=SMALL_BUFFER)
        for client in (talker, tcp_reader, ws_reader, stalled):
            await client.join("#a")
        for _ in range(3):
            await talker.expect("JOIN", "#a")
        readers = {tcp_reader: Progress(), ws_reader: Progress()}

        async def read_everything(reader: IrcClient) -> None:
            progress = readers[reader]
            while (message := await reader.expect("PRIVMSG")).params[1] != "end":
                assert message.params[1].startswith(f"{progress.count} "), (reader.nick, message)
                progress.advance()

        def stalled_is_gone() -> bool:
            return all(
                any(m.command == "QUIT" for m in reader.skipped)
                for reader in (tcp_reader, ws_reader)
            )

        sent = 0
        async with trio.open_nursery() as tasks:
            for reader in readers:
                tasks.start_soon(read_everything, reader)
            while not stalled_is_gone():
                assert sent < 100 * batch, "the stalled client was never kicked"
                await talker.send(
                    *(f"PRIVMSG #a :{n} {padding}" for n in range(sent, sent + batch))
                )
                sent += batch
                for progress in readers.values():
                    await progress.reach(sent)
            await talker.send("PRIVMSG #a :end")
        assert sent > 2 * batch  # the stalled client took some in before it filled up
        for reader, progress in readers.items():
            assert progress.count == sent
            quits = [m for m in reader.skipped if m.command == "QUIT"]
            assert [(m.source or "").split("!")[0] for m in quits] == ["stalled"]
            assert quits[0].params == ("SendQ exceeded",)
    await running.close()


@pytest.mark.e2e
async def test_a_burst_past_a_full_socket_arrives_whole_in_order_with_a_pong_between_frames(
    nursery: trio.Nursery,
) -> None:
    running = await start(nursery, config(sendq_bytes=64 << 20, flood_control=False))
    count = 15_000
    padding = "é" * 90  # multi-byte UTF-8 in text frames, and lines of 200+ bytes
    with trio.fail_after(60):
        talker = await running.tcp("talker")
        await talker.join("#a")
        socket = await running.raw_websocket(receive_buffer=SMALL_BUFFER)
        client = IrcClient(socket, "burst")
        await client.register("burst")
        await client.join("#a")
        await talker.expect("JOIN", "#a")
        for first in range(0, count, 1000):
            await talker.send(*(f"PRIVMSG #a :{n} {padding}" for n in range(first, first + 1000)))
        await talker.sync()  # everything is fanned out and flushed by now
        queued = running.websocket_outboxes_queued()
        assert len(queued) == 1
        assert queued[0] > 0, "the kernel took everything: the backlog path was not exercised"
        # The reader answers this while frames wait behind a full socket: the
        # pong must go out between whole frames, never inside one.
        await socket.send_raw(socket.ws.send(Ping(b"mid-burst")))

        lines: list[str] = []
        pongs: list[bytes] = []
        message = ""
        while len(lines) < count or not pongs:
            data = await socket.stream.receive_some(65536)
            assert data, "the server closed the connection"
            socket.ws.receive_data(bytes(data))
            for event in socket.ws.events():
                assert not isinstance(event, CloseConnection), event  # a framing error
                if isinstance(event, TextMessage):
                    message += event.data
                    if event.message_finished:
                        if message.startswith(":talker!"):
                            lines.append(message.split(" ", 1)[1])
                        message = ""
                elif isinstance(event, Pong):
                    pongs.append(bytes(event.payload))
        assert pongs == [b"mid-burst"]
        assert lines == [f"PRIVMSG #a :{n} {padding}" for n in range(count)]
        assert running.websocket_outboxes_queued() == [0]
    await running.close()

"""The outbox and the reader over real kernel sockets (``socketpair``, no ports).

In-memory streams always take the writer-task path; these tests cover the
path real TCP connections take: straight to the kernel while it keeps up,
then through the backlog, in order, and a SendQ that ends a stalled reader.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

import trio
from harness import IrcClient, config

from triochat._server.fanout import Flusher, Outbox
from triochat._server.server import ChatServer

if TYPE_CHECKING:
    import pytest


def socket_stream_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    left, right = trio.socket.socketpair()
    return trio.SocketStream(left), trio.SocketStream(right)


async def receive_exactly(stream: trio.abc.ReceiveStream, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = await stream.receive_some(1 << 20)
        assert chunk, "connection closed early"
        data += chunk
    return bytes(data)


async def test_a_reader_that_keeps_up_is_written_at_once_without_a_task() -> None:
    ours, theirs = socket_stream_pair()
    flusher = Flusher()
    async with ours, theirs, trio.open_nursery() as nursery:
        outbox = Outbox(ours, flusher, sendq_bytes=1 << 20, on_overflow=list)
        outbox.attach(nursery)
        outbox.put(b"hello ")
        outbox.put(b"world\r\n")
        assert outbox.queued == 13
        flusher.flush()
        assert outbox.queued == 0  # taken by the kernel during flush itself
        assert len(nursery.child_tasks) == 0  # no writer task was needed
        with trio.fail_after(5):
            assert await theirs.receive_some(100) == b"hello world\r\n"


async def test_backlog_keeps_order_when_the_kernel_is_full() -> None:
    ours, theirs = socket_stream_pair()
    flusher = Flusher()
    pieces = [bytes([n % 251]) * 100_000 for n in range(60)]  # 6 MB: far past the kernel buffer
    async with ours, theirs, trio.open_nursery() as nursery:
        outbox = Outbox(ours, flusher, sendq_bytes=64 << 20, on_overflow=list)
        outbox.attach(nursery)
        for piece in pieces:
            outbox.put(piece)
            flusher.flush()  # direct writes first, then the backlog takes over
        assert outbox.queued > 0
        with trio.fail_after(20):
            received = await receive_exactly(theirs, sum(map(len, pieces)))
            await outbox.wait_written()
    assert received == b"".join(pieces)
    assert outbox.queued == 0


async def test_a_reader_past_its_sendq_is_abandoned_once() -> None:
    ours, theirs = socket_stream_pair()
    flusher = Flusher()
    overflows: list[str] = []
    async with ours, theirs, trio.open_nursery() as nursery:
        outbox = Outbox(
            ours,
            flusher,
            sendq_bytes=1 << 20,
            on_overflow=lambda: overflows.append("kick"),
        )
        outbox.attach(nursery)
        for _ in range(100):  # 10 MB to a peer that never reads
            outbox.put(b"x" * 100_000)
            flusher.flush()
        assert overflows == ["kick"]
        assert outbox.closed
        nursery.cancel_scope.cancel()  # the writer is stuck on the full socket


class SocketPairListener(trio.abc.Listener[trio.abc.Stream]):
    """Connections made of socketpairs: real kernel sockets, no ports."""

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[trio.abc.Stream](0)

    async def connect(self) -> IrcClient:
        client, server = socket_stream_pair()
        await self._send.send(server)
        return IrcClient(client)

    async def accept(self) -> trio.abc.Stream:
        return await self._receive.receive()

    async def aclose(self) -> None:
        self._receive.close()
        await trio.lowlevel.checkpoint()


async def test_chat_and_a_stalled_reader_over_real_sockets(nursery: trio.Nursery) -> None:
    listener = SocketPairListener()
    # The talker is a trusted bot (no flood control): tests/test_hostile.py has the flooder.
    server = ChatServer(config(sendq_bytes=2 << 20, flood_control=False))
    await nursery.start(server.serve, [listener])
    with trio.fail_after(20):
        talker = await listener.connect()
        reader = await listener.connect()
        stalled = await listener.connect()
        for client, nick in ((talker, "talker"), (reader, "reader"), (stalled, "stalled")):
            await client.register(nick)
            await client.join("#a")
        await talker.expect("JOIN", "#a")
        await talker.expect("JOIN", "#a")
        count = 20_000
        line = "padding " * 12

        async def read_everything() -> None:
            for n in range(count):
                message = await reader.expect("PRIVMSG")
                assert message.params[1].startswith(f"{n} ")

        async with trio.open_nursery() as readers:
            readers.start_soon(read_everything)
            for start in range(0, count, 1000):
                await talker.send(*(f"PRIVMSG #a :{n} {line}" for n in range(start, start + 1000)))
            await talker.sync()  # never blocked by the stalled reader
        quits = [m for m in reader.skipped if m.command == "QUIT"]
        assert [(m.source or "").split("!")[0] for m in quits] == ["stalled"]
        assert quits[0].params == ("SendQ exceeded",)
    for client in (talker, reader, stalled):
        await client.stream.aclose()


async def test_cancelling_the_server_mid_flood_logs_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Closing connections flush everyone's outboxes; one whose nursery closed must not break."""
    listener = SocketPairListener()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            # 30 trusted bots from one address: no flood control, no per-address limit.
            server_config = config(sendq_bytes=64 << 20, flood_control=False, max_per_ip=None)
            await nursery.start(ChatServer(server_config).serve, [listener])
            clients = [await listener.connect() for _ in range(30)]
            for number, client in enumerate(clients):
                await client.register(f"user{number}")
                await client.join("#a")
            # Nobody reads: every outbox builds a backlog, then the server is cancelled.
            for client in clients[:5]:
                await client.send(*(f"PRIVMSG #a :{n} {'z' * 200}" for n in range(2000)))
            for client in clients[:5]:
                await client.sync()  # the server has fanned out all of it
            nursery.cancel_scope.cancel()
    for client in clients:
        await client.stream.aclose()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


async def test_a_reset_connection_quits_as_reset_by_peer(nursery: trio.Nursery) -> None:
    """The reader reads plain sockets itself: a reset must end it as trio's would."""
    listener = SocketPairListener()
    await nursery.start(ChatServer(config()).serve, [listener])
    with trio.fail_after(10):
        alice = await listener.connect()
        bob = await listener.connect()
        for client, nick in ((alice, "alice"), (bob, "bob")):
            await client.register(nick)
            await client.join("#a")
        await alice.expect("JOIN", "#a")
        await alice.send("PRIVMSG #a :unread")  # closing with unread input resets the peer
        await alice.sync()  # written to bob in the same round as alice's PONG
        await bob.stream.aclose()
        quit_ = await alice.expect("QUIT")
    assert quit_.source is not None
    assert quit_.source.startswith("bob!")
    assert quit_.params == ("Connection reset by peer",)
    await alice.stream.aclose()


async def test_a_reader_with_input_always_waiting_still_sees_cancellation() -> None:
    """The reader reads plain sockets itself: a client that never pauses must not keep it
    (and so the server) from being cancelled."""
    listener = SocketPairListener()
    lines = b"PRIVMSG #alone :and another thing\r\n" * 2000
    with trio.fail_after(10):
        async with trio.open_nursery() as outside:
            async with trio.open_nursery() as nursery:
                server = ChatServer(config(flood_control=False))
                await nursery.start(server.serve, [listener])
                chatty = await listener.connect()
                await chatty.register("chatty")
                await chatty.join("#alone")  # nobody else: what it says goes nowhere

                async def talk() -> None:
                    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                        while True:
                            await chatty.stream.send_all(lines)

                outside.start_soon(talk)  # not cancelled with the server
                while server.metrics.messages_in["privmsg"] < 10_000:  # noqa: ASYNC110
                    await trio.sleep(0)  # until the reader is well into the stream
                nursery.cancel_scope.cancel()
            outside.cancel_scope.cancel()
    await chatty.stream.aclose()

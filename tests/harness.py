"""Test harness: an in-memory listener, a scripted IRC client, a server to drive.

Everything here runs without sockets, so server tests are deterministic and,
with the ``autojump_clock`` fixture, take no real time even when they wait
for minutes of virtual time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import TYPE_CHECKING

import trio
import trio.testing

from triochat._config import ServerConfig
from triochat._irc.wire import LINE_TOO_LONG, LineReader, Message, parse

if TYPE_CHECKING:
    from triochat._server.server import ChatServer

#: The config of every in-memory test server: like the default, with a short MOTD.
TEST_CONFIG = ServerConfig(server_name="test.server", motd=("hello from the test server",))


class MemoryListener(trio.abc.Listener[trio.abc.Stream]):
    """A listener whose connections are in-memory stream pairs (after trio's own tests)."""

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[trio.abc.Stream](0)
        self.accepted = 0

    async def connect(self, *, lockstep: bool = False) -> trio.abc.Stream:
        """Open a connection; ``lockstep`` gives a client with no buffering at all."""
        pair = trio.testing.lockstep_stream_pair if lockstep else trio.testing.memory_stream_pair
        client, server = pair()
        await self._send.send(server)
        self.accepted += 1
        return client

    async def accept(self) -> trio.abc.Stream:
        return await self._receive.receive()

    async def aclose(self) -> None:
        self._receive.close()
        await trio.lowlevel.checkpoint()


class IrcClient:
    """A scripted IRC client over any stream, for driving a server in tests."""

    def __init__(self, stream: trio.abc.Stream, nick: str = "*") -> None:
        self.stream = stream
        self.nick = nick
        self._reader = LineReader(max_line_bytes=1 << 20)
        self._pending: deque[Message] = deque()
        #: Messages that :meth:`expect` passed over, oldest first.
        self.skipped: list[Message] = []
        self.eof = False

    async def send(self, *lines: str | bytes) -> None:
        """Send raw lines; ``str`` lines get CRLF appended, ``bytes`` go as they are."""
        data = b"".join(
            line if isinstance(line, bytes) else (line + "\r\n").encode() for line in lines
        )
        await self.stream.send_all(data)

    async def receive(self) -> Message:
        """The next message from the server; fails the test at EOF."""
        while not self._pending:
            data = await self.stream.receive_some(65536)
            if not data:
                self.eof = True
                raise AssertionError(f"{self.nick}: connection closed while expecting a message")
            self._reader.feed(data)
            for line in self._reader.lines():
                assert line is not LINE_TOO_LONG
                self._pending.append(parse(line))
        return self._pending.popleft()

    async def expect(self, command: str, *params: str) -> Message:
        """Skip messages until one with ``command`` (and these leading params) arrives."""
        while True:
            message = await self.receive()
            if message.command == command and message.params[: len(params)] == params:
                return message
            self.skipped.append(message)

    async def collect_until(self, command: str) -> list[Message]:
        """Every message up to and including the first ``command``."""
        messages = [await self.receive()]
        while messages[-1].command != command:
            messages.append(await self.receive())
        return messages

    async def register(self, nick: str, *, caps: str = "") -> None:
        """NICK/USER (and CAP REQ when ``caps``), then wait for the end of the MOTD."""
        self.nick = nick
        if caps:
            await self.send("CAP LS 302", f"NICK {nick}", f"USER {nick} 0 * :{nick} test")
            await self.send(f"CAP REQ :{caps}", "CAP END")
            ack = await self.expect("CAP")
            while ack.param(1) != "ACK":
                ack = await self.expect("CAP")
        else:
            await self.send(f"NICK {nick}", f"USER {nick} 0 * :{nick} test")
        await self.expect("376")

    async def join(self, channel: str) -> None:
        await self.send(f"JOIN {channel}")
        await self.expect("366")

    async def batch(self, kind: str = "chathistory") -> tuple[Message, list[Message]]:
        """Skip to the next ``BATCH +ref kind``; return it and the messages up to ``BATCH -ref``.

        Every message inside must carry the ``batch`` tag of that reference.
        """
        opening = await self.expect("BATCH")
        while opening.param(1) != kind:
            opening = await self.expect("BATCH")
        reference = opening.params[0].removeprefix("+")
        inside: list[Message] = []
        while (message := await self.receive()).params != (f"-{reference}",):
            assert message.tags.get("batch") == reference, message
            inside.append(message)
        return opening, inside

    async def sync(self) -> None:
        """Wait until the server has handled everything sent so far (PING round trip)."""
        await self.send("PING :sync")
        await self.expect("PONG")

    async def wait_closed(self) -> list[Message]:
        """Read until EOF; return what arrived meanwhile."""
        messages: list[Message] = list(self._pending)
        self._pending.clear()
        while True:
            data = await self.stream.receive_some(65536)
            if not data:
                self.eof = True
                return messages
            self._reader.feed(data)
            messages.extend(parse(line) for line in self._reader.lines() if isinstance(line, bytes))


class ServerHarness:
    """A :class:`ChatServer` serving a :class:`MemoryListener`, and ways to reach it."""

    def __init__(self, server: ChatServer, listener: MemoryListener) -> None:
        self.server = server
        self.listener = listener

    async def connect(self, *, lockstep: bool = False) -> IrcClient:
        return IrcClient(await self.listener.connect(lockstep=lockstep))

    async def client(self, nick: str, *, caps: str = "", channel: str | None = None) -> IrcClient:
        """A registered client, joined to ``channel`` when given."""
        client = await self.connect()
        await client.register(nick, caps=caps)
        if channel is not None:
            await client.join(channel)
        return client

    async def wait_connections(self, count: int) -> None:
        """Wait (in virtual time, so autojump_clock) until ``count`` connections remain.

        Polling is right here: closing includes bounded waits on the peer, and
        the server offers no event for "connection gone" that tests could await.
        """
        while self.server.connection_count != count:  # noqa: ASYNC110
            await trio.sleep(0.01)


def config(**changes: object) -> ServerConfig:
    """:data:`TEST_CONFIG` with some fields changed."""
    return replace(TEST_CONFIG, **changes)  # type: ignore[arg-type]

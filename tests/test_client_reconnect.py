"""The full-screen client's trio side: one chat over many connections, in memory.

The real in-memory server (the ``harness`` fixture), memory streams that the
test can cut, and the autojump clock: backoff delays of seconds take none, and
are checked to the millisecond of virtual time.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing
from test_client import FakeServer

from triochat._client.events import (
    ChatLine,
    Connecting,
    ConnectionLost,
    Event,
    InfoLine,
    Joined,
    LagMeasured,
    NickChanged,
    Reconnecting,
    Registered,
    UserInput,
)
from triochat._client.reconnect import Backoff, run_chat
from triochat._client.session import ClientTimeouts

if TYPE_CHECKING:
    from collections.abc import Callable

    from harness import ServerHarness

NO_JITTER = Backoff(initial=1.0, factor=2.0, maximum=5.0, jitter=0.0)
TIMEOUTS = ClientTimeouts(close=2, drain=5, check=5, ping=10)


class Seen:
    """The events of a session, read from its channel as they come."""

    def __init__(self, channel: trio.MemoryReceiveChannel[Event]) -> None:
        self._channel = channel
        self.events: list[Event] = []
        self._index = 0

    async def wait_until(self, wanted: Callable[[Event], bool]) -> Event:
        """The next event for which ``wanted`` is true, waiting for it if need be."""
        while True:
            while self._index < len(self.events):
                event = self.events[self._index]
                self._index += 1
                if wanted(event):
                    return event
            self.events.append(await self._channel.receive())

    async def wait_for(self, wanted: type[Event] | Event) -> Event:
        """The next event equal to ``wanted``, or of that type."""
        if isinstance(wanted, type):
            return await self.wait_until(lambda event: isinstance(event, wanted))
        return await self.wait_until(lambda event: event == wanted)

    async def wait_for_text(self, text: str) -> ChatLine | InfoLine:
        """The next line (a chat line or an info line) with ``text`` in it."""
        event = await self.wait_until(
            lambda event: isinstance(event, ChatLine | InfoLine) and text in event.text
        )
        assert isinstance(event, ChatLine | InfoLine)
        return event


class Chat:
    """``run_chat`` in the background, with a keyboard, its events, and its connections."""

    def __init__(self, connect: Connector) -> None:
        self.keyboard, self._input = trio.open_memory_channel[UserInput](10)
        self._events, received = trio.open_memory_channel[Event](1000)
        self.seen = Seen(received)
        self.connector = connect
        self.exit_code: int | None = None
        self.done = trio.Event()

    async def run(self, **options: object) -> None:
        self.exit_code = await run_chat(
            self.connector.connect,
            self._input,
            self._events,
            nick="alice",
            backoff=NO_JITTER,
            timeouts=TIMEOUTS,
            **options,  # type: ignore[arg-type]
        )
        self.done.set()

    async def type(self, text: str, window: str | None = "#lobby") -> None:
        await self.keyboard.send(UserInput(text, window))


class Connector:
    """Connections to the in-memory server, each one cuttable; failures on demand."""

    def __init__(self, harness: ServerHarness | None = None) -> None:
        self.harness = harness
        self.streams: list[trio.abc.Stream] = []
        self.failures = 0  # the next connect calls that fail
        self.attempts: list[float] = []
        self.fake_servers: trio.MemorySendChannel[FakeServer] | None = None

    async def connect(self) -> trio.abc.Stream:
        self.attempts.append(trio.current_time())
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        if self.harness is not None:
            stream = await self.harness.listener.connect()
        else:
            assert self.fake_servers is not None
            stream, server_end = trio.testing.memory_stream_pair()
            await self.fake_servers.send(FakeServer(server_end))
        self.streams.append(stream)
        return stream

    async def cut(self) -> None:
        """The network drops the current connection."""
        await self.streams[-1].aclose()


async def test_chats_through_the_real_server(
    harness: ServerHarness, nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(30):
        chat = Chat(Connector(harness))
        nursery.start_soon(chat.run)
        assert await chat.seen.wait_for(Registered) == Registered("alice", "test.server")
        await chat.seen.wait_for(Joined("#lobby"))
        bob = await harness.client("bob", channel="#lobby")
        await chat.type("hello bob")
        assert (await bob.expect("PRIVMSG")).params == ("#lobby", "hello bob")
        await bob.send("PRIVMSG #lobby :hi alice")
        line = await chat.seen.wait_for_text("hi alice")
        assert line == ChatLine("#lobby", "bob", "hi alice", line.time, mention=True)
        await chat.type("/quit")
        await chat.done.wait()
        assert chat.exit_code == 0
        assert (await bob.expect("QUIT")).source is not None
        assert len(chat.connector.attempts) == 1


async def test_reconnects_with_backoff_and_rejoins_every_room(
    harness: ServerHarness, nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        connector = Connector(harness)
        chat = Chat(connector)
        nursery.start_soon(chat.run)
        await chat.seen.wait_for(Joined("#lobby"))
        await chat.type("/join #games")
        await chat.seen.wait_for(Joined("#games"))
        await chat.type("/nick alicia")
        await chat.seen.wait_until(lambda event: isinstance(event, NickChanged) and event.own)
        watcher = await harness.client("watcher", channel="#games")

        connector.failures = 2  # the server is unreachable for a while
        cut_at = trio.current_time()
        await connector.cut()
        assert isinstance(await chat.seen.wait_for(ConnectionLost), ConnectionLost)
        delays = [await chat.seen.wait_for(Reconnecting) for _ in range(3)]
        assert [d.delay for d in delays if isinstance(d, Reconnecting)] == [1.0, 2.0, 4.0]
        await chat.seen.wait_for(Connecting(3))
        assert await chat.seen.wait_for(Registered) == Registered("alicia", "test.server")
        retries = [when - cut_at for when in connector.attempts[1:]]
        assert retries == pytest.approx([1.0, 1.0 + 2.0, 1.0 + 2.0 + 4.0])
        joined = {await chat.seen.wait_for(Joined), await chat.seen.wait_for(Joined)}
        assert joined == {Joined("#lobby"), Joined("#games")}
        rejoin = await watcher.expect("JOIN")
        assert rejoin.source is not None
        assert rejoin.source.startswith("alicia!")
        await chat.type("back again", "#games")
        assert (await watcher.expect("PRIVMSG")).params == ("#games", "back again")

        connector.failures = 1  # after a good session, the backoff starts over
        await connector.cut()
        again = await chat.seen.wait_for(Reconnecting)
        assert isinstance(again, Reconnecting)
        assert (again.delay, again.reason) == (1.0, "the connection was lost")
        await chat.seen.wait_for(Registered)
        await chat.type("/quit")
        await chat.done.wait()
        assert chat.exit_code == 0


async def test_lines_typed_while_offline_are_refused_and_quit_works(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        connector = Connector()
        connector.failures = 100
        chat = Chat(connector)
        nursery.start_soon(chat.run)
        await chat.seen.wait_for(Reconnecting)
        await chat.type("anyone there?")
        refusal = await chat.seen.wait_for_text("not connected")
        assert isinstance(refusal, InfoLine)
        assert refusal.error
        await chat.type("!exit")
        await chat.done.wait()
        assert chat.exit_code == 0


async def test_backoff_is_capped(nursery: trio.Nursery, autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(600):
        connector = Connector()
        connector.failures = 8
        chat = Chat(connector)
        nursery.start_soon(chat.run)
        delays = []
        for _ in range(6):
            event = await chat.seen.wait_for(Reconnecting)
            assert isinstance(event, Reconnecting)
            delays.append(event.delay)
        assert delays == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
        await chat.type("/quit")
        await chat.done.wait()


async def test_the_first_failure_can_be_fatal() -> None:
    connector = Connector()
    connector.failures = 1
    with pytest.raises(ConnectionRefusedError):
        await Chat(connector).run(first_failure_is_fatal=True)


async def test_a_silent_server_counts_as_lost(
    nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    """A link that died without a word: the lag probe gets no PONG, and the chat reconnects."""
    with trio.fail_after(120):
        connector = Connector()
        connector.fake_servers, servers = trio.open_memory_channel[FakeServer](10)
        chat = Chat(connector)
        nursery.start_soon(partial(chat.run, lag_interval=30.0))
        server = await servers.receive()
        await server.expect("CAP LS 302")
        await server.expect("NICK alice")
        await server.expect("USER alice 0 * :alice")
        await server.welcome("alice", caps="")
        ping = await server.receive()
        assert ping.command == "PING"
        await server.send(f":srv PONG srv :{ping.params[-1]}")
        assert await chat.seen.wait_for(LagMeasured) == LagMeasured(0.0)
        assert (await server.receive()).command == "PING"  # 30 s later; never answered
        started = trio.current_time()
        lost = await chat.seen.wait_for(ConnectionLost)
        assert isinstance(lost, ConnectionLost)
        assert lost.reason == "no answer from the server for 10 seconds"
        assert trio.current_time() - started == pytest.approx(10.0)
        second = await servers.receive()  # it connects again
        await second.expect("CAP LS 302")
        await chat.type("/quit")
        await chat.done.wait()


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999])
def test_backoff_jitter_stays_within_its_fraction(draw: float) -> None:
    backoff = Backoff(initial=2.0, factor=3.0, maximum=100.0, jitter=0.25)
    assert backoff.delay(1, lambda: draw) == pytest.approx(2.0 * (1 + 0.25 * (2 * draw - 1)))
    assert 13.5 <= backoff.delay(3, lambda: draw) <= 22.5
    assert backoff.delay(10, lambda: draw) <= 125.0

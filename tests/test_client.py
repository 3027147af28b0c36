"""run_client against a small scripted IRC server, entirely in memory.

The fake server is the test itself: it reads the client's lines with
triochat's own sans-IO parser and answers with lines a real server would
send. Every test runs on the autojump clock under ``fail_after``, so timeouts
cost no real time and a deadlock fails at once.
"""

from __future__ import annotations

from collections import deque
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from triochat._client.base import DRAIN_TOKEN, WANTED_CAPS
from triochat._client.session import ClientTimeouts, run_client
from triochat._irc.wire import LineReader, Message, parse

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

NOON: datetime = datetime(2026, 1, 1, 12, 1, tzinfo=UTC)
TIMEOUTS = ClientTimeouts(close=5, drain=30, check=10)
ALL_CAPS = " ".join(sorted(WANTED_CAPS))
MAX_READS = 1000  # reads of the server's bytes in one session: far more than any test needs


def clock() -> datetime:
    return NOON


def irc(line: str) -> Message:
    return parse(line.encode())


class FakeServer:
    """The server end of a memory stream pair, scripted line by line."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self._reader = LineReader()
        self._pending: deque[Message] = deque()

    async def receive(self) -> Message:
        """The next message from the client (fails if it hung up)."""
        while not self._pending:
            data = await self.stream.receive_some()
            assert data, "the client closed the connection"
            self._reader.feed(data)
            self._pending.extend(parse(line) for line in self._reader.lines())  # type: ignore[arg-type]
        return self._pending.popleft()

    async def expect(self, line: str) -> None:
        assert await self.receive() == irc(line)

    async def send(self, *lines: str) -> None:
        await self.stream.send_all(b"".join(line.encode() + b"\r\n" for line in lines))

    async def sync(self) -> list[Message]:
        """Everything the client sent until it answered a PING sent now."""
        await self.send("PING :sync")
        received = []
        while (message := await self.receive()) != Message("PONG", ("sync",)):
            received.append(message)
        return received

    async def register(
        self, nick: str = "alice", *, caps: str = ALL_CAPS, names: str = "alice bob"
    ) -> None:
        """Play the server's part of registration and of the first JOIN."""
        await self.expect("CAP LS 302")
        await self.expect(f"NICK {nick}")
        await self.expect(f"USER {nick} 0 * :{nick}")
        await self.welcome(nick, caps=caps, names=names)

    async def welcome(self, nick: str, *, caps: str = ALL_CAPS, names: str = "alice bob") -> None:
        await self.send(f":srv CAP * LS :{caps} away-notify")
        if caps:
            await self.expect(f"CAP REQ :{caps}")
            await self.send(f":srv CAP {nick} ACK :{caps}")
        await self.expect("CAP END")
        await self.send(f":srv 001 {nick} :Welcome to triochat, {nick}")
        await self.expect("JOIN #lobby")
        await self.send(
            f":{nick}!~{nick}@127.0.0.1 JOIN #lobby",
            f":srv 353 {nick} = #lobby :{names}",
            f":srv 366 {nick} #lobby :End of /NAMES list",
        )

    async def close_after_quit(self, reason: str = "leaving") -> None:
        await self.expect(f"QUIT :{reason}")
        await self.send("ERROR :Closing link: 127.0.0.1 (Quit)")
        await self.stream.aclose()


class Screen:
    """What the client showed, read from its display channel."""

    def __init__(self, lines: trio.MemoryReceiveChannel[str]) -> None:
        self._channel = lines
        self.lines: list[str] = []
        self._seen = 0

    async def wait_for(self, text: str) -> str:
        """The next shown line containing ``text`` (waiting for it if need be)."""
        while True:
            for index in range(self._seen, len(self.lines)):
                if text in self.lines[index]:
                    self._seen = index + 1
                    return self.lines[index]
            self._seen = len(self.lines)
            self.lines.append(await self._channel.receive())

    def drain(self) -> list[str]:
        """Read every line already shown."""
        while True:
            try:
                self.lines.append(self._channel.receive_nowait())
            except trio.WouldBlock:
                return self.lines


class Session:
    """One client under test: its server, keyboard and screen."""

    def __init__(
        self, server: FakeServer, keyboard: trio.MemorySendChannel[str], screen: Screen
    ) -> None:
        self.server = server
        self.keyboard = keyboard
        self.screen = screen
        self.exit_code: int | None = None
        self.done = trio.Event()

    async def type(self, *lines: str) -> None:
        for line in lines:
            await self.keyboard.send(line)

    async def finished(self) -> int:
        await self.done.wait()
        assert self.exit_code is not None
        return self.exit_code


def fail_on_busy_reading(stream: trio.StapledStream[Any, Any]) -> None:
    """Make ``stream`` fail the test if it is read far more often than any session needs.

    A client that loops on EOF never blocks, so the autojump clock never moves
    and ``fail_after`` could not catch it: counting reads can.
    """
    reads = 0

    async def count_reads() -> None:
        nonlocal reads
        reads += 1
        assert reads < MAX_READS, "the client keeps reading a closed connection"

    stream.receive_stream.receive_some_hook = count_reads


@asynccontextmanager
async def client_session(
    nick: str | None = "alice",
    stream_pair: tuple[trio.StapledStream[Any, Any], trio.abc.Stream] | None = None,
) -> AsyncIterator[Session]:
    """Run a client in the background against a :class:`FakeServer`."""
    client_stream, server_stream = stream_pair or trio.testing.memory_stream_pair()
    fail_on_busy_reading(client_stream)
    keyboard, user_lines = trio.open_memory_channel[str](100)
    display, shown = trio.open_memory_channel[str](1000)
    session = Session(FakeServer(server_stream), keyboard, Screen(shown))

    async def client() -> None:
        session.exit_code = await run_client(
            client_stream, user_lines, display, nick=nick, timeouts=TIMEOUTS, clock=clock
        )
        session.done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(client)
        yield session


# -- registration ------------------------------------------------------------------


async def test_registration_joins_the_lobby(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(5):
        async with client_session() as s:
            await s.server.register(names="@alice bob")
            assert await s.screen.wait_for("Welcome") == "[12:01] -!- Welcome to triochat, alice"
            await s.screen.wait_for("[12:01] -!- you have joined #lobby")
            await s.screen.wait_for("[12:01] -!- here in #lobby (2): @alice bob")
            await s.type("/quit")
            await s.server.close_after_quit()
            assert await s.finished() == 0


async def test_nick_is_asked_for_and_asked_again_when_taken(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(5):
        async with client_session(nick=None) as s:
            await s.server.expect("CAP LS 302")
            await s.screen.wait_for("choose a nickname:")
            await s.type("alice")
            await s.server.expect("NICK alice")
            await s.server.expect("USER alice 0 * :alice")
            await s.server.send(":srv 433 * alice :Nickname is already in use")
            assert "already in use" in await s.screen.wait_for("alice")
            await s.screen.wait_for("choose a nickname:")
            await s.type("al!ce")
            await s.server.expect("NICK al!ce")
            await s.server.send(":srv 432 * al!ce :Erroneous nickname")
            await s.screen.wait_for("al!ce cannot be used as a nickname")
            await s.type("alice2")
            await s.server.expect("NICK alice2")
            await s.server.welcome("alice2")
            await s.screen.wait_for("you have joined #lobby")
            await s.type("/quit")
            await s.server.close_after_quit()
            assert await s.finished() == 0


# -- talking -------------------------------------------------------------------------


async def test_public_message_with_echo_message(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(5):
        async with client_session() as s:
            await s.server.register()
            await s.type("hello everyone")
            assert await s.server.receive() == Message("PRIVMSG", ("#lobby", "hello everyone"))
            await s.server.sync()
            assert not any("hello everyone" in line for line in s.screen.drain())
            await s.server.send(
                "@time=2026-01-01T09:30:00.000Z"
                " :alice!~alice@127.0.0.1 PRIVMSG #lobby :hello everyone"
            )
            await s.screen.wait_for("[09:30] <alice> hello everyone")
            await s.server.send(":bob!~bob@127.0.0.1 PRIVMSG #lobby :hi alice")
            await s.screen.wait_for("[12:01] <bob> hi alice")
            await s.type("/quit")
            await s.server.close_after_quit()
            assert await s.finished() == 0


async def test_public_message_without_echo_shows_at_once(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(5):
        async with client_session() as s:
            await s.server.register(caps="")
            await s.type("hello")
            await s.server.expect("PRIVMSG #lobby :hello")
            await s.screen.wait_for("[12:01] <alice> hello")
            await s.type("!exit")
            await s.server.close_after_quit()
            assert await s.finished() == 0


async def test_private_message_and_query(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(5):
        async with client_session() as s:
            await s.server.register()
            await s.type("/msg bob psst")
            await s.server.expect("PRIVMSG bob :psst")
            await s.server.send(":alice!~alice@127.0.0.1 PRIVMSG bob :psst")
            await s.screen.wait_for("[12:01] -> *bob* psst")
            await s.server.send(":bob!~bob@127.0.0.1 PRIVMSG alice :what?")
            await s.screen.wait_for("[12:01] *bob* what?")
            await s.type("/query bob", "just us", "/query", "everyone again")
            await s.server.expect("PRIVMSG bob :just us")
            await s.server.expect("PRIVMSG #lobby :everyone again")
            await s.screen.wait_for("private talk with bob ended; back in #lobby")
            await s.type("/quit")
            await s.server.close_after_quit()
            assert await s.finished() == 0


async def test_private_to_an_absent_nick_never_leaks(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(5):
        async with client_session() as s:
            await s.server.register()
            await s.type("!private bob", "this is only for bob")
            await s.server.expect("WHOIS bob")
            await s.server.send(
                ":srv 401 alice bob :No such nick/channel",
                ":srv 318 alice bob :End of /WHOIS list",
            )
            await s.screen.wait_for("[12:01] -!- no such nick: bob")
            await s.screen.wait_for("bob is not on the server; still talking in #lobby")
            await s.screen.wait_for("not sent, bob is not here: this is only for bob")
            await s.type("hello room")
            await s.server.expect("PRIVMSG #lobby :hello room")
            assert await s.server.sync() == []
            await s.type("/quit")
            await s.server.close_after_quit()
            assert await s.finished() == 0


async def test_private_to_a_present_nick(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(5):
        async with client_session() as s:
            await s.server.register()
            await s.type("!private bob", "psst")
            await s.server.expect("WHOIS bob")
            await s.server.send(
                ":srv 311 alice bob ~bob 127.0.0.1 * :bob",
                ":srv 318 alice bob :End of /WHOIS list",
            )
            await s.server.expect("PRIVMSG bob :psst")
            await s.screen.wait_for("talking privately with bob")
            await s.type("/quit")
            await s.server.close_after_quit()
            assert await s.finished() == 0


async def test_private_check_that_gets_no_answer_times_out(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(TIMEOUTS.check + 5):
        async with client_session() as s:
            await s.server.register()
            await s.type("!private bob", "secret")
            await s.server.expect("WHOIS bob")
            await s.screen.wait_for("did not say whether bob is here")
            await s.screen.wait_for("not sent, bob is not here: secret")
            await s.type("/quit")
            await s.server.close_after_quit()
            assert await s.finished() == 0


async def test_me_who_and_time(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(5):
        async with client_session() as s:
            await s.server.register()
            await s.type("/me waves", "/who", "!time")
            await s.server.expect("PRIVMSG #lobby :\x01ACTION waves\x01")
            await s.server.expect("NAMES #lobby")
            await s.server.expect("TIME")
            await s.server.send(
                ":bob!~bob@127.0.0.1 PRIVMSG #lobby :\x01ACTION waves back\x01",
                ":srv 353 alice = #lobby :alice bob carol",
                ":srv 366 alice #lobby :End of /NAMES list",
                ":srv 391 alice srv :Thursday January 1 2026 -- 12:01 +00:00",
            )
            await s.screen.wait_for("[12:01] * bob waves back")
            await s.screen.wait_for("[12:01] -!- here in #lobby (3): alice bob carol")
            await s.screen.wait_for("[12:01] -!- time on srv: Thursday January 1 2026")
            await s.type("/quit")
            await s.server.close_after_quit()
            assert await s.finished() == 0


async def test_long_lines_are_split_without_loss(autojump_clock: trio.abc.Clock) -> None:
    text = "h\u00e9llo w\u00f6rld \U0001f600 " * 60
    with trio.fail_after(5):
        async with client_session() as s:
            await s.server.register()
            await s.type(text)
            pieces = await s.server.sync()
            assert len(pieces) > 1
            assert all(len(b"PRIVMSG #lobby :" + p.params[1].encode()) < 510 for p in pieces)
            assert "".join(piece.params[1] for piece in pieces) == text
            await s.type("/quit")
            await s.server.close_after_quit()
            assert await s.finished() == 0


async def test_ping_is_answered_and_escapes_are_defused(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(5):
        async with client_session() as s:
            await s.server.register()
            await s.server.send("PING :srv-1234")
            await s.server.expect("PONG srv-1234")
            await s.server.send(
                ":bob!~bob@127.0.0.1 PRIVMSG #lobby :\x1b[2J\x1b[31mred\x07 \x02bold"
            )
            line = await s.screen.wait_for("<bob>")
            assert line == "[12:01] <bob> ?[2J?[31mred? bold"
            await s.type("/quit")
            await s.server.close_after_quit()
            assert await s.finished() == 0


async def test_unknown_command_sends_nothing(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(5):
        async with client_session() as s:
            await s.server.register()
            await s.type("/frobnicate", "//literal")
            await s.screen.wait_for("unknown command /frobnicate")
            assert await s.server.sync() == [Message("PRIVMSG", ("#lobby", "/literal"))]
            await s.type("/quit")
            await s.server.close_after_quit()
            assert await s.finished() == 0


async def test_error_numerics_and_a_vanished_query_partner(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(5):
        async with client_session() as s:
            await s.server.register()
            await s.type("/query bob", "still there?")
            await s.server.expect("PRIVMSG bob :still there?")
            await s.server.send(
                ":srv 401 alice bob :No such nick/channel",
                ":srv 404 alice #quiet :Cannot send to channel",
            )
            await s.screen.wait_for("no such nick: bob")
            await s.screen.wait_for("bob has left the server")
            await s.screen.wait_for("cannot send to #quiet")
            await s.type("/quit")
            await s.server.close_after_quit()
            assert await s.finished() == 0


# -- the end -------------------------------------------------------------------------


async def test_end_of_piped_input_sends_everything_before_quit(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(5):
        async with client_session() as s:
            await s.type("first line", "/me second", "third line")  # typed before registration
            s.keyboard.close()
            await s.server.register()
            await s.server.expect("PRIVMSG #lobby :first line")
            await s.server.expect("PRIVMSG #lobby :\x01ACTION second\x01")
            await s.server.expect("PRIVMSG #lobby :third line")
            await s.server.expect(f"PING {DRAIN_TOKEN}")
            await s.server.send(f":srv PONG srv :{DRAIN_TOKEN}")
            await s.server.close_after_quit()
            assert await s.finished() == 0
            assert (
                s.screen.drain().count("[12:01] -!- disconnected: Closing link: 127.0.0.1 (Quit)")
                == 1
            )


async def test_end_of_input_quits_even_without_pong(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(TIMEOUTS.drain + TIMEOUTS.close + 5):
        async with client_session() as s:
            await s.server.register()
            s.keyboard.close()
            await s.server.expect(f"PING {DRAIN_TOKEN}")
            await s.server.expect("QUIT :leaving")  # after the drain timeout
            assert await s.finished() == 0  # after the close timeout
            assert "the server did not close the connection" in s.screen.drain()[-1]


async def test_server_vanishing_is_said_once(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(5):
        async with client_session() as s:
            await s.server.register()
            await s.server.stream.aclose()
            assert await s.finished() == 1
            gone = [line for line in s.screen.drain() if "disconnected" in line]
            assert gone == ["[12:01] -!- disconnected: the server closed the connection"]


async def test_server_error_line_is_said_once(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(5):
        async with client_session() as s:
            await s.server.register()
            await s.server.send("ERROR :Closing link: server shutting down")
            await s.server.stream.aclose()
            assert await s.finished() == 1
            gone = [line for line in s.screen.drain() if "disconnected" in line]
            assert gone == ["[12:01] -!- disconnected: Closing link: server shutting down"]


async def test_sending_into_a_broken_connection(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(5):
        client_stream, server_stream = trio.testing.memory_stream_pair()
        async with client_session(stream_pair=(client_stream, server_stream)) as s:
            await s.server.register()
            await server_stream.receive_stream.aclose()
            await s.type("anyone?")
            assert await s.finished() == 1
            assert sum("disconnected" in line for line in s.screen.drain()) == 1


async def test_quit_waits_for_the_server_only_so_long(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(TIMEOUTS.close + 5):
        async with client_session() as s:
            await s.server.register()
            await s.type("/quit see you")
            await s.server.expect("QUIT :see you")
            assert await s.finished() == 0


async def test_cancelled_client_still_says_quit(autojump_clock: trio.abc.Clock) -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    server = FakeServer(server_stream)
    _keyboard, user_lines = trio.open_memory_channel[str](1)
    display, _shown = trio.open_memory_channel[str](100)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:

            async def client() -> None:
                await run_client(
                    client_stream, user_lines, display, nick="alice", timeouts=TIMEOUTS
                )
                pytest.fail("run_client returned instead of being cancelled")

            nursery.start_soon(client)
            await server.register()
            nursery.cancel_scope.cancel()
            with trio.CancelScope(shield=True):
                await server.close_after_quit()

"""Hostile clients change nothing for anyone else.

Each test runs one kind of hostile client against the in-memory server while
a well-behaved pair, alice and bob, chat in the same channel throughout:
each sends a numbered message four times a second and reads the other's.
After the hostile client has done its worst, every message of the pair
must have arrived, in order, with no delay at all in virtual time (the
autojump clock: the only time that passes is the pair's own pacing and
the server's timers), and the hostile client must have been dealt with in
the way that says which limit it hit.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing
import trustme
from harness import IrcClient, MemoryListener, ServerHarness, config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triochat._irc.wire import parse
from triochat._server.server import ChatServer

if TYPE_CHECKING:
    from triochat._irc.wire import Message

#: The most a well-behaved message may take from send to delivery (virtual seconds).
MAX_DELAY = 0.01
#: How often each of the pair speaks.
EVERY = 0.25


@dataclass
class Chat:
    """alice and bob in #room, talking to each other while something else goes on."""

    alice: IrcClient
    bob: IrcClient
    padding: str = ""
    delays: list[float] = field(default_factory=list)
    received: dict[str, list[int]] = field(default_factory=dict)
    #: Everything else the pair saw (JOINs, QUITs, the hostile client's messages).
    others: list[Message] = field(default_factory=list)

    async def talk(self, seconds: float) -> None:
        """Both ways at once for ``seconds``; then check every message came, in order, at once."""
        count = int(seconds / EVERY)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._one_way, self.alice, self.bob, count)
            nursery.start_soon(self._one_way, self.bob, self.alice, count)
        for nick in ("alice", "bob"):
            assert self.received[nick] == list(range(count)), f"{nick}'s messages"
        assert max(self.delays) <= MAX_DELAY

    def quits(self) -> list[tuple[str, str]]:
        """(nick, reason) of each QUIT the pair saw."""
        return [
            ((m.source or "").split("!")[0], m.params[0])
            for m in self.others
            if m.command == "QUIT"
        ]

    async def _one_way(self, sender: IrcClient, receiver: IrcClient, count: int) -> None:
        sent_at: list[float] = []
        got = self.received.setdefault(sender.nick, [])

        async def listen() -> None:
            while len(got) < count:
                message = await receiver.receive()
                if message.command == "PRIVMSG" and (message.source or "").startswith(
                    f"{sender.nick}!"
                ):
                    number = int(message.params[1].split()[1])
                    got.append(number)
                    self.delays.append(trio.current_time() - sent_at[number])
                elif receiver is self.alice:  # one copy of what both see
                    self.others.append(message)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(listen)
            for number in range(count):
                sent_at.append(trio.current_time())
                await sender.send(f"PRIVMSG #room :{sender.nick} {number} {self.padding}")
                await trio.sleep(EVERY)


async def _pair(harness: ServerHarness, padding: str = "") -> Chat:
    alice = await harness.client("alice", channel="#room")
    bob = await harness.client("bob", channel="#room")
    await alice.expect("JOIN", "#room")
    return Chat(alice, bob, padding)


async def _wait_open(server: ChatServer, count: int) -> None:
    """Until only ``count`` connections are open (closing ones included)."""
    while server.open_count != count:  # noqa: ASYNC110 - no event for "connection gone"
        await trio.sleep(0.01)


def _state_holds_only(harness: ServerHarness, *nicks: str) -> None:
    state = harness.server.state
    assert sorted(client.nick for client in state.network.clients.values()) == sorted(nicks)
    assert {
        state.network.clients[conn].nick for conn in state.network.channels["#room"].members
    } == set(nicks)


@pytest.mark.parametrize("server_config", [config(sendq_bytes=20_000)])
async def test_a_client_that_never_reads(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(100):
        chat = await _pair(harness, padding="p" * 100)
        stalled = await harness.connect(lockstep=True)
        await stalled.register("stalled")
        await stalled.join("#room")
        await chat.talk(30)  # 240 messages of 130 bytes: past its 20,000-byte SendQ
        assert chat.quits() == [("stalled", "SendQ exceeded")]
        await _wait_open(harness.server, 2)
        _state_holds_only(harness, "alice", "bob")


@pytest.mark.parametrize(
    "server_config", [config(registration_timeout=5, ping_interval=10, ping_timeout=5)]
)
async def test_a_client_that_vanishes_without_fin(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(100):
        chat = await _pair(harness)
        ghost = await harness.client("ghost", channel="#room")
        del ghost  # never reads, writes or closes again: its network is gone
        await chat.talk(30)
        assert chat.quits() == [("ghost", "Ping timeout: 5 seconds")]
        _state_holds_only(harness, "alice", "bob")


async def test_a_client_whose_line_never_ends(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(100):
        chat = await _pair(harness)
        endless = await harness.client("endless", channel="#room")

        async def send_forever() -> None:
            await endless.send(b"PRIVMSG #room :")
            for _ in range(256):  # 4 MiB without a line break
                await endless.send(b"y" * 16384)
                await trio.sleep(0.1)
            await endless.send(b"\r\nPRIVMSG #room :and now a real line\r\n")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send_forever)
            await chat.talk(30)
        assert (await endless.expect("417")).params[-1] == "Input line was too long"
        assert [m.params for m in chat.others if m.command == "PRIVMSG"] == [
            ("#room", "and now a real line")
        ]
        assert harness.server.connection_count == 3


async def test_a_client_that_floods(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    """The default flood control: delayed first, then disconnected; the pair never waits."""
    with trio.fail_after(100):
        chat = await _pair(harness)
        flooder = await harness.client("flooder", channel="#room")
        sent = 0

        async def flood() -> None:
            nonlocal sent
            try:
                while True:
                    await flooder.send(*(f"PRIVMSG #room :flood {sent + n}" for n in range(100)))
                    sent += 100
                    await trio.sleep(0.1)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

        async with trio.open_nursery() as nursery:
            nursery.start_soon(flood)
            await chat.talk(30)
        assert chat.quits() == [("flooder", "Excess Flood")]
        flooded = [m.params[1] for m in chat.others if m.command == "PRIVMSG"]
        assert flooded == [f"flood {n}" for n in range(len(flooded))]  # delayed, in order
        assert 0 < len(flooded) < sent
        closing = await flooder.wait_closed()
        assert closing[-1].params[0].startswith("Closing link: Excess Flood")
        _state_holds_only(harness, "alice", "bob")


@pytest.fixture(scope="module")
def tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("chat.test").configure_cert(context)
    return context


@pytest.mark.parametrize("server_config", [config(max_per_ip=None)])
async def test_clients_that_open_tls_and_never_handshake(
    autojump_clock: trio.testing.MockClock,
    harness: ServerHarness,
    nursery: trio.Nursery,
    tls_context: ssl.SSLContext,
) -> None:
    # The same server also listens for TLS, on a second in-memory listener.
    tls_transport = MemoryListener()
    tls_listener = trio.SSLListener(tls_transport, tls_context)
    nursery.start_soon(trio.serve_listeners, harness.server.handle_connection, [tls_listener])
    with trio.fail_after(100):
        chat = await _pair(harness)
        start = trio.current_time()
        silent = [await tls_transport.connect() for _ in range(50)]
        await _wait_open(harness.server, 52)  # all of them hold a slot while they wait

        async def dropped(stream: trio.abc.Stream) -> None:
            assert await stream.receive_some(100) == b""
            assert 10 <= trio.current_time() - start < 11  # the handshake timeout

        async with trio.open_nursery() as waiting:
            for stream in silent:
                waiting.start_soon(dropped, stream)
            await chat.talk(30)
        assert harness.server.open_count == 2


async def test_a_client_that_connects_and_disconnects_in_a_tight_loop(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(100):
        chat = await _pair(harness)
        refused = 0

        async def churn() -> None:
            nonlocal refused
            for n in range(1000):
                client = await harness.connect()
                if n % 3 == 1:
                    await client.send(f"NICK churn{n}", "USER u 0 * :r", "JOIN #room")
                elif n % 3 == 2:
                    await client.send(b"NICK half-a-li")
                await client.stream.aclose()
                await trio.sleep(0.01)
            refused = harness.server.refused_count

        async with trio.open_nursery() as nursery:
            nursery.start_soon(churn)
            await chat.talk(30)
        await _wait_open(harness.server, 2)
        _state_holds_only(harness, "alice", "bob")
        joined = {m.source for m in chat.others if m.command == "JOIN"}
        quit_ = {m.source for m in chat.others if m.command == "QUIT"}
        assert joined == quit_
        assert joined
        assert refused < 1000


# -- any bytes at all ------------------------------------------------------------

_FRAGMENTS = st.sampled_from(
    [
        b"NICK fuzz\r\n",
        b"USER u 0 * :r\r\n",
        b"CAP LS 302\r\nCAP REQ :message-tags echo-message server-time\r\nCAP END\r\n",
        b"JOIN #room\r\n",
        b"PRIVMSG #room :hi\r\n",
        b"PRIVMSG alice :\x01ACTION waves\x01\r\n",
        b"@+tag=a\\sb;x :spoof!u@h PRIVMSG #room :tagged\r\n",
        b"NOTICE #room :\r\n",
        b"TOPIC #room :new\r\n",
        b"MODE #room +o fuzz\r\n",
        b"CHATHISTORY LATEST #room * 10\r\n",
        b"PRIVMSG #room :a\x00b\r\n",
        b"PRIVMSG #room :\xff\xfe\r\n",
        b"\r\n\n\r",
        b"PART #room\r\n",
        b"QUIT :gone\r\n",
    ]
)


def _check_wire(data: bytes) -> int:
    """Every line the server wrote: CRLF-terminated, no CR, LF or NUL inside, parses."""
    assert not data or data.endswith(b"\r\n"), data[-50:]
    lines = data.split(b"\r\n")[:-1]
    for line in lines:
        assert b"\r" not in line
        assert b"\n" not in line
        assert b"\0" not in line
        parse(line)
    return len(lines)


async def _fuzz_server(chunks: list[bytes], register: bool) -> None:
    listener = MemoryListener()
    server = ChatServer(config(history=False))
    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve, [listener])
            harness = ServerHarness(server, listener)
            alice = await harness.client("alice", channel="#room")
            fuzzer = await harness.connect()
            if register:
                await fuzzer.register("fuzzer")
                await fuzzer.join("#room")
            for chunk in chunks:
                await fuzzer.send(chunk)
            await fuzzer.send(b"\r\nPING :fuzz-done\r\n")
            written = b""
            while b"fuzz-done" not in written:  # the server read all of it, or closed
                data = await fuzzer.stream.receive_some(65536)
                if not data:
                    break
                written += data
            await fuzzer.stream.aclose()
            _check_wire(written.rpartition(b"\r\n")[0] + b"\r\n" if written else b"")
            await harness.wait_connections(1)
            await alice.send("PING :alice-done")
            seen = b""
            while b"alice-done" not in seen:
                seen += await alice.stream.receive_some(65536)
            _check_wire(seen)
            assert [client.nick for client in server.state.network.clients.values()] == ["alice"]
            await alice.stream.aclose()
            nursery.cancel_scope.cancel()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    chunks=st.lists(st.binary(max_size=300) | _FRAGMENTS, max_size=25),
    register=st.booleans(),
)
def test_any_bytes_from_a_client_never_crash_the_server(
    chunks: list[bytes], register: bool
) -> None:
    """Random bytes (and nasty fragments), in any chunking, from a registered client or not.

    The server keeps running, every line it writes to anyone is well framed and
    parses, and once the fuzzer hangs up the room holds alice alone.
    """
    trio.run(_fuzz_server, chunks, register, clock=trio.testing.MockClock(autojump_threshold=0))

"""The server's trio layer, entirely in memory: connections, timers, fan-out, shutdown.

Every test runs on the autojump clock under ``trio.fail_after``: waiting a
minute of virtual time costs nothing, and a deadlock fails at once.
"""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing
from harness import MemoryListener, ServerHarness, config

from triochat._config import ServerConfig
from triochat._server import connection
from triochat._server.server import ChatServer
from triochat._state.machine import ServerState


async def test_two_clients_chat_in_a_channel(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(5):
        alice = await harness.client("alice", channel="#lobby")
        bob = await harness.client("bob", channel="#lobby")
        joined = await alice.expect("JOIN")
        assert joined.source == "bob!~bob@localhost"
        await alice.send("PRIVMSG #lobby :hello, room")
        said = await bob.expect("PRIVMSG")
        assert said.source == "alice!~alice@localhost"
        assert said.params == ("#lobby", "hello, room")


async def test_echo_and_server_time_are_per_recipient(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(5):
        alice = await harness.client("alice", caps="echo-message server-time", channel="#a")
        bob = await harness.client("bob", channel="#a")
        await alice.send("@+draft/reply=x PRIVMSG #a :tagged")
        echoed = await alice.expect("PRIVMSG")
        assert set(echoed.tags) == {"time"}  # server-time only: no client tags
        plain = await bob.expect("PRIVMSG")
        assert plain.tags == {}
        assert plain.params == echoed.params == ("#a", "tagged")


async def test_message_tags_client_receives_client_tags(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(5):
        alice = await harness.client("alice", channel="#a")
        bob = await harness.client("bob", caps="message-tags", channel="#a")
        await alice.send("@+draft/react=x;secret=1 PRIVMSG #a :hi")
        received = await bob.expect("PRIVMSG")
        assert received.tags == {"+draft/react": "x", "msgid": received.tags["msgid"]}


async def test_quit_says_goodbye_and_peers_see_it(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(5):
        alice = await harness.client("alice", channel="#a")
        bob = await harness.client("bob", channel="#a")
        await bob.send("QUIT :see you")
        rest = await bob.wait_closed()
        assert rest[-1].command == "ERROR"
        quit_message = await alice.expect("QUIT")
        assert quit_message.source == "bob!~bob@localhost"
        assert quit_message.params == ("Quit: see you",)
        await harness.wait_connections(1)
        assert harness.server.state.network.channels["#a"].members.keys() == {
            harness.server.state.network.nicks["alice"].conn
        }


async def test_client_vanishing_mid_line_is_removed_at_once(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(5):
        alice = await harness.client("alice", channel="#a")
        bob = await harness.client("bob", channel="#a")
        await bob.send(b"PRIVMSG #a :half a li")
        await bob.stream.aclose()
        quit_message = await alice.expect("QUIT")
        assert quit_message.params == ("Connection closed",)
        await harness.wait_connections(1)
        assert [c.nick for c in harness.server.state.network.clients.values()] == ["alice"]
        await alice.sync()  # the partial line never reached the room


async def test_reset_while_server_writes_is_an_ordinary_disconnect(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(5):
        alice = await harness.client("alice", channel="#a")
        bob = await harness.client("bob", channel="#a")
        await trio.aclose_forcefully(bob.stream)  # the server's next write to bob breaks
        await alice.send("PRIVMSG #a :are you there?")
        quit_message = await alice.expect("QUIT")
        assert quit_message.source is not None
        assert quit_message.source.startswith("bob!")
        await harness.wait_connections(1)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("server_config", [config(registration_timeout=30)])
async def test_unregistered_connection_is_dropped_after_timeout(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(60):
        silent = await harness.connect()
        start = trio.current_time()
        messages = await silent.wait_closed()
        assert 30 <= trio.current_time() - start < 31
        assert messages[-1].command == "ERROR"
        assert "Registration timed out" in messages[-1].params[0]
        await harness.wait_connections(0)


@pytest.mark.parametrize("server_config", [config(registration_timeout=30)])
async def test_silent_unregistered_client_does_not_block_others(
    autojump_clock: trio.testing.MockClock,
    harness: ServerHarness,
) -> None:
    with trio.fail_after(5):
        start = trio.current_time()
        await harness.connect()  # connects and never sends its nickname
        alice = await harness.client("alice")  # still welcomed at once
        assert trio.current_time() - start < 1
        await alice.sync()


@pytest.mark.parametrize("server_config", [config(ping_interval=100, ping_timeout=20)])
async def test_idle_client_is_pinged_and_kept_when_it_answers(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(500):
        alice = await harness.client("alice", channel="#a")
        ping = await alice.expect("PING")
        assert 99 <= trio.current_time() <= 101
        await alice.send(f"PONG :{ping.params[0]}")
        await alice.expect("PING")  # pinged again after the next idle interval
        assert trio.current_time() >= 199
        assert harness.server.connection_count == 1


@pytest.mark.parametrize("server_config", [config(ping_interval=100, ping_timeout=20)])
async def test_half_open_client_is_dropped_at_ping_timeout(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(500):
        alice = await harness.client("alice", channel="#a")
        ghost = await harness.client("ghost", channel="#a")
        await alice.expect("JOIN")
        del ghost  # never reads or writes again, like a peer whose network vanished
        # alice keeps talking, so only the ghost goes silent
        async with trio.open_nursery() as nursery:

            async def keep_alive() -> None:
                while True:
                    await trio.sleep(50)
                    await alice.send("PING :still here")

            nursery.start_soon(keep_alive)
            quit_message = await alice.expect("QUIT")
            nursery.cancel_scope.cancel()
        assert quit_message.source is not None
        assert quit_message.source.startswith("ghost!")
        assert quit_message.params == ("Ping timeout: 20 seconds",)
        assert 119 <= trio.current_time() <= 125


# The SendQ is larger than what one 64 KiB read can fan out to a reader (DESIGN:
# "fairness before kicking"), and much smaller than the flood the stalled client misses.
# The talker is a trusted bot: no flood control (tests/test_hostile.py has the flooder).
@pytest.mark.parametrize("server_config", [config(sendq_bytes=200_000, flood_control=False)])
async def test_client_that_stops_reading_is_kicked_and_nobody_waits(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(5):
        talker = await harness.client("talker", channel="#a")
        reader = await harness.client("reader", channel="#a")
        stalled = await harness.connect(lockstep=True)
        await stalled.register("stalled")
        await stalled.join("#a")
        await talker.expect("JOIN", "#a")
        count = 5000
        others = []
        async with trio.open_nursery() as nursery:

            async def read_everything() -> None:
                n = 0
                while n < count:
                    message = await reader.receive()
                    if message.command != "PRIVMSG":
                        others.append(message)
                        continue
                    assert message.params[1].startswith(f"message number {n:05}")
                    n += 1

            nursery.start_soon(read_everything)
            padding = "padding " * 5
            await talker.send(
                *(f"PRIVMSG #a :message number {n:05} {padding}" for n in range(count))
            )
            await talker.sync()  # the talker is never blocked by the stalled reader
        assert [message.command for message in others] == ["JOIN", "QUIT"]  # stalled's
        quit_message = others[1]
        assert quit_message.source is not None
        assert quit_message.source.startswith("stalled!")
        assert quit_message.params == ("SendQ exceeded",)
        await harness.wait_connections(2)


# A trusted bot's burst (no flood control): tests/test_hostile.py has the flood-controlled one.
@pytest.mark.parametrize("server_config", [config(flood_control=False)])
async def test_flood_reaches_everyone_without_loss_or_kicks(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(30):
        sender = await harness.client("sender", channel="#a")
        readers = [await harness.client(f"r{n}", channel="#a") for n in range(5)]
        count = 5000
        await sender.send(*(f"PRIVMSG #a :{n} {'x' * 64}" for n in range(count)))

        async def read_all(client_index: int) -> None:
            for n in range(count):
                message = await readers[client_index].expect("PRIVMSG")
                assert message.params[1].split()[0] == str(n)

        async with trio.open_nursery() as nursery:
            for index in range(len(readers)):
                nursery.start_soon(read_all, index)
        assert harness.server.connection_count == 6


async def test_garbage_bytes_get_answers_and_change_nothing(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(5):
        alice = await harness.client("alice", channel="#a")
        bob = await harness.client("bob", channel="#a")
        await bob.send(b"\xff\xfe\x00\x01garbage\r\n", b"\x00\r\n", b":only-a-source\r\n")
        await bob.send(b"PRIVMSG #a :caf\xe9\r\n")  # Latin-1, not UTF-8
        answers = [await bob.receive() for _ in range(4)]
        assert [m.command for m in answers] == ["FAIL", "400", "400", "FAIL"]
        assert answers[3].params[:2] == ("PRIVMSG", "INVALID_UTF8")
        await bob.send("PRIVMSG #a :café, in UTF-8")
        said = await alice.expect("PRIVMSG")
        assert said.params == ("#a", "café, in UTF-8")


async def test_endless_line_is_refused_once_and_reading_goes_on(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(5):
        alice = await harness.client("alice", channel="#a")
        bob = await harness.client("bob", channel="#a")
        for _ in range(64):  # 1 MiB without a line break, in pieces
            await bob.send(b"y" * 16384)
        await bob.send(b"QUIT :the tail of a refused line never runs\r\n")
        await bob.send("PRIVMSG #a :still here")
        assert (await bob.receive()).command == "417"
        said = await alice.expect("PRIVMSG")
        assert said.params == ("#a", "still here")
        assert harness.server.connection_count == 2


async def test_a_bug_in_one_connection_reaches_nobody_else(
    autojump_clock: trio.testing.MockClock,
    harness: ServerHarness,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real_handle = ServerState.handle

    def handle_with_bug(self: ServerState, conn: object, message: object) -> object:
        if getattr(message, "command", "") == "VERSION":
            raise RuntimeError("a bug in a command handler")
        return real_handle(self, conn, message)  # type: ignore[arg-type]

    monkeypatch.setattr(ServerState, "handle", handle_with_bug)
    with trio.fail_after(5):
        alice = await harness.client("alice", channel="#a")
        bob = await harness.client("bob", channel="#a")
        await bob.send("VERSION")
        await bob.wait_closed()
        quit_message = await alice.expect("QUIT")
        assert quit_message.params == ("Internal server error",)
        carol = await harness.client("carol", channel="#a")  # still accepting
        await alice.send("PRIVMSG #a :all fine")
        assert (await carol.expect("PRIVMSG")).params[1] == "all fine"
    assert any("a bug in a command handler" in r.getMessage() or r.exc_info for r in caplog.records)


async def serve_until_stopped(
    nursery: trio.Nursery, server_config: ServerConfig
) -> tuple[ServerHarness, trio.Event, trio.Event]:
    """A server with a shutdown trigger: set ``stop`` to shut it down; ``done`` when it has."""
    harness = ServerHarness(ChatServer(server_config), MemoryListener())
    stop, done = trio.Event(), trio.Event()

    async def run() -> None:
        await harness.server.serve([harness.listener], shutdown_trigger=stop.wait)
        done.set()

    nursery.start_soon(run)
    return harness, stop, done


async def test_shutdown_tells_every_client_then_returns(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    harness, stop, done = await serve_until_stopped(nursery, config())
    with trio.fail_after(10):
        alice = await harness.client("alice", channel="#a")
        bob = await harness.client("bob", channel="#a")
        stop.set()
        for client in (alice, bob):
            messages = await client.wait_closed()
            assert messages[-1].command == "ERROR"
            assert messages[-1].params == ("Server shutting down",)
        await done.wait()
    with pytest.raises(trio.BrokenResourceError):
        await harness.listener.connect()  # no longer accepting


async def test_shutdown_grace_bounds_a_client_that_never_reads(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    harness, stop, done = await serve_until_stopped(nursery, config(shutdown_grace=3))
    with trio.fail_after(10):
        stuck = await harness.connect(lockstep=True)
        await stuck.register("stuck")  # and never reads again
        stop.set()
        start = trio.current_time()
        await done.wait()
        assert trio.current_time() - start <= 3.5


async def test_connect_disconnect_churn_leaves_nothing_behind(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(30):
        alice = await harness.client("alice", channel="#a")
        for n in range(200):
            client = await harness.connect()
            if n % 2:
                await client.send(f"NICK churn{n}", "USER u 0 * :r", "JOIN #a")
            await client.stream.aclose()
        await harness.wait_connections(1)
        await alice.sync()
        state = harness.server.state
        assert list(state.network.clients) == [state.network.nicks["alice"].conn]
        assert list(state.network.channels["#a"].members) == [state.network.nicks["alice"].conn]


async def test_two_servers_share_no_state(autojump_clock: trio.testing.MockClock) -> None:
    first, second = ChatServer(config()), ChatServer(config())
    first_listener, second_listener = MemoryListener(), MemoryListener()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(first.serve, [first_listener])
            await nursery.start(second.serve, [second_listener])
            one = await ServerHarness(first, first_listener).client("sam")
            two = await ServerHarness(second, second_listener).client("sam")  # no 433
            await one.sync()
            await two.sync()
            assert len(first.state.network.clients) == len(second.state.network.clients) == 1
            nursery.cancel_scope.cancel()


def test_default_config_is_the_documented_one() -> None:
    defaults = ServerConfig()
    assert (defaults.registration_timeout, defaults.ping_interval) == (60.0, 120.0)
    assert defaults.sendq_bytes >= 1 << 20  # a busy server never kicks a healthy client


async def test_every_so_many_reads_what_is_pending_is_written_out_in_mid_round(
    autojump_clock: trio.testing.MockClock,
    harness: ServerHarness,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A join storm wakes thousands of readers in one round: their output must not all
    wait in memory for the end of it. Here every third read writes out what is pending."""
    monkeypatch.setattr(connection, "READS_PER_FLUSH", 3)
    server = harness.server
    with trio.fail_after(10):
        alice = await harness.client("alice", channel="#a")
        bob = await harness.client("bob", channel="#a")
        await alice.expect("JOIN", "#a")
        flushes = 0
        flush = server.delivery.flush

        def counted_flush() -> None:
            nonlocal flushes
            flushes += 1
            flush()

        monkeypatch.setattr(server.delivery, "flush", counted_flush)
        server.reads_until_flush = 3
        for n in range(6):
            await bob.send(f"PRIVMSG #a :{n}")
            await trio.testing.wait_all_tasks_blocked()  # one read each
        assert flushes == 2
        for n in range(6):
            assert (await alice.expect("PRIVMSG")).params == ("#a", str(n))

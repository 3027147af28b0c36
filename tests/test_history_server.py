"""History through the server, in memory: replay, CHATHISTORY, restarts, failures.

Most tests use the autojump clock and a ``:memory:`` store, which runs inline
(no thread), so the virtual clock never jumps while the database works. The
tests about the worker thread itself (flush on shutdown, a blocked writer, an
interrupted query) use a real file and wait on events, never on time.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from functools import partial
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing
from harness import IrcClient, MemoryListener, ServerHarness, config

from triochat._history.records import UNBOUNDED, HistoryEntry, HistoryQuery
from triochat._history.service import GROUP_COMMIT_SECONDS, History
from triochat._history.store import HistoryStore
from triochat._server.server import ChatServer, serve

if TYPE_CHECKING:
    from pathlib import Path

    from triochat._config import ServerConfig
    from triochat._irc.wire import Message

FULL_CAPS = "batch server-time message-tags echo-message draft/chathistory"


def texts(messages: list[Message]) -> list[str]:
    return [message.params[-1] for message in messages]


async def chathistory(client: IrcClient, request: str) -> list[Message]:
    """Send ``CHATHISTORY request`` and return the messages of the batch that answers."""
    await client.send(f"CHATHISTORY {request}")
    _, inside = await client.batch()
    return inside


async def running_server(
    nursery: trio.Nursery, server_config: ServerConfig, store: HistoryStore | None = None
) -> ServerHarness:
    listener = MemoryListener()
    server = ChatServer(server_config, store=store)
    await nursery.start(server.serve, [listener])
    return ServerHarness(server, listener)


# ---------------------------------------------------------------------------
# Replay on JOIN
# ---------------------------------------------------------------------------


async def test_a_newcomer_reads_the_last_messages_as_history(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(5):
        alice = await harness.client("alice", channel="#room")
        for text in ("one", "two", "three"):
            await alice.send(f"PRIVMSG #room :{text}")
        await alice.sync()
        bob = await harness.client("bob", channel="#room")  # a plain client
        replay = await bob.collect_until("NOTICE")
        assert replay[-1].params[1].startswith("*** Replaying the last 3 message(s) of #room")
        lines = await bob.collect_until("NOTICE")
        assert [line.params[1][22:] for line in lines[:-1]] == ["one", "two", "three"]
        assert all(line.params[1].startswith("[20") for line in lines[:-1])
        assert lines[-1].params[1] == "*** End of replay: what follows is live"
        carol = await harness.client("carol", caps="batch server-time", channel="#room")
        opening, inside = await carol.batch()
        assert opening.params[1:] == ("chathistory", "#room")
        assert texts(inside) == ["one", "two", "three"]
        assert all("time" in message.tags for message in inside)


async def test_replay_and_live_chat_keep_their_order(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(5):
        alice = await harness.client("alice", channel="#room")
        await alice.send("PRIVMSG #room :before")
        bob = await harness.connect()
        await bob.register("bob", caps="batch server-time")
        # bob joins and alice speaks at once: history first, then the live line.
        await bob.send("JOIN #room")
        await alice.send("PRIVMSG #room :after")
        _, inside = await bob.batch()
        assert texts(inside) == ["before"]
        live = await bob.expect("PRIVMSG")
        assert live.params[1] == "after"
        assert "batch" not in live.tags


@pytest.mark.parametrize("server_config", [config(history=False)])
async def test_without_history_there_is_no_replay_and_no_chathistory(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    assert harness.server.history is None
    with trio.fail_after(5):
        alice = await harness.client("alice", channel="#room")
        await alice.send("PRIVMSG #room :gone with the wind")
        await alice.sync()
        bob = await harness.client("bob", channel="#room")
        await bob.send("CHATHISTORY LATEST #room * 10")
        reply = await bob.expect("421")
        assert not [message for message in bob.skipped if message.command == "PRIVMSG"]
        assert reply.params[1] == "CHATHISTORY"


# ---------------------------------------------------------------------------
# CHATHISTORY
# ---------------------------------------------------------------------------


async def test_chathistory_pages_through_a_channel(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(30):
        alice = await harness.client("alice", caps=FULL_CAPS, channel="#room")
        sent = []
        for n in range(10):
            await alice.send(f"PRIVMSG #room :message {n}")
            sent.append(await alice.expect("PRIVMSG"))
        ids = [message.tags["msgid"] for message in sent]
        times = [message.tags["time"] for message in sent]
        assert len(set(ids)) == 10
        long_ago, far_ahead = "timestamp=2000-01-01T00:00:00.000Z", "timestamp=2999-01-01T00:00:00Z"

        def of(messages: list[Message]) -> list[str]:
            return [message.tags["msgid"] for message in messages]

        assert of(await chathistory(alice, "LATEST #room * 100")) == ids
        assert of(await chathistory(alice, "LATEST #room * 5")) == ids[-5:]
        assert of(await chathistory(alice, f"LATEST #room msgid={ids[4]} 100")) == ids[5:]
        assert of(await chathistory(alice, f"BEFORE #room msgid={ids[6]} 100")) == ids[:6]
        assert of(await chathistory(alice, f"BEFORE #room msgid={ids[6]} 2")) == ids[4:6]
        assert of(await chathistory(alice, f"AFTER #room msgid={ids[3]} 3")) == ids[4:7]
        assert of(await chathistory(alice, f"AROUND #room msgid={ids[7]} 3")) == ids[6:9]
        between = f"BETWEEN #room msgid={ids[-1]} msgid={ids[0]} 3"
        assert of(await chathistory(alice, between)) == ids[-4:-1]
        assert of(await chathistory(alice, f"AFTER #room {long_ago} 3")) == ids[:3]
        assert of(await chathistory(alice, f"BEFORE #room {far_ahead} 3")) == ids[-3:]
        between = f"BETWEEN #room {far_ahead} {long_ago} 2"
        assert of(await chathistory(alice, between)) == ids[-2:]
        # What is returned is what was relayed: same source, text, time and id.
        [last] = await chathistory(alice, "LATEST #room * 1")
        assert (last.source, last.params, last.tags["time"]) == (
            sent[-1].source,
            sent[-1].params,
            times[-1],
        )


async def test_a_query_sees_every_message_sent_before_it(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(5):
        alice = await harness.client("alice", caps=FULL_CAPS, channel="#room")
        # In one packet: the writer has not run yet when the query arrives.
        await alice.send(
            *(f"PRIVMSG #room :n{n}" for n in range(5)), "CHATHISTORY LATEST #room * 9"
        )
        _, inside = await alice.batch()
        assert texts(inside) == [f"n{n}" for n in range(5)]


async def test_private_history_is_for_the_two_who_spoke_only(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(10):
        alice = await harness.client("alice", caps=FULL_CAPS)
        bob = await harness.client("bob", caps=FULL_CAPS)
        carol = await harness.client("carol", caps=FULL_CAPS)
        await alice.send("PRIVMSG bob :hi bob")
        await bob.expect("PRIVMSG")
        await bob.send("PRIVMSG alice :hi alice")
        await alice.expect("PRIVMSG")
        assert texts(await chathistory(bob, "LATEST alice * 10")) == ["hi bob", "hi alice"]
        assert texts(await chathistory(alice, "LATEST BOB * 10")) == ["hi bob", "hi alice"]
        # carol asks about either of them: carol has no conversation with them.
        assert await chathistory(carol, "LATEST alice * 10") == []
        assert await chathistory(carol, "LATEST bob * 10") == []
        # bob leaves; whoever takes the nick next does not inherit the conversation.
        await bob.send("QUIT")
        await bob.wait_closed()
        await harness.wait_connections(2)
        mallory = await harness.client("bob", caps=FULL_CAPS)
        assert await chathistory(mallory, "LATEST alice * 10") == []
        await mallory.send(
            "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00Z timestamp=2999-01-01T00:00:00Z 10"
        )
        _, listed = await mallory.batch("draft/chathistory-targets")
        assert listed == []
        # Private messages are never replayed into a channel.
        await alice.join("#room")
        dave = await harness.client("dave", caps="batch server-time")
        await dave.send("JOIN #room")
        names_end = await dave.expect("366")
        assert names_end.params[1] == "#room"
        await dave.sync()
        assert not [m for m in dave.skipped if m.command in ("PRIVMSG", "BATCH")]


async def test_targets_lists_the_askers_conversations(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(5):
        alice = await harness.client("alice", caps=FULL_CAPS, channel="#room")
        bob = await harness.client("bob", caps=FULL_CAPS, channel="#elsewhere")
        await alice.send("PRIVMSG #room :room talk")
        await trio.sleep(1)
        await bob.send("PRIVMSG #elsewhere :not for alice", "PRIVMSG alice :psst")
        await alice.expect("PRIVMSG", "alice")
        await alice.send(
            "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00Z timestamp=2999-01-01T00:00:00Z 10"
        )
        _, listed = await alice.batch("draft/chathistory-targets")
        assert [message.params[:2] for message in listed] == [
            ("TARGETS", "#room"),
            ("TARGETS", "bob"),
        ]


async def test_hostile_requests_get_fail_and_the_connection_goes_on(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(5):
        owner = await harness.client("owner", channel="#private")
        await owner.send("PRIVMSG #private :the plan")
        await owner.sync()
        eve = await harness.client("eve", caps=FULL_CAPS)
        for request, code in [
            ("LATEST #private * 10", "INVALID_TARGET"),
            ("AROUND #private msgid=x 10", "INVALID_TARGET"),
            ("LATEST owner,eve * 10", "INVALID_TARGET"),
            ("BEFORE eve timestamp=2024-99-99T99:99:99.999Z 10", "INVALID_PARAMS"),
            ("LATEST eve * 99999999999999999999999999", None),  # clamped, answered
            ("BETWEEN eve * * 10", "INVALID_PARAMS"),
            ("DROP TABLE messages", "UNKNOWN_COMMAND"),
        ]:
            await eve.send(f"CHATHISTORY {request}")
            if code is None:
                await eve.batch()
            else:
                fail = await eve.expect("FAIL")
                assert fail.params[:2] == ("CHATHISTORY", code), request
        await eve.sync()
        assert not [m for m in eve.skipped if m.command == "PRIVMSG"]


# ---------------------------------------------------------------------------
# Restart
# ---------------------------------------------------------------------------


async def test_history_survives_a_restart(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    path = tmp_path / "history.db"
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            first = await running_server(nursery, config(), HistoryStore.open(path, threaded=False))
            alice = await first.client("alice", channel="#room")
            for text in ("one", "two", "three"):
                await alice.send(f"PRIVMSG #room :{text}")
            await alice.sync()
            nursery.cancel_scope.cancel()  # the server is cancelled; it flushes anyway
        async with trio.open_nursery() as nursery:
            second = await running_server(
                nursery, config(), HistoryStore.open(path, threaded=False)
            )
            bob = await second.client("bob", caps="batch server-time")
            await bob.send("JOIN #room")
            _, inside = await bob.batch()
            assert texts(inside) == ["one", "two", "three"]
            assert [message.source for message in inside] == ["alice!~alice@localhost"] * 3
            nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------------
# The worker thread: never in the way, flushed on shutdown
# ---------------------------------------------------------------------------


@pytest.fixture
def held_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[HistoryStore, threading.Event]:
    """A real file whose writes wait (in the worker thread) until the event is set."""
    store = HistoryStore.open(tmp_path / "held.db")
    gate = threading.Event()
    append_many = store.append_many

    def held(entries: list[HistoryEntry]) -> None:
        gate.wait(10)
        append_many(entries)

    monkeypatch.setattr(store, "append_many", held)
    return store, gate


def saved_count(store: HistoryStore) -> int:
    db = sqlite3.connect(store.path)
    try:
        return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])
    finally:
        db.close()


async def test_a_stuck_database_never_delays_the_chat_and_shutdown_flushes_it(
    held_store: tuple[HistoryStore, threading.Event],
) -> None:
    store, gate = held_store
    stop = trio.Event()
    listener = MemoryListener()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            chat = config(flood_control=False)  # 200 lines at once, not delayed
            run = partial(serve, [listener], chat, store=store, shutdown_trigger=stop.wait)
            server = await nursery.start(run)
            harness = ServerHarness(server, listener)
            alice = await harness.client("alice", channel="#room")
            bob = await harness.client("bob", channel="#room")
            for n in range(200):
                await alice.send(f"PRIVMSG #room :message {n}")
            for n in range(200):  # delivered while the writer is stuck
                assert (await bob.expect("PRIVMSG")).params[1] == f"message {n}"
            assert saved_count(store) == 0
            stop.set()
            for client in (alice, bob):
                await client.wait_closed()
                await client.stream.aclose()
            gate.set()
    assert saved_count(store) == 200
    assert server.history is not None
    assert (server.history.saved, server.history.lost) == (200, 0)


async def test_a_query_that_stops_waiting_is_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled, a runaway statement is interrupted, so the next call does not wait for it."""
    store = HistoryStore.open(tmp_path / "runaway.db")
    history = History(store)
    started = threading.Event()

    def mark_started() -> int:
        started.set()
        return 1

    store._db.create_function("started", 0, mark_started)
    fetch = store.fetch

    def runaway(query: HistoryQuery) -> list[HistoryEntry]:
        monkeypatch.setattr(store, "fetch", fetch)  # only the first query runs away
        forever = "WITH RECURSIVE c(x) AS (SELECT started() UNION ALL SELECT x + 1 FROM c)"
        store._db.execute(f"{forever} SELECT count(*) FROM c").fetchone()
        return []

    monkeypatch.setattr(store, "fetch", runaway)
    query = HistoryQuery("LATEST", "#r", ("#r",), "s", UNBOUNDED, UNBOUNDED, 10)
    with trio.fail_after(10):
        async with history.running():
            async with trio.open_nursery() as nursery:
                nursery.start_soon(history.fetch, query)
                await trio.to_thread.run_sync(started.wait)
                nursery.cancel_scope.cancel()
            assert await history.fetch(query) == []  # the limiter came back


# ---------------------------------------------------------------------------
# A failing database
# ---------------------------------------------------------------------------


@pytest.fixture
def memory_store() -> HistoryStore:
    return HistoryStore.open(":memory:")


@pytest.fixture
async def chat(nursery: trio.Nursery, memory_store: HistoryStore) -> ServerHarness:
    return await running_server(nursery, config(), memory_store)


def history_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "triochat.history" and record.levelno >= logging.ERROR
    ]


@pytest.mark.parametrize(
    ("pragma", "reason"),
    [("query_only=ON", "readonly"), ("max_page_count=1", "full")],
)
async def test_a_failing_database_is_logged_once_and_the_chat_goes_on(
    autojump_clock: trio.testing.MockClock,
    chat: ServerHarness,
    memory_store: HistoryStore,
    caplog: pytest.LogCaptureFixture,
    pragma: str,
    reason: str,
) -> None:
    with trio.fail_after(10):
        alice = await chat.client("alice", caps=FULL_CAPS, channel="#room")
        bob = await chat.client("bob", channel="#room")
        memory_store._db.execute(f"PRAGMA {pragma}")
        for n in range(20):
            await alice.send(f"PRIVMSG #room :{'x' * 300} {n}")
            assert (await bob.expect("PRIVMSG")).params[1].endswith(f" {n}")
        history = chat.server.history
        assert history is not None
        await history.settled()
        [error] = history_errors(caplog)
        assert "cannot save messages to :memory:" in error
        assert reason in error
        assert "The chat goes on" in error
        lost = history.lost
        # Read-only loses every message; a full disk loses the groups that did not fit
        # (with group commit these 20 are often one group, so all of them).
        assert lost == 20 if reason == "readonly" else 0 < lost <= 20
        # The database recovers: saving resumes, and says so.
        memory_store._db.execute("PRAGMA query_only=OFF")
        memory_store._db.execute("PRAGMA max_page_count=1073741823")
        await alice.send("PRIVMSG #room :back")
        assert texts(await chathistory(alice, "LATEST #room * 1")) == ["back"]
        recovered = f"saving messages works again ({lost} message(s) lost meanwhile)"
        assert recovered in caplog.messages
        assert len(history_errors(caplog)) == 1


async def test_a_failing_query_gets_message_error_and_the_chat_goes_on(
    autojump_clock: trio.testing.MockClock,
    chat: ServerHarness,
    memory_store: HistoryStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with trio.fail_after(10):
        alice = await chat.client("alice", caps=FULL_CAPS, channel="#room")
        memory_store._db.execute("DROP TABLE messages")
        for _ in range(3):
            await alice.send("CHATHISTORY LATEST #room * 10")
            fail = await alice.expect("FAIL")
            assert fail.params == (
                "CHATHISTORY",
                "MESSAGE_ERROR",
                "LATEST",
                "#room",
                "Messages could not be retrieved",
            )
        await alice.sync()
        assert len([e for e in history_errors(caplog) if "cannot read" in e]) == 1


async def test_a_slow_query_gets_message_error_in_time(
    autojump_clock: trio.testing.MockClock,
    held_store: tuple[HistoryStore, threading.Event],
    nursery: trio.Nursery,
) -> None:
    store, gate = held_store
    harness = await running_server(
        nursery, config(history_query_timeout=5, ping_interval=10_000), store
    )
    try:
        with trio.fail_after(60):
            alice = await harness.client("alice", caps=FULL_CAPS, channel="#room")
            await alice.send("PRIVMSG #room :stuck in the queue")
            await alice.send("CHATHISTORY LATEST #room * 10")  # waits for the stuck writer
            fail = await alice.expect("FAIL")
            assert fail.params[:3] == ("CHATHISTORY", "MESSAGE_ERROR", "LATEST")
    finally:
        gate.set()


# ---------------------------------------------------------------------------
# Retention
# ---------------------------------------------------------------------------


def entry(n: int, time_ms: int, key: str = "#room") -> HistoryEntry:
    return HistoryEntry(time_ms, f"id{key}{n}", key, key, "a!b@c", "PRIVMSG", f"text {n}")


async def test_retention_prunes_by_age_now_and_then(
    autojump_clock: trio.testing.MockClock, memory_store: HistoryStore
) -> None:
    day_ms = 86_400_000
    now = 1_700_000_000.0
    history = History(
        memory_store, max_age=86_400, prune_interval=3600, clock=lambda: now + trio.current_time()
    )
    memory_store.append_many([entry(0, int(now * 1000) - 2 * day_ms), entry(1, int(now * 1000))])
    async with history.running():
        await trio.testing.wait_all_tasks_blocked()
        assert memory_store.count() == 1  # pruned at start
        await trio.sleep(86_400 + 2 * 3600)  # the survivor ages past the limit
        assert memory_store.count() == 0


async def test_retention_caps_each_conversation(
    autojump_clock: trio.testing.MockClock, memory_store: HistoryStore
) -> None:
    history = History(memory_store, max_per_key=2)
    memory_store.append_many([entry(n, n) for n in range(5)] + [entry(9, 9, "#other")])
    async with history.running():
        await trio.testing.wait_all_tasks_blocked()
        assert memory_store.count() == 3


async def test_a_query_saves_the_gathering_group_at_once(
    autojump_clock: trio.testing.MockClock, chat: ServerHarness
) -> None:
    """Group commit waits up to GROUP_COMMIT_SECONDS, but never makes a reader wait for it."""
    with trio.fail_after(10):
        alice = await chat.client("alice", caps=FULL_CAPS, channel="#room")
        await alice.send("PRIVMSG #room :just said")
        start = trio.current_time()
        assert texts(await chathistory(alice, "LATEST #room * 1")) == ["just said"]
        assert trio.current_time() - start < GROUP_COMMIT_SECONDS / 10


async def test_a_full_write_queue_drops_and_says_so_and_keeps_the_rest(
    autojump_clock: trio.testing.MockClock,
    memory_store: HistoryStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The queue to the writer has a bound: past it a message is counted lost, never waited for."""
    history = History(memory_store, queue_size=2)
    async with history.running():
        for n in range(3):  # the writer gathers: nothing is taken before the group's deadline
            history.record(entry(n, n))
        assert (history.lost, history.queue_depth) == (1, 2)
        assert "the write queue is full" in caplog.text
        await history.settled()
        history.record(entry(3, 3))  # room again: taken, and the recovery is logged
        query = HistoryQuery("LATEST", "#room", ("#room",), "s", UNBOUNDED, UNBOUNDED, 10)
        saved = await history.fetch(query)
    assert sorted(e.text for e in saved) == ["text 0", "text 1", "text 3"]
    assert (history.saved, history.lost) == (3, 1)
    assert "the write queue has room again" in caplog.text


async def test_shutdown_saves_what_is_queued_without_waiting_for_the_group(
    autojump_clock: trio.testing.MockClock, memory_store: HistoryStore
) -> None:
    history = History(memory_store)
    async with history.running():
        history.record(entry(0, 0))
        start = trio.current_time()
    assert trio.current_time() - start < GROUP_COMMIT_SECONDS
    assert (history.saved, history.lost) == (1, 0)
    history.record(entry(1, 1))  # after shutdown: counted lost, not queued
    assert history.lost == 1

"""The cluster's read loop writes what it applied at once (in-memory store, virtual time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
import trio.testing
from cluster_harness import start_node

from triochat._cluster.bus import MemoryStore
from triochat._cluster.events import Hello, Line, Lost

if TYPE_CHECKING:
    import pytest


async def test_a_message_from_another_node_is_written_without_waiting_for_the_flusher(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cross-node message has already waited a round trip to the store: the read loop
    writes each read's deliveries itself instead of leaving them to the flusher's next
    scheduling round (here the flusher of node b is never woken, so only that can deliver)."""
    with trio.fail_after(30):
        store = MemoryStore()
        a = await start_node(nursery, store, "a")
        b = await start_node(nursery, store, "b")
        alice = await a.client("alice", channel="#room")
        bob = await b.client("bob", channel="#room")
        await alice.expect("JOIN")
        flusher = b.harness.server.delivery.flusher

        monkeypatch.setattr(flusher, "wake", lambda: None)  # outboxes fall due, unflushed
        await alice.send("PRIVMSG #room :hello")
        said = await bob.expect("PRIVMSG")
        assert said.params == ("#room", "hello")


async def test_a_node_cut_off_briefly_delivers_what_the_others_logged_meanwhile(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """A link dropped under load (a store call over its timeout) and made again must not
    skip the log: b's users get what a's users said meanwhile, which a confirmed to its
    sender (no FAIL), so missing it would be a silent loss."""
    with trio.fail_after(60):
        store = MemoryStore()
        a = await start_node(nursery, store, "a")
        b = await start_node(nursery, store, "b")
        alice = await a.client("alice", channel="#room")
        bob = await b.client("bob", channel="#room")
        await alice.expect("JOIN")
        await alice.send("PRIVMSG #room :before")
        assert (await bob.expect("PRIVMSG")).params == ("#room", "before")
        b.cut[0] = True  # shorter than the node timeout: nobody declares b lost
        down = await bob.expect("NOTICE")
        assert "lost its link" in down.params[-1]
        await alice.send("PRIVMSG #room :meanwhile")
        await alice.send("PING :confirmed")  # waits until a applied its line
        pong = await alice.expect("PONG")
        assert pong.params[-1] == "confirmed"
        assert not [m for m in alice.skipped if m.command == "FAIL"]  # a confirmed it
        b.cut[0] = False
        back = await bob.expect("NOTICE")
        assert "back" in back.params[-1]
        said = await bob.expect("PRIVMSG")
        assert said.params == ("#room", "meanwhile")
        await alice.send("PRIVMSG #room :after")
        said = await bob.expect("PRIVMSG")
        assert said.params == ("#room", "after")


async def test_lines_queued_when_a_node_is_declared_lost_while_alive_are_not_dropped(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """A node found lost by the others while it was only slow joins again; the lines its
    users had queued for the log meanwhile still go out (or their sender is told)."""
    with trio.fail_after(60):
        store = MemoryStore()
        a = await start_node(nursery, store, "a")
        b = await start_node(nursery, store, "b")
        alice = await a.client("alice", channel="#room")
        bob = await b.client("bob", channel="#room")
        await alice.expect("JOIN")
        a.delay[0] = 1.0  # a slow store: the lines below wait in a's queue
        await alice.send("PRIVMSG #room :one")
        await trio.sleep(0.1)  # "one" is being appended; the next two wait behind it
        await alice.send("PRIVMSG #room :two", "PRIVMSG #room :three")
        await trio.sleep(0.1)
        store.append(Lost("a", "node a lost"))  # as b does when a's beat expires
        a.delay[0] = 0.0
        heard: list[str] = []
        while len(heard) < 3:
            message = await bob.expect("PRIVMSG")
            heard.append(message.params[-1])
        assert heard == ["one", "two", "three"]
        assert not [m for m in alice.skipped if m.command == "FAIL"]


async def test_a_link_dropped_in_the_middle_of_an_entry_applies_the_rest_once(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """The read loop can be cancelled between two events of one log entry (a store call
    it makes for one of them fails): on re-link the rest of that entry is applied, and
    what was applied already is not applied twice."""
    with trio.fail_after(60):
        store = MemoryStore()
        a = await start_node(nursery, store, "a")
        b = await start_node(nursery, store, "b")
        alice = await a.client("alice", channel="#room")
        bob = await b.client("bob", channel="#room")
        await alice.expect("JOIN")
        conn = next(c for c, client in a.cluster._local.items() if client.nick == "alice")
        now = trio.current_time()
        b.cut[0] = True  # b's wait for the log is already under way; its next call fails
        store.append(
            Line("a", int(conn), "PRIVMSG #room :one", now, 0),
            Hello("c"),  # b answers a newcomer with its burst: that call fails
            Line("a", int(conn), "PRIVMSG #room :two", now, 0),
        )
        assert (await bob.expect("PRIVMSG")).params == ("#room", "one")
        await bob.expect("NOTICE")  # the link is lost
        b.cut[0] = False
        said = await bob.expect("PRIVMSG")
        assert said.params == ("#room", "two")

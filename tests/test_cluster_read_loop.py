"""The cluster's read loop writes what it applied at once (in-memory store, virtual time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
import trio.testing
from cluster_harness import start_node

from triochat._cluster.bus import MemoryStore

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

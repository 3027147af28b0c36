"""Cluster mode against the in-memory store: two nodes in one process, deterministic."""

from __future__ import annotations

import trio
from cluster_harness import start_node

from triochat._cluster.bus import MemoryStore


async def test_a_room_across_two_nodes(nursery: trio.Nursery, autojump_clock: object) -> None:
    store = MemoryStore()
    with trio.fail_after(30):
        a, _, _ = await start_node(nursery, store, "a")
        b, _, _ = await start_node(nursery, store, "b")
        alice = await a.client("alice", channel="#room")
        bob = await b.client("bob", channel="#room")
        joined = await alice.expect("JOIN")
        assert (joined.source or "").startswith("bob!")
        await alice.send("PRIVMSG #room :hello")
        said = await bob.expect("PRIVMSG")
        assert said.params == ("#room", "hello")

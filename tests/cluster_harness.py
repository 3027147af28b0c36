"""In-memory clusters for tests: several ChatServers sharing one :class:`MemoryStore`."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio
from harness import TEST_CONFIG, IrcClient, MemoryListener, ServerHarness

from triochat._cluster.bus import BusUnavailable, MemoryBus, MemoryStore
from triochat._cluster.node import ClusterNode, NodeSettings
from triochat._server.server import ChatServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from triochat._cluster.bus import Entry
    from triochat._cluster.events import Event
    from triochat._config import ServerConfig
    from triochat._server.delivery import Delivery
    from triochat._state.machine import ServerState

__all__ = ["Node", "start_node"]


@dataclass
class Node:
    """One running node: its server, its cluster service, and two ways to end it."""

    harness: ServerHarness
    cluster: ClusterNode
    #: Set it for a clean shutdown (as SIGTERM does).
    stop: trio.Event
    #: Cancel it to make the node vanish at once, saying nothing (as kill -9 does).
    scope: trio.CancelScope
    #: Set to True to cut only this node off the store.
    cut: list[bool] = field(default_factory=lambda: [False])
    #: Seconds each append of this node takes (a slow store).
    delay: list[float] = field(default_factory=lambda: [0.0])

    async def client(self, nick: str, *, caps: str = "", channel: str | None = None) -> IrcClient:
        return await self.harness.client(nick, caps=caps, channel=channel)


async def start_node(
    nursery: trio.Nursery,
    store: MemoryStore,
    name: str,
    *,
    node_timeout: float = 15.0,
    config: ServerConfig = TEST_CONFIG,
) -> Node:
    """A node called ``name`` on ``store``, serving an in-memory listener."""
    cut = [False]
    delay = [0.0]

    class CuttableBus(MemoryBus):
        async def publish(self, event: Event) -> str:
            if cut[0]:
                raise BusUnavailable("cut")
            return await super().publish(event)

        async def publish_batch(self, events: Sequence[Event]) -> str:
            await trio.sleep(delay[0])
            if cut[0]:
                raise BusUnavailable("cut")
            return await super().publish_batch(events)

        async def read(self, after: str, *, wait: float) -> list[Entry]:
            if cut[0]:
                raise BusUnavailable("cut")
            return await super().read(after, wait=wait)

        async def beat(self, node: str, ttl: float) -> None:
            if cut[0]:
                raise BusUnavailable("cut")
            await super().beat(node, ttl)

    @asynccontextmanager
    async def connect() -> AsyncIterator[MemoryBus]:
        store.check()
        if cut[0]:
            raise BusUnavailable("cut")
        yield CuttableBus(store)

    nodes: list[ClusterNode] = []

    def build(state: ServerState, delivery: Delivery) -> ClusterNode:
        node = ClusterNode(NodeSettings(name, timeout=node_timeout), connect, state, delivery)
        nodes.append(node)
        return node

    listener = MemoryListener()
    server = ChatServer(config, cluster=build)
    stop = trio.Event()
    scope = trio.CancelScope()

    async def run(*, task_status: trio.TaskStatus[ChatServer]) -> None:
        with scope:
            await server.serve([listener], shutdown_trigger=stop.wait, task_status=task_status)

    await nursery.start(run)
    return Node(ServerHarness(server, listener), nodes[0], stop, scope, cut, delay)

"""In-memory clusters for tests: several ChatServers sharing one :class:`MemoryStore`."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from harness import TEST_CONFIG, MemoryListener, ServerHarness

from triochat._cluster.bus import MemoryBus, MemoryStore
from triochat._cluster.node import ClusterNode, NodeSettings
from triochat._server.server import ChatServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import trio

    from triochat._server.delivery import Delivery
    from triochat._state.machine import ServerState

__all__ = ["start_node"]


async def start_node(
    nursery: trio.Nursery, store: MemoryStore, name: str, *, node_timeout: float = 15.0
) -> tuple[ServerHarness, ClusterNode, trio.CancelScope]:
    """A node called ``name`` on ``store``, serving an in-memory listener until its scope ends."""

    @asynccontextmanager
    async def connect() -> AsyncIterator[MemoryBus]:
        store.check()
        yield MemoryBus(store)

    nodes: list[ClusterNode] = []

    def build(state: ServerState, delivery: Delivery) -> ClusterNode:
        node = ClusterNode(NodeSettings(name, timeout=node_timeout), connect, state, delivery)
        nodes.append(node)
        return node

    listener = MemoryListener()
    server = ChatServer(TEST_CONFIG, cluster=build)

    async def run(*, task_status: trio.TaskStatus[trio.CancelScope]) -> None:
        import trio

        with trio.CancelScope() as scope:
            await server.serve([listener], task_status=_Forward(task_status, scope))

    scope = await nursery.start(run)
    return ServerHarness(server, listener), nodes[0], scope


class _Forward:
    """Report a cancel scope instead of the server, when the server starts."""

    def __init__(self, status: trio.TaskStatus[trio.CancelScope], scope: trio.CancelScope) -> None:
        self.status = status
        self.scope = scope

    def started(self, value: object = None) -> None:
        self.status.started(self.scope)

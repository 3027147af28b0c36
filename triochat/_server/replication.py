"""The seam between the server and a cluster: what a node service offers the trio layer.

Single-node mode has none (``ChatServer.cluster is None``) and pays one
attribute check per line; cluster mode injects a
:class:`~.._cluster.node.ClusterNode` through this interface, so the server
layer never imports the cluster (nor coredis).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import trio

    from .._irc.wire import Message
    from .._state.effects import Ask, ConnId

__all__ = ["Replication"]


class Replication(Protocol):
    """A node's replication service, run inside the server's nursery."""

    def intercepts(self, conn: ConnId, command: str) -> bool:
        """True if ``command`` of ``conn`` goes through the cluster's log instead of the state."""
        ...

    async def submit(self, conn: ConnId, message: Message) -> None:
        """Replicate ``message`` of ``conn`` (it is handled when it comes back)."""
        ...

    async def settle(self, conn: ConnId) -> None:
        """Wait until the replicated lines of ``conn`` have been handled (or failed)."""
        ...

    def departed(self, conn: ConnId, reason: str) -> None:
        """``conn`` is about to be forgotten by the state: tell the other nodes (never blocks)."""
        ...

    async def claim(self, ask: Ask) -> None:
        """Answer a nick claim and carry out the state's effects."""
        ...

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None:
        """Keep the link up until cancelled; started once linked."""
        ...

    async def stop(self) -> None:
        """Say goodbye to the other nodes, within a bound."""
        ...

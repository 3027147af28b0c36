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
    from .._state.effects import Ask, ConnId, Effect

__all__ = ["Replication"]


class Replication(Protocol):
    """A node's replication service, run inside the server's nursery."""

    @property
    def up(self) -> bool:
        """True while linked to the other nodes (``/readyz``)."""
        ...

    @property
    def events_applied(self) -> int:
        """Log events applied on this node so far (a metric)."""
        ...

    @property
    def append_seconds(self) -> float | None:
        """The round trip of the last append to the log (a metric), None before the first."""
        ...

    def intercepts(self, conn: ConnId, message: Message) -> bool:
        """True if ``message`` of ``conn`` is the cluster's to handle, not the state's."""
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

    async def answered(
        self, conn: ConnId, question: object, reply: object, account_before: str | None
    ) -> None:
        """An account or ChanServ question of ``conn`` was answered: share its outcome."""
        ...

    async def claim(self, ask: Ask) -> list[Effect]:
        """Answer a nick claim (or rename to a guest); the state's effects, for the delivery."""
        ...

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None:
        """Keep the link up until cancelled; started once linked."""
        ...

    async def stop(self) -> None:
        """Say goodbye to the other nodes, within a bound."""
        ...

"""What a node's own users send to the log: one FIFO, appended in batches, confirmed when applied.

A user's replicated lines are pipelined: its reader does not wait for each
one to come back through the log before reading the next, so a busy sender
is limited by throughput, not by one round trip per line. What keeps its
replies in order is :meth:`~.node.ClusterNode.settle`: before any command
that is not replicated (a ``PING``, a ``NAMES``), the reader waits until the
user's lines in flight have been applied. Quits go through the same FIFO, so
a user's last messages are never overtaken by its ``QUIT``.

Bounds: at most :data:`MAX_IN_FLIGHT` lines per connection, so the FIFO
holds at most that many per connection plus one quit each.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import trio

from .._state.effects import ConnId
from .events import Line, Quit

if TYPE_CHECKING:
    from collections.abc import Callable

    from .bus import Bus
    from .events import Event

__all__ = ["BATCH_LIMIT", "MAX_IN_FLIGHT", "Outgoing", "Pending"]

#: Lines of one connection published and not yet applied, at most; then its reader waits.
MAX_IN_FLIGHT: Final = 64
#: Events appended to the log in one entry, at most: one round trip for all of them.
BATCH_LIMIT: Final = 500


@dataclass(eq=False, slots=True)
class Pending:
    """A line of a local user on its way through the log."""

    conn: ConnId
    command: str
    token: int
    done: trio.Event = field(default_factory=trio.Event)
    #: It came back through the log and was applied (else it was cut off).
    applied: bool = False


class Outgoing:
    """The FIFO of this node's events for the log, and the lines still in flight."""

    def __init__(self, node: str) -> None:
        self.node = node
        #: Each event, with the nick to release once it is in the log (for quits).
        self._send, self._receive = trio.open_memory_channel[tuple["Event", str | None]](
            math.inf  # bounded per connection (MAX_IN_FLIGHT lines, one quit)
        )
        self._tokens = itertools.count(1)
        self._pending: dict[int, Pending] = {}
        self._by_conn: dict[ConnId, deque[Pending]] = {}
        #: Seconds the last append to the log took (a metric); None before the first.
        self.append_seconds: float | None = None

    def line(self, conn: ConnId, command: str, text: str, at: float) -> Pending:
        """Queue a line of ``conn`` for the log."""
        pending = Pending(conn, command, next(self._tokens))
        self._pending[pending.token] = pending
        self._by_conn.setdefault(conn, deque()).append(pending)
        self._send.send_nowait((Line(self.node, int(conn), text, at, pending.token), None))
        return pending

    def event(self, event: Event) -> None:
        """Queue an event that nobody waits for (a user's new modes), in this node's order."""
        self._send.send_nowait((event, None))

    def quit(self, quit_: Quit, nick: str) -> None:
        """Queue a local user's quit; its nick is released once the quit is in the log."""
        self.forget(ConnId(quit_.conn))
        self._send.send_nowait((quit_, nick))

    def in_flight(self, conn: ConnId) -> deque[Pending]:
        return self._by_conn.get(conn) or deque()

    def applied(self, token: int) -> None:
        """The line ``token`` came back through the log and was applied here."""
        pending = self._pending.pop(token, None)
        if pending is None:
            return
        pending.applied = True
        pending.done.set()
        queue = self._by_conn.get(pending.conn)
        while queue and queue[0].done.is_set():
            queue.popleft()
        if not queue:
            self._by_conn.pop(pending.conn, None)

    def settled(self, conn: ConnId) -> list[Pending]:
        """Stop waiting for ``conn``'s lines; those not applied (the sender must be told)."""
        queue = self._by_conn.pop(conn, None) or deque()
        for pending in queue:
            self._pending.pop(pending.token, None)
        return [pending for pending in queue if not pending.applied]

    def forget(self, conn: ConnId) -> None:
        for pending in self._by_conn.pop(conn, deque()):
            self._pending.pop(pending.token, None)

    def cut_off(self) -> list[Pending]:
        """The link failed: every line in flight is ended, unconfirmed; they are returned."""
        lost = list(self._pending.values())
        self._pending.clear()
        self._by_conn.clear()
        for pending in lost:
            pending.done.set()
        return lost

    def drain(self, limit: float = math.inf) -> list[tuple[Event, str | None]]:
        """Take what is queued and not yet sent (at most ``limit`` events)."""
        taken: list[tuple[Event, str | None]] = []
        while len(taken) < limit:
            try:
                taken.append(self._receive.receive_nowait())
            except trio.WouldBlock:
                break
        return taken

    async def run(self, bus: Bus, owner: Callable[[int], str]) -> None:
        """Append what was queued since the last round trip as one entry, forever."""
        while True:
            batch = [await self._receive.receive()]
            batch.extend(self.drain(BATCH_LIMIT - 1))
            started = time.perf_counter()
            await self.publish(bus, batch, owner)
            self.append_seconds = time.perf_counter() - started

    @staticmethod
    async def publish(
        bus: Bus, batch: list[tuple[Event, str | None]], owner: Callable[[int], str]
    ) -> None:
        if not batch:
            return
        await bus.publish_batch([event for event, _ in batch])
        for event, nick in batch:
            if nick is not None and isinstance(event, Quit):
                await bus.release(nick, owner(event.conn))

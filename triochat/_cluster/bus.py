"""The interface between a node and the store the cluster shares, and an in-memory store.

The store keeps one ordered log of events (every node reads all of it, in the
same order), one key per casefolded nickname naming its owner (claimed
atomically, so two nodes never both win), and a heartbeat per node that
expires unless renewed; and the records every node shares (accounts,
registered rooms, server bans: :mod:`.shared`) as plain text values and
indexes, with an atomic create. :class:`MemoryStore` is that store inside one
process, on trio's clock, for deterministic tests; :mod:`.redis` is the real
one. Every method raises :class:`BusUnavailable` when the store cannot be
reached, and nothing else for that reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

import trio

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .events import Event

__all__ = ["Bus", "BusUnavailable", "Entry", "MemoryBus", "MemoryStore", "Only"]

#: A conditional write: only if the record is new (``SET NX``) or already there (``SET XX``).
Only = Literal["new", "existing"] | None

#: A log entry: its id (the order every node applies) and the event.
Entry = tuple[str, "Event"]


class BusUnavailable(Exception):
    """The shared store cannot be reached (or did not answer in time)."""


class Bus(Protocol):
    """What a node asks of the shared store."""

    async def publish(self, event: Event) -> str:
        """Append ``event`` to the log; its entry id."""
        ...

    async def publish_batch(self, events: Sequence[Event]) -> str:
        """Append ``events`` as one log entry (one round trip for many); its id."""
        ...

    async def read(self, after: str, *, wait: float) -> list[Entry]:
        """Events of the entries after ``after``, waiting up to ``wait`` seconds for one.

        The events of one entry share its id, in their order.
        """
        ...

    async def holds(self, entry_id: str) -> bool:
        """True if the log still has entry ``entry_id`` (not trimmed away, nor wiped)."""
        ...

    async def claim(self, nick: str, owner: str) -> bool:
        """Take casefolded ``nick`` for ``owner``; True if it is free or already ``owner``'s."""
        ...

    async def release(self, nick: str, owner: str) -> None:
        """Free ``nick`` if ``owner`` holds it."""
        ...

    async def release_node(self, nick: str, node: str) -> None:
        """Free ``nick`` if any run of ``node`` holds it (the node was lost)."""
        ...

    async def renew(self, nicks: list[str]) -> None:
        """Keep these nicks (held by this node) from expiring for another nick TTL."""
        ...

    async def beat(self, node: str, ttl: float) -> None:
        """``node`` is alive for ``ttl`` more seconds (and listed among the nodes)."""
        ...

    async def nodes(self) -> dict[str, bool]:
        """Every listed node, and whether its heartbeat is still alive."""
        ...

    async def forget_node(self, node: str) -> None:
        """Unlist ``node`` and drop its heartbeat (it stopped or was found dead)."""
        ...

    async def get_record(self, key: str) -> str | None:
        """The shared record ``key`` (a text), None if there is none."""
        ...

    async def put_record(self, key: str, value: str, *, only: Only = None) -> bool:
        """Write record ``key`` atomically; False if ``only`` did not hold (nothing written)."""
        ...

    async def delete_record(self, key: str) -> bool:
        """Delete record ``key``; False if there was none."""
        ...

    async def index(self, key: str) -> dict[str, str]:
        """Every field of the shared index ``key`` (a hash)."""
        ...

    async def index_put(self, key: str, name: str, value: str) -> None:
        """Set field ``name`` of index ``key``."""
        ...

    async def index_delete(self, key: str, name: str) -> None:
        """Delete field ``name`` of index ``key``."""
        ...

    async def next_id(self, key: str) -> int:
        """The next number of the shared counter ``key`` (1, 2, ...; never reused)."""
        ...

    async def add_history(self, rows: str) -> str:
        """Append rows of history (a JSON text) to the network's history stream; its id."""
        ...

    async def history_after(self, after: str, *, count: int) -> list[tuple[str, str]]:
        """Up to ``count`` entries of the history stream after ``after`` (``"0"``: the oldest)."""
        ...


@dataclass
class MemoryStore:
    """A shared store inside one process: what Redis holds, for deterministic tests."""

    log: list[Entry] = field(default_factory=list)
    keys: dict[str, tuple[str, float]] = field(default_factory=dict)
    listed: set[str] = field(default_factory=set)
    #: Shared records (accounts, rooms) and indexes, as :mod:`.shared` writes them.
    records: dict[str, str] = field(default_factory=dict)
    indexes: dict[str, dict[str, str]] = field(default_factory=dict)
    #: The network's history stream: (entry id, rows as JSON).
    history: list[tuple[str, str]] = field(default_factory=list)
    #: Set to True to make every call fail, as a Redis outage would.
    down: bool = False
    _grew: trio.Event = field(default_factory=trio.Event)
    _seq: int = 0

    def check(self) -> None:
        if self.down:
            raise BusUnavailable("memory store is down")

    def append(self, *events: Event) -> str:
        self.check()
        self._seq += 1
        entry_id = f"{self._seq}-0"
        self.log.extend((entry_id, event) for event in events)
        self._grew.set()
        self._grew = trio.Event()
        return entry_id

    def get(self, key: str) -> str | None:
        value = self.keys.get(key)
        if value is None:
            return None
        if value[1] <= trio.current_time():
            del self.keys[key]
            return None
        return value[0]

    def wipe(self) -> None:
        """Lose everything, as a Redis restarted without persistence does."""
        self.log.clear()
        self.keys.clear()
        self.listed.clear()
        self.records.clear()
        self.indexes.clear()
        self.history.clear()
        self._seq = 0

    async def wait_after(self, after: str, wait: float) -> list[Entry]:
        with trio.move_on_after(wait):
            while True:
                self.check()
                after_seq = int(after.split("-")[0])
                entries = [e for e in self.log if int(e[0].split("-")[0]) > after_seq]
                if entries:
                    return entries
                await self._grew.wait()
        self.check()
        return []


@dataclass
class MemoryBus:
    """One node's view of a :class:`MemoryStore`."""

    store: MemoryStore

    async def publish(self, event: Event) -> str:
        await trio.lowlevel.checkpoint()
        return self.store.append(event)

    async def publish_batch(self, events: Sequence[Event]) -> str:
        await trio.lowlevel.checkpoint()
        return self.store.append(*events)

    async def read(self, after: str, *, wait: float) -> list[Entry]:
        return await self.store.wait_after(after, wait)

    async def holds(self, entry_id: str) -> bool:
        await trio.lowlevel.checkpoint()
        self.store.check()
        return any(held == entry_id for held, _ in self.store.log)

    async def claim(self, nick: str, owner: str) -> bool:
        await trio.lowlevel.checkpoint()
        self.store.check()
        holder = self.store.get(f"nick:{nick}")
        if holder is None:
            self.store.keys[f"nick:{nick}"] = (owner, math.inf)
            return True
        return holder == owner

    async def release(self, nick: str, owner: str) -> None:
        await trio.lowlevel.checkpoint()
        self.store.check()
        if self.store.get(f"nick:{nick}") == owner:
            del self.store.keys[f"nick:{nick}"]

    async def release_node(self, nick: str, node: str) -> None:
        await trio.lowlevel.checkpoint()
        self.store.check()
        holder = self.store.get(f"nick:{nick}")
        if holder is not None and holder.startswith(f"{node}:"):
            del self.store.keys[f"nick:{nick}"]

    async def renew(self, nicks: list[str]) -> None:
        await trio.lowlevel.checkpoint()
        self.store.check()

    async def beat(self, node: str, ttl: float) -> None:
        await trio.lowlevel.checkpoint()
        self.store.check()
        self.store.keys[f"node:{node}"] = ("1", trio.current_time() + ttl)
        self.store.listed.add(node)

    async def nodes(self) -> dict[str, bool]:
        await trio.lowlevel.checkpoint()
        self.store.check()
        return {node: self.store.get(f"node:{node}") is not None for node in self.store.listed}

    async def forget_node(self, node: str) -> None:
        await trio.lowlevel.checkpoint()
        self.store.check()
        self.store.listed.discard(node)
        self.store.keys.pop(f"node:{node}", None)

    async def get_record(self, key: str) -> str | None:
        await trio.lowlevel.checkpoint()
        self.store.check()
        return self.store.records.get(key)

    async def put_record(self, key: str, value: str, *, only: Only = None) -> bool:
        await trio.lowlevel.checkpoint()
        self.store.check()
        exists = key in self.store.records
        if (only == "new" and exists) or (only == "existing" and not exists):
            return False
        self.store.records[key] = value
        return True

    async def delete_record(self, key: str) -> bool:
        await trio.lowlevel.checkpoint()
        self.store.check()
        return self.store.records.pop(key, None) is not None

    async def index(self, key: str) -> dict[str, str]:
        await trio.lowlevel.checkpoint()
        self.store.check()
        return dict(self.store.indexes.get(key, {}))

    async def index_put(self, key: str, name: str, value: str) -> None:
        await trio.lowlevel.checkpoint()
        self.store.check()
        self.store.indexes.setdefault(key, {})[name] = value

    async def index_delete(self, key: str, name: str) -> None:
        await trio.lowlevel.checkpoint()
        self.store.check()
        self.store.indexes.get(key, {}).pop(name, None)

    async def next_id(self, key: str) -> int:
        await trio.lowlevel.checkpoint()
        self.store.check()
        number = int(self.store.records.get(key, "0")) + 1
        self.store.records[key] = str(number)
        return number

    async def add_history(self, rows: str) -> str:
        await trio.lowlevel.checkpoint()
        self.store.check()
        entry_id = f"{len(self.store.history) + 1}-0"
        self.store.history.append((entry_id, rows))
        return entry_id

    async def history_after(self, after: str, *, count: int) -> list[tuple[str, str]]:
        await trio.lowlevel.checkpoint()
        self.store.check()
        after_seq = int(after.split("-")[0])
        return [e for e in self.store.history if int(e[0].split("-")[0]) > after_seq][:count]

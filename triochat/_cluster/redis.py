"""The shared store on Redis, through coredis (anyio-based, so it runs under trio natively).

Imported only in cluster mode: the single-node server never imports coredis.
Keys (every one carries a hash tag, so that Redis Cluster can place each on
a shard of its own):

* ``triochat:{log}`` — the stream every node reads, in entry-id order;
* ``triochat:nick:{<casefolded nick>}`` — its owner, ``node:run:conn``, with a
  TTL renewed by the owner's heartbeat (a dead node's nicks free themselves);
* ``triochat:node:{<name>}`` — the node's heartbeat, expiring after the node timeout;
* ``triochat:{nodes}`` — the set of node names that announced themselves;
* ``triochat:{history}`` — the network's history rows, each appended once by
  the node whose event made them, for nodes that start later;
* the shared records of :mod:`.shared` (accounts, registered rooms, server
  bans), each under ``triochat:`` plus the key it names (with its own hash tag).

Every error that means "Redis cannot be reached" (a refused or broken
connection, a timeout), bare or inside an exception group, becomes
:class:`~.bus.BusUnavailable`.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Final, Literal, TypeVar

import coredis
import trio
from coredis.exceptions import ConnectionError as RedisConnectionError
from coredis.exceptions import RedisError
from coredis.retry import ConstantRetryPolicy
from coredis.tokens import PureToken

from .bus import BusUnavailable, Only
from .events import Hello, decode_batch, encode, encode_batch

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Sequence

    from .bus import Entry
    from .events import Event

__all__ = ["RENEW_CHUNK", "RedisBus", "connect"]

T = TypeVar("T")

LOG_KEY: Final = "triochat:{log}"
HISTORY_KEY: Final = "triochat:{history}"
#: The history stream keeps about this many entries (each one a batch of rows).
HISTORY_LENGTH: Final = 100_000
NODES_KEY: Final = "triochat:{nodes}"
#: The log keeps about this many entries (XADD MAXLEN ~): a bound, and enough for catch-up.
LOG_LENGTH: Final = 100_000
#: The prefix of every shared record's key.
_PREFIX: Final = "triochat:"
_OUTAGE = (RedisError, OSError, trio.TooSlowError)
#: Nick TTLs renewed per pipeline (one round trip, and one call timeout, each).
RENEW_CHUNK: Final = 500

#: Claim a nick: set it if free, renew it if ours; 1 when it is ours now.
_CLAIM: Final = """
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
elseif holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
#: Release a nick only if the caller still holds it.
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
#: Release a nick held by any run of a node (the node was lost).
_RELEASE_NODE: Final = """
local holder = redis.call('GET', KEYS[1])
if holder and string.sub(holder, 1, string.len(ARGV[1])) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def nick_key(nick: str) -> str:
    return f"triochat:nick:{{{nick}}}"


def node_key(node: str) -> str:
    return f"triochat:node:{{{node}}}"


class RedisBus:
    """A node's link to Redis; every call is bounded by ``timeout`` seconds."""

    def __init__(
        self,
        client: coredis.Redis[str],
        reader: coredis.Redis[str],
        *,
        timeout: float,
        nick_ttl: float,
    ) -> None:
        self.client = client
        #: Blocking XREADs get a client of their own: on the shared, pipelined
        #: connection they would hold up every other command behind them.
        self.reader = reader
        self.timeout = timeout
        self.nick_ttl_ms = max(1, int(nick_ttl * 1000))

    async def _call(self, request: Awaitable[T], *, extra: float = 0.0) -> T:
        try:
            with trio.fail_after(self.timeout + extra):
                return await request
        except Exception as error:  # groups too: whatever failed, the store did not answer
            raise BusUnavailable(f"{type(error).__name__}: {error}") from error

    async def publish(self, event: Event) -> str:
        return await self._append(encode(event))

    async def publish_batch(self, events: Sequence[Event]) -> str:
        return await self._append(encode_batch(events))

    async def _append(self, text: str) -> str:
        entry_id = await self._call(
            self.client.xadd(
                LOG_KEY,
                {"e": text},
                trim_strategy=PureToken.MAXLEN,
                trim_operator=PureToken.APPROXIMATELY,
                threshold=LOG_LENGTH,
            )
        )
        if entry_id is None:
            raise BusUnavailable("XADD returned no id")
        return entry_id

    async def read(self, after: str, *, wait: float) -> list[Entry]:
        block = max(1, int(wait * 1000))
        reply = await self._call(
            self.reader.xread({LOG_KEY: after}, count=500, block=block), extra=wait
        )
        entries: list[Entry] = []
        for stream_entries in (reply or {}).values():
            for entry in stream_entries:
                entry_id = str(entry.identifier)
                try:
                    events = decode_batch(entry.field_values["e"])
                except (KeyError, ValueError, TypeError):
                    events = [Hello("")]  # an entry this version cannot read: it does nothing
                entries.extend((entry_id, event) for event in events)
        return entries

    async def holds(self, entry_id: str) -> bool:
        entries = await self._call(self.client.xrange(LOG_KEY, entry_id, entry_id, count=1))
        return bool(entries)

    async def claim(self, nick: str, owner: str) -> bool:
        result = await self._call(
            self.client.eval(_CLAIM, keys=[nick_key(nick)], args=[owner, self.nick_ttl_ms])
        )
        return result == 1

    async def release(self, nick: str, owner: str) -> None:
        await self._call(self.client.eval(_RELEASE, keys=[nick_key(nick)], args=[owner]))

    async def release_node(self, nick: str, node: str) -> None:
        await self._call(self.client.eval(_RELEASE_NODE, keys=[nick_key(nick)], args=[f"{node}:"]))

    async def renew(self, nicks: list[str]) -> None:
        # In pipelines of RENEW_CHUNK, each bounded on its own: one pipeline of every
        # nick (5,000 on a node in a connect storm) outlasted the call timeout on a
        # busy machine, which dropped the link and refused the users' JOINs meanwhile.
        for start in range(0, len(nicks), RENEW_CHUNK):
            await self._call(self._renew(nicks[start : start + RENEW_CHUNK]))

    async def _renew(self, nicks: list[str]) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for nick in nicks:
                pipe.pexpire(nick_key(nick), self.nick_ttl_ms)
        # the pipeline ran when its block ended

    async def beat(self, node: str, ttl: float) -> None:
        await self._call(self.client.set(node_key(node), "1", px=max(1, int(ttl * 1000))))
        await self._call(self.client.sadd(NODES_KEY, [node]))

    async def nodes(self) -> dict[str, bool]:
        listed = sorted(await self._call(self.client.smembers(NODES_KEY)))
        if not listed:
            return {}
        alive = await self._call(self.client.exists([node_key(node) for node in listed]))
        if alive == len(listed):
            return dict.fromkeys(listed, True)
        result = {}
        for node in listed:
            result[node] = bool(await self._call(self.client.exists([node_key(node)])))
        return result

    async def forget_node(self, node: str) -> None:
        await self._call(self.client.srem(NODES_KEY, [node]))
        await self._call(self.client.delete([node_key(node)]))

    async def get_record(self, key: str) -> str | None:
        return await self._call(self.client.get(_PREFIX + key))

    async def put_record(self, key: str, value: str, *, only: Only = None) -> bool:
        condition: Literal[PureToken.NX, PureToken.XX] | None = None
        if only is not None:
            condition = PureToken.NX if only == "new" else PureToken.XX
        done = await self._call(self.client.set(_PREFIX + key, value, condition=condition))
        return bool(done)

    async def delete_record(self, key: str) -> bool:
        return bool(await self._call(self.client.delete([_PREFIX + key])))

    async def index(self, key: str) -> dict[str, str]:
        return dict(await self._call(self.client.hgetall(_PREFIX + key)))

    async def index_put(self, key: str, name: str, value: str) -> None:
        await self._call(self.client.hset(_PREFIX + key, {name: value}))

    async def index_delete(self, key: str, name: str) -> None:
        await self._call(self.client.hdel(_PREFIX + key, [name]))

    async def next_id(self, key: str) -> int:
        return int(await self._call(self.client.incr(_PREFIX + key)))

    async def add_history(self, rows: str) -> str:
        entry_id = await self._call(
            self.client.xadd(
                HISTORY_KEY,
                {"r": rows},
                trim_strategy=PureToken.MAXLEN,
                trim_operator=PureToken.APPROXIMATELY,
                threshold=HISTORY_LENGTH,
            )
        )
        return str(entry_id)

    async def history_after(self, after: str, *, count: int) -> list[tuple[str, str]]:
        start = "-" if after == "0" else f"({after}"
        entries = await self._call(self.client.xrange(HISTORY_KEY, start, "+", count=count))
        return [(str(entry.identifier), str(entry.field_values["r"])) for entry in entries]


@asynccontextmanager
async def connect(url: str, *, call_timeout: float, nick_ttl: float) -> AsyncIterator[RedisBus]:
    """A client for ``url``, alive for the block (it owns tasks: open it inside a nursery).

    Commands retry once on a broken connection, then fail fast, so that an
    outage is seen within about ``call_timeout`` seconds and never hangs a caller.
    """
    retry = ConstantRetryPolicy((RedisConnectionError,), retries=1, delay=0.05)

    def new_client() -> coredis.Redis[str]:
        client: coredis.Redis[str] = coredis.Redis.from_url(
            url, decode_responses=True, retry_policy=retry, connect_timeout=call_timeout
        )
        return client

    try:
        async with new_client() as client, new_client() as reader:
            bus = RedisBus(client, reader, timeout=call_timeout, nick_ttl=nick_ttl)
            await bus._call(client.ping())
            yield bus
    except _OUTAGE as error:
        raise BusUnavailable(str(error) or type(error).__name__) from error

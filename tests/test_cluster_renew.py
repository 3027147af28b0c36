"""Renewing a node's nick TTLs: in bounded pipelines, and never in the heartbeat's way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import trio
import trio.testing
from cluster_harness import start_node

from triochat._cluster.bus import MemoryBus, MemoryStore
from triochat._cluster.events import Lost
from triochat._cluster.redis import RENEW_CHUNK, RedisBus

if TYPE_CHECKING:
    import coredis
    import pytest

#: What the fake Redis spends per command of a pipeline (virtual time).
PER_COMMAND_S = 0.001


class FakePipeline:
    """Counts the PEXPIREs queued, and takes time in proportion when it runs."""

    def __init__(self, sizes: list[int]) -> None:
        self.sizes = sizes
        self.count = 0

    async def __aenter__(self) -> FakePipeline:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await trio.sleep(self.count * PER_COMMAND_S)
        self.sizes.append(self.count)

    def pexpire(self, key: str, milliseconds: int) -> None:
        assert key.startswith("triochat:nick:{")
        self.count += 1


class FakeRedis:
    def __init__(self) -> None:
        self.sizes: list[int] = []

    def pipeline(self, *, transaction: bool) -> FakePipeline:
        assert not transaction
        return FakePipeline(self.sizes)


async def test_many_nicks_are_renewed_in_chunks_each_within_the_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """5,000 nicks in one pipeline outlasted the call timeout in a connect storm and
    dropped the node's link; in chunks, each round trip has the whole timeout."""
    fake = FakeRedis()
    client = cast("coredis.Redis[Any]", fake)
    # The timeout covers one chunk (0.5 s here) but not all 1,200 nicks at once (1.2 s).
    bus = RedisBus(client, client, timeout=1.0, nick_ttl=45.0)
    nicks = [f"user{n}" for n in range(1200)]
    await bus.renew(nicks)
    assert fake.sizes == [RENEW_CHUNK, RENEW_CHUNK, 1200 - 2 * RENEW_CHUNK]


async def test_no_nicks_no_round_trip(autojump_clock: trio.testing.MockClock) -> None:
    fake = FakeRedis()
    client = cast("coredis.Redis[Any]", fake)
    await RedisBus(client, client, timeout=1.0, nick_ttl=45.0).renew([])
    assert fake.sizes == []


async def test_slow_nick_renewals_never_delay_the_heartbeat(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Renewing thousands of nicks may take longer than the node timeout on a busy
    machine: the heartbeat must not wait behind it, or the other nodes declare this
    one lost in the middle of a connect storm."""

    async def slow_renew(self: MemoryBus, nicks: list[str]) -> None:
        if nicks:  # node a's (alice); node b has no users of its own and keeps beating
            await trio.sleep(100)

    monkeypatch.setattr(MemoryBus, "renew", slow_renew)
    with trio.fail_after(120):
        store = MemoryStore()
        a = await start_node(nursery, store, "a", node_timeout=15.0)
        await start_node(nursery, store, "b", node_timeout=15.0)
        await a.client("alice", channel="#room")
        await trio.sleep(60)
        assert [event for _, event in store.log if isinstance(event, Lost)] == []

"""Flood control: a token bucket that delays a client's excess commands, never drops them.

The bucket itself is pure arithmetic (:mod:`triochat._server.flood`); the server
tests run in memory with the autojump clock, so "one line per second" is
checked in virtual seconds, exactly.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from harness import ServerHarness, config

from triochat._server.flood import TokenBucket


def test_a_full_bucket_serves_its_burst_at_once() -> None:
    bucket = TokenBucket(burst=5, rate=2)
    assert [bucket.take(100.0) for _ in range(5)] == [0.0] * 5
    assert bucket.take(100.0) == pytest.approx(0.5)


def test_a_refused_token_is_not_taken() -> None:
    bucket = TokenBucket(burst=1, rate=1)
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.25) == pytest.approx(0.75)
    assert bucket.take(0.5) == pytest.approx(0.5)  # asking again cost nothing
    assert bucket.take(1.0) == 0.0


def test_an_empty_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(burst=3, rate=10)
    for _ in range(3):
        bucket.take(0.0)
    now = 0.0
    for _ in range(20):
        delay = bucket.take(now)
        assert delay == pytest.approx(0.1) or now == 0.0
        now += delay
        assert bucket.take(now) == 0.0
    assert now == pytest.approx(2.0)


def test_an_idle_bucket_is_full_again_but_never_fuller() -> None:
    bucket = TokenBucket(burst=4, rate=1)
    for _ in range(4):
        bucket.take(0.0)
    assert [bucket.take(1000.0) for _ in range(5)][:4] == [0.0] * 4
    assert bucket.take(1000.0) > 0


def test_lag_is_the_time_until_waiting_tokens_are_taken() -> None:
    bucket = TokenBucket(burst=2, rate=4)
    assert bucket.lag(0.0, 2) == 0.0
    bucket.take(0.0)
    bucket.take(0.0)
    assert bucket.lag(0.0, 8) == pytest.approx(2.0)


@pytest.mark.parametrize(("burst", "rate"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_a_bucket_needs_a_burst_and_a_rate(burst: int, rate: float) -> None:
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(burst, rate)


# -- in the server --------------------------------------------------------------


async def _settle() -> None:
    """Let every bucket fill up again (virtual time; well below the ping interval)."""
    await trio.sleep(60)


async def test_a_person_never_notices_flood_control(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    """The default bucket: registering, joining and a pasted screenful go through at once."""
    with trio.fail_after(10):
        start = trio.current_time()
        alice = await harness.client("alice", channel="#a")
        bob = await harness.client("bob", channel="#a")
        await bob.send(*(f"PRIVMSG #a :pasted line {n}" for n in range(30)))
        for n in range(30):
            assert (await alice.expect("PRIVMSG")).params[1] == f"pasted line {n}"
        assert trio.current_time() == start


@pytest.mark.parametrize("server_config", [config(flood_burst=5, flood_rate=1)])
async def test_excess_commands_are_delayed_in_order_and_none_is_lost(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(100):
        alice = await harness.client("alice", channel="#a")
        bob = await harness.client("bob", channel="#a")
        await _settle()
        start = trio.current_time()
        await bob.send(*(f"PRIVMSG #a :{n}" for n in range(12)))
        arrivals = []
        for n in range(12):
            assert (await alice.expect("PRIVMSG")).params[1] == str(n)
            arrivals.append(trio.current_time() - start)
        # The burst at once, then one line per second.
        assert arrivals == pytest.approx([0.0] * 5 + [float(n) for n in range(1, 8)])


@pytest.mark.parametrize("server_config", [config(flood_burst=5, flood_rate=1)])
async def test_a_flooder_waits_alone(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    """While bob's commands wait for tokens, alice and carol talk without any delay."""
    with trio.fail_after(100):
        alice = await harness.client("alice", channel="#a")
        bob = await harness.client("bob", channel="#a")
        carol = await harness.client("carol", channel="#a")
        await _settle()
        await bob.send(*(f"PRIVMSG #a :bob {n}" for n in range(15)))
        for n in range(5):
            await trio.sleep(1)
            sent = trio.current_time()
            await alice.send(f"PRIVMSG #a :alice {n}")
            said = await carol.expect("PRIVMSG", "#a", f"alice {n}")
            assert said.source is not None
            assert trio.current_time() == sent
        bobs = [m.params[1] for m in carol.skipped if m.command == "PRIVMSG"]
        assert bobs == [f"bob {n}" for n in range(len(bobs))]
        assert 5 < len(bobs) < 15  # bob is being served, one line per second


@pytest.mark.parametrize(
    "server_config", [config(flood_burst=5, flood_rate=1, flood_max_lag=10, ping_interval=1000)]
)
async def test_sustained_flood_ends_with_excess_flood(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(100):
        alice = await harness.client("alice", channel="#a")
        bob = await harness.client("bob", channel="#a")
        await _settle()
        start = trio.current_time()
        await bob.send(*(f"PRIVMSG #a :{n}" for n in range(100)))
        closing = await bob.wait_closed()
        assert closing[-1].command == "ERROR"
        assert closing[-1].params[0].startswith("Closing link: Excess Flood (")
        assert "seconds of commands waiting, limit 10" in closing[-1].params[0]
        quit_message = await alice.expect("QUIT")
        assert quit_message.params == ("Excess Flood",)
        said = [m.params[1] for m in alice.skipped if m.command == "PRIVMSG"]
        assert said == [str(n) for n in range(5)]  # the burst went through, nothing else
        assert trio.current_time() - start < 1  # no need to wait to see a flood
        await harness.wait_connections(1)


@pytest.mark.parametrize(
    "server_config",
    [config(flood_burst=2, flood_rate=1, flood_max_lag=10_000, recvq_bytes=10_000)],
)
async def test_input_past_the_recvq_ends_with_excess_flood(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(100):
        alice = await harness.client("alice", channel="#a")
        bob = await harness.client("bob", channel="#a")
        await _settle()
        # 9,000 bytes wait in bob's RecvQ: delayed, not refused.
        await bob.send(*(f"PRIVMSG #a :{n:03} {'x' * 76}" for n in range(100)))
        await trio.sleep(3)
        # 3,000 bytes more: past 10,000 bytes waiting.
        await bob.send(*(f"PRIVMSG #a :{n:03} {'x' * 76}" for n in range(100, 130)))
        closing = await bob.wait_closed()
        assert closing[-1].params[0].startswith("Closing link: Excess Flood (RecvQ exceeded: ")
        assert closing[-1].params[0].endswith("bytes waiting, limit 10000)")
        assert (await alice.expect("QUIT")).params == ("Excess Flood",)


@pytest.mark.parametrize("server_config", [config(flood_burst=3, flood_rate=2)])
async def test_what_waits_is_handled_even_after_the_client_hangs_up(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    """Accepted input is never silently lost: a paste then QUIT arrives whole."""
    with trio.fail_after(100):
        alice = await harness.client("alice", channel="#a")
        bob = await harness.client("bob", channel="#a")
        await _settle()
        await bob.send(*(f"PRIVMSG #a :{n}" for n in range(10)), "QUIT :bye now")
        assert isinstance(bob.stream, trio.abc.HalfCloseableStream)
        await bob.stream.send_eof()
        for n in range(10):
            assert (await alice.expect("PRIVMSG")).params[1] == str(n)
        assert (await alice.expect("QUIT")).params == ("Quit: bye now",)


@pytest.mark.parametrize("server_config", [config(flood_control=False)])
async def test_without_flood_control_a_burst_is_handled_at_once(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(10):
        alice = await harness.client("alice", channel="#a")
        bob = await harness.client("bob", channel="#a")
        start = trio.current_time()
        await bob.send(*(f"PRIVMSG #a :{n}" for n in range(2000)))
        for n in range(2000):
            assert (await alice.expect("PRIVMSG")).params[1] == str(n)
        assert trio.current_time() == start


@pytest.mark.parametrize(
    "server_config",
    [
        config(
            flood_burst=5, flood_rate=1, registration_timeout=5, ping_interval=10, ping_timeout=100
        )
    ],
)
async def test_lines_waiting_for_tokens_survive_the_timers(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    """The idle PING fires while bob's lines wait (17 s of them); none is lost to it."""
    with trio.fail_after(100):
        alice = await harness.client("alice", channel="#a")
        bob = await harness.client("bob", channel="#a")
        start = trio.current_time()
        await bob.send(*(f"PRIVMSG #a :{n}" for n in range(19)))
        for n in range(19):
            assert (await alice.expect("PRIVMSG")).params[1] == str(n)
        assert trio.current_time() - start == pytest.approx(17)
        assert "PING" in [m.command for m in alice.skipped]
        assert harness.server.connection_count == 2

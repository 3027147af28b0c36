"""Prometheus metrics (issue 16): the numbers move, the format parses, the series stay bounded.

Scrapes are parsed with ``prometheus_client``'s own text parser, so the
hand-written exposition is held to what Prometheus reads. One test scrapes a
real loopback socket; the rest read :meth:`OpsEndpoint.route` directly, in
memory on the autojump clock.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing
import trustme
from harness import IrcClient, MemoryListener, ServerHarness, config
from prometheus_client.parser import text_string_to_metric_families

from triochat._ops.http import OpsEndpoint, serve_ops
from triochat._ops.metrics import command_kind, disconnect_reason
from triochat._ops.textformat import CONTENT_TYPE, Histogram, histogram_family, render
from triochat._server.server import ChatServer

if TYPE_CHECKING:
    from collections.abc import Mapping

#: A series: its sample name and its labels.
Series = tuple[str, frozenset[tuple[str, str]]]


def parse(text: str) -> dict[Series, float]:
    """Every sample of a scrape, by series."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Mapping[Series, float], name: str, **labels: str) -> float:
    return samples[name, frozenset(labels.items())]


def scrape(server: ChatServer) -> dict[Series, float]:
    status, headers, body = OpsEndpoint(server).route("/metrics")
    assert status == 200
    assert ("Content-Type", CONTENT_TYPE) in headers
    return parse(body.decode())


async def http_get(port: int, path: str) -> tuple[int, dict[str, str], str]:
    """One HTTP/1.1 request over a real socket, written by hand: status, headers, body."""
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        await stream.send_all(request.encode())
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body.decode()


async def test_scrape_over_loopback_counts_registrations_messages_and_deliveries(
    nursery: trio.Nursery,
) -> None:
    """A real scrape: two members of a channel, three PRIVMSGs, and the numbers move."""
    listener = MemoryListener()
    server = ChatServer(config())
    await nursery.start(server.serve, [listener])
    ops_listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    await nursery.start(serve_ops, OpsEndpoint(server), ops_listeners)
    port = ops_listeners[0].socket.getsockname()[1]
    harness = ServerHarness(server, listener)
    with trio.fail_after(10):
        status, headers, text = await http_get(port, "/metrics")
        assert status == 200
        assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        before = parse(text)
        alice = await harness.client("alice", channel="#room")
        bob = await harness.client("bob", channel="#room")
        for n in range(3):
            await alice.send(f"PRIVMSG #room :hello {n}")
        for n in range(3):
            assert (await bob.expect("PRIVMSG")).params == ("#room", f"hello {n}")
        _, _, text = await http_get(port, "/metrics")
        after = parse(text)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("triochat_registrations_total") == 2
    assert moved("triochat_messages_received_total", kind="privmsg") == 3
    assert moved("triochat_messages_received_total", kind="join") == 2
    assert moved("triochat_deliveries_total", kind="privmsg") == 3  # to bob; no echo-message
    assert moved("triochat_deliveries_total", kind="join") == 3  # alice's to her, bob's to both
    assert moved("triochat_sent_bytes_total") > 3 * len(":alice!alice@localhost PRIVMSG #room :")
    assert value(after, "triochat_connections", transport="memory", tls="false") == 2
    assert value(after, "triochat_connections_accepted_total", transport="memory", tls="false") == 2
    assert value(after, "triochat_clients") == 2
    assert value(after, "triochat_channels") == 1
    assert value(after, "triochat_account_logins_total", result="ok") == 0  # declared for accounts
    assert value(after, "process_resident_memory_bytes") > 1_000_000
    assert value(after, "process_open_fds") > 2  # at least the listeners and this socket
    assert value(after, "triochat_uptime_seconds") >= 0


@pytest.mark.parametrize(
    "server_config", [config(sendq_bytes=20_000, flood_control=False, ping_interval=100)]
)
async def test_sendq_kick_ping_timeout_and_quit_are_counted_by_reason(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(500):
        talker = await harness.client("talker", channel="#a")
        stalled = await harness.connect(lockstep=True)
        await stalled.register("stalled")
        await stalled.join("#a")
        ghost = await harness.client("ghost")  # in no channel: the flood does not reach it
        quitter = await harness.client("quitter")
        await quitter.send("QUIT :bye")
        await quitter.wait_closed()
        await talker.send(*(f"PRIVMSG #a :{n:04} {'x' * 100}" for n in range(400)))
        assert (await talker.expect("QUIT")).params == ("SendQ exceeded",)
        del ghost  # silent from now on: PINGed at 100 s, dropped 60 s later
        async with trio.open_nursery() as nursery:

            async def keep_alive() -> None:
                while True:
                    await trio.sleep(50)
                    await talker.send("PING :still here")

            nursery.start_soon(keep_alive)
            await harness.wait_connections(1)
            nursery.cancel_scope.cancel()
        assert 160 <= trio.current_time() < 170
    samples = scrape(harness.server)
    reasons = {
        reason: value(samples, "triochat_disconnections_total", reason=reason)
        for reason in ("sendq", "ping_timeout", "quit", "closed", "error", "flood")
    }
    assert reasons == {
        "sendq": 1,
        "ping_timeout": 1,
        "quit": 1,
        "closed": 0,
        "error": 0,
        "flood": 0,
    }
    assert value(samples, "triochat_connections", transport="memory", tls="false") == 1


@pytest.mark.parametrize(
    "server_config", [config(flood_burst=5, flood_rate=1, flood_max_lag=10, ping_interval=1000)]
)
async def test_flood_delays_and_excess_flood_are_counted(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(100):
        alice = await harness.client("alice", channel="#a")
        bob = await harness.client("bob", channel="#a")
        await trio.sleep(60)  # both buckets full again after registering
        await bob.send(*(f"PRIVMSG #a :{n}" for n in range(8)))
        for n in range(8):
            assert (await alice.expect("PRIVMSG")).params[1] == str(n)
        delays = value(scrape(harness.server), "triochat_flood_delays_total")
        assert delays >= 1
        await bob.send(*(f"PRIVMSG #a :{n}" for n in range(100)))
        await bob.wait_closed()
        await harness.wait_connections(1)
    samples = scrape(harness.server)
    assert value(samples, "triochat_disconnections_total", reason="flood") == 1
    assert value(samples, "triochat_flood_delays_total") > delays


async def test_invalid_lines_are_counted_apart(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(5):
        alice = await harness.client("alice")
        await alice.send(b"PRIVMSG \x00 :nul\r\n", b"x" * 10_000 + b"\r\n", "FROBNICATE")
        await alice.sync()
    samples = scrape(harness.server)
    assert value(samples, "triochat_messages_received_total", kind="invalid") == 2
    assert value(samples, "triochat_messages_received_total", kind="other") == 1


@pytest.mark.parametrize("server_config", [config(max_per_ip=None)])
async def test_a_hundred_users_in_a_hundred_channels_add_no_series(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    """Label cardinality is bounded: never a label per user or channel."""
    with trio.fail_after(60):
        await harness.client("first", channel="#first")
        before = scrape(harness.server)
        clients = [await harness.client(f"user{n}", channel=f"#chan{n}") for n in range(100)]
        for n, client in enumerate(clients):
            await client.send(f"PRIVMSG #chan{n} :hi", f"PRIVMSG #chan{(n + 1) % 100} :hi")
            await client.send("NOTICE first :hello", f"TOPIC #chan{n} :topic {n}")
        for client in clients:
            await client.sync()
    after = scrape(harness.server)
    assert value(after, "triochat_clients") == 101
    assert value(after, "triochat_channels") == 101
    assert set(after) == set(before)


def test_histogram_buckets_are_cumulative_and_parse() -> None:
    histogram = Histogram((0.01, 0.1))
    for seconds in (0.005, 0.01, 0.05, 2.0):
        histogram.observe(seconds)
    samples = parse(render([histogram_family("x_seconds", "a test", histogram)]))
    assert value(samples, "x_seconds_bucket", le="0.01") == 2  # 0.01 itself is "less or equal"
    assert value(samples, "x_seconds_bucket", le="0.1") == 3
    assert value(samples, "x_seconds_bucket", le="+Inf") == 4
    assert value(samples, "x_seconds_count") == 4
    assert value(samples, "x_seconds_sum") == pytest.approx(2.065)


async def test_history_writes_are_timed(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(10):
        alice = await harness.client("alice", channel="#a")
        await alice.send("PRIVMSG #a :kept")
        await alice.sync()
        history = harness.server.history
        assert history is not None
        await history.settled()
    samples = scrape(harness.server)
    assert value(samples, "triochat_history_write_seconds_count") >= 1
    assert value(samples, "triochat_history_saved_total") >= 1
    assert value(samples, "triochat_history_queue_depth") == 0


@pytest.mark.parametrize(
    ("command", "kind"),
    [("PRIVMSG", "privmsg"), ("PONG", "ping"), ("001", "numeric"), ("XYZZY", "other")],
)
def test_command_kinds(command: str, kind: str) -> None:
    assert command_kind(command) == kind


@pytest.mark.parametrize(
    ("reason", "quit", "label"),
    [
        (None, True, "quit"),
        (None, False, "closed"),
        ("Ping timeout: 60 seconds", False, "ping_timeout"),
        ("Registration timed out", False, "registration_timeout"),
        ("SendQ exceeded", False, "sendq"),
        ("Excess Flood", False, "flood"),
        ("Killed (oper: spam)", False, "kill"),
        ("Connection reset by peer", False, "closed"),
        ("Internal server error", False, "error"),
        ("TLS handshake on a plain-text port", False, "error"),
    ],
)
def test_disconnect_reasons_map_to_a_bounded_set(
    reason: str | None, quit: bool, label: str
) -> None:
    assert disconnect_reason(reason, quit=quit) == label


async def test_tls_connections_and_failed_handshakes_are_counted(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("chat.test").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    transport = MemoryListener()
    server = ChatServer(config(handshake_timeout=10))
    await nursery.start(server.serve, [trio.SSLListener(transport, server_ctx)])
    with trio.fail_after(30):
        stream = trio.SSLStream(await transport.connect(), client_ctx, server_hostname="chat.test")
        secure = IrcClient(stream)
        await secure.register("secure")
        plain = IrcClient(await transport.connect())  # plain text on the TLS port
        await plain.send("NICK plain")
        await plain.wait_closed()
        silent = await transport.connect()  # never says anything: dropped at the timeout
        assert await silent.receive_some(100) == b""
        await trio.testing.wait_all_tasks_blocked()  # the server counts after it hangs up
        samples = scrape(server)
    assert value(samples, "triochat_tls_handshake_failures_total") == 2
    assert value(samples, "triochat_connections", transport="tls", tls="true") == 1
    assert value(samples, "triochat_connections", transport="memory", tls="false") == 0

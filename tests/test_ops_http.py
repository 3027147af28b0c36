"""The operations endpoint (issue 16): /healthz, /readyz, and an HTTP loop nothing can break.

The HTTP loop is driven over in-memory streams on the autojump clock (so its
timeouts cost no real time); health checks also over a real loopback socket,
and ``triochat serve --metrics-port 0`` as a real process.
"""

from __future__ import annotations

import re
import socket

import pytest
import trio
import trio.testing
from harness import MemoryListener, ServerHarness, config
from processes import serve as serve_process
from test_ops_metrics import http_get, parse

from triochat._cli.main import main
from triochat._history.store import HistoryStore
from triochat._ops import http as ops_http
from triochat._ops.http import OpsEndpoint, serve_ops
from triochat._server.server import ChatServer


async def exchange(endpoint: OpsEndpoint, request: bytes) -> bytes:
    """Send ``request`` to ``handle_http`` in memory; everything it answers until it closes."""
    client, server = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(endpoint.handle_http, server)
        await client.send_all(request)
        data = b""
        while chunk := await client.receive_some(65536):
            data += chunk
    return data


def statuses(data: bytes) -> list[int]:
    return [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]


async def test_healthz_and_readyz_over_loopback(nursery: trio.Nursery) -> None:
    server = ChatServer(config())
    await nursery.start(server.serve, [MemoryListener()])
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    await nursery.start(serve_ops, OpsEndpoint(server), listeners)
    port = listeners[0].socket.getsockname()[1]
    with trio.fail_after(10):
        assert (await http_get(port, "/healthz"))[::2] == (200, "ok\n")
        assert (await http_get(port, "/readyz"))[::2] == (200, "ready\n")
        assert (await http_get(port, "/readyz?verbose=1"))[0] == 200
        assert (await http_get(port, "/"))[0] == 404


def test_readyz_is_503_until_the_server_accepts() -> None:
    status, _, body = OpsEndpoint(ChatServer(config())).route("/readyz")
    assert status == 503
    assert body == b"not ready: not accepting connections (starting or shutting down)\n"
    assert OpsEndpoint(ChatServer(config())).route("/healthz")[0] == 200


async def test_readyz_is_503_once_shutdown_begins(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    server = ChatServer(config(shutdown_grace=5))
    endpoint = OpsEndpoint(server)
    stop = trio.Event()
    listener = MemoryListener()
    done = trio.Event()

    async def run() -> None:
        await server.serve([listener], shutdown_trigger=stop.wait)
        done.set()

    nursery.start_soon(run)
    with trio.fail_after(10):
        harness = ServerHarness(server, listener)
        alice = await harness.client("alice")  # keeps the shutdown busy for its grace period
        assert endpoint.route("/readyz")[0] == 200
        stop.set()
        await alice.expect("ERROR")
        assert endpoint.route("/readyz")[0] == 503  # still closing connections: not ready
        assert endpoint.route("/healthz")[0] == 200
        await done.wait()


async def test_readyz_is_503_while_the_history_store_fails(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    store = HistoryStore.open(":memory:")
    server = ChatServer(config(), store=store)
    await nursery.start(server.serve, [listener := MemoryListener()])
    harness = ServerHarness(server, listener)
    endpoint = OpsEndpoint(server)
    history = server.history
    assert history is not None
    with trio.fail_after(10):
        alice = await harness.client("alice", channel="#room")
        assert endpoint.route("/readyz")[0] == 200
        store._db.execute("PRAGMA query_only=ON")  # the disk went read-only
        await alice.send("PRIVMSG #room :lost")
        await alice.sync()
        await history.settled()
        status, _, body = endpoint.route("/readyz")
        assert status == 503
        assert body == b"not ready: history: cannot save messages to :memory:\n"
        assert endpoint.route("/healthz")[0] == 200  # alive all the same
        store._db.execute("PRAGMA query_only=OFF")
        await alice.send("PRIVMSG #room :kept")
        await alice.sync()
        await history.settled()
        assert endpoint.route("/readyz")[0] == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/metrics", 200),
        ("HEAD", "/healthz", 200),
        ("GET", "/nope", 404),
        ("POST", "/metrics", 405),
        ("DELETE", "/readyz", 405),
    ],
)
def test_routes(method: str, path: str, status: int) -> None:
    assert OpsEndpoint(ChatServer(config())).route(path, method)[0] == status


async def test_keep_alive_head_and_a_closing_request(
    autojump_clock: trio.testing.MockClock,
) -> None:
    endpoint = OpsEndpoint(ChatServer(config()))
    requests = (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    with trio.fail_after(5):
        data = await exchange(endpoint, requests)
    assert statuses(data) == [200, 200, 200]
    assert data.count(b"\r\n\r\nok\n") == 1  # HEAD has no body
    assert trio.current_time() < 1  # closed after "Connection: close", not at the timeout
    body = data.rpartition(b"\r\n\r\n")[2].decode()
    assert parse(body)  # the exposition parses


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NONSENSE\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n", 431),
        (b"GET /metrics HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 without Host
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),  # TLS
    ],
    ids=["garbage", "huge-head", "no-host", "tls"],
)
async def test_bad_requests_get_a_4xx_and_a_close_and_never_raise(
    autojump_clock: trio.testing.MockClock, request_bytes: bytes, status: int
) -> None:
    endpoint = OpsEndpoint(ChatServer(config()), request_timeout=10)
    with trio.fail_after(30):
        data = await exchange(endpoint, request_bytes)
    assert statuses(data) == [status]
    assert trio.current_time() < 1  # answered and closed at once


async def test_a_silent_or_slow_client_is_dropped_at_the_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    endpoint = OpsEndpoint(ChatServer(config()), request_timeout=10)
    with trio.fail_after(30):
        assert await exchange(endpoint, b"GET /metr") == b""
    assert 10 <= trio.current_time() < 11


async def test_a_failing_route_is_a_500_and_the_endpoint_goes_on(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(server: ChatServer) -> str:
        raise RuntimeError("a bug")

    monkeypatch.setattr(ops_http, "exposition", broken)
    endpoint = OpsEndpoint(ChatServer(config()))
    with trio.fail_after(5):
        data = await exchange(
            endpoint,
            b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\n\r\n",
        )
    assert statuses(data) == [500, 200]


async def test_connections_past_the_limit_are_closed_at_once(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    endpoint = OpsEndpoint(ChatServer(config()), max_connections=2)
    for _ in range(2):  # two idle connections hold the two places
        _, server_side = trio.testing.memory_stream_pair()
        nursery.start_soon(endpoint.handle_http, server_side)
    await trio.testing.wait_all_tasks_blocked()
    with trio.fail_after(1):
        assert await exchange(endpoint, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") == b""


@pytest.mark.e2e
async def test_serve_with_metrics_port_prints_the_url_and_serves_it() -> None:
    async with serve_process("--metrics-port", "0") as server:
        with trio.fail_after(20):
            match = await server.output.wait_for(
                r"triochat: metrics on http://127\.0\.0\.1:(\d+)/metrics"
            )
            port = int(match[1])
            async with await trio.open_tcp_stream("127.0.0.1", server.port) as irc:
                await irc.send_all(b"NICK alice\r\nUSER alice 0 * :Alice\r\n")
                data = b""
                while b" 376 " not in data:
                    data += await irc.receive_some(65536)
                status, _, body = await http_get(port, "/metrics")
                assert status == 200
                samples = parse(body)
                assert samples["triochat_registrations_total", frozenset()] == 1
                tcp = frozenset({("transport", "tcp"), ("tls", "false")})
                assert samples["triochat_connections", tcp] == 1
            assert (await http_get(port, "/readyz"))[0] == 200
        assert await server.stop() == 0


def test_a_metrics_port_in_use_is_one_clear_line_and_exit_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve", "--port", "0", "--no-history", "--metrics-port", str(port)])
    assert code == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}: Address already in use" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("port", ["-1", "65536"])
def test_a_metrics_port_out_of_range_exits_2(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--no-history", "--metrics-port", port]) == 2
    assert "--metrics-port must be between 0 and 65535" in capsys.readouterr().err

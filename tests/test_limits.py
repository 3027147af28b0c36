"""Every limit has a clear answer: which limit was hit, in an ERROR line or a numeric.

Flood control and the RecvQ are in test_flood.py; the SendQ, registration and
ping timeouts in test_server.py and test_hostile.py; line and name limits in
test_irc.py, test_names.py and test_state.py.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from harness import IrcClient, ServerHarness, config

from triochat._cli.main import build_parser
from triochat._config import ServerConfig
from triochat._ops.filelimit import SPARE_FILES, fit_file_limit
from triochat._ops.launch import load
from triochat._server.server import ChatServer


async def _refused(client: IrcClient) -> str:
    """The ERROR a refused connection gets before the server hangs up."""
    messages = await client.wait_closed()
    assert [m.command for m in messages] == ["ERROR"]
    return messages[0].params[0]


@pytest.mark.parametrize("server_config", [config(max_clients=3)])
async def test_max_clients_refuses_the_next_connection_and_says_so(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(30):
        alice = await harness.client("alice", channel="#a")
        bob = await harness.client("bob", channel="#a")
        unregistered = await harness.connect()
        refused = await harness.connect()
        assert await _refused(refused) == "Closing link: Too many connections (limit 3)"
        assert len(harness.server.state.network.clients) == 3  # no state for the refused one
        assert harness.server.refused_count == 1
        await unregistered.stream.aclose()
        while harness.server.open_count > 2:  # noqa: ASYNC110 - no event for "slot freed"
            await trio.sleep(0.01)
        carol = await harness.client("carol", channel="#a")  # room again
        await carol.send("PRIVMSG #a :made it")
        assert (await alice.expect("PRIVMSG")).params[1] == "made it"
        await bob.sync()


@pytest.mark.parametrize("server_config", [config(max_per_ip=2)])
async def test_max_per_ip_refuses_a_third_connection_from_one_address(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(30):
        alice = await harness.client("alice")
        await harness.connect()
        refused = await harness.connect()
        assert (
            await _refused(refused)
            == "Closing link: Too many connections from your address (limit 2)"
        )
        await alice.sync()
        assert harness.server.open_count == 2


async def _tcp_client(port: int, source: str) -> trio.SocketStream:
    sock = trio.socket.socket()
    await sock.bind((source, 0))
    await sock.connect(("127.0.0.1", port))
    return trio.SocketStream(sock)


async def test_max_per_ip_counts_each_address_apart_over_real_sockets(
    nursery: trio.Nursery,
) -> None:
    """127.0.0.1 is full, 127.0.0.2 is not (Linux routes all of 127/8 to loopback)."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    server = await nursery.start(ChatServer(config(max_per_ip=1)).serve, listeners)
    with trio.fail_after(10):
        first = IrcClient(await _tcp_client(port, "127.0.0.1"))
        await first.register("first")
        second = IrcClient(await _tcp_client(port, "127.0.0.1"))
        assert await _refused(second) == (
            "Closing link: Too many connections from your address (limit 1)"
        )
        try:
            other = IrcClient(await _tcp_client(port, "127.0.0.2"))
        except OSError as error:  # pragma: no cover - a system without 127/8
            pytest.skip(f"cannot connect from 127.0.0.2: {error}")
        await other.register("other")
        assert server.connection_count == 2
        for client in (first, second, other):
            await client.stream.aclose()


@pytest.mark.parametrize("server_config", [config(max_channels=2)])
async def test_channels_per_client_answer_405(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(10):
        alice = await harness.client("alice")
        await alice.join("#one")
        await alice.join("#two")
        await alice.send("JOIN #three")
        refusal = await alice.expect("405")
        assert refusal.params[1] == "#three"


@pytest.mark.parametrize("server_config", [config(max_clients=2, max_per_ip=None)])
async def test_limits_count_connections_that_never_register(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    """Silent connections hold their slots until the registration timeout frees them."""
    with trio.fail_after(200):
        await harness.connect()
        await harness.connect()
        refused = await harness.connect()
        assert "limit 2" in await _refused(refused)
        await trio.sleep(70)  # the registration timeout, then close_timeout to hang up
        alice = await harness.client("alice")
        await alice.sync()


def _serve_args(*args: str) -> ServerConfig:
    return load(build_parser().parse_args(["serve", *args])).server


def test_default_limits_are_the_documented_ones() -> None:
    defaults = _serve_args()
    assert defaults == ServerConfig(history_db="triochat.db")
    assert (defaults.max_clients, defaults.max_per_ip, defaults.max_channels) == (50_000, 10, 50)
    assert (defaults.sendq_bytes, defaults.recvq_bytes) == (4 << 20, 32 << 10)
    assert defaults.flood_control
    assert (defaults.flood_burst, defaults.flood_rate, defaults.flood_max_lag) == (40, 10.0, 20.0)
    assert defaults.stats_interval is None


def test_limit_options_reach_the_config() -> None:
    chosen = _serve_args(
        *("--max-clients", "100", "--max-per-ip", "0", "--max-channels", "7"),
        *("--sendq", "100000", "--recvq", "20000"),
        *("--flood-burst", "3", "--flood-rate", "0.5", "--flood-max-lag", "30"),
        *("--stats-interval", "2.5"),
    )
    assert (chosen.max_clients, chosen.max_per_ip, chosen.max_channels) == (100, None, 7)
    assert (chosen.sendq_bytes, chosen.recvq_bytes) == (100_000, 20_000)
    assert (chosen.flood_burst, chosen.flood_rate, chosen.flood_max_lag) == (3, 0.5, 30.0)
    assert chosen.stats_interval == 2.5
    assert not _serve_args("--no-flood-control").flood_control
    assert _serve_args("--no-flood-control", "--flood-control").flood_control
    assert _serve_args("--max-clients", "0").max_clients is None


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--max-clients", "-1"], "--max-clients must be 0"),
        (["--max-per-ip", "-2"], "--max-per-ip must be 0"),
        (["--max-channels", "0"], "--max-channels must be positive"),
        (["--flood-burst", "0"], "--flood-burst must be positive"),
        (["--flood-rate", "0"], "--flood-rate must be positive"),
        (["--flood-max-lag", "-1"], "--flood-max-lag must be positive"),
        (["--stats-interval", "0"], "--stats-interval must be positive"),
        (["--sendq", "100"], "--sendq must be at least"),
        (["--recvq", "100"], "--recvq must be at least"),
    ],
)
def test_bad_limit_options_are_refused(args: list[str], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        _serve_args(*args)


def test_max_clients_fits_the_open_file_limit() -> None:
    assert fit_file_limit(ServerConfig(max_clients=100), 1024).max_clients == 100
    assert fit_file_limit(ServerConfig(max_clients=50_000), 1024).max_clients == 1024 - SPARE_FILES
    assert fit_file_limit(ServerConfig(max_clients=None), 4096).max_clients == 4096 - SPARE_FILES

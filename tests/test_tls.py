"""TLS: contexts, development certificates, and the server behind ``trio.SSLListener``.

The server tests run in memory (an ``SSLListener`` around the in-memory
listener, both sides running at once, on the autojump clock); one test uses a
real loopback socket.
"""

from __future__ import annotations

import logging
import ssl
from functools import partial
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing
import trustme
from harness import IrcClient, MemoryListener, config

from triochat._cli.connect import tls_context_from_args
from triochat._cli.main import build_parser, main
from triochat._client.session import ConnectError, connect
from triochat._config import ServerConfig
from triochat._server.server import ChatServer
from triochat._tls import (
    TlsSetupError,
    client_context,
    describe_verification_error,
    make_dev_certificates,
    server_context,
)

if TYPE_CHECKING:
    from pathlib import Path

HOSTNAME = "chat.test"


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def server_ctx(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOSTNAME).configure_cert(context)
    return context


@pytest.fixture(scope="session")
def client_ctx(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


class TlsServer:
    """A server with a plain and a TLS in-memory listener."""

    def __init__(self, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> None:
        self.plain = MemoryListener()
        self.tls_transport = MemoryListener()
        self.tls = trio.SSLListener(self.tls_transport, server_ctx)
        self.client_ctx = client_ctx

    async def tls_client(self, nick: str) -> IrcClient:
        raw = await self.tls_transport.connect()
        client = IrcClient(trio.SSLStream(raw, self.client_ctx, server_hostname=HOSTNAME))
        await client.register(nick)
        await client.join("#secure")
        return client


@pytest.fixture
async def tls_server(
    nursery: trio.Nursery, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> tuple[ChatServer, TlsServer]:
    setup = TlsServer(server_ctx, client_ctx)
    server = ChatServer(config(handshake_timeout=10))
    await nursery.start(server.serve, [setup.plain, setup.tls])
    return server, setup


async def test_two_tls_clients_chat(
    autojump_clock: trio.testing.MockClock, tls_server: tuple[ChatServer, TlsServer]
) -> None:
    _, setup = tls_server
    with trio.fail_after(5):
        alice = await setup.tls_client("alice")
        bob = await setup.tls_client("bob")
        await alice.send("PRIVMSG #secure :encrypted hello")
        assert (await bob.expect("PRIVMSG")).params == ("#secure", "encrypted hello")
        await bob.send("QUIT :bye")
        closing = await bob.wait_closed()
        assert closing[-1].command == "ERROR"


async def test_silent_peer_on_tls_port_is_dropped_and_delays_nobody(
    autojump_clock: trio.testing.MockClock, tls_server: tuple[ChatServer, TlsServer]
) -> None:
    """miniircd froze entirely on a TCP connection that never sent a ClientHello."""
    server, setup = tls_server
    with trio.fail_after(30):
        silent = await setup.tls_transport.connect()  # never says anything
        start = trio.current_time()
        alice = await setup.tls_client("alice")  # served at once meanwhile
        assert trio.current_time() - start < 1
        assert await silent.receive_some(100) == b""  # dropped...
        assert 10 <= trio.current_time() - start < 11  # ...at the handshake timeout
        await alice.sync()
        assert server.connection_count == 1


async def test_plain_client_on_tls_port_is_told_in_plain_text(
    autojump_clock: trio.testing.MockClock, tls_server: tuple[ChatServer, TlsServer]
) -> None:
    _, setup = tls_server
    with trio.fail_after(5):
        plain = IrcClient(await setup.tls_transport.connect())
        await plain.send("NICK alice", "USER alice 0 * :Alice")
        messages = await plain.wait_closed()
        assert messages[-1].command == "ERROR"
        assert "connect with TLS" in messages[-1].params[0]


async def test_tls_client_on_plain_port_fails_fast(
    autojump_clock: trio.testing.MockClock, tls_server: tuple[ChatServer, TlsServer]
) -> None:
    server, setup = tls_server
    with trio.fail_after(5):
        raw = await setup.plain.connect()
        stream = trio.SSLStream(raw, setup.client_ctx, server_hostname=HOSTNAME)
        with pytest.raises(trio.BrokenResourceError):
            await stream.do_handshake()
    assert server.connection_count == 0


async def test_abrupt_tls_disconnect_is_an_ordinary_quit(
    autojump_clock: trio.testing.MockClock,
    tls_server: tuple[ChatServer, TlsServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, setup = tls_server
    with trio.fail_after(5):
        alice = await setup.tls_client("alice")
        bob = await setup.tls_client("bob")
        await trio.aclose_forcefully(bob.stream)  # no close_notify
        quit_message = await alice.expect("QUIT")
        assert quit_message.source is not None
        assert quit_message.source.startswith("bob!")
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


async def test_real_loopback_socket_with_tls(
    nursery: trio.Nursery, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    tls_listeners = [trio.SSLListener(listener, server_ctx) for listener in listeners]
    await nursery.start(ChatServer(ServerConfig()).serve, tls_listeners)
    port = listeners[0].socket.getsockname()[1]
    with trio.fail_after(10):
        tcp = await trio.open_tcp_stream("127.0.0.1", port)
        # The certificate is for chat.test, so check it against that name.
        async with trio.SSLStream(tcp, client_ctx, server_hostname=HOSTNAME) as stream:
            client = IrcClient(stream)
            await client.register("alice")
            await client.send("QUIT")
            assert (await client.wait_closed())[-1].command == "ERROR"


@pytest.fixture
def dev_certs(tmp_path: Path) -> tuple[Path, Path]:
    return make_dev_certificates(tmp_path / "certs")


async def test_dev_certificates_work_for_localhost(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery, dev_certs: tuple[Path, Path]
) -> None:
    ca_path, server_path = dev_certs
    assert server_path.stat().st_mode & 0o777 == 0o600
    transport = MemoryListener()
    listener = trio.SSLListener(transport, server_context(server_path))
    await nursery.start(ChatServer(config()).serve, [listener])
    with trio.fail_after(5):
        for name in ("localhost", "127.0.0.1", "::1"):
            stream = trio.SSLStream(
                await transport.connect(), client_context(ca_path), server_hostname=name
            )
            client = IrcClient(stream)
            await client.send("PING :hello")
            assert (await client.expect("PONG")).params[-1] == "hello"


async def test_untrusted_certificate_is_explained(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery, dev_certs: tuple[Path, Path]
) -> None:
    _, server_path = dev_certs
    transport = MemoryListener()
    listener = trio.SSLListener(transport, server_context(server_path))
    await nursery.start(ChatServer(config()).serve, [listener])
    with trio.fail_after(5):
        stream = trio.SSLStream(
            await transport.connect(), client_context(None), server_hostname="localhost"
        )
        with pytest.raises(trio.BrokenResourceError) as caught:
            await stream.do_handshake()
    error = caught.value.__cause__
    assert isinstance(error, ssl.SSLCertVerificationError)
    assert "--ca certs/ca.pem" in describe_verification_error(error, "localhost")


def test_dev_certificates_are_not_overwritten_without_force(dev_certs: tuple[Path, Path]) -> None:
    ca_path, _ = dev_certs
    before = ca_path.read_bytes()
    with pytest.raises(TlsSetupError, match="--force"):
        make_dev_certificates(ca_path.parent)
    assert ca_path.read_bytes() == before
    make_dev_certificates(ca_path.parent, ("chat.example",), force=True)
    assert ca_path.read_bytes() != before


def test_server_context_errors_are_clear(
    tmp_path: Path, ca: trustme.CA, dev_certs: tuple[Path, Path]
) -> None:
    with pytest.raises(TlsSetupError, match=r"not found.*triochat certs"):
        server_context(tmp_path / "missing.pem")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(TlsSetupError, match="PEM certificate"):
        server_context(garbage)
    cert_only, other_key = tmp_path / "cert.pem", tmp_path / "key.pem"
    ca.issue_cert("a.test").cert_chain_pems[0].write_to_path(str(cert_only))
    ca.issue_cert("b.test").private_key_pem.write_to_path(str(other_key))
    with pytest.raises(TlsSetupError, match="does not match"):
        server_context(cert_only, other_key)
    with pytest.raises(TlsSetupError, match="CA file not found"):
        client_context(tmp_path / "no-ca.pem")


def test_serve_with_a_missing_certificate_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["serve", "--tls", "--cert", str(tmp_path / "absent.pem")])
    assert code == 2
    assert "certificate file not found" in capsys.readouterr().err


def test_certs_command_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = partial(main, ["certs", "--dir", str(tmp_path)])
    assert run() == 0
    assert (tmp_path / "ca.pem").is_file()
    assert run() == 2
    assert "--force" in capsys.readouterr().err


async def serve_tls_on_loopback(nursery: trio.Nursery, cert: Path) -> tuple[int, int]:
    """A real server with a plain and a TLS listener on 127.0.0.1; their ports."""
    plain = await trio.open_tcp_listeners(0, host="127.0.0.1")
    tls = await trio.open_tcp_listeners(0, host="127.0.0.1")
    context = server_context(cert)
    listeners = [*plain, *(trio.SSLListener(listener, context) for listener in tls)]
    await nursery.start(ChatServer(config()).serve, listeners)
    return plain[0].socket.getsockname()[1], tls[0].socket.getsockname()[1]


async def test_client_connects_over_tls_with_the_dev_ca(
    nursery: trio.Nursery, dev_certs: tuple[Path, Path]
) -> None:
    ca_path, server_path = dev_certs
    _, tls_port = await serve_tls_on_loopback(nursery, server_path)
    with trio.fail_after(10):
        stream = await connect("localhost", tls_port, ssl_context=client_context(ca_path))
        async with stream:
            assert isinstance(stream, trio.SSLStream)
            client = IrcClient(stream)
            await client.register("secure")
            await client.send("QUIT")
            await client.wait_closed()


async def test_client_explains_an_untrusted_certificate(
    nursery: trio.Nursery, dev_certs: tuple[Path, Path]
) -> None:
    _, server_path = dev_certs
    _, tls_port = await serve_tls_on_loopback(nursery, server_path)
    with trio.fail_after(10), pytest.raises(ConnectError, match=r"--ca certs/ca\.pem"):
        await connect("localhost", tls_port, ssl_context=client_context(None))


async def test_client_explains_a_plain_text_port(
    nursery: trio.Nursery, dev_certs: tuple[Path, Path]
) -> None:
    ca_path, server_path = dev_certs
    plain_port, _ = await serve_tls_on_loopback(nursery, server_path)
    with trio.fail_after(10), pytest.raises(ConnectError, match="plain-text port"):
        await connect("localhost", plain_port, ssl_context=client_context(ca_path))


async def test_wrong_hostname_is_explained(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery, dev_certs: tuple[Path, Path]
) -> None:
    ca_path, server_path = dev_certs
    transport = MemoryListener()
    listener = trio.SSLListener(transport, server_context(server_path))
    await nursery.start(ChatServer(config()).serve, [listener])
    stream = trio.SSLStream(
        await transport.connect(), client_context(ca_path), server_hostname="chat.example"
    )
    with trio.fail_after(5), pytest.raises(trio.BrokenResourceError) as caught:
        await stream.do_handshake()
    error = caught.value.__cause__
    assert isinstance(error, ssl.SSLCertVerificationError)
    explanation = describe_verification_error(error, "chat.example")
    assert "not valid for 'chat.example'" in explanation
    assert "triochat certs --host NAME --force" in explanation


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--insecure"], "--insecure only makes sense with --tls"),
        (["--ca", "certs/ca.pem"], "--ca only makes sense with --tls"),
        (["--tls", "--ca", "/nonexistent/ca.pem"], "CA file not found"),
    ],
)
def test_connect_tls_option_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["connect", *argv]) == 2
    assert message in capsys.readouterr().err


def test_insecure_warns_loudly(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["connect", "--tls", "--insecure"])
    context = tls_context_from_args(args)
    assert context is not None
    assert context.verify_mode == ssl.CERT_NONE
    assert "NOT checked" in capsys.readouterr().err


def test_tls_1_2_is_the_minimum_on_both_sides(dev_certs: tuple[Path, Path]) -> None:
    ca_path, server_path = dev_certs
    assert server_context(server_path).minimum_version == ssl.TLSVersion.TLSv1_2
    assert client_context(ca_path).minimum_version == ssl.TLSVersion.TLSv1_2
    assert client_context(ca_path).check_hostname

"""The web listener over real loopback sockets (port 0): plain, behind a proxy, and over TLS."""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trustme
from harness import IrcClient, config
from processes import run, serve, triochat_command
from webclient import TEXT, Refused, http_request, open_websocket

from triochat._cli.main import build_parser
from triochat._ops.launch import load
from triochat._server.server import ChatServer
from triochat._server.tlsswap import TlsContextHolder
from triochat._web.cli import WebOptions
from triochat._web.handshake import WebPolicy
from triochat._web.listeners import open_web_listeners, web_url
from triochat._web.server import WebServer

if TYPE_CHECKING:
    from pathlib import Path

    from triochat._config import ServerConfig

pytestmark = pytest.mark.e2e


class Running:
    def __init__(self, irc_port: int, web_port: int, url: str) -> None:
        self.irc_port = irc_port
        self.web_port = web_port
        self.url = url
        self.streams: list[trio.abc.Stream] = []

    async def open(self, port: int) -> trio.abc.Stream:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        self.streams.append(stream)
        return stream

    async def close(self) -> None:
        for stream in self.streams:
            await trio.aclose_forcefully(stream)

    async def tcp(self, nick: str) -> IrcClient:
        client = IrcClient(await self.open(self.irc_port), nick)
        await client.register(nick)
        return client

    async def websocket(self, nick: str, **kwargs: Any) -> IrcClient:
        stream = await self.open(self.web_port)
        host = f"127.0.0.1:{self.web_port}"
        kwargs.setdefault("origin", f"http://{host}")
        client = IrcClient(await open_websocket(stream, host=host, **kwargs), nick)
        await client.register(nick)
        return client


async def start(
    nursery: trio.Nursery,
    server_config: ServerConfig,
    policy: WebPolicy | None = None,
    context: ssl.SSLContext | None = None,
) -> Running:
    chat = ChatServer(server_config)
    irc = await trio.open_tcp_listeners(0, host="127.0.0.1")
    tls = None if context is None else TlsContextHolder(context)
    web = await open_web_listeners("127.0.0.1", 0, None, tls, tls_on_port=tls is not None)
    await nursery.start(chat.serve, irc)
    await nursery.start(WebServer(chat, policy).serve, web)
    irc_port = irc[0].socket.getsockname()[1]
    url = web_url(web[0])
    return Running(irc_port, int(url.rsplit(":", 1)[1].rstrip("/")), url)


async def test_a_websocket_user_and_a_tcp_user_chat_over_loopback(nursery: trio.Nursery) -> None:
    running = await start(nursery, config())
    assert running.url.startswith("http://127.0.0.1:")
    with trio.fail_after(10):
        alice = await running.tcp("alice")
        await alice.join("#lobby")
        bob = await running.websocket("bob")
        await bob.join("#lobby")
        joined = await alice.expect("JOIN")
        assert joined.source is not None
        assert joined.source.endswith("@127.0.0.1")
        await bob.send("PRIVMSG #lobby :over a real WebSocket")
        assert (await alice.expect("PRIVMSG")).params == ("#lobby", "over a real WebSocket")
        await alice.send("PRIVMSG bob :and back, privately")
        assert (await bob.expect("PRIVMSG")).params == ("bob", "and back, privately")
        await bob.send("QUIT :bye")
        assert (await alice.expect("QUIT")).params[0].endswith("bye")
    await running.close()


async def test_static_files_and_304_over_loopback(nursery: trio.Nursery) -> None:
    running = await start(nursery, config())
    with trio.fail_after(10):
        stream = await running.open(running.web_port)
        host = f"127.0.0.1:{running.web_port}"
        first = await http_request(stream, "/", host=host)
        assert first.status == 200
        assert f"ws://{host}" in first.headers["content-security-policy"]
        stream = await running.open(running.web_port)
        again = await http_request(
            stream, "/", host=host, headers=[("If-None-Match", first.headers["etag"])]
        )
        assert again.status == 304
    await running.close()


async def test_x_forwarded_for_counts_only_from_a_trusted_proxy(nursery: trio.Nursery) -> None:
    trusted = await start(nursery, config(max_per_ip=1), WebPolicy.build([], ["127.0.0.0/8"]))
    untrusted = await start(nursery, config())
    forwarded = [("X-Forwarded-For", "198.51.100.9, 203.0.113.7")]
    with trio.fail_after(10):
        for running, host in ((trusted, "203.0.113.7"), (untrusted, "127.0.0.1")):
            watcher = await running.tcp("watcher")
            await watcher.join("#lobby")
            user = await running.websocket("proxied", headers=forwarded)
            await user.join("#lobby")
            joined = await watcher.expect("JOIN")
            assert joined.source is not None
            assert joined.source.endswith(f"@{host}")
        # --max-per-ip counts the forwarded address: another one is welcome, the same is not.
        other = await trusted.websocket("other", headers=[("X-Forwarded-For", "192.0.2.1")])
        await other.sync()
        stream = await trusted.open(trusted.web_port)
        host = f"127.0.0.1:{trusted.web_port}"
        again = IrcClient(
            await open_websocket(stream, host=host, origin=f"http://{host}", headers=forwarded)
        )
        goodbye = await again.wait_closed()
        assert "Too many connections from your address" in goodbye[-1].params[0]
    await trusted.close()
    await untrusted.close()


async def test_wss_with_the_servers_certificate(nursery: trio.Nursery) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    running = await start(nursery, config(), context=server_context)
    assert running.url.startswith("https://127.0.0.1:")
    host = f"127.0.0.1:{running.web_port}"
    with trio.fail_after(10):
        tcp = await running.open(running.web_port)
        stream = trio.SSLStream(tcp, client_context, server_hostname="127.0.0.1")
        with pytest.raises(Refused) as refused:  # a page over https has an https origin
            await open_websocket(stream, host=host, origin=f"http://{host}")
        assert refused.value.status == 403
        tcp = await running.open(running.web_port)
        stream = trio.SSLStream(tcp, client_context, server_hostname="127.0.0.1")
        socket = await open_websocket(stream, host=host, origin=f"https://{host}")
        assert socket.subprotocol == TEXT
        client = IrcClient(socket)
        await client.register("secure")
    await running.close()


async def test_many_half_open_http_connections_do_not_stop_chat(nursery: trio.Nursery) -> None:
    running = await start(nursery, config(max_per_ip=None))
    with trio.fail_after(30):
        for _ in range(300):
            stream = await running.open(running.web_port)
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
        alice = await running.websocket("alice")
        bob = await running.tcp("bob")
        await alice.join("#lobby")
        await bob.join("#lobby")
        await alice.send("PRIVMSG #lobby :still chatting")
        assert (await bob.expect("PRIVMSG")).params == ("#lobby", "still chatting")
    await running.close()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], None),
        (["--web-port", "8080"], (8080, None, False)),
        (["--web-port", "8080", "--tls"], (8080, None, True)),
        (["--web-port", "8080", "--web-tls-port", "8443", "--tls"], (8080, 8443, False)),
    ],
)
def test_web_options(argv: list[str], expected: tuple[int, int | None, bool] | None) -> None:
    launch = load(build_parser().parse_args(["serve", *argv]))
    options = WebOptions.from_settings(launch.web, tls=launch.tls_port is not None)
    if expected is None:
        assert options is None
    else:
        assert options is not None
        assert (options.port, options.tls_port, options.tls_on_port) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["--web-port", "0", "--trusted-proxy", "not-an-address"],
        ["--web-port", "0", "--web-origin", "evil.test"],
    ],
)
def test_bad_web_options_are_refused(argv: list[str]) -> None:
    launch = load(build_parser().parse_args(["serve", *argv]))
    with pytest.raises(ValueError, match="--"):
        WebOptions.from_settings(launch.web, tls=False)


def test_web_settings_come_from_the_config_file_too(tmp_path: Path) -> None:
    config = tmp_path / "triochat.toml"
    config.write_text(
        "[listeners.web]\nport = 8080\norigin = 'https://chat.example.org'\n"
        "trusted_proxy = ['10.0.0.0/8']\n"
    )
    launch = load(build_parser().parse_args(["serve", "--config", str(config)]))
    options = WebOptions.from_settings(launch.web, tls=False)
    assert options is not None
    assert (options.port, options.tls_port, options.tls_on_port) == (8080, None, False)
    # A flag still wins over the file.
    argv = ["serve", "--config", str(config), "--web-port", "9"]
    launch = load(build_parser().parse_args(argv))
    options = WebOptions.from_settings(launch.web, tls=False)
    assert options is not None
    assert options.port == 9


async def test_serve_tls_makes_the_web_port_https_and_ctrl_c_closes_websockets(
    tmp_path: Path,
) -> None:
    made = await run(triochat_command("certs", "--dir", str(tmp_path / "certs")))
    assert made.returncode == 0, made.stderr
    cert, ca = tmp_path / "certs" / "server.pem", tmp_path / "certs" / "ca.pem"
    context = ssl.create_default_context(cafile=str(ca))
    args = ("--tls", "--tls-port", "0", "--web-port", "0", "--cert", str(cert))
    async with serve(*args) as server:
        with trio.fail_after(20):
            match = await server.output.wait_for(r"web client at https://127\.0\.0\.1:(\d+)/")
            port = int(match[1])
            host = f"localhost:{port}"
            tcp = await trio.open_tcp_stream("127.0.0.1", port)
            stream = trio.SSLStream(tcp, context, server_hostname="localhost")
            page = await http_request(stream, "/", host=host)
            assert page.status == 200
            await trio.aclose_forcefully(stream)
            tcp = await trio.open_tcp_stream("127.0.0.1", port)
            stream = trio.SSLStream(tcp, context, server_hostname="localhost")
            socket = await open_websocket(stream, host=host, origin=f"https://{host}")
            client = IrcClient(socket)
            await client.register("secure")
            server.interrupt()
            goodbye = await client.wait_closed()
            assert goodbye[-1].params == ("Server shutting down",)
            assert socket.close_code == 1000
            assert await server.process.wait() == 0
            await trio.aclose_forcefully(socket)


async def test_a_web_tls_port_without_a_certificate_is_a_clear_error() -> None:
    result = await run(
        triochat_command("serve", "--web-port", "0", "--web-tls-port", "0",
                         "--cert", "/nonexistent/server.pem", "--db", ":memory:")
    )  # fmt: skip
    assert result.returncode == 2
    assert b"Traceback" not in result.stderr

"""The web listener in memory: static files, the WebSocket handshake, IRC over WebSocket.

WebSocket users are driven by the harness's IrcClient over a wsproto client
stream, beside ordinary (in-memory TCP-like) clients of the same server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing
from harness import IrcClient, MemoryListener, ServerHarness, config
from webclient import BINARY, TEXT, ClientWebSocket, Refused, http_request, open_websocket
from wsproto.frame_protocol import CloseReason

from triochat._irc.wire import MAX_LINE_BYTES, Message
from triochat._ops.http import OpsEndpoint
from triochat._web.handshake import WebPolicy
from triochat._web.server import WebServer

if TYPE_CHECKING:
    from collections.abc import Sequence

CSP_PARTS = ("default-src 'self'", "frame-ancestors 'none'", "connect-src 'self' ws://chat.test")


class WebHarness:
    def __init__(self, chat: ServerHarness, listener: MemoryListener) -> None:
        self.chat = chat
        self.listener = listener

    async def connect(self, *, lockstep: bool = False) -> trio.abc.Stream:
        return await self.listener.connect(lockstep=lockstep)

    async def websocket(
        self,
        *,
        subprotocols: Sequence[str] = (TEXT,),
        origin: str | None = "http://chat.test",
        lockstep: bool = False,
    ) -> ClientWebSocket:
        stream = await self.connect(lockstep=lockstep)
        return await open_websocket(stream, subprotocols=subprotocols, origin=origin)

    async def client(self, nick: str, *, channel: str | None = None, caps: str = "") -> IrcClient:
        client = IrcClient(await self.websocket(), nick)
        await client.register(nick, caps=caps)
        if channel is not None:
            await client.join(channel)
        return client


@pytest.fixture
async def web(nursery: trio.Nursery, harness: ServerHarness) -> WebHarness:
    listener = MemoryListener()
    server = WebServer(harness.server, WebPolicy.build(["https://other.test"]))
    await nursery.start(server.serve, [listener])
    return WebHarness(harness, listener)


# --- static files


async def test_index_has_type_cache_etag_and_security_headers(web: WebHarness) -> None:
    reply = await http_request(await web.connect(), "/")
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert reply.headers["cache-control"] == "no-cache"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["etag"].startswith('"')
    for part in CSP_PARTS:
        assert part in reply.headers["content-security-policy"]
    assert "unsafe-inline" not in reply.headers["content-security-policy"]
    assert b"<script" in reply.body


async def test_if_none_match_gives_304_on_the_same_connection(web: WebHarness) -> None:
    stream = await web.connect()
    import h11

    http = h11.Connection(h11.CLIENT)
    first = await http_request(stream, "/app.js", http=http)
    assert first.headers["content-type"] == "text/javascript; charset=utf-8"
    again = await http_request(
        stream, "/app.js", headers=[("If-None-Match", first.headers["etag"])], http=http
    )
    assert again.status == 304
    assert again.body == b""
    assert again.headers["etag"] == first.headers["etag"]


@pytest.mark.parametrize(
    ("method", "target", "status"),
    [
        ("GET", "/nope.js", 404),
        ("GET", "/../pyproject.toml", 404),
        ("GET", "/static/../__init__.py", 404),
        ("POST", "/", 405),
        ("DELETE", "/app.js", 405),
        ("GET", "/irc", 404),  # not an upgrade: nothing to see there
    ],
)
async def test_other_requests_are_404_or_405(
    web: WebHarness, method: str, target: str, status: int
) -> None:
    reply = await http_request(await web.connect(), target, method=method)
    assert reply.status == status
    assert reply.headers["x-content-type-options"] == "nosniff"


async def test_head_has_headers_and_no_body(web: WebHarness) -> None:
    reply = await http_request(await web.connect(), "/style.css", method="HEAD")
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/css; charset=utf-8"
    assert reply.body == b""


async def test_a_malformed_request_gets_400_and_the_server_goes_on(web: WebHarness) -> None:
    stream = await web.connect()
    await stream.send_all(b"NOT HTTP AT ALL\r\n\r\n")
    data = b""
    while chunk := await stream.receive_some(65536):
        data += chunk
    assert data.startswith(b"HTTP/1.1 400")
    assert (await http_request(await web.connect(), "/")).status == 200


# --- the WebSocket handshake


async def test_a_websocket_user_chats_with_a_tcp_user(web: WebHarness) -> None:
    with trio.fail_after(5):
        alice = await web.chat.client("alice", channel="#lobby")
        bob = await web.client("bob", channel="#lobby")
        assert isinstance(bob.stream, ClientWebSocket)
        assert bob.stream.subprotocol == TEXT
        await alice.send("PRIVMSG #lobby :hello browser")
        message = await bob.expect("PRIVMSG")
        assert message.params == ("#lobby", "hello browser")
        assert message.source is not None
        assert message.source.startswith("alice!")
        await bob.send("PRIVMSG #lobby :hello terminal")
        assert (await alice.expect("PRIVMSG")).params == ("#lobby", "hello terminal")
        assert set(bob.stream.kinds) == {"text"}


async def test_no_subprotocol_means_text_and_binary_is_bytes(web: WebHarness) -> None:
    with trio.fail_after(5):
        plain = await web.websocket(subprotocols=())
        assert plain.subprotocol is None
        client = IrcClient(plain)
        await client.register("plain")
        assert set(plain.kinds) == {"text"}
        binary = await web.websocket(subprotocols=(BINARY, TEXT))
        assert binary.subprotocol == BINARY
        client = IrcClient(binary)
        await client.register("binary")
        assert set(binary.kinds) == {"bytes"}


async def test_a_wrong_origin_is_refused_with_403(web: WebHarness) -> None:
    with trio.fail_after(5), pytest.raises(Refused) as refused:
        await web.websocket(origin="http://evil.test")
    assert refused.value.status == 403


async def test_an_allowed_other_origin_and_no_origin_are_accepted(web: WebHarness) -> None:
    with trio.fail_after(5):
        other = await web.websocket(origin="https://other.test/")
        assert other.subprotocol == TEXT
        no_origin = await web.websocket(origin=None)  # not a browser
        assert no_origin.subprotocol == TEXT


async def test_an_unknown_subprotocol_is_refused(web: WebHarness) -> None:
    with trio.fail_after(5), pytest.raises(Refused) as refused:
        await web.websocket(subprotocols=("chat.example",))
    assert refused.value.status == 400


# --- limits and bad input: only that connection closes


async def test_an_oversized_message_closes_with_1009_and_others_go_on(web: WebHarness) -> None:
    with trio.fail_after(5):
        alice = await web.client("alice", channel="#lobby")
        bob = await web.client("bob", channel="#lobby")
        assert isinstance(bob.stream, ClientWebSocket)
        await bob.send("PRIVMSG #lobby :" + "x" * (MAX_LINE_BYTES + 10))
        assert await bob.stream.wait_close() == CloseReason.MESSAGE_TOO_BIG
        assert (await alice.expect("QUIT")).source.startswith("bob!")  # type: ignore[union-attr]
        await alice.sync()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        # A text frame whose payload is not UTF-8 (masked with a zero key).
        (b"\x81\x82\x00\x00\x00\x00\xff\xfe", CloseReason.INVALID_FRAME_PAYLOAD_DATA),
        # Reserved bits set, no extension negotiated.
        (b"\xf1\x80\x00\x00\x00\x00", CloseReason.PROTOCOL_ERROR),
        # A client frame without a mask.
        (b"\x81\x02hi", CloseReason.PROTOCOL_ERROR),
    ],
)
async def test_garbage_frames_close_only_that_connection(
    web: WebHarness, frame: bytes, code: int
) -> None:
    with trio.fail_after(5):
        alice = await web.client("alice", channel="#lobby")
        bob = await web.client("bob", channel="#lobby")
        assert isinstance(bob.stream, ClientWebSocket)
        await bob.stream.send_raw(frame)
        assert await bob.stream.wait_close() == code
        await alice.expect("QUIT")
        await alice.send("PRIVMSG #lobby :still here")
        await alice.sync()


@pytest.mark.parametrize("server_config", [config(sendq_bytes=8192, flood_control=False)])
async def test_a_websocket_user_that_stops_reading_is_kicked_sendq(web: WebHarness) -> None:
    with trio.fail_after(10):
        alice = await web.chat.client("alice", channel="#lobby")
        stream = await web.connect(lockstep=True)
        stalled = IrcClient(await open_websocket(stream), "stalled")
        await stalled.register("stalled")
        await stalled.join("#lobby")
        # stalled reads nothing from now on; alice talks until the server gives up on it.
        line = "PRIVMSG #lobby :" + "y" * 400
        quits: list[Message] = []
        while not quits:
            await alice.send(line, "PING :sync")
            quits = [m for m in await alice.collect_until("PONG") if m.command == "QUIT"]
        assert quits[0].params == ("SendQ exceeded",)
        assert quits[0].source is not None
        assert quits[0].source.startswith("stalled!")


async def test_a_silent_connection_is_dropped_after_the_handshake_timeout(
    web: WebHarness, autojump_clock: trio.testing.MockClock
) -> None:
    timeout = web.chat.server.config.handshake_timeout
    stream = await web.connect()
    await stream.send_all(b"GET / HTTP/1.1\r\nHost: chat.test\r\n")  # never finished
    start = trio.current_time()
    with trio.fail_after(timeout + 1):
        while await stream.receive_some(65536):
            pass
    assert trio.current_time() - start == pytest.approx(timeout, abs=0.1)


async def test_an_idle_keep_alive_connection_is_dropped_too(
    web: WebHarness, autojump_clock: trio.testing.MockClock
) -> None:
    timeout = web.chat.server.config.handshake_timeout
    stream = await web.connect()
    assert (await http_request(stream, "/")).status == 200
    start = trio.current_time()
    with trio.fail_after(timeout + 1):
        assert await stream.receive_some(65536) == b""
    assert trio.current_time() - start == pytest.approx(timeout, abs=0.1)


@pytest.mark.parametrize("server_config", [config(max_per_ip=2)])
async def test_max_per_ip_counts_websocket_users(web: WebHarness) -> None:
    with trio.fail_after(5):
        await web.client("one")
        await web.client("two")
        third = IrcClient(await web.websocket())
        goodbye = await third.wait_closed()
        assert goodbye[-1].command == "ERROR"
        assert "Too many connections from your address" in goodbye[-1].params[0]


async def test_history_is_replayed_to_a_websocket_user(web: WebHarness) -> None:
    with trio.fail_after(5):
        alice = await web.chat.client("alice", channel="#lobby")
        await alice.send("PRIVMSG #lobby :said before you came")
        await alice.sync()
        bob = await web.client("bob", caps="batch server-time message-tags")
        await bob.send("JOIN #lobby")
        _opening, inside = await bob.batch()
        assert [m.params for m in inside] == [("#lobby", "said before you came")]


async def test_chathistory_latest_over_websocket(web: WebHarness) -> None:
    with trio.fail_after(5):
        alice = await web.chat.client("alice", channel="#lobby")
        for n in range(3):
            await alice.send(f"PRIVMSG #lobby :message {n}")
        await alice.sync()
        caps = "batch server-time message-tags draft/chathistory"
        bob = await web.client("bob", channel="#lobby", caps=caps)
        await bob.send("CHATHISTORY LATEST #lobby * 2")
        _opening, inside = await bob.batch()
        assert [m.params[1] for m in inside] == ["message 1", "message 2"]


async def test_ping_frames_are_answered(web: WebHarness) -> None:
    from wsproto.events import Ping, Pong

    with trio.fail_after(5):
        socket = await web.websocket()
        await socket.send_raw(socket.ws.send(Ping(b"are you there")))
        data = await socket.stream.receive_some(65536)
        socket.ws.receive_data(bytes(data))
        assert [e for e in socket.ws.events() if isinstance(e, Pong)] == [Pong(b"are you there")]


async def test_server_shutdown_sends_error_then_a_close_frame(
    nursery: trio.Nursery, server_config: object
) -> None:
    from triochat._server.server import ChatServer

    stop = trio.Event()
    chat = ChatServer(config(shutdown_grace=1))
    chat_listener = MemoryListener()
    web_listener = MemoryListener()
    await nursery.start(
        lambda task_status: chat.serve(
            [chat_listener], shutdown_trigger=stop.wait, task_status=task_status
        )
    )
    await nursery.start(
        lambda task_status: WebServer(chat).serve(
            [web_listener], shutdown_trigger=stop.wait, task_status=task_status
        )
    )
    with trio.fail_after(5):
        socket = await open_websocket(await web_listener.connect())
        client = IrcClient(socket)
        await client.register("alice")
        stop.set()
        goodbye = await client.wait_closed()
        assert goodbye[-1].params == ("Server shutting down",)
        assert socket.close_code == CloseReason.NORMAL_CLOSURE


async def test_a_huge_request_head_gets_431(web: WebHarness) -> None:
    stream = await web.connect()
    await stream.send_all(b"GET / HTTP/1.1\r\nHost: chat.test\r\nX-Junk: " + b"j" * 20000)
    data = b""
    with trio.fail_after(5):
        while chunk := await stream.receive_some(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 431")


async def test_a_bug_in_one_connection_stays_in_that_connection(
    web: WebHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import triochat._web.server as web_server

    def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    with trio.fail_after(5):
        monkeypatch.setattr(web_server, "respond", broken)
        stream = await web.connect()
        await stream.send_all(b"GET / HTTP/1.1\r\nHost: chat.test\r\n\r\n")
        assert await stream.receive_some(65536) == b""  # dropped, nothing else
        monkeypatch.undo()
        assert (await http_request(await web.connect(), "/")).status == 200
        still = await web.client("still", channel="#lobby")
        await still.sync()
    assert "web connection from localhost failed" in caplog.text


async def test_fragmented_messages_and_a_trailing_crlf_are_one_line_each(web: WebHarness) -> None:
    from wsproto.events import TextMessage

    with trio.fail_after(5):
        alice = await web.chat.client("alice", channel="#lobby")
        socket = await web.websocket()
        bob = IrcClient(socket, "bob")
        await bob.register("bob")
        await bob.join("#lobby")
        frames = socket.ws.send(TextMessage(data="PRIVMSG #lobby :frag", message_finished=False))
        frames += socket.ws.send(TextMessage(data="mented", message_finished=True))
        frames += socket.ws.send(TextMessage(data="PRIVMSG #lobby :with CRLF\r\n"))
        await socket.send_raw(frames)
        assert (await alice.expect("PRIVMSG")).params == ("#lobby", "fragmented")
        assert (await alice.expect("PRIVMSG")).params == ("#lobby", "with CRLF")


async def test_a_thousand_half_open_http_connections_do_not_stop_chat(web: WebHarness) -> None:
    with trio.fail_after(10):
        half_open = []
        for _ in range(1000):
            stream = await web.connect()
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: chat.test\r\n")  # never finished
            half_open.append(stream)
        alice = await web.chat.client("alice", channel="#lobby")
        bob = await web.client("bob", channel="#lobby")
        await bob.send("PRIVMSG #lobby :still chatting")
        assert (await alice.expect("PRIVMSG")).params == ("#lobby", "still chatting")


async def test_the_web_port_answers_metrics_and_health_when_mounted(
    nursery: trio.Nursery, harness: ServerHarness
) -> None:
    listener = MemoryListener()
    server = WebServer(harness.server, ops=OpsEndpoint(harness.server))
    await nursery.start(server.serve, [listener])
    with trio.fail_after(5):
        await harness.client("alice", channel="#room")
        metrics = await http_request(await listener.connect(), "/metrics")
        assert metrics.status == 200
        assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert b"triochat_registrations_total 1" in metrics.body
        health = await http_request(await listener.connect(), "/healthz")
        assert health.status == 200
        head = await http_request(await listener.connect(), "/readyz", method="HEAD")
        assert head.body == b""
        # Without the endpoint mounted, those paths are not served on the web port.
        plain = MemoryListener()
        await nursery.start(WebServer(harness.server).serve, [plain])
        assert (await http_request(await plain.connect(), "/metrics")).status == 404

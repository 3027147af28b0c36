"""The sans-IO decisions of the web listener: client address, origin, subprotocol, static files."""

from __future__ import annotations

import pytest

from triochat._web.handshake import (
    BINARY,
    Accept,
    Refuse,
    WebPolicy,
    check_upgrade,
    client_address,
)
from triochat._web.static import StaticFile, respond, security_headers

TRUSTED = WebPolicy.build([], ["10.0.0.0/8", "127.0.0.1"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("127.0.0.1", "203.0.113.7", "203.0.113.7"),
        ("127.0.0.1", "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # the rightmost not ours
        ("127.0.0.1", "203.0.113.7, 10.1.2.3", "203.0.113.7"),  # skipping our own proxies
        ("127.0.0.1", "garbage, 203.0.113.7", "203.0.113.7"),
        ("127.0.0.1", "203.0.113.7, garbage", "127.0.0.1"),  # nothing believable
        ("127.0.0.1", "", "127.0.0.1"),
        ("192.0.2.50", "203.0.113.7", "192.0.2.50"),  # not a proxy of ours: ignored
        ("127.0.0.1", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_x_forwarded_for(peer: str, forwarded: str, expected: str) -> None:
    headers = {"x-forwarded-for": forwarded} if forwarded else {}
    assert client_address(peer, False, headers, TRUSTED).host == expected


def test_x_forwarded_proto_only_from_a_trusted_proxy() -> None:
    headers = {"x-forwarded-proto": "https"}
    assert client_address("127.0.0.1", False, headers, TRUSTED).secure
    assert not client_address("192.0.2.50", False, headers, TRUSTED).secure


def upgrade(**extra: str) -> dict[str, str]:
    headers = {
        "host": "chat.test:8080",
        "upgrade": "websocket",
        "connection": "keep-alive, Upgrade",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    headers.update(extra)
    return headers


def test_the_rfc_6455_example_key_gives_its_accept_value() -> None:
    decision = check_upgrade("GET", upgrade(), secure=False, policy=WebPolicy())
    assert isinstance(decision, Accept)
    assert ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") in decision.headers


@pytest.mark.parametrize(
    ("headers", "secure", "status"),
    [
        (upgrade(origin="http://chat.test:8080"), False, None),
        (upgrade(origin="HTTP://Chat.Test:8080/"), False, None),
        (upgrade(origin="https://chat.test:8080"), False, 403),  # scheme differs
        (upgrade(origin="https://chat.test:8080"), True, None),
        (upgrade(origin="http://chat.test:8081"), False, 403),
        (upgrade(origin="null"), False, 403),
        (upgrade(origin="https://allowed.example"), False, None),
        (upgrade(**{"sec-websocket-version": "8"}), False, 426),
        (upgrade(**{"sec-websocket-key": ""}), False, 400),
        (upgrade(connection="keep-alive"), False, 400),
        (upgrade(**{"sec-websocket-protocol": "chat, superchat"}), False, 400),
    ],
)
def test_upgrade_decisions(headers: dict[str, str], secure: bool, status: int | None) -> None:
    policy = WebPolicy.build(["https://allowed.example/"])
    decision = check_upgrade("GET", headers, secure=secure, policy=policy)
    if status is None:
        assert isinstance(decision, Accept)
    else:
        assert isinstance(decision, Refuse)
        assert decision.status == status


def test_the_clients_order_of_subprotocols_wins() -> None:
    headers = upgrade(**{"sec-websocket-protocol": "x.example, binary.ircv3.net, text.ircv3.net"})
    decision = check_upgrade("GET", headers, secure=False, policy=WebPolicy())
    assert isinstance(decision, Accept)
    assert decision.binary
    assert ("Sec-WebSocket-Protocol", BINARY) in decision.headers


def test_a_hostile_host_header_never_reaches_the_csp() -> None:
    (_, policy), *_ = security_headers("evil.test; script-src *")
    assert "script-src *" not in policy
    assert "evil" not in policy


def test_if_none_match_lists_and_weak_validators() -> None:
    files = {"/a.js": StaticFile(b"x", "text/javascript; charset=utf-8", '"abc"')}
    for header in ('"abc"', 'W/"abc"', '"zzz", "abc"', "*"):
        assert respond(files, "GET", "/a.js", {"if-none-match": header}).status == 304
    assert respond(files, "GET", "/a.js", {"if-none-match": '"zzz"'}).status == 200
    assert respond(files, "GET", "/a.js?v=2", {}).status == 200

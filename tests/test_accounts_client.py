"""``triochat connect --account``: our client logs in with SASL against our server, in memory.

Real clock (bounded by ``trio.fail_after``): the server hashes in worker threads.
"""

from __future__ import annotations

import argparse

import pytest
import trio
from harness import MemoryListener, config
from test_client import Screen

from triochat._accounts.hashing import make_secrets
from triochat._cli.connect import credentials_from_args
from triochat._client.commands import Command, Verb, parse_input
from triochat._client.sasl import Credentials, SaslClient
from triochat._client.session import run_client
from triochat._server.server import ChatServer


async def _server(nursery: trio.Nursery) -> tuple[ChatServer, MemoryListener]:
    listener = MemoryListener()
    server = ChatServer(config())
    await nursery.start(server.serve, [listener])
    assert server.accounts is not None
    password_hash, scram = make_secrets("secret1")
    server.accounts.store.create("alice", password_hash, scram, email=None, now=0.0)
    server.state.preload_accounts(["alice"])
    return server, listener


async def _client(
    nursery: trio.Nursery, listener: MemoryListener, nick: str, login: Credentials | None
) -> tuple[trio.MemorySendChannel[str], Screen]:
    keyboard, lines = trio.open_memory_channel[str](100)
    display, shown = trio.open_memory_channel[str](1000)
    stream = await listener.connect()
    nursery.start_soon(lambda: run_client(stream, lines, display, nick=nick, login=login))
    return keyboard, Screen(shown)


async def test_connect_with_an_account_logs_in_with_scram(nursery: trio.Nursery) -> None:
    with trio.fail_after(30):
        server, listener = await _server(nursery)
        _, screen = await _client(nursery, listener, "alice", Credentials("alice", "secret1"))
        await screen.wait_for("-!- logged in as alice")
        await screen.wait_for("you have joined #lobby")
        [client] = server.state.network.registered()
        assert client.account == "alice"


async def test_a_wrong_password_says_so_and_chats_anyway(nursery: trio.Nursery) -> None:
    with trio.fail_after(30):
        _, listener = await _server(nursery)
        _, screen = await _client(nursery, listener, "bob", Credentials("alice", "nope"))
        await screen.wait_for("-!- login failed: SASL authentication failed")
        await screen.wait_for("you have joined #lobby")


async def test_register_and_identify_commands(nursery: trio.Nursery) -> None:
    with trio.fail_after(30):
        server, listener = await _server(nursery)
        keyboard, screen = await _client(nursery, listener, "carol", None)
        await screen.wait_for("you have joined #lobby")
        await keyboard.send("/register secret3")
        await screen.wait_for("-!- logged in as carol")
        keyboard2, screen2 = await _client(nursery, listener, "dave", None)
        await screen2.wait_for("you have joined #lobby")
        await keyboard2.send("/identify alice secret1")
        await screen2.wait_for("-!- logged in as alice")
        assert {c.account for c in server.state.network.registered()} == {"carol", "alice"}


def test_plain_is_refused_over_plain_text_unless_allowed() -> None:
    plain_only = "PLAIN"
    refused = SaslClient(Credentials("a", "pw"), secure=False, offered=plain_only)
    assert refused.mechanism is None
    assert "in clear" in refused.refusal
    allowed = SaslClient(Credentials("a", "pw", insecure_plain=True), secure=False, offered="PLAIN")
    assert allowed.mechanism == "PLAIN"
    assert SaslClient(Credentials("a", "pw"), secure=True, offered="PLAIN").mechanism == "PLAIN"
    scram = SaslClient(Credentials("a", "pw"), secure=False, offered="PLAIN,SCRAM-SHA-256")
    assert scram.mechanism == "SCRAM-SHA-256"
    assert "pw" not in repr(Credentials("a", "pw"))


def test_the_password_comes_from_the_environment_or_a_prompt() -> None:
    args = argparse.Namespace(account="alice", insecure_plain=False)
    from_env = credentials_from_args(args, env={"TRIOCHAT_PASSWORD": "s1"}, prompt=lambda _: "x")
    assert from_env is not None
    assert from_env.password == "s1"
    asked = credentials_from_args(args, env={}, prompt=lambda _: "s2")
    assert asked is not None
    assert asked.password == "s2"
    with pytest.raises(ValueError, match="only makes sense"):
        credentials_from_args(argparse.Namespace(account=None, insecure_plain=True), env={})


def test_register_and_identify_are_client_commands() -> None:
    assert parse_input("/register pw") == Command(Verb.REGISTER, "pw")
    assert parse_input("/identify alice pw") == Command(Verb.IDENTIFY, "alice pw")


def test_the_status_line_shows_the_account() -> None:
    from triochat._client.events import LoggedIn, Registered
    from triochat._client.view import ChatView
    from triochat._tui.render import render_status

    view = ChatView()
    view.apply(Registered("alice", "test.server"))
    assert "logged in" not in render_status(view, server="s", tls=True).plain
    view.apply(LoggedIn("alice"))
    assert "(logged in as alice)" in render_status(view, server="s", tls=True).plain

"""A registered room through the real server: it outlives emptying and a restart.

Like ``test_accounts_server``, this runs on the real clock bounded by
``trio.fail_after`` rather than ``autojump_clock``: the login hashes its
password in a worker thread, and a mock clock would jump to the next
deadline (the nick-protection rename, the test's own) while the event loop
waits for it. Nothing here sleeps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
from harness import IrcClient, MemoryListener, ServerHarness, config

from triochat._accounts.hashing import make_secrets
from triochat._server.server import ChatServer

if TYPE_CHECKING:
    from pathlib import Path

    from triochat._config import ServerConfig


async def running(nursery: trio.Nursery, server_config: ServerConfig) -> ServerHarness:
    listener = MemoryListener()
    server = ChatServer(server_config)
    await nursery.start(server.serve, [listener])
    return ServerHarness(server, listener)


async def logged_in(h: ServerHarness, nick: str, password: str) -> IrcClient:
    """A client whose account the owner created (as ``triochat account create`` does)."""
    assert h.server.accounts is not None
    password_hash, scram = make_secrets(password)
    h.server.accounts.store.create(nick, password_hash, scram, email=None, now=0.0)
    h.server.state.preload_accounts([nick])
    client = await h.client(nick)
    await client.send(f"PRIVMSG NickServ :IDENTIFY {password}")
    await client.expect("NOTICE", nick, f"You are now identified for {nick}")
    return client


async def test_a_registered_room_survives_emptying_and_a_restart(tmp_path: Path) -> None:
    server_config = config(history_db=str(tmp_path / "chat.db"))
    with trio.fail_after(30):
        async with trio.open_nursery() as first:
            h = await running(first, server_config)
            alice = await logged_in(h, "alice", "secret1")
            await alice.join("#room")
            await alice.send("PRIVMSG ChanServ :REGISTER #room")
            await alice.expect("NOTICE", "alice", "#room is registered to alice")
            await alice.send("TOPIC #room :it survives", "MODE #room +b carol!*@*", "PART #room")
            await alice.expect("PART", "#room")
            assert h.server.state.network.channel("#room") is None  # emptied
            bob = await h.client("bob")
            await bob.send("JOIN #room")
            await bob.expect("332", "bob", "#room", "it survives")
            await bob.send("MODE #room b")
            await bob.expect("367", "bob", "#room", "carol!*@*")
            first.cancel_scope.cancel()
        async with trio.open_nursery() as second:
            h = await running(second, server_config)
            carol = await h.client("carol")
            await carol.send("JOIN #room")
            await carol.expect("474", "carol", "#room")
            dave = await h.client("dave")
            await dave.send("JOIN #room")
            await dave.expect("332", "dave", "#room", "it survives")
            second.cancel_scope.cancel()

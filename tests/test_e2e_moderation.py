"""End to end (issue 12): irssi, a real IRC client, bans, invites and logs in as an operator
against a real ``triochat serve --oper NAME:HASH`` process.

Real time and real sockets; every wait has a deadline.
"""

from __future__ import annotations

import os
import secrets
from typing import TYPE_CHECKING

import pytest
import trio
from harness import IrcClient
from processes import Tmux, require, serve

from triochat._opers.passwords import hash_password

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e


async def tcp_client(port: int, nick: str) -> IrcClient:
    client = IrcClient(await trio.open_tcp_stream("127.0.0.1", port))
    await client.register(nick)
    return client


async def test_irssi_bans_invites_and_opers(tmp_path: Path) -> None:
    irssi = require("irssi")
    tmux = Tmux(require("tmux"), f"triochat-e2e-{os.getpid()}-{secrets.token_hex(4)}")
    home = tmp_path / "irssi"
    home.mkdir()
    (home / "config").write_text('settings = { "irc/core" = { cmd_queue_speed = "0"; }; };\n')
    oper = f"admin:{hash_password('open-sesame', log_cost=10)}"
    async with serve("--oper", oper) as server:
        bob = await tcp_client(server.port, "bob")
        dave = await tcp_client(server.port, "dave")
        try:
            with trio.fail_after(60):
                await tmux.start([irssi, f"--home={home}", "-n", "carol", "-c", "127.0.0.1",
                                  "-p", str(server.port)])  # fmt: skip
                await tmux.wait_for("Welcome to the triochat IRC Network")
                await tmux.type("/join #room")
                await tmux.wait_for("has joined #room")  # carol made #room: she is its operator
                await bob.join("#room")
                await tmux.type("/mode #room +b bob")
                ban = await bob.expect("MODE")
                assert ban.params == ("#room", "+b", "bob!*@*")
                await bob.send("PRIVMSG #room :can I speak?")
                await bob.expect("404", "bob", "#room")
                await tmux.type("/mode #room +i")
                await bob.expect("MODE", "#room", "+i")
                await dave.send("JOIN #room")
                await dave.expect("473", "dave", "#room")
                await tmux.type("/invite dave #room")
                invite = await dave.expect("INVITE")
                assert invite.params == ("dave", "#room")
                await dave.join("#room")
                # To the status window first: irssi shows 381 there or in the active
                # window, so with this order the reply is on screen either way.
                await tmux.type("/window 1")
                await tmux.type("/oper admin open-sesame")
                await tmux.wait_for("You are now an IRC operator")
                await bob.send("WHOIS carol")
                await bob.expect("313", "bob", "carol")
                await tmux.type("/quit")
                await bob.expect("QUIT")
        finally:
            await tmux.close()
            await bob.stream.aclose()
            await dave.stream.aclose()
        assert await server.stop() == 0

"""End to end: real ``triochat`` processes on 127.0.0.1, and real clients nobody here wrote.

Real time and real sockets, so no autojump clock; every wait has a deadline.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from typing import TYPE_CHECKING

import pytest
import trio
from harness import IrcClient
from processes import OutputLines, Tmux, require, run, serve, triochat_command

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e


async def tcp_client(port: int, nick: str, channel: str = "#lobby") -> IrcClient:
    client = IrcClient(await trio.open_tcp_stream("127.0.0.1", port))
    await client.register(nick)
    await client.join(channel)
    return client


async def test_chat_then_ctrl_c_tells_everyone_and_a_restart_reuses_the_port() -> None:
    async with serve() as server:
        with trio.fail_after(20):
            alice = await tcp_client(server.port, "alice")
            bob = await tcp_client(server.port, "bob")
            await alice.send("PRIVMSG #lobby :hello over a real socket")
            assert (await bob.expect("PRIVMSG")).params[1] == "hello over a real socket"
            await bob.send("QUIT")  # the server closes first: its side enters TIME_WAIT
            await bob.wait_closed()
            await bob.stream.aclose()
            server.interrupt()
            goodbye = await alice.wait_closed()
            await alice.stream.aclose()  # as IRC clients do on ERROR
            code = await server.process.wait()
        assert goodbye[-1].command == "ERROR"
        assert goodbye[-1].params == ("Server shutting down",)
        assert code == 0
    async with serve("--port", str(server.port)) as again:  # at once, same port
        with trio.fail_after(20):
            carol = await tcp_client(again.port, "carol")
            await carol.sync()
            await carol.stream.aclose()
            assert await again.stop() == 0


async def test_port_in_use_is_a_clear_error() -> None:
    async with serve() as server:
        result = await run(triochat_command("serve", "--port", str(server.port)))
        assert result.returncode == 1
        assert b"cannot listen" in result.stderr
        assert b"Traceback" not in result.stderr
        assert await server.stop() == 0


async def test_tls_with_triochat_certs_and_openssl_s_client(tmp_path: Path) -> None:
    openssl = require("openssl")
    made = await run(triochat_command("certs", "--dir", str(tmp_path / "certs")))
    assert made.returncode == 0, made.stderr
    cert = str(tmp_path / "certs" / "server.pem")
    async with serve("--tls", "--tls-port", "0", "--cert", cert) as server:
        port = server.tls_ports[0]
        client = await trio.lowlevel.open_process(
            [openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
             "-CAfile", str(tmp_path / "certs" / "ca.pem"), "-verify_return_error", "-quiet"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert client.stdin is not None
        assert client.stdout is not None
        output = OutputLines(client.stdout)
        with trio.fail_after(20):
            await client.stdin.send_all(b"NICK openssl\r\nUSER o 0 * :o\r\n")
            await output.wait_for(r" 001 openssl ")
            await client.stdin.send_all(b"JOIN #secure\r\nPRIVMSG #secure :hi\r\nQUIT\r\n")
            await output.wait_for(r"JOIN #secure")
            await output.wait_for(r"^ERROR ")
            await client.wait()
        assert await server.stop() == 0


async def test_irssi_chats_publicly_and_privately_with_triochat_users(tmp_path: Path) -> None:
    irssi = require("irssi")
    tmux = Tmux(require("tmux"), f"triochat-e2e-{os.getpid()}-{secrets.token_hex(4)}")
    async with serve() as server:
        alice = await tcp_client(server.port, "alice")
        bob = await tcp_client(server.port, "bob")
        await alice.expect("JOIN")  # bob's
        home = tmp_path / "irssi"
        home.mkdir()
        # irssi paces its own commands (one per 2.2 s after a burst of 5); no need here.
        (home / "config").write_text('settings = { "irc/core" = { cmd_queue_speed = "0"; }; };\n')
        try:
            with trio.fail_after(30):
                await tmux.start(
                    [
                        irssi,
                        f"--home={home}",
                        "-n",
                        "carol",
                        "-c",
                        "127.0.0.1",
                        "-p",
                        str(server.port),
                    ]
                )
                await tmux.wait_for("Welcome to the triochat IRC Network")
                await tmux.type("/join #lobby")
                joined = await alice.expect("JOIN")
                assert joined.source is not None
                assert joined.source.startswith("carol!")
                await tmux.type("hello from irssi")
                said = await alice.expect("PRIVMSG")
                assert (said.source, said.params) == (joined.source, ("#lobby", "hello from irssi"))
                await alice.send("PRIVMSG #lobby :hi carol, from alice")
                await tmux.wait_for("hi carol, from alice")
                await alice.send("PRIVMSG carol :psst, just for you")
                await tmux.type("/query alice")  # irssi shows private messages in a query window
                await tmux.wait_for("psst, just for you")
                await tmux.type("/msg alice a private reply")
                reply = await alice.expect("PRIVMSG")
                assert reply.params == ("alice", "a private reply")
                await tmux.type("/quit bye all")
                assert (await alice.expect("QUIT")).params == ("Quit: bye all",)
                await bob.sync()
                bob_heard = [m.params for m in bob.skipped if m.command == "PRIVMSG"]
                assert bob_heard == [
                    ("#lobby", "hello from irssi"),
                    ("#lobby", "hi carol, from alice"),
                ]
        finally:
            await tmux.close()
            await alice.stream.aclose()
            await bob.stream.aclose()
        assert await server.stop() == 0

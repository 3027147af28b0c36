"""End to end: real ``triochat`` processes on 127.0.0.1, and real clients nobody here wrote.

Real time and real sockets, so no autojump clock; every wait has a deadline.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from typing import TYPE_CHECKING

import pytest
import trio
from harness import IrcClient
from processes import OutputLines, Tmux, connect, require, run, serve, triochat_command

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


async def test_sigterm_tells_clients_and_exits_0() -> None:
    async with serve() as server:
        with trio.fail_after(20):
            alice = await tcp_client(server.port, "alice")
            server.process.send_signal(signal.SIGTERM)
            goodbye = await alice.wait_closed()
            await alice.stream.aclose()
            assert await server.process.wait() == 0
        assert goodbye[-1].params == ("Server shutting down",)


async def test_port_in_use_is_a_clear_error() -> None:
    async with serve() as server:
        result = await run(
            triochat_command("serve", "--port", str(server.port), "--db", ":memory:")
        )
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


async def chat_between_two_clients(port: int, *tls_args: str) -> None:
    """alice and bob, each a ``triochat connect`` process, talk in #lobby and in private."""
    common = ["--port", str(port), *tls_args]
    async with connect("localhost", *common, "--nick", "alice") as alice:
        await alice.output.wait_for(r"here in #lobby")
        async with connect("localhost", *common, "--nick", "bob") as bob:
            await alice.output.wait_for(r"bob has joined #lobby")
            await alice.say("hello bob, from one process to another")
            await bob.output.wait_for(r"<alice> hello bob, from one process to another")
            await bob.say("/msg alice a secret")
            await alice.output.wait_for(r"\*bob\* a secret")
            await bob.say("!time")
            await bob.output.wait_for(r"time on triochat:")
            assert await bob.finish() == 0
        await alice.output.wait_for(r"bob has quit")
        assert await alice.finish() == 0


async def test_two_triochat_clients_chat() -> None:
    async with serve() as server:
        with trio.fail_after(60):
            await chat_between_two_clients(server.port)
        assert await server.stop() == 0


async def test_newcomer_chats_over_tls_with_the_readme_commands(tmp_path: Path) -> None:
    """triochat certs; triochat serve --tls; triochat connect --tls --ca certs/ca.pem."""
    made = await run(triochat_command("certs", "--dir", str(tmp_path / "certs")))
    assert made.returncode == 0, made.stderr
    cert, ca = tmp_path / "certs" / "server.pem", tmp_path / "certs" / "ca.pem"
    async with serve("--tls", "--tls-port", "0", "--cert", str(cert)) as server:
        with trio.fail_after(60):
            await chat_between_two_clients(server.tls_ports[0], "--tls", "--ca", str(ca))
        assert await server.stop() == 0


async def test_irssi_and_triochat_connect_chat_publicly_and_privately(tmp_path: Path) -> None:
    """A real IRC client nobody here wrote, in a real terminal, with our client."""
    irssi = require("irssi")
    tmux = Tmux(require("tmux"), f"triochat-e2e-{os.getpid()}-{secrets.token_hex(4)}")
    home = tmp_path / "irssi"
    home.mkdir()
    # irssi paces its own commands (one per 2.2 s after a burst of 5); no need here.
    (home / "config").write_text('settings = { "irc/core" = { cmd_queue_speed = "0"; }; };\n')
    async with serve() as server, connect("--port", str(server.port), "--nick", "alice") as alice:
        with trio.fail_after(20):
            await alice.output.wait_for("here in #lobby")
        watcher = await tcp_client(server.port, "watcher")  # sees what is public, and only that
        try:
            with trio.fail_after(60):
                await alice.output.wait_for("watcher has joined #lobby")
                irssi_command = [irssi, f"--home={home}", "-n", "carol"]
                await tmux.start([*irssi_command, "-c", "127.0.0.1", "-p", str(server.port)])
                await tmux.wait_for("Welcome to the triochat IRC Network")
                await tmux.type("/join #lobby")
                await alice.output.wait_for("carol has joined #lobby")
                await tmux.type("hello from irssi")
                await alice.output.wait_for("<carol> hello from irssi")
                await alice.say("hi carol, from triochat connect")
                await tmux.wait_for("hi carol, from triochat connect")
                await alice.say("/msg carol psst, just for you")
                await tmux.type("/query alice")  # irssi shows private messages in a query window
                await tmux.wait_for("psst, just for you")
                await tmux.type("/msg alice a private reply")
                await alice.output.wait_for(r"\*carol\* a private reply")
                await tmux.type("/quit bye all")
                await alice.output.wait_for("carol has quit")
                assert await alice.finish() == 0
                await watcher.expect("QUIT")  # alice's, after everything else
        finally:
            await tmux.close()
            await watcher.stream.aclose()
        heard = [m.params for m in watcher.skipped if m.command == "PRIVMSG"]
        assert heard == [
            ("#lobby", "hello from irssi"),
            ("#lobby", "hi carol, from triochat connect"),
        ]
        assert await server.stop() == 0


async def test_irssi_over_tls_verifies_the_dev_ca_and_chats(tmp_path: Path) -> None:
    irssi = require("irssi")
    made = await run(triochat_command("certs", "--dir", str(tmp_path / "certs")))
    assert made.returncode == 0, made.stderr
    cert, ca = tmp_path / "certs" / "server.pem", tmp_path / "certs" / "ca.pem"
    tmux = Tmux(require("tmux"), f"triochat-e2e-{os.getpid()}-{secrets.token_hex(4)}")
    home = tmp_path / "irssi"
    home.mkdir()
    (home / "config").write_text('settings = { "irc/core" = { cmd_queue_speed = "0"; }; };\n')
    async with serve("--tls", "--tls-port", "0", "--cert", str(cert)) as server:
        port = server.tls_ports[0]
        tls_args = ("localhost", "--port", str(port), "--tls", "--ca", str(ca))
        async with connect(*tls_args, "--nick", "alice") as alice:
            try:
                with trio.fail_after(60):
                    await alice.output.wait_for("here in #lobby")
                    await tmux.start([irssi, f"--home={home}", "-n", "carol"])
                    await tmux.wait_for("Irssi v")
                    await tmux.type(f"/connect -tls -tls_cafile {ca} localhost {port}")
                    await tmux.wait_for("Welcome to the triochat IRC Network")
                    await tmux.type("/join #lobby")
                    await alice.output.wait_for("carol has joined #lobby")
                    await tmux.type("hello over TLS from irssi")
                    await alice.output.wait_for("<carol> hello over TLS from irssi")
                    await tmux.type("/quit")
                    await alice.output.wait_for("carol has quit")
                    assert await alice.finish() == 0
            finally:
                await tmux.close()
        assert await server.stop() == 0

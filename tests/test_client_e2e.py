"""``triochat connect`` as a real process, against ``triochat serve`` on 127.0.0.1.

Real time and real sockets, so no autojump clock; every wait has a deadline.
"""

from __future__ import annotations

import os
import secrets
from typing import TYPE_CHECKING

import pytest
import trio
from harness import IrcClient
from processes import Tmux, require, run, serve, triochat_command

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e


async def listener_in_lobby(port: int) -> IrcClient:
    """A raw IRC client in #lobby, to see what our client really sent."""
    client = IrcClient(await trio.open_tcp_stream("127.0.0.1", port))
    await client.register("watcher")
    await client.join("#lobby")
    return client


async def test_piped_input_is_all_sent_then_the_client_quits() -> None:
    async with serve() as server:
        with trio.fail_after(30):
            watcher = await listener_in_lobby(server.port)
            script = b"hello from a pipe\n!private nobody\nnever public\n/me waves\n!time\n"
            result = await trio.run_process(
                triochat_command("connect", "--port", str(server.port), "--nick", "piper"),
                stdin=script,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
            assert (await watcher.expect("JOIN")).source is not None
            assert (await watcher.expect("PRIVMSG")).params == ("#lobby", "hello from a pipe")
            assert (await watcher.expect("PRIVMSG")).params == ("#lobby", "\x01ACTION waves\x01")
            assert (await watcher.expect("QUIT")).params == ("Quit: leaving",)
            await watcher.stream.aclose()
        shown = result.stdout.decode()
        assert result.returncode == 0, result.stderr
        assert "<piper> hello from a pipe" in shown
        assert "no such nick: nobody" in shown
        assert "not sent, nobody is not here: never public" in shown
        assert "time on triochat:" in shown
        assert shown.count("disconnected") == 1


async def test_terminal_user_picks_a_nick_chats_and_leaves_with_ctrl_c(tmp_path: Path) -> None:
    tmux_path = require("tmux")
    name = f"triochat-client-e2e-{os.getpid()}-{secrets.token_hex(4)}"
    tmux = Tmux(tmux_path, name)
    async with serve() as server:
        watcher = await listener_in_lobby(server.port)
        command = triochat_command("connect", "--port", str(server.port))
        try:
            with trio.fail_after(30):
                # The shell traps SIGINT (so that it lives on to print the exit code);
                # the client, started by exec, gets the default handling back.
                shell = " ".join(["trap true INT;", *command, "; echo exit=$?; sleep 30"])
                await tmux.start(["sh", "-c", shell])
                await tmux.wait_for("choose a nickname:")
                await tmux.type("tty")
                await tmux.wait_for("you have joined #lobby")
                assert (await watcher.expect("JOIN")).source is not None
                await tmux.type("hello from a terminal")
                said = await watcher.expect("PRIVMSG")
                assert said.params == ("#lobby", "hello from a terminal")
                await watcher.send("PRIVMSG #lobby :\x1b[31mred alert\x07")
                screen = await tmux.wait_for("red alert")
                assert "<watcher> ?[31mred alert?" in screen
                await run([tmux_path, "-L", name, "send-keys", "-t", "e2e", "C-c"])
                assert (await watcher.expect("QUIT")).params == ("Quit: leaving",)
                await tmux.wait_for("exit=0")
        finally:
            await tmux.close()
            await watcher.stream.aclose()

"""The full-screen client in a real terminal: tmux runs ``triochat connect``, a real server.

Keys go in with ``tmux send-keys`` and the screen comes back with
``capture-pane``. Real time and real sockets; every wait has a deadline.
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


async def test_full_screen_client_chats_and_leaves_with_ctrl_c(tmp_path: Path) -> None:
    tmux_path = require("tmux")
    name = f"triochat-tui-e2e-{os.getpid()}-{secrets.token_hex(4)}"
    tmux = Tmux(tmux_path, name)
    async with serve(cwd=str(tmp_path)) as server:  # anything the server writes stays there
        watcher = IrcClient(await trio.open_tcp_stream("127.0.0.1", server.port))
        await watcher.register("watcher")
        await watcher.join("#lobby")
        command = triochat_command("connect", "--port", str(server.port), "--nick", "tty")
        try:
            with trio.fail_after(60):
                # The shell outlives the client, to show its exit code on the restored terminal.
                shell = " ".join(["trap true INT;", *command, "; echo exit=$?; sleep 30"])
                await tmux.start(["sh", "-c", shell], width=120, height=30)
                screen = await tmux.wait_for("here in #lobby")
                assert "plain text" in screen  # the status line
                assert "2 #lobby" in screen  # the window list
                assert "@watcher" in screen  # the member list
                assert (await watcher.expect("JOIN")).source is not None

                await tmux.type("hello from the full screen")
                said = await watcher.expect("PRIVMSG")
                assert said.params == ("#lobby", "hello from the full screen")
                await tmux.wait_for("<tty> hello from the full screen")

                await watcher.send("PRIVMSG #lobby :[bold]not bold[/bold] \x1b[31mred\x07")
                screen = await tmux.wait_for("not bold")
                assert "<watcher> [bold]not bold[/bold] ?[31mred?" in screen

                await watcher.send("PRIVMSG tty :psst, tty")
                screen = await tmux.wait_for("3 watcher ! (1)")  # a new window, marked
                await tmux.type("/msg nobody hello?")
                screen = await tmux.wait_for("no such nick: nobody")
                (tmp_path / "screen.txt").write_text(screen)

                await run([tmux_path, "-L", name, "send-keys", "-t", "e2e", "C-c"])
                assert (await watcher.expect("QUIT")).params == ("Quit: leaving",)
                screen = await tmux.wait_for("exit=0")
                assert "#lobby" not in screen  # the terminal is back to normal
        finally:
            await tmux.close()
            await watcher.stream.aclose()

"""The terminal adapter: real file descriptors, real worker threads.

These tests read from OS pipes in worker threads, so they run on the real
clock (the autojump clock could jump while a thread is still reading); each
is bounded by ``fail_after`` and finishes in milliseconds.
"""

from __future__ import annotations

import io
import os
import signal
from typing import TYPE_CHECKING

import trio
import trio.testing
from test_client import FakeServer

from triochat._cli.terminal import read_input_lines, run_in_terminal, write_display_lines

if TYPE_CHECKING:
    from pathlib import Path

LIMIT = 10  # seconds of real time, far more than any of these needs


def _pipe_with(data: bytes, *, close: bool = True) -> tuple[int, int]:
    """A pipe already holding ``data``; its write end is closed unless asked not to."""
    read_fd, write_fd = os.pipe()
    os.write(write_fd, data)
    if close:
        os.close(write_fd)
        write_fd = -1
    return read_fd, write_fd


async def _read_all(fd: int) -> list[str]:
    send, receive = trio.open_memory_channel[str](100)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_input_lines, fd, send)
        return [line async for line in receive]


async def test_input_lines_from_a_pipe() -> None:
    read_fd, _ = _pipe_with(b"one\n\ntwo\r\ncaf\xc3\xa9 \xff\nlast without newline")
    with trio.fail_after(LIMIT):
        lines = await _read_all(read_fd)
    os.close(read_fd)
    assert lines == ["one", "two", "caf\u00e9 \ufffd", "last without newline"]


async def test_input_read_error_ends_input(tmp_path: Path) -> None:
    directory_fd = os.open(tmp_path, os.O_RDONLY)  # reading it fails: the end of input
    try:
        with trio.fail_after(LIMIT):
            assert await _read_all(directory_fd) == []
    finally:
        os.close(directory_fd)


async def test_display_lines_are_written_in_order() -> None:
    out = io.StringIO()
    send, receive = trio.open_memory_channel[str](10)
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(write_display_lines, receive, out)
            async with send:
                for line in ("[12:01] <bob> one", "[12:01] <bob> two"):
                    await send.send(line)
    assert out.getvalue() == "[12:01] <bob> one\n[12:01] <bob> two\n"


async def test_display_survives_a_terminal_that_cannot_show_everything() -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii")
    send, receive = trio.open_memory_channel[str](10)
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(write_display_lines, receive, out)
            async with send:
                await send.send("caf\u00e9 \u2603")
    assert raw.getvalue() == b"caf? ?\n"


class _BrokenPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError("reader went away")


async def test_display_keeps_draining_after_the_output_breaks() -> None:
    send, receive = trio.open_memory_channel[str](0)
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(write_display_lines, receive, _BrokenPipe())
            async with send:
                for number in range(5):
                    await send.send(f"line {number}")  # never blocks for good


class Terminal:
    """``run_in_terminal`` on a pipe for stdin and a string for stdout, with its server."""

    def __init__(self, stdin_fd: int) -> None:
        self._stdin_fd = stdin_fd
        self._client_stream, server_stream = trio.testing.memory_stream_pair()
        self.server = FakeServer(server_stream)
        self.out = io.StringIO()
        self.exit_codes: list[int] = []

    async def run(self) -> None:
        code = await run_in_terminal(
            self._client_stream,
            nick="alice",
            channel="#lobby",
            stdin_fd=self._stdin_fd,
            stdout=self.out,
        )
        self.exit_codes.append(code)


async def test_piped_stdin_session_in_the_terminal() -> None:
    read_fd, _ = _pipe_with(b"hello from a pipe\n")
    terminal = Terminal(read_fd)
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(terminal.run)
            await terminal.server.register(caps="")
            await terminal.server.expect("PRIVMSG #lobby :hello from a pipe")
            await terminal.server.expect("PING triochat-drain")
            await terminal.server.send(":srv PONG srv :triochat-drain")
            await terminal.server.close_after_quit()
    os.close(read_fd)
    assert terminal.exit_codes == [0]
    shown = terminal.out.getvalue()
    assert "<alice> hello from a pipe\n" in shown
    assert shown.endswith("-!- disconnected: Closing link: 127.0.0.1 (Quit)\n")


async def test_ctrl_c_says_quit_and_exits_cleanly() -> None:
    read_fd, write_fd = _pipe_with(b"", close=False)  # the user types nothing
    terminal = Terminal(read_fd)
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(terminal.run)
            await terminal.server.register()
            os.kill(os.getpid(), signal.SIGINT)
            await terminal.server.close_after_quit()
    os.close(write_fd)
    os.close(read_fd)
    assert terminal.exit_codes == [0]
    assert terminal.out.getvalue().endswith("-!- disconnected: Closing link: 127.0.0.1 (Quit)\n")


async def test_server_leaving_ends_the_session_while_stdin_stays_open() -> None:
    read_fd, write_fd = _pipe_with(b"", close=False)  # the original client hung here
    terminal = Terminal(read_fd)
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(terminal.run)
            await terminal.server.register()
            await terminal.server.send("ERROR :Closing link: server shutting down")
            await terminal.server.stream.aclose()
    os.close(write_fd)
    os.close(read_fd)
    assert terminal.exit_codes == [1]
    assert terminal.out.getvalue().count("disconnected") == 1

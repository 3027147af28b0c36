"""The terminal side of ``triochat connect``: the only code that knows stdin and stdout.

It adapts the process's file descriptors to the channels :func:`run_client`
works on, and turns Ctrl-C into a polite ``QUIT``.

Input is read with raw :func:`os.read` in a worker thread, for a terminal, a
pipe or a file alike, and the thread is abandoned when the session ends. Two
simpler-looking choices are worse:

* ``trio.lowlevel.FdStream`` on a terminal puts the open file description that
  stdin *shares with stdout* into non-blocking mode, so that printing can fail
  with ``BlockingIOError``; on a regular file (``< script.txt``) it cannot
  work at all.
* ``sys.stdin.readline`` in an abandoned thread holds the lock of
  ``sys.stdin``'s buffer, which interpreter shutdown may then try to take (a
  fatal error). ``os.read`` holds no Python-level lock while it blocks.

Output goes through one task, in a worker thread too, so that a stalled
terminal or pipe never stops the client from answering the server's PINGs.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import TYPE_CHECKING, Final, TextIO

import trio

from .._client.session import run_client
from .._irc.wire import LINE_TOO_LONG, LineReader

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from .._client.sasl import Credentials

__all__ = ["read_input_lines", "run_in_terminal", "write_display_lines"]

logger = logging.getLogger("triochat.terminal")

READ_BYTES: Final = 65536
#: A longer typed or piped line is dropped (with a warning), not buffered.
MAX_INPUT_LINE_BYTES: Final = 1 << 20
#: Lines to show that may wait for the terminal before the client slows down.
DISPLAY_BUFFER: Final = 256


async def read_input_lines(fd: int, lines: trio.MemorySendChannel[str]) -> None:
    """Send every line read from ``fd`` to ``lines``, and close it at the end.

    Empty lines are skipped; bytes that are not UTF-8 become U+FFFD. A read
    error (a terminal that hung up) counts as the end of input.
    """
    reader = LineReader(MAX_INPUT_LINE_BYTES)
    async with lines:
        while True:
            try:
                chunk = await trio.to_thread.run_sync(
                    os.read, fd, READ_BYTES, abandon_on_cancel=True
                )
            except OSError as error:
                logger.warning("cannot read input any more: %s", error)
                chunk = b""
            reader.feed(chunk or b"\n")  # at the end, a last line without newline counts
            for line in reader.lines():
                if line is LINE_TOO_LONG:
                    logger.warning("an input line over %d bytes was dropped", MAX_INPUT_LINE_BYTES)
                else:
                    await lines.send(line.decode(errors="replace"))
            if not chunk:
                return


async def write_display_lines(lines: trio.MemoryReceiveChannel[str], out: TextIO) -> None:
    """Write every line from ``lines`` to ``out`` until the channel is closed.

    Lines already waiting are written together. If ``out`` fails (a closed
    pipe), later lines are read and dropped, so the client never blocks on it.
    """
    broken = False
    async with lines:
        async for line in lines:
            batch = [line]
            while True:
                try:
                    batch.append(lines.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            if not broken:
                broken = not await trio.to_thread.run_sync(_write, out, batch)


def _write(out: TextIO, batch: list[str]) -> bool:
    """Write ``batch`` as lines; False if ``out`` cannot be written any more."""
    encoding = out.encoding or "utf-8"
    text = "".join(line + "\n" for line in batch)
    try:
        out.write(text.encode(encoding, errors="replace").decode(encoding))
        out.flush()
    except OSError as error:
        logger.warning("cannot write to the terminal any more: %s", error)
        return False
    return True


async def _cancel_on_signal(signals: AsyncIterator[int], scope: trio.CancelScope) -> None:
    async for signum in signals:
        logger.info("%s: leaving", signal.Signals(signum).name)
        scope.cancel()
        return


async def run_in_terminal(
    stream: trio.abc.Stream,
    *,
    nick: str | None,
    channel: str | None,
    stdin_fd: int | None = None,
    stdout: TextIO | None = None,
    login: Credentials | None = None,
) -> int:
    """Chat over ``stream`` with the user at this terminal (or pipe).

    Ctrl-C (SIGINT) or SIGTERM ends the session as ``/quit`` would: the client
    says ``QUIT``, waits briefly for the server, and the exit code is 0.
    Must run in the main thread (signal handling).

    Returns:
        The exit code of :func:`run_client`: 0 when the user left, 1 when the
        server went away.
    """
    out = sys.stdout if stdout is None else stdout
    fd = sys.stdin.fileno() if stdin_fd is None else stdin_fd
    user_send, user_receive = trio.open_memory_channel[str](0)
    display_send, display_receive = trio.open_memory_channel[str](DISPLAY_BUFFER)
    code = 0  # stays 0 when a signal ends the session: the user asked to leave
    async with trio.open_nursery() as output:
        output.start_soon(write_display_lines, display_receive, out)
        with display_send, trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as session:
                session.start_soon(read_input_lines, fd, user_send)
                session.start_soon(_cancel_on_signal, signals, session.cancel_scope)
                code = await run_client(
                    stream, user_receive, display_send, nick=nick, channel=channel, login=login
                )
                session.cancel_scope.cancel()  # the input thread is abandoned, not joined
    return code

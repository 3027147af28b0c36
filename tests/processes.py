"""Real processes for end-to-end tests: ``triochat serve`` and friends, with bounded waits.

These tests use real time and real sockets on 127.0.0.1 (port 0, read back from
what the server prints), so every wait here has a deadline and fails loudly.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
import trio

from triochat._irc.wire import LineReader

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

LISTENING = re.compile(
    r"triochat: listening on (?:\[(?P<v6>[^\]]+)\]|(?P<v4>[^:\s]+)):(?P<port>\d+)"
)


def require(command: str) -> str:
    """The path of ``command``, or skip the test saying how to get it."""
    path = shutil.which(command)
    if path is None:
        pytest.skip(f"{command} is not installed (on Debian: apt-get install {command})")
    return path


@dataclass
class OutputLines:
    """Lines a process writes, read as they come, searchable with a deadline."""

    stream: trio.abc.ReceiveStream
    lines: list[str] = field(default_factory=list)
    _reader: LineReader = field(default_factory=lambda: LineReader(1 << 20))

    async def wait_for(self, pattern: str, *, start: int = 0) -> re.Match[str]:
        """The first line from index ``start`` on that matches ``pattern``."""
        regex = re.compile(pattern)
        index = start
        while True:
            while index < len(self.lines):
                match = regex.search(self.lines[index])
                if match:
                    return match
                index += 1
            data = await self.stream.receive_some(65536)
            if not data:
                raise AssertionError(f"output ended before {pattern!r}; got {self.lines!r}")
            self._reader.feed(data)
            self.lines.extend(
                line.decode(errors="replace")
                for line in self._reader.lines()
                if isinstance(line, bytes)
            )


@dataclass
class ServerProcess:
    """A running ``triochat serve``."""

    process: trio.Process
    output: OutputLines
    ports: list[int]
    tls_ports: list[int]
    #: Its stderr (the log), when started with ``capture_log=True``.
    log: OutputLines | None = None

    @property
    def port(self) -> int:
        return self.ports[0]

    def interrupt(self) -> None:
        """Press Ctrl-C."""
        self.process.send_signal(signal.SIGINT)

    async def stop(self) -> int:
        """Ctrl-C, and the exit code (within a deadline)."""
        self.interrupt()
        with trio.fail_after(15):
            return await self.process.wait()


def triochat_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "triochat", *args]


@asynccontextmanager
async def serve(
    *args: str, cwd: str | None = None, capture_log: bool = False
) -> AsyncIterator[ServerProcess]:
    """Start ``triochat serve --port 0 ARGS`` and wait until it prints where it listens.

    ``capture_log`` reads its stderr too (a test must then keep reading it, or
    a chatty server could fill the pipe).
    """
    command = triochat_command("serve", "--host", "127.0.0.1", *args)
    if "--port" not in args and "--tls" not in args:
        command += ["--port", "0"]
    if "--db" not in args and "--no-history" not in args:
        command += ["--db", ":memory:"]  # each test's server starts with no history
    process = await trio.lowlevel.open_process(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if capture_log else None,
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    output = OutputLines(process.stdout)
    log = None if process.stderr is None else OutputLines(process.stderr)
    try:
        with trio.fail_after(20):
            await output.wait_for("listening on")
            expected = 2 if ("--tls" in args and "--port" in args) else 1
            while len(output.lines) < expected:
                await output.wait_for("listening on", start=len(output.lines))
        ports: list[int] = []
        tls_ports: list[int] = []
        for line in output.lines:
            match = LISTENING.search(line)
            if match:
                (tls_ports if "(TLS)" in line else ports).append(int(match["port"]))
        yield ServerProcess(process, output, ports, tls_ports, log)
    finally:
        if process.returncode is None:
            process.kill()
            with trio.move_on_after(5):
                await process.wait()


async def run(command: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
    """Run a command to completion (within a minute), capturing its output."""
    with trio.fail_after(60):
        return await trio.run_process(
            list(command), capture_stdout=True, capture_stderr=True, check=False
        )


class Tmux:
    """A private tmux server running one program in a pane we can type into and read."""

    def __init__(self, tmux: str, name: str) -> None:
        self._base = [tmux, "-L", name, "-f", "/dev/null"]

    async def start(self, command: Sequence[str], *, width: int = 160, height: int = 48) -> None:
        line = " ".join(shlex.quote(part) for part in command)
        result = await run(
            [
                *self._base,
                "new-session",
                "-d",
                "-s",
                "e2e",
                "-x",
                str(width),
                "-y",
                str(height),
                line,
            ]
        )
        assert result.returncode == 0, result.stderr

    async def type(self, text: str) -> None:
        """Type ``text``, see it on the input line, and press Enter.

        A program may drop keys typed while it is still setting up its terminal
        (irssi does, now and then), so the text is typed again until it shows.
        """
        while True:
            await self._keys("C-u")  # an empty input line to type into
            await self._keys("-l", text)
            with trio.move_on_after(2):
                await self._screen_until(lambda screen: screen.rstrip().endswith(text))
                break
        await self._keys("Enter")

    async def _keys(self, *keys: str) -> None:
        result = await run([*self._base, "send-keys", "-t", "e2e", *keys])
        assert result.returncode == 0, result.stderr

    async def screen(self) -> str:
        result = await run([*self._base, "capture-pane", "-p", "-t", "e2e"])
        return result.stdout.decode(errors="replace")

    async def wait_for(self, text: str) -> str:
        """The screen, once ``text`` shows on it."""
        return await self._screen_until(lambda screen: text in screen)

    async def _screen_until(self, done: Callable[[str], bool]) -> str:
        """Poll the screen until ``done(screen)``: a terminal offers nothing to await."""
        while not done(screen := await self.screen()):  # noqa: ASYNC110
            await trio.sleep(0.05)
        return screen

    async def close(self) -> None:
        """Stop the tmux server and its program, even when the test failed or was cancelled."""
        with trio.CancelScope(shield=True), trio.move_on_after(10):
            await run([*self._base, "kill-server"])


@dataclass
class ClientProcess:
    """A running ``triochat connect``, typed into through a pipe."""

    process: trio.Process
    output: OutputLines

    async def say(self, line: str) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send_all(line.encode() + b"\n")

    async def finish(self) -> int:
        """End its input (it then drains, quits and exits) and return its exit code."""
        assert self.process.stdin is not None
        await self.process.stdin.aclose()
        with trio.fail_after(20):
            return await self.process.wait()


@asynccontextmanager
async def connect(*args: str) -> AsyncIterator[ClientProcess]:
    """Start ``triochat connect ARGS`` with its stdin and stdout as pipes."""
    process = await trio.lowlevel.open_process(
        triochat_command("connect", *args),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    try:
        yield ClientProcess(process, OutputLines(process.stdout))
    finally:
        if process.returncode is None:
            process.kill()
            with trio.move_on_after(5):
                await process.wait()

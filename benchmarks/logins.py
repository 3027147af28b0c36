"""Accounts benchmark (issue 13): 100 concurrent SCRAM-SHA-256 logins, and the chat meanwhile.

``nox -s bench_logins`` (or ``python -m benchmarks.logins --logins 100``)
starts a fresh ``triochat serve`` on loopback with one account, puts two
clients in a channel where one pings the other every 20 ms, and measures
the chat's delivery latency first on its own, then while ``--logins``
connections log in at once with SASL SCRAM-SHA-256. It reports how many
logins completed and how long they took, and the chat latency p50/p99
before and during them: password checks run in the server's worker
threads, so the chat's p99 should barely move. Exit status 0 when every
login completed.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from triochat._accounts.sasl import scram_client_final, scram_client_first

from .soak import HOST, LISTENING, Line, LineInput, percentile

if TYPE_CHECKING:
    from collections.abc import Sequence

ACCOUNT = "bench"
PASSWORD = "bench-password"
CHANNEL = "#bench"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def _expect(line: Line, marker: bytes) -> bytes:
    while True:
        lines = await line.lines()
        if not lines:
            raise ConnectionError(f"closed while waiting for {marker!r}")
        for raw in lines:
            if marker in raw:
                return raw


async def plain_login(port: int, number: int) -> float:
    """One connection logging in with PLAIN (the server hashes: scrypt); seconds to 903."""
    start = time.monotonic()
    line = Line(await trio.open_tcp_stream(HOST, port))
    try:
        nick = f"login{number}"
        await line.send("CAP LS 302", "CAP REQ :sasl", f"NICK {nick}", f"USER {nick} 0 * :b")
        await line.send("AUTHENTICATE PLAIN")
        await _expect(line, b"AUTHENTICATE +")
        await line.send("AUTHENTICATE " + _b64(f"{ACCOUNT}\0{ACCOUNT}\0{PASSWORD}".encode()))
        await _expect(line, b" 903 ")
        elapsed = time.monotonic() - start
        await line.send("CAP END", "QUIT")
        return elapsed
    finally:
        await line.stream.aclose()


async def scram_login(port: int, number: int) -> float:
    """One connection logging in with SCRAM-SHA-256; seconds from connect to 903."""
    start = time.monotonic()
    line = Line(await trio.open_tcp_stream(HOST, port))
    try:
        nick = f"login{number}"
        nonce = secrets.token_urlsafe(18)
        await line.send("CAP LS 302", "CAP REQ :sasl", f"NICK {nick}", f"USER {nick} 0 * :b")
        await line.send("AUTHENTICATE SCRAM-SHA-256")
        await _expect(line, b"AUTHENTICATE +")
        await line.send("AUTHENTICATE " + _b64(scram_client_first(ACCOUNT, nonce)))
        raw = await _expect(line, b"AUTHENTICATE ")
        server_first = base64.b64decode(raw.split()[-1])
        answer = await trio.to_thread.run_sync(
            scram_client_final, ACCOUNT, PASSWORD, nonce, server_first
        )
        assert answer is not None, "a malformed server-first message"
        await line.send("AUTHENTICATE " + _b64(answer[0]))
        await _expect(line, b"AUTHENTICATE ")
        await line.send("AUTHENTICATE +")
        await _expect(line, b" 903 ")
        elapsed = time.monotonic() - start
        await line.send("CAP END", "QUIT")
        return elapsed
    finally:
        await line.stream.aclose()


async def chat_probe(port: int, latencies: list[float], stop: trio.Event, name: str) -> None:
    """Two clients in a channel: one says the time every 20 ms, the other notes the delay."""
    sender = Line(await trio.open_tcp_stream(HOST, port))
    receiver = Line(await trio.open_tcp_stream(HOST, port))
    for line, nick in ((sender, f"{name}_s"), (receiver, f"{name}_r")):
        await line.send(f"NICK {nick}", f"USER {nick} 0 * :b", f"JOIN {CHANNEL}")
        await _expect(line, b" 366 ")

    async def listen() -> None:
        while True:
            for raw in await receiver.lines():
                if b" PRIVMSG " in raw and b" t=" in raw:
                    sent = float(raw.rsplit(b"t=", 1)[1])
                    latencies.append(time.monotonic() - sent)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(listen)
            while not stop.is_set():
                await sender.send(f"PRIVMSG {CHANNEL} :t={time.monotonic():.6f}")
                await trio.sleep(0.02)
            await trio.sleep(0.2)  # the last probes arrive
            nursery.cancel_scope.cancel()
    finally:
        await sender.stream.aclose()
        await receiver.stream.aclose()


async def bench(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="triochat-logins-"))
    db = workdir / "logins.db"
    python = sys.executable
    env = {**os.environ, "TRIOCHAT_PASSWORD": PASSWORD}
    await trio.run_process(
        [python, "-m", "triochat", "account", "create", ACCOUNT, "--db", str(db)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    command = [
        python, "-m", "triochat", "serve", "--host", HOST, "--port", "0", "--db", str(db),
        "--max-per-ip", "0", "--no-flood-control", "--log-level", "WARNING",
    ]  # fmt: skip
    process = await trio.lowlevel.open_process(command, stdout=subprocess.PIPE)
    assert process.stdout is not None
    try:
        out = LineInput(process.stdout)
        port = None
        with trio.fail_after(30):
            while port is None:
                for raw in await out.lines():
                    match = LISTENING.search(raw.decode())
                    if match:
                        port = int(match[1])
        before: list[float] = []
        during: list[float] = []
        times: list[float] = []
        async with trio.open_nursery() as nursery:
            stop_before = trio.Event()
            nursery.start_soon(chat_probe, port, before, stop_before, "alone")
            await trio.sleep(args.baseline)
            stop_before.set()
        async with trio.open_nursery() as nursery:
            stop_during = trio.Event()
            nursery.start_soon(chat_probe, port, during, stop_during, "busy")
            await trio.sleep(0.5)
            start = time.monotonic()
            with trio.move_on_after(args.timeout):
                async with trio.open_nursery() as logins:
                    for number in range(args.logins):

                        async def one(number: int = number) -> None:
                            login = plain_login if args.mechanism == "PLAIN" else scram_login
                            times.append(await login(port, number))

                        logins.start_soon(one)
            total = time.monotonic() - start
            stop_during.set()
    finally:
        process.terminate()
        with trio.move_on_after(10):
            await process.wait()
    report(args.mechanism, args.logins, times, total, before, during)
    return 0 if len(times) == args.logins else 1


def report(
    mechanism: str,
    wanted: int,
    times: list[float],
    total: float,
    before: list[float],
    during: list[float],
) -> None:
    def ms(values: list[float], fraction: float) -> str:
        return f"{percentile(values, fraction) * 1000:.1f} ms" if values else "n/a"

    print(f"logins: {len(times)}/{wanted} {mechanism} logins completed in {total:.2f} s")
    print(f"  each: p50 {ms(times, 0.5)}, p99 {ms(times, 0.99)}")
    print(f"chat latency before: p50 {ms(before, 0.5)}, p99 {ms(before, 0.99)} ({len(before)})")
    print(f"chat latency during: p50 {ms(during, 0.5)}, p99 {ms(during, 0.99)} ({len(during)})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.logins", description=__doc__)
    parser.add_argument("--logins", type=int, default=100, help="concurrent logins (100)")
    parser.add_argument("--baseline", type=float, default=3.0, help="seconds of chat alone (3)")
    parser.add_argument(
        "--mechanism",
        choices=["SCRAM-SHA-256", "PLAIN"],
        default="SCRAM-SHA-256",
        help="SCRAM (the server checks a proof) or PLAIN (the server hashes with scrypt)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="bound on the logins (60 s)")
    return trio.run(bench, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""Logins during chat (issue 13): the ``logins`` row of ``python -m benchmarks``.

Starts a fresh ``triochat serve`` with one account, puts two clients in a
channel where one says the time every 20 ms to the other, and measures the
chat's delivery latency first on its own, then while ``logins`` connections log
in at once with SASL SCRAM-SHA-256. It reports how many logins completed and
how long they took, and the chat latency p50/p99 before and during them. The
row fails unless every login completed.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import trio

from triochat._accounts.sasl import scram_client_final, scram_client_first

from .driver import Measurement
from .servers import ServerStartError, TriochatLauncher
from .soak import HOST, Line, percentile

if TYPE_CHECKING:
    from pathlib import Path

    from .scenarios import Scenario

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


#: Every login must be done within this; the run fails otherwise.
LOGINS_TIMEOUT_S = 60.0


def measure_logins(
    scenario: Scenario, workdir: Path, base_args: tuple[str, ...] = ()
) -> Measurement:
    """Create the account, start the server, measure the chat alone and during the logins."""
    result = Measurement(scenario.name, "triochat", scenario.clients)
    db = workdir / f"logins-{time.monotonic_ns()}.db"
    env = {**os.environ, "TRIOCHAT_PASSWORD": PASSWORD}
    created = subprocess.run(
        [sys.executable, "-m", "triochat", "account", "create", ACCOUNT, "--db", str(db)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if created.returncode != 0:
        result.failures.append(f"account create failed: {created.stderr.strip()[-200:]}")
        return result
    try:
        server = TriochatLauncher(base_args=base_args).start(workdir, ("--db", str(db)))
    except ServerStartError as error:
        result.failures.append(f"server did not start: {str(error).splitlines()[0]}")
        return result
    try:
        times, total, before, during = trio.run(_chat_and_logins, server.port, scenario)
    except (OSError, ConnectionError) as error:
        result.failures.append(f"the chat or a login failed: {error}")
        return result
    finally:
        server.stop()
    values = result.values
    values["completed"] = len(times)
    values["wanted"] = scenario.logins
    values["logins_s"] = total
    values["login_p99_ms"] = percentile(times, 0.99) * 1000 if times else 0.0
    for name, latencies in (("before", before), ("during", during)):
        values[f"chat_p50_{name}_ms"] = percentile(latencies, 0.5) * 1000 if latencies else 0.0
        values[f"chat_p99_{name}_ms"] = percentile(latencies, 0.99) * 1000 if latencies else 0.0
    if len(times) != scenario.logins:
        result.failures.append(
            f"{len(times)} of {scenario.logins} logins completed within {LOGINS_TIMEOUT_S:g} s"
        )
    return result


async def _chat_and_logins(
    port: int, scenario: Scenario
) -> tuple[list[float], float, list[float], list[float]]:
    before: list[float] = []
    during: list[float] = []
    times: list[float] = []
    async with trio.open_nursery() as nursery:
        stop_before = trio.Event()
        nursery.start_soon(chat_probe, port, before, stop_before, "alone")
        await trio.sleep(scenario.baseline_s)
        stop_before.set()
    async with trio.open_nursery() as nursery:
        stop_during = trio.Event()
        nursery.start_soon(chat_probe, port, during, stop_during, "busy")
        await trio.sleep(0.5)
        start = time.monotonic()
        with trio.move_on_after(LOGINS_TIMEOUT_S):
            async with trio.open_nursery() as logins:
                for number in range(scenario.logins):

                    async def one(number: int = number) -> None:
                        times.append(await scram_login(port, number))

                    logins.start_soon(one)
        total = time.monotonic() - start
        stop_during.set()
    return times, total, before, during

"""Soak test (issue 5): well-behaved clients chat while hostile ones hammer the server.

``nox -s soak`` (or ``python -m benchmarks.soak --duration 180``) starts a
fresh ``triochat serve`` on loopback (plain and TLS, default flood control,
``--stats-interval``) and runs, for the given time:

* ``--clients`` well-behaved clients in one channel, each sending numbered
  messages at ``--rate`` per second and answering PINGs; every receiver checks
  every sender's numbers arrive complete and in order;
* hostile clients of every kind, each kind in a loop: one that never reads,
  one that vanishes (no FIN: it just goes silent), one whose line never ends,
  one that floods, some that open TLS and never handshake, and some that
  connect and disconnect in a tight loop. They connect from 127.0.0.2 where
  the system allows it, so ``--max-per-ip`` refusals hit them, not the others.

Then it reports messages lost or reordered (must be 0), the p50/p99/max
delivery latency, the server's RSS over time (must plateau: the last third
of the run may not grow past the middle third), and the live trio task
count of the idle server before and after (must be equal). Exit status 0
when all of that holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from triochat._irc.wire import LineReader

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

HOST = "127.0.0.1"
#: Where hostile clients connect from, when the system routes all of 127/8 to loopback.
HOSTILE_HOST = "127.0.0.2"
CHANNEL = "#soak"
STATS = re.compile(r"stats: connections=(\d+) tasks=(\d+) rss_kib=(\d+)")
LISTENING = re.compile(r"listening on (?:\[[^\]]+\]|[^:\s]+):(\d+)( \(TLS\))?")
#: RSS may grow this much from the middle third of the run to the last third.
RSS_SLACK = 1.10
RSS_SLACK_KIB = 2048


@dataclass
class Stats:
    """What the server logged: (seconds since start, connections, tasks, rss KiB)."""

    samples: list[tuple[float, int, int, int]] = field(default_factory=list)
    refused: int = 0


@dataclass
class Tally:
    """What the well-behaved clients saw."""

    sent: dict[int, int] = field(default_factory=dict)
    #: [receiver][sender] -> next sequence number expected.
    expected: dict[int, dict[int, int]] = field(default_factory=dict)
    #: [receiver][sender] -> messages received.
    received: dict[int, dict[int, int]] = field(default_factory=dict)
    reordered: int = 0
    latencies: list[float] = field(default_factory=list)
    disconnected: list[str] = field(default_factory=list)


@dataclass
class HostileCounts:
    connections: dict[str, int] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)

    def connected(self, kind: str) -> None:
        self.connections[kind] = self.connections.get(kind, 0) + 1

    def answered(self, what: str) -> None:
        self.answers[what] = self.answers.get(what, 0) + 1


class LineInput:
    """Lines from a trio receive stream (a connection, or the server's stdout)."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self.input = stream
        self.reader = LineReader(max_line_bytes=1 << 16)

    async def lines(self) -> list[bytes]:
        """The next complete lines; empty at EOF."""
        while True:
            data = await self.input.receive_some(65536)
            if not data:
                return []
            self.reader.feed(data)
            found = [line for line in self.reader.lines() if isinstance(line, bytes)]
            if found:
                return found


class Line(LineInput):
    """A minimal IRC connection over a trio stream."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        super().__init__(stream)
        self.stream = stream

    async def send(self, *lines: str) -> None:
        await self.stream.send_all("".join(f"{line}\r\n" for line in lines).encode())


async def open_from(port: int, source: str | None) -> trio.SocketStream:
    """A TCP connection to the server, from ``source`` when given."""
    sock = trio.socket.socket()
    try:
        if source is not None:
            await sock.bind((source, 0))
        await sock.connect((HOST, port))
    except BaseException:
        sock.close()
        raise
    return trio.SocketStream(sock)


def hostile_source() -> str | None:
    """127.0.0.2 when connections can come from it, else None (then from 127.0.0.1)."""
    try:
        with socket.socket() as probe:
            probe.bind((HOSTILE_HOST, 0))
    except OSError:
        return None
    return HOSTILE_HOST


async def register(line: Line, nick: str, *, join: bool = True) -> None:
    await line.send(f"NICK {nick}", f"USER {nick} 0 * :soak")
    if join:
        await line.send(f"JOIN {CHANNEL}")
    while True:
        lines = await line.lines()
        if not lines:
            raise ConnectionError(f"{nick}: closed while registering")
        if any(b" 366 " in raw or b" 376 " in raw for raw in lines) and not join:
            return
        if any(b" 366 " in raw for raw in lines):
            return


# -- well-behaved clients --------------------------------------------------------


async def well_behaved(
    index: int,
    port: int,
    tally: Tally,
    rate: float,
    started: trio.Event,
    go: trio.Event,
    stop: trio.Event,
    done: Callable[[], bool],
) -> None:
    """Send numbered messages at ``rate`` until ``stop``; read until ``done()``."""
    line = Line(await open_from(port, None))
    await register(line, f"good{index}")
    tally.expected[index] = {}
    tally.received[index] = {}
    tally.sent[index] = 0
    started.set()

    async def speak() -> None:
        await go.wait()  # everyone has joined: every message has every other client to reach
        number = 0
        next_at = trio.current_time()
        while not stop.is_set():
            await line.send(f"PRIVMSG {CHANNEL} :soak {index} {number} {time.monotonic_ns()}")
            number += 1
            tally.sent[index] = number
            next_at += 1 / rate
            await trio.sleep_until(next_at)

    async def listen(cancel: trio.CancelScope) -> None:
        expected = tally.expected[index]
        received = tally.received[index]
        while not done():
            lines = await line.lines()
            if not lines:
                tally.disconnected.append(f"good{index}")
                break
            now = time.monotonic_ns()
            for raw in lines:
                if raw.startswith(b"PING"):
                    await line.stream.send_all(b"PONG" + raw[4:] + b"\r\n")
                    continue
                if b" PRIVMSG " not in raw or b":soak " not in raw:
                    if b"ERROR" in raw.split(b" ", 2)[:2]:
                        tally.disconnected.append(f"good{index}: {raw!r}")
                    continue
                sender, number, sent_ns = raw.rsplit(b":soak ", 1)[1].split(b" ", 2)
                who, seq = int(sender), int(number)
                if seq != expected.get(who, 0):
                    tally.reordered += 1
                expected[who] = seq + 1
                received[who] = received.get(who, 0) + 1
                tally.latencies.append((now - int(sent_ns)) / 1e6)
        cancel.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(speak)
        await listen(nursery.cancel_scope)
    await line.stream.aclose()


# -- hostile clients ---------------------------------------------------------------


async def forever(
    kind: str, counts: HostileCounts, body: Callable[[int], Awaitable[None]], pause: float
) -> None:
    """Run ``body`` again and again (a new connection each time) until cancelled."""
    number = 0
    while True:
        number += 1
        counts.connected(kind)
        # Refused, reset, or the system ran out of something: try again.
        with contextlib.suppress(OSError):
            await body(number)
        await trio.sleep(pause)


def hostile_kinds(
    port: int, tls_port: int, source: str | None, counts: HostileCounts
) -> list[tuple[str, Callable[[int], Awaitable[None]], float, int]]:
    """(kind, one connection's life, pause between, how many loops at once)."""

    async def never_reads(number: int) -> None:
        stream = await open_from(port, source)
        stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        with trio.move_on_after(40):
            await stream.send_all(
                f"NICK deaf{number}\r\nUSER d 0 * :d\r\nJOIN {CHANNEL}\r\n".encode()
            )
            await trio.sleep(40)  # never reads: SendQ, or the ping timeout, ends it
        await stream.aclose()

    async def vanishes(number: int) -> None:
        stream = await open_from(port, source)
        line = Line(stream)
        await register(line, f"ghost{number}", join=True)
        await trio.sleep(30)  # silent: no reads, no writes, no FIN, until ping timeout
        await trio.aclose_forcefully(stream)

    async def endless_line(number: int) -> None:
        stream = await open_from(port, source)
        line = Line(stream)
        await register(line, f"endless{number}")
        await stream.send_all(f"PRIVMSG {CHANNEL} :".encode())
        with trio.move_on_after(20):
            while True:
                await stream.send_all(b"y" * 16384)
                await trio.sleep(0.01)
        await stream.send_all(b"\r\nQUIT\r\n")
        await trio.aclose_forcefully(stream)

    async def floods(number: int) -> None:
        stream = await open_from(port, source)
        line = Line(stream)
        await register(line, f"flood{number}")
        batch = "".join(f"PRIVMSG {CHANNEL} :flood {n}\r\n" for n in range(100)).encode()

        async def drain() -> None:
            while lines := await line.lines():
                if any(b"Excess Flood" in raw for raw in lines):
                    counts.answered("Excess Flood")

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(drain)
                with trio.move_on_after(60):
                    while True:
                        await stream.send_all(batch)
                nursery.cancel_scope.cancel()
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        await trio.aclose_forcefully(stream)

    async def silent_tls(number: int) -> None:
        stream = await open_from(tls_port, source)
        with trio.move_on_after(60):
            while await stream.receive_some(4096):
                pass
        await trio.aclose_forcefully(stream)

    async def churn(number: int) -> None:
        stream = await open_from(port, source)
        if number % 3 == 1:
            await stream.send_all(
                f"NICK churn{number}\r\nUSER c 0 * :c\r\nJOIN {CHANNEL}\r\n".encode()
            )
        elif number % 3 == 2:
            await stream.send_all(b"NICK half-a-li")
        await trio.aclose_forcefully(stream)

    return [
        ("never reads", never_reads, 1.0, 1),
        ("vanishes without FIN", vanishes, 1.0, 1),
        ("line never ends", endless_line, 1.0, 1),
        ("floods", floods, 1.0, 1),
        ("TLS, never handshakes", silent_tls, 0.1, 10),
        ("connect/disconnect loop", churn, 0.0, 2),
    ]


# -- the server ------------------------------------------------------------------------


async def read_stderr(stream: trio.abc.ReceiveStream, stats: Stats, start: float) -> None:
    reader = LineReader(max_line_bytes=1 << 16)
    while data := await stream.receive_some(65536):
        reader.feed(data)
        for raw in reader.lines():
            if not isinstance(raw, bytes):
                continue
            match = STATS.search(raw.decode(errors="replace"))
            if match:
                connections, tasks, rss = (int(group) for group in match.groups())
                stats.samples.append((time.monotonic() - start, connections, tasks, rss))
                refused = re.search(rb"refused=(\d+)", raw)
                if refused:
                    stats.refused = int(refused[1])


async def wait_for_stats(
    stats: Stats, ready: Callable[[tuple[float, int, int, int]], bool]
) -> None:
    seen = len(stats.samples)
    while True:
        while seen < len(stats.samples):
            if ready(stats.samples[seen]):
                return
            seen += 1
        await trio.sleep(0.05)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


async def soak(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="triochat-soak-"))
    python = sys.executable
    await trio.run_process(
        [python, "-m", "triochat", "certs", "--dir", str(workdir)], stdout=subprocess.DEVNULL
    )
    source = hostile_source()
    command = [
        python, "-m", "triochat", "serve", "--host", HOST, "--port", "0",
        "--tls", "--tls-port", "0", "--cert", str(workdir / "server.pem"),
        "--db", str(workdir / "soak.db"), "--log-level", "INFO",
        "--stats-interval", str(args.stats_interval),
        "--handshake-timeout", "5", "--registration-timeout", "10",
        "--ping-interval", "10", "--ping-timeout", "5", "--sendq", str(1 << 20),
        "--max-per-ip", str(args.max_per_ip if source is not None else 0),
        *args.server_arg,
    ]  # fmt: skip
    print(f"soak: {' '.join(command[1:])}", flush=True)
    process = await trio.lowlevel.open_process(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ}
    )
    assert process.stdout is not None
    assert process.stderr is not None
    stats = Stats()
    tally = Tally()
    counts = HostileCounts()
    start = time.monotonic()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_stderr, process.stderr, stats, start)
            ports: list[tuple[int, bool]] = []
            out = LineInput(process.stdout)
            with trio.fail_after(30):
                while len(ports) < 2:
                    for raw in await out.lines():
                        match = LISTENING.search(raw.decode())
                        if match:
                            ports.append((int(match[1]), bool(match[2])))
                port = next(number for number, tls in ports if not tls)
                tls_port = next(number for number, tls in ports if tls)
                await wait_for_stats(stats, lambda _: True)
            idle_before = stats.samples[-1]
            print(f"soak: idle server before: tasks={idle_before[2]} rss_kib={idle_before[3]}")

            stop = trio.Event()
            go = trio.Event()
            finished = trio.Event()

            def all_received() -> bool:
                if not stop.is_set():
                    return False
                return (
                    all(
                        expected.get(sender, 0) >= sent
                        for receiver, expected in tally.expected.items()
                        for sender, sent in tally.sent.items()
                        if sender != receiver
                    )
                    or finished.is_set()
                )

            async with trio.open_nursery() as chat:
                for index in range(args.clients):
                    started = trio.Event()
                    chat.start_soon(
                        well_behaved,
                        *(index, port, tally, args.rate, started, go, stop, all_received),
                    )
                    await started.wait()
                go.set()
                print(f"soak: {args.clients} well-behaved clients chatting; hostile ones start")
                async with trio.open_nursery() as hostile:
                    for kind, body, pause, loops in hostile_kinds(port, tls_port, source, counts):
                        for _ in range(loops):
                            hostile.start_soon(forever, kind, counts, body, pause)
                    await trio.sleep(args.duration)
                    hostile.cancel_scope.cancel()
                stop.set()
                with trio.move_on_after(15):
                    while not all_received():  # noqa: ASYNC110 - polled once per stats line
                        await trio.sleep(0.1)
                finished.set()
                chat.cancel_scope.deadline = trio.current_time() + 5
            with trio.fail_after(60):
                await wait_for_stats(stats, lambda sample: sample[1] == 0)
                await wait_for_stats(stats, lambda sample: sample[1] == 0)
            idle_after = stats.samples[-1]
            nursery.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.terminate()
            with trio.move_on_after(15):
                await process.wait()
            if process.returncode is None:
                process.kill()
    return report(args, stats, tally, counts, idle_before, idle_after, source)


def report(
    args: argparse.Namespace,
    stats: Stats,
    tally: Tally,
    counts: HostileCounts,
    before: tuple[float, int, int, int],
    after: tuple[float, int, int, int],
    source: str | None,
) -> int:
    sent = sum(tally.sent.values())
    expected = sum(
        count for receiver in tally.expected for s, count in tally.sent.items() if s != receiver
    )
    received = sum(sum(seen.values()) for seen in tally.received.values())
    lost = expected - received
    print()
    print(f"soak: {args.duration:g} s, {args.clients} well-behaved clients at {args.rate:g} msg/s")
    print(f"hostile clients from {source or HOST}, connections per kind:")
    for kind, number in counts.connections.items():
        print(f"  {kind}: {number}")
    for what, number in counts.answers.items():
        print(f"  answered {what!r}: {number}")
    print(f"  refused by a connection limit: {stats.refused}")
    print(f"well-behaved: {sent} sent, {received} of {expected} deliveries arrived")
    print(f"  lost: {lost}, reordered: {tally.reordered}, disconnected: {tally.disconnected}")
    if tally.latencies:
        p50, p99 = percentile(tally.latencies, 0.5), percentile(tally.latencies, 0.99)
        print(f"  latency: p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {max(tally.latencies):.2f} ms")
    during = [s for s in stats.samples if before[0] < s[0] <= after[0]]
    print("server RSS (KiB) and live tasks over time:")
    step = max(1, len(during) // 15)
    for when, connections, tasks, rss in during[::step]:
        print(f"  {when:6.0f} s  connections={connections:4d}  tasks={tasks:5d}  rss_kib={rss}")
    loaded = [s for s in during if s[1] > 0]
    third = max(1, len(loaded) // 3)
    middle = max((s[3] for s in loaded[third : 2 * third]), default=0)
    last = max((s[3] for s in loaded[2 * third :]), default=0)
    flat = last <= middle * RSS_SLACK + RSS_SLACK_KIB
    verdict = "flat" if flat else "GROWING"
    print(f"  RSS max, middle third {middle} KiB, last third {last} KiB: {verdict}")
    back = after[2] == before[2]
    print(
        f"tasks: idle before {before[2]}, idle after {after[2]}:"
        f" {'back to baseline' if back else 'NOT back to baseline'}"
        f" (rss_kib before {before[3]}, after {after[3]})"
    )
    ok = lost == 0 and tally.reordered == 0 and not tally.disconnected and flat and back
    print(f"result: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak",
        description="Soak test: well-behaved clients chat while hostile ones hammer the server.",
    )
    parser.add_argument("--duration", type=float, default=150, help="seconds of hostility")
    parser.add_argument("--clients", type=int, default=20, help="well-behaved clients")
    parser.add_argument("--rate", type=float, default=4, help="messages/s per well-behaved client")
    parser.add_argument("--stats-interval", type=float, default=2, help="server stats period")
    parser.add_argument("--max-per-ip", type=int, default=20, help="the server's --max-per-ip")
    parser.add_argument(
        "--server-arg", action="append", default=[], help="extra option for triochat serve"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return trio.run(soak, args)


if __name__ == "__main__":
    sys.exit(main())

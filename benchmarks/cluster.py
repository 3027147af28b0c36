"""Cluster benchmark (issue 15): two nodes and one Redis on this machine, beside one node.

``python -m benchmarks.cluster [--messages N] [--seconds S]`` starts a private
``redis-server`` on a free port and ``triochat serve`` processes, then measures

* **fanout**: 50 clients in one channel (split across the nodes), 5 senders
  (split too) sending N messages each as fast as the server takes them;
  deliveries per second until every receiver has every message;
* **latency**: 5 senders on node a at 100 messages/s each (500/s), 10
  receivers on node b; p50/p99/max from send to delivery, across nodes.

Each is also run on a single node (no ``--cluster``) in the same run, so the
ratio shows what the log costs. The clients run in this process under trio:
numbers are lower bounds when this process is the bottleneck (it prints its
own CPU time so that one can tell). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from collections.abc import Sequence

HOST = "127.0.0.1"
CHANNEL = "#bench"
_LISTENING = re.compile(rb"listening on 127\.0\.0\.1:(\d+)")
_STAMP = re.compile(rb"PRIVMSG #bench :t=(\d+) ")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def start(stack: ExitStack, command: Sequence[str], log: str) -> subprocess.Popen[bytes]:
    """Start ``command`` with its output in ``log``; it is killed when ``stack`` closes."""
    out = stack.enter_context(open(log, "wb"))  # noqa: SIM115 (closed by the stack)
    process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    stack.callback(stop)
    return process


def wait_port(log: str, process: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(log, "rb") as file:
            match = _LISTENING.search(file.read())
        if match:
            return int(match.group(1))
        if process.poll() is not None:
            raise RuntimeError(f"{log}: exited with {process.returncode}")
        time.sleep(0.05)
    raise RuntimeError(f"{log}: no port within 30 s")


def servers(stack: ExitStack, workdir: str, cluster: bool) -> list[int]:
    """The ports of two cluster nodes (with their Redis), or of one single node."""
    common = [
        *("--host", HOST, "--port", "0", "--db", ":memory:"),
        *("--no-flood-control", "--max-per-ip", "0"),
    ]
    base = [sys.executable, "-m", "triochat", "serve", *common]
    if not cluster:
        log = os.path.join(workdir, "single.log")
        return [wait_port(log, start(stack, base, log))]
    redis = shutil.which("redis-server")
    if redis is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    redis_port = free_port()
    start(
        stack,
        [redis, "--port", str(redis_port), "--bind", HOST, "--save", "", "--appendonly", "no"],
        os.path.join(workdir, "redis.log"),
    )
    time.sleep(0.3)
    ports = []
    for name in ("a", "b"):
        log = os.path.join(workdir, f"node-{name}.log")
        url = f"redis://{HOST}:{redis_port}/0"
        command = [*base, "--cluster", url, "--node-name", name]
        ports.append(wait_port(log, start(stack, command, log)))
    return ports


class Client:
    """A raw IRC client: registers, joins, counts the deliveries it reads."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.received = 0
        self.latencies_ns: list[int] = []

    @classmethod
    async def open(cls, port: int, nick: str) -> Client:
        client = cls(await trio.open_tcp_stream(HOST, port))
        await client.stream.send_all(f"NICK {nick}\r\nUSER b 0 * :b\r\nJOIN {CHANNEL}\r\n".encode())
        buffer = b""
        while b" 366 " not in buffer:
            data = await client.stream.receive_some(65536)
            if not data:
                raise RuntimeError(f"{nick}: the server closed the connection: {buffer!r}")
            buffer += data
        return client

    async def read(self, expected: int, done: trio.Event) -> None:
        tail = b""
        while self.received < expected:
            data = await self.stream.receive_some(1 << 20)
            if not data:
                raise RuntimeError("a receiver was disconnected")
            data = tail + data
            now = time.monotonic_ns()
            cut = data.rfind(b"\n") + 1
            chunk, tail = data[:cut], data[cut:]
            stamps = _STAMP.findall(chunk)
            self.received += len(stamps)
            self.latencies_ns.extend(now - int(stamp) for stamp in stamps)
        done.set()


async def sender(client: Client, count: int, rate: float | None) -> None:
    """Send ``count`` messages, at ``rate`` per second or as fast as they are taken."""
    started = time.monotonic()
    for n in range(count):
        if rate is not None:
            await trio.sleep_until(
                trio.current_time() + max(0.0, started + n / rate - time.monotonic())
            )
        line = f"PRIVMSG {CHANNEL} :t={time.monotonic_ns()} {n:08d} {'x' * 40}\r\n"
        await client.stream.send_all(line.encode())


async def scenario(
    ports: list[int],
    prefix: str,
    clients: int,
    senders: int,
    receivers_on: list[int],
    count: int,
    rate: float | None,
) -> tuple[float, list[int]]:
    """Seconds until every receiver has every message, and every latency (ns)."""
    everyone = [await Client.open(ports[i % len(ports)], f"{prefix}r{i}") for i in range(clients)]
    talkers = [await Client.open(ports[i % len(ports)], f"{prefix}s{i}") for i in range(senders)]
    receivers = [c for i, c in enumerate(everyone) if (i % len(ports)) in receivers_on]
    await trio.sleep(0.5)  # every JOIN seen everywhere
    expected = senders * count
    started = time.monotonic()
    async with trio.open_nursery() as nursery:
        for receiver in receivers:
            nursery.start_soon(receiver.read, expected, trio.Event())
        for talker in talkers:
            nursery.start_soon(sender, talker, count, rate)
    elapsed = time.monotonic() - started
    for client in everyone + talkers:
        await client.stream.aclose()
    latencies = sorted(ns for r in receivers for ns in r.latencies_ns)
    return elapsed, latencies


def _ms(latencies: list[int], q: float) -> float:
    return latencies[min(len(latencies) - 1, int(q * len(latencies)))] / 1e6 if latencies else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster")
    parser.add_argument("--messages", type=int, default=1000, help="per sender, fanout")
    parser.add_argument("--seconds", type=float, default=10.0, help="latency run length")
    args = parser.parse_args(argv)
    rows = []
    for cluster in (False, True):
        with ExitStack() as stack, tempfile.TemporaryDirectory() as workdir:
            ports = servers(stack, workdir, cluster)
            cpu = time.process_time()
            seconds, _ = trio.run(
                scenario, ports, "f", 50, 5, list(range(len(ports))), args.messages, None
            )
            deliveries = 50 * 5 * args.messages / seconds
            count = int(100 * args.seconds)
            far = [1] if cluster else [0]
            _, latencies = trio.run(scenario, ports, "l", 10, 5, far, count, 100.0)
            rows.append(
                (
                    "2 nodes + Redis" if cluster else "1 node",
                    f"{deliveries:,.0f}",
                    f"{_ms(latencies, 0.5):.2f}",
                    f"{_ms(latencies, 0.99):.2f}",
                    f"{(latencies[-1] / 1e6 if latencies else 0):.1f}",
                    f"{time.process_time() - cpu:.1f}",
                )
            )
    print("| setup | fanout deliveries/s | p50 ms | p99 ms | max ms | load generator CPU s |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

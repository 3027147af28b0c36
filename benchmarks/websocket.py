"""WebSocket beside TCP (issue 14): fan-out deliveries/s and memory per idle connection.

``python -m benchmarks.websocket [--clients 50] [--messages 2000] [--idle 2000] [--quick]``

Each measurement starts a fresh ``triochat serve --web-port 0`` (no flood control,
no history, no per-address limit). Fan-out: ``--clients`` members of one channel,
one of them sends ``--messages`` messages (10 at a time, then a PING, at most 2
PINGs unanswered, as ``python -m benchmarks`` does) and every other member must
receive all of them; the same run over TCP and over WebSocket (``text.ircv3.net``).
Receivers live in ``--workers`` processes, each a trio loop. Idle: ``--idle``
registered clients, and the server's RSS growth per connection.
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from .procstats import process_cpu_seconds, process_rss_kib, raise_open_file_limit

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess
    from multiprocessing.queues import Queue

Kind = Literal["tcp", "websocket"]
CHANNEL = "#bench"
URL = re.compile(r"web client at http://127\.0\.0\.1:(\d+)/")
LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


@dataclass
class Server:
    process: subprocess.Popen[str]
    irc_port: int
    web_port: int

    def port(self, kind: Kind) -> int:
        return self.web_port if kind == "websocket" else self.irc_port

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server() -> Server:
    command = [
        sys.executable, "-m", "triochat", "serve", "--host", "127.0.0.1", "--port", "0",
        "--web-port", "0", "--no-flood-control", "--no-history", "--max-per-ip", "0",
        "--max-clients", "0", "--log-level", "WARNING",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    irc = web = None
    while irc is None or web is None:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("triochat serve exited before printing its ports")
        if match := LISTENING.search(line):
            irc = int(match[1])
        if match := URL.search(line):
            web = int(match[1])
    return Server(process, irc, web)


class Client:
    """Lines over TCP or over a WebSocket (text.ircv3.net), with as little work as possible."""

    def __init__(self, kind: Kind, stream: trio.SocketStream, port: int) -> None:
        self.kind = kind
        self.stream = stream
        self.port = port
        self.ws = WSConnection(ConnectionType.CLIENT) if kind == "websocket" else None
        self.buffer = b""

    @classmethod
    async def open(cls, kind: Kind, port: int) -> Client:
        client = cls(kind, await trio.open_tcp_stream("127.0.0.1", port), port)
        if client.ws is not None:
            request = Request(
                host=f"127.0.0.1:{port}", target="/irc", subprotocols=["text.ircv3.net"]
            )
            await client.stream.send_all(client.ws.send(request))
            accepted = False
            while not accepted:
                data = await client.stream.receive_some(1 << 20)
                if not data:
                    raise EOFError("the server refused the WebSocket")
                client.ws.receive_data(bytes(data))
                accepted = any(isinstance(e, AcceptConnection) for e in client.ws.events())
            # Frames that came with the 101 are in wsproto; none do before we register.
        return client

    async def send(self, *lines: str) -> None:
        if self.ws is None:
            await self.stream.send_all("".join(f"{line}\r\n" for line in lines).encode())
        else:
            ws = self.ws
            await self.stream.send_all(b"".join(ws.send(TextMessage(data=line)) for line in lines))

    async def lines(self) -> list[bytes]:
        """The lines that came with the next read."""
        if self.ws is None:
            data = await self.stream.receive_some(1 << 20)
            if not data:
                raise EOFError("the server closed the connection")
            *lines, self.buffer = (self.buffer + data).split(b"\r\n")
            return lines
        data = await self.stream.receive_some(1 << 20)
        if not data:
            raise EOFError("the server closed the connection")
        return self._frames(data)

    def _frames(self, data: bytes | bytearray) -> list[bytes]:
        """Payloads of the whole frames received: server frames are unmasked and, from
        triochat, unfragmented, so a few slices do (wsproto would cost the generator
        more than the server spends)."""
        buffer = self.buffer + data
        found: list[bytes] = []
        at = 0
        while len(buffer) - at >= 2:
            size = buffer[at + 1] & 0x7F
            start = at + 2
            if size == 126:
                size, start = int.from_bytes(buffer[at + 2 : at + 4], "big"), at + 4
            elif size == 127:
                size, start = int.from_bytes(buffer[at + 2 : at + 10], "big"), at + 10
            if len(buffer) < start + size:
                break
            found.append(bytes(buffer[start : start + size]))
            at = start + size
        self.buffer = bytes(buffer[at:])
        return found

    async def wait_for(self, token: bytes) -> None:
        while not any(token in line for line in await self.lines()):
            pass

    async def join(self, nick: str) -> None:
        await self.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        await self.wait_for(b" 376 ")
        await self.send(f"JOIN {CHANNEL}")
        await self.wait_for(b" 366 ")


async def _receive_all(
    kind: Kind,
    port: int,
    nicks: list[str],
    ready: Queue[object],
    go: Queue[object],
    results: Queue[object],
    expected: int,
) -> None:
    clients = []
    for nick in nicks:
        client = await Client.open(kind, port)
        await client.join(nick)
        clients.append(client)
    ready.put(len(clients))
    await trio.to_thread.run_sync(go.get)
    ends: list[float] = []

    async def count(client: Client) -> None:
        seen = 0
        while seen < expected:
            seen += sum(1 for line in await client.lines() if b" PRIVMSG " in line)
        ends.append(time.monotonic())

    async with trio.open_nursery() as nursery:
        for client in clients:
            nursery.start_soon(count, client)
    results.put(max(ends) if ends else time.monotonic())


def receiver_process(
    kind: Kind,
    port: int,
    nicks: list[str],
    ready: Queue[object],
    go: Queue[object],
    results: Queue[object],
    expected: int,
) -> None:
    raise_open_file_limit()
    trio.run(_receive_all, kind, port, nicks, ready, go, results, expected)


async def _send(kind: Kind, port: int, messages: int) -> float:
    sender = await Client.open(kind, port)
    await sender.join("sender")
    start = time.monotonic()
    outstanding = 0
    sent = 0
    while sent < messages:
        batch = min(10, messages - sent)
        lines = [f"PRIVMSG {CHANNEL} :message {sent + i} {'x' * 48}" for i in range(batch)]
        await sender.send(*lines, "PING :w")
        sent += batch
        outstanding += 1
        while outstanding >= 2:
            outstanding -= sum(1 for line in await sender.lines() if b"PONG" in line)
    return start


def _spawn_receivers(
    kind: Kind, port: int, count: int, workers: int, expected: int
) -> tuple[list[BaseProcess], Queue[object], Queue[object], Queue[object]]:
    context = multiprocessing.get_context("spawn")
    ready: Queue[object] = context.Queue()
    go: Queue[object] = context.Queue()
    results: Queue[object] = context.Queue()
    processes: list[BaseProcess] = []
    for worker in range(workers):
        nicks = [f"r{worker}x{i}" for i in range(worker, count, workers)]
        process = context.Process(
            target=receiver_process, args=(kind, port, nicks, ready, go, results, expected)
        )
        process.start()
        processes.append(process)
    for _ in processes:
        ready.get(timeout=300)
    return processes, ready, go, results


def fanout(kind: Kind, clients: int, messages: int, workers: int) -> tuple[float, float]:
    """Deliveries per second, and server CPU microseconds per delivery."""
    server = start_server()
    try:
        port = server.port(kind)
        processes, _ready, go, results = _spawn_receivers(
            kind, port, clients - 1, workers, messages
        )
        cpu = process_cpu_seconds(server.process.pid)
        for _ in processes:
            go.put(True)
        start = trio.run(_send, kind, port, messages)
        end = max(float(results.get(timeout=600)) for _ in processes)  # type: ignore[arg-type]
        cpu = process_cpu_seconds(server.process.pid) - cpu
        for process in processes:
            process.join(30)
        deliveries = (clients - 1) * messages
        return deliveries / (end - start), cpu / deliveries * 1e6
    finally:
        server.stop()


def idle_rss(kind: Kind, count: int, workers: int) -> float:
    """Server RSS growth per registered idle connection, in KiB."""
    server = start_server()
    try:
        before = process_rss_kib(server.process.pid)
        processes, _ready, go, _results = _spawn_receivers(
            kind, server.port(kind), count, workers, 0
        )
        after = process_rss_kib(server.process.pid)
        for _ in processes:
            go.put(True)
        for process in processes:
            process.join(30)
        return (after - before) / count
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.websocket", description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--idle", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="10 clients, 200 messages, 200 idle")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.messages, args.idle = 10, 200, 200
    raise_open_file_limit()
    rows = []
    for kind in ("tcp", "websocket"):
        rate, cpu = fanout(kind, args.clients, args.messages, args.workers)
        rss = idle_rss(kind, args.idle, args.workers) if args.idle else float("nan")
        rows.append((kind, rate, cpu, rss))
    print(f"| transport | fan-out deliveries/s ({args.clients} clients, 1 sender x {args.messages})"
          f" | server CPU µs/delivery | RSS KiB per idle connection ({args.idle}) |")  # fmt: skip
    print("|---|---|---|---|")
    for kind, rate, cpu, rss in rows:
        print(f"| {kind} | {rate:,.0f} | {cpu:.1f} | {rss:.1f} |")
    print(f"\nWebSocket / TCP deliveries/s: {rows[1][1] / rows[0][1]:.2f}x (target: at least 0.7x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

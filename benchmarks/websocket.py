"""WebSocket beside TCP (issue 14): the ``websocket`` row of ``python -m benchmarks``.

Each measurement starts a fresh ``triochat serve --web-port 0`` (no flood control,
no history, no per-address limit). Fan-out: the scenario's ``clients`` members of
one channel, one of them sends ``messages_per_sender`` messages (10 at a time, then
a PING, at most 2 PINGs unanswered, as the other scenarios do) and every other member
must receive all of them (counted: a receiver that misses one never finishes, and
the run fails at the deadline); once with every client on TCP, once with every
client on a WebSocket (``text.ircv3.net``). Receivers live in ``workers``
processes, each a trio loop. Idle: ``idle`` registered clients, and the server's
RSS growth per connection.
"""

from __future__ import annotations

import multiprocessing
import queue
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from .driver import Measurement
from .procstats import process_cpu_seconds, process_rss_kib, raise_open_file_limit
from .servers import ServerStartError, TriochatLauncher, wait_for_line

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess
    from multiprocessing.queues import Queue
    from pathlib import Path

    from .scenarios import Scenario
    from .servers import RunningServer

Kind = Literal["tcp", "websocket"]
CHANNEL = "#bench"
WEB_URL = re.compile(r"web client at http://127\.0\.0\.1:(?P<port>\d+)/")
#: Every measurement's server: WebSocket listener on, history off (both transports alike).
SERVER_ARGS = ("--web-port", "0", "--no-history", "--max-clients", "0")


class WebSocketRunError(RuntimeError):
    """The measurement did not finish: a receiver missed messages or a process hung."""


@dataclass
class Server:
    running: RunningServer
    web_port: int

    def port(self, kind: Kind) -> int:
        return self.web_port if kind == "websocket" else self.running.port

    def stop(self) -> None:
        self.running.stop()


def start_server(workdir: Path, base_args: tuple[str, ...]) -> Server:
    running = TriochatLauncher(base_args=base_args).start(workdir, SERVER_ARGS)
    try:
        port = wait_for_line("triochat", running.process, running.log_path, WEB_URL)
    except BaseException:
        running.stop()
        raise
    return Server(running, int(port))


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


async def _send(kind: Kind, port: int, messages: int, deadline_s: float) -> float:
    with trio.fail_after(deadline_s):
        return await _send_all(kind, port, messages)


async def _send_all(kind: Kind, port: int, messages: int) -> float:
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


def fanout(kind: Kind, scenario: Scenario, server: Server, workers: int) -> tuple[float, float]:
    """Deliveries per second, and server CPU microseconds per delivery."""
    clients, messages = scenario.clients, scenario.messages_per_sender
    port = server.port(kind)
    processes, _ready, go, results = _spawn_receivers(kind, port, clients - 1, workers, messages)
    try:
        pid = server.running.pid
        cpu = process_cpu_seconds(pid)
        for _ in processes:
            go.put(True)
        start = trio.run(_send, kind, port, messages, scenario.deadline_s)
        try:
            ends = [float(results.get(timeout=scenario.stall_timeout_s)) for _ in processes]  # type: ignore[arg-type]
        except queue.Empty:
            raise WebSocketRunError(
                f"{kind}: receivers still missing messages {scenario.stall_timeout_s:g} s"
                " after the last was sent"
            ) from None
        end = max(ends)
        cpu = process_cpu_seconds(pid) - cpu
        for process in processes:
            process.join(30)
        deliveries = (clients - 1) * messages
        return deliveries / (end - start), cpu / deliveries * 1e6
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()


def idle_rss(kind: Kind, count: int, server: Server, workers: int) -> float:
    """Server RSS growth per registered idle connection, in KiB."""
    pid = server.running.pid
    before = process_rss_kib(pid)
    processes, _ready, go, _results = _spawn_receivers(kind, server.port(kind), count, workers, 0)
    after = process_rss_kib(pid)
    for _ in processes:
        go.put(True)
    for process in processes:
        process.join(30)
    return (after - before) / count


def measure_websocket(
    scenario: Scenario, workdir: Path, workers: int, base_args: tuple[str, ...] = ()
) -> Measurement:
    """Fan-out and idle RSS over TCP, then over WebSocket, each on a fresh server."""
    result = Measurement(scenario.name, "triochat", scenario.clients)
    raise_open_file_limit()
    try:
        for kind in ("tcp", "websocket"):
            server = start_server(workdir, base_args)
            try:
                rate, cpu_us = fanout(kind, scenario, server, workers)
            finally:
                server.stop()
            result.values[f"{kind}_deliveries_per_s"] = rate
            result.values[f"{kind}_cpu_us_per_delivery"] = cpu_us
            if scenario.idle:
                server = start_server(workdir, base_args)
                try:
                    result.values[f"{kind}_rss_kib"] = idle_rss(
                        kind, scenario.idle, server, workers
                    )
                finally:
                    server.stop()
    except (
        ServerStartError, WebSocketRunError, OSError, EOFError, queue.Empty, trio.TooSlowError
    ) as error:  # fmt: skip
        why = str(error).splitlines()[0] if str(error) else "timed out"
        result.failures.append(f"{type(error).__name__}: {why}")
        return result
    values = result.values
    values["ratio"] = values["websocket_deliveries_per_s"] / values["tcp_deliveries_per_s"]
    return result

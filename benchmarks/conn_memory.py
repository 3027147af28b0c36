"""What one idle connection weighs in the server, and where the bytes go.

    python -m benchmarks.conn_memory                   # 2,000 idle clients, channels of 500
    python -m benchmarks.conn_memory --clients 10000 --no-trace  # RSS without tracemalloc
    python -m benchmarks.conn_memory --flood-control   # as shipped: a flood gate each

The server runs in this process (history and accounts on, as shipped; flood
control off and no per-address limit, like the ``scale`` scenario). A child
process opens the clients over loopback TCP with plain blocking sockets,
registers them, joins them to their channel and reads everything they are
sent, so what the server holds afterwards is the idle cost only, not
backlogged output. The server's own memory is measured twice: after a
warm-up batch (caches, first-use allocations) and after the measured batch,
and the difference is divided by the measured clients:

* live Python objects per connection, by type (``gc``): what each
  connection's tasks, scopes, buffers and records are made of;
* tracemalloc bytes per connection by allocation site (source line), unless
  ``--no-trace``: the line to change;
* RSS growth per connection (``VmRSS``), which tracemalloc inflates: use
  ``--no-trace`` for the number to compare with the ``scale`` scenario.

The numbers are deterministic enough (objects and tracemalloc bytes) to
compare two commits on a busy machine.
"""

from __future__ import annotations

import argparse
import collections
import functools
import gc
import os
import socket
import subprocess
import sys
import tempfile
import tracemalloc
import types
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from triochat._config import ServerConfig
from triochat._server.server import ChatServer

from .driver import WorkerPool, build_plans
from .procstats import process_rss_kib, raise_open_file_limit
from .protocol import channel_names, nick_for, registration
from .scenarios import catalog

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

#: Members per channel, as in the ``scale`` scenario.
CHANNEL_SIZE = 500
#: Clients connected before the first measurement, so one-off costs are not counted.
WARM_UP = 200
#: Sites shown in the tracemalloc table.
TOP_SITES = 45
#: Object types shown in the gc table.
TOP_TYPES = 40


# -- the child: many blocking clients -------------------------------------------


def _read_until(sock: socket.socket, *markers: bytes) -> None:
    """Read from ``sock`` until one of ``markers`` has been seen."""
    seen = b""
    while not any(marker in seen for marker in markers):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed a client")
        seen = seen[-512:] + chunk


def _drain(sockets: list[socket.socket]) -> None:
    """Read whatever waits on ``sockets`` without blocking."""
    for sock in sockets:
        sock.setblocking(False)
        try:
            while sock.recv(65536):
                pass
        except BlockingIOError:
            pass
        finally:
            sock.setblocking(True)


def _child(host: str, port: int) -> None:
    """Open clients in batches on command ("connect N"), until "exit"."""
    raise_open_file_limit()
    clients: list[socket.socket] = []
    channels = channel_names(10_000)
    for command in sys.stdin:
        words = command.split()
        if words[0] == "exit":
            return
        for _ in range(int(words[1])):
            index = len(clients)
            sock = socket.create_connection((host, port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(registration(nick_for(index)))
            _read_until(sock, b" 376 ", b" 422 ")
            channel = channels[index // CHANNEL_SIZE]
            sock.sendall(f"JOIN {channel}\r\n".encode())
            _read_until(sock, b" 366 ")
            clients.append(sock)
            if len(clients) % 50 == 0:  # the JOIN echoes the channel's members got
                first = (index // CHANNEL_SIZE) * CHANNEL_SIZE
                _drain(clients[first:])
        _drain(clients)
        print("done", flush=True)


# -- the parent: the server, measured -------------------------------------------


def _type_counts() -> collections.Counter[str]:
    gc.collect()
    return collections.Counter(_kind(obj) for obj in gc.get_objects())


def _kind(obj: object) -> str:
    """An object's type; for a coroutine, generator or frame-holding object, also what it runs."""
    kind = type(obj).__qualname__
    if isinstance(obj, (types.CoroutineType, types.GeneratorType, types.AsyncGeneratorType)):
        return f"{kind} {obj.__qualname__}"
    if isinstance(obj, types.MethodType):
        return f"{kind} {obj.__func__.__qualname__}"
    if isinstance(obj, functools.partial):
        return f"{kind} {getattr(obj.func, '__qualname__', '?')}"
    return kind


class _Measure:
    def __init__(self, *, trace: bool) -> None:
        self.trace = trace
        self.rss = 0
        self.types: collections.Counter[str] = collections.Counter()
        self.snapshot: tracemalloc.Snapshot | None = None
        #: The most traced memory at any moment since the previous measurement.
        self.peak = 0
        self.traced = 0
        #: Sampled near the peak (with --storm): what the storm holds at once.
        self.peak_snapshot: tracemalloc.Snapshot | None = None

    def take(self) -> None:
        self.types = _type_counts()
        if self.trace:
            self.snapshot = tracemalloc.take_snapshot()
            self.traced, self.peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
        self.rss = process_rss_kib(os.getpid())


async def _settled(server: ChatServer, expected: int) -> None:
    """Wait until every client is in and nothing waits to be written."""
    while True:
        await trio.sleep(0.2)
        connections = server.delivery.connections.values()
        if len(connections) == expected and all(c.outbox.queued == 0 for c in connections):
            await trio.sleep(0.2)
            return


async def _run(args: argparse.Namespace) -> tuple[_Measure, _Measure]:
    config = ServerConfig(
        flood_control=args.flood_control,
        max_per_ip=None,
        max_clients=None,
        history_db=str(args.db),
        ping_interval=3600.0,
        registration_timeout=3600.0,
    )
    before, after = _Measure(trace=args.trace), _Measure(trace=args.trace)
    async with trio.open_nursery() as nursery:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        host, port = listeners[0].socket.getsockname()[:2]
        server: ChatServer = await nursery.start(
            lambda task_status: ChatServer(config).serve(listeners, task_status=task_status)
        )
        if args.storm:
            await _storm(server, host, port, args.clients, before, after)
            nursery.cancel_scope.cancel()
            return before, after
        command = [sys.executable, "-m", "benchmarks.conn_memory", "--child", f"{host}:{port}"]
        child = await trio.lowlevel.open_process(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        try:
            assert child.stdin is not None
            assert child.stdout is not None
            lines = _lines(child.stdout)
            expected = 0
            for count, measure in ((WARM_UP, before), (args.clients, after)):
                await child.stdin.send_all(f"connect {count}\n".encode())
                if await anext(lines, "") != "done":
                    raise SystemExit("the client process failed")
                expected += count
                await _settled(server, expected)
                measure.take()
            await child.stdin.send_all(b"exit\n")
            await child.wait()
        finally:
            child.kill()
        nursery.cancel_scope.cancel()
    return before, after


async def _storm(
    server: ChatServer, host: str, port: int, clients: int, before: _Measure, after: _Measure
) -> None:
    """The ``scale`` scenario's storm: every client registers, then joins, at once.

    Measured as the scenario does (before any client, after all joined), with
    its own load generator: what the storm leaves behind, on top of the idle
    weight, shows as the difference from the default (one client at a time).
    """
    scenario = catalog(quick=False, scale_clients=clients)["scale"]
    before.take()
    pool = await trio.to_thread.run_sync(WorkerPool, build_plans(scenario, host, (port,), 2))
    try:
        async with trio.open_nursery() as watching:
            if before.trace:
                watching.start_soon(_watch_peak, after)
            timeout = scenario.connect_timeout_s
            await trio.to_thread.run_sync(pool.collect, "registered", timeout)
            pool.broadcast("join")
            await trio.to_thread.run_sync(pool.collect, "ready", timeout)
            await _settled(server, scenario.clients)
            watching.cancel_scope.cancel()
        after.take()
    finally:
        await trio.to_thread.run_sync(pool.close)


async def _watch_peak(measure: _Measure) -> None:
    """Keep a snapshot of the moment with the most traced memory (every second or so)."""
    most = 0
    while True:
        await trio.sleep(1)
        traced = tracemalloc.get_traced_memory()[0]
        if traced > most:
            most = traced
            measure.peak_snapshot = tracemalloc.take_snapshot()


async def _lines(stream: trio.abc.ReceiveStream) -> AsyncIterator[str]:
    buffer = b""
    while True:
        chunk = await stream.receive_some()
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line.decode().strip()


def _report(before: _Measure, after: _Measure, clients: int) -> Iterator[str]:
    yield f"{clients} idle clients measured"
    yield f"RSS growth per connection: {(after.rss - before.rss) / clients:.2f} KiB"
    grown = after.types - before.types
    objects = sum(grown.values())
    yield f"live objects per connection: {objects / clients:.2f}"
    for name, count in grown.most_common(TOP_TYPES):
        if count >= clients // 10:
            yield f"  {count / clients:7.2f}  {name}"
    if before.snapshot is None or after.snapshot is None:
        return
    stats = after.snapshot.compare_to(before.snapshot, "lineno")
    total = sum(stat.size_diff for stat in stats)
    yield f"tracemalloc bytes per connection: {total / clients:.0f}"
    peak = (after.peak - before.traced) / clients
    yield f"  at the peak, while connecting: {peak:.0f} (what RSS may keep)"
    if after.peak_snapshot is not None:
        yield "near the peak, by site:"
        yield from _sites(after.peak_snapshot.compare_to(before.snapshot, "lineno"), clients)
        yield "after, by site:"
    yield from _sites(stats, clients)


def _sites(stats: list[tracemalloc.StatisticDiff], clients: int) -> Iterator[str]:
    for stat in stats[:TOP_SITES]:
        frame = stat.traceback[0]
        where = f"{_short(frame.filename)}:{frame.lineno}"
        size, blocks = stat.size_diff / clients, stat.count_diff / clients
        yield f"  {size:8.1f} B  {blocks:5.2f} blocks  {where}"


def _short(filename: str) -> str:
    for marker in ("/triochat/", "/trio/", "/lib/python3"):
        if marker in filename:
            return marker.strip("/") + "/" + filename.split(marker, 1)[1]
    return filename


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=2000, help="idle clients to measure")
    parser.add_argument("--flood-control", action="store_true", help="as shipped: flood gates on")
    parser.add_argument(
        "--no-trace", dest="trace", action="store_false", help="RSS without tracemalloc"
    )
    parser.add_argument(
        "--storm", action="store_true", help="all clients at once, as the scale scenario"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        host, _, port = args.child.rpartition(":")
        _child(host, int(port))
        return
    raise_open_file_limit()
    with tempfile.TemporaryDirectory() as workdir:
        args.db = Path(workdir) / "history.db"
        if args.trace:
            tracemalloc.start(1)
        before, after = trio.run(_run, args)
    for line in _report(before, after, args.clients):
        print(line)


if __name__ == "__main__":
    main()

"""The per-message cost of the pure path, counted in instructions rather than seconds.

Parse a PRIVMSG, let the state route it to a 50-member channel, serialize it
once per tag variant for every recipient: what every chat line costs before
any system call. Wall-clock numbers on a shared 2-core machine drift with the
neighbours' load; an instruction count under callgrind does not::

    valgrind --tool=callgrind python -m benchmarks.hotpath 0
    valgrind --tool=callgrind python -m benchmarks.hotpath 2000

The difference of the two totals, divided by 2,000, is the cost of one
message. Without valgrind it prints the bytes written (a check that two
versions deliver the same) and the seconds per message.

With ``--delivery`` the messages go on through the server's own fan-out
(:class:`~triochat._server.delivery.Delivery`, each member's
:class:`~triochat._server.fanout.Outbox`, one :class:`~triochat._server.fanout.Flusher`
flush per message, as at a moderate rate where nothing batches) into one
socket pair per member: the whole per-delivery cost of the server's user
space, system calls included, which the pure path alone leaves out.
"""

from __future__ import annotations

import socket
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import trio

from triochat._config import ServerConfig
from triochat._history.service import History
from triochat._history.store import HistoryStore
from triochat._irc.tags import visible_tags
from triochat._irc.wire import EMPTY_TAGS, parse, serialize, with_tags
from triochat._ops.metrics import Metrics
from triochat._server.delivery import Delivery
from triochat._server.fanout import Flusher, Outbox
from triochat._state.effects import ConnId, Send
from triochat._state.machine import ServerState
from triochat._state.model import PeerInfo

if TYPE_CHECKING:
    from triochat._server.connection import Connection
    from triochat._server.timers import Timers
    from triochat._state.model import Client

MEMBERS = 50
SENDERS = 5
#: Messages between two drains of the members' sockets (far below their buffers).
DRAIN_EVERY = 20


def _room() -> tuple[ServerState, list[ConnId]]:
    """A server with one channel of ``MEMBERS`` clients, half of them taking every tag."""
    # --no-history: as `triochat serve --no-history` (no msgid, nothing recorded).
    state = ServerState(ServerConfig(motd=None, history="--no-history" not in sys.argv))
    conns = []
    for i in range(MEMBERS):
        conn = ConnId(i + 1)
        state.connect(conn, PeerInfo(f"10.0.0.{i}"))
        caps = "server-time message-tags" if i % 2 else "server-time"
        for line in (f"CAP REQ :{caps}", f"NICK n{i}", "USER u 0 * :r", "CAP END", "JOIN #room"):
            state.handle(conn, parse(line.encode()))
        conns.append(conn)
    return state, conns


def _line(k: int) -> bytes:
    return f"PRIVMSG #room :message number {k} with some text in it".encode()


def run(messages: int) -> int:
    """Send ``messages`` PRIVMSGs through the pure path; the bytes that would be written."""
    state, conns = _room()
    clients = state.network.clients
    written = 0
    for k in range(messages):
        for effect in state.handle(conns[k % SENDERS], parse(_line(k))):
            if not isinstance(effect, Send):
                continue
            variants: dict[int, bytes] = {}
            untagged = b""
            for conn in effect.targets:
                variant = clients[conn].tag_variant
                data = variants.get(variant)
                if data is None:
                    if not untagged:  # as Delivery.fan_out: the body once, tags per variant
                        untagged = serialize(effect.message, tags=EMPTY_TAGS)
                    tags = visible_tags(effect.message.tags, variant)
                    data = variants[variant] = with_tags(tags, untagged)
                written += len(data)
    return written


@dataclass
class _Member:
    """What :class:`Delivery` reads of a connection: its client and its outbox."""

    client: Client
    outbox: Outbox


def run_delivered(messages: int) -> int:
    """Send ``messages`` PRIVMSGs on through the server's delivery into sockets; bytes written."""
    state, conns = _room()
    flusher = Flusher()
    # Recorded messages are queued for the writer, which never runs here: the
    # event loop's share of history (History.record), not the thread's.
    history = History(HistoryStore(":memory:")) if state.recording else None
    delivery = Delivery(
        state.config, state, flusher, cast("Timers", None), history=history, metrics=Metrics()
    )
    readers = []
    for conn in conns:
        ours, theirs = socket.socketpair()
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
        outbox = Outbox(stream, flusher, sendq_bytes=1 << 20, on_overflow=lambda: None)
        member = _Member(state.network.clients[conn], outbox)
        delivery.connections[conn] = cast("Connection", member)
        theirs.setblocking(False)
        readers.append(theirs)
    for k in range(messages):
        delivery.apply(state.handle(conns[k % SENDERS], parse(_line(k))))
        flusher.flush()
        if k % DRAIN_EVERY == DRAIN_EVERY - 1:
            _drain(readers)
    _drain(readers)
    return flusher.written


def _drain(readers: list[socket.socket]) -> None:
    for reader in readers:
        try:
            while reader.recv(1 << 16):
                pass
        except BlockingIOError:
            pass


def main() -> None:
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    messages = int(args[0]) if args else 2000
    through = run_delivered if "--delivery" in sys.argv else run
    start = time.process_time()
    written = through(messages)
    spent = time.process_time() - start
    per_message = f", {spent / messages * 1e6:.1f} us of CPU per message" if messages else ""
    print(f"{messages} messages, {written} bytes delivered{per_message}")


if __name__ == "__main__":
    main()

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
"""

from __future__ import annotations

import sys
import time

from triochat._config import ServerConfig
from triochat._irc.tags import visible_tags
from triochat._irc.wire import parse, serialize
from triochat._state.effects import ConnId, Send
from triochat._state.machine import ServerState
from triochat._state.model import PeerInfo

MEMBERS = 50
SENDERS = 5


def _room() -> tuple[ServerState, list[ConnId]]:
    """A server with one channel of ``MEMBERS`` clients, half of them taking every tag."""
    state = ServerState(ServerConfig(motd=None))
    conns = []
    for i in range(MEMBERS):
        conn = ConnId(i + 1)
        state.connect(conn, PeerInfo(f"10.0.0.{i}"))
        caps = "server-time message-tags" if i % 2 else "server-time"
        for line in (f"CAP REQ :{caps}", f"NICK n{i}", "USER u 0 * :r", "CAP END", "JOIN #room"):
            state.handle(conn, parse(line.encode()))
        conns.append(conn)
    return state, conns


def run(messages: int) -> int:
    """Send ``messages`` PRIVMSGs through the pure path; the bytes that would be written."""
    state, conns = _room()
    clients = state.network.clients
    written = 0
    for k in range(messages):
        raw = f"PRIVMSG #room :message number {k} with some text in it".encode()
        for effect in state.handle(conns[k % SENDERS], parse(raw)):
            if not isinstance(effect, Send):
                continue
            variants: dict[int, bytes] = {}
            for conn in effect.targets:
                variant = clients[conn].tag_variant
                data = variants.get(variant)
                if data is None:
                    tags = visible_tags(effect.message.tags, variant)
                    data = variants[variant] = serialize(effect.message, tags=tags)
                written += len(data)
    return written


def main() -> None:
    messages = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    start = time.process_time()
    written = run(messages)
    spent = time.process_time() - start
    per_message = f", {spent / messages * 1e6:.1f} us of CPU per message" if messages else ""
    print(f"{messages} messages, {written} bytes delivered{per_message}")


if __name__ == "__main__":
    main()

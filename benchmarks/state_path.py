"""The per-message cost of the pure state, in CPU microseconds: ``python -m benchmarks.state_path``.

The socket benchmarks (``python -m benchmarks``) swing by tens of percent on a
shared two-core machine. This one times only :meth:`ServerState.handle` for a
PRIVMSG to a 50-member channel, in CPU time, best of many rounds, so that a
change to the per-message path (mode and ban checks) shows up even on a busy
machine. ``--bans`` adds a run with a full ban list (100 masks) in the channel.
"""

from __future__ import annotations

import argparse
import sys
import time

from triochat._config import ServerConfig
from triochat._irc.wire import Message
from triochat._state.effects import ConnId
from triochat._state.machine import ServerState
from triochat._state.model import PeerInfo

MEMBERS = 50
MESSAGES = 20_000
ROUNDS = 15
BANS = 100


def _room(*, history: bool, bans: bool) -> ServerState:
    state = ServerState(ServerConfig(history=history, motd=None))
    for n in range(1, MEMBERS + 1):
        conn = ConnId(n)
        state.connect(conn, PeerInfo(f"10.0.0.{n}"))
        state.handle(conn, Message("NICK", (f"u{n}",)))
        state.handle(conn, Message("USER", (f"u{n}", "0", "*", "real")))
        state.handle(conn, Message("JOIN", ("#room",)))
    if bans:
        masks = [f"bad{n}!*@*" for n in range(BANS)]
        for start in range(0, BANS, 4):
            state.handle(ConnId(1), Message("MODE", ("#room", "+bbbb", *masks[start : start + 4])))
    return state


def per_message(*, history: bool, bans: bool) -> float:
    """Microseconds of CPU per PRIVMSG handled, best of :data:`ROUNDS`."""
    state = _room(history=history, bans=bans)
    message = Message("PRIVMSG", ("#room", "x" * 64))
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.process_time()
        for n in range(MESSAGES):
            state.handle(ConnId(2 + n % 5), message)
        best = min(best, time.process_time() - start)
    return best / MESSAGES * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.state_path")
    parser.add_argument("--bans", action="store_true", help=f"also with {BANS} bans in the channel")
    args = parser.parse_args(argv)
    for history in (False, True):
        for bans in (False, True) if args.bans else (False,):
            cost = per_message(history=history, bans=bans)
            sys.stdout.write(f"history={history} bans={bans}: {cost:.2f} us/message\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

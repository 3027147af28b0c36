"""The few IRC lines the load generator writes, and the patterns it reads.

Deliveries are recognised with one compiled regular expression run over a whole
received chunk, so the per-line work stays in C: the payload of every benchmark
message starts with ``<sender id> <sequence number> <send time in ns>``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

CHANNEL = "#bench"

#: A delivered benchmark message: sender id, sequence number, send timestamp.
DELIVERY = re.compile(rb" PRIVMSG \S+ :(\d+) (\d+) (\d+) ")

#: A reply to one of our window PINGs; the group is the batch number.
WINDOW_PONG = re.compile(rb" PONG [^\r\n]*?bw(\d+)")

#: A PING from the server, which must be answered or it drops us.
SERVER_PING = re.compile(rb"^(?::\S+ )?PING ([^\r\n]*)", re.MULTILINE)

#: ERROR is what a server sends just before it closes a connection.
SERVER_ERROR = re.compile(rb"^(?::\S+ )?ERROR ([^\r\n]*)", re.MULTILINE)

#: KICK of one of our clients from the channel.
KICK = re.compile(rb"^:\S+ KICK \S+ (\S+)[^\r\n]*", re.MULTILINE)

#: Any numeric reply: (code, rest of line).
NUMERIC = re.compile(rb"^:\S+ (\d{3}) ([^\r\n]*)", re.MULTILINE)

#: Numerics that end the handshake of a client unsuccessfully.
#: An IRCv3 standard reply refusing a command (a cluster node that lost its store
#: refuses JOIN with ``FAIL JOIN CLUSTER_UNAVAILABLE``): the client will never get its answer.
FAIL = re.compile(rb"^(?::\S+ )?FAIL ([^\r\n]*)", re.MULTILINE)
FATAL_NUMERICS = frozenset(
    {
        b"403",  # no such channel
        b"405",  # too many channels
        b"431",  # no nickname given
        b"432",  # erroneous nickname
        b"433",  # nickname in use
        b"436",  # nickname collision
        b"451",  # not registered
        b"461",  # need more params
        b"464",  # password mismatch
        b"465",  # banned
        b"471",  # channel is full
        b"473",  # invite only
        b"474",  # banned from channel
        b"475",  # bad channel key
    }
)

#: The welcome burst ends with the MOTD (376), or 422 when there is none.
END_OF_WELCOME = frozenset({b"376", b"422"})
END_OF_NAMES = b"366"


def nick_for(client_index: int) -> str:
    """A nickname short enough for any server (ngIRCd allows 9 characters)."""
    return f"c{client_index}"


def registration(nick: str) -> bytes:
    """NICK and USER, pipelined: a client that never sends CAP registers directly."""
    return f"NICK {nick}\r\nUSER {nick} 0 * :bench {nick}\r\n".encode()


def join(channels: Sequence[str]) -> bytes:
    """Join the benchmark channels, one JOIN each (the simplest form any server takes)."""
    return "".join(f"JOIN {channel}\r\n" for channel in channels).encode()


def pong(argument: bytes) -> bytes:
    """Answer a server PING with the same argument."""
    return b"PONG " + argument + b"\r\n"


def window_ping(batch: int) -> bytes:
    """A PING whose PONG tells a sender that the server has read a whole batch."""
    return b"PING :bw%d\r\n" % batch


def channel_names(count: int) -> tuple[str, ...]:
    """``#bench``, or ``#bench0``, ``#bench1``, ... when there are several."""
    return (CHANNEL,) if count == 1 else tuple(f"{CHANNEL}{i}" for i in range(count))


def privmsg(
    channels: Sequence[str], sender: int, seq: int, stamp_ns: int, payload_bytes: int
) -> bytes:
    """One benchmark message, to each channel, with exactly ``payload_bytes`` of payload."""
    payload = (b"%d %d %d " % (sender, seq, stamp_ns)).ljust(payload_bytes, b"x")
    return b"".join(b"PRIVMSG %s :%s\r\n" % (c.encode(), payload) for c in channels)

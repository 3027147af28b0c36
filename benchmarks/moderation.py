"""The channel operator of the moderation scenario: 100 bans, +n and +m, voiced senders.

Issue 17 asks for the checks on the hot path of a channel message (is the
sender banned, may it speak in a +m channel, is it a member for +n) to be
measured with a channel that has 100 bans set. Before the load generator's
clients join, this client creates the channel (so it is its operator), sets
``+nm`` and 100 bans that match nobody (or as many as the server's ``MAXLIST``
allows: ngIRCd 26 keeps at most 50, compiled in); once everyone has joined it
voices the senders and leaves, and the fan-out runs through every one of those
checks. Blocking socket, one at a time: it runs between the measured phases.
"""

from __future__ import annotations

import contextlib
import re
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

NICK = "benchop"
#: Issue 17's number; fewer if the server's MAXLIST says it keeps fewer.
BANS = 100
_MAXLIST = re.compile(rb" MAXLIST=(\S+)")
TIMEOUT_S = 30.0


class SetupError(RuntimeError):
    """The server did not accept the channel's moderation set-up."""


class ChannelOperator:
    """A plain IRC client that sets the channels up and then parts."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT_S)
        self.buffer = b""
        #: Bans set in each channel.
        self.bans = BANS

    def send(self, *lines: str) -> None:
        self.sock.sendall("".join(f"{line}\r\n" for line in lines).encode())

    def next_line(self) -> bytes:
        """The next line from the server (PINGs answered, refusals raised)."""
        while b"\r\n" not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                closed = f"the server closed the operator's connection: {self.buffer!r}"
                raise SetupError(closed)
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        if line.startswith(b"PING "):
            self.send("PONG " + line[5:].decode())
        elif line.startswith(b"ERROR ") or b" 482 " in line or b" 478 " in line:
            raise SetupError(f"the server refused the set-up: {line.decode(errors='replace')}")
        return line

    def wait_for(self, token: bytes, count: int = 1) -> list[bytes]:
        """Read until ``count`` lines contain ``token``; those lines."""
        found: list[bytes] = []
        while len(found) < count:
            line = self.next_line()
            if token in line:
                found.append(line)
        return found

    def moderate(self, channels: Sequence[str]) -> None:
        """Register, create ``channels`` with +nm and 100 bans each, and check the lists."""
        self.send(f"NICK {NICK}", f"USER {NICK} 0 * :{NICK}")
        line = b""
        while b" 376 " not in line and b" 422 " not in line:  # the end of the welcome
            line = self.next_line()
            if b" 005 " in line:
                self.bans = min(self.bans, ban_limit(line))
        for channel in channels:
            self.send(f"JOIN {channel}")
            self.wait_for(b" 366 ")
            self.send(f"MODE {channel} +nm")
            # One ban per line: any server takes that, whatever its MODES= limit.
            self.send(*(f"MODE {channel} +b *!*@banned-{n}.invalid" for n in range(self.bans)))
            self.send(f"MODE {channel} +b")
            self.wait_for(b" 367 ", self.bans)
            self.wait_for(b" 368 ")

    def voice_and_leave(self, channels: Sequence[str], senders: Sequence[str]) -> None:
        """Voice every sender (they joined meanwhile), then leave the channels to them."""
        for channel in channels:
            self.send(*(f"MODE {channel} +v {nick}" for nick in senders))
            self.wait_for(b" +v ", len(senders))
            self.send(f"PART {channel}")
            self.wait_for(b" PART ")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send("QUIT")
        self.sock.close()


def ban_limit(isupport: bytes) -> int:
    """The bans a channel may hold by one 005 line's ``MAXLIST`` (``b:100,e:100`` or ``beI:50``)."""
    found = _MAXLIST.search(isupport)
    if found is None:
        return BANS
    for part in found.group(1).split(b","):
        modes, _, limit = part.partition(b":")
        if b"b" in modes and limit.isdigit():
            return int(limit)
    return BANS

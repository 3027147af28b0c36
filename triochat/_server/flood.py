"""Flood control, the IRC "fake lag" way: a token bucket that delays, never drops.

Each client has a :class:`TokenBucket` of ``burst`` tokens that refills at
``rate`` tokens per second; handling one command takes one token. A client
with tokens left is served at once, so a person typing (or pasting a few
lines) never notices it. A client with none waits for the next token: the
server handles its following line later, and meanwhile keeps reading its
input into its RecvQ. Only that client waits; the room does not. Sustained
abuse fills the RecvQ, or would leave the client too far behind, and ends
with ``ERROR :Closing link: Excess Flood``.

The bucket is pure arithmetic on the times it is given (no clock of its
own); :class:`FloodGate` is the trio side that makes a reader wait for it.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Final

import trio

if TYPE_CHECKING:
    from typing import TypeAlias

    from .._irc.wire import _LineTooLongMarker

    Line: TypeAlias = bytes | _LineTooLongMarker

__all__ = ["FloodGate", "TokenBucket"]

#: Float rounding slack: a token due within this many seconds is available.
_EPSILON: Final = 1e-9


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second.

    It keeps one number, the time at which the bucket will be full again
    (ircd's "since"): taking a token pushes it ``1 / rate`` seconds later, and
    the bucket is empty when it is ``burst / rate`` seconds ahead of now.
    """

    __slots__ = ("_allowance", "_full_at", "interval")

    def __init__(self, burst: int, rate: float) -> None:
        if burst < 1 or rate <= 0:
            raise ValueError("a token bucket needs burst >= 1 and rate > 0")
        #: Seconds per token.
        self.interval = 1.0 / rate
        self._allowance = burst * self.interval
        self._full_at = float("-inf")

    def take(self, now: float, cost: int = 1) -> float:
        """Take ``cost`` tokens and return 0.0, or return how long until they are there.

        When this returns a delay, nothing was taken: ask again after it.
        """
        full_at = max(self._full_at, now) + cost * self.interval
        delay = full_at - now - self._allowance
        if delay > _EPSILON:
            return delay
        self._full_at = full_at
        return 0.0

    def lag(self, now: float, waiting: int) -> float:
        """Seconds until ``waiting`` more tokens will all have been taken."""
        full_at = max(self._full_at, now) + waiting * self.interval
        return max(0.0, full_at - now - self._allowance)


class FloodGate:
    """A client's flood control: its token bucket and its RecvQ (lines waiting)."""

    __slots__ = ("bucket", "eof", "queue", "queued_bytes", "resume_at")

    def __init__(self, burst: int, rate: float) -> None:
        self.bucket = TokenBucket(burst, rate)
        #: Complete lines received and not handled yet, oldest first.
        self.queue: deque[Line] = deque()
        #: Their size in bytes: with the partial line being read, the RecvQ.
        self.queued_bytes = 0
        #: When the next waiting line may be handled.
        self.resume_at = 0.0
        #: The client has sent EOF: handle what waits, then close.
        self.eof = False

    async def receive_while_waiting(
        self, stream: trio.abc.Stream, max_bytes: int
    ) -> bytes | bytearray | None:
        """Read more input until ``resume_at``; None when the wait ended first."""
        if self.eof:
            await trio.sleep_until(self.resume_at)
            return None
        with trio.move_on_at(self.resume_at):
            return await stream.receive_some(max_bytes)
        return None

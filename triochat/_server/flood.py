"""Flood control, the IRC "fake lag" way: a token bucket that delays, never drops.

Each client has a :class:`TokenBucket` of ``burst`` tokens that refills at
``rate`` tokens per second; handling one command takes one token. A client
with tokens left is served at once, so a person typing (or pasting a few
lines) never notices it. A client with none waits for the next token: the
server handles its following line later, and meanwhile keeps reading its
input into its RecvQ. Only that client waits; the room does not. Sustained
abuse fills the RecvQ, or would leave the client too far behind, and ends
with ``ERROR :Closing link: Excess Flood``.

Pure arithmetic on the times it is given: no trio, no clock of its own.
"""

from __future__ import annotations

from typing import Final

__all__ = ["TokenBucket"]

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

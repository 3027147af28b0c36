"""A chat session that outlives its connections: the trio side of the full-screen client.

:func:`run_chat` connects, chats (one :class:`~triochat._client._Session` per
connection, like the line client), and when the connection is lost, waits
(exponential backoff with jitter) and connects again: under the same nick,
joining again every room it was in. It reports what happens as
:mod:`._client_events` on a channel and takes :class:`UserInput` from another,
so it knows nothing of the screen; tests drive it with memory streams and the
autojump clock.

It ends when the user leaves (``/quit``, end of input: 0) or when cancelled
(the session still says ``QUIT`` to a live server). While there is no
connection, typed lines are answered with a notice, never queued for later:
text sent minutes late, into a conversation that moved on, is worse than none.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import trio

from .base import local_now
from .commands import Command, Verb, parse_input
from .core import ClientCore
from .events import Connecting, InfoLine, Reconnecting, UserInput
from .session import DEFAULT_TIMEOUTS, ClientTimeouts, ConnectError, _Session

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from datetime import datetime

    from .events import Event
    from .sasl import Credentials

__all__ = ["DEFAULT_BACKOFF", "HISTORY_CAPS", "Backoff", "run_chat"]

logger = logging.getLogger("triochat.client")

#: What the full-screen client asks for besides the line client's capabilities:
#: ``batch`` shows replayed history as such (with ``server-time``).
HISTORY_CAPS: Final = frozenset({"batch"})
#: Seconds between lag probes.
LAG_INTERVAL: Final = 30.0
#: Seconds a closing connection may take.
CLOSE_TIMEOUT: Final = 2.0


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before connecting again: ``initial * factor**n``, at most ``maximum``.

    ``jitter`` spreads each delay by up to that fraction (up or down), so that
    the clients of a server that restarts do not all come back at once.
    """

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 60.0
    jitter: float = 0.2

    def delay(self, failures: int, rng: Callable[[], float] = random.random) -> float:
        """The wait after ``failures`` failed attempts in a row (1 for the first)."""
        base = min(self.maximum, self.initial * self.factor ** max(0, failures - 1))
        spread = 1 + self.jitter * (2 * rng() - 1)
        return max(0.0, base * spread)


DEFAULT_BACKOFF: Final = Backoff()


async def run_chat(
    connect: Callable[[], Awaitable[trio.abc.Stream]],
    user_input: trio.abc.ReceiveChannel[UserInput],
    events: trio.abc.SendChannel[Event],
    *,
    nick: str | None,
    channel: str | None = "#lobby",
    backoff: Backoff = DEFAULT_BACKOFF,
    timeouts: ClientTimeouts = DEFAULT_TIMEOUTS,
    lag_interval: float | None = LAG_INTERVAL,
    clock: Callable[[], datetime] = local_now,
    rng: Callable[[], float] = random.random,
    first_failure_is_fatal: bool = False,
    login: Credentials | None = None,
) -> int:
    """Chat until the user leaves, connecting again whenever the connection is lost.

    Args:
        connect: opens a new connection to the server (raising :exc:`OSError`
            or :exc:`~triochat._client.ConnectError` when it cannot).
        user_input: what the user types, and in which window.
        events: receives every :mod:`._client_events` event.
        nick: the nickname; ``None`` asks the user. After a reconnection, the
            nick of the last session (with a ``_`` more if it is still taken:
            the server may not have noticed yet that the old connection died).
        channel: joined first; a reconnection joins every room of the last session.
        first_failure_is_fatal: raise, rather than retry, when the very first
            connection attempt fails (the CLI then says why and exits).
        login: an account to log in to with SASL on every connection.

    Returns:
        0: the user left.
    """
    rooms = [channel] if channel else []
    failures = 0
    attempt = 0
    while True:
        await events.send(Connecting(attempt))
        try:
            stream = await connect()
        except (OSError, ConnectError) as error:
            if attempt == 0 and first_failure_is_fatal:
                raise
            reason = f"cannot connect: {error}"
        else:
            core = ClientCore(
                nick=nick,
                channel=rooms[0] if rooms else None,
                also_join=rooms[1:],
                clock=clock,
                extra_caps=HISTORY_CAPS,
                nick_fallback=attempt > 0,
                monotonic=trio.current_time,
                login=login,
                secure=isinstance(stream, trio.SSLStream),
            )
            session = _Session(
                core, stream, None, timeouts, events=events, lag_interval=lag_interval
            )
            try:
                await session.run(user_input)
            finally:
                with trio.move_on_after(CLOSE_TIMEOUT, shield=True):
                    await stream.aclose()
            if core.exit_code == 0:
                return 0
            if core.welcomed:
                nick = core.nick
                rooms = list(core.channels.values())
                failures = 0
            reason = "the connection was lost"
        attempt += 1
        failures += 1
        delay = backoff.delay(failures, rng)
        await events.send(Reconnecting(delay, reason, clock()))
        with trio.move_on_after(delay):
            if await _offline(user_input, events, clock):
                return 0


async def _offline(
    user_input: trio.abc.ReceiveChannel[UserInput],
    events: trio.abc.SendChannel[Event],
    clock: Callable[[], datetime],
) -> bool:
    """Answer what the user types while there is no connection; True if they left."""
    while True:
        try:
            typed = await user_input.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            return True
        parsed = parse_input(typed.text)
        if isinstance(parsed, Command) and parsed.verb is Verb.QUIT:
            return True
        if typed.text.strip():
            text = "not connected: not sent (reconnecting soon; /quit to leave)"
            await events.send(InfoLine(text, clock(), error=True))

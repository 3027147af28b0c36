"""The chat client over a trio stream: the thin I/O layer around :class:`ClientCore`.

:func:`run_client` knows nothing of terminals or sockets: it talks IRC over any
:class:`trio.abc.Stream`, reads the user's lines from a channel and writes
what to show to another. Tests drive it with memory streams and channels;
the terminal adapter (:mod:`._terminal`) and a future GUI plug real ones in.

Shape: one nursery, two tasks. The *reader* turns the server's bytes into
messages for the core; the *input* task feeds it the user's lines. Whichever
side ends the session (the server goes away, or the user leaves) cancels the
nursery; nothing calls ``sys.exit``. Every wait for the server to finish
something (a ``!private`` check, the end of input, the close) is bounded by
:class:`ClientTimeouts`.
"""

from __future__ import annotations

import logging
import math
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import trio

from .._irc.wire import LINE_TOO_LONG, LineReader, RemoteProtocolError, parse
from .._tls import describe_verification_error
from .base import Phase, local_now
from .core import ClientCore
from .events import UserInput

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from .base import Effects
    from .events import Event
    from .sasl import Credentials

__all__ = ["DEFAULT_TIMEOUTS", "ClientTimeouts", "ConnectError", "connect", "run_client"]

logger = logging.getLogger("triochat.client")

RECEIVE_BYTES: Final = 65536


@dataclass(frozen=True, slots=True)
class ClientTimeouts:
    """How long the client waits for the server, in seconds."""

    #: After QUIT: for the server to close the connection.
    close: float = 5.0
    #: After the end of piped input: for the PONG proving all of it was read.
    drain: float = 30.0
    #: After ``!private NICK``: for the server to say whether NICK is here.
    check: float = 10.0
    #: After a lag probe (full-screen client): for its PONG, else the connection counts as lost.
    ping: float = 60.0


DEFAULT_TIMEOUTS: Final = ClientTimeouts()


class ConnectError(Exception):
    """The connection could not be set up; the message says why and what to try."""


async def connect(
    host: str, port: int, *, ssl_context: ssl.SSLContext | None, handshake_timeout: float = 10.0
) -> trio.abc.Stream:
    """Open a connection to a chat server: plain TCP, or TLS with ``ssl_context``.

    With TLS, the handshake is done here (within ``handshake_timeout``) so
    that a certificate problem or a plain-text port is reported before the
    chat starts, never discovered halfway into it.

    Raises:
        OSError: the server cannot be reached (refused, unknown host, ...).
        ConnectError: the TLS handshake failed or timed out.
    """
    tcp = await trio.open_tcp_stream(host, port)
    if ssl_context is None:
        return tcp
    stream = trio.SSLStream(tcp, ssl_context, server_hostname=host)
    try:
        with trio.fail_after(handshake_timeout):
            await stream.do_handshake()
    except trio.TooSlowError:
        await trio.aclose_forcefully(stream)
        raise ConnectError(
            f"the TLS handshake with {host}:{port} timed out; is it a TLS port?"
        ) from None
    except trio.BrokenResourceError as error:
        await trio.aclose_forcefully(stream)
        raise ConnectError(_describe_handshake_failure(error.__cause__, host, port)) from None
    return stream


def _describe_handshake_failure(cause: BaseException | None, host: str, port: int) -> str:
    if isinstance(cause, ssl.SSLCertVerificationError):
        return describe_verification_error(cause, host)
    if cause is None or isinstance(cause, ssl.SSLEOFError) or "EOF" in str(cause):
        return (
            f"{host}:{port} closed the connection during the TLS handshake: it is probably a"
            " plain-text port (IRC uses 6667 for plain text and 6697 for TLS; leave out --tls"
            " for a plain-text port)"
        )
    return f"the TLS handshake with {host}:{port} failed: {cause}"


async def run_client(
    stream: trio.abc.Stream,
    user_lines: trio.abc.ReceiveChannel[str],
    display: trio.abc.SendChannel[str],
    *,
    nick: str | None,
    channel: str | None = "#lobby",
    timeouts: ClientTimeouts = DEFAULT_TIMEOUTS,
    clock: Callable[[], datetime] = local_now,
    login: Credentials | None = None,
) -> int:
    """Chat over ``stream`` until the user leaves or the server goes away.

    Args:
        stream: a connected stream to an IRC server; not closed here.
        user_lines: what the user types, one line per item. When it ends
            (:exc:`trio.EndOfChannel`), the client makes sure the server has
            processed every line, then quits.
        display: receives every line to show, already safe for a terminal.
        nick: the nickname; ``None`` asks the user for one first.
        channel: joined after registration; ``None`` joins nothing.
        timeouts: bounds on every wait for the server.
        clock: local time, for the stamp of lines the server did not stamp.
        login: an account to log in to with SASL (PLAIN only if ``stream`` is TLS).

    Returns:
        0 when the user left (``/quit``, or end of input), 1 when the server
        went away first.

    If cancelled, the client still says ``QUIT`` and waits (shielded, at most
    ``timeouts.close``) for the server to close, then re-raises.
    """
    secure = isinstance(stream, trio.SSLStream)
    core = ClientCore(nick=nick, channel=channel, clock=clock, login=login, secure=secure)
    session = _Session(core, stream, display, timeouts)
    return await session.run(user_lines)


class _Session:
    """The tasks of one client connection and the state they share.

    A full-screen client (:mod:`._client_reconnect`) gives ``events`` instead
    of (or besides) ``display``, types :class:`UserInput` that says which
    window a line comes from, and asks for a lag probe every ``lag_interval``
    seconds: a probe unanswered within ``timeouts.ping`` ends the session as
    a lost connection (a link that died silently never says so otherwise).
    """

    def __init__(
        self,
        core: ClientCore,
        stream: trio.abc.Stream,
        display: trio.abc.SendChannel[str] | None,
        timeouts: ClientTimeouts,
        *,
        events: trio.abc.SendChannel[Event] | None = None,
        lag_interval: float | None = None,
    ) -> None:
        self._core = core
        self._stream = stream
        self._display = display
        self._events = events
        self._lag_interval = lag_interval
        self._timeouts = timeouts
        self._lines = LineReader()
        # Effects leave in the order the core made them: a task calls the core
        # and queues on this FIFO lock with no checkpoint in between.
        self._lock = trio.StrictFIFOLock()
        self._changed = trio.Event()
        self._check_deadline: float | None = None

    async def run(self, user_lines: trio.abc.ReceiveChannel[str | UserInput]) -> int:
        try:
            async with trio.open_nursery() as nursery:
                await self._apply(self._core.start())
                nursery.start_soon(self._read_server, nursery.cancel_scope)
                nursery.start_soon(self._read_user, user_lines, nursery.cancel_scope)
                if self._lag_interval is not None:
                    nursery.start_soon(self._probe_lag, self._lag_interval, nursery.cancel_scope)
        finally:
            if self._core.phase is not Phase.CLOSED:  # cancelled from outside
                with trio.move_on_after(self._timeouts.close, shield=True):
                    await self._apply(self._core.quit())
                    await self._receive_until_closed()
        return 1 if self._core.exit_code is None else self._core.exit_code

    # -- the two tasks -------------------------------------------------------

    async def _read_server(self, session: trio.CancelScope) -> None:
        await self._receive_until_closed()
        session.cancel()

    async def _read_user(
        self, user_lines: trio.abc.ReceiveChannel[str | UserInput], session: trio.CancelScope
    ) -> None:
        core = self._core
        while core.talking:
            line: str | UserInput | None = ""
            with trio.move_on_at(self._deadline_of_check()) as check_wait:
                line = await self._next_line(user_lines)
            if check_wait.cancelled_caught:
                await self._apply(core.check_timed_out())
            elif line is None:
                await self._finish_input()
            elif isinstance(line, UserInput):
                await self._apply(core.user_line(line.text, window=line.window))
            else:
                await self._apply(core.user_line(line))
        with trio.move_on_after(self._timeouts.close):
            await self._wait_until(lambda: core.phase is Phase.CLOSED)
        await self._apply(core.connection_lost("the server did not close the connection"))
        session.cancel()

    async def _probe_lag(self, interval: float, session: trio.CancelScope) -> None:
        """Measure the lag once registered, then every ``interval`` seconds.

        A probe without an answer within ``timeouts.ping`` means the link is dead.
        """
        core = self._core
        await self._wait_until(lambda: core.phase is not Phase.REGISTERING)
        while True:
            await self._apply(core.probe_lag())
            with trio.move_on_after(self._timeouts.ping):
                await self._wait_until(lambda: not core.lag_probe_pending)
            if core.lag_probe_pending and core.phase is not Phase.CLOSED:
                reason = f"no answer from the server for {self._timeouts.ping:g} seconds"
                await self._apply(core.connection_lost(reason))
                session.cancel()
                return
            await trio.sleep(interval)

    # -- helpers ----------------------------------------------------------------

    async def _next_line(
        self, user_lines: trio.abc.ReceiveChannel[str | UserInput]
    ) -> str | UserInput | None:
        """The next user line once the core can take it; None at end of input."""
        await self._wait_until(lambda: self._core.accepting_input)
        try:
            return await user_lines.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            return None

    def _deadline_of_check(self) -> float:
        """When a pending ``!private`` check gives up (inf when none is pending)."""
        if self._core.checking_nick is None:
            self._check_deadline = None
            return math.inf
        if self._check_deadline is None:
            self._check_deadline = trio.current_time() + self._timeouts.check
        return self._check_deadline

    async def _finish_input(self) -> None:
        """End of input: wait (bounded) until the server has read it all, then quit."""
        core = self._core
        await self._apply(core.end_of_input())
        with trio.move_on_after(self._timeouts.drain):
            await self._wait_until(lambda: core.phase is not Phase.DRAINING)
        if core.phase is Phase.DRAINING:
            logger.warning("no PONG from the server; quitting anyway")
            await self._apply(core.quit())

    async def _receive_until_closed(self) -> None:
        core = self._core
        while core.phase is not Phase.CLOSED:
            try:
                data = await self._stream.receive_some(RECEIVE_BYTES)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
                await self._apply(core.connection_lost(str(error) or "the connection broke"))
                return
            if not data:
                await self._apply(core.connection_lost("the server closed the connection"))
                return
            self._lines.feed(data)
            for line in self._lines.lines():
                if line is LINE_TOO_LONG:
                    logger.warning("skipped an over-long line from the server")
                    continue
                try:
                    message = parse(line)
                except RemoteProtocolError as error:
                    logger.warning("skipped a malformed line from the server: %s", error)
                    continue
                await self._apply(core.server_message(message))

    async def _apply(self, effects: Effects) -> None:
        """Show and send what the core asked for, then wake whoever waits on it."""
        async with self._lock:
            await self._show(effects)
            if effects.send:
                try:
                    await self._stream.send_all(b"".join(effects.send))
                except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
                    lost = self._core.connection_lost(str(error) or "the connection broke")
                    await self._show(lost)
        self._changed.set()
        self._changed = trio.Event()

    async def _show(self, effects: Effects) -> None:
        if self._display is not None:
            for line in effects.show:
                await self._display.send(line)
        if self._events is not None:
            for event in effects.events:
                await self._events.send(event)

    async def _wait_until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self._changed.wait()

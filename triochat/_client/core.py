"""The chat client's logic, without any I/O (the sans-IO model of h11).

:class:`ClientCore` is fed what happened, one event at a time: a line the user
typed (:meth:`~ClientCore.user_line`), the end of their input, a message from
the server, the loss of the connection. Each call returns :class:`Effects`:
the IRC lines to send (serialized) and the lines to show. Nothing here
imports trio, so every rule below is tested with plain function calls.

Rules this module keeps:

* Every shown line carries a ``[HH:MM]`` stamp (the IRCv3 ``time`` tag when the
  server sent one, else the local clock) and goes through :func:`sanitize`, so
  no control character that someone else sent can reach the terminal.
* A line the user means for one person never goes anywhere else. ``!private``
  switches to private mode only once the server has confirmed that the nick is
  there (``WHOIS``); text typed while that check runs is held, and dropped
  with a notice, not sent publicly, when the nick turns out to be absent.
* Lines typed before the client can act on them (before registration and the
  first ``JOIN`` are done, or during a ``!private`` check) are held, never lost.
  The I/O layer stops reading input while a line is held
  (:attr:`~ClientCore.accepting_input`), so at most one line waits here.
* The end of the session is reported once, with an exit code: 0 when we left
  (``QUIT``), 1 when the server went away first.

Besides the display strings, every call also returns structured events
(``Effects.events``, see :mod:`.events`) for a full-screen client: which
room a line belongs to, who spoke, who joined or left, whether a line is
replayed history (inside an IRCv3 ``chathistory`` batch). The line client
ignores them. A full-screen client also says which window each typed line comes
from (``user_line(line, window=...)``), and plain text goes there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import (
    DRAIN_TOKEN,
    LAG_TOKEN,
    TALKING,
    UNSENDABLE,
    UNSET,
    Effects,
    Phase,
    Unset,
    logger,
    sendable_word,
)
from .commands import Command, Verb, parse_input
from .incoming import HANDLERS, Incoming

if TYPE_CHECKING:
    from .._irc.wire import Message

__all__ = ["ClientCore"]


class ClientCore(Incoming):
    """One chat session's state, driven by events, answering with :class:`Effects`.

    The session's state is :class:`~.base.CoreState`; these methods are the
    events an I/O layer feeds in.
    """

    @property
    def phase(self) -> Phase:
        """Where the session stands."""
        return self._phase

    @property
    def lag_probe_pending(self) -> bool:
        """True while a :meth:`probe_lag` PING waits for its PONG."""
        return self._lag_sent is not None

    @property
    def talking(self) -> bool:
        """True until the user's input ends or the session does."""
        return self._phase in TALKING

    @property
    def accepting_input(self) -> bool:
        """True when the next user line may be read (see the module notes)."""
        return self._phase in TALKING and (self._awaiting_nick or not self._held)

    @property
    def checking_nick(self) -> str | None:
        """The nick a ``!private`` is waiting to find on the server, if any."""
        return self._checking

    def start(self) -> Effects:
        """Open the session: capability negotiation, then the nickname."""
        self._begin()
        self._send("CAP", "LS", "302")
        nick = self._initial_nick
        if nick is not None and sendable_word(nick):
            self._register_as(nick)
        else:
            if nick is not None:
                self._show(f"-!- {nick!r} cannot be used as a nickname", error=True)
            self._ask_for_nick()
        return self._done()

    def user_line(self, line: str, *, window: str | Unset | None = UNSET) -> Effects:
        """A line the user typed (without its line ending).

        ``window`` is where a full-screen client's user typed it: a channel or
        a nick, which becomes the target of plain text, or ``None`` for the
        status window, where plain text goes nowhere. The line client leaves
        it out (:data:`UNSET`): plain text goes to the current target.
        """
        self._begin()
        line = line.rstrip("\r\n").translate(UNSENDABLE)
        parsed = parse_input(line)
        if window is not UNSET:
            self._look_at(window)
        if self._phase not in TALKING:
            logger.debug("input after the end of the session: %r", line)
        elif isinstance(parsed, Command) and parsed.verb is Verb.QUIT:
            self._quit(parsed.args)  # leaving never waits, whatever else is pending
        elif self._awaiting_nick:
            self._take_nick(line)
        elif self._must_hold:
            self._held.append(line)
        else:
            self._handle_input(line)
        return self._done()

    def end_of_input(self) -> Effects:
        """The user's input ended: make sure the server read it all, then leave.

        Sends ``PING`` with :data:`DRAIN_TOKEN`; its ``PONG`` proves that the
        server processed every line before it, and then the core sends ``QUIT``.
        Before registration there is nothing to wait for: it quits at once.
        """
        self._begin()
        if self._phase is Phase.CHATTING:
            self._send("PING", DRAIN_TOKEN)
            self._phase = Phase.DRAINING
        elif self._phase is Phase.REGISTERING:
            self._quit("")
        return self._done()

    def quit(self, reason: str = "") -> Effects:
        """Leave the server (``QUIT``) unless already leaving."""
        self._begin()
        if self._phase in TALKING or self._phase is Phase.DRAINING:
            self._quit(reason)
        return self._done()

    def probe_lag(self) -> Effects:
        """Measure the lag: a ``PING`` whose ``PONG`` gives :class:`LagMeasured`.

        Nothing is sent before registration, after it, or while a probe is pending.
        """
        self._begin()
        if (
            self._phase is Phase.CHATTING
            and self._lag_sent is None
            and self._send("PING", LAG_TOKEN)
        ):
            self._lag_sent = self._monotonic()
        return self._done()

    def check_timed_out(self) -> Effects:
        """The server never answered a ``!private`` check: stay where we are."""
        self._begin()
        if self._checking is not None:
            self._show(f"-!- the server did not say whether {self._checking} is here")
            self._finish_check(found=False)
        return self._done()

    def connection_lost(self, reason: str) -> Effects:
        """The connection ended (EOF, reset, ``ERROR``, or we gave up waiting).

        Said once: later calls change nothing.
        """
        self._begin()
        self._close(reason)
        return self._done()

    def server_message(self, message: Message) -> Effects:
        """A message from the server."""
        self._begin(message.tags)
        self._history = self._batches.get(message.tags.get("batch", "")) is not None
        if self._phase is Phase.CLOSED:
            return self._done()
        handler = HANDLERS.get(message.command)
        if handler is not None:
            handler(self, message)
        elif message.command.isdigit():
            self._on_numeric(message)
        else:
            logger.debug("ignored %s from the server", message.command)
        return self._done()

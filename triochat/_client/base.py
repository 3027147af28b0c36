"""The client core's state and its outputs: what every part of :class:`~.core.ClientCore` shares.

The rules live in :mod:`.typed` (what the user typed), :mod:`.incoming`
(what the server said) and :mod:`.core` (the events the I/O layer feeds in);
this module holds the session's state, the helpers that turn it into
effects (lines to send, lines to show, structured events), and registration.
"""

from __future__ import annotations

import enum
import logging
import re
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from .._irc import numerics as rpl
from .._irc.names import casefold, is_channel
from .._irc.wire import LocalProtocolError, Message, serialize
from .events import (
    ChatLine,
    ConnectionLost,
    InfoLine,
)
from .text import sanitize

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from .events import Event
    from .sasl import Credentials, SaslClient


__all__ = [
    "DEFAULT_QUIT_REASON",
    "DRAIN_TOKEN",
    "LAG_TOKEN",
    "UNSET",
    "WANTED_CAPS",
    "CoreState",
    "Effects",
    "Phase",
    "local_now",
    "mentions",
]

logger = logging.getLogger("triochat.client")

#: The IRCv3 capabilities the client asks for, when the server offers them.
WANTED_CAPS: Final = frozenset({"server-time", "echo-message", "message-tags", "multi-prefix"})
DEFAULT_QUIT_REASON: Final = "leaving"
#: The token of the PING that proves the server has read all our piped input.
DRAIN_TOKEN: Final = "triochat-drain"
#: The token of the PING that measures the lag to the server.
LAG_TOKEN: Final = "triochat-lag"
#: Open batches a server may keep at once (more are not tracked).
MAX_BATCHES: Final = 64
#: How often registration tries the nick with one more ``_`` (with ``nick_fallback``).
MAX_NICK_FALLBACKS: Final = 3
# What is not part of a nickname, for finding one in a line of text.
_NOT_NICK: Final = re.compile(r"[^A-Za-z0-9\[\]\\`_^{|}-]+")
# The server relays our PRIVMSG to others with ":nick!user@host " in front, and
# that whole line must fit in 512 bytes: keep room for the longest host name.
HOST_RESERVE: Final = 63
MIN_TEXT_BYTES: Final = 32  # never split into slivers, even for absurd targets
# Numerics that only mark the end of something, or carry nothing for people.
QUIET_NUMERICS: Final = frozenset(
    {rpl.RPL_MYINFO, rpl.RPL_ISUPPORT, rpl.RPL_ENDOFWHO, rpl.RPL_ENDOFWHOIS, rpl.RPL_NOTOPIC}
    | {rpl.RPL_CREATIONTIME, rpl.RPL_TOPICWHOTIME, rpl.RPL_ENDOFWHOWAS}
    | {rpl.RPL_MOTDSTART, rpl.RPL_ENDOFMOTD}
)
NICK_ERRORS: Final = frozenset(
    {rpl.ERR_NONICKNAMEGIVEN, rpl.ERR_ERRONEUSNICKNAME, rpl.ERR_NICKNAMEINUSE, "436", "437"}
)


class Phase(enum.Enum):
    """Where the session stands, from first byte to last."""

    REGISTERING = "registering"  # before the server's welcome (001)
    CHATTING = "chatting"
    DRAINING = "draining"  # input ended: waiting for the PONG to DRAIN_TOKEN
    QUITTING = "quitting"  # QUIT sent: waiting for the server to close
    CLOSED = "closed"


TALKING: Final = (Phase.REGISTERING, Phase.CHATTING)
# CR, LF and NUL cannot travel in an IRC parameter.
UNSENDABLE: Final = str.maketrans({"\0": None, "\r": None, "\n": " "})


class Unset(enum.Enum):
    UNSET = "unset"


#: ``user_line(window=UNSET)``: the line client, which has no windows.
UNSET: Final = Unset.UNSET


@dataclass(frozen=True, slots=True)
class Effects:
    """What to do after one event: IRC lines to send, lines to show the user.

    ``events`` says the same as ``show``, and more, as data (for a full-screen client).
    """

    send: tuple[bytes, ...] = ()
    show: tuple[str, ...] = ()
    events: tuple[Event, ...] = ()


def local_now() -> datetime:
    """The current local time, with its UTC offset."""
    return datetime.now().astimezone()


def _tag_time(tags: Mapping[str, str]) -> datetime | None:
    """The IRCv3 ``time`` tag (ISO 8601, UTC), if present and readable."""
    value = tags.get("time")
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        logger.debug("unreadable time tag %r", value)
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def nick_of(source: str | None) -> str:
    """The nick in a ``nick!user@host`` source (a server name stays whole)."""
    return (source or "").partition("!")[0]


def last_param(message: Message) -> str:
    """The last parameter (the human-readable text, for most replies)."""
    return message.params[-1] if message.params else ""


def same_name(one: str, other: str) -> bool:
    """True when two nicks (or two channel names) name the same thing."""
    return casefold(one) == casefold(other)


def as_channel(name: str) -> str:
    """``name`` as a channel name: ``games`` means ``#games``."""
    return name if is_channel(name) else "#" + name


def mentions(text: str, nick: str) -> bool:
    """True when ``text`` names ``nick`` as a word (IRC case rules)."""
    wanted = casefold(nick)
    return any(casefold(word) == wanted for word in _NOT_NICK.split(text) if word)


def sendable_word(word: str) -> bool:
    """True when ``word`` can be a middle parameter (a nick, a channel)."""
    return bool(word) and not word.startswith(":") and not any(c.isspace() for c in word)


class CoreState:
    """One chat session's state, driven by events, answering with :class:`Effects`.


    Args:
        nick: the nickname to register with; ``None`` asks the user first.
        channel: joined right after registration and made the current target;
            ``None`` joins nothing.
        clock: the local time, for lines the server did not time-stamp.
        also_join: more channels to join after ``channel`` (a reconnection
            joins again every room it was in).
        extra_caps: capabilities to ask for besides :data:`WANTED_CAPS`
            (``batch``, to see replayed history as such).
        nick_fallback: when the nick is taken during registration, try it
            with a ``_`` more (a few times) before asking the user.
        monotonic: seconds on a steady clock, for the lag.
        login: an account to log in to with SASL while registering.
        secure: the connection is encrypted (SASL PLAIN may then be used).
    """

    def __init__(
        self,
        *,
        nick: str | None,
        channel: str | None = "#lobby",
        clock: Callable[[], datetime] = local_now,
        also_join: Iterable[str] = (),
        extra_caps: Iterable[str] = (),
        nick_fallback: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
        login: Credentials | None = None,
        secure: bool = False,
    ) -> None:
        self.nick = nick or "*"
        #: The account the server says we are logged in as.
        self.account: str | None = None
        self._login = login
        self._secure = secure
        self._sasl_offer: str | None = None
        self._sasl: SaslClient | None = None
        #: Capabilities the server acknowledged.
        self.caps: set[str] = set()
        #: Joined channels, by casefolded name.
        self.channels: dict[str, str] = {}
        #: The channel plain text goes to (unless :attr:`query` is set).
        self.room: str | None = None
        #: The private partner plain text goes to, when set.
        self.query: str | None = None
        self.exit_code: int | None = None
        #: True once the server welcomed us.
        self.welcomed = False
        self._phase = Phase.REGISTERING
        self._clock = clock
        self._monotonic = monotonic
        self._stamp = ""
        self._time = clock()
        self._wanted_caps = WANTED_CAPS | frozenset(extra_caps)
        self._nick_fallback = nick_fallback
        self._fallbacks = 0
        self._window: str | Unset | None = UNSET
        self._batches: dict[str, str | None] = {}  # reference: the history's window, if any
        self._history = False
        self._lag_sent: float | None = None
        self._events: list[Event] = []
        self._initial_nick = nick
        self._awaiting_nick = False
        self._user_sent = False
        self._offered_caps: set[str] = set()
        self._cap_ended = False
        joins = [as_channel(name) for name in ([channel] if channel else []) + list(also_join)]
        self._autojoin = joins[0] if joins else None
        self._also_join = [name for name in joins[1:] if not same_name(name, joins[0])]
        self._names: dict[str, list[str]] = {}
        self._checking: str | None = None  # the nick a !private waits on
        self._check_found = False
        self._held: deque[str] = deque()
        self._quit_sent = False
        self._out: list[bytes] = []
        self._screen: list[str] = []

    def _begin(self, tags: Mapping[str, str] | None = None) -> None:
        now = self._clock()
        when = _tag_time(tags) if tags else None
        self._time = now if when is None else when.astimezone(now.tzinfo)
        self._stamp = self._time.strftime("%H:%M")
        self._history = False

    def _done(self) -> Effects:
        effects = Effects(tuple(self._out), tuple(self._screen), tuple(self._events))
        self._out.clear()
        self._screen.clear()
        self._events.clear()
        return effects

    def _show(
        self,
        text: str,
        *,
        window: str | None = None,
        error: bool = False,
        info: bool = True,
        server: bool = False,
    ) -> None:
        """Show ``text``; unless ``info`` is False, also as an :class:`InfoLine` in ``window``.

        ``server`` marks what the server says on its own (welcome, MOTD, notices),
        which belongs in the status window rather than where the user is.
        """
        self._screen.append(sanitize(f"[{self._stamp}] {text}"))
        if info:
            self._emit(
                InfoLine(
                    sanitize(text.removeprefix("-!- ")),
                    self._time,
                    None if window is None else sanitize(window),
                    error=error,
                    history=self._history,
                    server=server,
                )
            )

    def _emit(self, event: Event) -> None:
        self._events.append(event)

    def _send(self, command: str, *params: str) -> bool:
        """Queue one message; False (and an error shown) if it cannot be written."""
        try:
            self._out.append(serialize(Message(command, params)))
        except LocalProtocolError as error:
            self._show(f"-!- not sent: {error}", error=True)
            return False
        return True

    def _ask_for_nick(self) -> None:
        self._awaiting_nick = True
        self._show("-!- choose a nickname:")

    def _take_nick(self, line: str) -> None:
        nick = line.strip()
        if not sendable_word(nick):
            self._show("-!- a nickname is one word, without spaces", error=True)
            self._ask_for_nick()
            return
        self._awaiting_nick = False
        self._register_as(nick)

    def _register_as(self, nick: str) -> None:
        self.nick = nick
        self._send("NICK", nick)
        if not self._user_sent:
            self._user_sent = self._send("USER", nick, "0", "*", nick)

    def _end_caps(self) -> None:
        if not self._cap_ended:
            self._cap_ended = True
            self._send("CAP", "END")

    def _is_me(self, nick: str) -> bool:
        return same_name(nick, self.nick)

    def _close(self, reason: str) -> None:
        if self._phase is Phase.CLOSED:
            return
        self._phase = Phase.CLOSED
        self.exit_code = 0 if self._quit_sent else 1
        self._show(f"-!- disconnected: {reason}", info=False)
        self._emit(ConnectionLost(sanitize(reason), self._time))

    def _show_message(self, sender: str, target: str, text: str, *, action: bool = False) -> None:
        self._emit_chat(sender, target, text, action=action)
        if not is_channel(target):
            action_text = f"* {sender} {text}" if action else text
            if self._is_me(sender):
                self._show(f"-> *{target}* {action_text}", info=False)
            else:
                self._show(f"*{sender}* {action_text}", info=False)
            return
        elsewhere = "" if self.room and same_name(target, self.room) else f"{target} "
        said = f"{elsewhere}* {sender} {text}" if action else f"{elsewhere}<{sender}> {text}"
        self._show(said, info=False)

    def _emit_chat(
        self, sender: str, target: str, text: str, *, action: bool = False, notice: bool = False
    ) -> None:
        """Say as a :class:`ChatLine` what ``sender`` said to ``target``."""
        own = self._is_me(sender)
        private = not is_channel(target)
        window = target if own or not private else sender
        self._emit(
            ChatLine(
                sanitize(window),
                sanitize(sender),
                sanitize(text),
                self._time,
                action=action,
                notice=notice,
                own=own,
                history=self._history,
                mention=not own and (private or mentions(text, self.nick)),
            )
        )

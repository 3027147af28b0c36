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
(``Effects.events``, see :mod:`._client_events`) for a full-screen client: which
room a line belongs to, who spoke, who joined or left, whether a line is
replayed history (inside an IRCv3 ``chathistory`` batch). The line client
ignores them. A full-screen client also says which window each typed line comes
from (``user_line(line, window=...)``), and plain text goes there.
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
from .._irc.wire import MAX_BODY_BYTES, LocalProtocolError, Message, serialize
from .commands import Command, Text, UnknownCommand, Verb, help_lines, parse_input
from .events import (
    ChatLine,
    ConnectionLost,
    HistoryEnded,
    HistoryStarted,
    InfoLine,
    Joined,
    LagMeasured,
    Left,
    LoggedIn,
    MemberJoined,
    MemberLeft,
    MemberModes,
    MemberQuit,
    Members,
    NickChanged,
    QueryEnded,
    QueryStarted,
    Registered,
    Topic,
)
from .replies import describe_error, is_error
from .sasl import Credentials, SaslClient
from .text import sanitize, split_utf8

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from .events import Event

__all__ = [
    "DEFAULT_QUIT_REASON",
    "LAG_TOKEN",
    "UNSET",
    "WANTED_CAPS",
    "ClientCore",
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
_MAX_BATCHES: Final = 64
#: How often registration tries the nick with one more ``_`` (with ``nick_fallback``).
_MAX_NICK_FALLBACKS: Final = 3
# What is not part of a nickname, for finding one in a line of text.
_NOT_NICK: Final = re.compile(r"[^A-Za-z0-9\[\]\\`_^{|}-]+")
# The server relays our PRIVMSG to others with ":nick!user@host " in front, and
# that whole line must fit in 512 bytes: keep room for the longest host name.
_HOST_RESERVE: Final = 63
_MIN_TEXT_BYTES: Final = 32  # never split into slivers, even for absurd targets
# Numerics that only mark the end of something, or carry nothing for people.
_QUIET_NUMERICS: Final = frozenset(
    {rpl.RPL_MYINFO, rpl.RPL_ISUPPORT, rpl.RPL_ENDOFWHO, rpl.RPL_ENDOFWHOIS, rpl.RPL_NOTOPIC}
    | {rpl.RPL_CREATIONTIME, rpl.RPL_TOPICWHOTIME, rpl.RPL_ENDOFWHOWAS}
    | {rpl.RPL_MOTDSTART, rpl.RPL_ENDOFMOTD}
)
_NICK_ERRORS: Final = frozenset(
    {rpl.ERR_NONICKNAMEGIVEN, rpl.ERR_ERRONEUSNICKNAME, rpl.ERR_NICKNAMEINUSE, "436", "437"}
)


class Phase(enum.Enum):
    """Where the session stands, from first byte to last."""

    REGISTERING = "registering"  # before the server's welcome (001)
    CHATTING = "chatting"
    DRAINING = "draining"  # input ended: waiting for the PONG to DRAIN_TOKEN
    QUITTING = "quitting"  # QUIT sent: waiting for the server to close
    CLOSED = "closed"


_TALKING: Final = (Phase.REGISTERING, Phase.CHATTING)
# CR, LF and NUL cannot travel in an IRC parameter.
_UNSENDABLE: Final = str.maketrans({"\0": None, "\r": None, "\n": " "})


class _Unset(enum.Enum):
    UNSET = "unset"


#: ``user_line(window=UNSET)``: the line client, which has no windows.
UNSET: Final = _Unset.UNSET


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


def _nick_of(source: str | None) -> str:
    """The nick in a ``nick!user@host`` source (a server name stays whole)."""
    return (source or "").partition("!")[0]


def _last(message: Message) -> str:
    """The last parameter (the human-readable text, for most replies)."""
    return message.params[-1] if message.params else ""


def _same_name(one: str, other: str) -> bool:
    """True when two nicks (or two channel names) name the same thing."""
    return casefold(one) == casefold(other)


def _as_channel(name: str) -> str:
    """``name`` as a channel name: ``games`` means ``#games``."""
    return name if is_channel(name) else "#" + name


def mentions(text: str, nick: str) -> bool:
    """True when ``text`` names ``nick`` as a word (IRC case rules)."""
    wanted = casefold(nick)
    return any(casefold(word) == wanted for word in _NOT_NICK.split(text) if word)


def _sendable_word(word: str) -> bool:
    """True when ``word`` can be a middle parameter (a nick, a channel)."""
    return bool(word) and not word.startswith(":") and not any(c.isspace() for c in word)


class ClientCore:
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
        self._window: str | _Unset | None = UNSET
        self._batches: dict[str, str | None] = {}  # reference: the history's window, if any
        self._history = False
        self._lag_sent: float | None = None
        self._events: list[Event] = []
        self._initial_nick = nick
        self._awaiting_nick = False
        self._user_sent = False
        self._offered_caps: set[str] = set()
        self._cap_ended = False
        joins = [_as_channel(name) for name in ([channel] if channel else []) + list(also_join)]
        self._autojoin = joins[0] if joins else None
        self._also_join = [name for name in joins[1:] if not _same_name(name, joins[0])]
        self._names: dict[str, list[str]] = {}
        self._checking: str | None = None  # the nick a !private waits on
        self._check_found = False
        self._held: deque[str] = deque()
        self._quit_sent = False
        self._out: list[bytes] = []
        self._screen: list[str] = []
        self._handlers: dict[str, Callable[[Message], None]] = {
            "PING": self._on_ping,
            "PONG": self._on_pong,
            "ERROR": self._on_error,
            "CAP": self._on_cap,
            "PRIVMSG": self._on_message,
            "NOTICE": self._on_message,
            "JOIN": self._on_join,
            "PART": self._on_part,
            "KICK": self._on_kick,
            "QUIT": self._on_quit,
            "NICK": self._on_nick,
            "TOPIC": self._on_topic,
            "INVITE": self._on_invite,
            "MODE": self._on_mode,
            "FAIL": self._on_standard_reply,
            "WARN": self._on_standard_reply,
            "NOTE": self._on_standard_reply,
            "BATCH": self._on_batch,
            "AUTHENTICATE": self._on_authenticate,
            "REGISTER": self._on_register,
            rpl.RPL_LOGGEDIN: self._on_logged_in,
            rpl.RPL_SASLSUCCESS: self._on_sasl_end,
            rpl.ERR_SASLFAIL: self._on_sasl_end,
            rpl.ERR_SASLTOOLONG: self._on_sasl_end,
            rpl.ERR_SASLABORTED: self._on_sasl_end,
        }
        self._commands: dict[Verb, Callable[[str], None]] = {
            Verb.HELP: self._cmd_help,
            Verb.TIME: self._cmd_time,
            Verb.WHO: self._cmd_who,
            Verb.MSG: self._cmd_msg,
            Verb.QUERY: self._cmd_query,
            Verb.PRIVATE: self._cmd_private,
            Verb.ME: self._cmd_me,
            Verb.NICK: self._cmd_nick,
            Verb.JOIN: self._cmd_join,
            Verb.PART: self._cmd_part,
            Verb.QUIT: self._quit,
            Verb.REGISTER: self._cmd_register,
            Verb.IDENTIFY: self._cmd_identify,
        }

    # -- what the I/O layer reads --------------------------------------------

    @property
    def phase(self) -> Phase:
        """Where the session stands."""
        return self._phase

    @property
    def target(self) -> str | None:
        """Where plain text goes: the private partner, else the current channel.

        In a full-screen client: the window the last line was typed in, if
        that is a channel we are in or a nick (none for the status window).
        """
        window = self._window
        if window is not UNSET and (window is None or self._left_channel(window)):
            return None
        return self.query or self.room

    @property
    def lag_probe_pending(self) -> bool:
        """True while a :meth:`probe_lag` PING waits for its PONG."""
        return self._lag_sent is not None

    @property
    def talking(self) -> bool:
        """True until the user's input ends or the session does."""
        return self._phase in _TALKING

    @property
    def accepting_input(self) -> bool:
        """True when the next user line may be read (see the module notes)."""
        return self._phase in _TALKING and (self._awaiting_nick or not self._held)

    @property
    def checking_nick(self) -> str | None:
        """The nick a ``!private`` is waiting to find on the server, if any."""
        return self._checking

    # -- events ---------------------------------------------------------------

    def start(self) -> Effects:
        """Open the session: capability negotiation, then the nickname."""
        self._begin()
        self._send("CAP", "LS", "302")
        nick = self._initial_nick
        if nick is not None and _sendable_word(nick):
            self._register_as(nick)
        else:
            if nick is not None:
                self._show(f"-!- {nick!r} cannot be used as a nickname", error=True)
            self._ask_for_nick()
        return self._done()

    def user_line(self, line: str, *, window: str | _Unset | None = UNSET) -> Effects:
        """A line the user typed (without its line ending).

        ``window`` is where a full-screen client's user typed it: a channel or
        a nick, which becomes the target of plain text, or ``None`` for the
        status window, where plain text goes nowhere. The line client leaves
        it out (:data:`UNSET`): plain text goes to the current target.
        """
        self._begin()
        line = line.rstrip("\r\n").translate(_UNSENDABLE)
        parsed = parse_input(line)
        if window is not UNSET:
            self._look_at(window)
        if self._phase not in _TALKING:
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
        if self._phase in _TALKING or self._phase is Phase.DRAINING:
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
        handler = self._handlers.get(message.command)
        if handler is not None:
            handler(message)
        elif message.command.isdigit():
            self._on_numeric(message)
        else:
            logger.debug("ignored %s from the server", message.command)
        return self._done()

    # -- effects ----------------------------------------------------------------

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

    # -- registration -------------------------------------------------------------

    def _ask_for_nick(self) -> None:
        self._awaiting_nick = True
        self._show("-!- choose a nickname:")

    def _take_nick(self, line: str) -> None:
        nick = line.strip()
        if not _sendable_word(nick):
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

    def _on_cap(self, message: Message) -> None:
        subcommand = message.param(1).upper()
        if subcommand == "LS" and not self._cap_ended:
            more = len(message.params) > 3 and message.params[2] == "*"
            offered = _last(message).split() if len(message.params) > 2 else []
            self._offered_caps.update(cap.partition("=")[0] for cap in offered)
            for cap in offered:
                if cap.startswith("sasl="):
                    self._sasl_offer = cap.partition("=")[2]
            if not more:
                wanted_caps = self._wanted_caps | ({"sasl"} if self._login else set())
                wanted = sorted(wanted_caps & self._offered_caps)
                if wanted:
                    self._send("CAP", "REQ", " ".join(wanted))
                else:
                    self._end_caps()
        elif subcommand == "ACK":
            for cap in message.param(2).split():
                if cap.startswith("-"):
                    self.caps.discard(cap[1:])
                else:
                    self.caps.add(cap)
            if not self._start_sasl():
                self._end_caps()
        elif subcommand == "NAK":
            self._end_caps()
        elif subcommand == "DEL":
            self.caps.difference_update(message.param(2).split())

    # -- SASL (``--account``) ------------------------------------------------------

    def _start_sasl(self) -> bool:
        """Ask for a SASL mechanism if we have an account to log in to; False if not."""
        if self._login is None or self._sasl is not None or self._cap_ended:
            return False
        if "sasl" not in self.caps:
            self._show("-!- the server offers no SASL: not logged in", error=True)
            return False
        self._sasl = SaslClient(self._login, secure=self._secure, offered=self._sasl_offer)
        if self._sasl.mechanism is None:
            self._show(f"-!- not logged in: {self._sasl.refusal}", error=True)
            return False
        self._send("AUTHENTICATE", self._sasl.mechanism)
        return True

    def _on_authenticate(self, message: Message) -> None:
        if self._sasl is None:
            return
        answer = self._sasl.respond(message.param(0))
        for chunk in answer if answer is not None else ["*"]:
            self._send("AUTHENTICATE", chunk)

    def _on_logged_in(self, message: Message) -> None:
        self.account = message.param(2) or None
        self._show(f"-!- logged in as {self.account}")
        if self.account is not None:
            self._emit(LoggedIn(sanitize(self.account)))

    def _on_sasl_end(self, message: Message) -> None:
        if message.command != rpl.RPL_SASLSUCCESS:
            self._show(f"-!- login failed: {_last(message)}", error=True)
        self._end_caps()

    def _on_register(self, message: Message) -> None:
        self._show(f"-!- {message.param(0).lower()}: {message.param(1)}: {_last(message)}")

    def _cmd_register(self, args: str) -> None:
        words = args.split()
        if not 1 <= len(words) <= 2:
            self._show("-!- usage: /register PASSWORD [EMAIL]", error=True)
            return
        email = words[1] if len(words) == 2 else "*"
        self._send("REGISTER", "*", email, words[0])

    def _cmd_identify(self, args: str) -> None:
        words = args.split()
        if not 1 <= len(words) <= 2:
            self._show("-!- usage: /identify [ACCOUNT] PASSWORD", error=True)
            return
        self._send("PRIVMSG", "NickServ", "IDENTIFY " + " ".join(words))

    def _end_caps(self) -> None:
        if not self._cap_ended:
            self._cap_ended = True
            self._send("CAP", "END")

    def _on_welcome(self, message: Message) -> None:
        self._phase = Phase.CHATTING
        self._awaiting_nick = False
        self.welcomed = True
        self.nick = message.param(0, self.nick)
        self._emit(Registered(sanitize(self.nick), sanitize(message.source or "")))
        self._show(f"-!- {_last(message)}", server=True)
        first = self._autojoin and self._send("JOIN", self._autojoin)
        for channel in self._also_join:
            self._send("JOIN", channel)
        if first:
            return  # the held lines wait for the first JOIN's answer
        self._autojoin = None
        self._release_held()

    def _on_nick_error(self, message: Message) -> None:
        self._show(f"-!- {describe_error(message)}", error=True)
        if self._phase is not Phase.REGISTERING:
            return
        taken = message.command in {rpl.ERR_NICKNAMEINUSE, "436", "437"}
        if self._nick_fallback and taken and self._fallbacks < _MAX_NICK_FALLBACKS:
            self._fallbacks += 1
            self._show(f"-!- trying {self.nick}_")
            self._register_as(self.nick + "_")
        else:
            self._ask_for_nick()

    # -- what the user typed --------------------------------------------------------

    @property
    def _must_hold(self) -> bool:
        return self._phase is Phase.REGISTERING or bool(self._autojoin) or bool(self._checking)

    def _release_held(self, *, refuse_text_for: str | None = None) -> None:
        """Act on held lines now that the client can, in the order typed.

        ``refuse_text_for`` names a nick that a failed ``!private`` was for:
        text typed while that check ran was meant for that nick alone, so it
        is not sent at all (commands still run).
        """
        while self._held and not self._must_hold and self._phase is Phase.CHATTING:
            line = self._held.popleft()
            if refuse_text_for and isinstance(parse_input(line), Text) and line.strip():
                self._show(f"-!- not sent, {refuse_text_for} is not here: {line}")
            else:
                self._handle_input(line)

    def _handle_input(self, line: str) -> None:
        if not line.strip():
            return
        match parse_input(line):
            case Text(text):
                self._say(text)
            case UnknownCommand(word):
                self._show(f"-!- unknown command {word}; type /help for the list", error=True)
            case Command(verb, args):
                self._commands[verb](args)

    def _say(self, text: str) -> None:
        target = self.target
        if isinstance(self._window, str) and self._left_channel(self._window):
            self._show(f"-!- you are not in {self._window}: /join {self._window}", error=True)
        elif target is None:
            self._show(
                "-!- you are not in a channel: /join #channel, or /msg NICK TEXT", error=True
            )
        else:
            self._privmsg(target, text)

    def _privmsg(self, target: str, text: str, *, action: bool = False) -> None:
        """Send ``text`` to ``target``, in as many messages as the line limit needs."""
        overhead = f":{self.nick}!~{self.nick}@ PRIVMSG {target} :\r\n"
        budget = MAX_BODY_BYTES - len(overhead.encode()) - _HOST_RESERVE
        if action:
            budget -= len("\x01ACTION \x01")
        for piece in split_utf8(text, max(budget, _MIN_TEXT_BYTES)):
            payload = f"\x01ACTION {piece}\x01" if action else piece
            if not self._send("PRIVMSG", target, payload):
                return
            if "echo-message" not in self.caps:  # else the server's echo shows it
                self._show_message(self.nick, target, piece, action=action)

    def _cmd_help(self, _args: str) -> None:
        self._show("-!- commands:")
        for line in help_lines():
            self._show(f"-!-   {line}")

    def _cmd_time(self, _args: str) -> None:
        self._send("TIME")

    def _cmd_who(self, args: str) -> None:
        channel = args.split()[0] if args else self._viewed_channel()
        if channel is None:
            self._show("-!- you are not in a channel: /join #channel first")
        else:
            self._send("NAMES", channel)

    def _cmd_msg(self, args: str) -> None:
        nick, _, text = args.partition(" ")
        if not nick or not text.strip():
            self._show("-!- usage: /msg NICK TEXT", error=True)
        else:
            self._privmsg(nick, text.lstrip(" "))

    def _cmd_query(self, args: str) -> None:
        if not args:
            self._end_query()
        elif not self._refuse_private_target(nick := args.split()[0]):
            self._start_query(nick)

    def _cmd_private(self, args: str) -> None:
        if not args:
            self._show("-!- usage: !private NICK", error=True)
            return
        nick = args.split()[0]
        if self._refuse_private_target(nick) or not self._send("WHOIS", nick):
            return
        self._checking, self._check_found = nick, False
        self._show(f"-!- looking for {nick} on the server...")

    def _cmd_me(self, args: str) -> None:
        target = self.target
        if not args:
            self._show("-!- usage: /me TEXT", error=True)
        elif target is None:
            self._show("-!- you are not in a channel: /join #channel first", error=True)
        else:
            self._privmsg(target, args, action=True)

    def _cmd_nick(self, args: str) -> None:
        if not args:
            self._show("-!- usage: /nick NEW", error=True)
        else:
            self._send("NICK", args.split()[0])

    def _cmd_join(self, args: str) -> None:
        if not args:
            self._show("-!- usage: /join #CHANNEL", error=True)
            return
        self._send("JOIN", _as_channel(args.split()[0]))

    def _cmd_part(self, args: str) -> None:
        channel, _, reason = args.partition(" ")
        channel = channel or self._viewed_channel() or ""
        if not channel:
            self._show("-!- you are not in a channel", error=True)
        elif reason.strip():
            self._send("PART", channel, reason.strip())
        else:
            self._send("PART", channel)

    def _quit(self, reason: str) -> None:
        if self._send("QUIT", reason or DEFAULT_QUIT_REASON):
            self._quit_sent = True
            self._phase = Phase.QUITTING

    # -- windows (a full-screen client) ------------------------------------------------

    def _look_at(self, window: str | None) -> None:
        """The user typed in ``window``: plain text and ``/part``, ``/who`` go there."""
        self._window = window
        if window is None or self._phase not in _TALKING or self._awaiting_nick:
            return
        if not is_channel(window):
            self.query = window
        elif joined := self.channels.get(casefold(window)):
            self.room, self.query = joined, None

    def _left_channel(self, window: str) -> bool:
        """True for a channel window whose channel we are not in."""
        return is_channel(window) and casefold(window) not in self.channels

    def _viewed_channel(self) -> str | None:
        """The channel that ``/part`` and ``/who`` mean when given none."""
        window = self._window
        if window is UNSET:
            return self.room
        return window if window is not None and is_channel(window) else None

    # -- private talk -----------------------------------------------------------------

    def _refuse_private_target(self, nick: str) -> bool:
        """Show why ``nick`` cannot be a private partner; False when it can."""
        if is_channel(nick):
            self._show(f"-!- {nick} is a channel: use /join {nick}")
        elif self._is_me(nick):
            self._show("-!- that is you: pick someone else to talk to privately", error=True)
        else:
            return False
        return True

    def _start_query(self, nick: str) -> None:
        self.query = nick
        self._emit(QueryStarted(sanitize(nick)))
        back = f"/query alone returns to {self.room}" if self.room else "/query alone ends it"
        self._show(f"-!- talking privately with {nick}; {back}")

    def _end_query(self) -> None:
        if self.query is None:
            self._show("-!- you are not talking privately with anyone", error=True)
            return
        partner, self.query = self.query, None
        self._emit(
            QueryEnded(sanitize(partner), None if self.room is None else sanitize(self.room))
        )
        where = f"back in {self.room}" if self.room else "you are not in a channel"
        self._show(f"-!- private talk with {partner} ended; {where}")

    def _finish_check(self, *, found: bool) -> None:
        nick, self._checking = self._checking or "", None
        if found:
            self._start_query(nick)
            self._release_held()
        else:
            where = f"still talking in {self.room}" if self.room else "private mode not started"
            self._show(f"-!- {nick} is not on the server; {where}", error=True)
            self._release_held(refuse_text_for=nick)

    def _on_check_reply(self, message: Message) -> bool:
        """Take a reply about the nick a ``!private`` checks; True if it was one."""
        checking = self._checking
        if checking is None or not _same_name(message.param(1), checking):
            return False
        if message.command == rpl.RPL_WHOISUSER:
            self._check_found = True
        elif message.command == rpl.ERR_NOSUCHNICK:
            self._show(f"-!- {describe_error(message)}", error=True)
            self._finish_check(found=False)
        elif message.command == rpl.RPL_ENDOFWHOIS:
            self._finish_check(found=self._check_found)
        return True  # the other WHOIS lines are not for show

    # -- what the server said -------------------------------------------------------------

    def _is_me(self, nick: str) -> bool:
        return _same_name(nick, self.nick)

    def _on_ping(self, message: Message) -> None:
        self._send("PONG", *message.params)

    def _on_pong(self, message: Message) -> None:
        if self._phase is Phase.DRAINING and message.params[-1:] == (DRAIN_TOKEN,):
            self._quit("")
        elif message.params[-1:] == (LAG_TOKEN,) and self._lag_sent is not None:
            self._emit(LagMeasured(max(0.0, self._monotonic() - self._lag_sent)))
            self._lag_sent = None

    def _on_error(self, message: Message) -> None:
        self._close(message.param(0, "the server closed the connection"))

    def _close(self, reason: str) -> None:
        if self._phase is Phase.CLOSED:
            return
        self._phase = Phase.CLOSED
        self.exit_code = 0 if self._quit_sent else 1
        self._show(f"-!- disconnected: {reason}", info=False)
        self._emit(ConnectionLost(sanitize(reason), self._time))

    def _on_standard_reply(self, message: Message) -> None:
        kind = {"FAIL": "error", "WARN": "warning", "NOTE": "note"}[message.command]
        self._show(f"-!- {kind} ({message.param(0)}): {_last(message)}", error=kind == "error")

    def _on_batch(self, message: Message) -> None:
        """``BATCH +ref type [params]`` opens a batch, ``BATCH -ref`` closes it.

        Only ``chathistory`` batches matter: what they hold is replayed history.
        """
        reference = message.param(0)
        if reference.startswith("+") and len(self._batches) < _MAX_BATCHES:
            window = None
            if message.param(1) == "chathistory" and message.param(2):
                window = sanitize(message.param(2))
                self._emit(HistoryStarted(window, self._time))
            self._batches[reference[1:]] = window
        elif reference.startswith("-"):
            window = self._batches.pop(reference[1:], None)
            if window is not None:
                self._emit(HistoryEnded(window, self._time))

    def _on_message(self, message: Message) -> None:
        sender = _nick_of(message.source)
        target, text = message.param(0), message.param(1)
        if message.command == "NOTICE":
            if "!" not in (message.source or "") or not sender:
                channel = is_channel(target)
                self._show(f"-!- {text}", window=target if channel else None, server=not channel)
                return
            if is_channel(target):
                self._show(f"-!- notice from {sender} to {target}: {text}", info=False)
            else:
                self._show(f"-!- notice from {sender}: {text}", info=False)
            self._emit_chat(sender, target, text, notice=True)
            return
        if text.startswith("\x01"):
            verb, _, body = text.strip("\x01").partition(" ")
            if verb.upper() != "ACTION":
                self._show(f"-!- {sender} sent a CTCP {verb} request (not answered)")
                return
            self._show_message(sender, target, body, action=True)
        else:
            self._show_message(sender, target, text)

    def _show_message(self, sender: str, target: str, text: str, *, action: bool = False) -> None:
        self._emit_chat(sender, target, text, action=action)
        if not is_channel(target):
            action_text = f"* {sender} {text}" if action else text
            if self._is_me(sender):
                self._show(f"-> *{target}* {action_text}", info=False)
            else:
                self._show(f"*{sender}* {action_text}", info=False)
            return
        elsewhere = "" if self.room and _same_name(target, self.room) else f"{target} "
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

    def _on_join(self, message: Message) -> None:
        nick, channel = _nick_of(message.source), message.param(0)
        if not self._is_me(nick):
            self._emit(MemberJoined(sanitize(channel), sanitize(nick)))
            self._show(f"-!- {nick} has joined {channel}", window=channel)
            return
        self.channels[casefold(channel)] = channel
        self.room = channel
        self._emit(Joined(sanitize(channel)))
        still = ""
        if self.query and self._window is UNSET:
            still = f"; private talk with {self.query} goes on (/query to stop)"
        self._show(f"-!- you have joined {channel}{still}", window=channel)
        if self._autojoin and _same_name(self._autojoin, channel):
            self._autojoin = None
            self._release_held()

    def _left(self, channel: str) -> None:
        """We are no longer on ``channel``: pick another current channel."""
        self.channels.pop(casefold(channel), None)
        if self.room and _same_name(self.room, channel):
            self.room = next(iter(self.channels.values()), None)
            if self.room:
                self._show(f"-!- now talking in {self.room}")

    def _on_part(self, message: Message) -> None:
        nick, channel = _nick_of(message.source), message.param(0)
        reason = f" ({message.param(1)})" if message.param(1) else ""
        if self._is_me(nick):
            self._show(f"-!- you have left {channel}{reason}", window=channel)
            self._emit(Left(sanitize(channel), sanitize(message.param(1))))
            self._left(channel)
        else:
            self._show(f"-!- {nick} has left {channel}{reason}", info=False)
            self._emit(
                MemberLeft(
                    sanitize(channel), sanitize(nick), sanitize(message.param(1)), self._time
                )
            )

    def _on_kick(self, message: Message) -> None:
        by, channel, victim = _nick_of(message.source), message.param(0), message.param(1)
        reason = f" ({message.param(2)})" if message.param(2) else ""
        if self._is_me(victim):
            self._show(f"-!- you were kicked from {channel} by {by}{reason}", window=channel)
            self._emit(Left(sanitize(channel), sanitize(message.param(2))))
            self._left(channel)
        else:
            self._show(f"-!- {victim} was kicked from {channel} by {by}{reason}", info=False)
            self._emit(
                MemberLeft(
                    sanitize(channel),
                    sanitize(victim),
                    sanitize(message.param(2)),
                    self._time,
                    kicked_by=sanitize(by),
                )
            )

    def _on_quit(self, message: Message) -> None:
        nick = _nick_of(message.source)
        reason = f" ({message.param(0)})" if message.param(0) else ""
        self._show(f"-!- {nick} has quit{reason}", info=False)
        self._emit(MemberQuit(sanitize(nick), sanitize(message.param(0)), self._time))
        if self.query and _same_name(self.query, nick):
            self._show(
                f"-!- {nick} is gone: private messages to {nick} will not arrive", window=nick
            )

    def _on_nick(self, message: Message) -> None:
        old, new = _nick_of(message.source), message.param(0)
        own = self._is_me(old)
        self._emit(NickChanged(sanitize(old), sanitize(new), self._time, own=own))
        if own:
            self.nick = new
            self._show(f"-!- you are now known as {new}", info=False)
            return
        self._show(f"-!- {old} is now known as {new}", info=False)
        if self.query and _same_name(self.query, old):
            self.query = new
        if isinstance(self._window, str) and _same_name(self._window, old):
            self._window = new

    def _on_topic(self, message: Message) -> None:
        nick, channel, topic = _nick_of(message.source), message.param(0), message.param(1)
        self._emit(Topic(sanitize(channel), sanitize(topic)))
        self._show(f"-!- {nick} changed the topic of {channel} to: {topic}", window=channel)

    def _on_invite(self, message: Message) -> None:
        self._show(f"-!- {_nick_of(message.source)} invites you to {message.param(1)}")

    def _on_mode(self, message: Message) -> None:
        target, changes = message.param(0), " ".join(message.params[1:])
        if is_channel(target):
            self._emit(MemberModes(sanitize(target), message.param(1), message.params[2:]))
        window = target if is_channel(target) else None
        self._show(f"-!- mode {target} {changes} by {_nick_of(message.source)}", window=window)

    def _on_numeric(self, message: Message) -> None:
        code = message.command
        if self._on_check_reply(message):
            return
        if code == rpl.RPL_WELCOME:
            self._on_welcome(message)
        elif code in _NICK_ERRORS:
            self._on_nick_error(message)
        elif code == rpl.RPL_NAMREPLY:
            channel = message.params[-2] if len(message.params) > 2 else ""  # "=" before it
            self._names.setdefault(casefold(channel), []).extend(_last(message).split())
        elif code == rpl.RPL_ENDOFNAMES:
            channel = message.param(1)
            names = self._names.pop(casefold(channel), [])
            self._emit(Members(sanitize(channel), tuple(sanitize(name) for name in names)))
            self._show(f"-!- here in {channel} ({len(names)}): {' '.join(names)}", window=channel)
        elif code == rpl.RPL_TIME:
            self._show(f"-!- time on {message.param(1)}: {_last(message)}")
        elif code == rpl.RPL_TOPIC:
            channel = message.param(1)
            self._emit(Topic(sanitize(channel), sanitize(_last(message))))
            self._show(f"-!- topic of {channel}: {_last(message)}", window=channel)
        elif is_error(message):
            self._on_error_numeric(message)
        elif code not in _QUIET_NUMERICS and len(message.params) > 1:
            self._show("-!- " + " ".join(message.params[1:]), server=True)  # after our own nick

    def _on_error_numeric(self, message: Message) -> None:
        self._show(f"-!- {describe_error(message)}", error=True)
        subject = message.param(1)
        if self.query and message.command == rpl.ERR_NOSUCHNICK and _same_name(subject, self.query):
            where = self.room or "no channel"
            self._show(f"-!- {self.query} has left the server; /query alone returns to {where}")
        no_whois = message.command == rpl.ERR_UNKNOWNCOMMAND and subject.upper() == "WHOIS"
        if no_whois and self._checking:
            self._finish_check(found=False)  # no way to check: stay safe
        if self._autojoin and _same_name(subject, self._autojoin):
            self._autojoin = None  # the first JOIN failed: stop holding input for it
            self._release_held()

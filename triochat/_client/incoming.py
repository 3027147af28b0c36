"""What the server said: each command and numeric, turned into lines to show and events.

Every shown line carries a ``[HH:MM]`` stamp and goes through
:func:`~.text.sanitize`, so no control character that someone else sent can
reach the terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .._irc import numerics as rpl
from .._irc.names import casefold, is_channel
from .events import (
    HistoryEnded,
    HistoryStarted,
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
    Registered,
    Topic,
)
from .replies import describe_error, is_error
from .text import sanitize

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._irc.wire import Message


from .base import (
    DRAIN_TOKEN,
    LAG_TOKEN,
    MAX_BATCHES,
    MAX_NICK_FALLBACKS,
    NICK_ERRORS,
    QUIET_NUMERICS,
    UNSET,
    Phase,
    last_param,
    nick_of,
    same_name,
)
from .sasl import SaslClient
from .typed import TypedInput


class Incoming(TypedInput):
    """Acting on what the server said."""

    def _on_cap(self, message: Message) -> None:
        subcommand = message.param(1).upper()
        if subcommand == "LS" and not self._cap_ended:
            more = len(message.params) > 3 and message.params[2] == "*"
            offered = last_param(message).split() if len(message.params) > 2 else []
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
            self._show(f"-!- login failed: {last_param(message)}", error=True)
        self._end_caps()

    def _on_register(self, message: Message) -> None:
        self._show(f"-!- {message.param(0).lower()}: {message.param(1)}: {last_param(message)}")

    def _on_welcome(self, message: Message) -> None:
        self._phase = Phase.CHATTING
        self._awaiting_nick = False
        self.welcomed = True
        self.nick = message.param(0, self.nick)
        self._emit(Registered(sanitize(self.nick), sanitize(message.source or "")))
        self._show(f"-!- {last_param(message)}", server=True)
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
        if self._nick_fallback and taken and self._fallbacks < MAX_NICK_FALLBACKS:
            self._fallbacks += 1
            self._show(f"-!- trying {self.nick}_")
            self._register_as(self.nick + "_")
        else:
            self._ask_for_nick()

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

    def _on_standard_reply(self, message: Message) -> None:
        kind = {"FAIL": "error", "WARN": "warning", "NOTE": "note"}[message.command]
        self._show(f"-!- {kind} ({message.param(0)}): {last_param(message)}", error=kind == "error")

    def _on_batch(self, message: Message) -> None:
        """``BATCH +ref type [params]`` opens a batch, ``BATCH -ref`` closes it.

        Only ``chathistory`` batches matter: what they hold is replayed history.
        """
        reference = message.param(0)
        if reference.startswith("+") and len(self._batches) < MAX_BATCHES:
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
        sender = nick_of(message.source)
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

    def _on_join(self, message: Message) -> None:
        nick, channel = nick_of(message.source), message.param(0)
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
        if self._autojoin and same_name(self._autojoin, channel):
            self._autojoin = None
            self._release_held()

    def _left(self, channel: str) -> None:
        """We are no longer on ``channel``: pick another current channel."""
        self.channels.pop(casefold(channel), None)
        if self.room and same_name(self.room, channel):
            self.room = next(iter(self.channels.values()), None)
            if self.room:
                self._show(f"-!- now talking in {self.room}")

    def _on_part(self, message: Message) -> None:
        nick, channel = nick_of(message.source), message.param(0)
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
        by, channel, victim = nick_of(message.source), message.param(0), message.param(1)
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
        nick = nick_of(message.source)
        reason = f" ({message.param(0)})" if message.param(0) else ""
        self._show(f"-!- {nick} has quit{reason}", info=False)
        self._emit(MemberQuit(sanitize(nick), sanitize(message.param(0)), self._time))
        if self.query and same_name(self.query, nick):
            self._show(
                f"-!- {nick} is gone: private messages to {nick} will not arrive", window=nick
            )

    def _on_nick(self, message: Message) -> None:
        old, new = nick_of(message.source), message.param(0)
        own = self._is_me(old)
        self._emit(NickChanged(sanitize(old), sanitize(new), self._time, own=own))
        if own:
            self.nick = new
            self._show(f"-!- you are now known as {new}", info=False)
            return
        self._show(f"-!- {old} is now known as {new}", info=False)
        if self.query and same_name(self.query, old):
            self.query = new
        if isinstance(self._window, str) and same_name(self._window, old):
            self._window = new

    def _on_topic(self, message: Message) -> None:
        nick, channel, topic = nick_of(message.source), message.param(0), message.param(1)
        self._emit(Topic(sanitize(channel), sanitize(topic)))
        self._show(f"-!- {nick} changed the topic of {channel} to: {topic}", window=channel)

    def _on_invite(self, message: Message) -> None:
        self._show(f"-!- {nick_of(message.source)} invites you to {message.param(1)}")

    def _on_mode(self, message: Message) -> None:
        target, changes = message.param(0), " ".join(message.params[1:])
        if is_channel(target):
            self._emit(MemberModes(sanitize(target), message.param(1), message.params[2:]))
        window = target if is_channel(target) else None
        self._show(f"-!- mode {target} {changes} by {nick_of(message.source)}", window=window)

    def _on_numeric(self, message: Message) -> None:
        code = message.command
        if self._on_check_reply(message):
            return
        if code == rpl.RPL_WELCOME:
            self._on_welcome(message)
        elif code in NICK_ERRORS:
            self._on_nick_error(message)
        elif code == rpl.RPL_NAMREPLY:
            channel = message.params[-2] if len(message.params) > 2 else ""  # "=" before it
            self._names.setdefault(casefold(channel), []).extend(last_param(message).split())
        elif code == rpl.RPL_ENDOFNAMES:
            channel = message.param(1)
            names = self._names.pop(casefold(channel), [])
            self._emit(Members(sanitize(channel), tuple(sanitize(name) for name in names)))
            self._show(f"-!- here in {channel} ({len(names)}): {' '.join(names)}", window=channel)
        elif code == rpl.RPL_TIME:
            self._show(f"-!- time on {message.param(1)}: {last_param(message)}")
        elif code == rpl.RPL_TOPIC:
            channel = message.param(1)
            self._emit(Topic(sanitize(channel), sanitize(last_param(message))))
            self._show(f"-!- topic of {channel}: {last_param(message)}", window=channel)
        elif is_error(message):
            self._on_error_numeric(message)
        elif code not in QUIET_NUMERICS and len(message.params) > 1:
            self._show("-!- " + " ".join(message.params[1:]), server=True)  # after our own nick

    def _on_error_numeric(self, message: Message) -> None:
        # An error about a channel (404, 474, 482...) goes to that channel's window, if open.
        window = next((param for param in message.params[1:-1] if is_channel(param)), None)
        self._show(f"-!- {describe_error(message)}", error=True, window=window)
        subject = message.param(1)
        if self.query and message.command == rpl.ERR_NOSUCHNICK and same_name(subject, self.query):
            where = self.room or "no channel"
            self._show(f"-!- {self.query} has left the server; /query alone returns to {where}")
        no_whois = message.command == rpl.ERR_UNKNOWNCOMMAND and subject.upper() == "WHOIS"
        if no_whois and self._checking:
            self._finish_check(found=False)  # no way to check: stay safe
        if self._autojoin and same_name(subject, self._autojoin):
            self._autojoin = None  # the first JOIN failed: stop holding input for it
            self._release_held()


#: The handler of each command from the server (numerics go to ``_on_numeric``).
HANDLERS: Final[dict[str, Callable[[Incoming, Message], None]]] = {
    "PING": Incoming._on_ping,
    "PONG": Incoming._on_pong,
    "ERROR": Incoming._on_error,
    "CAP": Incoming._on_cap,
    "PRIVMSG": Incoming._on_message,
    "NOTICE": Incoming._on_message,
    "JOIN": Incoming._on_join,
    "PART": Incoming._on_part,
    "KICK": Incoming._on_kick,
    "QUIT": Incoming._on_quit,
    "NICK": Incoming._on_nick,
    "TOPIC": Incoming._on_topic,
    "INVITE": Incoming._on_invite,
    "MODE": Incoming._on_mode,
    "FAIL": Incoming._on_standard_reply,
    "WARN": Incoming._on_standard_reply,
    "NOTE": Incoming._on_standard_reply,
    "BATCH": Incoming._on_batch,
    "AUTHENTICATE": Incoming._on_authenticate,
    "REGISTER": Incoming._on_register,
    rpl.RPL_LOGGEDIN: Incoming._on_logged_in,
    rpl.RPL_SASLSUCCESS: Incoming._on_sasl_end,
    rpl.ERR_SASLFAIL: Incoming._on_sasl_end,
    rpl.ERR_SASLTOOLONG: Incoming._on_sasl_end,
    rpl.ERR_SASLABORTED: Incoming._on_sasl_end,
}

"""What the user typed: plain text, /commands and !commands, windows and private talk.

A line meant for one person never goes anywhere else: ``!private`` only
switches once the server confirmed the nick (``WHOIS``), and text typed
meanwhile is held (see :mod:`.core`).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Final

from .._irc import numerics as rpl
from .._irc.names import casefold, is_channel
from .._irc.wire import MAX_BODY_BYTES, Message
from .commands import Command, Text, UnknownCommand, Verb, help_lines, parse_input
from .events import (
    QueryEnded,
    QueryStarted,
)
from .moderation import Usage, moderation_line
from .replies import describe_error
from .text import sanitize, split_utf8

if TYPE_CHECKING:
    from collections.abc import Callable


from .base import (
    DEFAULT_QUIT_REASON,
    HOST_RESERVE,
    MIN_TEXT_BYTES,
    TALKING,
    UNSET,
    CoreState,
    Phase,
    as_channel,
    same_name,
)


class TypedInput(CoreState):
    """Acting on what the user typed."""

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
                _COMMANDS[verb](self, args)

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
        budget = MAX_BODY_BYTES - len(overhead.encode()) - HOST_RESERVE
        if action:
            budget -= len("\x01ACTION \x01")
        for piece in split_utf8(text, max(budget, MIN_TEXT_BYTES)):
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
        self._send("JOIN", as_channel(args.split()[0]))

    def _cmd_part(self, args: str) -> None:
        channel, _, reason = args.partition(" ")
        channel = channel or self._viewed_channel() or ""
        if not channel:
            self._show("-!- you are not in a channel", error=True)
        elif reason.strip():
            self._send("PART", channel, reason.strip())
        else:
            self._send("PART", channel)

    def _cmd_moderation(self, args: str, *, verb: Verb) -> None:
        """/ban, /unban, /invite, /kick, /mode, /topic, /oper (see :mod:`.moderation`)."""
        line = moderation_line(verb.value, args, self._viewed_channel())
        if isinstance(line, Usage):
            self._show(f"-!- usage: {line.text}", error=True)
        else:
            self._send(*line)

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

    def _quit(self, reason: str) -> None:
        if self._send("QUIT", reason or DEFAULT_QUIT_REASON):
            self._quit_sent = True
            self._phase = Phase.QUITTING

    def _look_at(self, window: str | None) -> None:
        """The user typed in ``window``: plain text and ``/part``, ``/who`` go there."""
        self._window = window
        if window is None or self._phase not in TALKING or self._awaiting_nick:
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
        if checking is None or not same_name(message.param(1), checking):
            return False
        if message.command == rpl.RPL_WHOISUSER:
            self._check_found = True
        elif message.command == rpl.ERR_NOSUCHNICK:
            self._show(f"-!- {describe_error(message)}", error=True)
            self._finish_check(found=False)
        elif message.command == rpl.RPL_ENDOFWHOIS:
            self._finish_check(found=self._check_found)
        return True  # the other WHOIS lines are not for show


#: The handler of each command, by verb.
_COMMANDS: Final[dict[Verb, Callable[[TypedInput, str], None]]] = {
    Verb.HELP: TypedInput._cmd_help,
    Verb.TIME: TypedInput._cmd_time,
    Verb.WHO: TypedInput._cmd_who,
    Verb.MSG: TypedInput._cmd_msg,
    Verb.QUERY: TypedInput._cmd_query,
    Verb.PRIVATE: TypedInput._cmd_private,
    Verb.ME: TypedInput._cmd_me,
    Verb.NICK: TypedInput._cmd_nick,
    Verb.JOIN: TypedInput._cmd_join,
    Verb.PART: TypedInput._cmd_part,
    Verb.QUIT: TypedInput._quit,
    Verb.REGISTER: TypedInput._cmd_register,
    Verb.IDENTIFY: TypedInput._cmd_identify,
    **{
        verb: partial(TypedInput._cmd_moderation, verb=verb)
        for verb in (
            Verb.TOPIC,
            Verb.MODE,
            Verb.BAN,
            Verb.UNBAN,
            Verb.INVITE,
            Verb.KICK,
            Verb.OPER,
        )
    },
}

"""The chat server's state as pure, synchronous Python: who is here, where, and who hears what.

Nothing here does I/O or imports trio. The server feeds in what happened
(:meth:`ServerState.connect`, :meth:`~ServerState.handle`,
:meth:`~ServerState.disconnect`) and gets back the effects to carry out:
:class:`Send` (one message, serialized once, for a tuple of connections),
:class:`Close` (send ``ERROR`` and hang up), :class:`Record` (save a message
in the chat history) and :class:`Query` (read the history for a
``CHATHISTORY`` request, then hand the rows back with
:meth:`~ServerState.history_answer`). So every rule of the chat room is
testable with plain function calls.

History is private by construction: a channel's history is readable by its
members only, and a private message by the two connections that exchanged it
(there are no accounts, and nicknames are reused, so a nickname alone proves
nothing). The last messages of each channel are kept here, in memory, so that
the replay on JOIN never waits for the database.

Clients are keyed by an opaque :data:`ConnId`, never by nickname, because
nicknames change; nicknames and channel names are indexed under their
casefolded form (see :mod:`._names`).
"""

from __future__ import annotations

import hmac
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, NewType

from .._history.records import (
    MESSAGE_SUBCOMMANDS,
    UNBOUNDED,
    HistoryEntry,
    HistoryQuery,
    iso_time,
    milliseconds,
    new_id_source,
    parse_bound,
    parse_limit,
    private_key,
    recordable,
    stamped_text,
)
from .._irc import numerics as rpl
from .._irc.names import (
    CASEMAPPING,
    CHANNEL_PREFIXES,
    MAX_CHANNEL_LENGTH,
    MAX_NICK_LENGTH,
    casefold,
    is_channel,
    valid_channel,
    valid_nick,
)
from .._irc.wire import (
    MAX_BODY_BYTES,
    InvalidUtf8,
    LineTooLong,
    Message,
    RemoteProtocolError,
    TooManyParams,
)
from .._version import SERVER_VERSION as VERSION
from .help import HELP_INDEX, HELP_TOPICS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from .._config import ServerConfig
    from .model import PeerInfo

__all__ = [
    "SUPPORTED_CAPS",
    "Channel",
    "Client",
    "Close",
    "ConnId",
    "Effect",
    "Query",
    "Record",
    "Send",
    "ServerState",
]

ConnId = NewType("ConnId", int)

SUPPORTED_CAPS: Final = frozenset(
    {
        "away-notify",
        "batch",
        "cap-notify",
        "draft/chathistory",
        "echo-message",
        "message-tags",
        "multi-prefix",
        "server-time",
        "userhost-in-names",
    }
)
USER_MODES: Final = "i"
CHANNEL_MODES: Final = "mnt"  # flags without a parameter
MEMBER_MODES: Final = "ov"  # ordered from the highest rank
MEMBER_PREFIXES: Final = {"o": "@", "v": "+"}
TOPIC_LENGTH: Final = 390
KICK_LENGTH: Final = 390
AWAY_LENGTH: Final = 200
USER_LENGTH: Final = 18
MAX_TARGETS: Final = 4
_REGISTRATION_COMMANDS: Final = frozenset({"CAP", "NICK", "USER", "PASS", "PING", "PONG", "QUIT"})
_USERNAME_CHARS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."
)


@dataclass(frozen=True, slots=True)
class Send:
    """Deliver ``message`` to every connection in ``targets``.

    The fan-out passes on only the tags each recipient negotiated; with
    ``exact_tags`` the state has already chosen them (history for one client,
    where ``batch`` goes with the ``batch`` capability).
    """

    targets: tuple[ConnId, ...]
    message: Message
    exact_tags: bool = False


@dataclass(frozen=True, slots=True)
class Close:
    """Send ``ERROR :reason`` to ``conn`` after what is queued, then hang up."""

    conn: ConnId
    reason: str


@dataclass(frozen=True, slots=True)
class Record:
    """Save ``entry`` in the chat history; the server's writer does it off the hot path."""

    entry: HistoryEntry


@dataclass(frozen=True, slots=True)
class Query:
    """Run ``query`` for ``conn``, then give the rows to :meth:`ServerState.history_answer`."""

    conn: ConnId
    query: HistoryQuery


Effect = Send | Close | Record | Query


@dataclass(slots=True, eq=False)
class Client:
    """One connection, from its first byte until it is gone."""

    conn: ConnId
    host: str
    connected_at: float
    nick: str = "*"
    user: str = ""
    realname: str = ""
    password: str | None = None
    has_nick: bool = False
    registered: bool = False
    negotiating_caps: bool = False
    caps: set[str] = field(default_factory=set)
    channels: dict[str, Channel] = field(default_factory=dict)
    modes: set[str] = field(default_factory=set)
    away: str | None = None
    last_spoke: float = 0.0
    #: ``nick!user@host``, kept current as the nick changes.
    source: str = "*"
    #: Which tags this client receives (read by the fan-out on every delivery).
    wants_time: bool = False
    wants_tags: bool = False
    #: Private history is readable by the session that sent or received it, only.
    session: str = ""
    #: Batches opened so far, for batch references unique on this connection.
    batches: int = 0

    def update_source(self) -> None:
        self.source = f"{self.nick}!{self.user}@{self.host}"


@dataclass(slots=True, eq=False)
class Channel:
    """A channel and its members, each with their status modes (``"o"``, ``"v"``)."""

    name: str
    created: float
    members: dict[ConnId, str] = field(default_factory=dict)
    modes: set[str] = field(default_factory=lambda: {"n", "t"})
    topic: str = ""
    topic_by: str = ""
    topic_at: float = 0.0


def _iso_time(timestamp: float) -> str:
    """The IRCv3 ``server-time`` format: UTC with milliseconds."""
    return iso_time(milliseconds(timestamp))


def _middle(param: str) -> str:
    """``param`` as a middle parameter of a reply: ``*`` when it could not be written.

    Replies often name what the client sent (a nick, a channel, a command); that
    text may be empty, hold a space or start with ``:`` (it came as a trailing
    parameter), and then cannot be a middle parameter on the wire.
    """
    return "*" if not param or " " in param or param.startswith(":") else param


def _truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode(errors="ignore")


class ServerState:
    """Every client and channel of one server, and the rules that change them.

    ``clock`` gives the current time as a UNIX timestamp; tests pass a fake.
    Each public method returns the effects of what it was told, in order.
    """

    def __init__(self, config: ServerConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self.created = clock()
        self.clients: dict[ConnId, Client] = {}
        self.channels: dict[str, Channel] = {}
        self._nicks: dict[str, Client] = {}
        self._effects: list[Effect] = []
        self._run_id, self._new_msgid = new_id_source()
        self._recording = config.history
        self._caps = SUPPORTED_CAPS if config.history else SUPPORTED_CAPS - {"draft/chathistory"}
        #: The last messages of each channel (by key), replayed on JOIN.
        self._recent: dict[str, deque[HistoryEntry]] = {}
        self._replay_count = config.history_replay if config.history else 0
        if config.history_max_per_channel is not None:
            self._replay_count = min(self._replay_count, config.history_max_per_channel)
        self._handlers: dict[str, Callable[[Client, Message], None]] = {
            "AWAY": self._away,
            "CAP": self._cap,
            "HELP": self._help,
            "INFO": self._version,
            "ISON": self._ison,
            "JOIN": self._join,
            "KICK": self._kick,
            "LIST": self._list,
            "LUSERS": self._lusers,
            "MODE": self._mode,
            "MOTD": self._motd,
            "NAMES": self._names,
            "NICK": self._nick,
            "NOTICE": self._message,
            "PART": self._part,
            "PASS": self._pass,
            "PING": self._ping,
            "PONG": self._pong,
            "PRIVMSG": self._message,
            "QUIT": self._quit,
            "TAGMSG": self._message,
            "TIME": self._time,
            "TOPIC": self._topic,
            "USER": self._user,
            "USERHOST": self._userhost,
            "VERSION": self._version,
            "WHO": self._who,
            "WHOIS": self._whois,
            "WHOWAS": self._whowas,
        }
        if config.history:
            self._handlers["CHATHISTORY"] = self._chathistory

    # -- what the server layer tells us -------------------------------------

    def connect(self, conn: ConnId, peer: PeerInfo) -> None:
        """A connection arrived from ``peer.host`` (shown in ``nick!user@host``)."""
        host = peer.host
        if host.startswith(":"):  # an IPv6 address must not look like a trailing parameter
            host = "0" + host
        self.clients[conn] = Client(
            conn, host or "unknown", self._clock(), session=f"{self._run_id}.{conn}"
        )

    def handle(self, conn: ConnId, message: Message) -> list[Effect]:
        """A client sent ``message``."""
        client = self.clients.get(conn)
        if client is None:
            return []
        handler = self._handlers.get(message.command)
        if handler is None:
            if client.registered:
                self._numeric(client, rpl.ERR_UNKNOWNCOMMAND, message.command, "Unknown command")
            else:
                self._numeric(client, rpl.ERR_NOTREGISTERED, "You have not registered")
        elif not client.registered and message.command not in _REGISTRATION_COMMANDS:
            self._numeric(client, rpl.ERR_NOTREGISTERED, "You have not registered")
        else:
            handler(client, message)
        return self._take_effects()

    def reject(self, conn: ConnId, error: RemoteProtocolError) -> list[Effect]:
        """A client sent a line that could not be parsed; tell it why."""
        client = self.clients.get(conn)
        if client is None:
            return []
        if isinstance(error, LineTooLong):
            self._numeric(client, rpl.ERR_INPUTTOOLONG, "Input line was too long")
        elif isinstance(error, InvalidUtf8):
            self._send(
                client,
                Message(
                    "FAIL",
                    (
                        error.command,
                        "INVALID_UTF8",
                        "Message rejected, your IRC software MUST use UTF-8 encoding",
                    ),
                    self.config.server_name,
                ),
            )
        elif isinstance(error, TooManyParams):
            self._numeric(client, rpl.ERR_NEEDMOREPARAMS, error.command, "Too many parameters")
        else:
            self._numeric(client, rpl.ERR_UNKNOWNERROR, error.command, f"Malformed line: {error}")
        return self._take_effects()

    def disconnect(self, conn: ConnId, reason: str) -> list[Effect]:
        """The connection is gone (or being dropped); everyone who shared a channel hears why."""
        client = self.clients.get(conn)
        if client is not None:
            self._forget(client, reason)
        return self._take_effects()

    def preload(self, entries: Iterable[HistoryEntry]) -> None:
        """Fill the replay buffers with channel messages saved before a restart (oldest first)."""
        for entry in entries:
            if entry.readers is None:
                self._remember(entry)

    def history_answer(
        self, conn: ConnId, query: HistoryQuery, entries: list[HistoryEntry]
    ) -> list[Effect]:
        """The rows a :class:`Query` found: show them to the client that asked."""
        client = self.clients.get(conn)
        if client is not None:
            if query.subcommand == "TARGETS":
                self._show_targets(client, entries)
            else:
                self._show_history(client, query.target, entries, replay=False)
        return self._take_effects()

    def history_failed(self, conn: ConnId, query: HistoryQuery) -> list[Effect]:
        """A :class:`Query` could not be answered; tell the client that asked."""
        client = self.clients.get(conn)
        if client is not None:
            self._history_fail(
                client,
                "MESSAGE_ERROR",
                query.subcommand,
                query.target,
                "Messages could not be retrieved",
            )
        return self._take_effects()

    def is_registered(self, conn: ConnId) -> bool:
        """True once ``conn`` has completed registration."""
        client = self.clients.get(conn)
        return client is not None and client.registered

    def _forget(self, client: Client, reason: str) -> None:
        """Remove ``client`` from everything, telling its peers that it quit."""
        del self.clients[client.conn]
        if client.registered:
            quit_message = self._event(client, "QUIT", reason)
            peers = self._peers(client)
            if peers:
                self._effects.append(Send(peers, quit_message))
        for channel in client.channels.values():
            self._remove_member(channel, client)
        if client.has_nick:
            del self._nicks[casefold(client.nick)]

    # -- effects ------------------------------------------------------------

    def _take_effects(self) -> list[Effect]:
        effects, self._effects = self._effects, []
        return effects

    def _send(self, client: Client, message: Message) -> None:
        self._effects.append(Send((client.conn,), message))

    def _numeric(self, client: Client, code: str, *params: str) -> None:
        middle = (client.nick, *params[:-1])
        params = (*map(_middle, middle), *params[-1:])
        self._send(client, Message(code, params, self.config.server_name))

    def _event(self, client: Client, command: str, *params: str) -> Message:
        """A message from ``client`` to others, stamped with the server time."""
        return Message(command, params, client.source, {"time": _iso_time(self._clock())})

    def _to_channel(
        self, channel: Channel, message: Message, *, skip: Client | None = None
    ) -> None:
        if skip is None:
            targets = tuple(channel.members)
        else:
            targets = tuple(conn for conn in channel.members if conn != skip.conn)
        if targets:
            self._effects.append(Send(targets, message))

    def _peers(self, client: Client) -> tuple[ConnId, ...]:
        """Everyone who shares a channel with ``client``, each once, ``client`` excluded."""
        peers: dict[ConnId, None] = {}
        for channel in client.channels.values():
            peers.update(dict.fromkeys(channel.members))
        peers.pop(client.conn, None)
        return tuple(peers)

    # -- registration -------------------------------------------------------

    def _cap(self, client: Client, message: Message) -> None:
        subcommand = message.param(0).upper()
        if not subcommand:
            self._numeric(client, rpl.ERR_NEEDMOREPARAMS, "CAP", "Not enough parameters")
            return
        if subcommand == "LS":
            if not client.registered:
                client.negotiating_caps = True
            caps = " ".join(sorted(self._caps))
            self._cap_reply(client, "LS", caps)
        elif subcommand == "LIST":
            self._cap_reply(client, "LIST", " ".join(sorted(client.caps)))
        elif subcommand == "REQ":
            if not client.registered:
                client.negotiating_caps = True
            requested = message.param(1)
            changes = [(name.startswith("-"), name.lstrip("-")) for name in requested.split()]
            if not changes or any(name not in self._caps for _, name in changes):
                self._cap_reply(client, "NAK", requested)
                return
            for remove, name in changes:
                if remove:
                    client.caps.discard(name)
                else:
                    client.caps.add(name)
            client.wants_time = "server-time" in client.caps
            client.wants_tags = "message-tags" in client.caps
            self._cap_reply(client, "ACK", requested)
        elif subcommand == "END":
            if not client.registered:
                client.negotiating_caps = False
                self._try_register(client)
        else:
            self._numeric(client, rpl.ERR_INVALIDCAPCMD, subcommand, "Invalid CAP command")

    def _cap_reply(self, client: Client, subcommand: str, text: str) -> None:
        self._send(client, Message("CAP", (client.nick, subcommand, text), self.config.server_name))

    def _pass(self, client: Client, message: Message) -> None:
        if client.registered:
            self._numeric(client, rpl.ERR_ALREADYREGISTERED, "You may not reregister")
        elif not message.params:
            self._numeric(client, rpl.ERR_NEEDMOREPARAMS, "PASS", "Not enough parameters")
        else:
            client.password = message.params[0]

    def _user(self, client: Client, message: Message) -> None:
        if client.registered:
            self._numeric(client, rpl.ERR_ALREADYREGISTERED, "You may not reregister")
            return
        if len(message.params) < 4 or not message.params[0]:
            self._numeric(client, rpl.ERR_NEEDMOREPARAMS, "USER", "Not enough parameters")
            return
        # No ident lookup, so the username is marked unverified with "~".
        username = "".join(c for c in message.params[0] if c in _USERNAME_CHARS)
        client.user = "~" + (username or "user")[: USER_LENGTH - 1]
        client.realname = message.params[3]
        self._try_register(client)

    def _nick(self, client: Client, message: Message) -> None:
        nick = message.param(0)
        if not nick:
            self._numeric(client, rpl.ERR_NONICKNAMEGIVEN, "No nickname given")
            return
        if not valid_nick(nick):
            self._numeric(client, rpl.ERR_ERRONEUSNICKNAME, nick, "Erroneous nickname")
            return
        key = casefold(nick)
        holder = self._nicks.get(key)
        if holder is not None and holder is not client:
            self._numeric(client, rpl.ERR_NICKNAMEINUSE, nick, "Nickname is already in use")
            return
        if nick == client.nick:
            return
        if client.has_nick:
            del self._nicks[casefold(client.nick)]
        self._nicks[key] = client
        if not client.registered:
            client.nick, client.has_nick = nick, True
            self._try_register(client)
            return
        change = self._event(client, "NICK", nick)
        client.nick = nick
        client.update_source()
        self._effects.append(Send((client.conn, *self._peers(client)), change))

    def _try_register(self, client: Client) -> None:
        if client.registered or client.negotiating_caps or not client.has_nick or not client.user:
            return
        expected = self.config.password
        if expected is not None and not hmac.compare_digest(
            (client.password or "").encode(), expected.encode()
        ):
            self._numeric(client, rpl.ERR_PASSWDMISMATCH, "Password incorrect")
            self._effects.append(Close(client.conn, "Closing link: bad password"))
            return
        client.registered = True
        client.update_source()
        self._welcome(client)

    def _welcome(self, client: Client) -> None:
        name = self.config.server_name
        created = datetime.fromtimestamp(self.created, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        self._numeric(
            client,
            rpl.RPL_WELCOME,
            f"Welcome to the {self.config.network_name} IRC Network, {client.source}",
        )
        self._numeric(client, rpl.RPL_YOURHOST, f"Your host is {name}, running version {VERSION}")
        self._numeric(client, rpl.RPL_CREATED, f"This server was created {created}")
        self._numeric(client, rpl.RPL_MYINFO, name, VERSION, USER_MODES, "mntov", MEMBER_MODES)
        self._isupport(client)
        self._lusers(client, Message("LUSERS"))
        self._motd(client, Message("MOTD"))

    def _isupport(self, client: Client) -> None:
        tokens = [
            f"AWAYLEN={AWAY_LENGTH}",
            f"CASEMAPPING={CASEMAPPING}",
            f"CHANLIMIT={CHANNEL_PREFIXES}:{self.config.max_channels}",
            f"CHANMODES=,,,{CHANNEL_MODES}",
            f"CHANNELLEN={MAX_CHANNEL_LENGTH}",
            f"CHANTYPES={CHANNEL_PREFIXES}",
            *self._history_tokens(),
            f"KICKLEN={KICK_LENGTH}",
            f"MAXTARGETS={MAX_TARGETS}",
            "MODES=4",
            f"NETWORK={self.config.network_name}",
            f"NICKLEN={MAX_NICK_LENGTH}",
            "PREFIX=(" + MEMBER_MODES + ")" + "".join(MEMBER_PREFIXES[m] for m in MEMBER_MODES),
            f"TARGMAX=PRIVMSG:{MAX_TARGETS},NOTICE:{MAX_TARGETS},TAGMSG:{MAX_TARGETS},JOIN:,PART:",
            f"TOPICLEN={TOPIC_LENGTH}",
            f"USERLEN={USER_LENGTH}",
            "UTF8ONLY",
        ]
        for start in range(0, len(tokens), 12):
            batch = tokens[start : start + 12]
            self._numeric(client, rpl.RPL_ISUPPORT, *batch, "are supported by this server")

    def _history_tokens(self) -> tuple[str, ...]:
        if not self._recording:
            return ()
        return (f"CHATHISTORY={self.config.history_request_limit}", "MSGREFTYPES=timestamp,msgid")

    # -- connection upkeep --------------------------------------------------

    def _ping(self, client: Client, message: Message) -> None:
        if not message.params:
            self._numeric(client, rpl.ERR_NEEDMOREPARAMS, "PING", "Not enough parameters")
            return
        name = self.config.server_name
        self._send(client, Message("PONG", (name, message.params[0]), name))

    def _pong(self, client: Client, message: Message) -> None:
        """Any input proves the client alive; the server layer resets its timer."""

    def _quit(self, client: Client, message: Message) -> None:
        reason = message.param(0)
        self._forget(client, f"Quit: {reason}" if reason else "Quit")
        self._effects.append(Close(client.conn, f"Closing link: {client.host} (Quit)"))

    # -- channels -----------------------------------------------------------

    def _join(self, client: Client, message: Message) -> None:
        if not message.params:
            self._numeric(client, rpl.ERR_NEEDMOREPARAMS, "JOIN", "Not enough parameters")
            return
        if message.params[0] == "0":
            for joined in list(client.channels.values()):
                self._leave_channel(client, joined, "PART", "")
            return
        for name in message.params[0].split(","):
            if not valid_channel(name):
                self._numeric(client, rpl.ERR_BADCHANMASK, name, "Bad Channel Mask")
                continue
            key = casefold(name)
            if key in client.channels:
                continue
            if len(client.channels) >= self.config.max_channels:
                self._numeric(
                    client, rpl.ERR_TOOMANYCHANNELS, name, "You have joined too many channels"
                )
                continue
            channel = self.channels.get(key)
            if channel is None:
                channel = self.channels[key] = Channel(name, self._clock())
                channel.members[client.conn] = "o"
            else:
                channel.members[client.conn] = ""
            client.channels[key] = channel
            self._to_channel(channel, self._event(client, "JOIN", channel.name))
            if client.away is not None:
                self._away_notify(client, (channel,))
            if channel.topic:
                self._topic_reply(client, channel)
            self._names_reply(client, channel)
            self._replay(client, channel)

    def _part(self, client: Client, message: Message) -> None:
        if not message.params:
            self._numeric(client, rpl.ERR_NEEDMOREPARAMS, "PART", "Not enough parameters")
            return
        reason = message.param(1)
        for name in message.params[0].split(","):
            channel = self.channels.get(casefold(name))
            if channel is None:
                self._numeric(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
            elif client.conn not in channel.members:
                self._numeric(client, rpl.ERR_NOTONCHANNEL, name, "You're not on that channel")
            else:
                self._leave_channel(client, channel, "PART", reason)

    def _leave_channel(self, client: Client, channel: Channel, command: str, reason: str) -> None:
        params = (channel.name, reason) if reason else (channel.name,)
        self._to_channel(channel, self._event(client, command, *params))
        del client.channels[casefold(channel.name)]
        self._remove_member(channel, client)

    def _remove_member(self, channel: Channel, client: Client) -> None:
        channel.members.pop(client.conn, None)
        if not channel.members:
            del self.channels[casefold(channel.name)]

    def _kick(self, client: Client, message: Message) -> None:
        if len(message.params) < 2:
            self._numeric(client, rpl.ERR_NEEDMOREPARAMS, "KICK", "Not enough parameters")
            return
        channel = self._operated_channel(client, message.params[0])
        if channel is None:
            return
        reason = _truncate(message.param(2) or client.nick, KICK_LENGTH)
        for index, nick in enumerate(message.params[1].split(",")):
            # A kicker who just kicked itself (or emptied the channel) may kick no more.
            if index and self._operated_channel(client, channel.name) is None:
                return
            target = self._member_named(client, channel, nick)
            if target is None:
                continue
            self._to_channel(
                channel, self._event(client, "KICK", channel.name, target.nick, reason)
            )
            del target.channels[casefold(channel.name)]
            self._remove_member(channel, target)

    def _member_named(self, client: Client, channel: Channel, nick: str) -> Client | None:
        """The member of ``channel`` called ``nick``; otherwise tell ``client`` (441)."""
        target = self._nicks.get(casefold(nick))
        if target is None or target.conn not in channel.members:
            self._numeric(
                client, rpl.ERR_USERNOTINCHANNEL, nick, channel.name, "They aren't on that channel"
            )
            return None
        return target

    def _operated_channel(self, client: Client, name: str) -> Channel | None:
        """The channel ``name`` if ``client`` may operate on it; otherwise say why."""
        channel = self.channels.get(casefold(name))
        if channel is None:
            self._numeric(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
        elif client.conn not in channel.members:
            self._numeric(client, rpl.ERR_NOTONCHANNEL, name, "You're not on that channel")
        elif "o" not in channel.members[client.conn]:
            self._numeric(client, rpl.ERR_CHANOPRIVSNEEDED, name, "You're not channel operator")
        else:
            return channel
        return None

    def _topic(self, client: Client, message: Message) -> None:
        if not message.params:
            self._numeric(client, rpl.ERR_NEEDMOREPARAMS, "TOPIC", "Not enough parameters")
            return
        name = message.params[0]
        if len(message.params) == 1:
            channel = self.channels.get(casefold(name))
            if channel is None:
                self._numeric(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
            else:
                self._topic_reply(client, channel)
            return
        if (channel := self.channels.get(casefold(name))) is not None and "t" not in channel.modes:
            if client.conn not in channel.members:
                self._numeric(client, rpl.ERR_NOTONCHANNEL, name, "You're not on that channel")
                return
        elif (channel := self._operated_channel(client, name)) is None:
            return
        channel.topic = _truncate(message.params[1], TOPIC_LENGTH)
        channel.topic_by, channel.topic_at = client.source, self._clock()
        self._to_channel(channel, self._event(client, "TOPIC", channel.name, channel.topic))

    def _topic_reply(self, client: Client, channel: Channel) -> None:
        if not channel.topic:
            self._numeric(client, rpl.RPL_NOTOPIC, channel.name, "No topic is set")
            return
        self._numeric(client, rpl.RPL_TOPIC, channel.name, channel.topic)
        self._numeric(
            client, rpl.RPL_TOPICWHOTIME, channel.name, channel.topic_by, str(int(channel.topic_at))
        )

    def _member_prefix(self, client: Client, status: str) -> str:
        """``@``/``+`` for a member's status: all of them with multi-prefix, else the highest."""
        prefixes = "".join(MEMBER_PREFIXES[mode] for mode in MEMBER_MODES if mode in status)
        return prefixes if "multi-prefix" in client.caps else prefixes[:1]

    def _names_reply(self, client: Client, channel: Channel) -> None:
        long_names = "userhost-in-names" in client.caps
        entries = []
        for conn, status in channel.members.items():
            member = self.clients[conn]
            entries.append(
                self._member_prefix(client, status) + (member.source if long_names else member.nick)
            )
        head = len(f":{self.config.server_name} 353 {client.nick} = {channel.name} :\r\n".encode())
        line: list[str] = []
        size = head
        for entry in entries:
            if line and size + len(entry.encode()) + 1 > MAX_BODY_BYTES:
                self._numeric(client, rpl.RPL_NAMREPLY, "=", channel.name, " ".join(line))
                line, size = [], head
            line.append(entry)
            size += len(entry.encode()) + 1
        if line:
            self._numeric(client, rpl.RPL_NAMREPLY, "=", channel.name, " ".join(line))
        self._numeric(client, rpl.RPL_ENDOFNAMES, channel.name, "End of /NAMES list")

    def _names(self, client: Client, message: Message) -> None:
        if not message.params:
            for joined in client.channels.values():
                self._names_reply(client, joined)
            if not client.channels:
                self._numeric(client, rpl.RPL_ENDOFNAMES, "*", "End of /NAMES list")
            return
        for name in message.params[0].split(","):
            channel = self.channels.get(casefold(name))
            if channel is None:
                self._numeric(client, rpl.RPL_ENDOFNAMES, name, "End of /NAMES list")
            else:
                self._names_reply(client, channel)

    def _list(self, client: Client, message: Message) -> None:
        if message.params:
            wanted = (self.channels.get(casefold(name)) for name in message.params[0].split(","))
            channels = [channel for channel in wanted if channel is not None]
        else:
            channels = list(self.channels.values())
        self._numeric(client, rpl.RPL_LISTSTART, "Channel", "Users  Name")
        for channel in channels:
            self._numeric(
                client, rpl.RPL_LIST, channel.name, str(len(channel.members)), channel.topic
            )
        self._numeric(client, rpl.RPL_LISTEND, "End of /LIST")

    # -- messages -----------------------------------------------------------

    def _message(self, client: Client, message: Message) -> None:
        command = message.command
        quiet = command == "NOTICE"  # never answer a NOTICE with an error (Modern IRC)
        needs_text = command != "TAGMSG"
        if not message.params or not message.params[0]:
            if not quiet:
                self._numeric(client, rpl.ERR_NORECIPIENT, f"No recipient given ({command})")
            return
        text = message.param(1)
        if needs_text and not text:
            if not quiet:
                self._numeric(client, rpl.ERR_NOTEXTTOSEND, "No text to send")
            return
        targets = message.params[0].split(",")
        if len(targets) > MAX_TARGETS:
            if not quiet:
                self._numeric(client, rpl.ERR_TOOMANYTARGETS, message.params[0], "Too many targets")
            return
        tags = {key: value for key, value in message.tags.items() if key.startswith("+")}
        now = self._clock()
        now_ms = milliseconds(now)
        tags["time"] = iso_time(now_ms)
        client.last_spoke = now
        record = self._recording and needs_text and recordable(text)
        echo = "echo-message" in client.caps
        unique: dict[str, str] = {}  # one delivery per target, compared as names are
        for target in targets:
            unique.setdefault(casefold(target), target)
        for folded, target in unique.items():
            params = (target, text) if needs_text else (target,)
            if is_channel(target):
                channel = self.channels.get(folded)
                if channel is None:
                    if not quiet:
                        self._numeric(client, rpl.ERR_NOSUCHNICK, target, "No such nick/channel")
                    continue
                if not self._may_speak(client, channel):
                    if not quiet:
                        self._numeric(
                            client, rpl.ERR_CANNOTSENDTOCHAN, channel.name, "Cannot send to channel"
                        )
                    continue
                params = (channel.name, *params[1:])
                # The echo goes to the sender even when it is not a member (-n).
                recipients: Iterable[ConnId] = (
                    *(conn for conn in channel.members if conn != client.conn),
                    *((client.conn,) if echo else ()),
                )
                key, readers = folded, None
            else:
                peer = self._nicks.get(folded)
                if peer is None or not peer.registered:
                    if not quiet:
                        self._numeric(client, rpl.ERR_NOSUCHNICK, target, "No such nick/channel")
                    continue
                params = (peer.nick, *params[1:])
                if peer.away is not None and command == "PRIVMSG":
                    self._numeric(client, rpl.RPL_AWAY, peer.nick, peer.away)
                recipients = (
                    (peer.conn, client.conn) if echo and peer is not client else (peer.conn,)
                )
                key = private_key(client.nick, peer.nick)
                readers = (client.session, peer.session)
            if command == "TAGMSG":
                recipients = (conn for conn in recipients if self.clients[conn].wants_tags)
            msgid = self._new_msgid() if record else None
            conns = tuple(recipients)
            if conns:
                sent_tags = tags if msgid is None else {**tags, "msgid": msgid}
                self._effects.append(
                    Send(conns, Message(command, params, client.source, sent_tags))
                )
            if msgid is not None:
                entry = HistoryEntry(
                    now_ms, msgid, key, params[0], client.source, command, text, readers
                )
                self._record(entry)

    def _may_speak(self, client: Client, channel: Channel) -> bool:
        status = channel.members.get(client.conn)
        if status is None:
            return "n" not in channel.modes and "m" not in channel.modes
        return "m" not in channel.modes or bool(status)

    # -- history ------------------------------------------------------------

    def _record(self, entry: HistoryEntry) -> None:
        self._effects.append(Record(entry))
        if entry.readers is None:
            self._remember(entry)

    def _remember(self, entry: HistoryEntry) -> None:
        """Keep a channel message for the replay on JOIN (the last few only)."""
        if not self._replay_count:
            return
        recent = self._recent.get(entry.key)
        if recent is None:
            recent = self._recent[entry.key] = deque(maxlen=self._replay_count)
        recent.append(entry)

    def _replay(self, client: Client, channel: Channel) -> None:
        """Show a newcomer what was said last, from memory, marked as history.

        A client that negotiated ``draft/chathistory`` asks for history itself
        (``CHATHISTORY LATEST``), so it gets no replay: that would show it twice.
        """
        recent = self._recent.get(casefold(channel.name))
        if not recent or "draft/chathistory" in client.caps:
            return
        entries = list(recent)
        max_age = self.config.history_max_age
        if max_age is not None:
            oldest = milliseconds(self._clock() - max_age)
            entries = [entry for entry in entries if entry.time_ms >= oldest]
        if entries:
            self._show_history(client, channel.name, entries, replay=True)

    def _show_history(
        self, client: Client, target: str, entries: list[HistoryEntry], *, replay: bool
    ) -> None:
        """Send ``entries`` so that they read as history, never as live chat.

        With ``batch`` and ``server-time``: a ``chathistory`` batch, each line
        with its original time. Otherwise server notices around lines whose
        text starts with their time, as ZNC plays back its buffer.
        """
        if client.wants_time and "batch" in client.caps:
            batch = self._open_batch(client, "chathistory", target)
            for entry in entries:
                self._send_exact(client, self._replayed(client, entry, entry.text, batch))
            self._close_batch(client, batch)
            return
        notice_target = target if is_channel(target) else client.nick
        count = len(entries)
        if not count:
            self._server_notice(client, notice_target, f"*** No history for {target}")
            return
        if replay:
            opening = f"*** Replaying the last {count} message(s) of {target} (times in UTC)"
            closing = "*** End of replay: what follows is live"
        else:
            opening = f"*** History of {target}: {count} message(s) (times in UTC)"
            closing = f"*** End of history of {target}"
        self._server_notice(client, notice_target, opening)
        for entry in entries:
            self._send_exact(client, self._replayed(client, entry, stamped_text(entry), None))
        self._server_notice(client, notice_target, closing)

    def _replayed(
        self, client: Client, entry: HistoryEntry, text: str, batch: str | None
    ) -> Message:
        """``entry`` as this client sees it again, with the tags it negotiated."""
        tags: dict[str, str] = {}
        if batch is not None:
            tags["batch"] = batch
        if client.wants_time:
            tags["time"] = iso_time(entry.time_ms)
        if client.wants_tags:
            tags["msgid"] = entry.msgid
        return Message(entry.command, (entry.target, text), entry.source, tags)

    def _show_targets(self, client: Client, entries: list[HistoryEntry]) -> None:
        """``CHATHISTORY TARGETS`` lines: each conversation and the time of its last message."""
        batch = None
        if "batch" in client.caps:
            batch = self._open_batch(client, "draft/chathistory-targets")
        tags = {"batch": batch} if batch is not None else {}
        for entry in entries:
            name = entry.target
            if entry.readers is not None and entry.readers[0] != client.session:
                name = entry.sender  # a private message this client received
            params = ("TARGETS", name, iso_time(entry.time_ms))
            line = Message("CHATHISTORY", params, self.config.server_name, tags)
            self._send_exact(client, line)
        if batch is not None:
            self._close_batch(client, batch)

    def _open_batch(self, client: Client, kind: str, *params: str) -> str:
        client.batches += 1
        reference = f"history{client.batches}"
        batch = Message("BATCH", (f"+{reference}", kind, *params), self.config.server_name)
        self._send(client, batch)
        return reference

    def _close_batch(self, client: Client, reference: str) -> None:
        self._send(client, Message("BATCH", (f"-{reference}",), self.config.server_name))

    def _send_exact(self, client: Client, message: Message) -> None:
        self._effects.append(Send((client.conn,), message, exact_tags=True))

    def _server_notice(self, client: Client, target: str, text: str) -> None:
        self._send(client, Message("NOTICE", (target, text), self.config.server_name))

    def _history_fail(self, client: Client, code: str, *params: str) -> None:
        """``FAIL CHATHISTORY <code> <context...> :<description>`` (IRCv3 standard replies)."""
        *context, description = params
        fail = ("CHATHISTORY", code, *map(_middle, context), description)
        self._send(client, Message("FAIL", fail, self.config.server_name))

    def _chathistory(self, client: Client, message: Message) -> None:
        subcommand = message.param(0).upper()
        args = message.params[1:]
        if subcommand == "TARGETS":
            self._chathistory_targets(client, args)
        elif subcommand in MESSAGE_SUBCOMMANDS:
            self._chathistory_messages(client, subcommand, args)
        elif not subcommand:
            self._history_fail(client, "NEED_MORE_PARAMS", "*", "Missing parameters")
        else:
            self._history_fail(client, "UNKNOWN_COMMAND", subcommand, "Unknown command")

    def _chathistory_messages(self, client: Client, subcommand: str, args: tuple[str, ...]) -> None:
        """``CHATHISTORY <subcommand> <target> <reference> [<reference>] <limit>``.

        Access is checked first, and answered alike for a channel that does
        not exist and one the client is not in: nothing reveals which.
        """
        between = subcommand == "BETWEEN"
        if len(args) < (4 if between else 3):
            self._history_fail(client, "NEED_MORE_PARAMS", subcommand, "Missing parameters")
            return
        target = args[0]
        readable = self._readable_history(client, target)
        if readable is None:
            self._history_fail(
                client, "INVALID_TARGET", subcommand, target, "Messages could not be retrieved"
            )
            return
        key, target = readable
        first = parse_bound(args[1], star=subcommand == "LATEST")
        second = parse_bound(args[2]) if between else UNBOUNDED
        limit = parse_limit(args[-1], self.config.history_request_limit)
        if first is None or second is None:
            bad = args[1] if first is None else args[2]
            self._history_fail(
                client,
                "INVALID_PARAMS",
                subcommand,
                bad,
                "Use timestamp=YYYY-MM-DDThh:mm:ss.sssZ or msgid=<id>",
            )
        elif limit is None:
            self._history_fail(
                client,
                "INVALID_PARAMS",
                subcommand,
                args[-1],
                "The limit must be a positive number",
            )
        else:
            query = HistoryQuery(subcommand, target, (key,), client.session, first, second, limit)
            self._effects.append(Query(client.conn, query))

    def _readable_history(self, client: Client, target: str) -> tuple[str, str] | None:
        """The history key and display name of ``target`` if ``client`` may read it.

        A channel: only while a member. A nickname: the client's own
        conversation with it (the store then keeps to the client's session).
        """
        if is_channel(target):
            channel = self.channels.get(casefold(target))
            if channel is None or client.conn not in channel.members:
                return None
            return casefold(channel.name), channel.name
        if valid_nick(target):
            return private_key(client.nick, target), target
        return None

    def _chathistory_targets(self, client: Client, args: tuple[str, ...]) -> None:
        """``CHATHISTORY TARGETS <timestamp> <timestamp> <limit>``: the client's conversations."""
        if len(args) < 3:
            self._history_fail(client, "NEED_MORE_PARAMS", "TARGETS", "Missing parameters")
            return
        first = parse_bound(args[0], msgid=False)
        second = parse_bound(args[1], msgid=False)
        limit = parse_limit(args[2], self.config.history_request_limit)
        if first is None or second is None:
            bad = args[0] if first is None else args[1]
            self._history_fail(
                client, "INVALID_PARAMS", "TARGETS", bad, "Use timestamp=YYYY-MM-DDThh:mm:ss.sssZ"
            )
        elif limit is None:
            self._history_fail(
                client, "INVALID_PARAMS", "TARGETS", args[2], "The limit must be a positive number"
            )
        else:
            channels = tuple(client.channels)
            query = HistoryQuery("TARGETS", "", channels, client.session, first, second, limit)
            self._effects.append(Query(client.conn, query))

    # -- information --------------------------------------------------------

    def _who(self, client: Client, message: Message) -> None:
        mask = message.param(0, "*")
        if is_channel(mask):
            channel = self.channels.get(casefold(mask))
            if channel is not None:
                for conn, status in channel.members.items():
                    self._who_reply(client, self.clients[conn], channel.name, status)
        else:
            target = self._nicks.get(casefold(mask))
            if target is not None and target.registered:
                self._who_reply(client, target, "*", "")
        self._numeric(client, rpl.RPL_ENDOFWHO, mask, "End of WHO list")

    def _who_reply(self, client: Client, target: Client, channel: str, status: str) -> None:
        flags = ("G" if target.away is not None else "H") + self._member_prefix(client, status)
        self._numeric(
            client,
            rpl.RPL_WHOREPLY,
            channel,
            target.user,
            target.host,
            self.config.server_name,
            target.nick,
            flags,
            f"0 {target.realname}",
        )

    def _whois(self, client: Client, message: Message) -> None:
        if not message.params:
            self._numeric(client, rpl.ERR_NONICKNAMEGIVEN, "No nickname given")
            return
        nick = message.params[-1]
        target = self._nicks.get(casefold(nick))
        if target is None or not target.registered:
            self._numeric(client, rpl.ERR_NOSUCHNICK, nick, "No such nick/channel")
            self._numeric(client, rpl.RPL_ENDOFWHOIS, nick, "End of /WHOIS list")
            return
        self._numeric(
            client, rpl.RPL_WHOISUSER, target.nick, target.user, target.host, "*", target.realname
        )
        if target.channels:
            channels = " ".join(
                self._member_prefix(client, channel.members[target.conn]) + channel.name
                for channel in target.channels.values()
            )
            self._numeric(client, rpl.RPL_WHOISCHANNELS, target.nick, channels)
        self._numeric(
            client, rpl.RPL_WHOISSERVER, target.nick, self.config.server_name, "triochat server"
        )
        if target.away is not None:
            self._numeric(client, rpl.RPL_AWAY, target.nick, target.away)
        idle = int(self._clock() - (target.last_spoke or target.connected_at))
        self._numeric(
            client,
            rpl.RPL_WHOISIDLE,
            target.nick,
            str(max(idle, 0)),
            str(int(target.connected_at)),
            "seconds idle, signon time",
        )
        self._numeric(client, rpl.RPL_ENDOFWHOIS, target.nick, "End of /WHOIS list")

    def _whowas(self, client: Client, message: Message) -> None:
        if not message.params:
            self._numeric(client, rpl.ERR_NONICKNAMEGIVEN, "No nickname given")
            return
        nick = message.params[0]
        self._numeric(client, rpl.ERR_WASNOSUCHNICK, nick, "There was no such nickname")
        self._numeric(client, rpl.RPL_ENDOFWHOWAS, nick, "End of WHOWAS")

    def _ison(self, client: Client, message: Message) -> None:
        words = " ".join(message.params).split()
        present = (self._nicks.get(casefold(nick)) for nick in words)
        online = [peer.nick for peer in present if peer is not None and peer.registered]
        self._numeric(client, rpl.RPL_ISON, " ".join(online))

    def _userhost(self, client: Client, message: Message) -> None:
        replies = []
        for nick in message.params[:5]:
            peer = self._nicks.get(casefold(nick))
            if peer is not None and peer.registered:
                away = "-" if peer.away is not None else "+"
                replies.append(f"{peer.nick}={away}{peer.user}@{peer.host}")
        self._numeric(client, rpl.RPL_USERHOST, " ".join(replies))

    def _lusers(self, client: Client, message: Message) -> None:
        users = sum(1 for peer in self.clients.values() if peer.registered)
        invisible = sum(1 for peer in self.clients.values() if "i" in peer.modes)
        unknown = len(self.clients) - users
        self._numeric(
            client,
            rpl.RPL_LUSERCLIENT,
            f"There are {users - invisible} users and {invisible} invisible on 1 servers",
        )
        if unknown:
            self._numeric(client, rpl.RPL_LUSERUNKNOWN, str(unknown), "unknown connection(s)")
        self._numeric(client, rpl.RPL_LUSERCHANNELS, str(len(self.channels)), "channels formed")
        self._numeric(client, rpl.RPL_LUSERME, f"I have {users} clients and 0 servers")

    def _motd(self, client: Client, message: Message) -> None:
        motd = self.config.motd
        if not motd:
            self._numeric(client, rpl.ERR_NOMOTD, "MOTD File is missing")
            return
        name = self.config.server_name
        self._numeric(client, rpl.RPL_MOTDSTART, f"- {name} Message of the day - ")
        for line in motd:
            self._numeric(client, rpl.RPL_MOTD, f"- {line}")
        self._numeric(client, rpl.RPL_ENDOFMOTD, "End of /MOTD command.")

    def _time(self, client: Client, message: Message) -> None:
        now = datetime.fromtimestamp(self._clock()).astimezone()
        text = now.strftime("%A %B %d %Y -- %H:%M:%S %z")
        self._numeric(client, rpl.RPL_TIME, self.config.server_name, text)

    def _version(self, client: Client, message: Message) -> None:
        self._numeric(
            client,
            rpl.RPL_VERSION,
            VERSION,
            self.config.server_name,
            "a chat server on Trio's structured concurrency",
        )
        self._isupport(client)

    def _help(self, client: Client, message: Message) -> None:
        subject = message.param(0).upper()
        if not subject:
            self._numeric(client, rpl.RPL_HELPSTART, "index", "** triochat commands **")
            for line in HELP_INDEX:
                self._numeric(client, rpl.RPL_HELPTXT, "index", line)
            self._numeric(client, rpl.RPL_ENDOFHELP, "index", "End of /HELP")
            return
        topic = HELP_TOPICS.get(subject)
        if topic is None:
            self._numeric(client, rpl.ERR_HELPNOTFOUND, subject, "No help available on this topic")
            return
        first, *rest = topic
        self._numeric(client, rpl.RPL_HELPSTART, subject, first)
        for line in rest:
            self._numeric(client, rpl.RPL_HELPTXT, subject, line)
        self._numeric(client, rpl.RPL_ENDOFHELP, subject, "End of /HELP")

    # -- presence and modes -------------------------------------------------

    def _away(self, client: Client, message: Message) -> None:
        text = _truncate(message.param(0), AWAY_LENGTH)
        client.away = text or None
        if client.away is None:
            self._numeric(client, rpl.RPL_UNAWAY, "You are no longer marked as being away")
        else:
            self._numeric(client, rpl.RPL_NOWAWAY, "You have been marked as being away")
        self._away_notify(client, client.channels.values())

    def _away_notify(self, client: Client, channels: Iterable[Channel]) -> None:
        """Tell the members of ``channels`` who asked for ``away-notify``, each once."""
        members = dict.fromkeys(conn for channel in channels for conn in channel.members)
        listeners = tuple(
            conn
            for conn in members
            if conn != client.conn and "away-notify" in self.clients[conn].caps
        )
        if listeners:
            params = (client.away,) if client.away is not None else ()
            self._effects.append(Send(listeners, self._event(client, "AWAY", *params)))

    def _mode(self, client: Client, message: Message) -> None:
        if not message.params:
            self._numeric(client, rpl.ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
            return
        target = message.params[0]
        if is_channel(target):
            self._channel_mode(client, target, message.params[1:])
        else:
            self._user_mode(client, target, message.param(1))

    def _user_mode(self, client: Client, nick: str, changes: str) -> None:
        target = self._nicks.get(casefold(nick))
        if target is None or not target.registered:
            self._numeric(client, rpl.ERR_NOSUCHNICK, nick, "No such nick/channel")
            return
        if target is not client:
            self._numeric(client, rpl.ERR_USERSDONTMATCH, "Cant change mode for other users")
            return
        if not changes:
            self._numeric(client, rpl.RPL_UMODEIS, "+" + "".join(sorted(client.modes)))
            return
        adding, applied, unknown = True, "", False
        for char in changes:
            if char in "+-":
                adding = char == "+"
            elif char in USER_MODES:
                if (char in client.modes) != adding:
                    (client.modes.add if adding else client.modes.discard)(char)
                    applied += ("+" if adding else "-") + char
            else:
                unknown = True
        if unknown:
            self._numeric(client, rpl.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
        if applied:
            self._send(client, Message("MODE", (client.nick, applied), client.source))

    def _channel_mode(self, client: Client, name: str, args: tuple[str, ...]) -> None:
        channel = self.channels.get(casefold(name))
        if channel is None:
            self._numeric(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
            return
        if not args:
            modes = "+" + "".join(sorted(channel.modes))
            self._numeric(client, rpl.RPL_CHANNELMODEIS, channel.name, modes)
            self._numeric(client, rpl.RPL_CREATIONTIME, channel.name, str(int(channel.created)))
            return
        changes = args[0]
        lists = {
            "b": rpl.RPL_ENDOFBANLIST,
            "e": rpl.RPL_ENDOFEXCEPTLIST,
            "I": rpl.RPL_ENDOFINVITELIST,
        }
        if changes.lstrip("+") in lists and len(args) == 1:  # e.g. "MODE #chan b" on join
            self._numeric(client, lists[changes.lstrip("+")], channel.name, "End of list")
            return
        if self._operated_channel(client, name) is None:
            return
        self._apply_channel_modes(client, channel, changes, list(args[1:]))

    def _apply_channel_modes(
        self, client: Client, channel: Channel, changes: str, args: list[str]
    ) -> None:
        adding = True
        applied: list[tuple[str, str, str]] = []  # (sign, mode, argument)
        for char in changes:
            if char in "+-":
                adding = char == "+"
            elif char in CHANNEL_MODES:
                if (char in channel.modes) != adding:
                    (channel.modes.add if adding else channel.modes.discard)(char)
                    applied.append(("+" if adding else "-", char, ""))
            elif char in MEMBER_MODES:
                if not args:
                    self._numeric(client, rpl.ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
                    continue
                nick = args.pop(0)
                target = self._member_named(client, channel, nick)
                if target is None:
                    continue
                status = channel.members[target.conn]
                if (char in status) != adding:
                    channel.members[target.conn] = (
                        status + char if adding else status.replace(char, "")
                    )
                    applied.append(("+" if adding else "-", char, target.nick))
            else:
                self._numeric(client, rpl.ERR_UNKNOWNMODE, char, "is unknown mode char to me")
        if not applied:
            return
        text, sign = "", ""
        for change_sign, mode, _ in applied:
            if change_sign != sign:
                text += change_sign
                sign = change_sign
            text += mode
        arguments = [argument for _, _, argument in applied if argument]
        self._to_channel(channel, self._event(client, "MODE", channel.name, text, *arguments))

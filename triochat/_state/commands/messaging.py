"""PRIVMSG, NOTICE and TAGMSG: validate, route to each target, echo, stamp and record.

This is the hot path of the server (every chat line passes here), so each
step does its work once per message: the clock is read once, each target is
casefolded once, and one :class:`~..effects.Send` carries a message to all
of a channel's members.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ..._history.records import HistoryEntry, private_key, recordable
from ..._irc import numerics as rpl
from ..._irc.names import casefold, is_channel
from ..._irc.tags import iso_time, milliseconds, receives_client_tags
from ..._irc.wire import MAX_BODY_BYTES, Message, serialize
from ..access import may_speak
from ..advertised import MAX_TARGETS
from ..effects import Send
from ..registry import Commands
from ..rooms import CHANSERV
from . import chanserv, history, services

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..effects import ConnId
    from ..machine import ServerState
    from ..model import Client

__all__ = ["MAX_CLIENT_TAGS_BYTES", "commands"]

#: Client-only tags (``+...``) of one message, in bytes, as message-tags allows.
MAX_CLIENT_TAGS_BYTES: Final = 4094

commands = Commands()


@commands.command(
    "PRIVMSG",
    syntax="PRIVMSG target :text",
    summary="Talk to a channel, or privately to a nickname (the original !private).",
)
def privmsg(state: ServerState, client: Client, message: Message) -> None:
    if state.config.accounts and len(message.params) >= 2:
        service = _SERVICES.get(casefold(message.params[0]))
        if service is not None:  # /msg NickServ ...: handled here, it reaches nobody else
            service(state, client, message.params[1])
            return
    _relay(state, client, message)


#: The service pseudo-users a PRIVMSG may address, by casefolded nick.
_SERVICES: Final = {
    casefold(services.NICKSERV): services.nickserv,
    casefold(CHANSERV): chanserv.chanserv,
}


commands.alias(
    "NOTICE",
    "PRIVMSG",
    syntax="NOTICE target :text",
    summary="Like PRIVMSG, but never answered automatically.",
)
commands.alias(
    "TAGMSG",
    "PRIVMSG",
    syntax="TAGMSG target",
    summary="Send only message tags (needs the message-tags capability).",
)


def _relay(state: ServerState, client: Client, message: Message) -> None:
    command = message.command
    quiet = command == "NOTICE"  # never answer a NOTICE with an error (Modern IRC)
    targets = _targets(state, client, message, quiet)
    if targets is None:
        return
    text = message.param(1)
    now = state.now()
    client.last_spoke = now
    now_ms = milliseconds(now)
    tags = {key: value for key, value in message.tags.items() if key.startswith("+")}
    if tags and _tags_size(tags) > MAX_CLIENT_TAGS_BYTES:
        if not quiet:
            out = state.replies
            out.numeric(client, rpl.ERR_INPUTTOOLONG, "Client tags too long (at most 4094 bytes)")
        return
    tags["time"] = iso_time(now_ms)
    if client.account is not None:  # IRCv3 account-tag (see _irc/tags.py for who sees it)
        tags["account"] = client.account
    record = state.recording and command != "TAGMSG" and recordable(text)
    # A TAGMSG (a reaction, a typing notice) is not kept, but it gets a msgid
    # like any message, so that replies and reactions can point at it.
    stamp = record or (state.recording and command == "TAGMSG")
    for target in targets:
        route = _route(state, client, command, target, quiet)
        if route is None:
            continue
        name, recipients, key, readers = route
        if command != "TAGMSG" and _too_long_to_relay(state, client, command, name, text):
            continue
        params = (name,) if command == "TAGMSG" else (name, text)
        msgid = state.new_msgid() if stamp else None
        if command == "TAGMSG":  # only to those who can see tags at all
            clients = state.network.clients
            recipients = (
                conn for conn in recipients if receives_client_tags(clients[conn].tag_variant)
            )
        conns = tuple(recipients)
        if conns:
            sent_tags = tags if msgid is None else {**tags, "msgid": msgid}
            state.replies.add(Send(conns, Message(command, params, client.source, sent_tags)))
        if record and msgid is not None:
            entry = HistoryEntry(now_ms, msgid, key, name, client.source, command, text, readers)
            history.record(state, entry)


#: Bytes every relayed line can hold for sure, whatever its characters (4 bytes each at most).
_ALWAYS_FITS: Final = MAX_BODY_BYTES // 4


def _too_long_to_relay(
    state: ServerState, client: Client, command: str, name: str, text: str
) -> bool:
    """True (after a 417) when ``:source COMMAND name :text`` would pass 512 bytes.

    The sender counted its own line; the relayed one carries its whole
    ``nick!user@host`` too. Cutting the text would change what was said
    unseen, so the sender is told how much fits (Ergo does the same), even
    for a NOTICE: a numeric cannot start a loop of automatic replies.
    """
    source = client.source
    size = len(source) + len(command) + len(name) + len(text) + 7  # ":", 2 spaces, " :", CRLF
    if size <= _ALWAYS_FITS:  # nearly every message: no counting needed
        return False
    if text and " " not in text and text[0] != ":":  # sent without the trailing ":"
        size -= 1
    if not (source.isascii() and name.isascii() and text.isascii()):
        size += sum(len(part.encode()) - len(part) for part in (source, name, text))
    if size <= MAX_BODY_BYTES:
        return False
    room = MAX_BODY_BYTES - (size - len(text.encode()))
    state.replies.numeric(
        client,
        rpl.ERR_INPUTTOOLONG,
        f"Message too long to relay to {name} (at most {max(room, 0)} bytes of text here)",
    )
    return True


def _tags_size(tags: dict[str, str]) -> int:
    """Bytes of ``tags`` on the wire, the ``@`` and the space after them included."""
    line = serialize(Message("TAGMSG", ("*",), tags=tags), tags=tags)
    return line.index(b" ") + 1


def _targets(
    state: ServerState, client: Client, message: Message, quiet: bool
) -> Iterable[str] | None:
    """The distinct targets of ``message`` (compared as names are), or None if it is invalid."""
    out = state.replies
    command = message.command
    if not message.params or not message.params[0]:
        if not quiet:
            out.numeric(client, rpl.ERR_NORECIPIENT, f"No recipient given ({command})")
        return None
    if command != "TAGMSG" and not message.param(1):
        if not quiet:
            out.numeric(client, rpl.ERR_NOTEXTTOSEND, "No text to send")
        return None
    if "," not in message.params[0]:  # one target, nearly always
        return message.params[:1]
    targets = message.params[0].split(",")
    if len(targets) > MAX_TARGETS:
        if not quiet:
            out.numeric(client, rpl.ERR_TOOMANYTARGETS, message.params[0], "Too many targets")
        return None
    unique: dict[str, str] = {}  # one delivery per target
    for target in targets:
        unique.setdefault(casefold(target), target)
    return unique.values()


_Route = tuple[str, "Iterable[ConnId]", str, "tuple[str, str] | None"]


def _route(
    state: ServerState, client: Client, command: str, target: str, quiet: bool
) -> _Route | None:
    """Where a message to ``target`` goes: (name as shown, recipients, history key, readers).

    None when it goes nowhere, after telling the sender why (unless ``quiet``).
    """
    out = state.replies
    echo = "echo-message" in client.caps
    if is_channel(target):
        key = casefold(target)  # the channel's key, and its history's
        channel = state.network.channels.get(key)
        if channel is None:
            if not quiet:
                out.numeric(client, rpl.ERR_NOSUCHNICK, target, "No such nick/channel")
            return None
        if not may_speak(client, channel):
            if not quiet:
                out.numeric(
                    client, rpl.ERR_CANNOTSENDTOCHAN, channel.name, "Cannot send to channel"
                )
            return None
        # Every member but the sender, in order; list.remove runs in C, where a
        # generator filtering each member cost a Python step per recipient.
        members = channel.members
        recipients = list(members)
        if client.conn in members:
            recipients.remove(client.conn)
        if echo:  # the echo goes to the sender even when it is not a member (-n)
            recipients.append(client.conn)
        return channel.name, recipients, key, None
    peer = state.network.user(target)
    if peer is None:
        if not quiet:
            out.numeric(client, rpl.ERR_NOSUCHNICK, target, "No such nick/channel")
        return None
    if peer.away is not None and command == "PRIVMSG":
        out.numeric(client, rpl.RPL_AWAY, peer.nick, peer.away)
    # Every connection of the recipient's nick, and the sender's other connections
    # (multiclient: each sees what the others send).
    network = state.network
    conns = dict.fromkeys(session.conn for session in network.sessions(peer))
    conns.update(dict.fromkeys(s.conn for s in network.sessions(client) if s is not client))
    if echo:
        conns[client.conn] = None
    return (
        peer.nick,
        tuple(conns),
        # A logged-in side is named by its account: its history follows it across nicks.
        private_key(client.account or client.nick, peer.account or peer.nick),
        (client.session, peer.session),
    )

"""Channels: JOIN, PART, KICK, TOPIC and NAMES (LIST is in :mod:`.listing`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..._irc import numerics as rpl
from ..._irc.names import casefold, valid_channel
from ..._irc.wire import MAX_BODY_BYTES
from ..access import join_refusal
from ..advertised import (
    CHANNEL_SYNTAX,
    KICK_LENGTH,
    MAX_KICK_TARGETS,
    MEMBER_MODES,
    TOPIC_LENGTH,
)
from ..registry import Commands
from ..replies import truncate
from . import history, services
from .upkeep import away_notify

if TYPE_CHECKING:
    from ..._irc.wire import Message
    from ..machine import ServerState
    from ..model import Channel, Client

__all__ = ["commands", "hidden_from", "member_named", "member_prefix", "operated_channel"]

commands = Commands()


@commands.command(
    "JOIN",
    syntax="JOIN #channel[,#channel] [key[,key]]",
    summary="Join channels (creating them), with their keys if +k; JOIN 0 leaves all.",
    min_params=1,
)
def join(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    if message.params[0] == "0":
        for joined in list(client.channels.values()):
            leave(state, client, joined, "PART", "")
        return
    keys = message.param(1).split(",")
    for index, name in enumerate(message.params[0].split(",")):
        if not valid_channel(name):
            out.numeric(client, rpl.ERR_BADCHANMASK, name, "Bad Channel Mask")
            continue
        folded = casefold(name)
        if folded in client.channels:
            continue
        if len(client.channels) >= state.config.max_channels:
            out.numeric(client, rpl.ERR_TOOMANYCHANNELS, name, "You have joined too many channels")
            continue
        existing = state.network.channel(name)
        if existing is not None:
            refusal = join_refusal(client, existing, keys[index] if index < len(keys) else "")
            if refusal is not None:
                out.numeric(client, refusal[0], existing.name, refusal[1])
                continue
        client.invites.pop(folded, None)  # an invitation is used up by joining
        channel = state.network.join(client, name, state.now())
        _announce_join(state, client, channel)
        if client.away is not None:
            away_notify(state, client, (channel,))
        if channel.topic:
            topic_reply(state, client, channel)
        names_reply(state, client, channel)
        history.replay(state, client, channel)


def _announce_join(state: ServerState, client: Client, channel: Channel) -> None:
    """JOIN to the members; those with ``extended-join`` also learn the account and real name."""
    out = state.replies
    plain = out.event(client, "JOIN", channel.name)
    if not state.config.accounts:
        out.to_channel(channel, plain)
        return
    if services.sibling_in(state, client, channel):  # already here, on another connection
        out.send(client, plain)
        return
    clients = state.network.clients
    extended = [conn for conn in channel.members if "extended-join" in clients[conn].caps]
    others = [conn for conn in channel.members if "extended-join" not in clients[conn].caps]
    account = client.account or "*"
    out.to(extended, out.event(client, "JOIN", channel.name, account, client.realname))
    out.to(others, plain)


@commands.command(
    "PART",
    syntax="PART #channel [:reason]",
    summary="Leave a channel.",
    min_params=1,
)
def part(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    reason = message.param(1)
    for name in message.params[0].split(","):
        channel = state.network.channel(name)
        if channel is None:
            out.numeric(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
        elif client.conn not in channel.members:
            out.numeric(client, rpl.ERR_NOTONCHANNEL, name, "You're not on that channel")
        else:
            leave(state, client, channel, "PART", reason)


def leave(state: ServerState, client: Client, channel: Channel, command: str, reason: str) -> None:
    """``client`` leaves ``channel`` with ``command`` (PART), and its members hear it."""
    params = (channel.name, reason) if reason else (channel.name,)
    event = state.replies.event(client, command, *params)
    if command == "PART" and services.sibling_in(state, client, channel):
        state.replies.send(client, event)  # still here, on another connection
    else:
        state.replies.to_channel(channel, event)
    state.network.leave(client, channel)


@commands.command(
    "KICK",
    syntax="KICK #channel[,#channel] nick[,nick] [:reason]",
    summary="Remove people from channels (operators): one channel and many nicks, or pairs.",
    min_params=2,
)
def kick(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    names = message.params[0].split(",")
    nicks = message.params[1].split(",")
    if len(names) == 1:
        pairs = [(names[0], nick) for nick in nicks]
    elif len(nicks) == 1:
        pairs = [(name, nicks[0]) for name in names]
    elif len(names) == len(nicks):
        pairs = list(zip(names, nicks, strict=True))
    else:
        out.numeric(client, rpl.ERR_NEEDMOREPARAMS, "KICK", "Not enough parameters")
        return
    if len(pairs) > MAX_KICK_TARGETS:
        out.numeric(client, rpl.ERR_TOOMANYTARGETS, message.params[1], "Too many targets")
        return
    reason = truncate(message.param(2) or client.nick, KICK_LENGTH)
    refused: set[str] = set()
    for name, nick in pairs:
        # Each kick is checked anew: a kicker who kicked itself (or emptied the
        # channel) may kick no more there. A refusal is said once per channel.
        if casefold(name) in refused:
            continue
        channel = operated_channel(state, client, name)
        if channel is None:
            refused.add(casefold(name))
            continue
        target = member_named(state, client, channel, nick)
        if target is None:
            continue
        kicked = out.event(client, "KICK", channel.name, target.nick, reason)
        out.to_channel(channel, kicked)
        state.network.leave(target, channel)


def member_named(state: ServerState, client: Client, channel: Channel, nick: str) -> Client | None:
    """The member of ``channel`` called ``nick``; otherwise tell ``client`` (441)."""
    target = state.network.holder(nick)
    if target is None or target.conn not in channel.members:
        state.replies.numeric(
            client, rpl.ERR_USERNOTINCHANNEL, nick, channel.name, "They aren't on that channel"
        )
        return None
    return target


def operated_channel(state: ServerState, client: Client, name: str) -> Channel | None:
    """The channel ``name`` if ``client`` may operate on it; otherwise say why."""
    out = state.replies
    channel = state.network.channel(name)
    if channel is None:
        out.numeric(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
    elif "o" in client.modes:  # a server operator may operate on any channel
        return channel
    elif client.conn not in channel.members:
        out.numeric(client, rpl.ERR_NOTONCHANNEL, name, "You're not on that channel")
    elif "o" not in channel.members[client.conn]:
        out.numeric(client, rpl.ERR_CHANOPRIVSNEEDED, name, "You're not channel operator")
    else:
        return channel
    return None


@commands.command(
    "TOPIC",
    syntax="TOPIC #channel [:topic]",
    summary="Show or set a channel's topic.",
    min_params=1,
)
def topic(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    name = message.params[0]
    channel = state.network.channel(name)
    if len(message.params) == 1:
        if channel is None:
            out.numeric(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
        else:
            topic_reply(state, client, channel)
        return
    if channel is not None and "t" not in channel.modes:
        if client.conn not in channel.members:
            out.numeric(client, rpl.ERR_NOTONCHANNEL, name, "You're not on that channel")
            return
    elif (channel := operated_channel(state, client, name)) is None:
        return
    channel.topic = truncate(message.params[1], TOPIC_LENGTH)
    channel.topic_by, channel.topic_at = client.source, state.now()
    out.to_channel(channel, out.event(client, "TOPIC", channel.name, channel.topic))


def topic_reply(state: ServerState, client: Client, channel: Channel) -> None:
    out = state.replies
    if not channel.topic:
        out.numeric(client, rpl.RPL_NOTOPIC, channel.name, "No topic is set")
        return
    out.numeric(client, rpl.RPL_TOPIC, channel.name, channel.topic)
    out.numeric(
        client, rpl.RPL_TOPICWHOTIME, channel.name, channel.topic_by, str(int(channel.topic_at))
    )


def hidden_from(client: Client, channel: Channel) -> bool:
    """True when ``channel`` is secret or private (+s, +p) and ``client`` is an outsider.

    Server operators see every channel.
    """
    modes = channel.modes
    return (
        ("s" in modes or "p" in modes)
        and client.conn not in channel.members
        and "o" not in client.modes
    )


def member_prefix(client: Client, status: str) -> str:
    """``@``/``+`` for a member's status: all of them with multi-prefix, else the highest."""
    prefixes = "".join(CHANNEL_SYNTAX.symbol(mode) for mode in MEMBER_MODES if mode in status)
    return prefixes if "multi-prefix" in client.caps else prefixes[:1]


def names_reply(state: ServerState, client: Client, channel: Channel) -> None:
    """353 lines (as many as the names need) and 366 for ``channel``."""
    out = state.replies
    if hidden_from(client, channel):
        out.numeric(client, rpl.RPL_ENDOFNAMES, channel.name, "End of /NAMES list")
        return
    clients = state.network.clients
    long_names = "userhost-in-names" in client.caps
    symbol = "@" if "s" in channel.modes else "*" if "p" in channel.modes else "="
    entries = []
    shown: set[str] = set()  # a nick shared by several connections is listed once
    for conn, status in channel.members.items():
        member = clients[conn]
        if member.nick in shown:
            continue
        shown.add(member.nick)
        entries.append(
            member_prefix(client, status) + (member.source if long_names else member.nick)
        )
    head = len(f":{state.config.server_name} 353 {client.nick} = {channel.name} :\r\n".encode())
    line: list[str] = []
    size = head
    for entry in entries:
        if line and size + len(entry.encode()) + 1 > MAX_BODY_BYTES:
            out.numeric(client, rpl.RPL_NAMREPLY, symbol, channel.name, " ".join(line))
            line, size = [], head
        line.append(entry)
        size += len(entry.encode()) + 1
    if line:
        out.numeric(client, rpl.RPL_NAMREPLY, symbol, channel.name, " ".join(line))
    out.numeric(client, rpl.RPL_ENDOFNAMES, channel.name, "End of /NAMES list")


@commands.command(
    "NAMES",
    syntax="NAMES [#channel]",
    summary="Show who is in a channel (the original !clients).",
)
def names(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    if not message.params:
        for joined in client.channels.values():
            names_reply(state, client, joined)
        if not client.channels:
            out.numeric(client, rpl.RPL_ENDOFNAMES, "*", "End of /NAMES list")
        return
    for name in message.params[0].split(","):
        channel = state.network.channel(name)
        if channel is None:
            out.numeric(client, rpl.RPL_ENDOFNAMES, name, "End of /NAMES list")
        else:
            names_reply(state, client, channel)

"""INVITE: ask someone into a channel, which lets them past ``+i``.

An invitation is kept on the invitee with the channel it was for, and ends
when they join it or when that channel empties (a new channel of the same
name does not inherit it). ``invite-notify`` tells the channel's operators.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Final

from ..._irc import numerics as rpl
from ..._irc.names import casefold
from ..registry import Commands

if TYPE_CHECKING:
    from ..._irc.wire import Message
    from ..machine import ServerState
    from ..model import Client

__all__ = ["commands", "live_invites"]

commands = Commands()

#: Invitations one user may hold at once; the oldest goes first.
_MAX_INVITES: Final = 50


def live_invites(state: ServerState, client: Client) -> list[str]:
    """The channels ``client`` is invited to that still exist as they were; drops the rest."""
    names = []
    for key, invitation in list(client.invites.items()):
        channel = invitation()
        if channel is None or state.network.channels.get(key) is not channel:
            del client.invites[key]
        else:
            names.append(channel.name)
    return names


@commands.command(
    "INVITE",
    syntax="INVITE [nick #channel]",
    summary="Invite someone into a channel (+i needs an operator); alone, list your invitations.",
)
def invite(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    if not message.params:
        for name in live_invites(state, client):
            out.numeric(client, rpl.RPL_INVITELIST, name)
        out.numeric(client, rpl.RPL_ENDOFINVITELISTUSER, "End of /INVITE list")
        return
    if len(message.params) < 2:
        out.numeric(client, rpl.ERR_NEEDMOREPARAMS, "INVITE", "Not enough parameters")
        return
    nick, name = message.params[0], message.params[1]
    target = state.network.user(nick)
    if target is None:
        out.numeric(client, rpl.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    channel = state.network.channel(name)
    if channel is None:
        out.numeric(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    oper = "o" in client.modes
    status = channel.members.get(client.conn)
    if status is None and not oper:
        out.numeric(client, rpl.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        return
    if "i" in channel.modes and "o" not in (status or "") and not oper:
        out.numeric(client, rpl.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    if target.conn in channel.members:
        out.numeric(
            client, rpl.ERR_USERONCHANNEL, target.nick, channel.name, "is already on channel"
        )
        return
    live_invites(state, target)
    if len(target.invites) >= _MAX_INVITES:
        del target.invites[next(iter(target.invites))]
    target.invites[casefold(channel.name)] = weakref.ref(channel)
    out.numeric(client, rpl.RPL_INVITING, target.nick, channel.name)
    if target.away is not None:
        out.numeric(client, rpl.RPL_AWAY, target.nick, target.away)
    event = out.event(client, "INVITE", target.nick, channel.name)
    out.to((target.conn,), event)
    clients = state.network.clients
    notified = (
        conn
        for conn, member_status in channel.members.items()
        if "o" in member_status and conn != client.conn and "invite-notify" in clients[conn].caps
    )
    out.to(notified, event)

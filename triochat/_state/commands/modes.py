"""MODE: user modes, channel modes and member statuses, read with the advertised mode table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ..._irc import numerics as rpl
from ..._irc.modes import ModeChange, parse_modes, render_modes
from ..._irc.names import is_channel
from ..._irc.wire import Message
from ..advertised import CHANNEL_FLAGS, CHANNEL_SYNTAX, USER_FLAGS, USER_SYNTAX
from ..registry import Commands
from .channels import member_named, operated_channel

if TYPE_CHECKING:
    from ..machine import ServerState
    from ..model import Channel, Client

__all__ = ["commands"]

commands = Commands()

#: The end of each list a client may ask for (``MODE #chan b``); no list is kept yet.
_LIST_ENDS: Final = {
    "b": rpl.RPL_ENDOFBANLIST,
    "e": rpl.RPL_ENDOFEXCEPTLIST,
    "I": rpl.RPL_ENDOFINVITELIST,
}


@commands.command(
    "MODE",
    syntax="MODE target [modes [args]]",
    summary="Show or change channel modes (+mnt, +o/+v nick).",
    min_params=1,
)
def mode(state: ServerState, client: Client, message: Message) -> None:
    target = message.params[0]
    if is_channel(target):
        _channel_mode(state, client, target, message.params[1:])
    else:
        _user_mode(state, client, target, message.param(1))


def _user_mode(state: ServerState, client: Client, nick: str, changes: str) -> None:
    out = state.replies
    target = state.network.user(nick)
    if target is None:
        out.numeric(client, rpl.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    if target is not client:
        out.numeric(client, rpl.ERR_USERSDONTMATCH, "Cant change mode for other users")
        return
    if not changes:
        out.numeric(client, rpl.RPL_UMODEIS, "+" + "".join(sorted(client.modes)))
        return
    applied: list[ModeChange] = []
    unknown = False
    for change in parse_modes(USER_SYNTAX, changes, ()):
        if change.letter not in USER_FLAGS:
            unknown = True
        elif (change.letter in client.modes) != change.adding:
            (client.modes.add if change.adding else client.modes.discard)(change.letter)
            applied.append(ModeChange(change.adding, change.letter))
    if unknown:
        out.numeric(client, rpl.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
    if applied:
        text, _ = render_modes(applied)
        out.send(client, Message("MODE", (client.nick, text), client.source))


def _channel_mode(state: ServerState, client: Client, name: str, args: tuple[str, ...]) -> None:
    out = state.replies
    channel = state.network.channel(name)
    if channel is None:
        out.numeric(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    if not args:
        modes = "+" + "".join(sorted(channel.modes))
        out.numeric(client, rpl.RPL_CHANNELMODEIS, channel.name, modes)
        out.numeric(client, rpl.RPL_CREATIONTIME, channel.name, str(int(channel.created)))
        return
    changes = args[0]
    asked = changes.lstrip("+")
    if asked in _LIST_ENDS and len(args) == 1:  # e.g. "MODE #chan b" on join
        out.numeric(client, _LIST_ENDS[asked], channel.name, "End of list")
        return
    if operated_channel(state, client, name) is None:
        return
    _apply_channel_modes(state, client, channel, parse_modes(CHANNEL_SYNTAX, changes, args[1:]))


def _apply_channel_modes(
    state: ServerState, client: Client, channel: Channel, changes: list[ModeChange]
) -> None:
    out = state.replies
    applied: list[ModeChange] = []
    for change in changes:
        letter, adding = change.letter, change.adding
        if letter in CHANNEL_FLAGS:
            if (letter in channel.modes) != adding:
                (channel.modes.add if adding else channel.modes.discard)(letter)
                applied.append(ModeChange(adding, letter))
        elif CHANNEL_SYNTAX.is_prefix(letter):
            if change.param is None:
                out.numeric(client, rpl.ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
                continue
            target = member_named(state, client, channel, change.param)
            if target is None:
                continue
            status = channel.members[target.conn]
            if (letter in status) != adding:
                channel.members[target.conn] = (
                    status + letter if adding else status.replace(letter, "")
                )
                applied.append(ModeChange(adding, letter, target.nick))
        else:
            out.numeric(client, rpl.ERR_UNKNOWNMODE, letter, "is unknown mode char to me")
    if applied:
        text, params = render_modes(applied)
        out.to_channel(channel, out.event(client, "MODE", channel.name, text, *params))

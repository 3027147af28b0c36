"""Questions about the server and its users: WHO, WHOIS, WHOWAS, ISON, USERHOST, LUSERS,
MOTD, TIME, VERSION, INFO and HELP."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Final

from ..._irc import numerics as rpl
from ..._irc.names import is_channel
from ..advertised import VERSION, isupport_tokens
from ..help import help_index, help_topic
from ..registry import Commands
from .channels import member_prefix

if TYPE_CHECKING:
    from ..._irc.wire import Message
    from ..machine import ServerState
    from ..model import Client

__all__ = ["commands", "isupport", "lusers", "motd"]

commands = Commands()

#: ISUPPORT tokens per 005 line (Modern IRC suggests at most 13).
_TOKENS_PER_LINE: Final = 12
#: Departures WHOWAS shows without a count argument.
_WHOWAS_DEFAULT: Final = 10


@commands.command(
    "WHO",
    syntax="WHO #channel|nick",
    summary="List the members of a channel, or one user.",
)
def who(state: ServerState, client: Client, message: Message) -> None:
    mask = message.param(0, "*")
    network = state.network
    if is_channel(mask):
        channel = network.channel(mask)
        if channel is not None:
            for conn, status in channel.members.items():
                _who_reply(state, client, network.clients[conn], channel.name, status)
    else:
        target = network.user(mask)
        if target is not None:
            _who_reply(state, client, target, "*", "")
    state.replies.numeric(client, rpl.RPL_ENDOFWHO, mask, "End of WHO list")


def _who_reply(
    state: ServerState, client: Client, target: Client, channel: str, status: str
) -> None:
    flags = ("G" if target.away is not None else "H") + member_prefix(client, status)
    state.replies.numeric(
        client,
        rpl.RPL_WHOREPLY,
        channel,
        target.user,
        target.host,
        state.config.server_name,
        target.nick,
        flags,
        f"0 {target.realname}",
    )


@commands.command(
    "WHOIS",
    syntax="WHOIS nick",
    summary="Show who a user is, where, and how long idle.",
)
def whois(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    if not message.params:
        out.numeric(client, rpl.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    nick = message.params[-1]
    target = state.network.user(nick)
    if target is None:
        out.numeric(client, rpl.ERR_NOSUCHNICK, nick, "No such nick/channel")
        out.numeric(client, rpl.RPL_ENDOFWHOIS, nick, "End of /WHOIS list")
        return
    out.numeric(
        client, rpl.RPL_WHOISUSER, target.nick, target.user, target.host, "*", target.realname
    )
    if target.channels:
        channels = " ".join(
            member_prefix(client, channel.members[target.conn]) + channel.name
            for channel in target.channels.values()
        )
        out.numeric(client, rpl.RPL_WHOISCHANNELS, target.nick, channels)
    out.numeric(
        client, rpl.RPL_WHOISSERVER, target.nick, state.config.server_name, "triochat server"
    )
    if target.away is not None:
        out.numeric(client, rpl.RPL_AWAY, target.nick, target.away)
    idle = int(state.now() - (target.last_spoke or target.connected_at))
    out.numeric(
        client,
        rpl.RPL_WHOISIDLE,
        target.nick,
        str(max(idle, 0)),
        str(int(target.connected_at)),
        "seconds idle, signon time",
    )
    out.numeric(client, rpl.RPL_ENDOFWHOIS, target.nick, "End of /WHOIS list")


@commands.command(
    "WHOWAS",
    syntax="WHOWAS nick [count]",
    summary="Who used a nickname recently (the last departures are kept).",
)
def whowas(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    if not message.params or not message.params[0]:
        out.numeric(client, rpl.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    nick = message.params[0]
    count = _WHOWAS_DEFAULT
    if message.param(1).isdigit() and int(message.param(1)) > 0:
        count = int(message.param(1))
    shown = 0
    for entry in state.network.departures(nick):
        if shown == count:
            break
        shown += 1
        out.numeric(
            client, rpl.RPL_WHOWASUSER, entry.nick, entry.user, entry.host, "*", entry.realname
        )
        left = datetime.fromtimestamp(entry.left_at).astimezone().strftime("%a %b %d %H:%M:%S %Y")
        out.numeric(client, rpl.RPL_WHOISSERVER, entry.nick, state.config.server_name, left)
    if not shown:
        out.numeric(client, rpl.ERR_WASNOSUCHNICK, nick, "There was no such nickname")
    out.numeric(client, rpl.RPL_ENDOFWHOWAS, nick, "End of WHOWAS")


@commands.command(
    "ISON",
    syntax="ISON nick...",
    summary="Tell which of the given nicknames are online.",
)
def ison(state: ServerState, client: Client, message: Message) -> None:
    words = " ".join(message.params).split()
    present = (state.network.user(nick) for nick in words)
    online = [peer.nick for peer in present if peer is not None]
    state.replies.numeric(client, rpl.RPL_ISON, " ".join(online))


@commands.command(
    "USERHOST",
    syntax="USERHOST nick...",
    summary="Show the user@host of up to five nicknames.",
)
def userhost(state: ServerState, client: Client, message: Message) -> None:
    replies = []
    for nick in message.params[:5]:
        peer = state.network.user(nick)
        if peer is not None:
            away = "-" if peer.away is not None else "+"
            replies.append(f"{peer.nick}={away}{peer.user}@{peer.host}")
    state.replies.numeric(client, rpl.RPL_USERHOST, " ".join(replies))


@commands.command("LUSERS", syntax="LUSERS", summary="Count the users and channels.")
def lusers(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    network = state.network
    users = invisible = 0
    for peer in network.registered():
        users += 1
        invisible += "i" in peer.modes
    unknown = len(network.clients) - users
    servers = max(1, len(network.nodes))  # cluster mode: every node that is up
    here = sum(peer.origin is None for peer in network.registered()) if network.nodes else users
    out.numeric(
        client,
        rpl.RPL_LUSERCLIENT,
        f"There are {users - invisible} users and {invisible} invisible on {servers} servers",
    )
    if unknown:
        out.numeric(client, rpl.RPL_LUSERUNKNOWN, str(unknown), "unknown connection(s)")
    out.numeric(client, rpl.RPL_LUSERCHANNELS, str(len(network.channels)), "channels formed")
    out.numeric(client, rpl.RPL_LUSERME, f"I have {here} clients and {servers - 1} servers")


@commands.command(
    "LINKS", syntax="LINKS", summary="List the servers (cluster nodes) of the network."
)
def links(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    name = state.config.server_name
    for node in state.network.nodes or [name]:
        out.numeric(client, rpl.RPL_LINKS, node, name, f"0 {state.config.network_name}")
    out.numeric(client, rpl.RPL_ENDOFLINKS, "*", "End of /LINKS list")


@commands.command("MOTD", syntax="MOTD", summary="Show the message of the day.")
def motd(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    lines = state.config.motd
    if not lines:
        out.numeric(client, rpl.ERR_NOMOTD, "MOTD File is missing")
        return
    name = state.config.server_name
    out.numeric(client, rpl.RPL_MOTDSTART, f"- {name} Message of the day - ")
    for line in lines:
        out.numeric(client, rpl.RPL_MOTD, f"- {line}")
    out.numeric(client, rpl.RPL_ENDOFMOTD, "End of /MOTD command.")


@commands.command("TIME", syntax="TIME", summary="Show the server's time (the original !time).")
def time(state: ServerState, client: Client, message: Message) -> None:
    now = datetime.fromtimestamp(state.now()).astimezone()
    text = now.strftime("%A %B %d %Y -- %H:%M:%S %z")
    state.replies.numeric(client, rpl.RPL_TIME, state.config.server_name, text)


@commands.command(
    "VERSION", syntax="VERSION", summary="Show the server version and what it supports."
)
def version(state: ServerState, client: Client, message: Message) -> None:
    state.replies.numeric(
        client,
        rpl.RPL_VERSION,
        VERSION,
        state.config.server_name,
        "a chat server on Trio's structured concurrency",
    )
    isupport(state, client)


_INFO: Final = (
    f"{VERSION}: a chat server and client on Trio's structured concurrency, speaking IRC.",
    "Protocol: Modern IRC with IRCv3 capabilities (message-tags, server-time, chathistory...).",
    "History is kept in SQLite; TLS with a trio.SSLStream.",
)


@commands.command("INFO", syntax="INFO", summary="Show what this server is.")
def info(state: ServerState, client: Client, message: Message) -> None:
    for line in _INFO:
        state.replies.numeric(client, rpl.RPL_INFO, line)
    state.replies.numeric(client, rpl.RPL_ENDOFINFO, "End of /INFO list")


@commands.command("HELP", syntax="HELP [command]", summary="List the commands, or explain one.")
def help_(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    subject = message.param(0).upper()
    if not subject:
        out.numeric(client, rpl.RPL_HELPSTART, "index", "** triochat commands **")
        for line in help_index(state.commands):
            out.numeric(client, rpl.RPL_HELPTXT, "index", line)
        out.numeric(client, rpl.RPL_ENDOFHELP, "index", "End of /HELP")
        return
    topic = help_topic(state.commands, subject)
    if topic is None:
        out.numeric(client, rpl.ERR_HELPNOTFOUND, subject, "No help available on this topic")
        return
    first, *rest = topic
    out.numeric(client, rpl.RPL_HELPSTART, subject, first)
    for line in rest:
        out.numeric(client, rpl.RPL_HELPTXT, subject, line)
    out.numeric(client, rpl.RPL_ENDOFHELP, subject, "End of /HELP")


def isupport(state: ServerState, client: Client) -> None:
    tokens = isupport_tokens(state.config)
    for start in range(0, len(tokens), _TOKENS_PER_LINE):
        batch = tokens[start : start + _TOKENS_PER_LINE]
        state.replies.numeric(client, rpl.RPL_ISUPPORT, *batch, "are supported by this server")

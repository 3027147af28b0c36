"""Questions about the server and its users: WHO, WHOIS, WHOWAS, ISON, USERHOST, LUSERS,
MOTD, TIME, VERSION, INFO, ADMIN, LINKS and HELP."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Final

from ..._irc import numerics as rpl
from ..._irc.masks import mask_matches
from ..._irc.names import is_channel
from ..advertised import VERSION, isupport_tokens
from ..help import help_index, help_topic
from ..registry import Commands
from .channels import hidden_from, member_prefix

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
    syntax="WHO #channel|mask [%fields[,token]]",
    summary="List a channel's members, or the users a mask matches (WHOX fields with %).",
)
def who(state: ServerState, client: Client, message: Message) -> None:
    mask = message.param(0, "*") or "*"
    fields = message.param(1)
    whox = fields.startswith("%")
    network = state.network
    if is_channel(mask):
        channel = network.channel(mask)
        if channel is not None and not hidden_from(client, channel):
            member = client.conn in channel.members or "o" in client.modes
            shown: set[str] = set()  # a nick shared by several connections is listed once
            for conn, status in channel.members.items():
                target = network.clients[conn]
                if (member or "i" not in target.modes) and target.nick not in shown:
                    shown.add(target.nick)
                    _who_reply(state, client, target, channel.name, status, fields if whox else "")
    else:
        for target in _who_matches(state, client, mask):
            _who_reply(state, client, target, "*", "", fields if whox else "")
    state.replies.numeric(client, rpl.RPL_ENDOFWHO, mask, "End of WHO list")


def _who_matches(state: ServerState, client: Client, mask: str) -> list[Client]:
    """The users ``mask`` matches (nick, user, host, server or realname) that ``client`` sees.

    Invisible users (+i) are seen only by those who share a channel with them,
    and by operators; a nick asked for exactly is always answered.
    """
    network = state.network
    if "*" not in mask and "?" not in mask:
        exact = network.user(mask)
        if exact is not None:
            return [exact]
    server = state.config.server_name
    shared = set(network.peers(client))
    oper = "o" in client.modes
    return [
        target
        for target in network.registered()
        if (target is client or oper or "i" not in target.modes or target.conn in shared)
        and any(
            mask_matches(mask, text)
            for text in (target.nick, target.user, target.host, server, target.realname)
        )
    ]


def _who_flags(client: Client, target: Client, status: str) -> str:
    away = "G" if target.away is not None else "H"
    return away + ("*" if "o" in target.modes else "") + member_prefix(client, status)


def _who_reply(
    state: ServerState, client: Client, target: Client, channel: str, status: str, fields: str
) -> None:
    flags = _who_flags(client, target, status)
    if fields:
        _whox_reply(state, client, target, channel, flags, fields)
        return
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


def _whox_reply(
    state: ServerState, client: Client, target: Client, channel: str, flags: str, fields: str
) -> None:
    """354 with the WHOX ``fields`` asked for, in the order WHOX fixes (``tcuihsnfdlaor``)."""
    letters, _, token = fields[1:].partition(",")
    idle = int(state.now() - (target.last_spoke or target.connected_at))
    values = {
        "t": token or "0",
        "c": channel,
        "u": target.user,
        "i": "255.255.255.255",
        "h": target.host,
        "s": state.config.server_name,
        "n": target.nick,
        "f": flags,
        "d": "0",
        "l": str(max(idle, 0)),
        "a": target.account or "0",
        "o": "n/a",
        "r": target.realname,
    }
    params = [values[letter] for letter in "tcuihsnfdlaor" if letter in letters]
    if params:
        state.replies.numeric(client, rpl.RPL_WHOSPCRPL, *params)


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
            if not hidden_from(client, channel)
        )
        if channels:
            out.numeric(client, rpl.RPL_WHOISCHANNELS, target.nick, channels)
    out.numeric(
        client, rpl.RPL_WHOISSERVER, target.nick, state.config.server_name, "triochat server"
    )
    if target.away is not None:
        out.numeric(client, rpl.RPL_AWAY, target.nick, target.away)
    if "o" in target.modes:
        out.numeric(client, rpl.RPL_WHOISOPERATOR, target.nick, "is an IRC operator")
    if target.account is not None:
        out.numeric(client, rpl.RPL_WHOISACCOUNT, target.nick, target.account, "is logged in as")
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
    users, here = network.user_count, network.local_user_count
    invisible, opers = len(network.invisible), len(network.opers)
    unknown = len(network.clients) - users
    servers = len(network.servers)  # cluster mode: every node that is up
    out.numeric(
        client,
        rpl.RPL_LUSERCLIENT,
        f"There are {users - invisible} users and {invisible} invisible on {servers} servers",
    )
    if opers:
        out.numeric(client, rpl.RPL_LUSEROP, str(opers), "operator(s) online")
    if unknown:
        out.numeric(client, rpl.RPL_LUSERUNKNOWN, str(unknown), "unknown connection(s)")
    out.numeric(client, rpl.RPL_LUSERCHANNELS, str(len(network.channels)), "channels formed")
    out.numeric(client, rpl.RPL_LUSERME, f"I have {here} clients and {servers - 1} servers")
    state.max_users = most = max(state.max_users, users)
    state.max_local_users = most_here = max(state.max_local_users, here)
    out.numeric(
        client,
        rpl.RPL_LOCALUSERS,
        str(here),
        str(most_here),
        f"Current local users {here}, max {most_here}",
    )
    out.numeric(
        client,
        rpl.RPL_GLOBALUSERS,
        str(users),
        str(most),
        f"Current global users {users}, max {most}",
    )


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


@commands.command("ADMIN", syntax="ADMIN", summary="Show who runs this server.")
def admin(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    name = state.config.server_name
    out.numeric(client, rpl.RPL_ADMINME, name, "Administrative info")
    out.numeric(client, rpl.RPL_ADMINLOC1, f"{name}, a triochat server")
    out.numeric(client, rpl.RPL_ADMINLOC2, f"Network {state.config.network_name}")
    out.numeric(client, rpl.RPL_ADMINEMAIL, "Ask a server operator (WHO * shows them with *)")


@commands.command(
    "LINKS", syntax="LINKS", summary="List the servers (cluster nodes) of this network."
)
def links(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    for server in sorted(state.network.servers):  # this server alone, or every cluster node
        out.numeric(client, rpl.RPL_LINKS, "*", server, "0 triochat server")
    out.numeric(client, rpl.RPL_ENDOFLINKS, "*", "End of /LINKS list")


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

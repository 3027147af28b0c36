"""Registration: capability negotiation, PASS, NICK and USER, and the welcome."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from ..._irc import numerics as rpl
from ..._irc.names import casefold, valid_nick
from ..._irc.tags import tag_variant
from ..._irc.wire import Message
from ..accounts import SERVICE_NICKS, start_pass_login
from ..advertised import USER_LENGTH, VERSION, capability_values, myinfo
from ..effects import Ask, NickClaim
from ..registry import Commands
from . import info, oper, services

if TYPE_CHECKING:
    from ..machine import ServerState
    from ..model import Client

__all__ = ["claim_answered", "claim_failed", "commands", "welcome"]

commands = Commands()

_USERNAME_CHARS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."
)


@commands.command(
    "CAP",
    syntax="CAP LS|LIST|REQ|END",
    summary="Negotiate IRCv3 capabilities.",
    before_registration=True,
)
def cap(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    subcommand = message.param(0).upper()
    if not subcommand:
        out.numeric(client, rpl.ERR_NEEDMOREPARAMS, "CAP", "Not enough parameters")
        return
    if subcommand == "LS":
        if not client.registered:
            client.negotiating_caps = True
        version = message.param(1)
        values = (
            capability_values(state.config) if version.isdigit() and int(version) >= 302 else {}
        )
        offered = (
            f"{name}={values[name]}" if name in values else name for name in state.capabilities
        )
        _cap_reply(state, client, "LS", " ".join(sorted(offered)))
    elif subcommand == "LIST":
        _cap_reply(state, client, "LIST", " ".join(sorted(client.caps)))
    elif subcommand == "REQ":
        if not client.registered:
            client.negotiating_caps = True
        requested = message.param(1)
        changes = [(name.startswith("-"), name.lstrip("-")) for name in requested.split()]
        if not changes or any(name not in state.capabilities for _, name in changes):
            _cap_reply(state, client, "NAK", requested)
            return
        caps = set(client.caps)
        for remove, name in changes:
            if remove:
                caps.discard(name)
            else:
                caps.add(name)
        client.caps = frozenset(caps)
        client.tag_variant = tag_variant(client.caps)
        _cap_reply(state, client, "ACK", requested)
    elif subcommand == "END":
        if not client.registered:
            client.negotiating_caps = False
            try_register(state, client)
    else:
        out.numeric(client, rpl.ERR_INVALIDCAPCMD, subcommand, "Invalid CAP command")


def _cap_reply(state: ServerState, client: Client, subcommand: str, text: str) -> None:
    state.replies.from_server(client, "CAP", client.nick, subcommand, text)


@commands.command(
    "PASS",
    syntax="PASS password",
    summary="Give the server password, before NICK and USER.",
    before_registration=True,
)
def pass_(state: ServerState, client: Client, message: Message) -> None:
    if client.registered:
        state.replies.numeric(client, rpl.ERR_ALREADYREGISTERED, "You may not reregister")
    elif not message.params:
        state.replies.numeric(client, rpl.ERR_NEEDMOREPARAMS, "PASS", "Not enough parameters")
    else:
        client.password = message.params[0]


@commands.command(
    "USER",
    syntax="USER username 0 * :realname",
    summary="Register your username and real name.",
    before_registration=True,
)
def user(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    if client.registered:
        out.numeric(client, rpl.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    if len(message.params) < 4 or not message.params[0] or not message.params[3]:
        out.numeric(client, rpl.ERR_NEEDMOREPARAMS, "USER", "Not enough parameters")
        return
    # No ident lookup, so the username is marked unverified with "~".
    username = "".join(c for c in message.params[0] if c in _USERNAME_CHARS)
    client.user = "~" + (username or "user")[: USER_LENGTH - 1]
    client.realname = message.params[3]
    try_register(state, client)


@commands.command(
    "NICK",
    syntax="NICK nickname",
    summary="Choose or change your nickname.",
    before_registration=True,
)
def nick(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    wanted = message.param(0)
    if not wanted:
        out.numeric(client, rpl.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    if not valid_nick(wanted) or casefold(wanted) in SERVICE_NICKS:
        out.numeric(client, rpl.ERR_ERRONEUSNICKNAME, wanted, "Erroneous nickname")
        return
    if client.registered and services.rename_shared(state, client, wanted):
        return
    if client.registered and not services.may_take(state, client, wanted):
        return
    if wanted == client.nick:
        return
    if not state.network.take_nick(client, wanted, state.now()):
        out.numeric(client, rpl.ERR_NICKNAMEINUSE, wanted, "Nickname is already in use")
        return
    if not client.registered:
        client.nick, client.has_nick = wanted, True
        try_register(state, client)
        return
    change = out.event(client, "NICK", wanted)
    client.nick = wanted
    client.update_source()
    out.to((client.conn, *state.network.peers(client)), change)
    services.protect_nick(state, client)


def try_register(state: ServerState, client: Client) -> None:
    """Complete registration once NICK, USER (and CAP END) are in and the password is right."""
    if client.registered or client.negotiating_caps or not client.has_nick or not client.user:
        return
    if client.sasl is not None:  # a login in progress: its answer calls back here
        return
    expected = state.config.password
    if expected is None and client.password and start_pass_login(state, client):
        return
    if expected is not None and not hmac.compare_digest(
        (client.password or "").encode(), expected.encode()
    ):
        state.replies.numeric(client, rpl.ERR_PASSWDMISMATCH, "Password incorrect")
        state.replies.close(client.conn, "Closing link: bad password")
        return
    services.protect_nick(state, client)  # strict: a reserved nick is replaced before 001
    client.update_source()
    if oper.refuse_banned(state, client):  # a K-line or D-line
        return
    if state.nick_claims:  # cluster mode: the whole network must grant the nick first
        state.replies.add(Ask(client.conn, NickClaim(client.nick)))
        return
    _complete(state, client)


def _complete(state: ServerState, client: Client) -> None:
    client.registered = True
    state.network.registered_user(client)
    welcome(state, client)
    services.protect_nick(state, client)  # warn: told now, renamed later


def claim_answered(state: ServerState, client: Client, claim: NickClaim, *, granted: bool) -> None:
    """The network granted (or refused: 433) the nick that registration asked for."""
    if client.registered:
        return
    if granted and client.nick == claim.nick:
        _complete(state, client)
    elif not granted:
        # Not ours after all: free it here too, so that asking again is answered again.
        state.network.drop_nick(client)
        state.replies.numeric(
            client, rpl.ERR_NICKNAMEINUSE, claim.nick, "Nickname is already in use"
        )


def claim_failed(state: ServerState, client: Client) -> None:
    """Nobody could say whether the nick is free (the cluster store is down): refuse, clearly."""
    why = "The network is unreachable from this server right now; please reconnect later"
    state.replies.fail(client, "NICK", "CLUSTER_UNAVAILABLE", why)
    state.replies.close(client.conn, f"Closing link: {why}")


def welcome(state: ServerState, client: Client) -> None:
    """001 to 005, LUSERS and the MOTD: what a client sees once registered."""
    out = state.replies
    config = state.config
    name = config.server_name
    created = datetime.fromtimestamp(state.created, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    out.numeric(
        client,
        rpl.RPL_WELCOME,
        f"Welcome to the {config.network_name} IRC Network, {client.source}",
    )
    out.numeric(client, rpl.RPL_YOURHOST, f"Your host is {name}, running version {VERSION}")
    out.numeric(client, rpl.RPL_CREATED, f"This server was created {created}")
    out.numeric(client, rpl.RPL_MYINFO, *myinfo(name))
    info.isupport(state, client)
    info.lusers(state, client, Message("LUSERS"))
    info.motd(state, client, Message("MOTD"))

"""NickServ, the server's own pseudo-user, and nick protection.

``/msg NickServ REGISTER|IDENTIFY|GHOST|DROP|SET PASSWORD|CERT|INFO|HELP``
is answered with NOTICEs from ``NickServ``, as irssi and WeeChat users
expect; there is no separate services daemon. Nick protection: a registered
account's name is a reserved nickname. Whoever takes it without being logged
in to that account is warned and, unless they log in within
``nick_protection_delay`` seconds, renamed to ``Guest#####``
(``--nick-protection warn``); with ``strict`` they never get it.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from ..._accounts.records import (
    CertChange,
    Drop,
    Login,
    Lookup,
    Register,
    SetPassword,
)
from ..._irc import numerics as rpl
from ..._irc.names import casefold
from ..._irc.wire import Message
from ..accounts import TOO_MANY_FAILURES, check_registration, login, logout
from ..effects import Ask, GuestNick, Schedule, Timer
from ..registry import Commands
from ..rooms import service_source

if TYPE_CHECKING:
    from ..._accounts.records import AccountQuestion, AccountReply
    from ..machine import ServerState
    from ..model import Channel, Client

__all__ = [
    "NICK_TIMER",
    "commands",
    "may_take",
    "nick_timer",
    "nickserv",
    "protect_nick",
    "quit_shared",
    "reclaim",
    "show_answer",
    "show_failure",
    "sibling_in",
]

commands = Commands()

#: The timer that renames someone holding a reserved nickname.
NICK_TIMER: Final = "nick-protection"
NICKSERV: Final = "NickServ"

_HELP: Final = (
    "NickServ keeps accounts; every command goes in /msg NickServ ...",
    "REGISTER <password> [email]   register your current nick as an account",
    "IDENTIFY [account] <password> log in",
    "GHOST <nick>                  disconnect a stale connection using your nick",
    "DROP <account>                delete your account (give its name to confirm); the rooms"
    " it founded stop being registered",
    "SET PASSWORD <password>       change your password",
    "CERT ADD [fingerprint] | DEL <fingerprint> | LIST   TLS certificates for SASL EXTERNAL",
    "INFO <nick>                   whether an account exists, and since when",
    "E-mail addresses are stored but never verified.",
)


def _notice(state: ServerState, client: Client, text: str) -> None:
    state.replies.send(
        client, Message("NOTICE", (client.nick, text), service_source(state, NICKSERV))
    )


@commands.command(
    "NICKSERV",
    syntax="NICKSERV command [arguments]",
    summary="Talk to NickServ (the same as /msg NickServ ...).",
    needs="accounts",
)
def nickserv_command(state: ServerState, client: Client, message: Message) -> None:
    nickserv(state, client, " ".join(message.params))


commands.alias("NS", "NICKSERV", syntax="NS command [arguments]", summary="Short for NICKSERV.")


def nickserv(state: ServerState, client: Client, text: str) -> None:
    """One NickServ command."""
    words = text.split()
    command = words[0].upper() if words else "HELP"
    args = words[1:]
    if not state.config.accounts:
        _notice(state, client, "Accounts are off on this server")
    elif command == "REGISTER":
        _register(state, client, args)
    elif command == "IDENTIFY" and args:
        name, password = (args[0], args[1]) if len(args) > 1 else (client.nick, args[0])
        if client.account is not None:
            _notice(state, client, f"You are already logged in as {client.account}")
        elif not state.accounts.may_try(client.host, name):
            _notice(state, client, TOO_MANY_FAILURES)
        else:
            state.replies.add(Ask(client.conn, Login(name, password, "identify")))
    elif command == "GHOST" and args:
        _ghost(state, client, args[0])
    elif command == "DROP" and args:
        if client.account_id is None or casefold(args[0]) != casefold(client.account or ""):
            _notice(state, client, "Log in first, and name your own account: DROP <account>")
        else:
            state.replies.add(Ask(client.conn, Drop(client.account_id)))
    elif command == "SET" and len(args) == 2 and args[0].upper() == "PASSWORD":
        _set_password(state, client, args[1])
    elif command == "CERT" and args:
        _cert(state, client, args)
    elif command == "INFO" and args:
        state.replies.add(Ask(client.conn, Lookup(args[0], "info")))
    else:
        for line in _HELP:
            _notice(state, client, line)


def _register(state: ServerState, client: Client, args: list[str]) -> None:
    if not args:
        _notice(state, client, "Syntax: REGISTER <password> [email]")
        return
    email = args[1] if len(args) > 1 else None
    refusal = check_registration(state, client, client.nick, args[0], email)
    if refusal is not None:
        _notice(state, client, f"Cannot register {client.nick}: {refusal[1]}")
        return
    state.replies.add(Ask(client.conn, Register(client.nick, args[0], email, "nickserv")))


def _set_password(state: ServerState, client: Client, password: str) -> None:
    if client.account_id is None:
        _notice(state, client, "Log in first")
        return
    if len(password) < 6 or len(password.encode()) > 300 or not password.isprintable():
        _notice(state, client, "Use 6 to 300 printable bytes")
        return
    state.replies.add(Ask(client.conn, SetPassword(client.account_id, password)))


def _cert(state: ServerState, client: Client, args: list[str]) -> None:
    if client.account_id is None or client.account is None:
        _notice(state, client, "Log in first")
        return
    action = args[0].upper()
    certfp = args[1] if len(args) > 1 else client.peer.certfp if client.peer else None
    if action == "LIST":
        state.replies.add(Ask(client.conn, Lookup(client.account, "certlist")))
    elif action in ("ADD", "DEL") and certfp:
        fp = certfp.lower().replace(":", "")
        if len(fp) != 64 or any(c not in "0123456789abcdef" for c in fp):
            _notice(state, client, "A fingerprint is 64 hex digits (SHA-256)")
            return
        change = CertChange(client.account_id, action == "ADD", fp)
        state.replies.add(Ask(client.conn, change))
    else:
        _notice(state, client, "Syntax: CERT ADD [fingerprint] | CERT DEL <fingerprint> | LIST")


def _ghost(state: ServerState, client: Client, nick: str) -> None:
    target = state.network.user(nick)
    mine = client.account is not None and (
        target is not None
        and (target.account_id == client.account_id or casefold(nick) == casefold(client.account))
    )
    if target is not None and target.origin is not None:
        _notice(state, client, f"{nick} is on another server of the network: ghost it there")
        return
    if target is None or target is client or not mine:
        _notice(state, client, f"You may not ghost {nick}")
        return
    state.forget(target, f"Killed (GHOST used by {client.nick})")
    state.replies.close(target.conn, "Closing link: GHOST used by the account's owner")
    _notice(state, client, f"{nick} has been disconnected")


def show_answer(
    state: ServerState, client: Client, question: AccountQuestion, reply: AccountReply
) -> None:
    """The accounts service answered a NickServ command of ``client``."""
    account = reply.account
    if isinstance(question, Login):
        if account is None:
            state.accounts.failed(client.host, question.name)
            _notice(state, client, "Invalid account or password")
        else:
            login(state, client, account)
            _notice(state, client, f"You are now identified for {account.name}")
    elif isinstance(question, Register):
        if account is None:
            _notice(state, client, f"{question.name} is already registered")
        else:
            state.accounts.names.add(casefold(account.name))
            login(state, client, account)
            _notice(state, client, f"Registered {account.name}; e-mail is never verified here")
    elif isinstance(question, Drop):
        _dropped(state, client, question.account_id)
    elif isinstance(question, SetPassword):
        _notice(state, client, "Password changed" if account else "No such account any more")
    elif isinstance(question, CertChange):
        _notice(state, client, "Certificates: " + (" ".join(account.certfps) if account else "-"))
    elif isinstance(question, Lookup) and question.purpose == "certlist":
        certs = account.certfps if account is not None else ()
        _notice(state, client, "Certificates: " + (" ".join(certs) or "none"))
    elif isinstance(question, Lookup):
        _info(state, client, question.name, account is not None, account.created if account else 0)


def show_failure(state: ServerState, client: Client) -> None:
    _notice(state, client, "Accounts are unavailable right now; try again later")


def _info(state: ServerState, client: Client, name: str, exists: bool, created: float) -> None:
    if not exists:
        _notice(state, client, f"{name} is not registered")
        return
    since = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%d %H:%M UTC")
    online = any(casefold(c.account or "") == casefold(name) for c in state.network.registered())
    _notice(state, client, f"{name} is registered since {since}; logged in now: {online}")


def _dropped(state: ServerState, client: Client, account_id: int) -> None:
    name = client.account or ""
    state.accounts.names.discard(casefold(name))
    founded = state.rooms.forget_account(account_id, name)
    for other in list(state.network.clients.values()):
        if other.account_id == account_id:
            logout(state, other)
    text = f"{name} has been dropped; its history stays with it"
    if founded:
        text += ". The rooms it founded are no longer registered: " + ", ".join(founded)
    _notice(state, client, text)


# -- nick protection ----------------------------------------------------------


def _reserved_for_other(state: ServerState, client: Client, nick: str) -> bool:
    key = casefold(nick)
    return state.accounts.is_registered(nick) and casefold(client.account or "") != key


def may_take(state: ServerState, client: Client, nick: str) -> bool:
    """Whether a registered client may change to ``nick`` (433 said if not).

    Not with strict protection and someone else's account name.
    """
    if state.config.nick_protection != "strict" or not _reserved_for_other(state, client, nick):
        return True
    text = "Nickname is reserved by an account; log in to use it"
    state.replies.numeric(client, rpl.ERR_NICKNAMEINUSE, nick, text)
    return False


def protect_nick(state: ServerState, client: Client) -> None:
    """Warn (or, strict, rename at once) a client that holds a reserved nick without its account."""
    mode = state.config.nick_protection
    # Cluster mode: a user of another node is that node's to warn and rename.
    if (
        mode == "off"
        or client.origin is not None
        or not _reserved_for_other(state, client, client.nick)
    ):
        client.nick_claim = None
        return
    if mode == "strict":
        _rename(state, client, "Strict nick protection")
        return
    if not client.registered:
        return  # warned after 001, when the client can read it
    delay = state.config.nick_protection_delay
    client.nick_claim = (casefold(client.nick), state.now() + delay)
    _notice(
        state,
        client,
        f"{client.nick} is a registered account. Log in (/msg NickServ IDENTIFY <password>)"
        f" within {delay:g} seconds, or you will be renamed.",
    )
    state.replies.add(Schedule(delay, Timer(client.conn, NICK_TIMER)))


def nick_timer(state: ServerState, client: Client) -> None:
    """The grace period is over: rename the client if it still holds the nick without login."""
    claim = client.nick_claim
    if claim is None or casefold(client.nick) != claim[0] or state.now() < claim[1]:
        return  # logged in, renamed, or warned again later (a later timer is due)
    client.nick_claim = None
    if _reserved_for_other(state, client, client.nick):
        _rename(state, client, "You did not log in in time")


def rename_shared(state: ServerState, client: Client, nick: str) -> bool:
    """NICK from one of several connections sharing a nick renames them all, as in Ergo.

    The nick is the person's: every session hears the NICK, and so does
    everyone who shares a channel with any of them, once. Someone else's
    account name is refused unless protection is off (a warning and a later
    rename would split the sessions). False if the nick is not shared.
    """
    sessions = state.network.sessions(client)
    if len(sessions) < 2:
        return False
    out = state.replies
    if state.config.nick_protection != "off" and _reserved_for_other(state, client, nick):
        text = "Nickname is reserved by an account; log in to use it"
        out.numeric(client, rpl.ERR_NICKNAMEINUSE, nick, text)
    elif nick == client.nick:
        pass
    elif not state.network.rename_shared(client, nick, state.now()):
        out.numeric(client, rpl.ERR_NICKNAMEINUSE, nick, "Nickname is already in use")
    else:
        change = out.event(client, "NICK", nick)
        targets = dict.fromkeys(session.conn for session in sessions)
        for session in sessions:
            session.nick = nick
            session.update_source()
            targets.update(dict.fromkeys(state.network.peers(session)))
        out.to(targets, change)
    return True


def sibling_in(state: ServerState, client: Client, channel: Channel) -> bool:
    """True if another connection sharing ``client``'s nick is in ``channel``."""
    return any(
        other is not client and other.conn in channel.members
        for other in state.network.sessions(client)
    )


def quit_shared(state: ServerState, client: Client, reason: str) -> bool:
    """One of several connections sharing a nick is going: the person stays.

    Its channels' members hear a PART only where no other of its connections
    is; nobody hears a QUIT. False if the nick is not shared (a plain QUIT).
    """
    if len(state.network.sessions(client)) < 2:
        return False
    out = state.replies
    for channel in client.channels.values():
        if not sibling_in(state, client, channel):
            event = out.event(client, "PART", channel.name, reason)
            out.to((conn for conn in channel.members if conn != client.conn), event)
    return True


def reclaim(state: ServerState, client: Client) -> None:
    """A client that logged in (SASL or PASS) while registering gets its account's nick.

    With multiclient it joins the account's connection already here, on
    whatever nick that one has now (Ergo's attach). Otherwise whoever holds
    the account's name (a ghost of the owner's last connection, or someone
    who took it meanwhile) is renamed to a Guest nick at once; ``GHOST``
    would disconnect it instead.
    """
    name = client.account
    if name is None or not client.has_nick:
        return
    if state.config.multiclient and (session := _attachable(state, client, name)) is not None:
        state.network.share_nick(client, session)  # phone and laptop: one person
        return
    if casefold(client.nick) == casefold(name):
        return
    holder = state.network.holder(name)
    if holder is not None and holder is not client:
        _rename(state, holder, f"{name} logged in from another connection")
    if state.network.take_nick(client, name, state.now()):
        client.nick = name


def _attachable(state: ServerState, client: Client, name: str) -> Client | None:
    """A connection of ``client``'s account to share a nick with: the one named for it, or any."""
    holder = state.network.holder(name)
    if holder is not None and holder is not client and holder.account_id == client.account_id:
        return holder
    return next(
        (
            other
            for other in state.network.registered()
            if other.account_id == client.account_id and other.origin is None
        ),
        None,
    )


def _rename(state: ServerState, client: Client, why: str) -> None:
    if state.nick_claims and client.registered:
        # Cluster mode: the guest nick must be the network's, and every node see the change.
        state.replies.add(Ask(client.conn, GuestNick(why)))
        return
    old = client.nick
    while True:
        guest = f"Guest{random.randrange(10_000, 100_000)}"
        if state.network.take_nick(client, guest, state.now()):
            break
    if client.registered:
        out = state.replies
        change = out.event(client, "NICK", guest)
        client.nick = guest
        client.update_source()
        out.to((client.conn, *state.network.peers(client)), change)
    else:
        client.nick = guest
    _notice(state, client, f"{why}: {old} belongs to an account, so you are now {guest}")

"""Server operators: OPER, KILL, WALLOPS, KLINE/DLINE/UNKLINE/UNDLINE and STATS k/d.

OPER asks a service to check the password (:class:`~..questions.PasswordCheck`:
scrypt, in a worker thread), so a login never stalls the room. Three wrong
passwords within a minute end the connection. Server bans take effect at
once on everyone they match, are checked again at registration, and are
saved in the database through :class:`~..questions.ServerBanChange`.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING, Final

from ..._irc import numerics as rpl
from ..._irc.masks import MAX_MASK_LENGTH, valid_mask
from ..advertised import KICK_LENGTH
from ..effects import Ask
from ..questions import PasswordCheck, Rehash, ServerBan, ServerBanChange
from ..registry import Commands
from ..replies import truncate

if TYPE_CHECKING:
    from ..._irc.wire import Message
    from ..machine import ServerState
    from ..model import Client

__all__ = ["answered", "commands", "refuse_banned", "rehashed"]

log = logging.getLogger("triochat.oper")

commands = Commands()

#: Failed OPER attempts allowed within :data:`_FAILURE_WINDOW` seconds before a disconnect.
_MAX_FAILURES: Final = 3
_FAILURE_WINDOW: Final = 60.0
_KINDS: Final = {"KLINE": "K", "DLINE": "D"}
_NAMES: Final = {"K": "K-line", "D": "D-line"}


def _is_oper(state: ServerState, client: Client) -> bool:
    """True for a server operator; otherwise say so (481)."""
    if "o" in client.modes:
        return True
    state.replies.numeric(
        client, rpl.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator"
    )
    return False


@commands.command(
    "OPER",
    syntax="OPER name password",
    summary="Log in as a server operator (user mode +o).",
    min_params=2,
)
def oper(state: ServerState, client: Client, message: Message) -> None:
    name, password = message.params[0], message.params[1]
    hashed = dict(state.config.opers).get(name)
    if hashed is None:
        _failed(state, client, name)
        return
    state.replies.add(Ask(client.conn, PasswordCheck(name, password, hashed)))


def answered(
    state: ServerState, client: Client, question: PasswordCheck | ServerBanChange, ok: bool
) -> None:
    """A service answered: the password check of OPER, or the saving of a server ban."""
    out = state.replies
    if isinstance(question, ServerBanChange):
        if not ok:
            what = _NAMES[question.ban.kind]
            out.server_notice(
                client,
                client.nick,
                f"The {what} on {question.ban.mask} could not be saved: it lasts until a restart",
            )
        return
    if not ok:
        _failed(state, client, question.name)
        return
    client.oper = question.name
    client.oper_failures = ()
    log.info("OPER %s: %s from %s", question.name, client.nick, client.host)
    out.numeric(client, rpl.RPL_YOUREOPER, "You are now an IRC operator")
    if "o" not in client.modes:
        client.modes |= {"o"}
        state.network.modes_changed(client)
        out.send(client, out.event(client, "MODE", client.nick, "+o"))


@commands.command(
    "REHASH",
    syntax="REHASH",
    summary="Re-read the configuration file, dropping nobody (operators).",
)
def rehash(state: ServerState, client: Client, message: Message) -> None:
    if _is_oper(state, client):
        log.info("REHASH by %s (%s)", client.nick, client.oper)
        state.replies.numeric(client, rpl.RPL_REHASHING, "configuration", "Rehashing")
        state.replies.add(Ask(client.conn, Rehash()))


def rehashed(state: ServerState, client: Client, notes: list[str]) -> None:
    """What the reload REHASH asked for did, told to the oper who asked."""
    for note in notes or ["configuration re-read; nothing changed"]:
        state.replies.server_notice(client, client.nick, f"*** REHASH: {note}")


def _failed(state: ServerState, client: Client, name: str) -> None:
    now = state.now()
    log.warning("failed OPER %s by %s from %s", name, client.nick, client.host)
    state.replies.numeric(client, rpl.ERR_PASSWDMISMATCH, "Password incorrect")
    recent = [at for at in client.oper_failures if at > now - _FAILURE_WINDOW]
    recent.append(now)
    client.oper_failures = tuple(recent)
    if len(recent) >= _MAX_FAILURES:
        _remove(state, client, "Too many failed OPER attempts")


def _remove(state: ServerState, client: Client, reason: str) -> None:
    """Take ``client`` off the server: its peers see it QUIT with ``reason``."""
    state.forget(client, reason)
    state.replies.close(client.conn, f"Closing link: {reason}")


@commands.command(
    "KILL",
    syntax="KILL nick :reason",
    summary="Disconnect someone from the server (operators).",
    min_params=2,
)
def kill(state: ServerState, client: Client, message: Message) -> None:
    if not _is_oper(state, client):
        return
    target = state.network.user(message.params[0])
    if target is None:
        state.replies.numeric(client, rpl.ERR_NOSUCHNICK, message.params[0], "No such nick/channel")
        return
    reason = truncate(message.params[1], KICK_LENGTH)
    log.info("KILL %s by %s: %s", target.nick, client.nick, reason)
    state.replies.send(target, state.replies.event(client, "KILL", target.nick, reason))
    _remove(state, target, f"Killed ({client.nick} ({reason}))")


@commands.command(
    "WALLOPS",
    syntax="WALLOPS :text",
    summary="Send a message to every user with mode +w (operators).",
    min_params=1,
)
def wallops(state: ServerState, client: Client, message: Message) -> None:
    if not _is_oper(state, client):
        return
    readers = (user.conn for user in state.network.registered() if "w" in user.modes)
    state.replies.to(readers, state.replies.event(client, "WALLOPS", message.params[0]))


def _ban_arguments(params: tuple[str, ...]) -> tuple[str, float | None, str] | None:
    """(mask, minutes or None, reason) of ``KLINE [minutes] mask [minutes] :reason``."""
    words = list(params)
    minutes: float | None = None
    if words and words[0].isdigit():
        minutes = float(words.pop(0))
    if not words:
        return None
    mask = words.pop(0)
    if words and words[0].isdigit() and len(words) > 1:
        minutes = float(words.pop(0))
    reason = words[0] if words else "No reason given"
    return mask, minutes or None, reason


def _valid_ban_mask(kind: str, mask: str) -> str | None:
    """The mask to store for a K-line (``user@host``) or D-line (IP, CIDR), or None."""
    if len(mask) > MAX_MASK_LENGTH:
        return None
    if kind == "D":
        try:
            network = ipaddress.ip_network(mask, strict=False)
        except ValueError:
            return None
        return str(network) if network.prefixlen else None  # never the whole Internet
    if "@" not in mask:
        mask = f"*@{mask}"
    if not mask.strip("*?@."):  # "*@*" would ban everyone, the operator too
        return None
    return mask if valid_mask(mask) and "!" not in mask else None


@commands.command(
    "KLINE",
    syntax="KLINE [minutes] user@host :reason",
    summary="Ban a user@host mask from the server, for good or for some minutes (operators).",
    min_params=1,
)
def kline(state: ServerState, client: Client, message: Message) -> None:
    _add_ban(state, client, message)


commands.alias(
    "DLINE",
    "KLINE",
    syntax="DLINE [minutes] ip[/bits] :reason",
    summary="Ban an address or network from the server (operators).",
)


def _add_ban(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    if not _is_oper(state, client):
        return
    kind = _KINDS[message.command]
    arguments = _ban_arguments(message.params)
    if arguments is None:
        out.numeric(client, rpl.ERR_NEEDMOREPARAMS, message.command, "Not enough parameters")
        return
    raw, minutes, reason = arguments
    mask = _valid_ban_mask(kind, raw)
    if mask is None:
        out.server_notice(client, client.nick, f"{message.command}: invalid mask {raw[:60]!r}")
        return
    now = state.now()
    reason = truncate(reason, 200)
    expires = now + minutes * 60 if minutes else None
    ban = ServerBan(kind, mask, reason, client.nick, now, expires)
    state.server_bans.add(ban)
    log.info("%s %s by %s: %s", message.command, mask, client.nick, reason)
    lasting = f"for {minutes:g} minute(s)" if minutes else "until removed"
    out.server_notice(client, client.nick, f"Added {_NAMES[kind]} on {mask} {lasting}: {reason}")
    out.add(Ask(client.conn, ServerBanChange(ban)))
    for user in list(state.network.registered()):
        if state.server_bans.matching(user, now) is ban:
            _remove(state, user, f"{_NAMES[kind]}d: {reason}")


@commands.command(
    "UNKLINE",
    syntax="UNKLINE user@host",
    summary="Lift a K-line (operators).",
    min_params=1,
)
def unkline(state: ServerState, client: Client, message: Message) -> None:
    _remove_ban(state, client, message)


commands.alias(
    "UNDLINE", "UNKLINE", syntax="UNDLINE ip[/bits]", summary="Lift a D-line (operators)."
)


def _remove_ban(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    if not _is_oper(state, client):
        return
    kind = _KINDS[message.command.removeprefix("UN")]
    mask = _valid_ban_mask(kind, message.params[0]) or message.params[0]
    ban = state.server_bans.remove(kind, mask)
    if ban is None:
        out.server_notice(client, client.nick, f"No {_NAMES[kind]} on {mask[:60]}")
        return
    log.info("%s %s by %s", message.command, mask, client.nick)
    out.server_notice(client, client.nick, f"Removed {_NAMES[kind]} on {ban.mask}")
    out.add(Ask(client.conn, ServerBanChange(ban, removed=True)))


@commands.command(
    "STATS",
    syntax="STATS k|d|o|u",
    summary="The K-lines (k), D-lines (d) or operators (o) (operators); the uptime (u).",
    min_params=1,
)
def stats(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    letter = message.params[0][:1]
    query = letter.lower()
    if query in ("k", "d"):
        if not _is_oper(state, client):
            return
        kind = letter.upper()
        code = rpl.RPL_STATSKLINE if kind == "K" else rpl.RPL_STATSDLINE
        for ban in state.server_bans.active(kind, state.now()):
            out.numeric(client, code, kind, ban.mask, ban.reason)
    elif query == "o":
        if not _is_oper(state, client):
            return
        for name, _hash in state.config.opers:  # the hash never leaves the server
            out.numeric(client, rpl.RPL_STATSOLINE, "O", "*", "*", name)
    elif query == "u":
        out.numeric(
            client, rpl.RPL_STATSUPTIME, f"Server Up {_uptime(state.now() - state.created)}"
        )
    out.numeric(client, rpl.RPL_ENDOFSTATS, letter or "*", "End of /STATS report")


def _uptime(seconds: float) -> str:
    """``2 days 3:04:05``, the shape servers have always answered STATS u with."""
    minutes, secs = divmod(max(0, int(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days} days {hours}:{minutes:02d}:{secs:02d}"


def refuse_banned(state: ServerState, client: Client) -> bool:
    """At registration: refuse (465, then ERROR) a client a server ban matches."""
    ban = state.server_bans.matching(client, state.now())
    if ban is None:
        return False
    state.replies.numeric(
        client, rpl.ERR_YOUREBANNEDCREEP, f"You are banned from this server: {ban.reason}"
    )
    state.replies.close(client.conn, f"Closing link: {_NAMES[ban.kind]}d: {ban.reason}")
    return True

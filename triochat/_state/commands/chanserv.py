"""ChanServ, the server's pseudo-user for registered rooms.

``/msg ChanServ REGISTER|DROP|INFO|OP|VOICE|ACCESS|HELP`` is answered with
NOTICEs from ``ChanServ``, like NickServ (:mod:`.services`). A room is
registered by a channel operator who is logged in; that account is its
founder. What a registered room keeps, and how it comes back, is in
:mod:`..rooms`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Literal

from ..._accounts.rooms import (
    ACCESS_LEVELS,
    AccessEntry,
    Room,
    RoomDrop,
    RoomRegister,
    RoomSave,
)
from ..._irc.names import casefold, valid_nick
from ..._irc.wire import Message
from ..effects import Ask
from ..registry import Commands
from ..rooms import chanserv_source, granted_status, snapshot

if TYPE_CHECKING:
    from ..._accounts.rooms import RoomQuestion, RoomReply
    from ..machine import ServerState
    from ..model import Channel, Client

__all__ = ["chanserv", "commands", "show_answer", "show_failure"]

commands = Commands()

#: The most entries of one room's access list.
MAX_ACCESS: Final = 100

_HELP: Final = (
    "ChanServ keeps registered rooms; every command goes in /msg ChanServ ...",
    "REGISTER <#room>             register a room you operate (log in first); you are its founder",
    "DROP <#room>                 unregister it (founder only)",
    "INFO <#room>                 who founded it, and since when",
    "OP|VOICE <#room> <nick>      give a member operator status or voice now, this once:"
    " it is not remembered",
    "ACCESS <#room> ADD <account> <op|voice>   remembered: that account gets the status at"
    " every join, across restarts",
    "ACCESS <#room> DEL <account> | LIST       take it back; who has what",
    "A registered room keeps its topic, modes, key, limit and lists when it empties and across"
    " restarts.",
)


def _notice(state: ServerState, client: Client, text: str) -> None:
    state.replies.send(client, Message("NOTICE", (client.nick, text), chanserv_source(state)))


@commands.command(
    "CHANSERV",
    syntax="CHANSERV command [arguments]",
    summary="Talk to ChanServ (the same as /msg ChanServ ...).",
    needs="accounts",
)
def chanserv_command(state: ServerState, client: Client, message: Message) -> None:
    chanserv(state, client, " ".join(message.params))


commands.alias("CS", "CHANSERV", syntax="CS command [arguments]", summary="Short for CHANSERV.")


def chanserv(state: ServerState, client: Client, text: str) -> None:
    """One ChanServ command."""
    words = text.split()
    command = words[0].upper() if words else "HELP"
    args = words[1:]
    if not state.config.accounts:
        _notice(state, client, "Accounts are off on this server")
    elif command == "REGISTER" and len(args) == 1:
        _register(state, client, args[0])
    elif command == "DROP" and len(args) == 1:
        _drop(state, client, args[0])
    elif command == "INFO" and len(args) == 1:
        _info(state, client, args[0])
    elif command in ("OP", "VOICE") and len(args) == 2:
        _give(state, client, args[0], args[1], "o" if command == "OP" else "v")
    elif command == "ACCESS" and len(args) >= 2:
        _access(state, client, args[0], args[1].upper(), args[2:])
    else:
        for line in _HELP:
            _notice(state, client, line)


def _register(state: ServerState, client: Client, name: str) -> None:
    if client.account is None or client.account_id is None:
        _notice(state, client, "Log in first (/msg NickServ IDENTIFY <password>)")
        return
    channel = state.network.channel(name)
    if channel is None or "o" not in channel.members.get(client.conn, ""):
        _notice(state, client, f"You must be a channel operator in {name} to register it")
        return
    if state.rooms.get(name) is not None:
        _notice(state, client, f"{channel.name} is already registered")
        return
    room = Room(channel.name, client.account, client.account_id, state.now())
    room = snapshot(room, channel)
    state.rooms.put(room)  # at once: a JOIN a moment later already sees it
    state.replies.add(Ask(client.conn, RoomRegister(room)))


def _founded(state: ServerState, client: Client, name: str) -> Room | None:
    """The registered room ``name`` if ``client`` is logged in as its founder; else say why."""
    room = state.rooms.get(name)
    if room is None:
        _notice(state, client, f"{name} is not registered")
    elif client.account_id is None or client.account_id != room.founder_id:
        _notice(state, client, f"Only the founder of {room.name} may do that")
    else:
        return room
    return None


def _drop(state: ServerState, client: Client, name: str) -> None:
    room = _founded(state, client, name)
    if room is not None:
        state.rooms.drop(room.name)
        state.replies.add(Ask(client.conn, RoomDrop(room.name)))


def _info(state: ServerState, client: Client, name: str) -> None:
    room = state.rooms.get(name)
    if room is None:
        _notice(state, client, f"{name} is not registered")
        return
    since = datetime.fromtimestamp(room.registered, UTC).strftime("%Y-%m-%d %H:%M UTC")
    _notice(state, client, f"{room.name} is registered to {room.founder} since {since}")
    _notice(state, client, f"Access list: {len(room.access)} entries")


def _give(state: ServerState, client: Client, name: str, nick: str, status: str) -> None:
    """OP/VOICE: a founder or access-list operator gives a member a status now."""
    room = state.rooms.get(name)
    channel = state.network.channel(name)
    if room is None:
        _notice(state, client, f"{name} is not registered")
        return
    if granted_status(room, client) != "o":
        _notice(state, client, f"You need operator access to {room.name}")
        return
    target = state.network.holder(nick)
    if channel is None or target is None or target.conn not in channel.members:
        _notice(state, client, f"{nick} is not in {room.name}")
        return
    if status not in channel.members[target.conn]:
        channel.members[target.conn] += status
        mode = Message("MODE", (channel.name, "+" + status, target.nick), chanserv_source(state))
        state.replies.to_channel(channel, mode)


def _access(state: ServerState, client: Client, name: str, action: str, args: list[str]) -> None:
    room = state.rooms.get(name)
    if action == "LIST":
        if room is not None and granted_status(room, client) != "o":
            _notice(state, client, f"You need operator access to {room.name}")
        elif room is not None:
            for entry in room.access:
                _notice(state, client, f"{room.name}: {entry.account} {entry.level}")
            _notice(state, client, f"End of the access list of {room.name}")
        else:
            _notice(state, client, f"{name} is not registered")
        return
    if action not in ("ADD", "DEL") or not args or (action == "ADD") != (len(args) == 2):
        _notice(state, client, "Syntax: ACCESS <#room> ADD <account> <op|voice> | DEL <account>")
        return
    room = _founded(state, client, name)
    if room is None:
        return
    account = args[0]
    others = tuple(e for e in room.access if casefold(e.account) != casefold(account))
    if action == "DEL":
        if len(others) == len(room.access):
            _notice(state, client, f"{account} is not on the access list of {room.name}")
            return
        _changed(state, client, replace(room, access=others), f"{account} removed")
        return
    level = args[1].lower()
    if level not in ACCESS_LEVELS:
        _notice(state, client, f"Unknown level {args[1]}: use op or voice")
    elif not valid_nick(account) or not state.accounts.is_registered(account):
        _notice(state, client, f"{account} is not a registered account")
    elif len(others) >= MAX_ACCESS:
        _notice(state, client, f"The access list of {room.name} is full ({MAX_ACCESS})")
    else:
        entry = AccessEntry(account, _level(level))
        _changed(state, client, replace(room, access=(*others, entry)), f"{account} is {level}")


def _level(level: str) -> Literal["op", "voice"]:
    return "op" if level == "op" else "voice"


def _changed(state: ServerState, client: Client, room: Room, what: str) -> None:
    channel: Channel | None = state.network.channel(room.name)
    if channel is not None:
        room = snapshot(room, channel)
    state.rooms.put(room)
    state.replies.add(Ask(client.conn, RoomSave(room)))
    _notice(state, client, f"{room.name}: {what}")


def show_answer(
    state: ServerState, client: Client, question: RoomQuestion, reply: RoomReply
) -> None:
    """The store answered a ChanServ change of ``client``."""
    if isinstance(question, RoomRegister):
        room = question.room
        if reply.ok:
            _notice(state, client, f"{room.name} is registered to {room.founder}")
        else:
            _notice(state, client, f"{room.name} is already registered")
    elif isinstance(question, RoomDrop):
        _notice(state, client, f"{question.name} has been dropped" if reply.ok else "Not dropped")


def show_failure(state: ServerState, client: Client, question: RoomQuestion) -> None:
    """The database failed: a registration is undone; a save is kept in memory only."""
    if isinstance(question, RoomRegister):
        state.rooms.drop(question.room.name)
        _notice(state, client, f"{question.room.name} could not be registered; try again later")
    else:
        _notice(state, client, "Registered rooms are unavailable right now; not saved")

"""Registered rooms in the state: kept between JOINs, restored, saved when they change.

The registered rooms are preloaded at start (like the account names), so a
JOIN that re-creates a registered room restores its topic, modes and lists
without asking anyone. A change to a registered room is saved with an
:class:`~.effects.Ask` (only the member who changed it waits for the disk).
ChanServ's commands are in :mod:`.commands.chanserv`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Final

from .._accounts.rooms import ListEntry, RoomSave, after_account_dropped
from .._irc.names import casefold
from .._irc.wire import Message
from .access import MaskEntry, MaskList
from .effects import Ask
from .model import Channel

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .._accounts.rooms import Room
    from .machine import ServerState
    from .model import Client

__all__ = [
    "CHANSERV",
    "Rooms",
    "changed",
    "chanserv_source",
    "granted_status",
    "joined",
    "prepared",
    "restore",
    "snapshot",
]

CHANSERV: Final = "ChanServ"


def chanserv_source(state: ServerState) -> str:
    return service_source(state, CHANSERV)


def service_source(state: ServerState, nick: str) -> str:
    """``nick!nick@server``: how a service pseudo-user (NickServ, ChanServ) signs its lines."""
    return f"{nick}!{nick}@{state.config.server_name}"


class Rooms:
    """The registered rooms, by casefolded name."""

    def __init__(self) -> None:
        self.registered: dict[str, Room] = {}

    def preload(self, rooms: Iterable[Room]) -> None:
        for room in rooms:
            self.put(room)

    def get(self, name: str) -> Room | None:
        return self.registered.get(casefold(name))

    def put(self, room: Room) -> None:
        self.registered[casefold(room.name)] = room

    def drop(self, name: str) -> None:
        self.registered.pop(casefold(name), None)

    def forget_account(self, founder_id: int, account: str) -> list[str]:
        """An account was dropped: unregister the rooms it founded (their names, sorted) and
        take it off every access list, as the store did."""
        key = casefold(account)
        founded = []
        for room in list(self.registered.values()):
            after = after_account_dropped(room, founder_id, key)
            if after is None:
                founded.append(room.name)
                self.drop(room.name)
            elif after is not room:
                self.put(after)
        return sorted(founded)


def snapshot(room: Room, channel: Channel) -> Room:
    """``room`` with the channel's current topic, modes and lists (as they are saved)."""
    lists = tuple(
        ListEntry(letter, entry.mask, entry.set_by, entry.set_at)
        for letter in sorted(channel.lists)
        for entry in channel.lists[letter]
    )
    return replace(
        room,
        topic=channel.topic,
        topic_by=channel.topic_by,
        topic_at=channel.topic_at,
        modes="".join(sorted(channel.modes)),
        key=channel.key,
        limit=channel.limit,
        lists=lists,
    )


def restore(room: Room, channel: Channel) -> None:
    """Put the saved topic, modes and lists of ``room`` back on a re-created ``channel``."""
    channel.topic, channel.topic_by, channel.topic_at = room.topic, room.topic_by, room.topic_at
    channel.modes = set(room.modes)
    channel.key, channel.limit = room.key, room.limit
    channel.lists.clear()
    channel.banned.clear()
    for entry in room.lists:
        masks = channel.lists.setdefault(entry.letter, MaskList())
        masks.add(MaskEntry(entry.mask, entry.set_by, entry.set_at))


def prepared(state: ServerState, name: str) -> Channel | None:
    """What a JOIN would re-create for registered room ``name`` (to judge the JOIN against)."""
    room = state.rooms.get(name)
    if room is None:
        return None
    channel = Channel(room.name, state.now())
    restore(room, channel)
    return channel


def granted_status(room: Room, client: Client) -> str:
    """``client``'s status in ``room``: ``o`` (founder, access op), ``v`` or ``""``."""
    if client.account is None:
        return ""
    if client.account_id == room.founder_id:
        return "o"
    account = casefold(client.account)
    for entry in room.access:
        if casefold(entry.account) == account:
            return "o" if entry.level == "op" else "v"
    return ""


def joined(state: ServerState, client: Client, channel: Channel, *, created: bool) -> None:
    """``client`` just joined ``channel``: restore a re-created registered room, give status.

    Whoever re-creates a registered room is not its operator by that alone:
    only the founder and the access list get a status, and ChanServ says so.
    """
    room = state.rooms.get(channel.name)
    if room is None:
        return
    if created:
        restore(room, channel)
        channel.members[client.conn] = ""
    status = granted_status(room, client)
    if status and status not in channel.members[client.conn]:
        channel.members[client.conn] += status
        mode = Message("MODE", (channel.name, "+" + status, client.nick), chanserv_source(state))
        state.replies.to_channel(channel, mode)


def changed(state: ServerState, client: Client, channel: Channel) -> None:
    """``client`` changed the topic, modes or lists of ``channel``: save it if registered."""
    room = state.rooms.get(channel.name)
    if room is None:
        return
    room = snapshot(room, channel)
    state.rooms.put(room)
    state.replies.add(Ask(client.conn, RoomSave(room)))

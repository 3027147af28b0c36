"""Registered rooms as pure data: what ChanServ keeps, what the state asks the store.

A registered room outlives its members: its topic, modes, mask lists and
access list are kept here (and in the database, :mod:`.roomstore`), and put
back when a JOIN creates the room again. No I/O and no trio here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, Literal, TypeAlias

from .._irc.names import casefold

__all__ = [
    "ACCESS_LEVELS",
    "ROOM_QUESTIONS",
    "AccessEntry",
    "ListEntry",
    "Room",
    "RoomDrop",
    "RoomQuestion",
    "RoomRegister",
    "RoomReply",
    "RoomSave",
]

#: Access levels, as ``ACCESS ADD`` takes them: the status given on join.
ACCESS_LEVELS: Final = {"op": "o", "voice": "v"}


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One entry of a ``+b``/``+e``/``+I`` list, as saved."""

    letter: str
    mask: str
    set_by: str
    set_at: int


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """An account given a status in the room on every join (``op`` or ``voice``)."""

    account: str
    level: Literal["op", "voice"]


@dataclass(frozen=True, slots=True)
class Room:
    """A registered room: who founded it and what it looks like when it is (re)created.

    ``founder_id`` is the founder's account id (an account dropped and
    registered again by someone else does not inherit the room).
    """

    name: str
    founder: str
    founder_id: int
    registered: float
    topic: str = ""
    topic_by: str = ""
    topic_at: float = 0.0
    #: Flag letters (``"int"``); the key and limit apart.
    modes: str = "nt"
    key: str | None = None
    limit: int | None = None
    lists: tuple[ListEntry, ...] = ()
    access: tuple[AccessEntry, ...] = ()


def after_account_dropped(room: Room, founder_id: int, account_key: str) -> Room | None:
    """``room`` once account ``founder_id`` (casefolded name ``account_key``) is dropped:
    None if that account founded it (it is no longer registered), else ``room`` without
    the account on its access list (whoever registers the name next inherits nothing)."""
    if room.founder_id == founder_id:
        return None
    kept = tuple(entry for entry in room.access if casefold(entry.account) != account_key)
    return room if len(kept) == len(room.access) else replace(room, access=kept)


@dataclass(frozen=True, slots=True)
class RoomRegister:
    """Store a new registered room; refused (``ok`` False) if it is registered already."""

    room: Room


@dataclass(frozen=True, slots=True)
class RoomSave:
    """Replace what is stored of a registered room (topic, modes, lists or access changed)."""

    room: Room


@dataclass(frozen=True, slots=True)
class RoomDrop:
    """Forget the registered room called ``name``."""

    name: str


RoomQuestion: TypeAlias = "RoomRegister | RoomSave | RoomDrop"
#: The same kinds, for ``isinstance``.
ROOM_QUESTIONS: Final = (RoomRegister, RoomSave, RoomDrop)


@dataclass(frozen=True, slots=True)
class RoomReply:
    """Whether the store did what was asked."""

    ok: bool

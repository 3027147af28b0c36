"""The registered-room tables against a real SQLite file: what a restart finds."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from triochat._accounts.rooms import (
    AccessEntry,
    ListEntry,
    Room,
    RoomDrop,
    RoomRegister,
    RoomReply,
    RoomSave,
)
from triochat._accounts.store import AccountStore

if TYPE_CHECKING:
    from pathlib import Path

ROOM = Room(
    "#Room",
    "alice",
    1,
    1700000000.0,
    topic="hello",
    topic_by="alice!a@h",
    topic_at=1700000001.0,
    modes="iRst",
    key="k3y",
    limit=25,
    lists=(ListEntry("b", "$a:troll", "alice", 5), ListEntry("I", "*!*@friend", "alice", 6)),
    access=(AccessEntry("bob", "voice"),),
)


def test_a_registered_room_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    store = AccountStore(path)
    assert store.rooms.answer(RoomRegister(ROOM)) == RoomReply(ok=True)
    assert store.rooms.answer(RoomRegister(ROOM)) == RoomReply(ok=False)  # registered once
    store.close()
    again = AccountStore(path)
    assert again.rooms.all() == [ROOM]
    changed = Room("#room", "alice", 1, ROOM.registered, access=(AccessEntry("dave", "op"),))
    assert again.rooms.answer(RoomSave(changed)) == RoomReply(ok=True)
    again.close()
    third = AccountStore(path)
    [room] = third.rooms.all()
    assert room == changed
    assert third.rooms.answer(RoomDrop("#ROOM")) == RoomReply(ok=True)
    assert third.rooms.all() == []
    assert third.rooms.answer(RoomSave(changed)) == RoomReply(ok=False)  # raced a DROP
    assert third.rooms.answer(RoomDrop("#room")) == RoomReply(ok=False)
    third.close()


def test_an_accounts_database_from_before_rooms_gains_the_tables(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT)")
    old.commit()
    old.close()
    store = AccountStore(path)
    assert store.rooms.all() == []
    assert store.rooms.answer(RoomRegister(ROOM)).ok
    store.close()

"""The ``registered_channels`` and ``channel_access`` tables, beside the accounts.

They share the accounts' SQLite connection (:class:`~.store.AccountStore`
creates them on open, so an older database gains them on the next start) and
are called from the same worker thread, one call at a time. Mask lists are
kept as JSON in the room's row: they are always read and written whole.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any, Final

from .._irc.names import casefold
from .rooms import AccessEntry, ListEntry, Room, RoomDrop, RoomRegister, RoomReply

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .rooms import RoomQuestion

__all__ = ["ROOM_SCHEMA", "RoomStore"]

ROOM_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS registered_channels (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    founder TEXT NOT NULL,
    founder_id INTEGER NOT NULL,
    registered REAL NOT NULL,
    topic TEXT NOT NULL DEFAULT '',
    topic_by TEXT NOT NULL DEFAULT '',
    topic_at REAL NOT NULL DEFAULT 0,
    modes TEXT NOT NULL DEFAULT 'nt',
    channel_key TEXT,
    channel_limit INTEGER,
    lists TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS channel_access (
    channel TEXT NOT NULL,
    account_key TEXT NOT NULL,
    account TEXT NOT NULL,
    level TEXT NOT NULL,
    PRIMARY KEY (channel, account_key)
);
"""
_COLUMNS: Final = (
    "key, name, founder, founder_id, registered, topic, topic_by, topic_at, modes,"
    " channel_key, channel_limit, lists"
)


class RoomStore:
    """Registered rooms in the accounts database; synchronous, one caller at a time."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def answer(self, question: RoomQuestion) -> RoomReply:
        """Do what ``question`` asks (the service calls this in its database thread)."""
        if isinstance(question, RoomDrop):
            return RoomReply(self.drop(question.name))
        if isinstance(question, RoomRegister):
            return RoomReply(self.save(question.room, new=True))
        return RoomReply(self.save(question.room, new=False))

    def save(self, room: Room, *, new: bool) -> bool:
        """Write ``room`` and its access list; False if ``new`` and it exists (or if not
        ``new`` and it does not: a save that raced a DROP stores nothing)."""
        key = casefold(room.name)
        lists = json.dumps([[e.letter, e.mask, e.set_by, e.set_at] for e in room.lists])
        values = (
            room.name,
            room.founder,
            room.founder_id,
            room.registered,
            room.topic,
            room.topic_by,
            room.topic_at,
            room.modes,
            room.key,
            room.limit,
            lists,
        )
        with self._db:
            if new:
                try:
                    self._db.execute(
                        f"INSERT INTO registered_channels ({_COLUMNS})"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (key, *values),
                    )
                except sqlite3.IntegrityError:
                    return False
            else:
                cursor = self._db.execute(
                    "UPDATE registered_channels SET name = ?, founder = ?, founder_id = ?,"
                    " registered = ?, topic = ?, topic_by = ?, topic_at = ?, modes = ?,"
                    " channel_key = ?, channel_limit = ?, lists = ? WHERE key = ?",
                    (*values, key),
                )
                if cursor.rowcount == 0:
                    return False
            self._db.execute("DELETE FROM channel_access WHERE channel = ?", (key,))
            self._db.executemany(
                "INSERT INTO channel_access (channel, account_key, account, level)"
                " VALUES (?, ?, ?, ?)",
                [(key, casefold(a.account), a.account, a.level) for a in room.access],
            )
        return True

    def drop(self, name: str) -> bool:
        """Forget the room and its access list; False if it was not registered."""
        key = casefold(name)
        with self._db:
            self._db.execute("DELETE FROM channel_access WHERE channel = ?", (key,))
            cursor = self._db.execute("DELETE FROM registered_channels WHERE key = ?", (key,))
        return cursor.rowcount > 0

    def forget_account(self, founder_id: int, account_key: str) -> None:
        """Unregister the rooms ``founder_id`` founded and drop its access entries elsewhere.

        Runs inside the caller's transaction (:meth:`AccountStore.drop`).
        """
        founded = "SELECT key FROM registered_channels WHERE founder_id = ?"
        self._db.execute(f"DELETE FROM channel_access WHERE channel IN ({founded})", (founder_id,))
        self._db.execute("DELETE FROM registered_channels WHERE founder_id = ?", (founder_id,))
        self._db.execute("DELETE FROM channel_access WHERE account_key = ?", (account_key,))

    def all(self) -> list[Room]:
        """Every registered room, for the state to preload at start."""
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM registered_channels ORDER BY key")
        return [self._room(row) for row in rows.fetchall()]

    def _room(self, row: Sequence[Any]) -> Room:
        key, name, founder, founder_id, registered, topic, by, at, modes, ckey, limit, lists = row
        access = self._db.execute(
            "SELECT account, level FROM channel_access WHERE channel = ? ORDER BY account_key",
            (key,),
        )
        return Room(
            name,
            founder,
            int(founder_id),
            float(registered),
            topic,
            by,
            float(at),
            modes,
            ckey,
            None if limit is None else int(limit),
            tuple(ListEntry(*entry) for entry in json.loads(lists)),
            tuple(AccessEntry(account, level) for account, level in access),
        )

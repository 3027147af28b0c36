"""Chat history in SQLite: plain synchronous storage, one caller at a time.

:class:`HistoryStore` uses the stdlib ``sqlite3``: one table, WAL mode, one
transaction per batch of messages, and a query per ``CHATHISTORY``
subcommand. It knows nothing of trio and is tested against a real file; the
trio side that keeps it off the hot path is :mod:`.service`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .._state.questions import ServerBan
from .records import Bound, HistoryEntry, HistoryQuery

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["HistoryError", "HistoryStore"]

log = logging.getLogger("triochat.history")

T = TypeVar("T")

#: 1: messages. 2: server_bans (K-lines and D-lines), added on start to an older file.
SCHEMA_VERSION: Final = 2
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    msgid TEXT NOT NULL UNIQUE,
    key TEXT NOT NULL,
    target TEXT NOT NULL,
    source TEXT NOT NULL,
    command TEXT NOT NULL,
    text TEXT NOT NULL,
    sender_session TEXT,
    recipient_session TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_key_time ON messages (key, time);
CREATE INDEX IF NOT EXISTS messages_by_time ON messages (time);
CREATE TABLE IF NOT EXISTS server_bans (
    kind TEXT NOT NULL,
    mask TEXT NOT NULL,
    reason TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_at REAL NOT NULL,
    expires REAL,
    PRIMARY KEY (kind, mask)
);
"""
_COLUMNS: Final = (
    "time, msgid, key, target, source, command, text, sender_session, recipient_session"
)
#: Private rows are visible to their two sessions only; channel rows have no session.
_VISIBLE: Final = "(sender_session IS NULL OR :session IN (sender_session, recipient_session))"
#: Saves a JSON array of entries (each ``[time, msgid, key, target, source, command,
#: text, readers]``, readers null or ``[sender, recipient]``), keeping the array's order.
_INSERT_JSON: Final = f"""
INSERT OR IGNORE INTO messages ({_COLUMNS})
SELECT {", ".join(f"json_extract(row.value, '$[{n}]')" for n in range(7))},
    json_extract(row.value, '$[7][0]'), json_extract(row.value, '$[7][1]')
FROM json_each(?) AS row ORDER BY row.key
"""
#: Entries (named tuples) are JSON arrays as they are; they never hold cycles.
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, check_circular=False)
_FIRST: Final = (-1, -1)  # a position before every row
_LAST: Final = (1 << 62, 1 << 62)  # a position after every row

Position = tuple[int, int]  # (time, id): the order of messages, even at equal times


#: How long the writer lets messages gather before saving them in one transaction.
#: Long enough that a burst is saved in a few large groups (on a 2-core machine a
#: writer saving every 50 ms during a burst cost the fan-out 25-32%, every 0.5 s
#: 10%); a query or a shutdown cuts the wait short, so only a crash ever sees it.
GROUP_COMMIT_SECONDS: Final = 0.5


class HistoryError(Exception):
    """The history database cannot be opened or set up."""


class HistoryUnavailable(Exception):
    """A history query failed; the client is told, the chat goes on."""


def _entry(row: tuple[Any, ...]) -> HistoryEntry:
    """A row selected as ``_COLUMNS`` (and maybe more after them) as an entry."""
    time_ms, msgid, key, target, source, command, text, sender, recipient = row[:9]
    readers = None if sender is None else (sender, recipient)
    return HistoryEntry(time_ms, msgid, key, target, source, command, text, readers)


class HistoryStore:
    """The history table in one SQLite database; synchronous, one caller at a time.

    ``path`` is a file, or ``:memory:`` for history that lasts as long as the
    process. ``threaded`` says whether :class:`History` should run calls in
    a worker thread; by default only a file does (a memory database never
    waits for a disk).
    """

    def __init__(self, path: str, *, threaded: bool | None = None) -> None:
        self.path = path
        self.on_disk = path not in (":memory:", "")
        self.threaded = self.on_disk if threaded is None else threaded
        try:
            self._db = sqlite3.connect(path, timeout=5.0, check_same_thread=False)
        except sqlite3.Error as error:
            raise HistoryError(str(error)) from None
        try:
            self._set_up()
        except (sqlite3.Error, HistoryError) as error:
            self._db.close()
            raise HistoryError(str(error)) from None

    @classmethod
    def open(cls, path: str | Path, *, threaded: bool | None = None) -> HistoryStore:
        """Open (creating if needed) the database at ``path``; raise :class:`HistoryError`."""
        if str(path) not in (":memory:", "") and Path(path).is_dir():
            raise HistoryError("it is a directory")
        return cls(str(path), threaded=threaded)

    def _set_up(self) -> None:
        db = self._db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise HistoryError(f"it was made by a newer triochat (schema {version})")
        if self.on_disk:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise HistoryError(f"cannot use WAL mode (journal mode is {mode})")
        db.execute("PRAGMA synchronous=NORMAL")
        try:
            db.execute("SELECT json_extract('[1]', '$[0]')")  # batches are saved as JSON
        except sqlite3.OperationalError:
            raise HistoryError(f"SQLite {sqlite3.sqlite_version} lacks JSON functions") from None
        db.executescript(_SCHEMA)
        if version < SCHEMA_VERSION:
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        """Close the database (the last WAL connection to close checkpoints it)."""
        self._db.close()

    def interrupt(self) -> None:
        """Abort the statement running in another thread (it raises there); thread-safe."""
        self._db.interrupt()

    # -- writing ------------------------------------------------------------

    def append_many(self, entries: Sequence[HistoryEntry]) -> None:
        """Save ``entries`` in one transaction: all of them or, on error, none.

        The batch goes in as one JSON array, in one statement: ``sqlite3``
        lets go of the GIL for every step of a statement, and a thread that
        asks for it back while the event loop is busy waits up to the switch
        interval (5 ms) each time, so a row per step would crawl under load.
        """
        # Encoding holds the GIL (the event loop waits meanwhile): the entries go
        # as they are, without a tuple made per row first.
        rows = _ENCODER.encode(entries)
        with self._db:
            self._db.execute(_INSERT_JSON, (rows,))

    def prune(self, *, older_than_ms: int | None, max_per_key: int | None) -> int:
        """Delete what retention no longer keeps; return how many messages went."""
        deleted = 0
        with self._db:
            if older_than_ms is not None:
                cursor = self._db.execute("DELETE FROM messages WHERE time < ?", (older_than_ms,))
                deleted += cursor.rowcount
            if max_per_key is not None:
                cursor = self._db.execute(
                    """
                    DELETE FROM messages WHERE id IN (
                        SELECT id FROM (
                            SELECT id, ROW_NUMBER() OVER (
                                PARTITION BY key ORDER BY time DESC, id DESC
                            ) AS newer FROM messages
                        ) WHERE newer > ?
                    )
                    """,
                    (max_per_key,),
                )
                deleted += cursor.rowcount
        return deleted

    def save_server_ban(self, ban: ServerBan) -> None:
        """Keep ``ban`` (replacing one of the same kind and mask)."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO server_bans VALUES (?, ?, ?, ?, ?, ?)",
                (ban.kind, ban.mask, ban.reason, ban.set_by, ban.set_at, ban.expires),
            )

    def delete_server_ban(self, kind: str, mask: str) -> None:
        with self._db:
            self._db.execute("DELETE FROM server_bans WHERE kind = ? AND mask = ?", (kind, mask))

    def server_bans(self, now: float) -> list[ServerBan]:
        """The server bans still in force at ``now``, oldest first."""
        rows = self._db.execute(
            "SELECT kind, mask, reason, set_by, set_at, expires FROM server_bans"
            " WHERE expires IS NULL OR expires > ? ORDER BY set_at",
            (now,),
        )
        return [ServerBan(*row) for row in rows]

    # -- reading ------------------------------------------------------------

    def count(self) -> int:
        """How many messages are stored."""
        return int(self._db.execute("SELECT count(*) FROM messages").fetchone()[0])

    def recent_channel_messages(self, per_channel: int) -> list[HistoryEntry]:
        """The last ``per_channel`` messages of every channel, oldest first, for replay."""
        rows = self._db.execute(
            f"""
            SELECT {_COLUMNS} FROM (
                SELECT *, ROW_NUMBER() OVER (
                    PARTITION BY key ORDER BY time DESC, id DESC
                ) AS newer FROM messages WHERE sender_session IS NULL
            ) WHERE newer <= ? ORDER BY key, time, id
            """,
            (per_channel,),
        )
        return [_entry(row) for row in rows]

    def fetch(self, query: HistoryQuery) -> list[HistoryEntry]:
        """Answer a CHATHISTORY query, oldest first.

        For ``TARGETS``, the answer is the latest message of each conversation.
        """
        if query.subcommand == "TARGETS":
            return self._targets(query)
        key, session = query.keys[0], query.session
        first = self._locate(key, session, query.first)
        second = self._locate(key, session, query.second)
        if first is None or second is None:
            return []  # an unknown msgid: nothing is known around it
        select = partial(self._select, key, session)
        limit = query.limit
        match query.subcommand:
            case "LATEST":
                return select(first.after, _LAST, limit, newest=True)
            case "BEFORE":
                return select(_FIRST, first.before, limit, newest=True)
            case "AFTER":
                return select(first.after, _LAST, limit, newest=False)
            case "AROUND":
                before = select(_FIRST, first.before, limit // 2, newest=True)
                return before + select(first.at, _LAST, limit - len(before), newest=False)
            case _:  # BETWEEN, in either direction, both ends excluded
                if first.after <= second.after:
                    return select(first.after, second.before, limit, newest=False)
                return select(second.after, first.before, limit, newest=True)

    def _locate(self, key: str, session: str, bound: Bound) -> _Place | None:
        """Where ``bound`` falls among the rows of ``key`` (None: an unknown msgid)."""
        if bound.msgid is not None:
            row = self._db.execute(
                f"SELECT time, id FROM messages WHERE msgid = :msgid AND key = :key AND {_VISIBLE}",
                {"msgid": bound.msgid, "key": key, "session": session},
            ).fetchone()
            if row is None:
                return None
            time_ms, row_id = row
            return _Place(
                after=(time_ms, row_id), before=(time_ms, row_id), at=(time_ms, row_id - 1)
            )
        if bound.time_ms is not None:
            # Every id is at least 1: (t, 0) comes before, and (t, _LAST) after, any row at t.
            return _Place(
                after=(bound.time_ms, _LAST[1]),
                before=(bound.time_ms, 0),
                at=(bound.time_ms, 0),
            )
        return _Place(after=_FIRST, before=_LAST, at=_FIRST)

    def _select(
        self,
        key: str,
        session: str,
        after: Position,
        before: Position,
        limit: int,
        *,
        newest: bool,
    ) -> list[HistoryEntry]:
        """Up to ``limit`` rows strictly between two positions: the oldest, or the newest."""
        if limit <= 0:
            return []
        order = "DESC" if newest else "ASC"
        rows = self._db.execute(
            f"""
            SELECT {_COLUMNS} FROM messages
            WHERE key = :key AND {_VISIBLE}
              AND (time, id) > (:after_time, :after_id) AND (time, id) < (:before_time, :before_id)
            ORDER BY time {order}, id {order} LIMIT :limit
            """,
            {
                "key": key,
                "session": session,
                "after_time": after[0],
                "after_id": after[1],
                "before_time": before[0],
                "before_id": before[1],
                "limit": limit,
            },
        )
        entries = [_entry(row) for row in rows]
        if newest:
            entries.reverse()
        return entries

    def _targets(self, query: HistoryQuery) -> list[HistoryEntry]:
        """The latest message of each conversation with messages between two times."""
        first, second = query.first.time_ms, query.second.time_ms
        assert first is not None, "TARGETS takes two timestamps"
        assert second is not None, "TARGETS takes two timestamps"
        low, high = sorted((first, second))
        channels = ", ".join("?" * len(query.keys))
        # SQLite fills the bare columns of an aggregate query from the max() row.
        rows = self._db.execute(
            f"""
            SELECT {_COLUMNS}, max(time) FROM messages
            WHERE time > ? AND time < ?
              AND (key IN ({channels}) OR ? IN (sender_session, recipient_session))
            GROUP BY key ORDER BY max(time) {"ASC" if first <= second else "DESC"}, key
            LIMIT ?
            """,
            (low, high, *query.keys, query.session, query.limit),
        )
        return sorted((_entry(row) for row in rows), key=lambda entry: entry.time_ms)


@dataclass(frozen=True, slots=True)
class _Place:
    """Where a reference falls: rows after it are > ``after``, rows before it < ``before``.

    Rows at or after it are > ``at`` (AROUND includes the message it names).
    """

    after: Position
    before: Position
    at: Position

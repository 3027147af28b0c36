"""Chat history in SQLite, written off the hot path.

Two layers, like the rest of triochat:

* :class:`HistoryStore` is plain synchronous SQLite (stdlib ``sqlite3``): one
  table, WAL mode, one transaction per batch of messages, and a query per
  ``CHATHISTORY`` subcommand. It knows nothing of trio and is tested against
  a real file.
* :class:`History` is the trio side. The room hands it each message with
  :meth:`History.record`, a ``send_nowait`` into a bounded channel that
  never waits; one writer task takes everything queued and saves it in one
  worker-thread call. Every database call goes through one
  ``CapacityLimiter(1)``, so the connection is used by one thread at a time.
  Queries run in the requesting client's task only, and are interrupted
  (``sqlite3.Connection.interrupt``) if that client stops waiting. On
  shutdown, what is queued is flushed, within a bound, before the file is
  closed.

A failing database (read-only, full, corrupt) never stops the chat: the first
failure is logged clearly, the rest are counted, and recovery is logged too.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import trio

from .._irc.tags import milliseconds
from .._state.questions import ServerBan
from .records import Bound, HistoryEntry, HistoryQuery

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

__all__ = ["History", "HistoryError", "HistoryStore", "HistoryUnavailable"]

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
#: Saves a JSON array of rows (in ``_COLUMNS`` order), keeping the array's order.
_INSERT_JSON: Final = f"""
INSERT OR IGNORE INTO messages ({_COLUMNS})
SELECT {", ".join(f"json_extract(row.value, '$[{n}]')" for n in range(9))}
FROM json_each(?) AS row ORDER BY row.key
"""
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


def _row(entry: HistoryEntry) -> tuple[object, ...]:
    """An entry as the values of ``_COLUMNS``."""
    readers = entry.readers or (None, None)
    return (
        entry.time_ms,
        entry.msgid,
        entry.key,
        entry.target,
        entry.source,
        entry.command,
        entry.text,
        *readers,
    )


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
        rows = json.dumps([_row(entry) for entry in entries], ensure_ascii=False)
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


class _Trouble:
    """One way of failing: logged clearly the first time, then only counted until it recovers."""

    def __init__(self, failure: str, recovery: str) -> None:
        self._failure = failure
        self._recovery = recovery
        self.failing = False
        self.lost = 0

    def failed(self, error: object, *, lost: int = 0) -> None:
        if not self.failing:
            self.failing = True
            log.error(
                "%s: %s. The chat goes on; further failures are counted, not logged.",
                self._failure,
                error,
            )
        self.lost += lost

    def recovered(self) -> None:
        if self.failing:
            log.warning("%s (%d message(s) lost meanwhile)", self._recovery, self.lost)
            self.failing = False
            self.lost = 0


class History:
    """The trio side of a :class:`HistoryStore`: a writer task, queries, retention.

    Use :meth:`running` around the server's lifetime: it starts the writer
    (and the pruner, when a retention limit is set), and on the way out
    flushes what is queued, within ``flush_timeout`` seconds, then closes
    the store.
    """

    def __init__(
        self,
        store: HistoryStore,
        *,
        queue_size: int = 100_000,
        flush_timeout: float = 10.0,
        max_age: float | None = None,
        max_per_key: int | None = None,
        prune_interval: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._send, self._receive = trio.open_memory_channel[HistoryEntry](queue_size)
        #: Every database call holds it: one thread uses the connection at a time.
        self._limiter = trio.CapacityLimiter(1)
        self._flush_timeout = flush_timeout
        self._max_age = max_age
        self._max_per_key = max_per_key
        self._prune_interval = prune_interval
        self._clock = clock
        self._writer_scope = trio.CancelScope()
        #: Cancelled to save the group gathering now rather than at its deadline.
        self._gathering: trio.CancelScope | None = None
        self._accepted = 0  # messages queued so far
        self._settled = 0  # of those, how many the writer has saved or given up on
        self._progress = trio.Event()  # set (and replaced) whenever _settled grows
        #: Messages saved, and messages lost, since the start.
        self.saved = 0
        self.lost = 0
        where = store.path
        self._saving = _Trouble(f"cannot save messages to {where}", "saving messages works again")
        self._queueing = _Trouble(
            "the write queue is full, the database is too slow", "the write queue has room again"
        )
        self._reading = _Trouble(f"cannot read {where}", "reading history works again")
        self._pruning = _Trouble(f"cannot prune {where}", "pruning works again")

    # -- what the room calls --------------------------------------------------

    def record(self, entry: HistoryEntry) -> None:
        """Queue ``entry`` to be saved; never waits (a full queue drops it, and says so)."""
        try:
            self._send.send_nowait(entry)
        except trio.WouldBlock:
            self._lose(self._queueing, "queue full", 1)
        except trio.ClosedResourceError:
            self._lose(self._saving, "already shut down", 1)
        else:
            self._accepted += 1
            if self._queueing.failing:
                self._queueing.recovered()

    def _lose(self, trouble: _Trouble, why: object, count: int) -> None:
        trouble.failed(why, lost=count)
        self.lost += count

    async def fetch(self, query: HistoryQuery) -> list[HistoryEntry]:
        """Answer ``query`` once everything queued before it is saved.

        Runs in the asking client's task; if that task stops waiting, the
        statement is interrupted. Raises :class:`HistoryUnavailable`.
        """
        self._save_now()
        await self._caught_up(self._accepted)
        try:
            entries = await self._call(partial(self.store.fetch, query), interruptible=True)
        except sqlite3.Error as error:
            self._reading.failed(error)
            raise HistoryUnavailable(str(error)) from None
        self._reading.recovered()
        return entries

    async def recent_channel_messages(self, per_channel: int) -> list[HistoryEntry]:
        """The last messages of every channel, for the state's replay buffers."""
        try:
            return await self._call(partial(self.store.recent_channel_messages, per_channel))
        except sqlite3.Error as error:
            self._reading.failed(error)
            return []

    async def change_server_ban(self, ban: ServerBan, *, removed: bool) -> bool:
        """Save or delete ``ban``; False (and logged) when the database would not."""
        store = self.store
        work = (
            partial(store.delete_server_ban, ban.kind, ban.mask)
            if removed
            else partial(store.save_server_ban, ban)
        )
        try:
            await self._call(work)
        except sqlite3.Error as error:
            log.error("cannot save a server ban in %s: %s", store.path, error)
            return False
        return True

    async def server_bans(self) -> list[ServerBan]:
        """The server bans saved before, for the state at start."""
        try:
            return await self._call(partial(self.store.server_bans, self._clock()))
        except sqlite3.Error as error:
            self._reading.failed(error)
            return []

    # -- lifetime -------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Save (and prune) in the background while the body runs; flush and close after."""
        async with trio.open_nursery() as nursery:
            writer_done = trio.Event()
            await nursery.start(self._write_loop, writer_done)
            if self._max_age is not None or self._max_per_key is not None:
                nursery.start_soon(self._prune_loop)
            try:
                yield
            finally:
                with trio.CancelScope(shield=True):
                    await self._flush(writer_done)
                    nursery.cancel_scope.cancel()
                    await self._close()

    async def _flush(self, writer_done: trio.Event) -> None:
        """Let the writer save everything queued, for at most ``flush_timeout`` seconds."""
        self._send.close()
        self._save_now()
        with trio.move_on_after(self._flush_timeout):
            await writer_done.wait()
        if not writer_done.is_set():
            left = self._receive.statistics().current_buffer_used
            self._writer_scope.cancel()
            await writer_done.wait()  # at most the batch in flight
            self._lose(
                self._saving, f"shutdown flush timed out after {self._flush_timeout:g} s", left
            )
        if self.lost:
            log.error("%d message(s) were not saved", self.lost)
        log.info("%d message(s) saved to %s this run", self.saved, self.store.path)

    async def _close(self) -> None:
        try:
            await self._call(self.store.close)
        except sqlite3.Error as error:
            log.error("closing %s failed: %s", self.store.path, error)

    async def _write_loop(
        self,
        writer_done: trio.Event,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Save batches of whatever is queued until the queue is closed and empty.

        Shielded: a server that is cancelled still flushes (see :meth:`_flush`).
        """
        try:
            with self._writer_scope:
                self._writer_scope.shield = True
                task_status.started()
                async for first in self._receive:
                    # Group commit: let the messages of the next moment join this
                    # one, so that a steady trickle costs a thread round trip
                    # and a transaction per group, not per message.
                    with trio.move_on_after(GROUP_COMMIT_SECONDS) as self._gathering:
                        await trio.sleep_forever()
                    self._gathering = None
                    batch = [first]
                    while True:
                        try:
                            batch.append(self._receive.receive_nowait())
                        except (trio.WouldBlock, trio.EndOfChannel):
                            break
                    await self._save(batch)
        finally:
            writer_done.set()

    async def _save(self, batch: list[HistoryEntry]) -> None:
        try:
            await self._call(partial(self.store.append_many, batch))
        except Exception as error:  # whatever the database does, the room goes on
            self._lose(self._saving, error, len(batch))
        else:
            self.saved += len(batch)
            self._saving.recovered()
        finally:
            self._settled += len(batch)
            self._progress.set()
            self._progress = trio.Event()

    def _save_now(self) -> None:
        """End the group commit's wait: someone needs what is queued saved."""
        if self._gathering is not None:
            self._gathering.cancel()

    async def settled(self) -> None:
        """Wait until every message queued so far is saved (or given up on)."""
        await self._caught_up(self._accepted)

    async def _caught_up(self, accepted: int) -> None:
        """Wait until the first ``accepted`` messages are saved (or given up on)."""
        while self._settled < accepted:
            await self._progress.wait()

    async def _prune_loop(self) -> None:
        """Apply retention now and then; a pruning failure is logged once and retried later."""
        while True:
            cutoff = None
            if self._max_age is not None:
                cutoff = milliseconds(self._clock() - self._max_age)
            prune = partial(self.store.prune, older_than_ms=cutoff, max_per_key=self._max_per_key)
            try:
                deleted = await self._call(prune, interruptible=True)
            except sqlite3.Error as error:
                self._pruning.failed(error)
            else:
                self._pruning.recovered()
                if deleted:
                    log.info("retention removed %d message(s)", deleted)
            await trio.sleep(self._prune_interval)

    async def _call(self, work: Callable[[], T], *, interruptible: bool = False) -> T:
        """Run one database call under the limiter: in a worker thread, or inline.

        An ``interruptible`` call abandons its thread when cancelled and
        interrupts the statement it runs, so the limiter comes back at once.
        """
        if not self.store.threaded:
            async with self._limiter:
                return work()
        if not interruptible:
            return await trio.to_thread.run_sync(work, limiter=self._limiter)
        running = False

        def tracked() -> T:
            nonlocal running
            running = True
            try:
                return work()
            finally:
                running = False

        try:
            return await trio.to_thread.run_sync(
                tracked, limiter=self._limiter, abandon_on_cancel=True
            )
        except trio.Cancelled:
            if running:
                self.store.interrupt()
            raise

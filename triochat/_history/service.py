"""The trio side of the history store: a writer task off the hot path, queries, retention.

The room hands :class:`History` each message with :meth:`History.record`, an
append to a bounded queue that never waits; one writer task takes everything
queued and saves it in one worker-thread call. Every database call
goes through one ``CapacityLimiter(1)``, so the connection is used by one
thread at a time. Queries run in the requesting client's task only, and are
interrupted (``sqlite3.Connection.interrupt``) if that client stops waiting.
On shutdown, what is queued is flushed, within a bound, before the file is
closed.

A failing database (read-only, full, corrupt) never stops the chat: the first
failure is logged clearly, the rest are counted, and recovery is logged too.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import deque
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Final, TypeVar

import trio

from .._irc.tags import milliseconds

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

    from .._state.questions import ServerBan
    from .records import HistoryEntry, HistoryQuery
    from .store import HistoryStore

__all__ = ["GROUP_COMMIT_SECONDS", "History", "HistoryUnavailable"]

log = logging.getLogger("triochat.history")

T = TypeVar("T")


class HistoryUnavailable(Exception):
    """A history query failed; the client is told, the chat goes on."""


#: How long the writer lets messages gather before saving them in one transaction.
#: Long enough that a burst is saved in a few large groups (on a 2-core machine a
#: writer saving every 50 ms during a burst cost the fan-out 25-32%, every 0.5 s
#: 10%); a query or a shutdown cuts the wait short, so only a crash ever sees it.
GROUP_COMMIT_SECONDS: Final = 0.5


class _Trouble:
    """One way of failing: logged clearly the first time, then only counted until it recovers."""

    def __init__(self, failure: str, recovery: str) -> None:
        self.failure = failure
        self._recovery = recovery
        self.failing = False
        self.lost = 0

    def failed(self, error: object, *, lost: int = 0) -> None:
        if not self.failing:
            self.failing = True
            log.error(
                "%s: %s. The chat goes on; further failures are counted, not logged.",
                self.failure,
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
        # A deque and an Event rather than a memory channel: record() runs for
        # every chat line, and a channel's send_nowait cost it about 0.8 us per
        # message of the event loop's time, an append a tenth of that.
        self._queue: deque[HistoryEntry] = deque()
        self._queue_size = queue_size
        self._closed = False  # shutting down: record() takes nothing more
        #: Set when the queue gets its first entry, or closes: the writer waits for it.
        self._arrived = trio.Event()
        #: Every database call holds it: one thread uses the connection at a time.
        self._limiter = trio.CapacityLimiter(1)
        self._flush_timeout = flush_timeout
        self._max_age = max_age
        self._max_per_key = max_per_key
        self._prune_interval = prune_interval
        #: Set when a reload changes the limits, to apply them without waiting.
        self._retention_changed = trio.Event()
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
        #: Told how many seconds each batch took to save (the server's metrics).
        self.observe_write: Callable[[float], object] | None = None
        where = store.path
        self._saving = _Trouble(f"cannot save messages to {where}", "saving messages works again")
        self._queueing = _Trouble(
            "the write queue is full, the database is too slow", "the write queue has room again"
        )
        self._reading = _Trouble(f"cannot read {where}", "reading history works again")
        self._pruning = _Trouble(f"cannot prune {where}", "pruning works again")

    @property
    def queue_depth(self) -> int:
        """Messages queued and not saved (or given up on) yet."""
        return self._accepted - self._settled

    @property
    def trouble(self) -> str | None:
        """Why saving fails right now (for readiness checks), or None while it works."""
        for trouble in (self._saving, self._queueing):
            if trouble.failing:
                return trouble.failure
        return None

    # -- what the room calls --------------------------------------------------

    def record(self, entry: HistoryEntry) -> None:
        """Queue ``entry`` to be saved; never waits (a full queue drops it, and says so)."""
        queue = self._queue
        if self._closed:
            self._lose(self._saving, "already shut down", 1)
        elif len(queue) >= self._queue_size:
            self._lose(self._queueing, "queue full", 1)
        else:
            if not queue:
                self._arrived.set()
            queue.append(entry)
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

    async def backfill(self, entries: Sequence[HistoryEntry]) -> bool:
        """Save rows another server relayed while this one was not there (a cluster node
        catching up); rows already saved (same ``msgid``) are kept as they are.

        One transaction, off the write queue (a catch-up can be far bigger than
        the queue); False (and logged) when the database would not.
        """
        try:
            await self._call(partial(self.store.append_many, entries))
        except sqlite3.Error as error:
            self._saving.failed(error)
            return False
        return True

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
        self._closed = True
        self._arrived.set()
        self._save_now()
        with trio.move_on_after(self._flush_timeout):
            await writer_done.wait()
        if not writer_done.is_set():
            left = len(self._queue)
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
                queue = self._queue
                while queue or not self._closed:
                    if not queue:
                        self._arrived = trio.Event()
                        await self._arrived.wait()
                        continue
                    if not self._closed:
                        # Group commit: let the messages of the next moment join
                        # this one, so that a steady trickle costs a thread round
                        # trip and a transaction per group, not per message.
                        with trio.move_on_after(GROUP_COMMIT_SECONDS) as self._gathering:
                            await trio.sleep_forever()
                        self._gathering = None
                    batch = list(queue)
                    queue.clear()
                    await self._save(batch)
        finally:
            writer_done.set()

    async def _save(self, batch: list[HistoryEntry]) -> None:
        started = time.perf_counter()
        try:
            await self._call(partial(self.store.append_many, batch))
        except Exception as error:  # whatever the database does, the room goes on
            self._lose(self._saving, error, len(batch))
        else:
            self.saved += len(batch)
            self._saving.recovered()
            if self.observe_write is not None:
                self.observe_write(time.perf_counter() - started)
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

    def retain(self, max_age: float | None, max_per_key: int | None) -> None:
        """Change the retention limits (a reload); they are applied at once, then as usual."""
        if (max_age, max_per_key) != (self._max_age, self._max_per_key):
            self._max_age, self._max_per_key = max_age, max_per_key
            self._retention_changed.set()

    async def _prune_loop(self) -> None:
        """Apply retention now and then; a pruning failure is logged once and retried later."""
        while True:
            self._retention_changed = trio.Event()
            if self._max_age is None and self._max_per_key is None:
                await self._retention_changed.wait()  # nothing to apply until a reload sets one
                continue
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
            with trio.move_on_after(self._prune_interval):
                await self._retention_changed.wait()

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

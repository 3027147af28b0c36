"""The server's trio layer: accept connections, run one task each, shut down cleanly.

Everything that decides *what* happens lives in :mod:`.._state` (pure) and
:mod:`.._irc` (sans-IO); the trio side is split by what each part does:

* :mod:`.transports` turns an accepted stream into a stream of IRC lines and
  a :class:`~.._state.model.PeerInfo` (TLS is negotiated there, per
  connection, within a bound);
* :mod:`.admission` checks the number of connections, in all and per
  address, before a connection gets any state;
* :mod:`.connection` is one connection's reader, under one nursery per
  connection, with flood control (:mod:`.flood`) and the idle ping;
* :mod:`.delivery` carries out the state's effects: deliveries go to outboxes
  (:mod:`.fanout`) without waiting, so a stalled reader never slows the room
  (past ``sendq_bytes`` it is disconnected: "SendQ exceeded"); history goes
  to its writer; timers to :mod:`.timers`; questions to their service,
  awaited by the asking client alone.

Every expected way for a connection to end (EOF, reset, timeout, protocol
error, a bug in one handler) is handled inside that connection's handler, so
nothing ever reaches the accept loop or another connection.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from .._accounts.service import AccountService, hashing_threads
from .._accounts.store import AccountStore
from .._config import ServerConfig, reloaded
from .._history.service import History
from .._history.store import HistoryStore
from .._irc.wire import Message, serialize
from .._ops.metrics import Metrics
from .._state.effects import ConnId
from .._state.machine import ServerState
from .admission import Admission
from .connection import READS_PER_FLUSH, RECEIVE_BYTES, Connection
from .delivery import Delivery
from .fanout import Flusher, Outbox
from .services import Services
from .stats import live_task_count, rss_kib
from .timers import Timers
from .transports import negotiate, peer_info

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
    from contextlib import AbstractAsyncContextManager

    from .._state.effects import Timer
    from .._state.model import PeerInfo
    from .replication import Replication

__all__ = ["ChatServer", "serve"]

log = logging.getLogger("triochat.server")
stats_log = logging.getLogger("triochat.stats")


class ChatServer:
    """A running chat server: the shared state, its services, and one task per connection.

    With history on, ``store`` is the database to keep it in (the server
    closes it when it stops); without one, ``config.history_db`` is opened,
    which may raise :class:`~.._history.store.HistoryError`.
    """

    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        store: HistoryStore | None = None,
        cluster: Callable[[ServerState, Delivery], Replication] | None = None,
    ) -> None:
        self.config = config = config or ServerConfig()
        self.state = ServerState(config)
        self.history: History | None = None
        if config.history:
            self.history = History(
                store or HistoryStore.open(config.history_db),
                flush_timeout=config.history_flush_timeout,
                max_age=config.history_max_age,
                max_per_key=config.history_max_per_channel,
            )
        #: Counters for /metrics; the hooks are the lines marked "metrics".
        self.metrics = Metrics()
        if self.history is not None:
            self.history.observe_write = self.metrics.history_write_seconds.observe
        #: Accepting connections now (readiness): from listening until shutdown.
        self.accepting = False
        #: Every password hash (OPER, SASL, NickServ) runs in a worker thread under it.
        hashing = trio.CapacityLimiter(hashing_threads())
        self.accounts: AccountService | None = None
        if config.accounts:
            # The same database as the history (its own connection; WAL shares the file).
            path = store.path if store is not None else config.history_db
            threaded = store.threaded if store is not None else None
            self.accounts = AccountService(
                AccountStore(path), threaded=threaded, hash_limiter=hashing
            )
        self._ids = itertools.count(1)
        #: Reads left before a reader writes out what is pending (see READS_PER_FLUSH).
        self.reads_until_flush = READS_PER_FLUSH
        self.admission = Admission()
        #: Runs every timer the state sets, in one task.
        self.timers = Timers(self._timer_due)
        #: Where what a timer asks is answered (the server's own nursery, while serving).
        self._tasks: trio.Nursery | None = None
        #: Carries out the state's effects; writes happen once per round (the flusher).
        self.services = Services(self.history, hashing)
        self.delivery = Delivery(
            config,
            self.state,
            Flusher(),
            self.timers,
            self.history,
            self.metrics,
            self.services,
            self.accounts,
        )
        #: Cluster mode: the node that replicates this server's state (None: a single node).
        self.cluster = None if cluster is None else cluster(self.state, self.delivery)
        self.delivery.cluster = self.cluster

    def reload(self, config: ServerConfig) -> list[str]:
        """Use ``config`` from now on, dropping nobody; return notes on what could not change.

        Limits on connections and channels apply at once; new connections get
        the new timers, flood settings and queues, while established ones keep
        those they started with. What needs a restart keeps its old value.
        """
        config, notes = reloaded(self.config, config)
        self.config = self.state.config = self.delivery.config = config
        if self.history is not None:
            self.history.retain(config.history_max_age, config.history_max_per_channel)
        return notes

    @property
    def connection_count(self) -> int:
        """Connections being handled right now."""
        return len(self.delivery.connections)

    @property
    def bytes_sent(self) -> int:
        """Bytes handed to the kernel or to writer tasks for clients, since the start."""
        return self.delivery.flusher.written

    @property
    def open_count(self) -> int:
        """Connections admitted and not yet closed, those still in a TLS handshake included."""
        return self.admission.open

    @property
    def refused_count(self) -> int:
        """Connections refused because of ``max_clients`` or ``max_per_ip``."""
        return self.admission.refused

    def stats(self) -> str:
        """One line about the server's load: connections, live tasks, resident memory."""
        return (
            f"stats: connections={self.admission.open} tasks={live_task_count()}"
            f" rss_kib={rss_kib()} refused={self.admission.refused}"
        )

    async def _report_stats(self, interval: float) -> None:
        """Log :meth:`stats` every ``interval`` seconds, forever."""
        while True:
            await trio.sleep(interval)
            stats_log.info("%s", self.stats())

    async def serve(
        self,
        listeners: Sequence[trio.abc.Listener[Any]],
        *,
        shutdown_trigger: Callable[[], Awaitable[object]] | None = None,
        task_status: trio.TaskStatus[ChatServer] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept connections on ``listeners`` until ``shutdown_trigger`` returns.

        Then stop accepting, tell every client why with ``ERROR``, and give them
        ``shutdown_grace`` seconds to receive it before the remaining
        connections are cut. Last, the history still queued is saved (within
        ``history_flush_timeout``), even when cancelled.
        Without a trigger, it serves until cancelled.
        """
        async with self._accounts_open(), self._history_running(), trio.open_nursery() as server:
            self._tasks = server
            await self._load_replay_buffers()
            await self._load_server_bans()
            if self.accounts is not None and self.cluster is None:
                # (A cluster node takes the network's from the shared store as it links.)
                self.state.preload_accounts(await self.accounts.names())
                self.state.preload_rooms(await self.accounts.rooms())
            await server.start(self.delivery.flusher.run)
            await server.start(self.timers.run)
            if self.cluster is not None:
                await server.start(self.cluster.run)
            if self.config.stats_interval is not None:
                server.start_soon(self._report_stats, self.config.stats_interval)
            async with trio.open_nursery() as connections:
                async with trio.open_nursery() as acceptors:
                    await acceptors.start(
                        partial(
                            trio.serve_listeners,
                            self.handle_connection,
                            list(listeners),
                            handler_nursery=connections,
                        )
                    )
                    log.info("serving on %d listener(s)", len(listeners))
                    self.accepting = True
                    task_status.started(self)
                    try:
                        if shutdown_trigger is None:
                            await trio.sleep_forever()
                        else:
                            await shutdown_trigger()
                    finally:
                        self.accepting = False
                    acceptors.cancel_scope.cancel()
                open_now = self.delivery.connections
                log.info("shutting down: closing %d connection(s)", len(open_now))
                for connection in list(open_now.values()):
                    connection.close("Server shutting down")
                self.delivery.flush()
                grace = self.config.shutdown_grace
                connections.cancel_scope.deadline = trio.current_time() + grace
            if self.cluster is not None:
                await self.cluster.stop()
            server.cancel_scope.cancel()  # the flusher and timers: every connection has ended

    @contextlib.asynccontextmanager
    async def _accounts_open(self) -> AsyncIterator[None]:
        """Close the accounts database when the server stops."""
        try:
            yield
        finally:
            if self.accounts is not None:
                with trio.CancelScope(shield=True):
                    await self.accounts.aclose()

    def _history_running(self) -> AbstractAsyncContextManager[None]:
        if self.history is None:
            return contextlib.nullcontext()
        return self.history.running()

    async def _load_replay_buffers(self) -> None:
        """Give the state the last messages of each channel, so replay survives a restart."""
        if self.history is not None and self.config.history_replay > 0:
            recent = await self.history.recent_channel_messages(self.config.history_replay)
            self.state.preload(recent)
            log.info(
                "history: %s, %d message(s) loaded for replay", self.history.store.path, len(recent)
            )

    async def _load_server_bans(self) -> None:
        """Give the state the K-lines and D-lines saved before, so they survive a restart."""
        if self.history is not None:
            bans = await self.history.server_bans()
            self.state.preload_bans(bans)
            if bans:
                log.info("server bans: %d loaded", len(bans))

    def _timer_due(self, timer: Timer) -> None:
        asks = self.delivery.apply(self.state.timer(timer))
        if asks and self._tasks is not None:  # (cluster mode: a rename the network must grant)
            for ask in asks:
                self._tasks.start_soon(self.delivery.answer, ask)

    async def handle_connection(
        self, stream: trio.abc.Stream, peer: PeerInfo | None = None
    ) -> None:
        """Serve one client from its first byte to its last; never raises.

        Runs under :meth:`serve`, whose flusher task writes out deliveries.
        ``peer`` is what a transport that did its own handshake (WebSocket)
        knows of the client; by default it is read off the socket, and TLS is
        negotiated here. A connection past ``max_clients`` or ``max_per_ip`` is
        refused first, before it costs a handshake or any state.
        """
        if peer is None:
            peer = peer_info(stream)
        refusal = self.admission.admit(self.config, peer.host)
        if refusal is not None:
            await self._refuse(stream, refusal)
            return
        try:
            negotiated = await negotiate(stream, peer, within=self.config.handshake_timeout)
            if negotiated is not None:
                await self._serve_admitted(stream, negotiated)
            else:
                self.metrics.handshake_failures += 1  # metrics
        finally:
            self.admission.release(peer.host)

    async def _refuse(self, stream: trio.abc.Stream, error: str) -> None:
        """Say ``ERROR :error`` and hang up, all within ``close_timeout``; never raises."""
        log.debug("refused a connection: %s", error)
        with trio.move_on_after(self.config.close_timeout):
            try:
                if isinstance(stream, trio.SSLStream):
                    with trio.move_on_after(self.config.handshake_timeout):
                        await stream.do_handshake()
                await stream.send_all(serialize(Message("ERROR", (error,))))
                await _half_close_and_drain(stream)
            except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError):
                pass
        await trio.aclose_forcefully(stream)

    async def _serve_admitted(self, stream: trio.abc.Stream, peer: PeerInfo) -> None:
        conn = ConnId(next(self._ids))
        delivery = self.delivery
        effects = self.state.connect(conn, peer)
        connection = Connection(self, self.state.network.clients[conn], stream, peer)
        connection.outbox = Outbox(
            stream,
            delivery.flusher,
            sendq_bytes=self.config.sendq_bytes,
            on_overflow=connection.sendq_exceeded,
        )
        self.metrics.connection_opened(peer)  # metrics
        log.debug("connection %d opened", conn)
        try:
            async with trio.open_nursery() as nursery:
                connection.scope = nursery.cancel_scope  # a kick cancels it all
                connection.outbox.attach(nursery)
                delivery.connections[conn] = connection
                delivery.apply(effects)
                del effects  # this frame lasts as long as the connection: keep nothing spent
                try:
                    await connection.read_loop()
                    connection.finish()
                    delivery.flush()
                    # A writer task may still be sending: give it a bounded time.
                    deadline = trio.current_time() + self.config.close_timeout
                    nursery.cancel_scope.deadline = deadline
                finally:
                    connection.outbox.detach()  # no writer may start once this body ends
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            connection.quit_reason = connection.quit_reason or "Connection reset by peer"
        except* Exception:
            log.exception("connection %d failed; dropping it", conn)
            connection.quit_reason = "Internal server error"
        finally:
            connection.outbox.abandon()
            reason = connection.quit_reason or "Connection closed"
            # metrics: a client that sent QUIT is already gone from the state
            quit = conn not in self.state.network.clients
            self.metrics.connection_closed(peer, connection.quit_reason, quit=quit)
            delivery.connections.pop(conn, None)
            try:
                if self.cluster is not None:
                    # Its last lines in flight are handled here too before it is forgotten.
                    with trio.CancelScope(shield=True):
                        with trio.move_on_after(self.config.close_timeout):
                            await self.cluster.settle(conn)
                    self.cluster.departed(conn, reason)
                delivery.apply(self.state.disconnect(conn, reason))
                delivery.flush()
            except Exception:
                log.exception("cleaning up connection %d failed", conn)
            try:
                await self._hang_up(stream, connection)
            except Exception:  # a transport broken in some unforeseen way
                log.debug("connection %d: error while hanging up", conn, exc_info=True)
            finally:
                await trio.aclose_forcefully(stream)
            log.debug("connection %d closed: %s", conn, reason)

    async def _hang_up(self, stream: trio.abc.Stream, connection: Connection) -> None:
        """Close the transport, politely and within ``close_timeout``."""
        with trio.move_on_after(self.config.close_timeout):
            try:
                if connection.kicked:
                    # Its writer was cut off, maybe mid-line: end that line, then explain.
                    error = f"Closing link: {connection.quit_reason}"
                    await stream.send_all(b"\r\n" + serialize(Message("ERROR", (error,))))
                await _half_close_and_drain(stream)
            except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError):
                pass
            await stream.aclose()


async def _half_close_and_drain(stream: trio.abc.Stream) -> None:
    """Half-close, then drain: closing with unread input would send a reset
    that can destroy our last lines in flight."""
    if isinstance(stream, trio.abc.HalfCloseableStream):
        await stream.send_eof()
        while await stream.receive_some(RECEIVE_BYTES):
            pass


async def serve(
    listeners: Sequence[trio.abc.Listener[Any]],
    config: ServerConfig | None = None,
    *,
    store: HistoryStore | None = None,
    cluster: Callable[[ServerState, Delivery], Replication] | None = None,
    shutdown_trigger: Callable[[], Awaitable[object]] | None = None,
    task_status: trio.TaskStatus[ChatServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a chat server on ``listeners`` (see :meth:`ChatServer.serve`).

    ``await nursery.start(serve, listeners)`` returns the running
    :class:`ChatServer` once it accepts connections. ``cluster`` makes it a
    node of a cluster (see :mod:`.._cluster`).
    """
    server = ChatServer(config, store=store, cluster=cluster)
    await server.serve(listeners, shutdown_trigger=shutdown_trigger, task_status=task_status)

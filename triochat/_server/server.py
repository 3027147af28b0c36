"""The server's trio layer: connections, their tasks, timers, fan-out and shutdown.

Everything that decides *what* happens lives in :mod:`._state` (pure) and
:mod:`._irc` (sans-IO); this module only moves bytes and time:

* one nursery per connection: the reader is its body, timers (registration,
  ping) are deadlines on the reader's receive, and a writer task runs in it
  whenever the connection has a backlog (see :mod:`._fanout`);
* every delivery is a non-blocking append to the recipient's outbox, written
  out when the delivering task next waits ("flush before you wait"), so a
  stalled reader never slows the room: when its queued bytes pass
  ``sendq_bytes`` it is disconnected ("SendQ exceeded");
* every expected way for a connection to end (EOF, reset, timeout, protocol
  error, a bug in one handler) is handled inside that connection's handler, so
  nothing ever reaches the accept loop or another connection;
* flood control delays a client's excess commands (IRC "fake lag", see
  :mod:`._flood`): only that client waits, its further input waits in its
  RecvQ, and sustained abuse ends with ``Excess Flood``;
* the number of connections, in all and per address, is checked before a
  connection gets any state, and a refusal says which limit was hit;
* chat history goes to :class:`~._history.History` without waiting (its
  writer task saves it in a worker thread), and a ``CHATHISTORY`` query is
  awaited by the asking client's reader alone, between two of its lines, so
  its replies keep their order and nobody else waits.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Any, Final

import trio

from .._config import ServerConfig
from .._history.store import History, HistoryStore, HistoryUnavailable
from .._irc.wire import (
    LINE_TOO_LONG,
    MAX_LINE_BYTES,
    LineReader,
    LineTooLong,
    Message,
    RemoteProtocolError,
    parse,
    serialize,
)
from .._ops.metrics import Metrics
from .._state.machine import Client, Close, ConnId, Effect, Query, Record, Send, ServerState
from .fanout import Flusher, Outbox
from .flood import TokenBucket
from .stats import live_task_count, rss_kib
from .transports import negotiate, peer_info

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Sequence
    from contextlib import AbstractAsyncContextManager
    from typing import TypeAlias

    from .._irc.wire import _LineTooLongMarker
    from .._state.model import PeerInfo

    _Line: TypeAlias = bytes | _LineTooLongMarker

__all__ = ["ChatServer", "serve"]

log = logging.getLogger("triochat.server")
stats_log = logging.getLogger("triochat.stats")

#: Bytes asked of the transport per read: big reads amortise the per-read cost.
RECEIVE_BYTES: Final = 65536


class _FloodGate:
    """A client's flood control: its token bucket and its RecvQ (lines waiting)."""

    __slots__ = ("bucket", "eof", "queue", "queued_bytes", "resume_at")

    def __init__(self, config: ServerConfig) -> None:
        self.bucket = TokenBucket(config.flood_burst, config.flood_rate)
        #: Complete lines received and not handled yet, oldest first.
        self.queue: deque[_Line] = deque()
        #: Their size in bytes: with the partial line being read, the RecvQ.
        self.queued_bytes = 0
        #: When the next waiting line may be handled.
        self.resume_at = 0.0
        #: The client has sent EOF: handle what waits, then close.
        self.eof = False

    async def receive_while_waiting(self, stream: trio.abc.Stream) -> bytes | bytearray | None:
        """Read more input until ``resume_at``; None when the wait ended first."""
        if self.eof:
            await trio.sleep_until(self.resume_at)
            return None
        with trio.move_on_at(self.resume_at):
            return await stream.receive_some(RECEIVE_BYTES)
        return None


class _Member:
    """The trio side of one connection: its outbox and the scopes that end it."""

    __slots__ = ("client", "conn", "kicked", "outbox", "quit_reason", "read_scope", "scope")

    def __init__(self, client: Client, scope: trio.CancelScope) -> None:
        self.conn = client.conn
        self.client = client
        #: Cancelled to drop the connection at once (a kick).
        self.scope = scope
        #: Cancelled to stop reading, so that what is queued can still be flushed.
        self.read_scope = trio.CancelScope()
        self.outbox: Outbox
        self.kicked = False
        #: Why the connection ends, as its peers will read it in QUIT.
        self.quit_reason: str | None = None

    @property
    def closing(self) -> bool:
        return self.outbox.closed

    def finish(self) -> None:
        """Stop reading and accept nothing more; what is queued still goes out."""
        self.outbox.close()
        self.read_scope.cancel()

    def close(self, error: str) -> None:
        """Say goodbye with ``ERROR :error`` after what is queued, then hang up."""
        self.outbox.put_last(serialize(Message("ERROR", (error,))))
        self.read_scope.cancel()

    def kick(self, reason: str) -> None:
        """Drop the connection now, without flushing: it is not reading."""
        if not self.kicked:
            self.kicked = True
            self.quit_reason = reason
            self.outbox.abandon()
            self.scope.cancel()


class ChatServer:
    """A running chat server: the shared state plus one handler per connection.

    With history on, ``store`` is the database to keep it in (the server
    closes it when it stops); without one, ``config.history_db`` is opened,
    which may raise :class:`~._history.HistoryError`.
    """

    def __init__(
        self, config: ServerConfig | None = None, *, store: HistoryStore | None = None
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
        #: Counters for /metrics; the hooks below are the lines marked "metrics".
        self.metrics = Metrics()
        if self.history is not None:
            self.history.observe_write = self.metrics.history_write_seconds.observe
        #: Accepting connections now (readiness): from listening until shutdown.
        self.accepting = False
        self._members: dict[ConnId, _Member] = {}
        self._ids = itertools.count(1)
        #: Writes out what was delivered, once per scheduling round.
        self._flusher = Flusher()
        #: Connections admitted and not yet closed (TLS handshakes included), in
        #: all and per address: what ``max_clients`` and ``max_per_ip`` bound.
        self._open = 0
        self._open_per_host: dict[str, int] = {}
        #: Connections refused because of ``max_clients`` or ``max_per_ip``.
        self.refused_count = 0

    @property
    def connection_count(self) -> int:
        """Connections being handled right now."""
        return len(self._members)

    @property
    def bytes_sent(self) -> int:
        """Bytes handed to the kernel or to writer tasks for clients, since the start."""
        return self._flusher.written

    @property
    def open_count(self) -> int:
        """Connections admitted and not yet closed, those still in a TLS handshake included."""
        return self._open

    def stats(self) -> str:
        """One line about the server's load: connections, live tasks, resident memory."""
        return (
            f"stats: connections={self._open} tasks={live_task_count()}"
            f" rss_kib={rss_kib()} refused={self.refused_count}"
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
        async with self._history_running(), trio.open_nursery() as server:
            await self._load_replay_buffers()
            await server.start(self._flusher.run)
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
                log.info("shutting down: closing %d connection(s)", len(self._members))
                for member in list(self._members.values()):
                    member.close("Server shutting down")
                self._flush()
                grace = self.config.shutdown_grace
                connections.cancel_scope.deadline = trio.current_time() + grace
            server.cancel_scope.cancel()  # the flusher: every connection has ended

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
        host = peer.host
        refusal = self._admit(host)
        if refusal is not None:
            await self._refuse(stream, refusal)
            return
        try:
            negotiated = await negotiate(stream, peer, within=self.config.handshake_timeout)
            if negotiated is not None:
                await self._handle_admitted(stream, negotiated)
            else:
                self.metrics.handshake_failures += 1  # metrics
        finally:
            self._open -= 1
            left = self._open_per_host[host] - 1
            if left:
                self._open_per_host[host] = left
            else:
                del self._open_per_host[host]

    def _admit(self, host: str) -> str | None:
        """Count a new connection from ``host`` in; or say which limit refuses it."""
        config = self.config
        if config.max_clients is not None and self._open >= config.max_clients:
            return f"Closing link: Too many connections (limit {config.max_clients})"
        from_host = self._open_per_host.get(host, 0)
        if config.max_per_ip is not None and from_host >= config.max_per_ip:
            return (
                f"Closing link: Too many connections from your address (limit {config.max_per_ip})"
            )
        self._open += 1
        self._open_per_host[host] = from_host + 1
        return None

    async def _refuse(self, stream: trio.abc.Stream, error: str) -> None:
        """Say ``ERROR :error`` and hang up, all within ``close_timeout``; never raises."""
        self.refused_count += 1
        log.debug("refused a connection: %s", error)
        with trio.move_on_after(self.config.close_timeout):
            try:
                if isinstance(stream, trio.SSLStream):
                    with trio.move_on_after(self.config.handshake_timeout):
                        await stream.do_handshake()
                await stream.send_all(serialize(Message("ERROR", (error,))))
                if isinstance(stream, trio.abc.HalfCloseableStream):
                    await stream.send_eof()
                    while await stream.receive_some(RECEIVE_BYTES):
                        pass
            except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError):
                pass
        await trio.aclose_forcefully(stream)

    async def _handle_admitted(self, stream: trio.abc.Stream, peer: PeerInfo) -> None:
        conn = ConnId(next(self._ids))
        self.state.connect(conn, peer)
        member = _Member(self.state.clients[conn], trio.CancelScope())
        self.metrics.connection_opened(peer)  # metrics
        member.outbox = Outbox(
            stream,
            self._flusher,
            sendq_bytes=self.config.sendq_bytes,
            on_overflow=partial(member.kick, "SendQ exceeded"),
        )
        log.debug("connection %d opened", conn)
        try:
            with member.scope:
                async with trio.open_nursery() as nursery:
                    member.outbox.attach(nursery)
                    self._members[conn] = member
                    try:
                        await self._read_loop(stream, member)
                        member.finish()
                        self._flush()
                        # A writer task may still be sending: give it a bounded time.
                        deadline = trio.current_time() + self.config.close_timeout
                        nursery.cancel_scope.deadline = deadline
                    finally:
                        member.outbox.detach()  # no writer may start once this body ends
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            member.quit_reason = member.quit_reason or "Connection reset by peer"
        except* Exception:
            log.exception("connection %d failed; dropping it", conn)
            member.quit_reason = "Internal server error"
        finally:
            member.outbox.abandon()
            reason = member.quit_reason or "Connection closed"
            self._members.pop(conn, None)
            # metrics: a client that sent QUIT is already gone from the state
            quit = conn not in self.state.clients
            self.metrics.connection_closed(peer, member.quit_reason, quit=quit)
            try:
                self._apply(self.state.disconnect(conn, reason))
                self._flush()
            except Exception:
                log.exception("cleaning up connection %d failed", conn)
            try:
                await self._hang_up(stream, member)
            except Exception:  # a transport broken in some unforeseen way
                log.debug("connection %d: error while hanging up", conn, exc_info=True)
            finally:
                await trio.aclose_forcefully(stream)
            log.debug("connection %d closed: %s", conn, reason)

    async def _hang_up(self, stream: trio.abc.Stream, member: _Member) -> None:
        """Close the transport, politely and within ``close_timeout``."""
        with trio.move_on_after(self.config.close_timeout):
            try:
                if member.kicked:
                    # Its writer was cut off, maybe mid-line: end that line, then explain.
                    error = f"Closing link: {member.quit_reason}"
                    await stream.send_all(b"\r\n" + serialize(Message("ERROR", (error,))))
                if isinstance(stream, trio.abc.HalfCloseableStream):
                    # Half-close, then drain: closing with unread input would
                    # send a reset that can destroy our last lines in flight.
                    await stream.send_eof()
                    while await stream.receive_some(RECEIVE_BYTES):
                        pass
            except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError):
                pass
            await stream.aclose()

    async def _read_loop(self, stream: trio.abc.Stream, member: _Member) -> None:
        """Read and handle the client's lines until it leaves or must go.

        One cancel scope at a time bounds the wait: ``member.finish()`` cancels
        it, and its deadline is the next timer (registration, idle PING, PING
        answer). Input only records the time it came; the deadline is checked
        against that when it fires, so busy clients cost no timer work per read.

        With flood control, lines beyond the client's token bucket wait in its
        gate; while they wait, the loop keeps reading (into the RecvQ) until
        the next token is due.
        """
        config = self.config
        reader = LineReader()
        data: bytes | bytearray
        gate = _FloodGate(config) if config.flood_control else None
        first_chunk = not isinstance(stream, trio.SSLStream)
        last_input = trio.current_time()
        deadline = last_input + config.registration_timeout
        pinged = False
        while True:
            member.read_scope = scope = trio.CancelScope(deadline=deadline)
            with scope:
                while True:
                    if gate is not None and gate.queue:
                        # Lines are waiting for a token: read meanwhile, until it is due.
                        received = await gate.receive_while_waiting(stream)
                        if received is None:
                            if await self._drain(member, gate) or (gate.eof and not gate.queue):
                                return
                            continue
                        data = received
                    else:
                        data = await stream.receive_some(RECEIVE_BYTES)
                    if not data:
                        if gate is None or not gate.queue:
                            return
                        gate.eof = True  # handle what waits first: it was accepted
                        continue
                    last_input = trio.current_time()
                    pinged = False
                    if first_chunk:
                        first_chunk = False
                        if data[0] == 0x16:  # a TLS handshake record: a TLS client, wrong port
                            log.info(
                                "connection %d sent a TLS handshake to a plain port", member.conn
                            )
                            member.quit_reason = "TLS handshake on a plain-text port"
                            return
                    # receive_some was a schedule point, so the flusher has written
                    # out what the previous chunk fanned out: a burst reaches the
                    # outboxes chunk by chunk, never piled up whole (fairness first).
                    reader.feed(data)
                    if gate is None:
                        if await self._handle_lines(member, reader.lines()):
                            return
                    elif await self._enqueue(member, reader, gate):
                        return
            if member.closing:
                return  # finished: the scope was cancelled, not timed out
            now = trio.current_time()
            if not member.client.registered:
                member.quit_reason = "Registration timed out"
            elif pinged:
                member.quit_reason = f"Ping timeout: {config.ping_timeout:g} seconds"
            elif now < last_input + config.ping_interval:
                deadline = last_input + config.ping_interval  # not idle yet
                continue
            else:
                member.outbox.put(serialize(Message("PING", (config.server_name,))))
                pinged = True
                deadline = now + config.ping_timeout
                continue
            member.close(f"Closing link: {member.quit_reason}")
            return

    async def _enqueue(self, member: _Member, reader: LineReader, gate: _FloodGate) -> bool:
        """Queue the lines just read behind those waiting; True when the connection must close.

        Past the RecvQ the client is disconnected; otherwise what the bucket
        allows is handled now.
        """
        for line in reader.lines():
            gate.queue.append(line)
            gate.queued_bytes += len(line) + 2 if isinstance(line, bytes) else MAX_LINE_BYTES
        recvq = gate.queued_bytes + reader.buffered
        if recvq > self.config.recvq_bytes:
            return self._excess_flood(
                member, f"RecvQ exceeded: {recvq} bytes waiting, limit {self.config.recvq_bytes}"
            )
        return await self._drain(member, gate)

    async def _drain(self, member: _Member, gate: _FloodGate) -> bool:
        """Handle waiting lines while the bucket has tokens; True when the connection must close.

        When it runs dry, ``gate.resume_at`` says when to go on; a client whose
        waiting lines would take longer than ``flood_max_lag`` is disconnected.
        """
        bucket = gate.bucket
        queue = gate.queue
        while queue:
            now = trio.current_time()
            delay = bucket.take(now)
            if delay:
                self.metrics.flood_delays += 1  # metrics
                lag = bucket.lag(now, len(queue))
                if lag > self.config.flood_max_lag:
                    limit = self.config.flood_max_lag
                    return self._excess_flood(
                        member, f"{lag:.0f} seconds of commands waiting, limit {limit:g}"
                    )
                gate.resume_at = now + delay
                return False
            line = queue.popleft()
            gate.queued_bytes -= len(line) + 2 if isinstance(line, bytes) else MAX_LINE_BYTES
            if await self._handle_lines(member, (line,)):
                return True
        return False

    def _excess_flood(self, member: _Member, why: str) -> bool:
        """Disconnect a flooding client, saying which limit it passed; True (must close)."""
        log.info("connection %d: Excess Flood (%s)", member.conn, why)
        member.quit_reason = "Excess Flood"
        member.close(f"Closing link: Excess Flood ({why})")
        return True

    async def _handle_lines(self, member: _Member, lines: Iterable[_Line]) -> bool:
        """Handle these lines in order; True when the connection must close."""
        state = self.state
        conn = member.conn
        metrics = self.metrics
        registered = member.client.registered
        for line in lines:
            effects: list[Effect]
            if line is LINE_TOO_LONG:
                metrics.messages_in["invalid"] += 1  # metrics
                effects = state.reject(conn, LineTooLong("line too long"))
            else:
                try:
                    message = parse(line)
                except RemoteProtocolError as error:
                    metrics.messages_in["invalid"] += 1  # metrics
                    effects = state.reject(conn, error)
                else:
                    metrics.message_in(message.command)  # metrics
                    effects = state.handle(conn, message)
            for query in self._apply(effects):
                await self._answer(member, query)
            if not registered and member.client.registered:
                registered = True
                metrics.registrations += 1  # metrics
            if member.closing:
                return True
        return False

    def _apply(self, effects: list[Effect]) -> list[Query]:
        """Carry out what the state decided; return the history queries left to await."""
        queries: list[Query] = []
        for effect in effects:
            if isinstance(effect, Send):
                self._fan_out(effect)
            elif isinstance(effect, Record):
                if self.history is not None:
                    self.history.record(effect.entry)
            elif isinstance(effect, Close):
                self._close(effect)
            else:
                queries.append(effect)
        return queries

    async def _answer(self, member: _Member, query: Query) -> None:
        """Run a CHATHISTORY query for the client that asked; only its reader waits."""
        assert self.history is not None, "no queries without history"
        request = query.query
        try:
            with trio.fail_after(self.config.history_query_timeout):
                entries = await self.history.fetch(request)
        except (HistoryUnavailable, trio.TooSlowError):
            effects = self.state.history_failed(query.conn, request)
        else:
            effects = self.state.history_answer(query.conn, request, entries)
        self._apply(effects)

    def _close(self, effect: Close) -> None:
        member = self._members.get(effect.conn)
        if member is not None:
            member.close(effect.reason)

    def _fan_out(self, send: Send) -> None:
        """Deliver one message to its targets, serializing it once per tag variant."""
        message = send.message
        members = self._members
        variants: list[bytes | None] = [None, None, None, None]
        if send.exact_tags:  # tags already chosen for the recipient: one variant for all
            variants = [serialize(message)] * 4
        missing = 0  # metrics: nothing counted per recipient, only the rare miss
        for conn in send.targets:
            member = members.get(conn)
            if member is None:
                missing += 1
                continue
            client = member.client
            index = client.wants_time + 2 * client.wants_tags
            data = variants[index]
            if data is None:
                data = variants[index] = _serialize_for(
                    message, client.wants_time, client.wants_tags
                )
            member.outbox.put(data)
        self.metrics.delivered(message.command, len(send.targets) - missing)  # metrics

    def _flush(self) -> None:
        """Write out what was delivered now, not at the end of the round (for closing)."""
        self._flusher.flush()


def _serialize_for(message: Message, wants_time: bool, wants_tags: bool) -> bytes:
    """``message`` with just the tags a recipient negotiated.

    ``server-time`` brings the ``time`` tag; ``message-tags`` brings the rest.
    """
    tags = message.tags
    if tags and not (wants_time and wants_tags):
        tags = {
            key: value
            for key, value in tags.items()
            if (wants_time if key == "time" else wants_tags)
        }
    return serialize(message, tags=tags)


async def serve(
    listeners: Sequence[trio.abc.Listener[Any]],
    config: ServerConfig | None = None,
    *,
    store: HistoryStore | None = None,
    shutdown_trigger: Callable[[], Awaitable[object]] | None = None,
    task_status: trio.TaskStatus[ChatServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a chat server on ``listeners`` (see :meth:`ChatServer.serve`).

    ``await nursery.start(serve, listeners)`` returns the running
    :class:`ChatServer` once it accepts connections.
    """
    server = ChatServer(config, store=store)
    await server.serve(listeners, shutdown_trigger=shutdown_trigger, task_status=task_status)

"""One connection's task: read lines, hand them to the state, end it cleanly.

The reader is the body of the connection's nursery (see
:meth:`~.server.ChatServer.handle_connection`). One cancel scope at a time
bounds its wait: :meth:`Connection.finish` and :meth:`Connection.close`
cancel it, and its deadline is the idle timer (PING, then ping timeout).
Input only records the time it came; the deadline is checked against that
when it fires, so busy clients cost no timer work per read. A plain TCP
socket is read straight from the kernel (:func:`~.transports.receive_plain`),
as the flusher writes to it: an idle connection waits there, and what it
weighs is mostly what that wait keeps (``python -m benchmarks.conn_memory``).

With flood control, lines beyond the client's token bucket wait in its
:class:`~.flood.FloodGate`; while they wait, the reader keeps reading (into
the RecvQ) until the next token is due.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

import trio

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
from .flood import FloodGate
from .transports import receive_plain

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .._state.effects import Effect
    from .._state.model import Client, PeerInfo
    from .fanout import Outbox
    from .flood import Line
    from .server import ChatServer

__all__ = ["READS_PER_FLUSH", "RECEIVE_BYTES", "Connection"]

log = logging.getLogger("triochat.server")

#: Bytes asked of the transport per read: big reads amortise the per-read cost.
RECEIVE_BYTES: Final = 65536
#: Reads, server-wide, after which the reader writes out everything pending
#: before it handles its input, even in mid-round. The flusher writes once per
#: round, after every reader that woke in it; when 10,000 clients JOIN at once
#: they all wake in one round, and all they fan out (500 JOIN lines to each
#: member, a NAMES reply each) waited in memory together: 4 KB more per
#: connection at the peak, which RSS keeps (13.1 -> 9.6 KiB per connection in
#: the scale scenario with this bound). A busy round of ordinary chat has far
#: fewer reads, so batching is unchanged: one more write, at most, per 1,000.
READS_PER_FLUSH: Final = 1000
#: The first byte of a TLS handshake record: a TLS client on a plain-text port.
_TLS_HANDSHAKE: Final = 0x16


class Connection:
    """The trio side of one connection: its outbox, the scopes that end it, its reader."""

    __slots__ = (
        "_gate",
        "_last_input",
        "_pinged",
        "_reader",
        "_server",
        "_sniff_tls",
        "client",
        "conn",
        "kicked",
        "outbox",
        "quit_reason",
        "read_scope",
        "scope",
        "stream",
    )

    def __init__(
        self, server: ChatServer, client: Client, stream: trio.abc.Stream, peer: PeerInfo
    ) -> None:
        self._server = server
        self.conn = client.conn
        self.client = client
        self.stream = stream
        #: Cancelled to drop the connection at once (a kick): the cancel scope of
        #: the connection's nursery, set when it opens (one scope fewer per
        #: connection than a scope of its own around the nursery).
        self.scope: trio.CancelScope | None = None
        #: Cancelled to stop reading, so that what is queued can still be flushed.
        self.read_scope = trio.CancelScope()
        self.outbox: Outbox
        self.kicked = False
        #: Why the connection ends, as its peers will read it in QUIT.
        self.quit_reason: str | None = None
        config = server.config
        self._reader = LineReader()
        self._gate = (
            FloodGate(config.flood_burst, config.flood_rate) if config.flood_control else None
        )
        self._sniff_tls = peer.kind in ("tcp", "memory")  # plain bytes: maybe TLS by mistake
        self._last_input = trio.current_time()
        self._pinged = False

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
            if self.scope is not None:
                self.scope.cancel()

    def sendq_exceeded(self) -> None:
        """Its outbox overflowed: the client stopped reading."""
        self.kick("SendQ exceeded")

    # -- reading ------------------------------------------------------------

    async def read_loop(self) -> None:
        """Read and handle the client's lines until it leaves or must go."""
        deadline = self._last_input + self._server.config.ping_interval
        while True:
            self.read_scope = scope = trio.CancelScope(deadline=deadline)
            with scope:
                if await self._read_until_done():
                    return
            if self.closing:
                return  # finished or closed: the scope was cancelled, not timed out
            next_deadline = self._idle_deadline()
            if next_deadline is None:
                return
            deadline = next_deadline

    def _idle_deadline(self) -> float | None:
        """The read deadline passed: PING an idle client, or end it (None) on ping timeout."""
        config = self._server.config
        if self._pinged:
            self.quit_reason = f"Ping timeout: {config.ping_timeout:g} seconds"
            self.close(f"Closing link: {self.quit_reason}")
            return None
        now = trio.current_time()
        if now < self._last_input + config.ping_interval:
            return self._last_input + config.ping_interval  # not idle yet
        self.outbox.put(serialize(Message("PING", (config.server_name,))))
        self._pinged = True
        return now + config.ping_timeout

    async def _read_until_done(self) -> bool:
        """Read and handle input; True when the connection must end (EOF, close, flood)."""
        gate = self._gate
        stream = self.stream
        plain = stream.socket if type(stream) is trio.SocketStream else None
        while True:
            if gate is not None and gate.queue:
                # Lines are waiting for a token: read meanwhile, until it is due.
                received = await gate.receive_while_waiting(stream, RECEIVE_BYTES)
                if received is None:
                    if await self._drain(gate) or (gate.eof and not gate.queue):
                        return True
                    continue
                data = received
            elif plain is not None:
                data = await receive_plain(plain, RECEIVE_BYTES)
            else:
                data = await stream.receive_some(RECEIVE_BYTES)
            if not data:
                if gate is None or not gate.queue:
                    return True
                gate.eof = True  # handle what waits first: it was accepted
                continue
            if await self._take_input(data):
                return True

    async def _take_input(self, data: bytes | bytearray) -> bool:
        """Handle (or queue) the lines ``data`` completes; True when the connection must end."""
        self._last_input = trio.current_time()
        self._pinged = False
        if self._sniff_tls:
            self._sniff_tls = False
            if data[0] == _TLS_HANDSHAKE:
                log.info("connection %d sent a TLS handshake to a plain port", self.conn)
                self.quit_reason = "TLS handshake on a plain-text port"
                return True
        # receive_some was a schedule point, so the flusher has written out
        # what the previous chunk fanned out: a burst reaches the outboxes
        # chunk by chunk, never piled up whole (fairness first).
        self._reader.feed(data)
        server = self._server
        server.reads_until_flush -= 1
        if server.reads_until_flush <= 0:
            # A storm: more readers woke in this round than the flusher should
            # wait for (see READS_PER_FLUSH); write out what they produced so far.
            server.reads_until_flush = READS_PER_FLUSH
            server.delivery.flush()
        if self._gate is None:
            return await self._handle_lines(self._reader.lines())
        return await self._enqueue(self._gate)

    # -- flood control ------------------------------------------------------

    async def _enqueue(self, gate: FloodGate) -> bool:
        """Queue the lines just read behind those waiting; True when the connection must end.

        Past the RecvQ the client is disconnected; otherwise what the bucket
        allows is handled now.
        """
        for line in self._reader.lines():
            gate.queue.append(line)
            gate.queued_bytes += _size(line)
        recvq = gate.queued_bytes + self._reader.buffered
        limit = self._server.config.recvq_bytes
        if recvq > limit:
            return self._excess_flood(f"RecvQ exceeded: {recvq} bytes waiting, limit {limit}")
        return await self._drain(gate)

    async def _drain(self, gate: FloodGate) -> bool:
        """Handle waiting lines while the bucket has tokens; True when the connection must end.

        When it runs dry, ``gate.resume_at`` says when to go on; a client whose
        waiting lines would take longer than ``flood_max_lag`` is disconnected.
        """
        bucket = gate.bucket
        queue = gate.queue
        while queue:
            now = trio.current_time()
            delay = bucket.take(now)
            if delay:
                self._server.metrics.flood_delays += 1  # metrics
                lag = bucket.lag(now, len(queue))
                limit = self._server.config.flood_max_lag
                if lag > limit:
                    return self._excess_flood(
                        f"{lag:.0f} seconds of commands waiting, limit {limit:g}"
                    )
                gate.resume_at = now + delay
                return False
            line = queue.popleft()
            gate.queued_bytes -= _size(line)
            if await self._handle_lines((line,)):
                return True
        return False

    def _excess_flood(self, why: str) -> bool:
        """Disconnect a flooding client, saying which limit it passed; True (must end)."""
        context = {"conn": self.conn, "address": self.client.host, "nick": self.client.nick}
        log.info("connection %d: Excess Flood (%s)", self.conn, why, extra=context)
        self.quit_reason = "Excess Flood"
        self.close(f"Closing link: Excess Flood ({why})")
        return True

    # -- handling -----------------------------------------------------------

    async def _handle_lines(self, lines: Iterable[Line]) -> bool:
        """Handle these lines in order; True when the connection must end."""
        server = self._server
        state = server.state
        delivery = server.delivery
        metrics = server.metrics
        conn = self.conn
        registered = self.client.registered
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
                    cluster = server.cluster
                    if cluster is not None:
                        if cluster.intercepts(conn, message):
                            await cluster.submit(conn, message)  # through the cluster's log
                            if self.closing:
                                return True
                            continue
                        await cluster.settle(conn)  # its earlier lines first, in order
                    effects = state.handle(conn, message)
            for ask in delivery.apply(effects):
                await delivery.answer(ask)
            if not registered and self.client.registered:
                registered = True
                metrics.registrations += 1  # metrics
            if self.closing:
                return True
        return False


def _size(line: Line) -> int:
    """What a waiting line counts toward the RecvQ."""
    return len(line) + 2 if isinstance(line, bytes) else MAX_LINE_BYTES

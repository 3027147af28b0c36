"""Fan-out: one message to many connections, and nobody ever waits for anybody.

Each connection has an :class:`Outbox`. Delivering is :meth:`Outbox.put`,
which only appends (it runs once per recipient per message, so it must be
cheap) and hands the outbox to the :class:`Flusher`. The flusher is one task
that wakes once per scheduling round, after every reader that had input in
that round has handled it, and turns everything pending for one connection
into one write (the shape of a C server's event loop: read all, then write
all):

* a plain socket with nothing in flight is written at once, straight to the
  kernel (``os.write`` on the non-blocking socket): no task switch at all for
  a reader that keeps up, which is nearly every reader, nearly always;
* a :class:`FramedStream` (a WebSocket over plain TCP) gets the same: it
  frames the lines without I/O and names its socket, and the flusher writes
  the frames straight to the kernel. Without this each flush round cost such
  a stream a writer task and a task switch, about 3.8 µs of server CPU per
  delivery against 1.0 µs for TCP (benchmarks/README.md, "WebSocket beside
  TCP");
* whatever the kernel does not take, and everything for other streams (TLS,
  in-memory), goes through the connection's bounded memory channel to a writer
  task, started in the connection's nursery only while there is a backlog.
  For a framed stream that backlog is frames already made, sent as they are.

Bytes pending, in the channel and in flight all count toward the SendQ; past
it the outbox closes itself and calls ``on_overflow`` once (the server then
disconnects that reader: "SendQ exceeded"). A stalled reader costs the others
one ``list.append`` per message until then. For a framed stream, what is
pending counts as the bytes put, and what has been framed counts as its
frames (what the kernel is given), so ``queued`` is exact and drops to 0.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import trio

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Flusher", "FramedStream", "Outbox"]


@runtime_checkable
class FramedStream(Protocol):
    """A stream that frames IRC lines itself and may be written to straight from the flusher.

    The outbox uses these instead of ``send_all`` when a stream has them (a
    WebSocket does; the connection handler never knows): it frames each flush
    with :meth:`frame`, writes the frames to :meth:`direct_fd` when there is
    one, and sends the rest with :meth:`send_framed` from its writer task.
    """

    def frame(self, data: bytes) -> bytes:
        """The wire bytes for ``data`` (CRLF-terminated lines), with no I/O."""
        ...

    def direct_fd(self) -> int | None:
        """The non-blocking socket to ``os.write`` frames to now; None when not now, or never."""
        ...

    def hold(self) -> None:
        """A direct write may have cut a frame: write nothing else until the rest is sent."""
        ...

    def release(self) -> None:
        """End a :meth:`hold` whose rest was never sent: the framing is lost for good."""
        ...

    async def send_framed(self, data: bytes) -> None:
        """Send frames from :meth:`frame` as they are, the rest of a held write first."""
        ...


def _socket_fd(stream: trio.abc.Stream) -> int | None:
    """The descriptor to write to directly, for a plain TCP stream only."""
    if type(stream) is trio.SocketStream:
        return stream.socket.fileno()
    return None


class Outbox:
    """What waits to be written to one connection."""

    __slots__ = (
        "_abandoned",
        "_backlog",
        "_backlog_reader",
        "_fd",
        "_flusher",
        "_framed",
        "_nursery",
        "_on_overflow",
        "_pending",
        "_sendq",
        "_stream",
        "_writer_done",
        "closed",
        "queued",
    )

    def __init__(
        self,
        stream: trio.abc.Stream,
        flusher: Flusher,
        *,
        sendq_bytes: int,
        on_overflow: Callable[[], object],
    ) -> None:
        self._stream = stream
        self._fd = _socket_fd(stream)
        self._framed = stream if isinstance(stream, FramedStream) else None
        #: Where a writer task runs when there is a backlog; see :meth:`attach`.
        self._nursery: trio.Nursery | None = None
        self._flusher = flusher
        self._sendq = sendq_bytes
        self._on_overflow = on_overflow
        self._pending: list[bytes] = []
        # Opened at the first backlog: most connections never have one.
        self._backlog: trio.MemorySendChannel[bytes] | None = None
        self._backlog_reader: trio.MemoryReceiveChannel[bytes] | None = None
        self._writer_done: trio.Event | None = None  # set while a writer task runs
        #: Bytes put and not yet taken by the kernel.
        self.queued = 0
        #: No more puts (closing, or overflowed).
        self.closed = False
        self._abandoned = False  # overflowed: drop what is pending, write nothing more

    def attach(self, nursery: trio.Nursery) -> None:
        """Run writer tasks in ``nursery`` (the connection's) from now on."""
        self._nursery = nursery

    def detach(self) -> None:
        """Start no more writer tasks: call it as the nursery's body ends.

        A nursery closes when its last child ends, and its owner resumes only
        later: in between, another task's flush must not start a writer there.
        A writer already running finishes the backlog; anything needing a new
        writer after this is dropped (the connection is ending).
        """
        self._nursery = None

    def put(self, data: bytes) -> None:
        """Queue ``data``; the :class:`Flusher` writes it out this scheduling round."""
        if self.closed:
            return
        queued = self.queued = self.queued + len(data)
        if queued > self._sendq:
            self.abandon()
            self._on_overflow()
            return
        pending = self._pending
        if not pending:  # the first since the last flush: the flusher must come by
            due = self._flusher.due
            if not due:
                self._flusher.wake()
            due.append(self)
        pending.append(data)

    def put_last(self, data: bytes) -> None:
        """Queue ``data`` whatever the SendQ, then accept nothing more (goodbyes)."""
        if not self.closed:
            if not self._pending:
                self._flusher.add(self)
            self._pending.append(data)
            self.queued += len(data)
            self.closed = True

    def close(self) -> None:
        """Accept nothing more; what is queued is still written."""
        self.closed = True

    def abandon(self) -> None:
        """Accept nothing more and write nothing more (not reading, or gone)."""
        self.closed = True
        self._abandoned = True
        self._pending.clear()

    def write_pending(self) -> int:
        """Hand everything pending to the kernel or to the writer task, without waiting.

        Return how many bytes were handed on (the server's bytes-out metric).
        """
        pending = self._pending
        if not pending:
            return 0
        if self._abandoned:
            pending.clear()
            return 0
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        fd = self._fd
        if fd is None or self._writer_done is not None:
            return self._hand_on(data)
        # A plain socket with nothing in flight: nearly every flush of nearly
        # every connection ends here, so this path is kept to the bare write.
        try:
            written = os.write(fd, data)
        except OSError:  # full (EAGAIN), or broken: the writer task will tell which
            written = 0
        self.queued -= written
        if written == len(data):
            return written
        return written + self._to_writer(data[written:])

    def _hand_on(self, data: bytes) -> int:
        """Write ``data`` for a framed stream, or behind a backlog; the bytes handed on."""
        size = len(data)
        framed = self._framed
        if framed is not None:
            # From here the SendQ counts the frames: they are what the kernel takes.
            frames = framed.frame(data)
            self.queued += len(frames) - size
            data, size = frames, len(frames)
            fd = framed.direct_fd() if self._writer_done is None else None
            if fd is not None:
                try:
                    written = os.write(fd, data)
                except OSError:  # full (EAGAIN), or broken: the writer task will tell which
                    written = 0
                self.queued -= written
                if written == size:
                    return size
                data = data[written:]
                if written:
                    framed.hold()  # the kernel may have taken part of a frame
                return written + self._to_writer(data)
        return self._to_writer(data)

    def _to_writer(self, data: bytes) -> int:
        """Queue ``data`` for the writer task, starting it if needed; the bytes handed on."""
        nursery = self._nursery
        if self._writer_done is None and nursery is None:
            # Detached: the connection is ending and no writer may start.
            if self._framed is not None:
                self._framed.release()
            return 0
        if self._backlog is None:
            # Every item is at least one byte and the SendQ bounds the bytes, so
            # this bound is never what refuses an item: the SendQ check is.
            self._backlog, self._backlog_reader = trio.open_memory_channel[bytes](self._sendq)
        self._backlog.send_nowait(data)
        if self._writer_done is None:
            assert nursery is not None
            self._writer_done = trio.Event()
            nursery.start_soon(self._write_backlog, self._backlog_reader, self._writer_done)
        return len(data)

    async def _write_backlog(
        self, backlog: trio.MemoryReceiveChannel[bytes] | None, done: trio.Event
    ) -> None:
        """Send the backlog, as few writes as possible, then end until the next one."""
        assert backlog is not None
        framed = self._framed
        try:
            while not self._abandoned:
                batch: list[bytes] = []
                try:
                    while True:
                        batch.append(backlog.receive_nowait())
                except trio.WouldBlock:
                    pass
                if not batch:
                    return
                data = b"".join(batch)
                if framed is None:
                    await self._stream.send_all(data)
                else:
                    await framed.send_framed(data)
                self.queued -= len(data)
        finally:
            if framed is not None:
                framed.release()  # abandoned or failed before the rest of a cut frame went out
            self._writer_done = None
            done.set()

    async def wait_written(self) -> None:
        """Return once nothing is left for the writer task (flush first)."""
        done = self._writer_done
        if done is not None:
            await done.wait()
        else:
            await trio.lowlevel.checkpoint()


class Flusher:
    """Writes out every outbox that received something, once per scheduling round.

    :meth:`run` is one task for the whole server. Whatever any task delivers
    during a round is written when the flusher runs, in the next round: so
    when many readers wake together (a join storm, five busy senders), each
    recipient still gets one write for all of it, not one per reader.
    """

    def __init__(self) -> None:
        #: The outboxes that received something since the last flush. Outbox.put
        #: appends to it itself (see :meth:`add`): it runs once per delivery.
        self.due: list[Outbox] = []
        self._wakeup = trio.Event()
        #: Bytes handed on by every flush so far (counted per write, not per message).
        self.written = 0

    def wake(self) -> None:
        """Have :meth:`run` flush in the next round (the first outbox is due)."""
        self._wakeup.set()

    def add(self, outbox: Outbox) -> None:
        """Remember ``outbox`` for the next flush (it has just become non-empty)."""
        if not self.due:
            self.wake()
        self.due.append(outbox)

    def flush(self) -> None:
        """Write out everything pending now, without waiting for the next round."""
        outboxes = self.due
        self.due = []
        written = 0
        for outbox in outboxes:
            written += outbox.write_pending()
        self.written += written

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Flush once per round in which something was delivered, forever."""
        task_status.started()
        while True:
            await self._wakeup.wait()
            self._wakeup = trio.Event()
            self.flush()

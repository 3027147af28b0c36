"""A WebSocket as a ``trio.abc.Stream`` of CRLF-terminated IRC lines.

The chat server reads and writes IRC lines on any stream; this adapter makes
an accepted WebSocket one of them, so flood control, limits, ping timeouts
and the SendQ apply to browsers exactly as to TCP clients:

* ``receive_some`` gives each WebSocket message as one line plus CRLF; a
  message longer than the IRC line limit closes the WebSocket with 1009 as
  soon as its size passes the limit (it is never buffered whole), and frames
  wsproto cannot parse close it with the code wsproto names (1002, 1007);
* ``send_all`` splits what the server writes at CRLF and sends each line as
  one message (text for ``text.ircv3.net``, bytes for ``binary.ircv3.net``);
* pings are answered, and a close from either side is completed within a bound.

It is also a :class:`~triochat._server.fanout.FramedStream`: the fan-out frames
each flush with :meth:`WebSocketStream.frame` and, over plain TCP, writes the
frames straight to the socket from its flusher, as it does for a TCP client,
instead of starting a writer task per flush round (that task switch made a
WebSocket delivery cost the server about four times a TCP one). Every write
(data from either path, pongs and close frames from the reader) still goes
out whole and one at a time: :meth:`WebSocketStream.hold` keeps the socket
for the rest of a frame the kernel took only part of.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

import trio
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, TextMessage
from wsproto.frame_protocol import CloseReason

from .._irc.wire import MAX_LINE_BYTES
from .._server.transports import receive_plain

if TYPE_CHECKING:
    from wsproto.connection import Connection

__all__ = ["WebSocketStream"]

log = logging.getLogger("triochat.web")

RECEIVE_BYTES: Final = 65536
#: After our close frame, how long to wait for the peer's before hanging up.
CLOSE_WAIT: Final = 2.0


class WebSocketStream(trio.abc.Stream):
    """IRC lines over an open server-side WebSocket (see the module docstring)."""

    def __init__(
        self,
        transport: trio.abc.Stream,
        connection: Connection,
        *,
        binary: bool = False,
        max_message_bytes: int = MAX_LINE_BYTES,
        close_wait: float = CLOSE_WAIT,
    ) -> None:
        self.transport = transport
        #: The socket to read from and the fan-out to write frames to directly: plain TCP only.
        self._socket = transport.socket if type(transport) is trio.SocketStream else None
        self._fd = None if self._socket is None else self._socket.fileno()
        self._ws = connection
        self._binary = binary
        self._max = max_message_bytes
        self._close_wait = close_wait
        self._inbox = bytearray()  # complete lines, CRLF-terminated, not yet taken
        self._message = bytearray()  # the message being received
        self._oversized = False
        self._eof = False
        self._outgoing = b""  # the start of a line the server has not finished writing
        self._writing: trio.Event | None = None  # set when the write in progress ends
        self._held = False  # _writing is the rest of a direct write's cut frame, not yet sent
        self._broken = False  # a write was cut short: the framing is lost
        self._closed = False
        #: The close code we sent or received, once the WebSocket is closing.
        self.close_code: int | None = None

    # --- receiving

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """The next lines received, CRLF-terminated; ``b""`` once the WebSocket closes."""
        if self._closed:
            raise trio.ClosedResourceError("the WebSocket was closed")
        while not self._inbox and not self._eof:
            data: bytes | bytearray
            if self._socket is not None:  # plain TCP: the reader's short way to the kernel
                data = await receive_plain(self._socket, RECEIVE_BYTES)
            else:
                data = await self.transport.receive_some(RECEIVE_BYTES)
            self._ws.receive_data(bytes(data) if data else None)
            await self._handle_events()
        if not self._inbox:
            await trio.lowlevel.checkpoint()
            return b""
        size = len(self._inbox) if max_bytes is None else max_bytes
        chunk = bytes(self._inbox[:size])
        del self._inbox[:size]
        return chunk

    async def _handle_events(self) -> None:
        for event in self._ws.events():
            if isinstance(event, Message):
                self._take(event)
                if self._oversized:
                    await self._start_close(CloseReason.MESSAGE_TOO_BIG, "line too long")
                    return
            elif isinstance(event, Ping):
                await self._write(self._ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                await self._closed_by_peer(event)
                return

    def _take(self, event: Message[Any]) -> None:
        if isinstance(event, TextMessage):
            data = event.data.encode()
        else:
            assert isinstance(event, BytesMessage)
            data = bytes(event.data)
        self._message += data
        if len(self._message) > self._max:
            self._oversized = True
            self._message.clear()
            return
        if event.message_finished:
            line = bytes(self._message).removesuffix(b"\r\n")
            self._message.clear()
            if line:
                self._inbox += line + b"\r\n"

    async def _closed_by_peer(self, event: CloseConnection) -> None:
        self._eof = True
        if self._ws.state is ConnectionState.REMOTE_CLOSING:
            self.close_code = event.code
            await self._write(self._ws.send(event.response()))
        elif self._ws.state is ConnectionState.OPEN:
            # Not a close frame: wsproto could not parse the input; it names the code.
            log.info("WebSocket protocol error (%d): %s", event.code, event.reason)
            await self._start_close(event.code, event.reason or "")
        else:
            self.close_code = self.close_code or event.code

    async def _start_close(self, code: int, reason: str) -> None:
        """Send our close frame and report EOF; :meth:`aclose` waits for the answer."""
        self._eof = True
        if self._ws.state is ConnectionState.OPEN:
            self.close_code = code
            await self._write(self._ws.send(CloseConnection(code=code, reason=reason[:100])))

    # --- sending

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send each complete line of ``data`` as one WebSocket message."""
        if self._closed:
            raise trio.ClosedResourceError("the WebSocket was closed")
        if self._broken or self._ws.state is not ConnectionState.OPEN:
            raise trio.BrokenResourceError("the WebSocket is closing")
        frames = self.frame(bytes(data))
        if frames:
            await self._write(frames)
        else:
            await trio.lowlevel.checkpoint()

    # --- the fan-out's direct path (see the module docstring)

    def frame(self, data: bytes) -> bytes:
        """One message per complete line of ``data``; an unfinished line waits for its end."""
        if self._outgoing:
            data = self._outgoing + data
        lines = data.split(b"\r\n")
        self._outgoing = lines.pop()
        return b"".join([self._frame(line) for line in lines if line])

    def direct_fd(self) -> int | None:
        """The socket, when frames may be written to it now without waiting or breaking order."""
        if (
            self._writing is not None
            or self._broken
            or self._closed
            or self._ws.state is not ConnectionState.OPEN
        ):
            return None
        return self._fd

    def hold(self) -> None:
        """Keep the socket for the rest of a direct write (:meth:`send_framed` sends it)."""
        assert self._writing is None, "direct writes happen only while nothing else writes"
        self._writing = trio.Event()
        self._held = True

    def release(self) -> None:
        """A held rest will never be sent: the framing is lost, so the stream is broken."""
        if self._held:
            self._held = False
            self._broken = True
            self._end_write()

    async def send_framed(self, data: bytes) -> None:
        """Send frames made by :meth:`frame`: the held rest of a cut frame before anything else."""
        if self._held:
            self._held = False  # the rest completes the frame, whatever state we are in now
            await self._send_owned(data)
            return
        if self._closed:
            raise trio.ClosedResourceError("the WebSocket was closed")
        if self._broken or self._ws.state is not ConnectionState.OPEN:
            raise trio.BrokenResourceError("the WebSocket is closing")
        await self._write(data)

    def _frame(self, line: bytes) -> bytes:
        """One unfragmented, unmasked data frame (RFC 6455 5.2), built here: on the
        hot path of every delivery this is several times cheaper than wsproto's
        general framer, and a whole message with FIN set leaves its state alone."""
        if self._binary:
            opcode = 0x82
        else:
            opcode = 0x81
            try:
                line.decode()
            except UnicodeDecodeError:  # text frames must be UTF-8
                line = line.decode("utf-8", errors="replace").encode()
        size = len(line)
        if size < 126:
            return bytes((opcode, size)) + line
        if size < 65536:
            return bytes((opcode, 126)) + size.to_bytes(2, "big") + line
        return bytes((opcode, 127)) + size.to_bytes(8, "big") + line

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport.wait_send_all_might_not_block()

    async def _write(self, data: bytes) -> None:
        """Write whole frames; one cut short (cancelled, failed) breaks the stream for good.

        The reader (answering a ping or a close) and the writer task may both
        write: the second waits for the first. Not a ``trio.Lock``: that costs
        a full reschedule per write even when nobody else writes, and this is
        on every delivery's path.
        """
        while self._writing is not None:
            await self._writing.wait()
        if self._broken:
            raise trio.BrokenResourceError("a write to this WebSocket was cut short")
        self._writing = trio.Event()
        await self._send_owned(data)

    async def _send_owned(self, data: bytes) -> None:
        """Send ``data`` on the write slot already taken, then give the slot up."""
        finished = False
        try:
            await self.transport.send_all(data)
            finished = True
        finally:
            if not finished:
                self._broken = True
            self._end_write()

    def _end_write(self) -> None:
        done = self._writing
        self._writing = None
        if done is not None:
            done.set()

    # --- closing

    async def aclose(self) -> None:
        """Close the WebSocket (1000, or whatever closing began with), then the transport.

        Waits at most ``close_wait`` for the peer's close frame; cancelled, it
        closes the transport at once.
        """
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closed = True
        try:
            if not self._broken and self._ws.state is ConnectionState.OPEN:
                self.close_code = CloseReason.NORMAL_CLOSURE
                await self._write(self._ws.send(CloseConnection(code=CloseReason.NORMAL_CLOSURE)))
            if not self._broken and self._ws.state is ConnectionState.LOCAL_CLOSING:
                with trio.move_on_after(self._close_wait):
                    await self._await_close_reply()
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError):
            pass
        finally:
            await self.transport.aclose()

    async def _await_close_reply(self) -> None:
        while self._ws.state is ConnectionState.LOCAL_CLOSING:
            data = await self.transport.receive_some(RECEIVE_BYTES)
            self._ws.receive_data(bytes(data) if data else None)
            for _ in self._ws.events():
                pass

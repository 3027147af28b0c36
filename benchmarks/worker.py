"""A load-generator process: a group of IRC clients on one selector.

Each worker owns many non-blocking sockets. It connects and registers them (a
bounded number of handshakes at a time) and reports "registered"; on "join" all
its clients join the channel at once and it reports "ready"; on "go" it sends
its share of the messages and checks every delivery its clients receive, then
reports and keeps the connections open until "stop". Registering before
joining keeps the JOIN echoes (quadratic in the channel size) from being
written one line per system call. It never blocks on one socket: all
waiting happens in ``selector.select`` together with the control pipe.

The per-byte work is done by C code: one ``recv_into`` into a large buffer per
readable socket, one regular expression over the whole chunk, and a clock read
per ``select`` round rather than per line.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
import traceback
from collections import deque
from typing import TYPE_CHECKING, Any

from . import protocol
from .plan import PhaseReport, TrafficReport
from .procstats import own_cpu_seconds, raise_open_file_limit

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.connection import Connection

    from .plan import ClientPlan, TrafficPlan, WorkerPlan

RECEIVE_CHUNK_BYTES = 1 << 20
TICK_S = 0.2
NS = 1_000_000_000

# Client states, in the order a client goes through them.
WAITING, CONNECTING, REGISTERING, REGISTERED, JOINING, READY, DEAD = range(7)
STATE_NAMES = ("waiting", "connecting", "registering", "registered", "joining", "ready", "dead")


class Client:
    """One connection and what it has sent and received so far."""

    __slots__ = (
        "accepted",
        "acked_batches",
        "anomalies",
        "batches",
        "channels",
        "done",
        "error_line",
        "expected",
        "expected_from",
        "got",
        "joins_pending",
        "leftover",
        "next_due_ns",
        "next_seq",
        "nick",
        "outbuf",
        "port",
        "received",
        "sender_id",
        "sent",
        "sock",
        "state",
    )

    def __init__(self, plan: ClientPlan, traffic: TrafficPlan) -> None:
        self.nick = plan.nick
        self.sender_id = plan.sender_id
        self.channels = plan.channels
        self.port = plan.port
        self.joins_pending = len(plan.channels)
        self.sock: socket.socket | None = None
        self.state = WAITING
        self.leftover = b""
        self.outbuf = bytearray()
        self.error_line = ""
        # Receiving: per sender, the next sequence number we expect.
        self.expected_from = [traffic.messages_per_sender] * traffic.senders
        if plan.sender_id is not None:
            self.expected_from[plan.sender_id] = 0  # no echo of our own messages
        self.expected = sum(self.expected_from)
        self.next_seq = [0] * traffic.senders
        self.got = [0] * traffic.senders
        self.accepted = 0
        self.received = 0
        self.anomalies = 0
        self.done = self.expected == 0
        # Sending.
        self.sent = 0
        self.batches = 0
        self.acked_batches = 0
        self.next_due_ns = 0

    def missing(self) -> int:
        """Expected deliveries that never arrived."""
        pairs = zip(self.expected_from, self.got, strict=True)
        return sum(max(0, want - got) for want, got in pairs)

    def unexpected(self) -> int:
        """Deliveries beyond what a sender sent us, such as echoes of our own."""
        pairs = zip(self.expected_from, self.got, strict=True)
        return sum(max(0, got - want) for want, got in pairs)


class Worker:
    """The event loop of one load-generator process."""

    def __init__(self, plan: WorkerPlan, control: Connection) -> None:
        self.plan = plan
        self.traffic = plan.traffic
        self.control = control
        self.selector = selectors.DefaultSelector()
        self.buffer = bytearray(RECEIVE_CHUNK_BYTES)
        self.view = memoryview(self.buffer)
        self.clients = [Client(c, plan.traffic) for c in plan.clients]
        self.waiting = deque(self.clients)
        self.handshaking = 0
        self.opening = False
        self.joining = 0
        self.phase = PhaseReport(worker_index=plan.worker_index)
        self.commands: deque[tuple[str, Any]] = deque()
        self.failures: list[str] = []
        self.in_traffic = False
        self.receivers_pending = 0
        self.senders_pending = 0
        self.progress_ns = 0
        self.start_ns = 0
        self.senders: list[Client] = []
        self.report = TrafficReport(worker_index=plan.worker_index)

    # -- phases -----------------------------------------------------------

    def run(self) -> None:
        """Register, join, run the traffic on "go", report, wait for "stop"."""
        raise_open_file_limit()
        self.selector.register(self.control.fileno(), selectors.EVENT_READ, None)
        self._open_more()
        self._run_phase("registered", lambda: not self.waiting and self.handshaking == 0)
        command, _ = self._next_command()
        if command == "join":
            for client in self.clients:
                if client.state == REGISTERED:
                    client.state = JOINING
                    self.joining += 1
                    self._send(client, protocol.join(client.channels))
            self._run_phase("ready", lambda: self.joining == 0)
            command, argument = self._next_command()
        if command == "go":
            self._run_traffic(int(argument))
            self.control.send(("result", self.report))
            self._next_command()
        for client in self.clients:
            if client.sock is not None:
                client.sock.close()

    def _run_phase(self, name: str, done: Callable[[], bool]) -> None:
        """Service sockets until ``done()`` or the timeout, then report the phase."""
        cpu_before = own_cpu_seconds()
        deadline = time.monotonic_ns() + int(self.plan.connect_timeout_s * NS)
        self._loop(done, deadline)
        target = REGISTERED if name == "registered" else READY
        for client in self.clients:
            if client.state < target:
                self._kill(client, f"timed out while {STATE_NAMES[client.state]}")
        self.phase.failures = self.failures
        self.phase.succeeded = sum(client.state == target for client in self.clients)
        self.phase.cpu_s = own_cpu_seconds() - cpu_before
        self.control.send((name, self.phase))
        self.failures = []
        self.phase = PhaseReport(worker_index=self.plan.worker_index)

    def _next_command(self) -> tuple[str, Any]:
        """Keep every connection serviced until the orchestrator says something."""
        self._loop(lambda: bool(self.commands), None)
        return self.commands.popleft()

    def _run_traffic(self, start_ns: int) -> None:
        """Count deliveries from now on, send from the common start time, until done or stuck.

        Receivers count from "go" on, not from the start time: the senders live
        in another process, whose clock may reach the start time first.
        """
        traffic = self.traffic
        cpu_before = own_cpu_seconds()
        live = [c for c in self.clients if c.state == READY]
        self.receivers_pending = sum(not c.done for c in live)
        self.senders = senders = [c for c in live if c.sender_id is not None]
        self.senders_pending = len(senders)
        for client in self.clients:
            if client.state == DEAD and client.sender_id is not None:
                self.failures.append(f"{client.nick}: sender was gone before the start")
        self.start_ns = self.progress_ns = start_ns
        if traffic.rate_per_sender is not None:
            interval_ns = NS / traffic.rate_per_sender
            for client in senders:
                assert client.sender_id is not None
                offset_ns = int(client.sender_id * interval_ns / traffic.senders)
                client.next_due_ns = start_ns + offset_ns
        self.in_traffic = True
        self._loop(lambda: False, start_ns)
        self.report.first_send_ns = time.monotonic_ns()
        if traffic.rate_per_sender is None:
            for client in senders:
                self._fill_window(client)
        deadline = start_ns + int(traffic.deadline_s * NS)
        self._loop(lambda: self.receivers_pending == 0 and self.senders_pending == 0, deadline)
        self.in_traffic = False
        if self.commands:
            self.report.gave_up = "stopped by the orchestrator"
        elif not self.report.gave_up and (self.receivers_pending or self.senders_pending):
            self.report.gave_up = f"deadline of {traffic.deadline_s:g} s reached"
        self._fill_report(cpu_before)

    def _fill_report(self, cpu_before: float) -> None:
        report = self.report
        for client in self.clients:
            report.expected += client.expected
            report.deliveries += client.received
            report.anomalies += client.anomalies + client.unexpected()
            report.missing += client.missing()
        report.failures = self.failures
        report.cpu_s = own_cpu_seconds() - cpu_before

    # -- the loop ---------------------------------------------------------

    def _loop(self, done: Callable[[], bool], deadline_ns: int | None) -> None:
        """Service sockets until ``done()``, the deadline, or a control message."""
        select = self.selector.select
        while not done() and not self.commands:
            now = time.monotonic_ns()
            if deadline_ns is not None and now >= deadline_ns:
                return
            timeout = TICK_S
            if deadline_ns is not None:
                timeout = min(timeout, (deadline_ns - now) / NS)
            if self.in_traffic and self.traffic.rate_per_sender is not None:
                timeout = min(timeout, self._next_send_in_s(now))
            events = select(max(timeout, 0.0))
            now = time.monotonic_ns()
            for key, mask in events:
                client = key.data
                if client is None:
                    self._read_control()
                    continue
                if mask & selectors.EVENT_WRITE:
                    self._on_writable(client)
                if mask & selectors.EVENT_READ and client.state != DEAD:
                    self._on_readable(client, now)
            if self.in_traffic:
                self._on_tick(time.monotonic_ns())

    def _read_control(self) -> None:
        try:
            self.commands.append(self.control.recv())
        except EOFError:
            self.commands.append(("stop", None))

    def _on_tick(self, now: int) -> None:
        if self.traffic.rate_per_sender is not None:
            self._send_due(now)
        if now - self.progress_ns > self.traffic.stall_timeout_s * NS:
            self.report.gave_up = f"nothing arrived for {self.traffic.stall_timeout_s:g} s"
            self.receivers_pending = self.senders_pending = 0

    # -- connecting -------------------------------------------------------

    def _open_more(self) -> None:
        """Start handshakes until the window is full: paced, but pipelined."""
        if self.opening:
            return  # a failed connect() below calls us again through _kill()
        self.opening = True
        try:
            self._open_while_room()
        finally:
            self.opening = False

    def _open_while_room(self) -> None:
        plan = self.plan
        while self.waiting and self.handshaking < plan.handshake_window:
            client = self.waiting.popleft()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if plan.receive_buffer_bytes:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, plan.receive_buffer_bytes)
            client.sock = sock
            client.state = CONNECTING
            self.handshaking += 1
            code = sock.connect_ex((plan.host, client.port))
            if code not in (0, errno.EINPROGRESS):
                self._kill(client, f"connect failed: {errno.errorcode.get(code, code)}")
                continue
            client.outbuf += protocol.registration(client.nick)
            self.selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)

    def _handshake_lines(self, client: Client, data: bytes, end: int, now: int) -> None:
        for match in protocol.NUMERIC.finditer(data, 0, end):
            code = match.group(1)
            if code in protocol.END_OF_WELCOME and client.state == REGISTERING:
                client.state = REGISTERED
                self.handshaking -= 1
                self.phase.last_ns = now
                self._open_more()
            elif code == protocol.END_OF_NAMES and client.state == JOINING:
                client.joins_pending -= 1
                if client.joins_pending == 0:
                    client.state = READY
                    self.joining -= 1
                    self.phase.last_ns = now
            elif code in protocol.FATAL_NUMERICS:
                self._kill(client, "refused: " + match.group(0).decode(errors="replace"))
                return
        refused = protocol.FAIL.search(data, 0, end)
        if refused is not None:
            self._kill(client, "refused: " + refused.group(0).decode(errors="replace"))
            return
        self._service_lines(client, data, end)

    # -- traffic ----------------------------------------------------------

    def _fill_window(self, client: Client) -> None:
        """Send batches until ``window`` PINGs are unanswered or all is sent."""
        traffic = self.traffic
        total = traffic.messages_per_sender
        sender = client.sender_id
        assert sender is not None
        while client.sent < total and client.batches - client.acked_batches < traffic.window:
            count = min(traffic.batch, total - client.sent)
            stamp = time.monotonic_ns()
            lines = [
                protocol.privmsg(client.channels, sender, seq, stamp, traffic.payload_bytes)
                for seq in range(client.sent, client.sent + count)
            ]
            client.batches += 1
            lines.append(protocol.window_ping(client.batches))
            client.sent += count
            if client.sent == total:
                self.senders_pending -= 1
            self._send(client, b"".join(lines))

    def _next_send_in_s(self, now: int) -> float:
        total = self.traffic.messages_per_sender
        due = [c.next_due_ns for c in self.senders if c.state == READY and c.sent < total]
        return max(0.0, (min(due) - now) / NS) if due else TICK_S

    def _send_due(self, now: int) -> None:
        """Send every message whose time has come, stamped with the real send time."""
        traffic = self.traffic
        assert traffic.rate_per_sender is not None
        interval_ns = NS / traffic.rate_per_sender
        total = traffic.messages_per_sender
        for client in self.senders:
            sender = client.sender_id
            assert sender is not None
            if client.state != READY or client.sent >= total or client.next_due_ns > now:
                continue
            first_due = client.next_due_ns
            offset = int(sender * interval_ns / traffic.senders)
            lines = []
            stamp = time.monotonic_ns()
            self.report.max_send_lag_ns = max(self.report.max_send_lag_ns, stamp - first_due)
            while client.sent < total and client.next_due_ns <= now:
                lines.append(
                    protocol.privmsg(
                        client.channels, sender, client.sent, stamp, traffic.payload_bytes
                    )
                )
                client.sent += 1
                client.next_due_ns = self.start_ns + offset + int(client.sent * interval_ns)
            if client.sent == total:
                self.senders_pending -= 1
            self._send(client, b"".join(lines))

    def _traffic_lines(self, client: Client, data: bytes, end: int, now: int) -> None:
        """Count and check the deliveries in a chunk: the hot path."""
        if client.sender_id is not None and b"PONG" in data:
            for match in protocol.WINDOW_PONG.finditer(data, 0, end):
                client.acked_batches = max(client.acked_batches, int(match.group(1)))
            self.progress_ns = now
            if self.traffic.rate_per_sender is None:
                self._fill_window(client)
        matches = protocol.DELIVERY.findall(data, 0, end)
        if matches:
            next_seq = client.next_seq
            got = client.got
            senders = len(next_seq)
            stale = 0
            latencies = self.report.latencies_ns if self.traffic.record_latency else None
            for sender_b, seq_b, stamp_b in matches:
                sender = int(sender_b)
                seq = int(seq_b)
                if sender >= senders or seq < next_seq[sender]:
                    stale += 1  # a duplicate, or late: out of order
                    continue
                # seq > next_seq[sender] skips lost messages: missing() counts them.
                next_seq[sender] = seq + 1
                got[sender] += 1
                if latencies is not None:
                    latencies.append(now - int(stamp_b))
            client.received += len(matches)
            client.accepted += len(matches) - stale
            client.anomalies += stale
            self.progress_ns = now
            self.report.last_delivery_ns = now
            if not client.done and client.accepted >= client.expected:
                client.done = True
                self.receivers_pending -= 1
        if b"PING" in data or b"ERROR" in data or b"KICK" in data:
            self._service_lines(client, data, end)

    # -- reading and writing ----------------------------------------------

    def _on_readable(self, client: Client, now: int) -> None:
        sock = client.sock
        assert sock is not None
        try:
            count = sock.recv_into(self.buffer)
        except BlockingIOError:
            return
        except OSError as exc:
            self._kill(client, f"connection error: {exc}")
            return
        if count == 0:
            reason = f"closed by the server ({client.error_line})" if client.error_line else ""
            self._kill(client, reason or "closed by the server")
            return
        idle = client.state == READY and not self.in_traffic
        if not idle:
            # Acknowledge at once: a server without TCP_NODELAY (ngIRCd) would
            # otherwise hold its next small write until our delayed ACK (40 ms).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        elif not client.leftover and not self._needs_service(count):
            # Idle members only watch for PING, ERROR and KICK: skip the copy.
            end = self.buffer.rfind(b"\n", 0, count) + 1
            if end < count:
                client.leftover = bytes(self.view[end:count])
            return
        data = bytes(self.view[:count])
        if client.leftover:
            data = client.leftover + data
        end = data.rfind(b"\n") + 1
        client.leftover = data[end:]
        if not end:
            return
        if client.state < READY:
            self._handshake_lines(client, data, end, now)
        elif self.in_traffic:
            self._traffic_lines(client, data, end, now)
        elif b"PING" in data or b"ERROR" in data or b"KICK" in data:
            self._service_lines(client, data, end)

    def _needs_service(self, count: int) -> bool:
        buffer = self.buffer
        return (
            buffer.find(b"PING", 0, count) >= 0
            or buffer.find(b"ERROR", 0, count) >= 0
            or buffer.find(b"KICK", 0, count) >= 0
        )

    def _service_lines(self, client: Client, data: bytes, end: int) -> None:
        """What every client must do whatever the phase: PONG, notice ERROR and KICK."""
        for match in protocol.SERVER_PING.finditer(data, 0, end):
            self._send(client, protocol.pong(match.group(1)))
        error = protocol.SERVER_ERROR.search(data, 0, end)
        if error is not None:
            client.error_line = error.group(0).decode(errors="replace")
        for match in protocol.KICK.finditer(data, 0, end):
            if match.group(1).decode(errors="replace") == client.nick:
                self._kill(client, "kicked: " + match.group(0).decode(errors="replace"))
                return

    def _send(self, client: Client, data: bytes) -> None:
        sock = client.sock
        if sock is None or client.state == DEAD:
            return
        if client.outbuf:
            client.outbuf += data
            return
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._kill(client, f"send failed: {exc}")
            return
        if sent < len(data):
            client.outbuf += data[sent:]
            self.selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)

    def _on_writable(self, client: Client) -> None:
        sock = client.sock
        assert sock is not None
        if client.state == CONNECTING:
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self._kill(client, f"connect failed: {errno.errorcode.get(code, code)}")
                return
            client.state = REGISTERING
        try:
            sent = sock.send(client.outbuf)
        except BlockingIOError:
            return
        except OSError as exc:
            self._kill(client, f"send failed: {exc}")
            return
        del client.outbuf[:sent]
        if not client.outbuf:
            self.selector.modify(sock, selectors.EVENT_READ, client)

    def _kill(self, client: Client, reason: str) -> None:
        """Record a lost connection: it is a FAILURE of the scenario, never ignored."""
        if client.state == DEAD:
            return
        if CONNECTING <= client.state <= REGISTERING:
            self.handshaking -= 1
        elif client.state == JOINING:
            self.joining -= 1
        if self.in_traffic:
            if not client.done:
                client.done = True
                self.receivers_pending -= 1
            total = self.traffic.messages_per_sender
            if client.sender_id is not None and client.sent < total:
                self.senders_pending -= 1
        if client.sock is not None:
            self.selector.unregister(client.sock)
            client.sock.close()
            client.sock = None
        client.state = DEAD
        self.failures.append(f"{client.nick}: {reason}")
        self._open_more()


def worker_main(plan: WorkerPlan, control: Connection) -> None:
    """Entry point of a worker process; any crash is reported, not swallowed."""
    try:
        Worker(plan, control).run()
    except Exception:
        control.send(("error", traceback.format_exc()))
        raise SystemExit(1) from None

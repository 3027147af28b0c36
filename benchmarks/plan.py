"""What a worker process is told to do, and what it reports back.

These travel through multiprocessing pipes, so they are plain picklable
dataclasses: the orchestrator (``scenario.py``) builds the plans and the
workers (``worker.py``) fill in the reports.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrafficPlan:
    """The messages of one scenario, the same for every worker."""

    senders: int
    messages_per_sender: int
    payload_bytes: int
    #: Messages per second of each sender; ``None`` sends as fast as the window allows.
    rate_per_sender: float | None
    #: Burst senders send ``batch`` messages then a PING, and keep at most
    #: ``window`` PINGs unanswered, so a server with a small input buffer
    #: (ngIRCd reads 2 KiB per client) is never flooded past it.
    batch: int
    window: int
    record_latency: bool
    #: Give up when no delivery arrived for this long.
    stall_timeout_s: float
    #: Give up this long after the start, whatever happens.
    deadline_s: float


@dataclass(frozen=True)
class ClientPlan:
    """One connection: its nickname, its channels, its port and, for senders, its sender id."""

    index: int
    nick: str
    sender_id: int | None
    #: A sender's message goes to each of its channels; nobody may share more
    #: than one channel with a sender, or it would get that message twice.
    channels: tuple[str, ...]
    #: The server port it connects to (a cluster has one per node).
    port: int


@dataclass(frozen=True)
class WorkerPlan:
    """Everything one worker process needs."""

    worker_index: int
    host: str
    clients: tuple[ClientPlan, ...]
    traffic: TrafficPlan
    #: Connections a worker keeps between connect() and "registered" at once:
    #: ngIRCd listens with a backlog of 10, so more would overflow it.
    handshake_window: int
    #: SO_RCVBUF of every client socket, so a burst can sit in the kernel
    #: while the worker is busy with other clients; 0 keeps the default.
    receive_buffer_bytes: int
    connect_timeout_s: float


@dataclass
class PhaseReport:
    """Sent when every client of the worker has registered, and again when joined."""

    worker_index: int
    #: When the last client got through this phase (monotonic ns).
    last_ns: int = 0
    succeeded: int = 0
    failures: list[str] = field(default_factory=list)
    cpu_s: float = 0.0


@dataclass
class TrafficReport:
    """Sent when the worker's receivers have everything, or it gave up."""

    worker_index: int
    deliveries: int = 0
    expected: int = 0
    missing: int = 0
    #: Deliveries that came out of order, twice, or from ourselves.
    anomalies: int = 0
    first_send_ns: int = 0
    last_delivery_ns: int = 0
    failures: list[str] = field(default_factory=list)
    latencies_ns: array[int] = field(default_factory=lambda: array("q"))
    #: How late the rate senders were against their schedule, at worst.
    max_send_lag_ns: int = 0
    cpu_s: float = 0.0
    gave_up: str = ""

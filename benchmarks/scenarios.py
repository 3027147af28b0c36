"""The benchmark scenarios (issues 7, 13, 14, 15 and 17), full-size and ``--quick``.

Most scenarios are the same experiment with different sizes: ``clients``
connections join one channel (or ``channels`` of them), the first ``senders``
of them each send ``messages_per_sender`` messages, and every other member
must receive every one of them; on one server, on a moderated channel, or on a
cluster of two nodes. ``kind`` chooses which numbers the table shows; the
``websocket`` and ``logins`` kinds have runners of their own (see ``run.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Kind = Literal[
    "throughput",
    "latency",
    "scale",
    "history",
    "history-on",
    "cluster-fanout",
    "cluster-latency",
    "cluster-scale",
    "websocket",
    "logins",
]
#: Kinds measured on two triochat nodes and a Redis (``--compare`` servers show n/a).
CLUSTER_KINDS: frozenset[Kind] = frozenset({"cluster-fanout", "cluster-latency", "cluster-scale"})
#: Kinds with a runner of their own, for triochat only: WebSocket clients, SASL logins.
OWN_RUNNER_KINDS: frozenset[Kind] = frozenset({"websocket", "logins"})


@dataclass(frozen=True)
class Scenario:
    """One row group of the table."""

    name: str
    title: str
    kind: Kind
    clients: int
    senders: int
    messages_per_sender: int
    #: Messages per second of each sender; None sends as fast as the PING window allows.
    rate_per_sender: float | None = None
    record_latency: bool = False
    payload_bytes: int = 64
    #: SO_RCVBUF per client: big enough to hold a whole burst, so a receiver
    #: whose worker is busy elsewhere is never dropped for reading too slowly.
    receive_buffer_bytes: int = 4 << 20
    #: Handshakes each worker keeps in flight at once.
    handshake_window: int = 4
    batch: int = 10
    window: int = 2
    stall_timeout_s: float = 20.0
    deadline_s: float = 600.0
    connect_timeout_s: float = 120.0
    #: Quiet time between "all joined" and the start, for the last JOIN echoes.
    settle_s: float = 0.3
    #: The receivers are split evenly over this many channels; the senders join
    #: them all and send each message to each of them.
    channels: int = 1
    #: The channels have 100 bans (matching nobody), +n and +m, the senders voiced.
    moderated: bool = False
    #: On a cluster: "spread" deals clients round-robin to the nodes, "apart"
    #: puts the senders on one node and the receivers on the other.
    placement: Literal["spread", "apart"] = "spread"
    #: Idle connections (websocket: RSS per idle connection).
    idle: int = 0
    #: Concurrent SASL logins (logins).
    logins: int = 0
    #: Seconds of chat measured before the logins (logins).
    baseline_s: float = 0.0

    def __post_init__(self) -> None:
        if self.channels > 1 and self.senders > 1:
            raise ValueError("senders share several channels: they would get duplicates")
        if not 0 < self.senders < self.clients or self.receivers < self.channels:
            raise ValueError(f"{self.name}: needs senders, receivers and members per channel")

    @property
    def receivers(self) -> int:
        """Clients that only receive."""
        return self.clients - self.senders


def _fanout(name: str, senders: int, messages: int) -> Scenario:
    return Scenario(
        name=name,
        title=f"fan-out burst: 50 clients, {senders} sender{'s' if senders > 1 else ''}"
        f" x {messages} msgs",
        kind="throughput",
        clients=50,
        senders=senders,
        messages_per_sender=messages,
    )


def _latency(seconds: int) -> Scenario:
    rate, senders = 500, 5
    return Scenario(
        name="latency",
        title=f"latency at {rate} msgs/s in: 50 clients, {senders} senders, {seconds} s",
        kind="latency",
        clients=50,
        senders=senders,
        messages_per_sender=rate * seconds // senders,
        rate_per_sender=rate / senders,
        record_latency=True,
    )


#: Members per channel in the scale scenario. One channel of 10,000 is out of
#: reach: every JOIN is echoed to every member, so joining N clients writes
#: N²/2 lines, and ngIRCd's NAMES handling makes it cubic (4,000 members took
#: it over a minute). Channels of 500 keep "time to join" about the server
#: rather than about that quadratic echo.
SCALE_CHANNEL_SIZE = 500


def _scale(idle: int, *, cluster: bool = False) -> Scenario:
    channels = max(1, -(-idle // SCALE_CHANNEL_SIZE))
    where = "over 2 nodes + Redis, " if cluster else ""
    return Scenario(
        name="cluster-scale" if cluster else "scale",
        title=f"{'cluster ' if cluster else ''}scale: {idle} idle clients {where}in {channels}"
        f" channel{'s' if channels > 1 else ''}, then 1 message to all",
        kind="cluster-scale" if cluster else "scale",
        clients=idle + 1,  # the idle ones and the broadcaster, who is in every channel
        senders=1,
        messages_per_sender=1,
        channels=channels,
        record_latency=True,
        # 10,000 sockets: let the kernel size the buffers; the JOIN echoes are small.
        receive_buffer_bytes=0,
        connect_timeout_s=900.0,
        stall_timeout_s=120.0,
        settle_s=1.0,
    )


def _idle2000(messages: int) -> Scenario:
    return Scenario(
        name="idle2000",
        title=f"idle2000: 2000 clients, 1 sender x {messages} msgs",
        kind="throughput",
        clients=2000,
        senders=1,
        messages_per_sender=messages,
        receive_buffer_bytes=1 << 20,
    )


def _history(messages: int) -> Scenario:
    return replace(
        _fanout("history", 5, messages),
        title=f"history on vs off, fan-out burst: 50 clients, 5 senders x {messages} msgs",
        kind="history",
    )


def _moderation(messages: int) -> Scenario:
    return replace(
        _fanout("moderation", 5, messages),
        title=f"moderation: fanout5 x {messages} msgs in a +nm channel with 100 bans,"
        " senders voiced",
        moderated=True,
    )


def _cluster_fanout(messages: int) -> Scenario:
    return replace(
        _fanout("cluster-fanout", 5, messages),
        title=f"cluster fan-out: 2 nodes + Redis, 50 clients and 5 senders x {messages} msgs"
        " split over the nodes",
        kind="cluster-fanout",
    )


def _cluster_latency(seconds: int) -> Scenario:
    return replace(
        _latency(seconds),
        name="cluster-latency",
        title=f"cluster latency at 500 msgs/s: 5 senders on node a, 45 receivers on node b,"
        f" {seconds} s",
        kind="cluster-latency",
        placement="apart",
    )


def _websocket(clients: int, messages: int, idle: int) -> Scenario:
    return Scenario(
        name="websocket",
        title=f"WebSocket beside TCP: {clients} clients, 1 sender x {messages} msgs; {idle} idle",
        kind="websocket",
        clients=clients,
        senders=1,
        messages_per_sender=messages,
        idle=idle,
    )


def _logins(logins: int, baseline_s: float) -> Scenario:
    return Scenario(
        name="logins",
        title=f"logins: {logins} concurrent SASL SCRAM-SHA-256 logins during a chat"
        " (1 message / 20 ms)",
        kind="logins",
        clients=2,
        senders=1,
        messages_per_sender=0,
        logins=logins,
        baseline_s=baseline_s,
    )


def _smoke(rate: float | None) -> Scenario:
    return Scenario(
        name="smoke" if rate is None else "smoke-rate",
        title="smoke: 3 clients, 1 sender x 20 msgs" + ("" if rate is None else f" at {rate:g}/s"),
        kind="throughput" if rate is None else "latency",
        clients=3,
        senders=1,
        messages_per_sender=20,
        rate_per_sender=rate,
        record_latency=rate is not None,
        stall_timeout_s=10.0,
        deadline_s=30.0,
        connect_timeout_s=20.0,
        settle_s=0.0,
    )


def _smoke_variants() -> list[Scenario]:
    """The new rows at the smallest size, for tests/test_bench_smoke.py."""
    smoke = _smoke(None)
    return [
        replace(smoke, name="smoke-moderation", title="smoke: moderated channel", moderated=True),
        replace(
            smoke,
            name="smoke-cluster",
            title="smoke: 2 nodes + Redis",
            kind="cluster-fanout",
            clients=4,
        ),
        replace(_websocket(3, 20, 5), name="smoke-websocket", stall_timeout_s=10.0),
        replace(_logins(5, 0.2), name="smoke-logins"),
    ]


def catalog(*, quick: bool, scale_clients: int | None = None) -> dict[str, Scenario]:
    """All scenarios by name, in the order the table shows them."""
    if quick:
        scenarios = [
            _fanout("fanout5", 5, 400),
            _fanout("fanout1", 1, 1000),
            _latency(3),
            _scale(scale_clients or 1000),
            _idle2000(100),
            _history(400),
            _moderation(400),
            _websocket(10, 200, 200),
            _logins(100, 1.0),
            _cluster_fanout(400),
            _cluster_latency(3),
            _scale(scale_clients or 1000, cluster=True),
        ]
    else:
        scenarios = [
            _fanout("fanout5", 5, 2000),
            _fanout("fanout1", 1, 2000),
            _latency(10),
            _scale(scale_clients or 10_000),
            _idle2000(500),
            _history(2000),
            _moderation(2000),
            _websocket(50, 2000, 2000),
            _logins(100, 3.0),
            _cluster_fanout(2000),
            _cluster_latency(10),
            _scale(scale_clients or 10_000, cluster=True),
        ]
    scenarios += [_smoke(None), _smoke(100.0), *_smoke_variants()]
    return {scenario.name: scenario for scenario in scenarios}


#: Run by default; the smoke scenarios exist for tests/test_bench_smoke.py.
DEFAULT_SCENARIOS = (
    "fanout5",
    "fanout1",
    "latency",
    "scale",
    "idle2000",
    "history",
    "moderation",
    "websocket",
    "logins",
    "cluster-fanout",
    "cluster-latency",
    "cluster-scale",
)

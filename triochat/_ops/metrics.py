"""Prometheus metrics: plain integers on the hot path, text rendered only on scrape.

Why hand-written rather than ``prometheus-client``: its ``Counter.inc()``
takes a lock and looks up a labelled child on every call, and the counters
here move on the server's hottest paths: every line received, every message
fanned out. Here an update is an attribute or dict-slot increment on
:class:`Metrics` (trio runs the server in one thread, so no lock), made once
per line and once per fanned-out message, never per recipient (deliveries add
``len(targets)``; bytes out are added by the flusher once per write). Gauges
and process numbers are read only when scraped, and :mod:`.textformat` writes
the text; the tests parse it with ``prometheus_client``'s parser, a test-only
dependency.

Label values come from fixed sets declared here (transport kinds, message
kinds, disconnect reasons): never a nickname, channel or address, so the
number of series stays the same however many users and channels there are.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from .textformat import Family, Histogram, histogram_family, process_families, render

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .._server.server import ChatServer
    from .._state.model import PeerInfo

__all__ = ["Metrics", "command_kind", "disconnect_reason", "exposition"]

#: Commands counted under their own kind; any other command is "other".
_COMMAND_KINDS: Final[Mapping[str, str]] = {
    "PRIVMSG": "privmsg",
    "NOTICE": "notice",
    "TAGMSG": "tagmsg",
    "JOIN": "join",
    "PART": "part",
    "QUIT": "quit",
    "NICK": "nick",
    "PING": "ping",
    "PONG": "ping",
    "CAP": "registration",
    "USER": "registration",
    "PASS": "registration",
    "AUTHENTICATE": "registration",
    "CHATHISTORY": "chathistory",
    "MODE": "mode",
    "TOPIC": "topic",
    "KICK": "kick",
}
#: Every kind of message counted: the commands above, numerics, other, invalid lines.
MESSAGE_KINDS: Final = (*sorted(set(_COMMAND_KINDS.values())), "numeric", "other", "invalid")
#: Kinds of messages sent: every kind but invalid lines.
DELIVERY_KINDS: Final = tuple(kind for kind in MESSAGE_KINDS if kind != "invalid")
#: Why connections end, as a small fixed set (see :func:`disconnect_reason`).
DISCONNECT_REASONS: Final = (
    "quit",
    "ping_timeout",
    "registration_timeout",
    "sendq",
    "flood",
    "kill",
    "error",
    "closed",
)
#: (transport, encrypted) pairs that exist: always shown, even at 0.
TRANSPORTS: Final = (
    ("tcp", False),
    ("tls", True),
    ("websocket", False),
    ("websocket", True),
    ("memory", False),
)
#: Seconds; SQLite commits of a batch take from tens of microseconds to a disk's worst.
WRITE_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


def command_kind(command: str) -> str:
    """The bounded label for an IRC command (``PRIVMSG`` → ``privmsg``, ``001`` → ``numeric``)."""
    kind = _COMMAND_KINDS.get(command)
    if kind is not None:
        return kind
    return "numeric" if command.isdigit() else "other"


def disconnect_reason(quit_reason: str | None, *, quit: bool) -> str:
    """Map the server's free-text reason for a disconnection to :data:`DISCONNECT_REASONS`.

    ``quit`` says the client left with ``QUIT`` (the state had already let it go).
    """
    if quit:
        return "quit"
    if quit_reason is None:
        return "closed"
    if quit_reason.startswith("Ping timeout"):
        return "ping_timeout"
    if quit_reason.startswith("Registration timed out"):
        return "registration_timeout"
    if quit_reason.startswith("SendQ"):
        return "sendq"
    if quit_reason.startswith(("Excess Flood", "RecvQ")):
        return "flood"
    if quit_reason.startswith("Killed"):
        return "kill"
    if quit_reason.startswith("Connection reset"):
        return "closed"
    return "error"


class Metrics:
    """What the server counts as it goes; see :func:`exposition` for the rest.

    The server updates these directly (``metrics.flood_delays += 1``); the
    methods are for updates that need a label looked up.
    """

    __slots__ = (
        "accepted",
        "closed",
        "deliveries",
        "disconnections",
        "flood_delays",
        "handshake_failures",
        "history_write_seconds",
        "logins",
        "messages_in",
        "registrations",
        "started",
    )

    def __init__(self) -> None:
        self.started = time.time()
        #: Connections accepted and ended, by (transport, encrypted).
        self.accepted: dict[tuple[str, bool], int] = {}
        self.closed: dict[tuple[str, bool], int] = {}
        self.registrations = 0
        self.messages_in = dict.fromkeys(MESSAGE_KINDS, 0)
        #: Messages queued for clients, by command (the server only sends a bounded set).
        self.deliveries: dict[str, int] = {}
        self.disconnections = dict.fromkeys(DISCONNECT_REASONS, 0)
        self.flood_delays = 0
        #: TLS handshakes that failed or timed out (never admitted as connections).
        self.handshake_failures = 0
        #: Account logins by result; stays at 0 until accounts exist.
        self.logins = {"ok": 0, "failed": 0}
        self.history_write_seconds = Histogram(WRITE_BUCKETS)

    def connection_opened(self, peer: PeerInfo) -> None:
        key = (peer.kind, peer.secure)
        self.accepted[key] = self.accepted.get(key, 0) + 1

    def connection_closed(self, peer: PeerInfo, quit_reason: str | None, *, quit: bool) -> None:
        key = (peer.kind, peer.secure)
        self.closed[key] = self.closed.get(key, 0) + 1
        self.disconnections[disconnect_reason(quit_reason, quit=quit)] += 1

    def message_in(self, command: str) -> None:
        self.messages_in[command_kind(command)] += 1

    def delivered(self, command: str, count: int) -> None:
        """``count`` copies of one ``command`` message were queued (kinds are found on scrape)."""
        deliveries = self.deliveries
        deliveries[command] = deliveries.get(command, 0) + count


def _by(label: str, counts: Mapping[str, int]) -> list[tuple[dict[str, str], float]]:
    return [({label: key}, value) for key, value in counts.items()]


def _connections(metrics: Metrics) -> tuple[Family, Family]:
    open_now = Family(
        "triochat_connections", "gauge", "Connections open now, by transport and encryption."
    )
    accepted = Family(
        "triochat_connections_accepted_total",
        "counter",
        "Connections admitted since the start, by transport and encryption.",
    )
    seen = [key for key in metrics.accepted if key not in TRANSPORTS]  # kinds are a Literal
    for transport, secure in (*TRANSPORTS, *seen):
        labels = {"transport": transport, "tls": "true" if secure else "false"}
        opened = metrics.accepted.get((transport, secure), 0)
        open_now.samples.append((labels, opened - metrics.closed.get((transport, secure), 0)))
        accepted.samples.append((labels, opened))
    return open_now, accepted


def _delivery_kinds(by_command: Mapping[str, int]) -> dict[str, int]:
    kinds = dict.fromkeys(DELIVERY_KINDS, 0)
    for command, count in by_command.items():
        kinds[command_kind(command)] += count
    return kinds


def counter_families(metrics: Metrics) -> list[Family]:
    """The counters the server keeps in ``metrics``."""
    return [
        *_connections(metrics),
        Family(
            "triochat_registrations_total",
            "counter",
            "Clients that completed registration (NICK and USER accepted).",
            [({}, metrics.registrations)],
        ),
        Family(
            "triochat_messages_received_total",
            "counter",
            "Lines received from clients, by command kind.",
            _by("kind", metrics.messages_in),
        ),
        Family(
            "triochat_deliveries_total",
            "counter",
            "Messages queued for clients (one per recipient), by command kind.",
            _by("kind", _delivery_kinds(metrics.deliveries)),
        ),
        Family(
            "triochat_disconnections_total",
            "counter",
            "Connections that ended, by reason.",
            _by("reason", metrics.disconnections),
        ),
        Family(
            "triochat_tls_handshake_failures_total",
            "counter",
            "TLS handshakes that failed or did not finish in time.",
            [({}, metrics.handshake_failures)],
        ),
        Family(
            "triochat_flood_delays_total",
            "counter",
            "Times flood control made a client's commands wait.",
            [({}, metrics.flood_delays)],
        ),
        Family(
            "triochat_account_logins_total",
            "counter",
            "Account logins, by result.",
            _by("result", metrics.logins),
        ),
        histogram_family(
            "triochat_history_write_seconds",
            "Time to save one batch of history to the database.",
            metrics.history_write_seconds,
        ),
    ]


def server_families(server: ChatServer) -> list[Family]:
    """What the server knows right now: clients, channels, refusals, the history queue."""
    network = server.state.network
    registered = sum(1 for _ in network.registered())
    history = server.history
    families = [
        Family("triochat_clients", "gauge", "Registered clients.", [({}, registered)]),
        Family("triochat_channels", "gauge", "Channels that exist.", [({}, len(network.channels))]),
        Family(
            "triochat_sent_bytes_total",
            "counter",
            "Bytes written (or handed to writer tasks) for clients.",
            [({}, server.bytes_sent)],
        ),
        Family(
            "triochat_connections_refused_total",
            "counter",
            "Connections refused by max-clients or max-per-ip.",
            [({}, server.refused_count)],
        ),
        Family(
            "triochat_history_queue_depth",
            "gauge",
            "Messages waiting to be saved to the history database.",
            [({}, history.queue_depth if history is not None else 0)],
        ),
        Family(
            "triochat_history_saved_total",
            "counter",
            "Messages saved to the history database.",
            [({}, history.saved if history is not None else 0)],
        ),
        Family(
            "triochat_history_lost_total",
            "counter",
            "Messages that could not be saved (database failing, queue full).",
            [({}, history.lost if history is not None else 0)],
        ),
    ]
    cluster = server.cluster
    if cluster is not None:
        append = cluster.append_seconds
        families += [
            Family(
                "triochat_cluster_up",
                "gauge",
                "1 while linked to the other nodes.",
                [({}, int(cluster.up))],
            ),
            Family(
                "triochat_cluster_events_applied_total",
                "counter",
                "Cluster log events applied on this node.",
                [({}, cluster.events_applied)],
            ),
            Family(
                "triochat_cluster_append_seconds",
                "gauge",
                "Round trip of the last append to the cluster log.",
                [({}, append if append is not None else 0.0)],
            ),
        ]
    # No live task count here: walking the task tree takes ~40 ms per 50,000 tasks, a
    # stall for every client at every scrape (--stats-interval still logs it).
    return families


def exposition(server: ChatServer) -> str:
    """Everything about ``server`` and this process, in the text exposition format."""
    metrics = server.metrics
    return render(
        [*counter_families(metrics), *server_families(server), *process_families(metrics.started)]
    )

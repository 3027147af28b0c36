"""The server's settings, in one frozen record that every layer reads."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, Literal

__all__ = ["DEFAULT_MOTD", "RESTART_ONLY", "ServerConfig", "reloaded"]

DEFAULT_MOTD: Final = (
    "Welcome to triochat, a chat server built on Trio's structured concurrency.",
    "Type /join #lobby to meet people, or HELP to see every command.",
)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """How a triochat server behaves; the defaults suit a server for people.

    Times are in seconds. ``sendq_bytes`` bounds what may wait for one slow
    reader before it is disconnected ("SendQ exceeded"): large enough that a
    busy server never kicks a healthy client, small enough to bound memory.
    """

    server_name: str = "triochat"
    network_name: str = "triochat"
    password: str | None = None
    motd: tuple[str, ...] | None = DEFAULT_MOTD
    #: A TLS client must finish its handshake within this time.
    handshake_timeout: float = 10.0
    #: A connection must finish NICK/USER (and CAP END) within this time.
    registration_timeout: float = 60.0
    #: After this much silence from a client, the server sends it a PING.
    ping_interval: float = 120.0
    #: A PINGed client that stays silent this long is disconnected.
    ping_timeout: float = 60.0
    #: Bytes that may wait in one client's outbox before it is disconnected.
    sendq_bytes: int = 4 * 1024 * 1024
    #: Time allowed to flush a closing connection's last lines.
    close_timeout: float = 5.0
    #: On shutdown, time allowed for every client to receive its ERROR line.
    shutdown_grace: float = 5.0
    #: Channels one client may be in at once (CHANLIMIT).
    max_channels: int = 50
    #: Connections served at once, registered or not (None: no limit). Past it,
    #: a new connection gets ``ERROR`` and is closed before any state exists.
    max_clients: int | None = 50_000
    #: Connections at once from one address (None: no limit).
    max_per_ip: int | None = 10
    #: Delay a client's excess commands (IRC "fake lag"); off for trusted bots.
    flood_control: bool = True
    #: Commands a client may send at once before flood control delays it.
    flood_burst: int = 40
    #: Commands per second a client is served at once it has used its burst.
    flood_rate: float = 10.0
    #: A client whose waiting commands would take longer than this is
    #: disconnected ("Excess Flood").
    flood_max_lag: float = 20.0
    #: Bytes of one client's input that may wait to be handled (RecvQ) before
    #: it is disconnected ("Excess Flood"); only input delayed by flood control waits.
    recvq_bytes: int = 32 * 1024
    #: Log "stats: connections=N tasks=M rss_kib=K" this often (None: never).
    stats_interval: float | None = None
    #: Keep chat history: record messages, replay them on JOIN, answer CHATHISTORY.
    history: bool = True
    #: The history database: a SQLite file, or ``:memory:`` (``triochat serve``
    #: defaults to ``triochat.db``; a library server keeps nothing on disk unless told).
    history_db: str = ":memory:"
    #: Messages of a channel replayed to whoever joins it (0: no replay).
    history_replay: int = 50
    #: Most messages one CHATHISTORY request returns (advertised as ``CHATHISTORY=``).
    history_request_limit: int = 100
    #: Forget messages older than this many seconds (None: keep them forever).
    history_max_age: float | None = None
    #: Keep at most this many messages per channel or private conversation (None: all).
    history_max_per_channel: int | None = None
    #: A CHATHISTORY query slower than this gets ``FAIL ... MESSAGE_ERROR``.
    history_query_timeout: float = 10.0
    #: On shutdown, time allowed to save the history still queued.
    history_flush_timeout: float = 10.0
    #: Accounts (SASL, REGISTER, NickServ), kept in ``history_db`` beside the history.
    accounts: bool = True
    #: Anyone may register an account (off: only the owner, with ``triochat account create``).
    account_registration: bool = True
    #: What happens to someone who takes a registered account's nickname without logging
    #: in: nothing, a warning and a rename after ``nick_protection_delay``, or at once.
    nick_protection: Literal["off", "warn", "strict"] = "warn"
    nick_protection_delay: float = 30.0
    #: Several connections logged in to one account may share its nickname (Ergo's
    #: multiclient): a message to the nick reaches them all.
    multiclient: bool = True
    #: Server operators: (name, password hash made by ``triochat hash-password``) pairs.
    opers: tuple[tuple[str, str], ...] = ()


#: What a running server cannot change (names already sent to clients, the
#: history store and its tasks): a reload keeps the old values and says so.
RESTART_ONLY: Final = (
    "server_name",
    "network_name",
    "history",
    "history_db",
    "history_replay",
    "history_request_limit",
    "history_flush_timeout",
    "stats_interval",
)


def reloaded(old: ServerConfig, new: ServerConfig) -> tuple[ServerConfig, list[str]]:
    """``new``, except what needs a restart, which keeps its value from ``old``; and notes on it."""
    kept = {name: getattr(old, name) for name in RESTART_ONLY}
    notes = [
        f"{name} changed: restart needed"
        for name, value in kept.items()
        if getattr(new, name) != value
    ]
    return replace(new, **kept), notes

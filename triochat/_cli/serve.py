"""``triochat serve``: bind the listeners, print where, serve until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import re
import resource
import signal
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from .._config import DEFAULT_MOTD, ServerConfig
from .._history.store import HistoryError, HistoryStore
from .._irc.wire import MAX_LINE_BYTES
from .._server.server import serve
from .._tls import DEFAULT_CERT_DIR, SERVER_FILE, TlsSetupError, server_context
from .cluster import add_cluster_arguments, cluster_db, cluster_from_args

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable

    from .._server.delivery import Delivery
    from .._server.replication import Replication
    from .._state.machine import ServerState

__all__ = ["add_arguments", "run"]

log = logging.getLogger("triochat.serve")

DEFAULT_PORT = 6667
DEFAULT_TLS_PORT = 6697
DEFAULT_DB = "triochat.db"
#: The smallest SendQ or RecvQ: one line of the longest kind, tags and CRLF included.
MIN_QUEUE_BYTES = MAX_LINE_BYTES + 2
#: Descriptors kept for other uses than clients (listeners, the database, logs).
SPARE_FILES = 64
_DURATION = re.compile(r"(\d+(?:\.\d*)?)\s*([smhdw]?)")
_SECONDS_PER_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``triochat serve``."""
    defaults = ServerConfig()
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1; use 0.0.0.0 or :: for every interface)",
    )
    parser.add_argument(
        "--port",
        type=int,
        help=(
            f"plain-text TCP port (default: {DEFAULT_PORT}, or none with --tls;"
            " 0 picks a free port and prints it)"
        ),
    )
    tls = parser.add_argument_group("TLS")
    tls.add_argument(
        "--tls",
        action="store_true",
        help="listen for TLS on --tls-port (with --port too, serve plain text as well)",
    )
    tls.add_argument(
        "--tls-port",
        type=int,
        default=DEFAULT_TLS_PORT,
        help=f"TLS port (default: {DEFAULT_TLS_PORT}, the IRC convention; 0 picks a free one)",
    )
    tls.add_argument(
        "--cert",
        type=Path,
        default=DEFAULT_CERT_DIR / SERVER_FILE,
        help="PEM certificate chain, with its private key unless --key (default: %(default)s)",
    )
    tls.add_argument("--key", type=Path, help="PEM private key, if not inside --cert")
    tls.add_argument(
        "--handshake-timeout",
        type=float,
        default=defaults.handshake_timeout,
        metavar="SECONDS",
        help="drop TLS clients that have not finished the handshake by then (default: %(default)s)",
    )
    parser.add_argument(
        "--server-name",
        default=defaults.server_name,
        help=f"the server's name in its replies (default: {defaults.server_name})",
    )
    parser.add_argument(
        "--network-name",
        default=defaults.network_name,
        help=f"the network name shown on welcome (default: {defaults.network_name})",
    )
    parser.add_argument(
        "--password",
        default=os.environ.get("TRIOCHAT_PASSWORD") or None,
        help="require this connection password (PASS); default: $TRIOCHAT_PASSWORD, or none",
    )
    parser.add_argument(
        "--motd-file",
        type=Path,
        help="a text file whose lines are the message of the day (default: a short welcome)",
    )
    parser.add_argument(
        "--registration-timeout",
        type=float,
        default=defaults.registration_timeout,
        metavar="SECONDS",
        help="drop connections that have not registered by then (default: %(default)s)",
    )
    parser.add_argument(
        "--ping-interval",
        type=float,
        default=defaults.ping_interval,
        metavar="SECONDS",
        help="PING clients silent for this long (default: %(default)s)",
    )
    parser.add_argument(
        "--ping-timeout",
        type=float,
        default=defaults.ping_timeout,
        metavar="SECONDS",
        help="drop PINGed clients that stay silent this long (default: %(default)s)",
    )
    limits = parser.add_argument_group("limits and flood control")
    limits.add_argument(
        "--max-clients",
        type=int,
        default=defaults.max_clients,
        metavar="N",
        help="connections served at once, more are refused; 0: no limit but the open-file"
        " limit (default: %(default)s, lowered to fit the open-file limit)",
    )
    limits.add_argument(
        "--max-per-ip",
        type=int,
        default=defaults.max_per_ip,
        metavar="N",
        help="connections at once from one address; 0: no limit (default: %(default)s)",
    )
    limits.add_argument(
        "--max-channels",
        type=int,
        default=defaults.max_channels,
        metavar="N",
        help="channels one client may be in (default: %(default)s)",
    )
    limits.add_argument(
        "--sendq",
        type=int,
        default=defaults.sendq_bytes,
        metavar="BYTES",
        help="output that may wait for one client before it is disconnected (default: %(default)s)",
    )
    limits.add_argument(
        "--recvq",
        type=int,
        default=defaults.recvq_bytes,
        metavar="BYTES",
        help="input of one client that may wait for flood control (default: %(default)s)",
    )
    limits.add_argument(
        "--flood-burst",
        type=int,
        default=defaults.flood_burst,
        metavar="N",
        help="commands a client may send at once before it is slowed (default: %(default)s)",
    )
    limits.add_argument(
        "--flood-rate",
        type=float,
        default=defaults.flood_rate,
        metavar="PER_SECOND",
        help="commands per second once the burst is used (default: %(default)s)",
    )
    limits.add_argument(
        "--flood-max-lag",
        type=float,
        default=defaults.flood_max_lag,
        metavar="SECONDS",
        help="disconnect a client whose waiting commands would take longer (default: %(default)s)",
    )
    limits.add_argument(
        "--flood-control",
        action=argparse.BooleanOptionalAction,
        default=defaults.flood_control,
        help="delay commands past the burst and rate; --no-flood-control handles every"
        " command at once (trusted bots, benchmarks), with no RecvQ (default: on)",
    )
    parser.add_argument(
        "--stats-interval",
        type=float,
        metavar="SECONDS",
        help="log 'stats: connections=N tasks=M rss_kib=K' this often (default: never)",
    )
    history = parser.add_argument_group("history")
    history.add_argument(
        "--db",
        default=DEFAULT_DB,
        metavar="PATH",
        help=(
            "SQLite file that keeps the chat history across restarts"
            " (default: %(default)s in the current directory; :memory: keeps nothing)"
        ),
    )
    history.add_argument(
        "--history-replay",
        type=int,
        default=defaults.history_replay,
        metavar="N",
        help="messages of a channel replayed to whoever joins it; 0: none (default: %(default)s)",
    )
    history.add_argument(
        "--history-max-age",
        metavar="AGE",
        help="forget messages older than AGE, e.g. 30d, 12h, 90m (default: keep them forever)",
    )
    history.add_argument(
        "--history-max-per-channel",
        type=int,
        metavar="N",
        help="keep at most N messages per channel or private conversation (default: all)",
    )
    history.add_argument(
        "--no-history",
        action="store_true",
        help="store nothing, replay nothing, no CHATHISTORY",
    )
    add_cluster_arguments(parser)
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging threshold for messages on stderr (default: INFO)",
    )


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """Turn parsed options into a :class:`ServerConfig`; raise ``ValueError`` if invalid."""
    motd: tuple[str, ...] | None = DEFAULT_MOTD
    if args.motd_file is not None:
        try:
            motd = tuple(args.motd_file.read_text(encoding="utf-8").splitlines()) or None
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"cannot read the MOTD file {args.motd_file}: {error}") from None
    for name in ("server_name", "network_name"):
        value = getattr(args, name)
        if not value or any(c in value for c in " \r\n\0:,!@"):
            raise ValueError(f"--{name.replace('_', '-')} must be one word: {value!r}")
    if args.password is not None and any(c in args.password for c in " \r\n\0"):
        raise ValueError("the password cannot contain spaces or line breaks")
    for name in ("registration_timeout", "ping_interval", "ping_timeout", "handshake_timeout"):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive")
    for name in ("max_clients", "max_per_ip"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be 0 (no limit) or more")
    for name in ("max_channels", "flood_burst"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be positive")
    for name in ("flood_rate", "flood_max_lag"):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive")
    if args.stats_interval is not None and args.stats_interval <= 0:
        raise ValueError("--stats-interval must be positive")
    for name in ("sendq", "recvq"):
        if getattr(args, name) < MIN_QUEUE_BYTES:
            raise ValueError(f"--{name} must be at least {MIN_QUEUE_BYTES} bytes (one line)")
    if args.history_replay < 0:
        raise ValueError("--history-replay must be 0 or more")
    if args.history_max_per_channel is not None and args.history_max_per_channel < 1:
        raise ValueError("--history-max-per-channel must be positive")
    max_age = None if args.history_max_age is None else parse_duration(args.history_max_age)
    return ServerConfig(
        server_name=args.server_name,
        network_name=args.network_name,
        password=args.password,
        motd=motd,
        registration_timeout=args.registration_timeout,
        ping_interval=args.ping_interval,
        ping_timeout=args.ping_timeout,
        handshake_timeout=args.handshake_timeout,
        history=not args.no_history,
        history_db=args.db,
        history_replay=args.history_replay,
        history_max_age=max_age,
        history_max_per_channel=args.history_max_per_channel,
        max_clients=args.max_clients or None,
        max_per_ip=args.max_per_ip or None,
        max_channels=args.max_channels,
        sendq_bytes=args.sendq,
        recvq_bytes=args.recvq,
        flood_control=args.flood_control,
        flood_burst=args.flood_burst,
        flood_rate=args.flood_rate,
        flood_max_lag=args.flood_max_lag,
        stats_interval=args.stats_interval,
    )


def parse_duration(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``45s`` or plain seconds, in seconds; ``ValueError`` if not."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or float(match[1]) <= 0:
        raise ValueError(f"--history-max-age must be a positive duration like 30d or 12h: {text!r}")
    return float(match[1]) * _SECONDS_PER_UNIT[match[2]]


def open_history(config: ServerConfig) -> HistoryStore | None:
    """The history database the config asks for (None without history); ``HistoryError``."""
    if not config.history:
        return None
    try:
        return HistoryStore.open(config.history_db)
    except HistoryError as error:
        raise HistoryError(
            f"cannot open the history database {config.history_db}: {error}"
        ) from None


def _raise_file_limit() -> int:
    """Allow as many connections as the hard limit permits (the soft limit is often 1024).

    Return the open-file limit now in force.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError) as error:
            log.warning("could not raise the open-file limit from %d: %s", soft, error)
            return soft
        soft = hard
    log.info("open-file limit: %d (about as many clients)", soft)
    return soft


def fit_file_limit(config: ServerConfig, file_limit: int) -> ServerConfig:
    """``config`` with ``max_clients`` lowered to what the open-file limit allows.

    Past that limit the server could not even accept a connection to refuse
    it; below it, a client past the limit is told why.
    """
    room = max(1, file_limit - SPARE_FILES)
    if config.max_clients is None or config.max_clients > room:
        log.info("max clients: %d (the open-file limit is %d)", room, file_limit)
        return replace(config, max_clients=room)
    return config


def _address(listener: trio.abc.Listener[Any]) -> str:
    assert isinstance(listener, trio.SocketListener)
    host, port, *_ = listener.socket.getsockname()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _watch_signals(
    stop: trio.Event, cancel_scope: trio.CancelScope, *, task_status: trio.TaskStatus[None]
) -> None:
    """First Ctrl-C or SIGTERM: shut down gracefully. A second one: stop at once."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            if stop.is_set():
                log.warning("second %s: stopping now", signal.Signals(signum).name)
                cancel_scope.cancel()
                return
            log.info("%s: shutting down (again to stop at once)", signal.Signals(signum).name)
            stop.set()


async def open_listeners(
    host: str, port: int | None, tls_port: int | None, context: ssl.SSLContext | None
) -> list[trio.abc.Listener[Any]]:
    """Plain listeners on ``port`` and TLS ones on ``tls_port``, whichever are given."""
    listeners: list[trio.abc.Listener[Any]] = []
    if port is not None:
        listeners += await trio.open_tcp_listeners(port, host=host)
    if tls_port is not None and context is not None:
        for listener in await trio.open_tcp_listeners(tls_port, host=host):
            listeners.append(trio.SSLListener(listener, context))
    return listeners


def _describe(listener: trio.abc.Listener[Any]) -> str:
    if isinstance(listener, trio.SSLListener):
        return f"{_address(listener.transport_listener)} (TLS)"
    return _address(listener)


async def run_server(
    config: ServerConfig,
    host: str,
    port: int | None,
    *,
    tls_port: int | None = None,
    tls_context: ssl.SSLContext | None = None,
    store: HistoryStore | None = None,
    cluster: Callable[[ServerState, Delivery], Replication] | None = None,
) -> int:
    """Listen, announce every bound address on stdout, and serve until told to stop.

    The server saves its queued history to ``store`` and closes it on the way out.
    """
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        await nursery.start(_watch_signals, stop, nursery.cancel_scope)
        try:
            listeners = await open_listeners(host, port, tls_port, tls_context)
        except OSError as error:
            print(f"triochat: cannot listen on {host}: {error.strerror}", file=sys.stderr)
            nursery.cancel_scope.cancel()
            return 1
        for listener in listeners:
            print(f"triochat: listening on {_describe(listener)}", flush=True)
        await serve(listeners, config, store=store, cluster=cluster, shutdown_trigger=stop.wait)
        nursery.cancel_scope.cancel()
    log.info("stopped")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``triochat serve``."""
    try:
        if args.cluster is not None and args.db == DEFAULT_DB:
            args.db = cluster_db(args)  # nodes started in one directory keep apart histories
        config = config_from_args(args)
        tls_context = server_context(args.cert, args.key) if args.tls else None
        cluster = cluster_from_args(args)
        store = open_history(config)
    except (ValueError, TlsSetupError, HistoryError) as error:
        print(f"triochat serve: {error}", file=sys.stderr)
        return 2
    port = args.port if args.port is not None or args.tls else DEFAULT_PORT
    config = fit_file_limit(config, _raise_file_limit())
    try:
        return trio.run(
            partial(
                run_server,
                config,
                args.host,
                port,
                tls_port=args.tls_port if args.tls else None,
                tls_context=tls_context,
                store=store,
                cluster=cluster,
            )
        )
    finally:
        if store is not None:
            store.close()  # already closed by the server, unless it never started

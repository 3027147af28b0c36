"""``triochat serve``: bind the listeners, print where, serve until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from .._history.store import HistoryError, HistoryStore
from .._ops import logs
from .._ops.configfile import ConfigError
from .._ops.filelimit import fit_file_limit, raise_file_limit
from .._ops.http import OpsEndpoint, open_ops_listeners, serve_ops
from .._ops.launch import DEFAULT_PORT, Launch, load, tls_contexts
from .._ops.reload import Reloader
from .._ops.settings import SETTINGS
from .._server.server import ChatServer
from .._server.tlsswap import SwappableTlsListener, TlsContextHolder
from .._tls import DEFAULT_CERT_DIR, SERVER_FILE, TlsSetupError
from .._web.cli import WebOptions, add_web_arguments, serve_chat_and_web
from .._web.listeners import web_url
from . import accounts as accounts_cli
from .cluster import add_cluster_arguments, cluster_from_settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._config import ServerConfig
    from .._server.delivery import Delivery
    from .._server.replication import Replication
    from .._state.machine import ServerState

__all__ = ["add_arguments", "run"]

log = logging.getLogger("triochat.serve")

DEFAULT_TLS_PORT = 6697
DEFAULT_DB = "triochat.db"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``triochat serve``.

    Every option that is a setting defaults to ``argparse.SUPPRESS``, so only
    the flags typed appear in the namespace and win over the config file;
    the defaults shown in the help come from :data:`~.._ops.settings.SETTINGS`.
    """
    defaults = {setting.dest: setting.default for setting in SETTINGS}
    # Options left out stay out of the namespace (groups copy this when created).
    parser.argument_default = argparse.SUPPRESS
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="read settings from this TOML file (see: triochat config example); flags win",
    )
    parser.add_argument(
        "--host",
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
        help=f"TLS port (default: {DEFAULT_TLS_PORT}, the IRC convention; 0 picks a free one)",
    )
    tls.add_argument(
        "--cert",
        type=Path,
        help="PEM certificate chain, with its private key unless --key"
        f" (default: {DEFAULT_CERT_DIR / SERVER_FILE})",
    )
    tls.add_argument("--key", type=Path, help="PEM private key, if not inside --cert")
    tls.add_argument(
        "--handshake-timeout",
        type=float,
        metavar="SECONDS",
        help="drop TLS clients that have not finished the handshake by then"
        f" (default: {defaults['handshake_timeout']})",
    )
    add_web_arguments(parser)
    parser.add_argument(
        "--server-name",
        help=f"the server's name in its replies (default: {defaults['server_name']})",
    )
    parser.add_argument(
        "--network-name",
        help=f"the network name shown on welcome (default: {defaults['network_name']})",
    )
    parser.add_argument(
        "--password",
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
        metavar="SECONDS",
        help="drop connections that have not registered by then"
        f" (default: {defaults['registration_timeout']})",
    )
    parser.add_argument(
        "--ping-interval",
        type=float,
        metavar="SECONDS",
        help=f"PING clients silent for this long (default: {defaults['ping_interval']})",
    )
    parser.add_argument(
        "--ping-timeout",
        type=float,
        metavar="SECONDS",
        help="drop PINGed clients that stay silent this long"
        f" (default: {defaults['ping_timeout']})",
    )
    limits = parser.add_argument_group("limits and flood control")
    limits.add_argument(
        "--max-clients",
        type=int,
        metavar="N",
        help="connections served at once, more are refused; 0: no limit but the open-file"
        f" limit (default: {defaults['max_clients']}, lowered to fit the open-file limit)",
    )
    limits.add_argument(
        "--max-per-ip",
        type=int,
        metavar="N",
        help="connections at once from one address; 0: no limit"
        f" (default: {defaults['max_per_ip']})",
    )
    limits.add_argument(
        "--max-channels",
        type=int,
        metavar="N",
        help=f"channels one client may be in (default: {defaults['max_channels']})",
    )
    limits.add_argument(
        "--sendq",
        type=int,
        metavar="BYTES",
        help="output that may wait for one client before it is disconnected"
        f" (default: {defaults['sendq']})",
    )
    limits.add_argument(
        "--recvq",
        type=int,
        metavar="BYTES",
        help=f"input of one client that may wait for flood control (default: {defaults['recvq']})",
    )
    limits.add_argument(
        "--flood-burst",
        type=int,
        metavar="N",
        help="commands a client may send at once before it is slowed"
        f" (default: {defaults['flood_burst']})",
    )
    limits.add_argument(
        "--flood-rate",
        type=float,
        metavar="PER_SECOND",
        help=f"commands per second once the burst is used (default: {defaults['flood_rate']})",
    )
    limits.add_argument(
        "--flood-max-lag",
        type=float,
        metavar="SECONDS",
        help="disconnect a client whose waiting commands would take longer"
        f" (default: {defaults['flood_max_lag']})",
    )
    limits.add_argument(
        "--flood-control",
        action=argparse.BooleanOptionalAction,
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
        metavar="PATH",
        help=(
            "SQLite file that keeps the chat history across restarts"
            f" (default: {DEFAULT_DB} in the current directory; :memory: keeps nothing)"
        ),
    )
    history.add_argument(
        "--history-replay",
        type=int,
        metavar="N",
        help="messages of a channel replayed to whoever joins it; 0: none"
        f" (default: {defaults['history_replay']})",
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
        dest="history",
        action="store_false",
        help="store nothing, replay nothing, no CHATHISTORY",
    )
    accounts_cli.add_server_arguments(parser)
    add_cluster_arguments(parser)
    parser.add_argument(
        "--oper",
        action="append",
        default=argparse.SUPPRESS,
        metavar="NAME:HASH",
        help="a server operator: OPER NAME <password>; HASH is made by"
        " 'triochat hash-password' (repeat for more operators)",
    )
    metrics = parser.add_argument_group("metrics and health")
    metrics.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve /metrics, /healthz and /readyz over HTTP on this port (0 picks a free one;"
        " default: off)",
    )
    metrics.add_argument(
        "--metrics-host",
        metavar="ADDRESS",
        help=f"address of the metrics endpoint (default: {defaults['metrics_host']})",
    )
    logs = parser.add_argument_group("logging")
    logs.add_argument(
        "--log-level",
        metavar="LEVEL",
        help="debug, info, warning or error, in any case (default: info); on stderr",
    )
    logs.add_argument(
        "--log-format",
        metavar="FORMAT",
        help="text, or json: one JSON object per line (default: text)",
    )


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
    host: str, port: int | None, tls_port: int | None, tls: TlsContextHolder | None
) -> list[trio.abc.Listener[Any]]:
    """Plain listeners on ``port`` and TLS ones on ``tls_port``, whichever are given.

    TLS listeners read their context from ``tls`` at each accept, so a reload
    can swap the certificate for new handshakes.
    """
    listeners: list[trio.abc.Listener[Any]] = []
    if port is not None:
        listeners += await trio.open_tcp_listeners(port, host=host)
    if tls_port is not None and tls is not None:
        for listener in await trio.open_tcp_listeners(tls_port, host=host):
            listeners.append(SwappableTlsListener(listener, tls))
    return listeners


def _describe(listener: trio.abc.Listener[Any]) -> str:
    if isinstance(listener, SwappableTlsListener | trio.SSLListener):
        return f"{_address(listener.transport_listener)} (TLS)"
    return _address(listener)


async def run_server(
    launch: Launch,
    *,
    tls: TlsContextHolder | None = None,
    web_tls: TlsContextHolder | None = None,
    store: HistoryStore | None = None,
    reloader_args: argparse.Namespace | None = None,
    file_limit: int | None = None,
    web: WebOptions | None = None,
    cluster: Callable[[ServerState, Delivery], Replication] | None = None,
) -> int:
    """Listen, announce every bound address on stdout, and serve until told to stop.

    The server saves its queued history to ``store`` and closes it on the way
    out. SIGHUP re-reads ``launch.config_file`` (with ``reloader_args``'s flags
    still winning) and applies what can change without dropping anyone. With
    ``launch.metrics_port``, /metrics, /healthz and /readyz are served too.
    ``cluster`` makes the server a node of a cluster (``--cluster``). ``tls``
    holds the IRC TLS port's context, ``web_tls`` the HTTPS web ports' (see
    :func:`~.._ops.launch.tls_contexts`).
    """
    host, port, tls_port = launch.host, launch.port, launch.tls_port
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        await nursery.start(_watch_signals, stop, nursery.cancel_scope)
        server = ChatServer(launch.server, store=store, cluster=cluster)
        try:
            listeners = await open_listeners(host, port, tls_port, tls)
            web_listeners = [] if web is None else await web.open(host, web_tls)
        except OSError as error:
            print(f"triochat: cannot listen on {host}: {error.strerror}", file=sys.stderr)
            nursery.cancel_scope.cancel()
            return 1
        metrics_address = (
            None if launch.metrics_port is None else (launch.metrics_host, launch.metrics_port)
        )
        try:
            ops = await open_ops_listeners(*metrics_address) if metrics_address else []
        except OSError as error:
            where = "{}:{}".format(*metrics_address) if metrics_address else ""
            print(f"triochat: cannot serve metrics on {where}: {error.strerror}", file=sys.stderr)
            for listener in listeners:
                await listener.aclose()
            nursery.cancel_scope.cancel()
            return 1
        if reloader_args is not None:
            adjust = None if file_limit is None else partial(fit_file_limit, file_limit=file_limit)
            reloader = Reloader(
                server, launch, reloader_args, tls=tls, web_tls=web_tls, adjust=adjust
            )
            server.services.reload = reloader.reload
            await nursery.start(reloader.watch)
        for listener in listeners:
            print(f"triochat: listening on {_describe(listener)}", flush=True)
        for listener in web_listeners:
            print(f"triochat: web client at {web_url(listener)}", flush=True)
        endpoint = OpsEndpoint(server)
        if ops:
            await nursery.start(serve_ops, endpoint, ops)
            for listener in ops:
                print(f"triochat: metrics on http://{_address(listener)}/metrics", flush=True)
        if web is not None:
            await serve_chat_and_web(
                server,
                listeners,
                web_listeners,
                web.policy,
                ops=endpoint,
                shutdown_trigger=stop.wait,
            )
        else:
            await server.serve(listeners, shutdown_trigger=stop.wait)
        nursery.cancel_scope.cancel()
    log.info("stopped")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``triochat serve``."""
    try:
        launch = load(args)
    except ConfigError as error:
        print(f"triochat serve: {error}", file=sys.stderr)
        return 2
    try:
        web = WebOptions.from_settings(launch.web, tls=launch.tls_port is not None)
        if launch.client_ca is not None and launch.tls_port is None:
            raise ValueError("--client-ca only makes sense with --tls")
        irc, https = tls_contexts(
            launch,
            irc=launch.tls_port is not None,
            web=web is not None and web.needs_certificate,
        )
        tls = None if irc is None else TlsContextHolder(irc)
        web_tls = None if https is None else TlsContextHolder(https)
        cluster = cluster_from_settings(launch.cluster)
        store = open_history(launch.server)
        if launch.server.accounts:
            accounts_cli.check_store(launch.server.history_db)
    except (ValueError, TlsSetupError, HistoryError) as error:
        print(f"triochat serve: {error}", file=sys.stderr)
        return 2
    logs.configure(launch.log_level, launch.log_format)
    for warning in launch.warnings:
        log.warning("%s", warning)
    file_limit = raise_file_limit()
    # SIGHUP means "reload" only while the watcher runs; before it starts and after it
    # stops (trio re-raises signals it had not handled yet) it must not kill the server.
    hangup_before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    launch = replace(launch, server=fit_file_limit(launch.server, file_limit))
    try:
        return trio.run(
            partial(
                run_server,
                launch,
                tls=tls,
                web_tls=web_tls,
                store=store,
                reloader_args=args,
                file_limit=file_limit,
                web=web,
                cluster=cluster,
            )
        )
    finally:
        if store is not None:
            store.close()  # already closed by the server, unless it never started
        signal.signal(signal.SIGHUP, hangup_before)  # for a server run in process (tests)
        logs.reset()

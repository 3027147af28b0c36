"""``triochat serve``: bind the listeners, print where, serve until Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import os
import resource
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from ._config import DEFAULT_MOTD, ServerConfig
from ._server import serve

if TYPE_CHECKING:
    import argparse

__all__ = ["add_arguments", "run"]

log = logging.getLogger("triochat.serve")

DEFAULT_PORT = 6667


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
        default=DEFAULT_PORT,
        help=f"TCP port (default: {DEFAULT_PORT}; 0 picks a free port and prints it)",
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
    for name in ("registration_timeout", "ping_interval", "ping_timeout"):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive")
    return ServerConfig(
        server_name=args.server_name,
        network_name=args.network_name,
        password=args.password,
        motd=motd,
        registration_timeout=args.registration_timeout,
        ping_interval=args.ping_interval,
        ping_timeout=args.ping_timeout,
    )


def _raise_file_limit() -> None:
    """Allow as many connections as the hard limit permits (the soft limit is often 1024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError) as error:
            log.warning("could not raise the open-file limit from %d: %s", soft, error)
            return
        soft = hard
    log.info("open-file limit: %d (about as many clients)", soft)


def _address(listener: trio.SocketListener) -> str:
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


async def run_server(config: ServerConfig, host: str, port: int) -> int:
    """Listen, announce every bound address on stdout, and serve until told to stop."""
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        await nursery.start(_watch_signals, stop, nursery.cancel_scope)
        try:
            listeners = await trio.open_tcp_listeners(port, host=host)
        except OSError as error:
            print(f"triochat: cannot listen on {host}:{port}: {error.strerror}", file=sys.stderr)
            nursery.cancel_scope.cancel()
            return 1
        for listener in listeners:
            print(f"triochat: listening on {_address(listener)}", flush=True)
        await serve(listeners, config, shutdown_trigger=stop.wait)
        nursery.cancel_scope.cancel()
    log.info("stopped")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``triochat serve``."""
    try:
        config = config_from_args(args)
    except ValueError as error:
        print(f"triochat serve: {error}", file=sys.stderr)
        return 2
    _raise_file_limit()
    return trio.run(run_server, config, args.host, args.port)

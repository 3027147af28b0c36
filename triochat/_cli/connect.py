"""``triochat connect``: chat on a server from this terminal.

Options are declared by :func:`add_arguments`, and :func:`run` turns them into
one ``trio.run``. A server that cannot be reached gets one clear line on
stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import getpass
import os
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Final

import trio

from .._client.sasl import Credentials
from .._client.session import ConnectError, connect
from .._tls import TlsSetupError, client_context
from .terminal import run_in_terminal

if TYPE_CHECKING:
    import argparse
    import ssl
    from collections.abc import Callable, Mapping

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "add_arguments", "run"]

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 6667
DEFAULT_TLS_PORT: Final = 6697
DEFAULT_CHANNEL: Final = "#lobby"
#: The shell's code for "ended by Ctrl-C", for an interrupt before the session runs.
EXIT_INTERRUPTED: Final = 130
EXIT_UNREACHABLE: Final = 1
EXIT_USAGE: Final = 2
INSECURE_WARNING: Final = (
    "WARNING: --insecure: the server's certificate is NOT checked. The connection is"
    " encrypted, but anyone between you and the server can read and change it."
)
#: Seconds a closing connection may take (a TLS close is a little conversation).
CLOSE_TIMEOUT: Final = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``triochat connect``."""
    parser.add_argument(
        "host",
        nargs="?",
        default=DEFAULT_HOST,
        metavar="HOST",
        help=f"the server to chat on (default: {DEFAULT_HOST})",
    )
    parser.add_argument(
        "--port",
        type=int,
        help=f"its port (default: {DEFAULT_PORT}, or {DEFAULT_TLS_PORT} with --tls)",
    )
    parser.add_argument("--nick", help="your nickname (asked for when not given)")
    parser.add_argument(
        "--channel",
        default=DEFAULT_CHANNEL,
        help=f"the channel to join on arrival (default: {DEFAULT_CHANNEL})",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="line mode: no full-screen interface (the default when not on a terminal)",
    )
    parser.add_argument(
        "--account",
        metavar="NAME",
        help="log in to this account (the password is asked for, or read from"
        " $TRIOCHAT_PASSWORD); SCRAM-SHA-256 when offered, else PLAIN over TLS",
    )
    parser.add_argument(
        "--insecure-plain",
        action="store_true",
        help="with --account, allow SASL PLAIN without TLS (anyone on the path reads the password)",
    )
    tls = parser.add_argument_group("TLS")
    tls.add_argument(
        "--tls", action="store_true", help="encrypt, and check the server's certificate"
    )
    tls.add_argument(
        "--ca",
        type=Path,
        metavar="FILE",
        help="trust the CA in this PEM file (e.g. certs/ca.pem from 'triochat certs');"
        " default: the system's trusted CAs",
    )
    tls.add_argument(
        "--insecure",
        action="store_true",
        help="with --tls, do not check the certificate (anyone in the middle can read along)",
    )


def tls_context_from_args(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The client TLS context the options ask for, or ``None`` for plain text."""
    if args.insecure and not args.tls:
        raise TlsSetupError("--insecure only makes sense with --tls")
    if args.ca is not None and not args.tls:
        raise TlsSetupError("--ca only makes sense with --tls")
    if not args.tls:
        return None
    if args.insecure:
        print(INSECURE_WARNING, file=sys.stderr)
    return client_context(args.ca, insecure=args.insecure)


def port_from_args(args: argparse.Namespace) -> int:
    """``--port``, or the IRC convention: 6697 for TLS, 6667 for plain text."""
    if args.port is not None:
        return int(args.port)
    return DEFAULT_TLS_PORT if args.tls else DEFAULT_PORT


def run(args: argparse.Namespace) -> int:
    """Run ``triochat connect`` and return the exit code."""
    try:
        ssl_context = tls_context_from_args(args)
    except TlsSetupError as error:
        print(f"triochat connect: {error}", file=sys.stderr)
        return EXIT_USAGE
    port = port_from_args(args)
    try:
        login = credentials_from_args(args)
    except (ValueError, EOFError) as error:
        print(f"triochat connect: {error}", file=sys.stderr)
        return EXIT_USAGE
    if full_screen_wanted(args):
        return _run_full_screen(args.host, port, args.nick, args.channel, ssl_context, login)
    try:
        return trio.run(
            partial(_connect_and_chat, login=login),
            args.host,
            port,
            args.nick,
            args.channel,
            ssl_context,
        )
    except* KeyboardInterrupt:
        pass  # Ctrl-C before the session could catch it as a polite quit
    return EXIT_INTERRUPTED


def full_screen_wanted(args: argparse.Namespace) -> bool:
    """The full-screen interface: on a terminal (in and out), unless ``--plain``."""
    if getattr(args, "plain", False) or os.environ.get("TERM") in (None, "", "dumb"):
        return False
    return sys.stdin.isatty() and sys.stdout.isatty()


def credentials_from_args(
    args: argparse.Namespace,
    env: Mapping[str, str] = os.environ,
    prompt: Callable[[str], str] = getpass.getpass,
) -> Credentials | None:
    """The account to log in to (``--account``); the password never comes from argv."""
    if args.account is None:
        if args.insecure_plain:
            raise ValueError("--insecure-plain only makes sense with --account")
        return None
    password = env.get("TRIOCHAT_PASSWORD") or prompt(f"Password for {args.account}: ")
    if not password:
        raise ValueError("no password given")
    return Credentials(args.account, password, insecure_plain=args.insecure_plain)


def _run_full_screen(
    host: str,
    port: int,
    nick: str | None,
    channel: str,
    ssl_context: ssl.SSLContext | None,
    login: Credentials | None,
) -> int:
    from .._tui.app import run_app  # here: Textual loads only for the full-screen client

    try:
        return run_app(
            partial(connect, host, port, ssl_context=ssl_context),
            server=f"{host}:{port}",
            tls=ssl_context is not None,
            nick=nick,
            channel=channel,
            login=login,
        )
    except OSError as error:
        print(f"triochat: cannot connect to {host}:{port}: {_reason(error)}", file=sys.stderr)
    except ConnectError as error:
        print(f"triochat: {error}", file=sys.stderr)
    return EXIT_UNREACHABLE


async def _connect_and_chat(
    host: str,
    port: int,
    nick: str | None,
    channel: str,
    ssl_context: ssl.SSLContext | None,
    *,
    login: Credentials | None = None,
) -> int:
    try:
        stream = await connect(host, port, ssl_context=ssl_context)
    except OSError as error:
        print(f"triochat: cannot connect to {host}:{port}: {_reason(error)}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except ConnectError as error:
        print(f"triochat: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    try:
        return await run_in_terminal(stream, nick=nick, channel=channel, login=login)
    finally:
        with trio.move_on_after(CLOSE_TIMEOUT, shield=True):
            await stream.aclose()  # a cancelled aclose still closes, abruptly


def _reason(error: OSError) -> str:
    """Why a connection failed, in the operating system's words."""
    cause = error.__cause__
    if isinstance(cause, ExceptionGroup) and isinstance(cause.exceptions[0], OSError):
        error = cause.exceptions[0]  # open_tcp_stream tried each address: the first says why
    if error.errno and error.errno > 0:  # trio's text adds the address again: keep the OS's
        return os.strerror(error.errno)
    return error.strerror or str(error)  # name lookup errors have negative numbers

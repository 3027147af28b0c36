"""The ``triochat`` command: ``serve`` runs a server, ``connect`` runs a client, and more.

Only this module (and the client's terminal adapter) knows about argv, stdout
and exit codes; everything it calls is importable and tested on its own.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING

from .._version import __version__
from . import accounts as accounts_cli
from . import certs as certs_cli
from . import config as config_cli
from . import connect as connect_cli
from . import db as db_cli
from . import hash_password as hash_password_cli
from . import serve as serve_cli

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="triochat",
        description="A chat server and client on Trio, speaking IRC.",
    )
    parser.add_argument("--version", action="version", version=f"triochat {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run a chat server")
    serve_cli.add_arguments(serve)
    serve.set_defaults(run=serve_cli.run)
    connect = commands.add_parser("connect", help="chat on a server")
    connect_cli.add_arguments(connect)
    connect.set_defaults(run=connect_cli.run)
    certs = commands.add_parser("certs", help="create a development CA and server certificate")
    certs_cli.add_arguments(certs)
    certs.set_defaults(run=certs_cli.run)
    config = commands.add_parser("config", help="print an example config file, or check one")
    config_cli.add_arguments(config)
    db = commands.add_parser("db", help="database maintenance: backup")
    db_cli.add_arguments(db)
    hashing = commands.add_parser(
        "hash-password", help="make a password hash for 'serve --oper NAME:HASH'"
    )
    hash_password_cli.add_arguments(hashing)
    hashing.set_defaults(run=hash_password_cli.run)
    account = commands.add_parser("account", help="manage accounts (the server's owner)")
    accounts_cli.add_arguments(account)
    account.set_defaults(run=accounts_cli.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` and return the process exit code."""
    args = build_parser().parse_args(argv)
    if args.command != "serve":  # serve sets up its logs from its flags and config file
        logging.basicConfig(
            level="WARNING",
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
    code: int = args.run(args)
    return code


def env_default(name: str) -> str | None:
    """A setting from the environment, for options that must not sit in argv."""
    return os.environ.get(name) or None

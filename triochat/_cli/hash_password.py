"""``triochat hash-password``: make the HASH of ``serve --oper NAME:HASH``.

The password is read without echo from a terminal (asked twice), or as one
line from standard input (for scripts); only the hash is printed, so a plain
password never has to sit in a command line, a config file or a log.
"""

from __future__ import annotations

import getpass
import sys
from typing import TYPE_CHECKING

from .._opers.passwords import DEFAULT_LOG_COST, hash_password

if TYPE_CHECKING:
    import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``triochat hash-password``."""
    parser.add_argument(
        "--cost",
        type=int,
        default=DEFAULT_LOG_COST,
        metavar="LOG2N",
        help="scrypt cost as log2 of N, 10 to 20 (default: %(default)s)",
    )


def _read_password() -> str | None:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        sys.stderr.write("triochat: the passwords differ\n")
        return None
    return first


def run(args: argparse.Namespace) -> int:
    """Print the hash of the password read; exit status 2 when there is none."""
    if not 10 <= args.cost <= 20:
        sys.stderr.write("triochat: --cost must be from 10 to 20\n")
        return 2
    password = _read_password()
    if not password:
        sys.stderr.write("triochat: no password given\n")
        return 2
    sys.stdout.write(hash_password(password, log_cost=args.cost) + "\n")
    return 0

"""``triochat account create NAME`` for the server's owner, and the account options of ``serve``.

A password never goes on the command line (where ``/proc`` shows it to every
user of the machine): it is read from ``TRIOCHAT_PASSWORD`` or asked for
without echo, twice.
"""

from __future__ import annotations

import getpass
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .._accounts.hashing import make_secrets
from .._accounts.records import MAX_PASSWORD_BYTES, MIN_PASSWORD_LENGTH
from .._accounts.store import AccountStore, AccountStoreError
from .._irc.names import valid_nick
from .._state.accounts import SERVICE_NICKS

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from .._accounts.records import Account

__all__ = ["add_arguments", "add_server_arguments", "run"]

#: The environment variable a password may come from instead of the prompt.
PASSWORD_ENV = "TRIOCHAT_PASSWORD"


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The account options of ``triochat serve``."""
    group = parser.add_argument_group("accounts")
    group.add_argument(
        "--no-registration",
        dest="account_registration",
        action="store_false",
        help="nobody registers accounts but the owner (triochat account create)",
    )
    group.add_argument(
        "--nick-protection",
        metavar="off|warn|strict",
        help=(
            "someone who takes a registered nick without logging in is: left alone, warned and"
            " renamed after 30 s, or refused (default: warn)"
        ),
    )
    group.add_argument(
        "--no-accounts",
        dest="accounts",
        action="store_false",
        help="no accounts at all: no SASL, no NickServ",
    )
    group.add_argument(
        "--no-multiclient",
        dest="multiclient",
        action="store_false",
        help="one connection per account's nick: a new login renames the older connection",
    )
    group.add_argument(
        "--client-ca",
        type=Path,
        metavar="FILE",
        help="with --tls, accept only client certificates issued by this CA (PEM) for SASL"
        " EXTERNAL; without it any certificate is accepted, its fingerprint being the identity",
    )


def check_store(path: str) -> None:
    """Open (and so create or migrate) the accounts table at ``path``; ``ValueError`` if not."""
    try:
        AccountStore(path).close()
    except AccountStoreError as error:
        raise ValueError(f"cannot open the accounts database: {error}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``triochat account create NAME [--db PATH] [--email ADDRESS]``."""
    parser.add_argument("action", choices=["create"], help="what to do")
    parser.add_argument("name", help="the account (and reserved nickname) to create")
    parser.add_argument(
        "--db", default="triochat.db", metavar="PATH", help="the server's database (%(default)s)"
    )
    parser.add_argument("--email", help="stored with the account, never verified")
    parser.add_argument(
        "--cluster",
        metavar="URL",
        help="create it in the network whose nodes share this Redis (cluster mode; --db unused)",
    )


def read_password(
    env: dict[str, str] | os._Environ[str] = os.environ,
    prompt: Callable[[str], str] = getpass.getpass,
) -> str:
    """The new password: from ``TRIOCHAT_PASSWORD``, or asked twice without echo."""
    password = env.get(PASSWORD_ENV)
    if password:
        return password
    first = prompt("Password for the new account: ")
    if prompt("Again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def run(args: argparse.Namespace, *, prompt: Callable[[str], str] = getpass.getpass) -> int:
    """Run ``triochat account create``: 0 when created, 1 if the name is taken, 2 on errors."""
    name: str = args.name
    if not valid_nick(name) or name.casefold() in SERVICE_NICKS:
        print(f"triochat account: {name!r} is not a valid nickname", file=sys.stderr)
        return 2
    try:
        password = read_password(prompt=prompt)
        if len(password) < MIN_PASSWORD_LENGTH or len(password.encode()) > MAX_PASSWORD_BYTES:
            raise ValueError(f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_BYTES} bytes")
        if args.cluster is not None:
            return _create_shared(args, name, password)
        store = AccountStore(args.db)
    except (ValueError, AccountStoreError, EOFError) as error:
        print(f"triochat account: {error}", file=sys.stderr)
        return 2
    try:
        password_hash, scram = make_secrets(password)
        account = store.create(name, password_hash, scram, email=args.email, now=time.time())
    finally:
        store.close()
    return _created(account, name, args.db)


def _created(account: Account | None, name: str, where: str) -> int:
    if account is None:
        print(f"triochat account: {name} is already registered", file=sys.stderr)
        return 1
    print(f"created account {account.name} in {where}", file=sys.stderr)
    return 0


def _create_shared(args: argparse.Namespace, name: str, password: str) -> int:
    """Create the account in the cluster's Redis (``ValueError`` if it cannot be reached)."""
    from .cluster import create_shared_account

    password_hash, scram = make_secrets(password)
    account = create_shared_account(
        args.cluster, name, password_hash, scram, email=args.email, now=time.time()
    )
    return _created(account, name, args.cluster)

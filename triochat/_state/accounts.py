"""What the state knows of accounts between questions: reserved names and rate limits.

The accounts themselves live in the database (:mod:`.._accounts.store`); the
state keeps only the set of registered names, so that nick protection is
decided at ``NICK`` without asking anyone, and the limits on failed logins
and registrations, so that an attacker's attempts cost no hashing at all
once they are over the limit.

Limits (documented in the README):

* failed logins, per address: 10 at once, then one more every 6 s;
* failed logins, per account: 20 at once, then one more every 30 s (others,
  and the owner from a known-good certificate, keep logging in);
* account registrations, per address: 3 at once, then one more every 20 min.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from .._accounts.records import MAX_PASSWORD_BYTES, MIN_PASSWORD_LENGTH, Login
from .._accounts.sasl import Chunks
from .._irc import numerics as rpl
from .._irc.names import casefold, valid_nick
from .effects import Ask

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from .._accounts.records import Account
    from .._accounts.sasl import ScramServer
    from .machine import ServerState
    from .model import Client

__all__ = [
    "SERVICE_NICKS",
    "TOO_MANY_FAILURES",
    "AccountsState",
    "Exchange",
    "RateLimit",
    "account_notify",
    "check_registration",
    "login",
    "logout",
    "start_pass_login",
]

#: Nicknames of the server's pseudo-users, casefolded: nobody else may take them.
SERVICE_NICKS: Final = frozenset({"nickserv"})

#: Buckets kept before the full (idle) ones are forgotten.
_MAX_BUCKETS: Final = 10_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimit:
    """A token bucket per key: ``burst`` at once, then one more every ``every`` seconds."""

    def __init__(self, burst: int, every: float) -> None:
        self.burst = burst
        self.every = every
        self._buckets: dict[str, _Bucket] = {}

    def _refill(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) / self.every)
        bucket.at = now
        return bucket

    def _forget_full(self, now: float) -> None:
        for key, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.at) / self.every >= self.burst:
                del self._buckets[key]

    def allows(self, key: str, now: float) -> bool:
        """True while ``key`` has a token left (nothing is taken)."""
        return self._refill(key, now).tokens >= 1

    def take(self, key: str, now: float) -> None:
        bucket = self._refill(key, now)
        bucket.tokens = max(0.0, bucket.tokens - 1)


class AccountsState:
    """Registered names and the limits; one per server state."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        #: Casefolded names of every registered account: reserved nicknames.
        self.names: set[str] = set()
        self.failures_by_host = RateLimit(10, 6.0)
        self.failures_by_account = RateLimit(20, 30.0)
        self.registrations_by_host = RateLimit(3, 1200.0)
        #: Makes decoy SCRAM verifiers for accounts that do not exist.
        self.secret = secrets.token_bytes(32)
        #: Fresh SCRAM server nonces; tests may replace it.
        self.new_nonce: Callable[[], str] = lambda: secrets.token_urlsafe(18)

    def preload(self, names: Iterable[str]) -> None:
        self.names.update(casefold(name) for name in names)

    def is_registered(self, name: str) -> bool:
        return casefold(name) in self.names

    def may_try(self, host: str, account: str) -> bool:
        """False when ``host`` or ``account`` failed too often lately: refuse without checking."""
        now = self._clock()
        return self.failures_by_host.allows(host, now) and self.failures_by_account.allows(
            casefold(account), now
        )

    def failed(self, host: str, account: str) -> None:
        now = self._clock()
        self.failures_by_host.take(host, now)
        self.failures_by_account.take(casefold(account), now)


# -- logins in progress, and logging in ---------------------------------------


@dataclass(slots=True, eq=False)
class Exchange:
    """A login in progress on one connection: SASL, or ``PASS account:password``.

    While one is in progress, registration waits (as for ``CAP END``); the
    registration timeout still applies, so a client that never finishes is
    dropped like any other that never registers.
    """

    mechanism: str
    chunks: Chunks = field(default_factory=Chunks)
    scram: ScramServer | None = None
    #: The account named so far (for the per-account failure limit).
    name: str = ""
    #: SCRAM: the account whose verifier was offered (None: a decoy).
    account: Account | None = None
    #: SCRAM: the proof was right; the client's empty answer completes the login.
    verified: bool = False


def check_registration(
    state: ServerState, client: Client, name: str, password: str, email: str | None
) -> tuple[str, str] | None:
    """Why ``client`` may not register ``name`` now, as ``(FAIL code, text)``; None if it may.

    Checked before anything is hashed or stored, so a refusal stores nothing.
    """
    accounts = state.accounts
    if not state.config.account_registration:
        return "TEMPORARILY_UNAVAILABLE", "Registration is off here; ask the server's owner"
    if client.account is not None:
        return "ALREADY_REGISTERED", f"You are already logged in as {client.account}"
    if not valid_nick(name) or casefold(name) in SERVICE_NICKS:
        return "BAD_ACCOUNT_NAME", "An account name must be a valid nickname"
    if accounts.is_registered(name):
        return "ACCOUNT_EXISTS", f"{name} is already registered"
    if email is not None and (len(email) > 254 or "@" not in email or not email.isprintable()):
        return "INVALID_EMAIL", "That does not look like an e-mail address"
    if len(password) < MIN_PASSWORD_LENGTH:
        return "WEAK_PASSWORD", f"Use at least {MIN_PASSWORD_LENGTH} characters"
    if len(password.encode()) > MAX_PASSWORD_BYTES or not password.isprintable():
        return "UNACCEPTABLE_PASSWORD", f"Use at most {MAX_PASSWORD_BYTES} printable bytes"
    now = state.now()
    if not accounts.registrations_by_host.allows(client.host, now):
        return "TEMPORARILY_UNAVAILABLE", "Too many registrations from your address; try later"
    accounts.registrations_by_host.take(client.host, now)
    return None


def login(state: ServerState, client: Client, account: Account) -> None:
    """``client`` is now ``account``: 900, ``account-notify``, and its private history."""
    client.account = account.name
    client.account_id = account.id
    #: Private history follows the account (by id: a re-registered name is someone else).
    client.session = f"account:{account.id}"
    mask = f"{client.nick}!{client.user or '*'}@{client.host}"
    text = f"You are now logged in as {account.name}"
    state.replies.numeric(client, rpl.RPL_LOGGEDIN, mask, account.name, text)
    if casefold(client.nick) == casefold(account.name):
        client.nick_claim = None
    if client.registered:
        account_notify(state, client)


def logout(state: ServerState, client: Client) -> None:
    """``client`` no longer has an account (it was dropped): 901 and ``account-notify``."""
    old = client.account_id
    client.account = None
    client.account_id = None
    client.session = f"dropped:{old}.{client.conn}"
    mask = f"{client.nick}!{client.user or '*'}@{client.host}"
    state.replies.numeric(client, rpl.RPL_LOGGEDOUT, mask, "You are now logged out")
    if client.registered:
        account_notify(state, client)


def account_notify(state: ServerState, client: Client) -> None:
    """Tell who shares a channel with ``client`` (and asked for ``account-notify``) its account."""
    clients = state.network.clients
    listeners = [
        conn for conn in state.network.peers(client) if "account-notify" in clients[conn].caps
    ]
    if "account-notify" in client.caps:
        listeners.append(client.conn)
    out = state.replies
    out.to(listeners, out.event(client, "ACCOUNT", client.account or "*"))


def start_pass_login(state: ServerState, client: Client) -> bool:
    """``PASS account:password`` (or a bare password, for the nick's account): ask to check it.

    For clients that have only a server-password field. True if a check was
    asked (registration then waits for its answer).
    """
    password = client.password or ""
    client.password = None
    if not state.config.accounts:
        return False
    name, colon, secret = password.partition(":")
    if not colon:
        name, secret = client.nick, password
    if not name or not secret:
        return False
    if not state.accounts.may_try(client.host, name):
        state.replies.server_notice(client, client.nick, TOO_MANY_FAILURES)
        return False
    client.sasl = Exchange("PASS", name=name)
    state.replies.add(Ask(client.conn, Login(name, secret, "pass")))
    return True


#: The answer to a login past the failure limits (see the module's documentation).
TOO_MANY_FAILURES: Final = "Too many failed logins for this address or account; try again later"

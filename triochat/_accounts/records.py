"""Accounts as pure data: what is stored, what the state asks, what the service answers.

No I/O and no trio here: :mod:`.._state` builds these questions and reads
the replies, :mod:`.service` answers them. A password travels only inside a
question, in a field left out of ``repr``, so it never reaches a log line or
a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias

__all__ = [
    "ACCOUNT_QUESTIONS",
    "MAX_PASSWORD_BYTES",
    "MIN_PASSWORD_LENGTH",
    "Account",
    "AccountQuestion",
    "AccountReply",
    "CertChange",
    "CertLogin",
    "Drop",
    "Login",
    "Lookup",
    "Purpose",
    "Register",
    "ScramCredentials",
    "SetPassword",
]

#: Shorter passwords get ``WEAK_PASSWORD``.
MIN_PASSWORD_LENGTH: Final = 6
#: Longer ones get ``UNACCEPTABLE_PASSWORD``: a password must fit in a ``PRIVMSG NickServ``.
MAX_PASSWORD_BYTES: Final = 300

#: Which command asked, so the reply is shown the way that command answers.
Purpose = Literal["sasl", "identify", "pass", "register", "nickserv", "info", "certlist"]


@dataclass(frozen=True, slots=True)
class ScramCredentials:
    """The SCRAM-SHA-256 verifier made at registration (RFC 5802): never the password."""

    salt: bytes
    iterations: int
    stored_key: bytes = field(repr=False)
    server_key: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Account:
    """A registered account as the state sees it (never its password hash).

    ``id`` is never reused: an account dropped and registered again by
    someone else gets a new one, so nothing keyed by the old id (private
    history) reaches the new owner.
    """

    id: int
    name: str
    created: float
    scram: ScramCredentials
    certfps: tuple[str, ...] = ()
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Login:
    """Check ``password`` for account ``name`` (SASL PLAIN, IDENTIFY, PASS)."""

    name: str
    password: str = field(repr=False)
    purpose: Purpose = "sasl"


@dataclass(frozen=True, slots=True)
class Lookup:
    """The account called ``name``, if any (SCRAM needs its verifier; INFO shows it)."""

    name: str
    purpose: Purpose = "sasl"


@dataclass(frozen=True, slots=True)
class CertLogin:
    """The account that added the client certificate ``certfp`` (SASL EXTERNAL)."""

    certfp: str
    purpose: Purpose = "sasl"


@dataclass(frozen=True, slots=True)
class Register:
    """Create account ``name``; the reply's ``error`` is ``ACCOUNT_EXISTS`` if it is taken."""

    name: str
    password: str = field(repr=False)
    email: str | None = None
    purpose: Purpose = "register"


@dataclass(frozen=True, slots=True)
class Drop:
    """Delete the account with this id (its nick is free again)."""

    account_id: int
    purpose: Purpose = "nickserv"


@dataclass(frozen=True, slots=True)
class SetPassword:
    """Replace the password (and the SCRAM verifier) of the account with this id."""

    account_id: int
    password: str = field(repr=False)
    purpose: Purpose = "nickserv"


@dataclass(frozen=True, slots=True)
class CertChange:
    """Add or delete a client-certificate fingerprint of the account with this id."""

    account_id: int
    add: bool
    certfp: str
    purpose: Purpose = "nickserv"


AccountQuestion: TypeAlias = (
    "Login | Lookup | CertLogin | Register | Drop | SetPassword | CertChange"
)
#: The same kinds, for ``isinstance``: what the accounts service answers.
ACCOUNT_QUESTIONS: Final = (Login, Lookup, CertLogin, Register, Drop, SetPassword, CertChange)


@dataclass(frozen=True, slots=True)
class AccountReply:
    """What the accounts service found: the account (None: no such, or a wrong password).

    ``error`` names a refusal (``ACCOUNT_EXISTS``); it is empty otherwise.
    """

    account: Account | None
    error: str = ""

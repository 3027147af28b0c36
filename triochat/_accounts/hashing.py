"""Password hashes: slow on purpose, so always computed in a worker thread (see :mod:`.service`).

``hashlib.scrypt`` (stdlib, n=2**14, r=8, p=1: about 60 ms and 16 MiB) for
PLAIN, IDENTIFY and PASS; the SCRAM verifier is made at the same moment from
the same password (PBKDF2, :func:`.sasl.scram_credentials`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import TYPE_CHECKING, Final

from .sasl import SCRAM_ITERATIONS, scram_credentials

if TYPE_CHECKING:
    from .records import ScramCredentials

__all__ = ["hash_password", "make_secrets", "verify_password"]

_N: Final = 2**14
_R: Final = 8
_P: Final = 1
#: A hash to check against when the account does not exist, so that answers take as long.
_DECOY: Final = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 44


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=2**26)


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash``, with a fresh salt."""
    salt = os.urandom(16)
    digest = _scrypt(password, salt, _N, _R, _P)
    encoded = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    return f"scrypt${_N}${_R}${_P}${encoded[0]}${encoded[1]}"


def verify_password(stored: str | None, password: str) -> bool:
    """True if ``password`` matches ``stored``; None (no such account) still costs a hash."""
    try:
        scheme, n, r, p, salt, digest = (stored or _DECOY).split("$")
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return scheme == "scrypt" and stored is not None and hmac.compare_digest(actual, expected)


def make_secrets(password: str) -> tuple[str, ScramCredentials]:
    """Everything stored for a new password: its scrypt hash and its SCRAM verifier."""
    return hash_password(password), scram_credentials(password, os.urandom(16), SCRAM_ITERATIONS)

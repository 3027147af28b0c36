"""Password hashes for operator blocks: scrypt from the standard library.

A hash reads ``$scrypt$ln=14,r=8,p=1$<salt>$<key>`` (base64 without padding),
so its cost travels with it and can be raised later without breaking old
hashes. Hashing is slow and memory-hungry on purpose: the server runs
:func:`verify_password` in a worker thread, never on the event loop. Plain
passwords never appear in configuration or logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from typing import Final

__all__ = ["DEFAULT_LOG_COST", "hash_password", "is_password_hash", "verify_password"]

#: log2 of scrypt's N: 2**14 takes some 50 ms and 16 MiB on a laptop.
DEFAULT_LOG_COST: Final = 14
_HASH: Final = re.compile(
    r"\$scrypt\$ln=(?P<ln>\d{1,2}),r=(?P<r>\d{1,2}),p=(?P<p>\d{1,2})"
    r"\$(?P<salt>[A-Za-z0-9+/]{16,})\$(?P<key>[A-Za-z0-9+/]{16,})"
)
_SALT_BYTES: Final = 16
_KEY_BYTES: Final = 32


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, log_cost: int, r: int, p: int, size: int) -> bytes:
    n = 1 << log_cost
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + (1 << 20), dklen=size
    )


def hash_password(password: str, *, log_cost: int = DEFAULT_LOG_COST) -> str:
    """A new salted hash of ``password`` (for ``triochat hash-password``)."""
    salt = os.urandom(_SALT_BYTES)
    key = _scrypt(password, salt, log_cost, 8, 1, _KEY_BYTES)
    return f"$scrypt$ln={log_cost},r=8,p=1${_b64(salt)}${_b64(key)}"


def is_password_hash(text: str) -> bool:
    """True when ``text`` reads as a hash made by :func:`hash_password`."""
    found = _HASH.fullmatch(text)
    return found is not None and 1 <= int(found["ln"]) <= 20


def verify_password(password: str, hashed: str) -> bool:
    """True when ``password`` is the one ``hashed`` was made from; slow, run it in a thread."""
    found = _HASH.fullmatch(hashed)
    if found is None or not 1 <= int(found["ln"]) <= 20:
        return False
    expected = _unb64(found["key"])
    try:
        key = _scrypt(
            password,
            _unb64(found["salt"]),
            int(found["ln"]),
            int(found["r"]),
            int(found["p"]),
            len(expected),
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(key, expected)

"""The client side of SASL, sans-IO: which mechanism, and what to answer each ``AUTHENTICATE``.

SCRAM-SHA-256 when the server offers it (the password never leaves the
machine); PLAIN otherwise, but only over TLS unless the user said
``--insecure-plain`` (PLAIN sends the password itself).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass, field

from .._accounts.sasl import (
    CHUNK_BYTES,
    encode_chunks,
    scram_client_final,
    scram_client_first,
)

__all__ = ["Credentials", "SaslClient"]


@dataclass(frozen=True, slots=True)
class Credentials:
    """An account to log in to; the password is left out of ``repr``."""

    account: str
    password: str = field(repr=False)
    #: PLAIN may be used without TLS (the user accepted that anyone may read it).
    insecure_plain: bool = False


class SaslClient:
    """One SASL exchange, fed the server's ``AUTHENTICATE`` parameters."""

    def __init__(self, credentials: Credentials, *, secure: bool, offered: str | None) -> None:
        self._credentials = credentials
        mechanisms = offered.split(",") if offered else ["SCRAM-SHA-256", "PLAIN"]
        plain_ok = secure or credentials.insecure_plain
        #: The mechanism to ask for; None when none may be used (say why: :attr:`refusal`).
        self.mechanism: str | None = None
        self.refusal = ""
        if "SCRAM-SHA-256" in mechanisms:
            self.mechanism = "SCRAM-SHA-256"
        elif "PLAIN" in mechanisms and plain_ok:
            self.mechanism = "PLAIN"
        elif "PLAIN" in mechanisms:
            self.refusal = "the server offers only PLAIN, which would send the password in clear"
        else:
            self.refusal = "the server offers no SASL mechanism this client knows"
        self._nonce = secrets.token_urlsafe(18)
        self._parts: list[str] = []
        self._expected: bytes | None = None
        self._step = 0

    def respond(self, chunk: str) -> list[str] | None:
        """The parameters of the ``AUTHENTICATE`` lines to send; None to abort (``*``)."""
        if len(chunk) == CHUNK_BYTES:
            self._parts.append(chunk)
            return []
        text = "".join(self._parts) + ("" if chunk == "+" else chunk)
        self._parts = []
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None
        self._step += 1
        account, password = self._credentials.account, self._credentials.password
        if self.mechanism == "PLAIN":
            return encode_chunks(f"{account}\0{account}\0{password}".encode()) if not data else None
        if self._step == 1:
            return encode_chunks(scram_client_first(account, self._nonce))
        if self._step == 2:
            answer = scram_client_final(account, password, self._nonce, data)
            if answer is None:
                return None
            final, self._expected = answer
            return encode_chunks(final)
        if self._step == 3 and self._expected is not None:
            # The server proves it knew the verifier too: otherwise, stop here.
            return ["+"] if hmac.compare_digest(data, self._expected) else None
        return None

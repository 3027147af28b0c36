"""SASL as sans-IO: the ``AUTHENTICATE`` chunking, PLAIN, and SCRAM-SHA-256 (RFC 5802, 7677).

Nothing here does I/O: the state feeds in what the client sent and gets back
what to answer. SCRAM is written with :mod:`hashlib` and :mod:`hmac` (it is a
few lines, and every step is visible). The server stores only a SCRAM
verifier (``StoredKey``, ``ServerKey``, salt, iterations), never the password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Final

from .records import ScramCredentials

__all__ = [
    "CHUNK_BYTES",
    "MAX_SASL_BYTES",
    "MECHANISMS",
    "SCRAM_ITERATIONS",
    "Chunks",
    "SaslTooLong",
    "ScramServer",
    "decode",
    "decoy_credentials",
    "encode_chunks",
    "parse_plain",
    "scram_client_final",
    "scram_client_first",
    "scram_credentials",
]

#: An ``AUTHENTICATE`` parameter carries at most this many base64 bytes; a full one means more.
CHUNK_BYTES: Final = 400
#: A whole SASL message (base64) longer than this gets 905.
MAX_SASL_BYTES: Final = 4096
#: PBKDF2 iterations of a SCRAM verifier (RFC 7677's minimum).
SCRAM_ITERATIONS: Final = 4096
#: Mechanisms offered when a client certificate can be checked, and without.
MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256")


class SaslTooLong(Exception):
    """A SASL message past :data:`MAX_SASL_BYTES`, or a chunk past :data:`CHUNK_BYTES`."""


@dataclass(slots=True)
class Chunks:
    """Reassembles a client's ``AUTHENTICATE`` chunks into one SASL message.

    A chunk of exactly 400 bytes says that more follow; a shorter one (or
    ``+`` for an empty one) ends the message.
    """

    #: Left out of ``repr``: a PLAIN message carries the password.
    parts: list[str] = field(default_factory=list, repr=False)
    size: int = 0

    def feed(self, chunk: str) -> bytes | None:
        """The decoded message once ``chunk`` ends it, else None; raises on abuse.

        Raises :class:`SaslTooLong`, or :class:`ValueError` for bad base64.
        """
        if len(chunk) > CHUNK_BYTES:
            raise SaslTooLong
        if chunk != "+":
            self.size += len(chunk)
            if self.size > MAX_SASL_BYTES:
                raise SaslTooLong
            self.parts.append(chunk)
        if len(chunk) == CHUNK_BYTES:
            return None
        text, self.parts, self.size = "".join(self.parts), [], 0
        return decode(text)


def decode(text: str) -> bytes:
    """Strict base64 (an empty message is empty); :class:`ValueError` if it is not."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("bad base64") from None


def encode_chunks(data: bytes) -> list[str]:
    """``data`` as the parameters of ``AUTHENTICATE`` lines: 400-byte chunks, ``+`` if needed."""
    text = base64.b64encode(data).decode()
    chunks = [text[i : i + CHUNK_BYTES] for i in range(0, len(text), CHUNK_BYTES)]
    if not chunks or len(chunks[-1]) == CHUNK_BYTES:
        chunks.append("+")
    return chunks


def parse_plain(data: bytes) -> tuple[str, str] | None:
    """``(account, password)`` of a PLAIN message (RFC 4616), or None if malformed.

    An authorization identity is accepted only when it is empty or names the
    same account: nobody logs in as someone else here.
    """
    try:
        authzid, authcid, password = data.decode().split("\0")
    except (UnicodeDecodeError, ValueError):
        return None
    if not authcid or not password or (authzid and authzid != authcid):
        return None
    return authcid, password


# -- SCRAM-SHA-256 -----------------------------------------------------------


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, "sha256")


def _xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


def scram_credentials(password: str, salt: bytes, iterations: int) -> ScramCredentials:
    """The verifier of ``password``: slow on purpose (PBKDF2), so run it off the event loop."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = _hmac(salted, b"Client Key")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = _hmac(salted, b"Server Key")
    return ScramCredentials(salt, iterations, stored_key, server_key)


def decoy_credentials(name: str, secret: bytes) -> ScramCredentials:
    """A verifier for an account that does not exist, the same every time for ``name``.

    The exchange then goes on exactly as for a real account and fails at the
    proof (904), so nothing reveals whether the account exists.
    """
    salt = _hmac(secret, b"salt:" + name.encode())[:16]
    key = _hmac(secret, b"key:" + name.encode())
    return ScramCredentials(salt, SCRAM_ITERATIONS, key, key)


def _attributes(message: str) -> dict[str, str] | None:
    """``a=1,b=2`` as a dict; None if an attribute is malformed or repeated."""
    attributes: dict[str, str] = {}
    for part in message.split(","):
        name, equals, value = part.partition("=")
        if len(name) != 1 or not equals or name in attributes:
            return None
        attributes[name] = value
    return attributes


def _unescape_name(saslname: str) -> str | None:
    """RFC 5802 ``saslname``: ``=2C`` is a comma, ``=3D`` an equals sign, any other ``=`` is bad."""
    name = saslname.replace("=2C", ",").replace("=3D", "\0")
    if "=" in name:
        return None
    return name.replace("\0", "=")


@dataclass(slots=True)
class ScramServer:
    """One server side of a SCRAM-SHA-256 exchange, fed one client message at a time.

    ``nonce`` is this exchange's fresh random part: a client-final message
    from another exchange (a replay) never matches it.
    """

    nonce: str
    name: str = ""
    _header: str = ""
    _client_first_bare: str = ""
    _server_first: str = ""
    _credentials: ScramCredentials | None = None

    def client_first(self, data: bytes) -> str | None:
        """Read ``client-first-message``; the account name it names, or None if malformed.

        Channel binding is not offered (no ``-PLUS``): ``p=`` is refused.
        """
        try:
            text = data.decode()
        except UnicodeDecodeError:
            return None
        cbind, comma, rest = text.partition(",")
        authzid, comma2, bare = rest.partition(",")
        if cbind not in ("n", "y") or not comma or not comma2:
            return None
        attributes = _attributes(bare)
        if attributes is None or list(attributes)[:2] != ["n", "r"]:
            return None
        name = _unescape_name(attributes["n"])
        cnonce = attributes["r"]
        if not name or not cnonce or not cnonce.isprintable() or "," in cnonce:
            return None
        if authzid and _unescape_name(authzid.removeprefix("a=")) != name:
            return None
        self.name = name
        self._header = f"{cbind},{authzid},"
        self._client_first_bare = bare
        self.nonce = cnonce + self.nonce
        return name

    def server_first(self, credentials: ScramCredentials) -> bytes:
        """``server-first-message`` for the account's verifier (or a decoy's)."""
        self._credentials = credentials
        salt = base64.b64encode(credentials.salt).decode()
        self._server_first = f"r={self.nonce},s={salt},i={credentials.iterations}"
        return self._server_first.encode()

    def client_final(self, data: bytes) -> bytes | None:
        """Check ``client-final-message``; the ``server-final-message`` if the proof is right."""
        credentials = self._credentials
        if credentials is None:
            return None
        try:
            text = data.decode()
        except UnicodeDecodeError:
            return None
        without_proof, _, proof_part = text.rpartition(",p=")
        attributes = _attributes(without_proof)
        if attributes is None or list(attributes)[:2] != ["c", "r"]:
            return None
        try:
            binding = base64.b64decode(attributes["c"], validate=True).decode()
            proof = base64.b64decode(proof_part, validate=True)
        except (binascii.Error, ValueError):
            return None
        if binding != self._header or not hmac.compare_digest(attributes["r"], self.nonce):
            return None
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        signature = _hmac(credentials.stored_key, auth_message)
        if len(proof) != len(signature):
            return None
        client_key = _xor(proof, signature)
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), credentials.stored_key):
            return None
        verifier = base64.b64encode(_hmac(credentials.server_key, auth_message)).decode()
        return f"v={verifier}".encode()


# -- the client side (``triochat connect``, and the tests) ---------------------


def _escape_name(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


def scram_client_first(name: str, cnonce: str) -> bytes:
    """The client's first message, without channel binding."""
    return f"n,,n={_escape_name(name)},r={cnonce}".encode()


def scram_client_final(
    name: str, password: str, cnonce: str, server_first: bytes
) -> tuple[bytes, bytes] | None:
    """``(client-final, expected server-final)`` messages; None if ``server_first`` is bad."""
    attributes = _attributes(server_first.decode(errors="replace"))
    if attributes is None or not attributes.get("r", "").startswith(cnonce):
        return None
    try:
        salt = base64.b64decode(attributes["s"], validate=True)
        iterations = int(attributes["i"])
    except (KeyError, binascii.Error, ValueError):
        return None
    if not 1 <= iterations <= 1_000_000:
        return None
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = _hmac(salted, b"Client Key")
    stored_key = hashlib.sha256(client_key).digest()
    without_proof = f"c=biws,r={attributes['r']}"
    bare = f"n={_escape_name(name)},r={cnonce}"
    auth_message = f"{bare},{server_first.decode()},{without_proof}".encode()
    proof = _xor(client_key, _hmac(stored_key, auth_message))
    final = f"{without_proof},p={base64.b64encode(proof).decode()}".encode()
    expected = b"v=" + base64.b64encode(_hmac(_hmac(salted, b"Server Key"), auth_message))
    return final, expected

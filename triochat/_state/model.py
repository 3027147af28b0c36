"""The records the state is made of: who a connection is, as its transport saw it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["PeerInfo", "TransportKind"]

#: How a connection reached the server; the state never behaves differently by it.
TransportKind = Literal["tcp", "tls", "websocket", "memory"]


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """What the transport knows of a connection before its first IRC line.

    Every transport (plain TCP, TLS, WebSocket) ends as a stream of IRC lines
    plus one of these, so the connection handler never asks which it has.
    """

    #: The peer's address, as shown in ``nick!user@host``.
    host: str
    #: The transport is encrypted (TLS, or WSS).
    secure: bool = False
    kind: TransportKind = "tcp"
    #: SHA-256 fingerprint (hex) of the client certificate, if one was presented.
    certfp: str | None = None

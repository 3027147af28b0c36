"""The records the state is made of: connections (as their transport saw them), channels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .effects import ConnId

__all__ = ["Channel", "Client", "Departure", "PeerInfo", "TransportKind"]

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


@dataclass(slots=True, eq=False)
class Client:
    """One connection, from its first byte until it is gone."""

    conn: ConnId
    host: str
    connected_at: float
    nick: str = "*"
    user: str = ""
    realname: str = ""
    password: str | None = None
    has_nick: bool = False
    registered: bool = False
    negotiating_caps: bool = False
    caps: set[str] = field(default_factory=set)
    channels: dict[str, Channel] = field(default_factory=dict)
    modes: set[str] = field(default_factory=set)
    away: str | None = None
    last_spoke: float = 0.0
    #: ``nick!user@host``, kept current as the nick changes.
    source: str = "*"
    #: Which tags this client receives (see :func:`~.._irc.tags.tag_variant`),
    #: read by the fan-out on every delivery, so kept current on CAP changes.
    tag_variant: int = 0
    #: Private history is readable by the session that sent or received it, only.
    session: str = ""
    #: Batches opened so far, for batch references unique on this connection.
    batches: int = 0
    #: How the connection reached the server.
    peer: PeerInfo | None = None
    #: The cluster node a remote user is connected to; None for this server's own users.
    origin: str | None = None

    def update_source(self) -> None:
        self.source = f"{self.nick}!{self.user}@{self.host}"


@dataclass(slots=True, eq=False)
class Channel:
    """A channel and its members, each with their status modes (``"o"``, ``"v"``)."""

    name: str
    created: float
    members: dict[ConnId, str] = field(default_factory=dict)
    modes: set[str] = field(default_factory=lambda: {"n", "t"})
    topic: str = ""
    topic_by: str = ""
    topic_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Departure:
    """Who used a nickname, kept for ``WHOWAS`` after they left or changed it."""

    nick: str
    user: str
    host: str
    realname: str
    left_at: float

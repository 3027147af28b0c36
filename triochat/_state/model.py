"""The records the state is made of: connections (as their transport saw them), channels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import weakref

    from .access import MaskList
    from .accounts import Exchange
    from .commands.listing import Listing
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
    #: What PASS gave (a server password, or ``account:password``); never in ``repr``.
    password: str | None = field(default=None, repr=False)
    has_nick: bool = False
    registered: bool = False
    negotiating_caps: bool = False
    #: Its capabilities and user modes. Frozen, and replaced when they change
    #: (rarely): every client without any shares the one empty frozenset, where
    #: two sets of their own would weigh 432 bytes per connection.
    caps: frozenset[str] = frozenset()
    channels: dict[str, Channel] = field(default_factory=dict)
    modes: frozenset[str] = frozenset()
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
    #: Channels this client was invited to, by casefolded name. An invitation
    #: refers (weakly, so it never keeps an emptied channel's state alive) to
    #: the channel it was for: once that channel is gone, it no longer counts.
    invites: dict[str, weakref.ref[Channel]] = field(default_factory=dict)
    #: The operator block this client logged in with (OPER), if any.
    oper: str | None = None
    #: When its recent failed OPER attempts were, for the three-strikes rule.
    oper_failures: tuple[float, ...] = ()
    #: Its LIST still going out in chunks, if any.
    listing: Listing | None = None
    #: The account this connection is logged in as (its name as registered), if any.
    account: str | None = None
    account_id: int | None = None
    #: A login in progress (SASL or PASS); registration waits for it.
    sasl: Exchange | None = None
    #: A reserved nickname this client holds without its account (casefolded), and when
    #: it will be renamed unless it logs in.
    nick_claim: tuple[str, float] | None = None
    #: The cluster node a remote user is connected to; None for this server's own users.
    origin: str | None = None

    def update_source(self) -> None:
        self.source = f"{self.nick}!{self.user}@{self.host}"


@dataclass(slots=True, eq=False, weakref_slot=True)
class Channel:
    """A channel and its members, each with their status modes (``"o"``, ``"v"``)."""

    name: str
    created: float
    members: dict[ConnId, str] = field(default_factory=dict)
    modes: set[str] = field(default_factory=lambda: {"n", "t"})
    topic: str = ""
    topic_by: str = ""
    topic_at: float = 0.0
    #: ``+k``: the key to join, if set.
    key: str | None = None
    #: ``+l``: the most members, if set.
    limit: int | None = None
    #: The mask lists (``b``, ``e``, ``I``) that have entries; empty for most channels,
    #: so the per-message check costs one truth test.
    lists: dict[str, MaskList] = field(default_factory=dict)
    #: Whether each member is banned, with the source it was decided for (a nick
    #: change makes a new source string, so an entry for the old one is stale).
    #: Cleared when ``b`` or ``e`` changes.
    banned: dict[ConnId, tuple[str, bool]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Departure:
    """Who used a nickname, kept for ``WHOWAS`` after they left or changed it."""

    nick: str
    user: str
    host: str
    realname: str
    left_at: float

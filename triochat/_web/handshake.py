"""Deciding a WebSocket upgrade, without I/O: origin, subprotocol, client address.

The IRCv3 WebSocket binding (``ircv3-specifications/extensions/websocket.md``)
offers two subprotocols: ``text.ircv3.net`` (UTF-8 text messages) and
``binary.ircv3.net`` (byte messages); a client that asks for neither gets text.
Each message is one IRC line without CRLF.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TypeAlias

from wsproto.utilities import generate_accept_token

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "SUBPROTOCOLS",
    "Accept",
    "Refuse",
    "WebPolicy",
    "check_upgrade",
    "client_address",
    "is_websocket_upgrade",
    "parse_network",
]

log = logging.getLogger("triochat.web")

TEXT: Final = "text.ircv3.net"
BINARY: Final = "binary.ircv3.net"
SUBPROTOCOLS: Final = (TEXT, BINARY)
#: Where the WebSocket lives; everything else is a static file.
WEBSOCKET_PATH: Final = "/irc"

Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_network(text: str) -> Network:
    """An address (``10.0.0.1``) or a network (``10.0.0.0/8``); ``ValueError`` if neither."""
    return ipaddress.ip_network(text.strip(), strict=False)


def normalize_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case, without a trailing slash."""
    return origin.strip().rstrip("/").lower()


@dataclass(frozen=True, slots=True)
class WebPolicy:
    """Who may open a WebSocket, and whose word about the client's address counts."""

    #: Origins allowed besides the page's own (``https://chat.example.org``).
    origins: frozenset[str] = frozenset()
    #: Proxies whose ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed.
    trusted_proxies: tuple[Network, ...] = ()

    @classmethod
    def build(cls, origins: Iterable[str] = (), trusted_proxies: Iterable[str] = ()) -> WebPolicy:
        return cls(
            frozenset(normalize_origin(o) for o in origins),
            tuple(parse_network(p) for p in trusted_proxies),
        )

    def trusts(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)


@dataclass(frozen=True, slots=True)
class Client:
    """The browser's side as we believe it: its address and whether it came encrypted."""

    host: str
    secure: bool


def client_address(
    peer_host: str, secure: bool, headers: Mapping[str, str], policy: WebPolicy
) -> Client:
    """The real client behind a trusted proxy, else the socket's peer.

    ``X-Forwarded-For`` is read right to left, skipping our own proxies; the
    first address that is not one of them is the client. Anything that does
    not parse as an address stops the walk at the last good one.
    """
    if not policy.trusts(peer_host):
        return Client(peer_host, secure)
    proto = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    if proto in ("http", "https"):
        secure = proto == "https"
    host = peer_host
    forwarded = headers.get("x-forwarded-for", "")
    for item in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        try:
            address = str(ipaddress.ip_address(item))
        except ValueError:
            break
        host = address
        if not policy.trusts(address):
            break
    return Client(host, secure)


def is_websocket_upgrade(headers: Mapping[str, str]) -> bool:
    upgrade = {token.strip().lower() for token in headers.get("upgrade", "").split(",")}
    return "websocket" in upgrade


@dataclass(frozen=True, slots=True)
class Accept:
    """Switch protocols: the 101's headers, and the subprotocol chosen."""

    headers: list[tuple[str, str]]
    binary: bool


@dataclass(frozen=True, slots=True)
class Refuse:
    status: int
    reason: str


def check_upgrade(
    method: str, headers: Mapping[str, str], *, secure: bool, policy: WebPolicy
) -> Accept | Refuse:
    """Accept a WebSocket opening handshake (RFC 6455 4.2.1) or say why not.

    ``headers`` have lower-case names, repeated ones joined with ``,``. A
    browser always sends ``Origin``: it must be the page's own (the Host it
    asked, with the scheme it used) or one of ``policy.origins``. A client
    that is no browser may leave it out.
    """
    if method != "GET":
        return Refuse(405, "Method Not Allowed")
    if headers.get("sec-websocket-version", "").strip() != "13":
        return Refuse(426, "Upgrade Required: WebSocket version 13 only")
    key = headers.get("sec-websocket-key", "").strip()
    if not key:
        return Refuse(400, "Bad Request: no Sec-WebSocket-Key")
    connection = {token.strip().lower() for token in headers.get("connection", "").split(",")}
    if "upgrade" not in connection:
        return Refuse(400, "Bad Request: Connection must include Upgrade")
    origin = headers.get("origin")
    if origin is not None:
        own = normalize_origin(("https://" if secure else "http://") + headers.get("host", ""))
        if normalize_origin(origin) not in policy.origins | {own}:
            log.info("refused a WebSocket from origin %r (allowed: %s)", origin, own)
            return Refuse(403, "Forbidden: this origin may not connect")
    offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    chosen = next((p for p in offered if p in SUBPROTOCOLS), None)
    if offered and chosen is None:
        return Refuse(
            400, f"Bad Request: subprotocols offered are none of {', '.join(SUBPROTOCOLS)}"
        )
    response = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", generate_accept_token(key.encode()).decode()),
    ]
    if chosen is not None:
        response.append(("Sec-WebSocket-Protocol", chosen))
    return Accept(response, binary=chosen == BINARY)

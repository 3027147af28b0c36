"""Who is on the network and where: users, nicknames, channels and membership.

Every "who is where" question of the command handlers goes through
:class:`Network`, never through dicts of their own, so that a cluster node
can keep the users of other nodes here as ordinary entries and the handlers
do not change. Nicknames and channel names are indexed casefolded (see
:mod:`.._irc.names`); clients are keyed by connection id.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Final

from .._irc.names import casefold
from .model import Channel, Departure

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .effects import ConnId
    from .model import Client

__all__ = ["WHOWAS_SIZE", "Network"]

#: Departures remembered for WHOWAS, newest first; older ones are forgotten.
WHOWAS_SIZE: Final = 1000


class Network:
    """The replica of the network's users and channels that this server keeps."""

    def __init__(self, server_name: str) -> None:
        #: The servers of the network: this one alone, or in cluster mode the names
        #: of the nodes that are up, this one included (LUSERS, LINKS).
        self.servers: set[str] = {server_name}
        self.clients: dict[ConnId, Client] = {}
        #: Registered users in all and of this server, and the invisible (+i) and
        #: operator (+o) ones: kept as users register, leave and change modes, so
        #: that LUSERS, sent to every client that registers, costs O(1), not O(users).
        self.user_count = 0
        self.local_user_count = 0
        self.invisible: set[ConnId] = set()
        self.opers: set[ConnId] = set()
        #: Channels by casefolded name; a channel exists while it has members.
        self.channels: dict[str, Channel] = {}
        #: Holders of nicknames by casefolded nick, registered or not.
        self.nicks: dict[str, Client] = {}
        self._departures: deque[Departure] = deque(maxlen=WHOWAS_SIZE)
        #: Connections of one account sharing a nickname (multiclient), by casefolded
        #: nick, the index's holder first; a nick held by one connection has no entry.
        self.shared: dict[str, list[Client]] = {}

    # -- users --------------------------------------------------------------

    def add(self, client: Client) -> None:
        self.clients[client.conn] = client

    def registered_user(self, client: Client) -> None:
        """``client`` has just completed registration (here, or on another node)."""
        self.user_count += 1
        if client.origin is None:
            self.local_user_count += 1
        self.modes_changed(client)

    def modes_changed(self, client: Client) -> None:
        """Count ``client`` as invisible or operator as its user modes now say."""
        for mode, holders in (("i", self.invisible), ("o", self.opers)):
            if mode in client.modes:
                holders.add(client.conn)
            else:
                holders.discard(client.conn)

    def remove(self, client: Client, now: float) -> None:
        """Take ``client`` out of every channel and index; remember it for WHOWAS."""
        del self.clients[client.conn]
        if client.registered:
            self.user_count -= 1
            if client.origin is None:
                self.local_user_count -= 1
            self.invisible.discard(client.conn)
            self.opers.discard(client.conn)
        for channel in client.channels.values():
            self._drop_member(channel, client)
        if client.has_nick and not self._detach(client):
            del self.nicks[casefold(client.nick)]
            if client.registered:
                self._departed(client, now)

    def holder(self, nick: str) -> Client | None:
        """Whoever holds ``nick``, registered or still registering."""
        return self.nicks.get(casefold(nick))

    def user(self, nick: str) -> Client | None:
        """The registered user called ``nick``, if any."""
        client = self.nicks.get(casefold(nick))
        return client if client is not None and client.registered else None

    def take_nick(self, client: Client, nick: str, now: float) -> bool:
        """Give ``nick`` to ``client`` (its old one is freed); False if someone else has it."""
        key = casefold(nick)
        holder = self.nicks.get(key)
        if holder is not None and holder is not client:
            return False
        if client.has_nick and not self._detach(client):
            del self.nicks[casefold(client.nick)]
            if client.registered and key != casefold(client.nick):
                self._departed(client, now)
        self.nicks[key] = client
        return True

    def drop_nick(self, client: Client) -> None:
        """Free the nick of unregistered ``client`` (the cluster refused it), shared or not."""
        key = casefold(client.nick)
        if client.has_nick and not self._detach(client) and self.nicks.get(key) is client:
            del self.nicks[key]
        client.nick, client.has_nick = "*", False

    # -- shared nicknames (multiclient) ---------------------------------------

    def share_nick(self, client: Client, holder: Client) -> None:
        """``client`` (not yet registered) takes ``holder``'s nick as one more of its sessions."""
        key = casefold(holder.nick)
        if client.has_nick and not self._detach(client):
            del self.nicks[casefold(client.nick)]
        self.shared.setdefault(key, [holder]).append(client)
        client.nick, client.has_nick = holder.nick, True

    def rename_shared(self, client: Client, nick: str, now: float) -> bool:
        """Move the nick shared by ``client``'s sessions to ``nick``; False if someone else has it.

        The index entries move; the caller renames each session (their ``nick``
        and source), since it also tells everyone.
        """
        old, key = casefold(client.nick), casefold(nick)
        group = self.shared[old]
        holder = self.nicks.get(key)
        if holder is not None and holder not in group:
            return False
        if key != old:
            self.shared[key] = self.shared.pop(old)
            self.nicks[key] = self.nicks.pop(old)
            self._departed(client, now)
        return True

    def sessions(self, client: Client) -> list[Client]:
        """Every connection sharing ``client``'s nick (just ``client`` when not shared)."""
        return self.shared.get(casefold(client.nick), [client]) if client.has_nick else [client]

    def _detach(self, client: Client) -> bool:
        """Take ``client`` out of its shared nick; True if others still hold the nick."""
        key = casefold(client.nick)
        group = self.shared.get(key)
        if group is None or client not in group:
            return False
        group.remove(client)
        if self.nicks.get(key) is client:
            self.nicks[key] = group[0]
        if len(group) == 1:
            del self.shared[key]
        return True

    def registered(self) -> Iterator[Client]:
        return (client for client in self.clients.values() if client.registered)

    # -- channels -----------------------------------------------------------

    def channel(self, name: str) -> Channel | None:
        return self.channels.get(casefold(name))

    def join(self, client: Client, name: str, now: float) -> Channel:
        """Put ``client`` in channel ``name``, creating it (with ``client`` as operator)."""
        key = casefold(name)
        channel = self.channels.get(key)
        if channel is None:
            channel = self.channels[key] = Channel(name, now)
            channel.members[client.conn] = "o"
        else:
            channel.members[client.conn] = ""
        client.channels[key] = channel
        return channel

    def leave(self, client: Client, channel: Channel) -> None:
        """Take ``client`` out of ``channel``; an empty channel ceases to exist."""
        del client.channels[casefold(channel.name)]
        self._drop_member(channel, client)

    def peers(self, client: Client) -> tuple[ConnId, ...]:
        """Everyone who shares a channel with ``client``, each once, ``client`` excluded."""
        peers: dict[ConnId, None] = {}
        for channel in client.channels.values():
            peers.update(dict.fromkeys(channel.members))
        peers.pop(client.conn, None)
        return tuple(peers)

    def _drop_member(self, channel: Channel, client: Client) -> None:
        channel.members.pop(client.conn, None)
        channel.banned.pop(client.conn, None)
        if not channel.members:
            del self.channels[casefold(channel.name)]

    # -- WHOWAS -------------------------------------------------------------

    def _departed(self, client: Client, now: float) -> None:
        self._departures.appendleft(
            Departure(client.nick, client.user, client.host, client.realname, now)
        )

    def departures(self, nick: str) -> Iterator[Departure]:
        """Who used ``nick`` before, newest first."""
        key = casefold(nick)
        return (entry for entry in self._departures if casefold(entry.nick) == key)

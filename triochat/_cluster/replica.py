"""Applying the cluster's log to one node's state: remote users as ordinary entries.

Every node applies every event in log order, its own included, so all nodes
hold the same network and every member sees the same order. A :class:`Line`
is handled by the ordinary command handlers as if the user were here, at the
event's time and with message ids made from the entry id; what the handlers
send to a remote user is dropped by the delivery (it has no connection here),
so only the origin answers its user. Pure: no trio, no I/O.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from typing import TYPE_CHECKING, Final

from .._irc import numerics as rpl
from .._irc.names import casefold
from .._irc.wire import RemoteProtocolError, parse
from .._state.access import MaskEntry, MaskList
from .._state.accounts import account_notify, logout
from .._state.effects import ConnId
from .._state.model import Client
from .events import (
    AccountName,
    Burst,
    Bye,
    Hello,
    Intro,
    Line,
    Lost,
    Quit,
    Topic,
    UserAccount,
    UserInfo,
    UserModes,
)

if TYPE_CHECKING:
    from .._state.effects import Effect
    from .._state.machine import ServerState
    from .._state.model import Channel
    from .events import Event

__all__ = ["REMOTE_CONN_BASE", "REMOVES_USERS", "Replica"]

log = logging.getLogger("triochat.cluster")

#: Remote users get connection ids from here up, never clashing with local connections.
REMOTE_CONN_BASE: Final = 1 << 48
#: Replicated commands that may take users off the network on every node at once.
REMOVES_USERS: Final = frozenset({"KILL", "KLINE", "DLINE"})
#: Events kept per node while waiting for its burst; older ones are dropped (and logged).
PENDING_LIMIT: Final = 10_000


class Replica:
    """One node's copy of the network, kept current by applying the log."""

    def __init__(self, state: ServerState, node: str) -> None:
        self.state = state
        self.node = node
        #: (origin node, its connection id) -> the id of that user here.
        self.conns: dict[tuple[str, int], ConnId] = {}
        self._ids = (ConnId(n) for n in itertools.count(REMOTE_CONN_BASE))
        #: Nodes whose burst was applied since this node said hello: their events apply.
        self.synced: set[str] = set()
        #: Events of nodes not yet synced, applied once their burst comes.
        self._pending: dict[str, deque[tuple[str, Event]]] = {}

    # -- reading the log ----------------------------------------------------

    def restart(self) -> None:
        """This node says hello again: events of other nodes wait for their bursts."""
        self.synced.clear()
        self._pending.clear()

    def apply(self, entry_id: str, event: Event) -> list[Effect]:
        """Apply one log entry; the effects for this node's own connections."""
        node = event.node
        if isinstance(event, Hello):
            return []
        if isinstance(event, Burst):
            if node != self.node:
                self._burst(event)
                self.synced.add(node)
                for pending_id, pending in self._pending.pop(node, ()):
                    self._apply_one(pending_id, pending)
            return self.state.replies.take()
        if isinstance(event, Lost | Bye):
            return self.drop_node(node, event.reason)
        if isinstance(event, AccountName):  # about no user: no burst to wait for
            self._apply_one(entry_id, event)
            return self.state.replies.take()
        if node != self.node and node not in self.synced:
            queue = self._pending.setdefault(node, deque())
            if len(queue) >= PENDING_LIMIT:
                log.warning("cluster: dropping an event of %s, whose burst has not come", node)
                queue.popleft()
            queue.append((entry_id, event))
            return []
        self._apply_one(entry_id, event)
        return self.state.replies.take()

    def _apply_one(self, entry_id: str, event: Event) -> None:
        state = self.state
        if isinstance(event, Line):
            conn = self.conns.get((event.node, event.conn))
            if conn is None:
                return
            try:
                message = parse(event.line.encode())
            except RemoteProtocolError:
                log.warning("cluster: unparsable line in entry %s", entry_id)
                return
            ids = (f"{entry_id}.{n}" for n in itertools.count())
            with state.pinned(event.at, ids.__next__):
                effects = state.handle(conn, message)
            state.replies.effects.extend(effects)
            if message.command in REMOVES_USERS:
                self._forget_removed()
        elif isinstance(event, UserModes):
            conn = self.conns.get((event.node, event.conn))
            client = None if conn is None else state.network.clients.get(conn)
            if client is not None:
                client.modes = frozenset(event.modes)
                state.network.modes_changed(client)
        elif isinstance(event, UserAccount):
            if event.node != self.node:  # the origin changed its own user already
                self._account(event)
        elif isinstance(event, AccountName):
            if event.node != self.node:
                if event.registered:
                    state.accounts.names.add(casefold(event.name))
                else:
                    self._dropped(event.name, event.account_id)
        elif isinstance(event, Intro):
            self._introduce(event.node, event.user)
        elif isinstance(event, Quit):
            conn = self.conns.pop((event.node, event.conn), None)
            if conn is not None:
                effects = state.disconnect(conn, event.reason)
                state.replies.effects.extend(effects)

    def _dropped(self, name: str, account_id: int | None) -> None:
        """Account ``name`` was dropped on another node: whoever is logged in to it here is
        logged out, and the rooms it founded are no longer registered, as at its origin."""
        key = casefold(name)
        self.state.accounts.names.discard(key)
        if account_id is not None:
            self.state.rooms.forget_account(account_id, name)
        for client in list(self.state.network.registered()):
            if client.account is not None and casefold(client.account) == key:
                logout(self.state, client)

    def _account(self, event: UserAccount) -> None:
        conn = self.conns.get((event.node, event.conn))
        client = None if conn is None else self.state.network.clients.get(conn)
        if client is None:
            return
        client.account, client.account_id = event.account, event.account_id
        client.session = event.session
        account_notify(self.state, client)

    def _forget_removed(self) -> None:
        """Drop the ids of users that a replicated command took off the network (KILL, KLINE)."""
        clients = self.state.network.clients
        for key in [key for key, conn in self.conns.items() if conn not in clients]:
            del self.conns[key]

    # -- users --------------------------------------------------------------

    def local(self, conn: ConnId) -> None:
        """A user of this node completed registration: it is its own entry in the log too."""
        self.conns[(self.node, int(conn))] = conn

    def _introduce(self, node: str, info: UserInfo) -> Client | None:
        state = self.state
        key = (node, info.conn)
        known = self.conns.get(key)
        if known is not None:
            return state.network.clients.get(known)
        network = state.network
        holder = network.holder(info.nick)
        if holder is not None:
            if holder.registered:
                log.warning("cluster: %s of %s collides with a user here", info.nick, node)
                return None
            holder.has_nick, holder.nick = False, "*"  # still registering: the network won
            del network.nicks[casefold(info.nick)]
            state.replies.numeric(
                holder, rpl.ERR_NICKNAMEINUSE, info.nick, "Nickname is already in use"
            )
        conn = next(self._ids)
        client = Client(conn, info.host, state.now(), origin=node, session=info.session)
        client.user, client.realname, client.away = info.user, info.realname, info.away
        client.modes = frozenset(info.modes)
        client.account, client.account_id = info.account, info.account_id
        network.add(client)
        network.take_nick(client, info.nick, state.now())
        client.nick, client.has_nick, client.registered = info.nick, True, True
        network.registered_user(client)
        client.update_source()
        self.conns[key] = conn
        return client

    def drop_node(self, node: str, reason: str) -> list[Effect]:
        """Every user of ``node`` quits here with ``reason`` (it stopped, or was lost)."""
        self.synced.discard(node)
        self._pending.pop(node, None)
        state = self.state
        for key in [key for key in self.conns if key[0] == node and node != self.node]:
            effects = state.disconnect(self.conns.pop(key), reason)
            state.replies.effects.extend(effects)
        return state.replies.take()

    def users_of(self, node: str) -> list[Client]:
        clients = self.state.network.clients
        return [
            clients[conn] for key, conn in self.conns.items() if key[0] == node and conn in clients
        ]

    # -- bursts -------------------------------------------------------------

    def burst(self) -> Burst:
        """What this node holds of its own, for a node that just said hello."""
        users = []
        topics: dict[str, Topic] = {}
        for client in self.state.network.registered():
            if client.origin is not None:
                continue
            channels = tuple(
                (c.name, c.members.get(client.conn, "")) for c in client.channels.values()
            )
            users.append(_info(client, channels))
            for channel in client.channels.values():
                topics[casefold(channel.name)] = Topic(
                    channel.name,
                    channel.topic,
                    channel.topic_by,
                    channel.topic_at,
                    "".join(sorted(channel.modes)),
                    channel.key,
                    channel.limit,
                    tuple(
                        (letter, entry.mask, entry.set_by, entry.set_at)
                        for letter in sorted(channel.lists)
                        for entry in channel.lists[letter]
                    ),
                )
        return Burst(self.node, tuple(users), tuple(topics.values()))

    def _burst(self, burst: Burst) -> None:
        """Make this node's copy of ``burst.node`` exactly what it says it holds."""
        state = self.state
        out = state.replies
        listed = {user.conn for user in burst.users}
        for key in [key for key in self.conns if key[0] == burst.node]:
            if key[1] not in listed:
                effects = state.disconnect(self.conns.pop(key), "Netsplit: left meanwhile")
                out.effects.extend(effects)
        for info in burst.users:
            client = self._introduce(burst.node, info)
            if client is None:
                continue
            if (client.account, client.account_id) != (info.account, info.account_id):
                client.account, client.account_id = info.account, info.account_id
                account_notify(state, client)
            if client.nick != info.nick and state.network.take_nick(client, info.nick, state.now()):
                change = out.event(client, "NICK", info.nick)
                client.nick = info.nick
                client.update_source()
                out.to(state.network.peers(client), change)
            self._memberships(client, dict(info.channels))
        clients = state.network.clients
        for topic in burst.topics:
            channel = state.network.channel(topic.channel)
            if channel is None:
                continue
            if topic.text and topic.at > channel.topic_at:
                channel.topic, channel.topic_by, channel.topic_at = topic.text, topic.by, topic.at
            if all(clients[conn].origin is not None for conn in channel.members):
                # No member here: this node saw none of its MODE changes; the burst knows.
                channel.modes = set(topic.modes)
                channel.key, channel.limit = topic.key, topic.limit
                _set_lists(channel, topic.lists)

    def _memberships(self, client: Client, wanted: dict[str, str]) -> None:
        state = self.state
        out = state.replies
        wanted_keys = {casefold(name): (name, status) for name, status in wanted.items()}
        for key, channel in list(client.channels.items()):
            if key not in wanted_keys:
                out.to_channel(channel, out.event(client, "PART", channel.name))
                state.network.leave(client, channel)
        for key, (name, status) in wanted_keys.items():
            joined: Channel | None = client.channels.get(key)
            if joined is None:
                joined = state.network.join(client, name, state.now())
                out.to_channel(joined, out.event(client, "JOIN", joined.name), skip=client)
            joined.members[client.conn] = status


def _set_lists(channel: Channel, lists: tuple[tuple[str, str, str, int], ...]) -> None:
    """Make the channel's ``+b``/``+e``/``+I`` lists exactly the burst's."""
    channel.lists.clear()
    channel.banned.clear()
    for letter, mask, set_by, set_at in lists:
        channel.lists.setdefault(letter, MaskList()).add(MaskEntry(mask, set_by, set_at))


def _info(client: Client, channels: tuple[tuple[str, str], ...]) -> UserInfo:
    return UserInfo(
        conn=int(client.conn),
        nick=client.nick,
        user=client.user,
        host=client.host,
        realname=client.realname,
        session=client.session,
        away=client.away,
        modes="".join(sorted(client.modes)),
        channels=channels,
        account=client.account,
        account_id=client.account_id,
    )


def introduction(node: str, client: Client) -> Intro:
    """The event that tells the other nodes about ``client``, who just registered here."""
    channels = tuple((c.name, c.members.get(client.conn, "")) for c in client.channels.values())
    return Intro(node, _info(client, channels))

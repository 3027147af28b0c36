"""A cluster node: the trio service that ties this server's state to the shared log.

Log first: a state-changing command of a local user (JOIN, PRIVMSG, NICK...)
is not handled at once; it is appended to the log, and handled when the node
reads it back, in log order, as every other node handles it. So every member
on every node sees the same order, at the cost of one round trip to the
store. The user's reader waits for its own line (only it waits), so its
replies keep their order.

The link to the store is kept up by :meth:`ClusterNode.run`: on every
(re)connection the node re-claims its users' nicks (a nick taken meanwhile
by another node's user is renamed here to a guest nick), says hello and
bursts its users; while the store is unreachable it keeps its connections,
tells its users once, refuses what it cannot deliver with ``FAIL``, and
retries with a bounded backoff.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import trio

from .._accounts.backend import AccountsUnavailable
from .._accounts.records import AccountReply, Drop, Register
from .._irc import numerics as rpl
from .._irc.names import casefold, valid_nick
from .._irc.wire import Message, serialize
from .._state.commands.services import NICKSERV
from .._state.effects import GuestNick, NickClaim, Record
from .._state.rooms import service_source
from .._state.serverbans import ServerBans
from .bus import BusUnavailable
from .events import (
    AccountName,
    Bye,
    Event,
    Hello,
    Line,
    Lost,
    Quit,
    UserAccount,
    UserModes,
    decode_history,
    encode_history,
)
from .outgoing import MAX_IN_FLIGHT, Outgoing
from .replica import REMOVES_USERS, Replica, introduction
from .shared import SharedRecords

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from .._history.records import HistoryEntry
    from .._server.delivery import Delivery
    from .._state.effects import Ask, ConnId, Effect
    from .._state.machine import ServerState
    from .._state.model import Client
    from .bus import Bus
    from .outgoing import Pending

__all__ = ["REPLICATED", "ClusterNode", "NodeSettings"]

log = logging.getLogger("triochat.cluster")

#: Commands of registered users that change what other nodes see: they go through the log.
#: Never a command that carries a password (OPER, AUTHENTICATE, REGISTER, NICKSERV, and
#: PRIVMSG to NickServ): those stay on the node, and only what they change is shared
#: (:class:`~.events.UserModes`, :class:`~.events.UserAccount`, :class:`~.events.AccountName`).
REPLICATED: Final = frozenset(
    {
        "JOIN",
        "PART",
        "KICK",
        "TOPIC",
        "MODE",
        "PRIVMSG",
        "NOTICE",
        "TAGMSG",
        "NICK",
        "AWAY",
        "INVITE",
        "KILL",
        "WALLOPS",
        "KLINE",
        "DLINE",
        "UNKLINE",
        "UNDLINE",
        # ChanServ (no password in its commands): every node applies a room's
        # registration, access list and OP/VOICE in log order, as MODE.
        "CHANSERV",
        "CS",
    }
)
_NICKSERV: Final = "nickserv"
#: History rows per entry of the history stream (and per page of a catch-up).
HISTORY_BATCH: Final = 500
#: History rows kept for the stream while it cannot be reached; older ones are not shared.
HISTORY_BACKLOG: Final = 100_000
#: Handled on this node, then the user modes it gave are published (never the password).
_LOCAL_THEN_MODES: Final = frozenset({"OPER"})
_DOWN_NOTICE: Final = (
    "*** This server lost its link to the rest of the network. You stay connected;"
    " what you send is refused (not lost silently) until the link is back."
)
_UP_NOTICE: Final = "*** The link to the rest of the network is back."
_REFUSED: Final = "The network is unreachable from this server right now; not delivered"


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """How a node takes part: its name, and how soon a silent node counts as lost."""

    name: str
    #: A node whose heartbeat is older than this is lost; its users quit.
    timeout: float = 15.0
    #: How long a user's line may wait to come back through the log.
    confirm_timeout: float = 5.0
    #: The longest pause between two attempts to reach the store.
    max_backoff: float = 2.0


class ClusterNode:
    """This server's part in the cluster (see the module docstring)."""

    def __init__(
        self,
        settings: NodeSettings,
        connect: Callable[[], AbstractAsyncContextManager[Bus]],
        state: ServerState,
        delivery: Delivery,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self._connect = connect
        self.state = state
        self.delivery = delivery
        self.replica = Replica(state, settings.name)
        state.nick_claims = True
        #: Owners of nick keys are unique per run: a restarted node never mistakes old claims.
        self._run = secrets.token_hex(4)
        self.bus: Bus | None = None
        #: What this node's users send to the log, and their lines in flight.
        self.outgoing = Outgoing(settings.name)
        self._told_down = False
        #: Log events applied here (a metric).
        self.events_applied = 0
        #: Accounts, registered rooms and server bans, shared by every node: this
        #: server's accounts service and ban saving use them instead of its SQLite file.
        self.records = SharedRecords(lambda: self.bus)
        #: History rows made by this node's own events, for the network's history stream
        #: (read by nodes that start later); sent in batches by the link's history task.
        self._history_rows: list[HistoryEntry] = []
        self._history_added = trio.Event()
        self._history_sending = trio.Lock()
        #: This node's registered users, until their QUIT is published (the same
        #: objects the state holds: their nick stays current).
        self._local: dict[ConnId, Client] = {}
        #: The last entry of the history stream taken into this node's history.
        self._history_after = "0"
        #: Where reading the log resumes after a dropped link: the last entry whose
        #: events were all applied here, and the (entry, index) of the last event applied.
        self._read_after: str | None = None
        self._last_applied: tuple[str, int] = ("", -1)
        if delivery.accounts is not None:
            delivery.accounts.backend = self.records
        if delivery.services is not None:
            delivery.services.bans = self.records

    @property
    def up(self) -> bool:
        """True while the link to the store is up (``/readyz`` reports it)."""
        return self.bus is not None

    @property
    def append_seconds(self) -> float | None:
        """The round trip of the last append to the log (a metric), None before the first."""
        return self.outgoing.append_seconds

    def owner(self, conn: ConnId | int) -> str:
        return f"{self.name}:{self._run}:{conn}"

    # -- what the server layer calls -----------------------------------------

    def intercepts(self, conn: ConnId, message: Message) -> bool:
        """True if ``message`` of ``conn`` must go through the log (see :data:`REPLICATED`)."""
        command = message.command
        if command not in REPLICATED and command != "QUIT" and command not in _LOCAL_THEN_MODES:
            return False
        if command == "PRIVMSG" and casefold(message.param(0)) == _NICKSERV:
            return False  # /msg NickServ IDENTIFY <password>: handled here, never logged
        return self.state.is_registered(conn)

    async def submit(self, conn: ConnId, message: Message) -> None:
        """Publish a local user's command; it is handled when it comes back through the log."""
        command = message.command
        if command == "QUIT":
            await self.settle(conn)  # its last words reach everyone before it goes
            reason = message.param(0)
            self.departed(conn, f"Quit: {reason}" if reason else "Quit")
            self._apply(self.state.handle(conn, message))
            return
        if command in _LOCAL_THEN_MODES:
            await self._local_then_modes(conn, message)
            return
        bus = self.bus
        if bus is None:
            self._refuse(conn, command)
            return
        if command == "NICK":
            await self._nick(bus, conn, message)
            return
        if len(self.outgoing.in_flight(conn)) >= MAX_IN_FLIGHT:
            await self.settle(conn)
        self._send(conn, message)

    async def _local_then_modes(self, conn: ConnId, message: Message) -> None:
        """Handle OPER here (its password stays on this node); share the user modes it gave."""
        await self.settle(conn)
        client = self.state.network.clients.get(conn)
        if client is None:  # removed meanwhile (a KILL from elsewhere)
            return
        before = set(client.modes)
        for ask in self.delivery.apply(self.state.handle(conn, message)):
            await self.delivery.answer(ask)  # the password check
        if client.modes != before and conn in self.state.network.clients:
            modes = "".join(sorted(client.modes))
            self.outgoing.event(UserModes(self.name, int(conn), modes))

    def _send(self, conn: ConnId, message: Message) -> Pending:
        text = serialize(message).decode(errors="replace").rstrip("\r\n")
        return self.outgoing.line(conn, message.command, text, self.state.now())

    async def settle(self, conn: ConnId) -> None:
        """Wait until ``conn``'s lines in flight are applied, so its replies keep their order."""
        queue = self.outgoing.in_flight(conn)
        if not queue:
            return
        with trio.move_on_after(self.settings.confirm_timeout):
            await queue[-1].done.wait()  # one FIFO, applied in order: the last one is enough
        for pending in self.outgoing.settled(conn):
            self._unconfirmed(pending, "CLUSTER_TIMEOUT")

    def _unconfirmed(self, pending: Pending, code: str) -> None:
        client = self.state.network.clients.get(pending.conn)
        if client is not None:
            why = "The network did not confirm this; it may not have been delivered"
            self.state.replies.fail(client, pending.command, code, why)
            self._apply(self.state.replies.take())

    async def _nick(self, bus: Bus, conn: ConnId, message: Message) -> None:
        """Claim the new nick network-wide first; free whichever one the user does not keep."""
        await self.settle(conn)
        client = self.state.network.clients[conn]
        old_nick = casefold(client.nick)
        wanted = message.param(0)
        try:
            claimed: str | None = None
            if valid_nick(wanted) and casefold(wanted) != old_nick:
                if not await bus.claim(casefold(wanted), self.owner(conn)):
                    out = self.state.replies
                    out.numeric(client, rpl.ERR_NICKNAMEINUSE, wanted, "Nickname is already in use")
                    self._apply(out.take())
                    return
                claimed = casefold(wanted)
            self._send(conn, message)
            await self.settle(conn)
            if claimed is not None:
                spare = old_nick if casefold(client.nick) == claimed else claimed
                await bus.release(spare, self.owner(conn))
        except BusUnavailable:
            self._refuse(conn, message.command)

    async def answered(
        self, conn: ConnId, question: object, reply: object, account_before: str | None
    ) -> None:
        """A local user's account question was answered: share what changed.

        Only outcomes travel (a name registered or dropped, a login); the
        password stays in the question, on this node. (ChanServ's changes need
        nothing here: its commands are in the log, applied by every node.)
        """
        client = self.state.network.clients.get(conn)
        if client is None or client.origin is not None:
            return
        events: list[Event] = []
        if isinstance(question, Register) and isinstance(reply, AccountReply) and reply.account:
            events.append(AccountName(self.name, reply.account.name, registered=True))
        if isinstance(question, Drop) and account_before is not None:
            events.append(
                AccountName(
                    self.name, account_before, registered=False, account_id=question.account_id
                )
            )
        if client.registered and client.account != account_before:
            account = UserAccount(
                self.name, int(conn), client.account, client.account_id, client.session
            )
            events.append(account)
        for event in events:
            self.outgoing.event(event)

    async def _load_records(self, bus: Bus) -> None:
        """Take the network's account names, registered rooms and server bans (on each link)."""
        state = self.state
        records = SharedRecords(lambda: bus)  # (self.bus is set once the link is up)
        if self.delivery.accounts is not None:
            names = await records.names()
            state.accounts.names = {casefold(name) for name in names}
            rooms = await records.rooms()
            state.rooms.registered = {casefold(room.name): room for room in rooms}
        bans = ServerBans()
        bans.load(await records.bans(state.now()))
        state.server_bans = bans
        await self._remove_banned(bus)

    async def _remove_banned(self, bus: Bus) -> None:
        """Local users that a ban set while this node was unlinked falls on leave now.

        Before the burst: the others learn from it that they are gone.
        """
        state = self.state
        now = state.now()
        for client in list(state.network.registered()):
            ban = None if client.origin is not None else state.server_bans.matching(client, now)
            if ban is not None:
                nick, conn = casefold(client.nick), client.conn
                self._local.pop(conn, None)  # the burst tells the others
                reason = f"{ban.kind}-lined: {ban.reason}"
                state.forget(client, reason)
                state.replies.close(conn, f"Closing link: {reason}")
                self._apply(state.replies.take())
                await bus.release(nick, self.owner(conn))

    async def _protected(self, bus: Bus, conn: ConnId, why: str) -> None:
        """Nick protection renames a local user: to a guest nick the network grants, via the log."""
        client = self.state.network.clients.get(conn)
        if client is None or client.origin is not None:
            return
        old = client.nick
        for _ in range(20):
            guest = f"Guest{secrets.randbelow(90_000) + 10_000}"
            if self.state.network.holder(guest) is None:
                break
        await self._nick(bus, conn, Message("NICK", (guest,)))
        if client.nick == guest:
            text = f"{why}: {old} belongs to an account, so you are now {guest}"
            source = service_source(self.state, NICKSERV)
            self.state.replies.send(client, Message("NOTICE", (client.nick, text), source))
            self._apply(self.state.replies.take())

    def departed(self, conn: ConnId, reason: str) -> None:
        """A local user is leaving: tell the other nodes (once).

        Usually before the state forgets it; but the state may have removed it
        itself (NickServ GHOST, too many failed OPERs), and then only this node
        knew: its QUIT must still reach the others, and its nick be freed.
        """
        client = self._local.pop(conn, None)
        if client is None or client.origin is not None:
            return
        self.outgoing.quit(Quit(self.name, int(conn), reason), casefold(client.nick))

    async def claim(self, ask: Ask) -> list[Effect]:
        """Answer a :class:`NickClaim`: claim the nick in the store, then introduce the user.

        The state's effects are returned for the delivery to carry out (and to
        answer any question they ask in turn).
        """
        question = ask.question
        conn = ask.conn
        bus = self.bus
        if isinstance(question, GuestNick):
            if bus is not None:
                await self._protected(bus, conn, question.why)
            return []
        assert isinstance(question, NickClaim)
        if bus is None:
            return self.state.unanswered(conn, question)
        try:
            granted = await bus.claim(casefold(question.nick), self.owner(conn))
        except BusUnavailable:
            return self.state.unanswered(conn, question)
        effects = self.state.answer(conn, question, granted)
        if self.state.is_registered(conn):
            self.replica.local(conn)
            client = self.state.network.clients[conn]
            self._local[conn] = client
            with contextlib.suppress(BusUnavailable):  # else the next burst introduces it
                await bus.publish(introduction(self.name, client))
        return effects

    def _apply(self, effects: list[Effect]) -> None:
        for ask in self.delivery.apply(effects):
            log.warning("cluster: a replicated command asked %r; not answered", ask.question)

    def _refuse(self, conn: ConnId, command: str) -> None:
        client = self.state.network.clients.get(conn)
        if client is not None:
            self.state.replies.fail(client, command, "CLUSTER_UNAVAILABLE", _REFUSED)
            self._apply(self.state.replies.take())

    def _tell_local(self, text: str) -> None:
        out = self.state.replies
        for client in self.state.network.registered():
            if client.origin is None:
                out.server_notice(client, client.nick, text)
        self._apply(out.take())

    def _local_nicks(self) -> dict[str, ConnId]:
        return {
            casefold(client.nick): client.conn
            for client in self.state.network.registered()
            if client.origin is None
        }

    # -- the link -------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep the link to the store up, forever; started once linked (or after a timeout)."""
        started = False
        backoff = 0.1
        async with trio.open_nursery() as nursery:

            async def start_anyway() -> None:
                nonlocal started
                await trio.sleep(self.settings.timeout)
                if not started:
                    started = True
                    log.warning("cluster: the store is unreachable; serving unlinked meanwhile")
                    task_status.started()

            nursery.start_soon(start_anyway)
            while True:
                try:
                    async with self._connect() as bus:
                        # A short drop (a store call over its timeout under load) must
                        # not skip the log: what the others confirmed to their senders
                        # meanwhile is read from where this node stopped, when the log
                        # still holds that entry (not trimmed, nor wiped with the store).
                        resume = self._read_after
                        if resume is not None and not await bus.holds(resume):
                            log.warning("cluster: the log no longer holds %s; not resuming", resume)
                            resume = None
                        after = await self._join(bus, resume=resume is not None)
                        if resume is not None:
                            after = resume
                        else:  # read from the new Hello, even if this link drops at once
                            self._read_after = after
                            self._last_applied = ("", -1)
                        backoff = 0.1
                        self.bus = bus
                        log.info("cluster: node %s linked", self.name)
                        if self._told_down:
                            self._told_down = False
                            self._tell_local(_UP_NOTICE)
                        async with trio.open_nursery() as link:
                            link.start_soon(self._read_loop, bus, after)
                            link.start_soon(self._heartbeat_loop, bus)
                            link.start_soon(self._renew_loop, bus)
                            link.start_soon(self.outgoing.run, bus, self.owner)
                            link.start_soon(self._history_loop, bus)
                            await self._wait_synced(bus)
                            await self._catch_up(bus)
                            if not started:
                                started = True
                                task_status.started()
                except* BusUnavailable as group:
                    log.warning("cluster: store unreachable: %s", group.exceptions[0])
                except* Exception:
                    log.exception("cluster: the link failed")
                self._link_lost()
                await trio.sleep(backoff)
                backoff = min(backoff * 2, self.settings.max_backoff)

    async def _wait_synced(self, bus: Bus) -> None:
        """Wait (within the node timeout) for the bursts of every live node, before serving.

        So a user's first JOIN here already sees who is in the room elsewhere.
        """
        with trio.move_on_after(self.settings.timeout):
            live = {node for node, alive in (await bus.nodes()).items() if alive}
            while not live - {self.name} <= self.replica.synced:  # noqa: ASYNC110
                await trio.sleep(0.01)

    def _link_lost(self) -> None:
        if self.bus is not None and not self._told_down:
            self._told_down = True
            self._tell_local(_DOWN_NOTICE)
        self.bus = None
        for pending in self.outgoing.cut_off():
            self._unconfirmed(pending, "CLUSTER_UNAVAILABLE")

    async def _join(self, bus: Bus, *, resume: bool = False, relink: bool = True) -> str:
        """(Re)join the network: re-claim nicks, say hello, burst; the id to read after.

        With ``resume`` the log is read on from where this node stopped, so its
        replica stays as it is (every event in between is applied in order).
        Without ``relink`` (declared lost while linked) what is queued for the log
        still goes out: nobody was told it failed.
        """
        await bus.beat(self.name, self.settings.timeout)
        try:
            await self._load_records(bus)
        except AccountsUnavailable as error:
            raise BusUnavailable(str(error)) from None
        for nick, conn in self._local_nicks().items():
            if not await bus.claim(nick, self.owner(conn)):
                await self._rename_to_guest(bus, conn)
        if relink:
            # What was queued for a link that failed: its senders were told, and the
            # burst says who is left.
            self.outgoing.drain()
        if not resume:
            self.replica.restart()
        after = await bus.publish(Hello(self.name))
        await bus.publish(self.replica.burst())
        return after

    async def _rename_to_guest(self, bus: Bus, conn: ConnId) -> None:
        """Another node's user took this nick while we were unlinked: the later one yields."""
        for _ in range(20):
            guest = f"Guest{secrets.randbelow(100_000)}"
            if self.state.network.holder(guest) is None and await bus.claim(
                casefold(guest), self.owner(conn)
            ):
                break
        else:
            return
        client = self.state.network.clients[conn]
        old = client.nick
        effects = self.state.handle(conn, Message("NICK", (guest,)))
        self.state.replies.server_notice(
            client, guest, f"*** {old} was taken on another server meanwhile; you are now {guest}"
        )
        self._apply(effects + self.state.replies.take())

    async def _read_loop(self, bus: Bus, after: str) -> None:
        while True:
            entries = await bus.read(after, wait=1.0)
            index = 0
            for stream_id, event in entries:
                if stream_id == after:
                    index += 1
                else:
                    index = 0
                    self._read_after = after  # every event of the entry before is applied
                after = stream_id
                if stream_id == self._last_applied[0] and index <= self._last_applied[1]:
                    continue  # applied before the link dropped in the middle of this entry
                entry_id = f"{stream_id}.{index}"  # unique per event: message ids are made from it
                if isinstance(event, Lost | Bye) and event.node != self.name:
                    # Free the nicks before anyone hears the QUITs, so they can be taken at once.
                    for client in self.replica.users_of(event.node):
                        await bus.release_node(casefold(client.nick), event.node)
                removes = isinstance(event, Line) and _command(event.line) in REMOVES_USERS
                mine = self._local_nicks() if removes else {}
                effects = self.replica.apply(entry_id, event)
                if event.node == self.name:
                    self._keep_history(effects)
                asks = self.delivery.apply(effects)
                self._last_applied = (stream_id, index)
                self.events_applied += 1
                if event.node != self.name:
                    # A ban or a registered room to save: the shared store is one, and
                    # the origin saves it; the others changed only their state.
                    asks = []
                for ask in asks:
                    with trio.move_on_after(self.settings.confirm_timeout):
                        await self.delivery.answer(ask)
                if mine:
                    # A KILL or a ban took some of our users off: free their nicks now
                    # (every node removed them: no QUIT of ours to publish).
                    left = self._local_nicks()
                    for nick, conn in mine.items():
                        if nick not in left:
                            self._local.pop(conn, None)
                            await bus.release(nick, self.owner(conn))
                if isinstance(event, Line) and event.node == self.name:
                    self.outgoing.applied(event.token)
                elif isinstance(event, Hello) and event.node not in ("", self.name):
                    await self._send_history(bus)  # so the newcomer's catch-up finds it
                    await bus.publish(self.replica.burst())
                elif isinstance(event, Lost) and event.node == self.name:
                    # Declared lost while alive (a stall longer than the timeout): the
                    # others dropped our users and freed their nicks. Join again.
                    log.warning("cluster: node %s was declared lost; joining again", self.name)
                    await self._join(bus, relink=False)
            self._read_after = after
            # Write this read's deliveries now rather than in the flusher's next round:
            # every recipient still gets one write for the whole read, and a cross-node
            # message waits one scheduling round less (it already waited for Redis).
            self.delivery.flush()

    # -- history: one history for the network ---------------------------------

    def _keep_history(self, effects: list[Effect]) -> None:
        """Queue the history rows this node's own event made, for the history stream."""
        if self.delivery.history is None:
            return
        rows = self._history_rows
        rows.extend(effect.entry for effect in effects if isinstance(effect, Record))
        if len(rows) > HISTORY_BACKLOG:
            log.warning("cluster: history stream backlog full; %d rows not shared", len(rows))
            del rows[: len(rows) - HISTORY_BACKLOG]
        if rows:
            self._history_added.set()

    async def _history_loop(self, bus: Bus) -> None:
        """Append this node's history rows to the history stream, a batch per round trip."""
        while True:
            await self._history_added.wait()
            self._history_added = trio.Event()
            await self._send_history(bus)

    async def _send_history(self, bus: Bus) -> None:
        # One sender at a time (the history task, or the read loop before a burst):
        # two would send the same batch and then delete one more than was sent.
        async with self._history_sending:
            while self._history_rows:
                batch = self._history_rows[:HISTORY_BATCH]
                await bus.add_history(encode_history(batch))  # on failure, kept for later
                del self._history_rows[: len(batch)]

    async def _catch_up(self, bus: Bus) -> None:
        """Take into this node's history what the network said while it was not there.

        Rows this node has already (the same ``msgid``) are left as they are, so
        reading again what it wrote itself, or saw live, changes nothing.
        """
        history = self.delivery.history
        if history is None:
            return
        while page := await bus.history_after(self._history_after, count=HISTORY_BATCH):
            entries: list[HistoryEntry] = []
            for entry_id, text in page:
                try:
                    entries.extend(decode_history(text))
                except (ValueError, TypeError, IndexError):
                    log.warning("cluster: unreadable history entry %s skipped", entry_id)
            if entries and not await history.backfill(entries):
                return  # the database refused: try again on the next link
            self.state.recent.merge(entries)
            self._history_after = page[-1][0]

    async def _heartbeat_loop(self, bus: Bus) -> None:
        """Renew this node's heartbeat and nicks; find nodes that went silent."""
        timeout = self.settings.timeout
        joined_at = trio.current_time()
        while True:
            await bus.beat(self.name, timeout)
            nodes = await bus.nodes()
            for node, alive in nodes.items():
                if node != self.name and not alive:
                    await self._declare_lost(bus, node)
            self.state.network.servers = {self.name} | {n for n, a in nodes.items() if a}
            if trio.current_time() - joined_at >= timeout:
                # Users of nodes that never answered our hello: those nodes are gone.
                silent = {key[0] for key in self.replica.conns} - self.replica.synced
                for node in silent - {self.name}:
                    self._apply(self.replica.drop_node(node, f"node {node} lost"))
            await trio.sleep(timeout / 3)

    async def _renew_loop(self, bus: Bus) -> None:
        """Keep this node's nicks claimed (their TTL is three node timeouts).

        Apart from the heartbeat: renewing 5,000 nicks took longer than the node
        timeout on a busy machine, so the beat behind it expired and the other
        nodes declared this one lost in the middle of a connect storm.
        """
        while True:
            await bus.renew(list(self._local_nicks()))
            await trio.sleep(self.settings.timeout)

    async def _declare_lost(self, bus: Bus, node: str) -> None:
        log.warning("cluster: node %s lost (no heartbeat)", node)
        await bus.publish(Lost(node, f"node {node} lost"))  # its nicks are freed on reading it
        await bus.forget_node(node)

    async def stop(self) -> None:
        """Say goodbye: queued quits first, then Bye (the others drop the rest), free the nicks."""
        bus = self.bus
        if bus is None:
            return
        with trio.move_on_after(self.settings.confirm_timeout):
            try:
                await self.outgoing.publish(bus, self.outgoing.drain(), self.owner)
                nicks = self._local_nicks()
                await bus.publish(Bye(self.name, f"node {self.name} shut down"))
                for nick, conn in nicks.items():
                    await bus.release(nick, self.owner(conn))
                await bus.forget_node(self.name)
            except BusUnavailable:
                log.warning("cluster: could not say goodbye; the others will time this node out")


def _command(line: str) -> str:
    """The command of a raw IRC line (after its tags and source), upper-cased."""
    words = [word for word in line.split(" ", 3)[:3] if word]
    while words and words[0][0] in "@:":
        words.pop(0)
    return words[0].upper() if words else ""

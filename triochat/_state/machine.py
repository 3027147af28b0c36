"""The chat server's state as pure, synchronous Python: who is here, where, and who hears what.

Nothing here does I/O or imports trio. The server feeds in what happened
(:meth:`ServerState.connect`, :meth:`~ServerState.handle`,
:meth:`~ServerState.disconnect`, answers to its questions, timers) and gets
back the effects to carry out (see :mod:`.effects`). So every rule of the
chat room is testable with plain function calls.

:class:`ServerState` is the facade and the dispatcher; the rules live in
:mod:`.commands` (one module per concern, declared in the registry), the
"who is where" in :mod:`.network`, what the server offers in
:mod:`.advertised`.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

from .._accounts.rooms import ROOM_QUESTIONS
from .._history.records import HistoryQuery
from .._irc import numerics as rpl
from .._irc.tags import new_id_source
from .._irc.wire import InvalidUtf8, LineTooLong, TooManyParams
from .accounts import AccountsState
from .advertised import capabilities
from .commands import GROUPS, accounts, chanserv, history, listing, oper, registration, services
from .effects import GuestNick, NickClaim, Schedule, Timer
from .model import Client
from .network import Network
from .questions import ContinueList, PasswordCheck, Rehash, ServerBanChange
from .registry import merge
from .replies import Replies
from .rooms import Rooms
from .serverbans import ServerBans

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from .._accounts.records import AccountReply
    from .._accounts.rooms import Room, RoomReply
    from .._config import ServerConfig
    from .._history.records import HistoryEntry
    from .._irc.wire import Message, RemoteProtocolError
    from .effects import ConnId, Effect, Question
    from .model import PeerInfo
    from .questions import ServerBan

__all__ = ["REGISTRATION_TIMER", "ServerState"]

#: The timer that ends a connection which has not registered in time.
REGISTRATION_TIMER = "registration"


class ServerState:
    """Every client and channel of one server, and the rules that change them.

    ``clock`` gives the current time as a UNIX timestamp; tests pass a fake.
    Each public method returns the effects of what it was told, in order.
    """

    def __init__(self, config: ServerConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self.created = clock()
        self.network = Network(config.server_name)
        self.replies = Replies(config.server_name, clock)
        features = frozenset(
            {*(("history",) if config.history else ()), *(("accounts",) if config.accounts else ())}
        )
        #: The commands this server serves, by name (HELP lists exactly these).
        self.commands = merge(GROUPS, features)
        self.capabilities = capabilities(config)
        #: Messages are recorded (history on).
        self.recording = config.history
        self._run_id, self.new_msgid = new_id_source()
        replay_count = config.history_replay if config.history else 0
        if config.history_max_per_channel is not None:
            replay_count = min(replay_count, config.history_max_per_channel)
        self.recent = history.RecentMessages(replay_count)
        #: The most users registered at once so far (LUSERS 265/266).
        self.max_users = 0
        #: The most of this server's own users at once (differs from the above in a cluster).
        self.max_local_users = 0
        #: K-lines and D-lines in force (kept in the database too, loaded at start).
        self.server_bans = ServerBans()
        #: Registered account names and login limits (the accounts live in the database).
        self.accounts = AccountsState(clock)
        #: Registered rooms (ChanServ), preloaded from the database at start.
        self.rooms = Rooms()
        #: Cluster mode: a registration completes only once the whole network
        #: granted its nick (a :class:`~.effects.NickClaim` question).
        self.nick_claims = False

    def now(self) -> float:
        return self._clock()

    # -- what the server layer tells us -------------------------------------

    def connect(self, conn: ConnId, peer: PeerInfo) -> list[Effect]:
        """A connection arrived from ``peer.host`` (shown in ``nick!user@host``).

        It must register within ``registration_timeout``: the returned
        :class:`~.effects.Schedule` sets that timer.
        """
        host = peer.host
        if host.startswith(":"):  # an IPv6 address must not look like a trailing parameter
            host = "0" + host
        client = Client(conn, host or "unknown", self.now(), session=f"{self._run_id}.{conn}")
        client.peer = peer
        self.network.add(client)
        deadline = Timer(conn, REGISTRATION_TIMER)
        return [Schedule(self.config.registration_timeout, deadline)]

    def handle(self, conn: ConnId, message: Message) -> list[Effect]:
        """A client sent ``message``."""
        client = self.network.clients.get(conn)
        if client is None:
            return []
        command = self.commands.get(message.command)
        out = self.replies
        if command is None:
            if client.registered:
                out.numeric(client, rpl.ERR_UNKNOWNCOMMAND, message.command, "Unknown command")
            else:
                out.numeric(client, rpl.ERR_NOTREGISTERED, "You have not registered")
        elif not client.registered and not command.before_registration:
            out.numeric(client, rpl.ERR_NOTREGISTERED, "You have not registered")
        elif len(message.params) < command.min_params:
            out.numeric(client, rpl.ERR_NEEDMOREPARAMS, command.name, "Not enough parameters")
        else:
            command.handler(self, client, message)
        return out.take()

    def reject(self, conn: ConnId, error: RemoteProtocolError) -> list[Effect]:
        """A client sent a line that could not be parsed; tell it why."""
        client = self.network.clients.get(conn)
        if client is None:
            return []
        out = self.replies
        if isinstance(error, LineTooLong):
            out.numeric(client, rpl.ERR_INPUTTOOLONG, "Input line was too long")
        elif isinstance(error, InvalidUtf8):
            why = "Message rejected, your IRC software MUST use UTF-8 encoding"
            out.from_server(client, "FAIL", error.command, "INVALID_UTF8", why)
        elif isinstance(error, TooManyParams):
            out.numeric(client, rpl.ERR_NEEDMOREPARAMS, error.command, "Too many parameters")
        else:
            out.numeric(client, rpl.ERR_UNKNOWNERROR, error.command, f"Malformed line: {error}")
        return out.take()

    def disconnect(self, conn: ConnId, reason: str) -> list[Effect]:
        """The connection is gone (or being dropped); everyone who shared a channel hears why."""
        client = self.network.clients.get(conn)
        if client is not None:
            self.forget(client, reason)
        return self.replies.take()

    def timer(self, timer: Timer) -> list[Effect]:
        """A timer set with :class:`~.effects.Schedule` is due."""
        client = self.network.clients.get(timer.conn)
        if client is not None and timer.kind == REGISTRATION_TIMER and not client.registered:
            self.replies.close(client.conn, "Closing link: Registration timed out")
        elif client is not None and timer.kind == services.NICK_TIMER:
            services.nick_timer(self, client)
        return self.replies.take()

    def preload(self, entries: Iterable[HistoryEntry]) -> None:
        """Fill the replay buffers with channel messages saved before a restart (oldest first)."""
        self.recent.preload(entries)

    def preload_bans(self, bans: Iterable[ServerBan]) -> None:
        """Put back the server bans saved before a restart (lapsed ones are dropped later)."""
        self.server_bans.load(bans)

    def preload_accounts(self, names: Iterable[str]) -> None:
        """The registered account names, whose nicknames are reserved."""
        self.accounts.preload(names)

    def preload_rooms(self, rooms: Iterable[Room]) -> None:
        """The registered rooms, restored when a JOIN re-creates them (no JOIN waits for disk)."""
        self.rooms.preload(rooms)

    def answer(self, conn: ConnId, question: Question, result: object) -> list[Effect]:
        """A service answered the :class:`~.effects.Ask` of ``conn``.

        ``result`` is what that kind of question is answered with: the entries
        of a :class:`~.._history.records.HistoryQuery`, a ``bool`` for a
        password check, a saved server ban or a cluster nick claim, ``None`` to
        go on with a LIST, the notes of a reload, an
        :class:`~.._accounts.records.AccountReply`, a
        :class:`~.._accounts.rooms.RoomReply` (a registered room saved or not).
        """
        client = self.network.clients.get(conn)
        if client is None:
            return self.replies.take()
        if isinstance(question, NickClaim):
            registration.claim_answered(self, client, question, granted=result is True)
        elif isinstance(question, GuestNick):
            pass  # the cluster node did the rename; nothing comes back
        elif isinstance(question, ContinueList):
            listing.continue_list(self, client)
        elif isinstance(question, PasswordCheck | ServerBanChange):
            oper.answered(self, client, question, result is True)
        elif isinstance(question, Rehash):
            oper.rehashed(self, client, cast("list[str]", result))
        elif isinstance(question, HistoryQuery):
            history.show_answer(
                self, client, question, list(cast("Sequence[HistoryEntry]", result))
            )
        elif isinstance(question, ROOM_QUESTIONS):
            chanserv.show_answer(self, client, question, cast("RoomReply", result))
        else:
            accounts.show_answer(self, client, question, cast("AccountReply", result))
        return self.replies.take()

    def unanswered(self, conn: ConnId, question: Question) -> list[Effect]:
        """A service could not answer the :class:`~.effects.Ask` of ``conn``."""
        client = self.network.clients.get(conn)
        if client is None:
            return self.replies.take()
        if isinstance(question, NickClaim):
            registration.claim_failed(self, client)
        elif isinstance(question, GuestNick):
            pass  # not renamed: the nick stays, as when nick protection is off
        elif isinstance(question, ContinueList):
            listing.continue_list(self, client)
        elif isinstance(question, PasswordCheck | ServerBanChange):
            oper.answered(self, client, question, False)
        elif isinstance(question, Rehash):
            oper.rehashed(self, client, ["the reload failed; nothing changed"])
        elif isinstance(question, HistoryQuery):
            history.show_failure(self, client, question)
        elif isinstance(question, ROOM_QUESTIONS):
            chanserv.show_failure(self, client, question)
        else:
            accounts.show_failure(self, client, question)
        return self.replies.take()

    @contextmanager
    def pinned(self, at: float, msgids: Callable[[], str]) -> Iterator[None]:
        """Handle a replicated event as its origin node did: at its time, with its message ids.

        Every cluster node applies the same event, so the ``time`` and
        ``msgid`` tags (and the history rows) must come from the event, not
        from each node's clock and counter.
        """
        clock, new_msgid, replies = self._clock, self.new_msgid, self.replies
        replies_clock = replies._clock
        self._clock = replies._clock = lambda: at
        self.new_msgid = msgids
        try:
            yield
        finally:
            self._clock, self.new_msgid, replies._clock = clock, new_msgid, replies_clock

    def is_registered(self, conn: ConnId) -> bool:
        """True once ``conn`` has completed registration."""
        client = self.network.clients.get(conn)
        return client is not None and client.registered

    def forget(self, client: Client, reason: str) -> None:
        """Remove ``client`` from everything, telling its peers that it quit."""
        if client.registered and not services.quit_shared(self, client, reason):
            out = self.replies
            out.to(self.network.peers(client), out.event(client, "QUIT", reason))
        self.network.remove(client, self.now())

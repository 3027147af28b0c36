"""Carrying out what the state decided: deliveries, closes, history records, timers, questions.

Every delivery is a non-blocking append to the recipient's outbox (see
:mod:`.fanout`), serialized once per tag variant, never once per recipient.
Questions (:class:`~.._state.effects.Ask`) are handed back to the caller: the
asking connection's reader awaits the answer between two of its own lines,
so its replies keep their order and nobody else waits.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from .._accounts.service import AccountsUnavailable
from .._history.records import HistoryQuery
from .._history.service import HistoryUnavailable
from .._irc.tags import TAG_VARIANTS, visible_tags
from .._irc.wire import EMPTY_TAGS, serialize, with_tags
from .._state.effects import Ask, Close, GuestNick, NickClaim, Record, Schedule, Send
from .._state.questions import ContinueList, PasswordCheck, Rehash, ServerBanChange

if TYPE_CHECKING:
    from .._accounts.service import AccountService
    from .._config import ServerConfig
    from .._history.service import History
    from .._ops.metrics import Metrics
    from .._state.effects import ConnId, Effect
    from .._state.machine import ServerState
    from .connection import Connection
    from .fanout import Flusher
    from .replication import Replication
    from .services import Services
    from .timers import Timers

__all__ = ["Delivery"]

log = logging.getLogger("triochat.server")


class Delivery:
    """The server's hands: it does what the state's effects say, without waiting."""

    def __init__(
        self,
        config: ServerConfig,
        state: ServerState,
        flusher: Flusher,
        timers: Timers,
        history: History | None,
        metrics: Metrics,
        services: Services | None = None,
        accounts: AccountService | None = None,
    ) -> None:
        self.config = config
        self.state = state
        self.flusher = flusher
        self.timers = timers
        self.history = history
        self.metrics = metrics
        #: Answers the questions that are not history queries (passwords, bans, LIST).
        self.services = services
        #: Answers the accounts' questions (logins, registrations, NickServ).
        self.accounts = accounts
        #: The connections being served, by id.
        self.connections: dict[ConnId, Connection] = {}
        #: The cluster node, in cluster mode: it answers nick claims.
        self.cluster: Replication | None = None

    def apply(self, effects: list[Effect]) -> list[Ask]:
        """Carry out ``effects`` in order; return the questions left to await."""
        questions: list[Ask] = []
        for effect in effects:
            if isinstance(effect, Send):
                self.fan_out(effect)
            elif isinstance(effect, Record):
                if self.history is not None:
                    self.history.record(effect.entry)
            elif isinstance(effect, Close):
                connection = self.connections.get(effect.conn)
                if connection is not None:
                    connection.close(effect.reason)
            elif isinstance(effect, Schedule):
                self.timers.schedule(effect.delay, effect.timer)
            else:
                questions.append(effect)
        return questions

    async def answer(self, ask: Ask) -> None:
        """Put ``ask`` to its service and give the state the answer; only the asker waits.

        An answer may bring new questions (the next chunk of a LIST, SCRAM's lookup
        then its proof): they are answered in turn, before the asker's next line.
        """
        pending = [ask]
        while pending:
            asked = pending.pop(0)
            pending[:0] = self.apply(await self._answer_one(asked))

    async def _answer_one(self, ask: Ask) -> list[Effect]:
        question = ask.question
        if isinstance(question, NickClaim | GuestNick):  # cluster mode: the node claims it
            if self.cluster is None:
                return self.state.unanswered(ask.conn, question)
            return await self.cluster.claim(ask)
        if isinstance(question, PasswordCheck | ServerBanChange | ContinueList | Rehash):
            assert self.services is not None, "no services to answer with"
            result = await self.services.answer(question)
            return self.state.answer(ask.conn, question, result)
        if not isinstance(question, HistoryQuery):
            assert self.accounts is not None, "no account questions without accounts"
            client = self.state.network.clients.get(ask.conn)
            account_before = None if client is None else client.account
            try:
                reply = await self.accounts.answer(question)
            except AccountsUnavailable:
                return self.state.unanswered(ask.conn, question)
            effects = self.state.answer(ask.conn, question, reply)
            if self.cluster is not None:  # the other nodes learn the outcome
                await self.cluster.answered(ask.conn, question, reply, account_before)
            return effects
        assert self.history is not None, "no history questions without history"
        try:
            with trio.fail_after(self.config.history_query_timeout):
                entries = await self.history.fetch(question)
        except (HistoryUnavailable, trio.TooSlowError):
            return self.state.unanswered(ask.conn, question)
        return self.state.answer(ask.conn, question, entries)

    def fan_out(self, send: Send) -> None:
        """Deliver one message to its targets, serializing it once per tag variant."""
        message = send.message
        connections = self.connections
        missing = 0  # metrics: nothing counted per recipient, only the rare miss
        variants: list[bytes | None] = [None] * TAG_VARIANTS
        if send.exact_tags:  # tags already chosen for the recipient: one variant for all
            variants = [serialize(message)] * TAG_VARIANTS
        untagged = b""  # the line without tags: written once, shared by every variant
        for conn in send.targets:
            connection = connections.get(conn)
            if connection is None:
                missing += 1
                continue
            variant = connection.client.tag_variant
            data = variants[variant]
            if data is None:
                if not untagged:
                    untagged = serialize(message, tags=EMPTY_TAGS)
                tags = visible_tags(message.tags, variant)
                data = variants[variant] = with_tags(tags, untagged)
            connection.outbox.put(data)
        self.metrics.delivered(message.command, len(send.targets) - missing)  # metrics

    def flush(self) -> None:
        """Write out what was delivered now, not at the end of the round (for closing)."""
        self.flusher.flush()

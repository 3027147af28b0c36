"""The services that answer the state's questions other than history queries.

* password checks (OPER): scrypt in a worker thread, at most
  :func:`~.._accounts.service.hashing_threads` at once (the limit the accounts
  service shares), so a burst of logins can neither stall
  the event loop nor eat every core;
* server bans: saved to (or deleted from) the history database, when there
  is one, or in cluster mode the store every node shares;
* LIST continuations: a checkpoint, so everyone else runs between two
  chunks of a long LIST.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import trio

from .._opers.passwords import verify_password
from .._state.questions import ContinueList, PasswordCheck, Rehash, ServerBanChange

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .._history.service import History
    from .._state.questions import ServerBan

__all__ = ["BanStore", "Services"]


class BanStore(Protocol):
    """Where server bans are kept instead of the history database (cluster mode)."""

    async def change_ban(self, ban: ServerBan, *, removed: bool) -> bool:
        """Keep (or forget) ``ban``; False if it could not be saved."""
        ...


class Services:
    """Answers password checks, server-ban changes and LIST continuations."""

    def __init__(self, history: History | None, password_limiter: trio.CapacityLimiter) -> None:
        self.history = history
        #: Shared with the accounts service: one bound on hashing, whoever asks.
        self.password_limiter = password_limiter
        #: Cluster mode: the bans are the network's, kept in the store the nodes share.
        self.bans: BanStore | None = None
        #: Re-reads the config file and applies it (set by ``triochat serve``), for REHASH.
        self.reload: Callable[[], Awaitable[list[str]]] | None = None

    async def answer(
        self, question: PasswordCheck | ServerBanChange | ContinueList | Rehash
    ) -> object:
        """The answer to ``question``, computed without blocking the event loop."""
        if isinstance(question, PasswordCheck):
            return await trio.to_thread.run_sync(
                verify_password,
                question.password,
                question.hashed,
                limiter=self.password_limiter,
            )
        if isinstance(question, ServerBanChange):
            if self.bans is not None:
                return await self.bans.change_ban(question.ban, removed=question.removed)
            if self.history is None:
                return False  # no database: the ban lasts until a restart
            return await self.history.change_server_ban(question.ban, removed=question.removed)
        if isinstance(question, Rehash):
            if self.reload is None:
                return ["this server was started without a configuration file to re-read"]
            return await self.reload()
        await trio.lowlevel.checkpoint()  # ContinueList: let the others run first
        return None

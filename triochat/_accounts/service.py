"""The accounts service: the trio side of :class:`~.store.AccountStore`.

It answers the state's account questions (see :mod:`.records`). Password
hashing and checking are slow on purpose (scrypt, PBKDF2), so they run in
worker threads under one shared ``CapacityLimiter``: a hundred logins at once
queue there, one per spare core, and the event loop (the chat) never waits for
them. The records themselves are kept by an :class:`~.backend.AccountBackend`:
the SQLite table (calls in a thread, one at a time), or in cluster mode the
store every node shares.
"""

from __future__ import annotations

import os
import time
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import trio

from .backend import AccountsUnavailable, LocalAccounts
from .hashing import make_secrets, verify_password
from .records import (
    AccountReply,
    CertLogin,
    Drop,
    Login,
    Lookup,
    Register,
    SetPassword,
)
from .rooms import ROOM_QUESTIONS, RoomReply

if TYPE_CHECKING:
    from collections.abc import Callable

    from .backend import AccountBackend
    from .records import AccountQuestion
    from .rooms import Room, RoomQuestion
    from .store import AccountStore

__all__ = ["AccountService", "AccountsUnavailable", "hashing_threads"]

T = TypeVar("T")


def hashing_threads() -> int:
    """Password hashes computed at once: one per core but one, so the event loop keeps a core."""
    return max(1, (os.cpu_count() or 2) - 1)


class AccountService:
    """Answers account questions; every slow step runs in a worker thread."""

    def __init__(
        self,
        store: AccountStore,
        *,
        hash_limiter: trio.CapacityLimiter | None = None,
        threaded: bool | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        #: This server's own SQLite table (``triochat account create`` writes there).
        self.store = store
        #: Where the records are read and written: ``store`` (its calls in a worker
        #: thread, by default only for a file), unless cluster mode shares them.
        self.backend: AccountBackend = LocalAccounts(store, threaded=threaded)
        #: Shared by every hash and check, server-wide.
        self.hash_limiter = hash_limiter or trio.CapacityLimiter(hashing_threads())
        self._clock = clock

    async def _hash(self, work: Callable[[], T]) -> T:
        return await trio.to_thread.run_sync(work, limiter=self.hash_limiter)

    async def names(self) -> list[str]:
        """Every account name, for the state's reserved nicknames."""
        return await self.backend.names()

    async def rooms(self) -> list[Room]:
        """Every registered room, for the state to preload (a JOIN never waits for the disk)."""
        return await self.backend.rooms()

    async def answer(self, question: AccountQuestion | RoomQuestion) -> AccountReply | RoomReply:
        """Answer ``question``; raises :class:`AccountsUnavailable` if the database fails."""
        store = self.backend
        if isinstance(question, ROOM_QUESTIONS):
            return await store.answer_room(question)
        if isinstance(question, Login):
            found = await store.get(question.name)
            stored = None if found is None else found[1]
            # An unknown account still costs a hash: timing reveals nothing.
            ok = await self._hash(partial(verify_password, stored, question.password))
            return AccountReply(found[0] if ok and found is not None else None)
        if isinstance(question, Lookup):
            found = await store.get(question.name)
            return AccountReply(None if found is None else found[0])
        if isinstance(question, CertLogin):
            return AccountReply(await store.by_cert(question.certfp))
        if isinstance(question, Register):
            password_hash, scram = await self._hash(partial(make_secrets, question.password))
            account = await store.create(
                question.name, password_hash, scram, email=question.email, now=self._clock()
            )
            return AccountReply(account, "" if account is not None else "ACCOUNT_EXISTS")
        if isinstance(question, Drop):
            await store.drop(question.account_id)
            return AccountReply(None)
        if isinstance(question, SetPassword):
            password_hash, scram = await self._hash(partial(make_secrets, question.password))
            return AccountReply(await store.set_password(question.account_id, password_hash, scram))
        change = store.change_cert(question.account_id, question.certfp, add=question.add)
        return AccountReply(await change)

    async def aclose(self) -> None:
        await self.backend.aclose()
        if not isinstance(self.backend, LocalAccounts):
            self.store.close()  # unused while the records were shared, but open

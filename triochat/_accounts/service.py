"""The accounts service: the trio side of :class:`~.store.AccountStore`.

It answers the state's account questions (see :mod:`.records`). Password
hashing and checking are slow on purpose (scrypt, PBKDF2), so they run in
worker threads under one shared ``CapacityLimiter``: a hundred logins at once
queue there, one per spare core, and the event loop (the chat) never waits for
them. Database calls run in a thread too, one at a time.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import trio

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

if TYPE_CHECKING:
    from collections.abc import Callable

    from .records import AccountQuestion
    from .store import AccountStore

__all__ = ["AccountService", "AccountsUnavailable", "hashing_threads"]

log = logging.getLogger("triochat.accounts")

T = TypeVar("T")


class AccountsUnavailable(Exception):
    """The accounts database failed; the asking client is told, the chat goes on."""


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
        self.store = store
        #: Database calls run in a worker thread (by default only for a file: a memory
        #: database never waits for a disk). Hashing always does.
        self.threaded = store.on_disk if threaded is None else threaded
        #: Shared by every hash and check, server-wide.
        self.hash_limiter = hash_limiter or trio.CapacityLimiter(hashing_threads())
        self._db_limiter = trio.CapacityLimiter(1)
        self._clock = clock

    async def _db(self, work: Callable[[], T]) -> T:
        try:
            if not self.threaded:
                async with self._db_limiter:
                    return work()
            return await trio.to_thread.run_sync(work, limiter=self._db_limiter)
        except sqlite3.Error as error:
            log.error("accounts database %s failed: %s", self.store.path, error)
            raise AccountsUnavailable(str(error)) from None

    async def _hash(self, work: Callable[[], T]) -> T:
        return await trio.to_thread.run_sync(work, limiter=self.hash_limiter)

    async def names(self) -> list[str]:
        """Every account name, for the state's reserved nicknames."""
        return await self._db(self.store.names)

    async def answer(self, question: AccountQuestion) -> AccountReply:
        """Answer ``question``; raises :class:`AccountsUnavailable` if the database fails."""
        store = self.store
        if isinstance(question, Login):
            found = await self._db(partial(store.get, question.name))
            stored = None if found is None else found[1]
            # An unknown account still costs a hash: timing reveals nothing.
            ok = await self._hash(partial(verify_password, stored, question.password))
            return AccountReply(found[0] if ok and found is not None else None)
        if isinstance(question, Lookup):
            found = await self._db(partial(store.get, question.name))
            return AccountReply(None if found is None else found[0])
        if isinstance(question, CertLogin):
            return AccountReply(await self._db(partial(store.by_cert, question.certfp)))
        if isinstance(question, Register):
            password_hash, scram = await self._hash(partial(make_secrets, question.password))
            create = partial(
                store.create,
                question.name,
                password_hash,
                scram,
                email=question.email,
                now=self._clock(),
            )
            account = await self._db(create)
            return AccountReply(account, "" if account is not None else "ACCOUNT_EXISTS")
        if isinstance(question, Drop):
            await self._db(partial(store.drop, question.account_id))
            return AccountReply(None)
        if isinstance(question, SetPassword):
            password_hash, scram = await self._hash(partial(make_secrets, question.password))
            change = partial(store.set_password, question.account_id, password_hash, scram)
            return AccountReply(await self._db(change))
        cert = partial(store.change_cert, question.account_id, question.certfp, add=question.add)
        return AccountReply(await self._db(cert))

    async def aclose(self) -> None:
        await self._db(self.store.close)

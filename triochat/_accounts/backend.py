"""Where accounts and registered rooms are kept: one interface, two homes.

:class:`AccountBackend` is what :class:`~.service.AccountService` asks of a
store. :class:`LocalAccounts` is the single-server default, the SQLite
:class:`~.store.AccountStore` called from a worker thread, one call at a
time; in cluster mode the records live in the store every node shares
(:class:`~.._cluster.shared.SharedRecords`, on Redis), so an account
registered on one node logs in on any other. Both raise
:class:`AccountsUnavailable` when their store fails, and nothing else for that.
"""

from __future__ import annotations

import logging
import sqlite3
from functools import partial
from typing import TYPE_CHECKING, Protocol, TypeVar

import trio

if TYPE_CHECKING:
    from collections.abc import Callable

    from .records import Account, ScramCredentials
    from .rooms import Room, RoomQuestion, RoomReply
    from .store import AccountStore

__all__ = ["AccountBackend", "AccountsUnavailable", "LocalAccounts"]

log = logging.getLogger("triochat.accounts")

T = TypeVar("T")


class AccountsUnavailable(Exception):
    """The accounts store failed; the asking client is told, the chat goes on."""


class AccountBackend(Protocol):
    """The accounts and registered rooms, wherever they are kept."""

    async def get(self, name: str) -> tuple[Account, str] | None:
        """The account called ``name`` (casefolded) and its password hash."""
        ...

    async def by_cert(self, certfp: str) -> Account | None:
        """The account that added client certificate ``certfp``."""
        ...

    async def create(
        self,
        name: str,
        password_hash: str,
        scram: ScramCredentials,
        *,
        email: str | None,
        now: float,
    ) -> Account | None:
        """Create account ``name`` atomically; None if that (casefolded) name exists."""
        ...

    async def drop(self, account_id: int) -> bool:
        """Delete the account and its certificates; False if it was already gone."""
        ...

    async def set_password(
        self, account_id: int, password_hash: str, scram: ScramCredentials
    ) -> Account | None:
        """Replace the password hash and SCRAM verifier."""
        ...

    async def change_cert(self, account_id: int, certfp: str, *, add: bool) -> Account | None:
        """Add (or delete) a certificate fingerprint of the account."""
        ...

    async def names(self) -> list[str]:
        """Every account name (the state reserves them as nicknames)."""
        ...

    async def rooms(self) -> list[Room]:
        """Every registered room."""
        ...

    async def answer_room(self, question: RoomQuestion) -> RoomReply:
        """Register, save or drop a registered room (a register is atomic: one wins)."""
        ...

    async def aclose(self) -> None: ...


class LocalAccounts:
    """The SQLite accounts table of a single server, called from a worker thread."""

    def __init__(self, store: AccountStore, *, threaded: bool | None = None) -> None:
        self.store = store
        #: Calls run in a worker thread (by default only for a file: a memory
        #: database never waits for a disk).
        self.threaded = store.on_disk if threaded is None else threaded
        self._limiter = trio.CapacityLimiter(1)

    async def _db(self, work: Callable[[], T]) -> T:
        try:
            if not self.threaded:
                async with self._limiter:
                    return work()
            return await trio.to_thread.run_sync(work, limiter=self._limiter)
        except sqlite3.Error as error:
            log.error("accounts database %s failed: %s", self.store.path, error)
            raise AccountsUnavailable(str(error)) from None

    async def get(self, name: str) -> tuple[Account, str] | None:
        return await self._db(partial(self.store.get, name))

    async def by_cert(self, certfp: str) -> Account | None:
        return await self._db(partial(self.store.by_cert, certfp))

    async def create(
        self,
        name: str,
        password_hash: str,
        scram: ScramCredentials,
        *,
        email: str | None,
        now: float,
    ) -> Account | None:
        create = partial(self.store.create, name, password_hash, scram, email=email, now=now)
        return await self._db(create)

    async def drop(self, account_id: int) -> bool:
        return await self._db(partial(self.store.drop, account_id))

    async def set_password(
        self, account_id: int, password_hash: str, scram: ScramCredentials
    ) -> Account | None:
        return await self._db(partial(self.store.set_password, account_id, password_hash, scram))

    async def change_cert(self, account_id: int, certfp: str, *, add: bool) -> Account | None:
        return await self._db(partial(self.store.change_cert, account_id, certfp, add=add))

    async def names(self) -> list[str]:
        return await self._db(self.store.names)

    async def rooms(self) -> list[Room]:
        return await self._db(self.store.rooms.all)

    async def answer_room(self, question: RoomQuestion) -> RoomReply:
        return await self._db(partial(self.store.rooms.answer, question))

    async def aclose(self) -> None:
        await self._db(self.store.close)

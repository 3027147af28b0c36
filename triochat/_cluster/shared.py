"""Accounts, registered rooms and server bans kept in the store every node shares.

In cluster mode these records live beside the log (on Redis), not in each
node's SQLite file, so an account registered on one node logs in on any
other, a room registered with ChanServ anywhere is registered everywhere,
and a K-line set while a node was down is in force when it starts. Each
record is one JSON text under a key with a hash tag of its own
(``account:{alice}``, ``room:{#chat}``); the indexes (names, ids,
certificates, bans) are hashes. A new account or room is written with an
atomic create-if-absent (``SET NX``): two nodes registering one name at once,
exactly one wins. What is stored is what SQLite stores (password hashes and
SCRAM verifiers, never a password), and none of it enters the log.

The node's link may be down: every call then raises
:class:`~.._accounts.backend.AccountsUnavailable`, and the asking user is told.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from .._accounts.backend import AccountsUnavailable
from .._accounts.records import Account, ScramCredentials
from .._accounts.rooms import (
    AccessEntry,
    ListEntry,
    Room,
    RoomDrop,
    RoomRegister,
    RoomReply,
    after_account_dropped,
)
from .._irc.names import casefold
from .._state.questions import ServerBan
from .bus import BusUnavailable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import TypeVar

    from .._accounts.rooms import RoomQuestion
    from .bus import Bus, Only

    T = TypeVar("T")

__all__ = ["SharedRecords"]

#: account key -> name, for the reserved nicknames.
ACCOUNTS: Final = "{accounts}"
#: account id -> account key.
ACCOUNT_IDS: Final = "{account-ids}"
#: certificate fingerprint -> account id.
CERTS: Final = "{certs}"
#: The counter account ids come from (never reused, as SQLite's AUTOINCREMENT).
ACCOUNT_SEQ: Final = "{account-seq}"
#: room key -> name.
ROOMS: Final = "{rooms}"
#: "kind mask" -> the ban as JSON.
BANS: Final = "{bans}"


def _account_key(key: str) -> str:
    return f"account:{{{key}}}"


def _room_key(key: str) -> str:
    return f"room:{{{key}}}"


class SharedRecords:
    """The accounts, rooms and bans of the network, through the node's current link."""

    def __init__(self, bus: Callable[[], Bus | None]) -> None:
        self._bus = bus

    async def _call(self, work: Callable[[Bus], Awaitable[T]]) -> T:
        bus = self._bus()
        if bus is None:
            raise AccountsUnavailable("no link to the network's store")
        try:
            return await work(bus)
        except BusUnavailable as error:
            raise AccountsUnavailable(str(error)) from None

    # -- accounts -------------------------------------------------------------

    async def _record(self, bus: Bus, key: str) -> dict[str, Any] | None:
        text = await bus.get_record(_account_key(key))
        return None if text is None else dict(json.loads(text))

    async def _by_id(self, bus: Bus, account_id: int) -> tuple[str, dict[str, Any]] | None:
        key = (await bus.index(ACCOUNT_IDS)).get(str(account_id))
        if key is None:
            return None
        record = await self._record(bus, key)
        if record is None or record["id"] != account_id:
            return None
        return key, record

    async def get(self, name: str) -> tuple[Account, str] | None:
        async def work(bus: Bus) -> tuple[Account, str] | None:
            record = await self._record(bus, casefold(name))
            return None if record is None else (_account(record), str(record["password_hash"]))

        return await self._call(work)

    async def by_cert(self, certfp: str) -> Account | None:
        async def work(bus: Bus) -> Account | None:
            account_id = (await bus.index(CERTS)).get(certfp.lower())
            found = None if account_id is None else await self._by_id(bus, int(account_id))
            return None if found is None else _account(found[1])

        return await self._call(work)

    async def create(
        self,
        name: str,
        password_hash: str,
        scram: ScramCredentials,
        *,
        email: str | None,
        now: float,
    ) -> Account | None:
        async def work(bus: Bus) -> Account | None:
            key = casefold(name)
            if await bus.get_record(_account_key(key)) is not None:
                return None
            record = {
                "id": await bus.next_id(ACCOUNT_SEQ),
                "name": name,
                "created": now,
                "password_hash": password_hash,
                "salt": scram.salt.hex(),
                "iterations": scram.iterations,
                "stored_key": scram.stored_key.hex(),
                "server_key": scram.server_key.hex(),
                "email": email,
                "certfps": [],
            }
            if not await bus.put_record(_account_key(key), json.dumps(record), only="new"):
                return None  # another node created it first
            await bus.index_put(ACCOUNT_IDS, str(record["id"]), key)
            await bus.index_put(ACCOUNTS, key, name)
            return _account(record)

        return await self._call(work)

    async def drop(self, account_id: int) -> bool:
        async def work(bus: Bus) -> bool:
            found = await self._by_id(bus, account_id)
            if found is None:
                return False
            key, record = found
            for certfp in record["certfps"]:
                await bus.index_delete(CERTS, certfp)
            await bus.index_delete(ACCOUNTS, key)
            await bus.index_delete(ACCOUNT_IDS, str(account_id))
            await self._forget_account(bus, account_id, key)
            return await bus.delete_record(_account_key(key))

        return await self._call(work)

    async def _forget_account(self, bus: Bus, account_id: int, key: str) -> None:
        """As the SQLite store does: unregister the rooms the account founded, and take it
        off every other room's access list (whoever registers the name next inherits nothing)."""
        for room_key in await bus.index(ROOMS):
            text = await bus.get_record(_room_key(room_key))
            if text is None:
                continue
            room = _room_from_json(text)
            after = after_account_dropped(room, account_id, key)
            if after is None:
                await bus.index_delete(ROOMS, room_key)
                await bus.delete_record(_room_key(room_key))
            elif after is not room:
                await bus.put_record(_room_key(room_key), _room_json(after), only="existing")

    async def _update(
        self, account_id: int, change: Callable[[dict[str, Any]], None]
    ) -> Account | None:
        async def work(bus: Bus) -> Account | None:
            found = await self._by_id(bus, account_id)
            if found is None:
                return None
            key, record = found
            change(record)
            if not await bus.put_record(_account_key(key), json.dumps(record), only="existing"):
                return None  # dropped meanwhile
            return _account(record)

        return await self._call(work)

    async def set_password(
        self, account_id: int, password_hash: str, scram: ScramCredentials
    ) -> Account | None:
        def change(record: dict[str, Any]) -> None:
            record.update(
                password_hash=password_hash,
                salt=scram.salt.hex(),
                iterations=scram.iterations,
                stored_key=scram.stored_key.hex(),
                server_key=scram.server_key.hex(),
            )

        return await self._update(account_id, change)

    async def change_cert(self, account_id: int, certfp: str, *, add: bool) -> Account | None:
        certfp = certfp.lower()

        def change(record: dict[str, Any]) -> None:
            certs = {fp for fp in record["certfps"] if fp != certfp}
            if add:
                certs.add(certfp)
            record["certfps"] = sorted(certs)

        account = await self._update(account_id, change)
        if account is not None:

            async def index(bus: Bus) -> None:
                if add:
                    await bus.index_put(CERTS, certfp, str(account_id))
                elif (await bus.index(CERTS)).get(certfp) == str(account_id):
                    await bus.index_delete(CERTS, certfp)

            await self._call(index)
        return account

    async def names(self) -> list[str]:
        async def work(bus: Bus) -> list[str]:
            return sorted((await bus.index(ACCOUNTS)).values())

        return await self._call(work)

    # -- registered rooms -----------------------------------------------------

    async def rooms(self) -> list[Room]:
        async def work(bus: Bus) -> list[Room]:
            rooms = []
            for key in sorted(await bus.index(ROOMS)):
                text = await bus.get_record(_room_key(key))
                if text is not None:
                    rooms.append(_room_from_json(text))
            return rooms

        return await self._call(work)

    async def answer_room(self, question: RoomQuestion) -> RoomReply:
        async def work(bus: Bus) -> RoomReply:
            if isinstance(question, RoomDrop):
                key = casefold(question.name)
                await bus.index_delete(ROOMS, key)
                return RoomReply(await bus.delete_record(_room_key(key)))
            room = question.room
            key = casefold(room.name)
            only: Only = "new" if isinstance(question, RoomRegister) else "existing"
            if not await bus.put_record(_room_key(key), _room_json(room), only=only):
                return RoomReply(ok=False)
            await bus.index_put(ROOMS, key, room.name)
            return RoomReply(ok=True)

        return await self._call(work)

    async def aclose(self) -> None:
        """Nothing to close: the node owns the link."""

    # -- server bans ----------------------------------------------------------

    async def change_ban(self, ban: ServerBan, *, removed: bool) -> bool:
        """Keep (or forget) ``ban`` network-wide; False if the store cannot be reached."""
        field = f"{ban.kind} {casefold(ban.mask)}"

        async def work(bus: Bus) -> None:
            if removed:
                await bus.index_delete(BANS, field)
            else:
                await bus.index_put(BANS, field, json.dumps(_ban_json(ban)))

        try:
            await self._call(work)
        except AccountsUnavailable:
            return False
        return True

    async def bans(self, now: float) -> list[ServerBan]:
        """The server bans in force at ``now``, oldest first (``AccountsUnavailable``)."""

        async def work(bus: Bus) -> list[ServerBan]:
            return [_ban(json.loads(text)) for text in (await bus.index(BANS)).values()]

        bans = await self._call(work)
        return sorted((ban for ban in bans if ban.active(now)), key=lambda ban: ban.set_at)


def _account(record: dict[str, Any]) -> Account:
    scram = ScramCredentials(
        bytes.fromhex(record["salt"]),
        int(record["iterations"]),
        bytes.fromhex(record["stored_key"]),
        bytes.fromhex(record["server_key"]),
    )
    return Account(
        int(record["id"]),
        str(record["name"]),
        float(record["created"]),
        scram,
        tuple(sorted(record["certfps"])),
        record["email"],
    )


def _room_json(room: Room) -> str:
    """``room`` as one JSON text, as the store keeps it."""
    return json.dumps(
        {
            "name": room.name,
            "founder": room.founder,
            "founder_id": room.founder_id,
            "registered": room.registered,
            "topic": room.topic,
            "topic_by": room.topic_by,
            "topic_at": room.topic_at,
            "modes": room.modes,
            "key": room.key,
            "limit": room.limit,
            "lists": [[e.letter, e.mask, e.set_by, e.set_at] for e in room.lists],
            "access": [[a.account, a.level] for a in room.access],
        },
        ensure_ascii=False,
    )


def _room_from_json(text: str) -> Room:
    data = json.loads(text)
    return Room(
        str(data["name"]),
        str(data["founder"]),
        int(data["founder_id"]),
        float(data["registered"]),
        str(data["topic"]),
        str(data["topic_by"]),
        float(data["topic_at"]),
        str(data["modes"]),
        data["key"],
        data["limit"],
        tuple(ListEntry(str(c), str(m), str(b), int(t)) for c, m, b, t in data["lists"]),
        tuple(AccessEntry(str(a), "op" if lv == "op" else "voice") for a, lv in data["access"]),
    )


def _ban_json(ban: ServerBan) -> dict[str, Any]:
    return {
        "kind": ban.kind,
        "mask": ban.mask,
        "reason": ban.reason,
        "set_by": ban.set_by,
        "set_at": ban.set_at,
        "expires": ban.expires,
    }


def _ban(data: dict[str, Any]) -> ServerBan:
    expires = data["expires"]
    return ServerBan(
        str(data["kind"]),
        str(data["mask"]),
        str(data["reason"]),
        str(data["set_by"]),
        float(data["set_at"]),
        None if expires is None else float(expires),
    )

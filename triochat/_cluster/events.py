"""What travels between cluster nodes: pure event records and their JSON encoding.

Every node applies the same events in the same order (the order of one log),
so an event carries everything its origin decided once: the time, the line
as the user sent it, the user's identity. Nothing here does I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._history.records import HistoryEntry

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import TypeAlias

__all__ = [
    "AccountName",
    "Burst",
    "Bye",
    "Event",
    "Hello",
    "Intro",
    "Line",
    "Lost",
    "Quit",
    "Topic",
    "UserAccount",
    "UserInfo",
    "UserModes",
    "decode",
    "decode_batch",
    "decode_history",
    "encode",
    "encode_batch",
    "encode_history",
]


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A registered user as its origin node describes it to the others."""

    conn: int
    nick: str
    user: str
    host: str
    realname: str
    session: str
    away: str | None = None
    modes: str = ""
    #: (channel name, member status such as ``"o"``) for each channel it is in.
    channels: tuple[tuple[str, str], ...] = ()
    #: The account it is logged in as (name and id), if any.
    account: str | None = None
    account_id: int | None = None


@dataclass(frozen=True, slots=True)
class Topic:
    """A channel's topic and modes, carried in a burst so that a new node learns them."""

    channel: str
    text: str
    by: str
    at: float
    #: The channel's modes without parameters (``"nt"``).
    modes: str = ""
    #: ``+k`` and ``+l``, when set.
    key: str | None = None
    limit: int | None = None
    #: The ``+b``/``+e``/``+I`` entries: (letter, mask, set by, set at).
    lists: tuple[tuple[str, str, str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Line:
    """A command of a user on ``node``, applied by every node (the origin included) in log order."""

    node: str
    conn: int
    line: str
    #: When the origin received it (UNIX seconds): the ``time`` tag every node shows.
    at: float
    #: Lets the origin know when its own event has been applied (0: nobody waits).
    token: int = 0


@dataclass(frozen=True, slots=True)
class Intro:
    """A user completed registration on ``node``."""

    node: str
    user: UserInfo


@dataclass(frozen=True, slots=True)
class Quit:
    """A user of ``node`` left the network."""

    node: str
    conn: int
    reason: str


@dataclass(frozen=True, slots=True)
class UserModes:
    """A user of ``node`` now has exactly these user modes (``OPER`` gave it ``+o``).

    OPER itself never enters the log (its password would be stored in Redis):
    its origin checks the password and publishes only the outcome.
    """

    node: str
    conn: int
    modes: str


@dataclass(frozen=True, slots=True)
class UserAccount:
    """A user of ``node`` logged in (or out, ``account`` None) after registering.

    Only the outcome: the password was checked on ``node`` and never enters the log.
    ``session`` is the key its private history is kept under now.
    """

    node: str
    conn: int
    account: str | None
    account_id: int | None
    session: str


@dataclass(frozen=True, slots=True)
class AccountName:
    """An account called ``name`` was registered (or dropped): its nick is reserved (or not).

    A drop names the account's id too: the rooms that id founded stop being registered.
    """

    node: str
    name: str
    registered: bool
    account_id: int | None = None


@dataclass(frozen=True, slots=True)
class Hello:
    """``node`` (re)joined the log: every other node answers with a :class:`Burst`."""

    node: str


@dataclass(frozen=True, slots=True)
class Burst:
    """Everything ``node`` holds of its own: its users, their channels, their topics.

    Applying it reconciles: users and memberships of ``node`` that it does not
    list are gone (they left while the others could not hear it).
    """

    node: str
    users: tuple[UserInfo, ...] = ()
    topics: tuple[Topic, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Lost:
    """``node`` stopped answering (its heartbeat expired): its users quit with ``reason``."""

    node: str
    reason: str


@dataclass(frozen=True, slots=True)
class Bye:
    """``node`` is stopping cleanly: its users quit everywhere at once."""

    node: str
    reason: str


Event: TypeAlias = (
    "Line | Intro | Quit | UserModes | UserAccount | AccountName | Hello | Burst | Lost | Bye"
)

_KINDS: dict[str, type[Any]] = {
    "line": Line,
    "intro": Intro,
    "quit": Quit,
    "umodes": UserModes,
    "uaccount": UserAccount,
    "aname": AccountName,
    "hello": Hello,
    "burst": Burst,
    "lost": Lost,
    "bye": Bye,
}
_NAMES = {kind: name for name, kind in _KINDS.items()}


def _user_json(user: UserInfo) -> dict[str, Any]:
    return {
        "conn": user.conn,
        "nick": user.nick,
        "user": user.user,
        "host": user.host,
        "realname": user.realname,
        "session": user.session,
        "away": user.away,
        "modes": user.modes,
        "channels": [list(pair) for pair in user.channels],
        "account": user.account,
        "account_id": user.account_id,
    }


def _user(data: dict[str, Any]) -> UserInfo:
    return UserInfo(
        conn=int(data["conn"]),
        nick=str(data["nick"]),
        user=str(data["user"]),
        host=str(data["host"]),
        realname=str(data["realname"]),
        session=str(data["session"]),
        away=data.get("away"),
        modes=str(data.get("modes", "")),
        channels=tuple((str(name), str(status)) for name, status in data.get("channels", ())),
        account=data.get("account"),
        account_id=data.get("account_id"),
    )


def encode(event: Event) -> str:
    """``event`` as one JSON text (a stream entry's only field)."""
    data: dict[str, Any] = {"k": _NAMES[type(event)], "node": event.node}
    if isinstance(event, Line):
        data.update(conn=event.conn, line=event.line, at=event.at, token=event.token)
    elif isinstance(event, Intro):
        data["user"] = _user_json(event.user)
    elif isinstance(event, Quit):
        data.update(conn=event.conn, reason=event.reason)
    elif isinstance(event, UserModes):
        data.update(conn=event.conn, modes=event.modes)
    elif isinstance(event, UserAccount):
        data.update(
            conn=event.conn, account=event.account, id=event.account_id, session=event.session
        )
    elif isinstance(event, AccountName):
        data.update(name=event.name, registered=event.registered, id=event.account_id)
    elif isinstance(event, Burst):
        data["users"] = [_user_json(user) for user in event.users]
        data["topics"] = [
            [t.channel, t.text, t.by, t.at, t.modes, t.key, t.limit, [list(e) for e in t.lists]]
            for t in event.topics
        ]
    elif isinstance(event, Lost | Bye):
        data["reason"] = event.reason
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def encode_batch(events: Sequence[Event]) -> str:
    """Several events as one JSON array: one log entry, applied in this order."""
    return "[" + ",".join(map(encode, events)) + "]"


def decode_batch(text: str | bytes) -> list[Event]:
    """The events of one log entry (one event, or an array of them)."""
    data = json.loads(text)
    if isinstance(data, list):
        return [_event(item) for item in data]
    return [_event(data)]


def decode(text: str | bytes) -> Event:
    """The event ``text`` encodes; ``ValueError`` (or ``KeyError``) if it is not one."""
    return _event(json.loads(text))


def _event(data: dict[str, Any]) -> Event:
    kind = _KINDS[data["k"]]
    node = str(data["node"])
    if kind is Line:
        return Line(
            node, int(data["conn"]), str(data["line"]), float(data["at"]), int(data["token"])
        )
    if kind is Intro:
        return Intro(node, _user(data["user"]))
    if kind is Quit:
        return Quit(node, int(data["conn"]), str(data["reason"]))
    if kind is UserModes:
        return UserModes(node, int(data["conn"]), str(data["modes"]))
    if kind is UserAccount:
        account_id = data["id"]
        return UserAccount(
            node,
            int(data["conn"]),
            data["account"],
            None if account_id is None else int(account_id),
            str(data["session"]),
        )
    if kind is AccountName:
        account_id = data.get("id")
        return AccountName(
            node,
            str(data["name"]),
            bool(data["registered"]),
            None if account_id is None else int(account_id),
        )
    if kind is Burst:
        users = tuple(_user(user) for user in data["users"])
        topics = tuple(_topic(item) for item in data["topics"])
        return Burst(node, users, topics)
    if kind is Hello:
        return Hello(node)
    event: Lost | Bye = kind(node, str(data["reason"]))
    return event


def _topic(item: list[Any]) -> Topic:
    """A burst's channel entry; a node of an older version sends no key, limit or lists."""
    channel, text, by, at, modes, *rest = item
    key, limit, lists = [*rest, None, None, None][:3]
    return Topic(
        str(channel),
        str(text),
        str(by),
        float(at),
        str(modes),
        None if key is None else str(key),
        None if limit is None else int(limit),
        tuple((str(e[0]), str(e[1]), str(e[2]), int(e[3])) for e in lists or ()),
    )


def encode_history(entries: Sequence[HistoryEntry]) -> str:
    """History rows as one JSON text (an entry of the network's history stream)."""
    rows = [
        [e.time_ms, e.msgid, e.key, e.target, e.source, e.command, e.text, e.readers]
        for e in entries
    ]
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=False)


def decode_history(text: str) -> list[HistoryEntry]:
    """The rows of one history-stream entry; ``ValueError`` (or another) if it is not that."""
    entries = []
    for time_ms, msgid, key, target, source, command, body, readers in json.loads(text):
        entries.append(
            HistoryEntry(
                int(time_ms),
                str(msgid),
                str(key),
                str(target),
                str(source),
                str(command),
                str(body),
                None if readers is None else (str(readers[0]), str(readers[1])),
            )
        )
    return entries

"""Chat history as pure data: what is stored, how a client asks for it, how it reads.

No I/O and no trio here, like :mod:`._state` (which decides what is recorded
and who may read it) and unlike :mod:`._history` (which keeps it in SQLite).
Times are whole milliseconds since the UNIX epoch, the precision of the IRCv3
``server-time`` tag, so that a time a client sends back (``timestamp=``)
compares exactly with what was stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, NamedTuple

from .._irc.names import casefold

__all__ = [
    "MESSAGE_SUBCOMMANDS",
    "UNBOUNDED",
    "Bound",
    "HistoryEntry",
    "HistoryQuery",
    "parse_bound",
    "parse_limit",
    "private_key",
    "recordable",
    "stamped_text",
]

#: CHATHISTORY subcommands that return messages; ``TARGETS`` returns conversations.
MESSAGE_SUBCOMMANDS: Final = frozenset({"LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN"})
#: Longest ``msgid=`` value accepted in a request (ours are far shorter).
MAX_MSGID_LENGTH: Final = 64

_TIMESTAMP: Final = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?Z", re.ASCII
)
_LIMIT: Final = re.compile(r"[0-9]+")
_ACTION: Final = "\x01ACTION"


class HistoryEntry(NamedTuple):
    """One message as the server relayed it, kept for replay and ``CHATHISTORY``.

    ``key`` says whose history it is: a channel's casefolded name, or for a
    private message :func:`private_key` of its two nicks. ``readers`` is
    ``None`` for a channel message (its members may read it) and, for a
    private message, the sessions of its sender and recipient: the only
    connections that may ever read it back.

    A named tuple rather than a frozen dataclass: one is made for every chat
    line recorded, and a frozen dataclass of eight fields cost 13,200
    instructions to make (each field set through ``object.__setattr__``)
    against about 1,000 for a tuple made in C.
    """

    time_ms: int
    msgid: str
    key: str
    target: str
    source: str
    command: str
    text: str
    readers: tuple[str, str] | None = None

    @property
    def sender(self) -> str:
        """The sender's nickname."""
        return self.source.partition("!")[0]


@dataclass(frozen=True, slots=True)
class Bound:
    """Where a CHATHISTORY request starts or ends: a time, a message id, or nowhere (``*``)."""

    time_ms: int | None = None
    msgid: str | None = None


#: The ``*`` of ``CHATHISTORY LATEST <target> * <limit>``.
UNBOUNDED: Final = Bound()


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """A validated CHATHISTORY request, for the server to run against the store.

    ``keys`` are the conversations to search: one for the message
    subcommands; for ``TARGETS``, the channels the requester is in (its own
    private conversations are found through ``session``). Private messages
    match only when ``session`` took part in them.
    """

    subcommand: str
    target: str
    keys: tuple[str, ...]
    session: str
    first: Bound
    second: Bound
    limit: int


def _plain_time(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms // 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def stamped_text(entry: HistoryEntry) -> str:
    """The entry's text with its time in front, as ZNC plays back its buffer.

    For a client that cannot show the ``time`` tag this is the only way to
    tell a replayed line from a live one. An ACTION keeps its CTCP framing,
    with the time inside it, so that it still reads ``* alice [...] waves``.
    """
    stamp = f"[{_plain_time(entry.time_ms)}]"
    text = entry.text
    if text.startswith(_ACTION):
        rest = text[len(_ACTION) :].lstrip(" ")
        return f"{_ACTION} {stamp} {rest}" if rest.strip("\x01") else f"{_ACTION} {stamp}\x01"
    return f"{stamp} {text}"


def recordable(text: str) -> bool:
    """False for CTCP requests other than ACTION: replaying them would make clients answer."""
    return not text.startswith("\x01") or text.startswith(_ACTION)


def private_key(nick: str, other: str) -> str:
    """The history key of a private conversation: its two casefolded nicks, in order.

    A space cannot occur in a nickname, and a channel key starts with ``#``,
    so the two kinds of key never collide.
    """
    first, second = sorted((casefold(nick), casefold(other)))
    return f"{first} {second}"


def parse_timestamp(text: str) -> int | None:
    """``YYYY-MM-DDThh:mm:ss.sssZ`` in milliseconds, or None if it is not one."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError:
        return None
    millis = int((fraction or "0").ljust(3, "0")[:3])
    return int(moment.timestamp()) * 1000 + millis


def parse_bound(text: str, *, star: bool = False, msgid: bool = True) -> Bound | None:
    """A ``timestamp=`` or ``msgid=`` reference (or ``*`` when ``star``), or None if invalid."""
    if star and text == "*":
        return UNBOUNDED
    kind, equals, value = text.partition("=")
    if not equals:
        return None
    if kind == "timestamp":
        time_ms = parse_timestamp(value)
        return None if time_ms is None else Bound(time_ms=time_ms)
    if kind == "msgid" and msgid and 0 < len(value) <= MAX_MSGID_LENGTH:
        return Bound(msgid=value)
    return None


def parse_limit(text: str, maximum: int) -> int | None:
    """A positive message count, clamped to ``maximum``; None if it is not one."""
    if _LIMIT.fullmatch(text) is None:
        return None
    if len(text) > 9:  # far past any maximum: never convert a huge number
        return maximum
    count = int(text)
    return min(count, maximum) if count > 0 else None

"""What happened in a chat session, as data: the events a full-screen client renders.

:class:`~triochat._client_core.ClientCore` says everything twice: as display
strings (``Effects.show``, for the line client) and as these events
(``Effects.events``), which keep what a string loses: which room a line belongs
to, who spoke, whether it was replayed history, who joined or left. The
reconnecting session (:mod:`._client_reconnect`) adds the connection's own
events. Nothing here does anything; every text in an event has already been
through :func:`~triochat._client_text.sanitize`, but it is still other people's
text: a renderer must never read it as markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "ChatLine",
    "Connecting",
    "ConnectionLost",
    "Event",
    "HistoryEnded",
    "HistoryStarted",
    "InfoLine",
    "Joined",
    "LagMeasured",
    "Left",
    "LoggedIn",
    "MemberJoined",
    "MemberLeft",
    "MemberModes",
    "MemberQuit",
    "Members",
    "NickChanged",
    "QueryEnded",
    "QueryStarted",
    "Reconnecting",
    "Registered",
    "Topic",
    "UserInput",
]


@dataclass(frozen=True, slots=True)
class ChatLine:
    """Someone said something: a message, an action (``/me``) or a notice.

    ``window`` is where it belongs: the channel, or for a private message the
    other person's nick (the sender, or the recipient of our own).
    """

    window: str
    sender: str
    text: str
    time: datetime
    action: bool = False
    notice: bool = False
    own: bool = False
    #: Replayed from the server's history (an IRCv3 ``chathistory`` batch), not live.
    history: bool = False
    #: It names us, or it is a private message to us.
    mention: bool = False


@dataclass(frozen=True, slots=True)
class InfoLine:
    """A line from the client or the server, not from a person (the line client's ``-!-``).

    ``window`` is ``None`` when it belongs wherever the user is looking (the
    answer to a command, an error); else a channel or a nick. ``server`` marks
    what the server says on its own (the welcome, the MOTD, its notices): the
    status window's business.
    """

    text: str
    time: datetime
    window: str | None = None
    error: bool = False
    history: bool = False
    server: bool = False


@dataclass(frozen=True, slots=True)
class Registered:
    """The server welcomed us under ``nick``."""

    nick: str
    server: str


@dataclass(frozen=True, slots=True)
class LoggedIn:
    """The server says we are logged in to ``account``."""

    account: str


@dataclass(frozen=True, slots=True)
class Joined:
    """We are now in ``channel``."""

    channel: str


@dataclass(frozen=True, slots=True)
class Left:
    """We are no longer in ``channel`` (we parted, or were kicked)."""

    channel: str
    reason: str


@dataclass(frozen=True, slots=True)
class Members:
    """Everyone in ``channel``, with their prefixes (``@op``, ``+voice``)."""

    channel: str
    nicks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MemberJoined:
    channel: str
    nick: str


@dataclass(frozen=True, slots=True)
class MemberLeft:
    """``nick`` left ``channel``: parted, or kicked (then ``kicked_by`` says by whom)."""

    channel: str
    nick: str
    reason: str
    time: datetime
    kicked_by: str | None = None


@dataclass(frozen=True, slots=True)
class MemberQuit:
    """``nick`` left the server: every room they were in should say so."""

    nick: str
    reason: str
    time: datetime


@dataclass(frozen=True, slots=True)
class NickChanged:
    """``old`` is now ``new``; ``own`` when it is us."""

    old: str
    new: str
    time: datetime
    own: bool = False


@dataclass(frozen=True, slots=True)
class MemberModes:
    """A ``MODE`` change on ``channel`` (``+o bob``): member prefixes may change."""

    channel: str
    modes: str
    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Topic:
    channel: str
    topic: str


@dataclass(frozen=True, slots=True)
class QueryStarted:
    """Plain text now goes privately to ``nick``."""

    nick: str


@dataclass(frozen=True, slots=True)
class QueryEnded:
    """Private talk with ``nick`` ended; plain text goes to ``room`` (if any)."""

    nick: str
    room: str | None


@dataclass(frozen=True, slots=True)
class HistoryStarted:
    """Replayed history of ``window`` follows (until :class:`HistoryEnded`)."""

    window: str
    time: datetime


@dataclass(frozen=True, slots=True)
class HistoryEnded:
    window: str
    time: datetime


@dataclass(frozen=True, slots=True)
class LagMeasured:
    """A PING to the server came back after ``seconds``."""

    seconds: float


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    reason: str
    time: datetime


@dataclass(frozen=True, slots=True)
class Connecting:
    """A connection attempt starts (``attempt`` 0 is the first)."""

    attempt: int


@dataclass(frozen=True, slots=True)
class Reconnecting:
    """No connection: the next attempt is in ``delay`` seconds."""

    delay: float
    reason: str
    time: datetime


Event = (
    ChatLine
    | InfoLine
    | Registered
    | Joined
    | Left
    | Members
    | MemberJoined
    | MemberLeft
    | MemberQuit
    | NickChanged
    | MemberModes
    | Topic
    | QueryStarted
    | QueryEnded
    | HistoryStarted
    | HistoryEnded
    | LagMeasured
    | LoggedIn
    | ConnectionLost
    | Connecting
    | Reconnecting
)


@dataclass(frozen=True, slots=True)
class UserInput:
    """A line the user typed, and the window it was typed in (``None``: the status window)."""

    text: str
    window: str | None = None

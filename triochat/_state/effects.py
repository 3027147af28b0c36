"""What the state asks the server to do: the effects its methods return, in order.

The state never does I/O. It returns :class:`Send` (one message, serialized
once per tag variant, for a tuple of connections), :class:`Close` (send
``ERROR`` and hang up), :class:`Record` (save a message in the history),
:class:`Ask` (a question for a service outside — the history store today,
password checks and cluster claims later — answered with
:meth:`~.machine.ServerState.answer`) and :class:`Schedule` (call
:meth:`~.machine.ServerState.timer` back after a delay).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, NewType

if TYPE_CHECKING:
    from typing import TypeAlias

    from .._accounts.records import AccountQuestion
    from .._accounts.rooms import RoomQuestion
    from .._history.records import HistoryEntry, HistoryQuery
    from .._irc.wire import Message
    from .questions import ContinueList, PasswordCheck, Rehash, ServerBanChange

__all__ = [
    "Ask",
    "Close",
    "ConnId",
    "Effect",
    "GuestNick",
    "NickClaim",
    "Question",
    "Record",
    "Schedule",
    "Send",
    "Timer",
]

#: A connection, for as long as it lasts; never a nickname (nicknames change).
ConnId = NewType("ConnId", int)


# Send and Record are made for every chat line, so they are named tuples:
# as immutable as the frozen dataclasses beside them, and made in C (a frozen
# dataclass sets each field through object.__setattr__: 3,600 instructions for
# a one-field Record, against about 1,000 for a tuple).


class Send(NamedTuple):
    """Deliver ``message`` to every connection in ``targets``.

    The fan-out passes on only the tags each recipient negotiated; with
    ``exact_tags`` the state has already chosen them (history for one client,
    where ``batch`` goes with the ``batch`` capability).
    """

    targets: tuple[ConnId, ...]
    message: Message
    exact_tags: bool = False


@dataclass(frozen=True, slots=True)
class Close:
    """Send ``ERROR :reason`` to ``conn`` after what is queued, then hang up."""

    conn: ConnId
    reason: str


class Record(NamedTuple):
    """Save ``entry`` in the chat history; the server's writer does it off the hot path."""

    entry: HistoryEntry


@dataclass(frozen=True, slots=True)
class NickClaim:
    """May this registration take ``nick`` on the whole network? (cluster mode only)

    A cluster node claims the nick atomically in its shared store; the answer
    is ``True`` (the nick is now this user's everywhere) or ``False`` (433).
    """

    nick: str


@dataclass(frozen=True, slots=True)
class GuestNick:
    """Rename this registered user to a guest nick, network-wide (cluster mode only).

    Nick protection decided it (``why`` says so to the user); the node claims a
    free guest nick in the shared store and changes the nick through the log,
    so that every node sees the same change. Nothing comes back to the state.
    """

    why: str


#: Questions the accounts service answers: accounts, and registered rooms (ChanServ).
_AccountsQuestion: TypeAlias = "AccountQuestion | RoomQuestion"
#: Questions a service answers; each kind grows this union (password checks, claims).
Question: TypeAlias = (
    "HistoryQuery | PasswordCheck | ContinueList | ServerBanChange | Rehash | _AccountsQuestion"
    " | NickClaim | GuestNick"
)


@dataclass(frozen=True, slots=True)
class Ask:
    """Put ``question`` to the service for it, on behalf of ``conn``.

    Only ``conn`` waits for the answer (its reader, between two of its lines);
    the room goes on. The answer comes back through
    :meth:`~.machine.ServerState.answer`, or
    :meth:`~.machine.ServerState.unanswered` when the service failed.
    """

    conn: ConnId
    question: Question


@dataclass(frozen=True, slots=True)
class Timer:
    """A timer the state set: ``kind`` says what it is for, on which connection."""

    conn: ConnId
    kind: str


@dataclass(frozen=True, slots=True)
class Schedule:
    """Call :meth:`~.machine.ServerState.timer` with ``timer`` in ``delay`` seconds."""

    delay: float
    timer: Timer


Effect: TypeAlias = "Send | Close | Record | Ask | Schedule"

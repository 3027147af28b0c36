"""Questions the state puts to services outside it (besides history queries).

Each is asked with an :class:`~.effects.Ask` and answered through
:meth:`~.machine.ServerState.answer`; the asking connection waits for its
answer between two of its own lines, nobody else does.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ContinueList", "PasswordCheck", "Rehash", "ServerBan", "ServerBanChange"]


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """Does ``password`` match ``hashed``? Hashing is slow on purpose, so it runs in a thread.

    The answer is a ``bool``. ``repr`` never shows the password.
    """

    name: str
    password: str
    hashed: str

    def __repr__(self) -> str:
        return f"PasswordCheck(name={self.name!r})"


@dataclass(frozen=True, slots=True)
class ContinueList:
    """Let the others run, then go on with this client's LIST (the answer is ``None``).

    A LIST of ten thousand channels goes out in chunks, one chunk per answer,
    so the room is never stalled behind it and the first lines leave at once.
    """


@dataclass(frozen=True, slots=True)
class Rehash:
    """Re-read the configuration file and apply it (REHASH, like SIGHUP).

    The answer is the notes of the reload (``list[str]``): what changed, what
    needs a restart, or why the file was refused and nothing changed.
    """


@dataclass(frozen=True, slots=True)
class ServerBan:
    """A K-line (``kind="K"``, a ``user@host`` mask) or D-line (``"D"``, an IP or CIDR)."""

    kind: str
    mask: str
    reason: str
    set_by: str
    set_at: float
    #: When it lapses (UNIX time), or None for never.
    expires: float | None = None

    def active(self, now: float) -> bool:
        return self.expires is None or self.expires > now


@dataclass(frozen=True, slots=True)
class ServerBanChange:
    """Save (``ban`` added) or delete (``removed``) a server ban in the database.

    The answer is a ``bool``: True once it is saved, False when it could only be kept in memory.
    """

    ban: ServerBan
    removed: bool = False

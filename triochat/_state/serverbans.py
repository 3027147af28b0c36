"""Server bans (K-lines on ``user@host``, D-lines on addresses), as the state holds them.

The state is the authority while it runs; the database keeps a copy so the
bans survive a restart (see :class:`~.questions.ServerBanChange`). A ban with
a duration lapses by itself: expired entries are dropped when next looked at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._irc.masks import host_in, mask_matches
from .._irc.names import casefold

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .model import Client
    from .questions import ServerBan

__all__ = ["ServerBans"]


class ServerBans:
    """The K-lines and D-lines in force, by kind and mask."""

    def __init__(self) -> None:
        self._bans: dict[tuple[str, str], ServerBan] = {}

    def load(self, bans: Iterable[ServerBan]) -> None:
        for ban in bans:
            self.add(ban)

    def add(self, ban: ServerBan) -> None:
        self._bans[ban.kind, casefold(ban.mask)] = ban

    def remove(self, kind: str, mask: str) -> ServerBan | None:
        return self._bans.pop((kind, casefold(mask)), None)

    def active(self, kind: str, now: float) -> list[ServerBan]:
        """The bans of ``kind`` in force, oldest first; lapsed ones are forgotten."""
        for key, ban in list(self._bans.items()):
            if not ban.active(now):
                del self._bans[key]
        return [ban for ban in self._bans.values() if ban.kind == kind]

    def matching(self, client: Client, now: float) -> ServerBan | None:
        """The first ban in force that ``client`` falls under, if any."""
        if not self._bans:
            return None
        for ban in self.active("D", now):
            if host_in(ban.mask, client.host):
                return ban
        # Usernames carry "~" (no ident); a K-line on "bob@host" means that user too.
        userhosts = (f"{client.user}@{client.host}", f"{client.user.lstrip('~')}@{client.host}")
        for ban in self.active("K", now):
            if any(mask_matches(ban.mask, userhost) for userhost in userhosts):
                return ban
        return None

"""Who may join and who may speak: mask lists, bans with their cache, keys and limits.

These checks sit on the per-message path (:func:`may_speak` runs for every
channel message), so they are built to cost nothing when a channel has no
lists, and little when it has: a list is compiled into one regular expression
when it changes (:class:`~.._irc.masks.MaskSet`), and each member's verdict is
cached until the ban or exception list changes or the member's nick does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from .._irc import numerics as rpl
from .._irc.masks import MaskSet
from .._irc.names import casefold

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .model import Channel, Client

__all__ = [
    "MaskEntry",
    "MaskList",
    "is_banned",
    "join_refusal",
    "may_speak",
    "valid_key",
]

#: Characters a channel key may not hold: they would break ``JOIN #a,#b k1,k2``
#: or the line itself, or hide in a terminal.
_KEY_FORBIDDEN: Final = frozenset(" ,:" + "".join(map(chr, range(32))) + "\x7f")


@dataclass(frozen=True, slots=True)
class MaskEntry:
    """One entry of a channel list, as 367/348/346 show it."""

    mask: str
    set_by: str
    set_at: int


class MaskList:
    """The entries of one channel list, and their compiled matcher (built when first needed)."""

    __slots__ = ("_entries", "_matcher")

    def __init__(self) -> None:
        self._entries: dict[str, MaskEntry] = {}
        self._matcher: MaskSet | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[MaskEntry]:
        return iter(self._entries.values())

    def add(self, entry: MaskEntry) -> bool:
        """Add ``entry``; False when an equal mask is already there."""
        key = casefold(entry.mask)
        if key in self._entries:
            return False
        self._entries[key] = entry
        self._matcher = None
        return True

    def remove(self, mask: str) -> MaskEntry | None:
        """Remove the entry equal to ``mask``, returning it (None when there was none)."""
        entry = self._entries.pop(casefold(mask), None)
        if entry is not None:
            self._matcher = None
        return entry

    def matches(self, source: str) -> bool:
        """True when any entry matches ``source`` (``nick!user@host``)."""
        matcher = self._matcher
        if matcher is None:
            matcher = self._matcher = MaskSet(entry.mask for entry in self._entries.values())
        return matcher.match(source)


def _listed(channel: Channel, letter: str, client: Client) -> bool:
    masks = channel.lists.get(letter)
    return masks is not None and masks.matches(client.source)


def is_banned(client: Client, channel: Channel) -> bool:
    """True when a ban (``+b``) matches ``client`` and no exception (``+e``) does.

    A member's verdict is cached with the source it was decided for.
    """
    if "b" not in channel.lists:
        return False
    member = client.conn in channel.members
    if member:
        cached = channel.banned.get(client.conn)
        if cached is not None and cached[0] is client.source:
            return cached[1]
    banned = _listed(channel, "b", client) and not _listed(channel, "e", client)
    if member:
        channel.banned[client.conn] = (client.source, banned)
    return banned


def may_speak(client: Client, channel: Channel) -> bool:
    """True when ``client`` may send to ``channel`` (``+n``, ``+m``, bans; voice and op pass)."""
    modes = channel.modes
    status = channel.members.get(client.conn)
    if status is None:
        if "n" in modes or "m" in modes:
            return False
    elif status:
        return True
    elif "m" in modes:
        return False
    return not channel.lists or not is_banned(client, channel)


def invited(client: Client, channel: Channel) -> bool:
    """True when ``client`` holds an invitation to this very channel (not an older namesake)."""
    invitation = client.invites.get(casefold(channel.name))
    return invitation is not None and invitation() is channel


def join_refusal(client: Client, channel: Channel, key: str) -> tuple[str, str] | None:
    """Why ``client`` may not join ``channel`` with ``key``: (numeric, text), or None.

    An invitation lets its holder past ``+i`` only; bans, keys and limits hold for everyone.
    """
    if is_banned(client, channel):
        return rpl.ERR_BANNEDFROMCHAN, "Cannot join channel (+b)"
    if "i" in channel.modes and not invited(client, channel) and not _listed(channel, "I", client):
        return rpl.ERR_INVITEONLYCHAN, "Cannot join channel (+i)"
    if channel.key is not None and key != channel.key:
        return rpl.ERR_BADCHANNELKEY, "Cannot join channel (+k)"
    if channel.limit is not None and len(channel.members) >= channel.limit:
        return rpl.ERR_CHANNELISFULL, "Cannot join channel (+l)"
    return None


def valid_key(key: str, max_length: int) -> bool:
    """True when ``key`` may be a channel key: 1 to ``max_length`` characters, nothing that
    breaks a JOIN line (spaces, commas, colons, control characters)."""
    return 0 < len(key) <= max_length and not any(char in _KEY_FORBIDDEN for char in key)

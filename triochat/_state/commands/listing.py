"""LIST: the channels, filtered (``ELIST=CMNTU``) and streamed out in chunks.

A server may hold ten thousand channels. Listing them all at once would
build ten thousand lines before the first one leaves, and hold every other
client up meanwhile. So LIST takes a snapshot of the channel names, answers
one chunk, and asks (:class:`~..questions.ContinueList`) to go on: the server
lets everyone else run before it answers, and the next chunk follows. Only
the lister waits, and its lines stay in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from ..._irc import numerics as rpl
from ..._irc.masks import mask_matches
from ..._irc.names import casefold
from ..effects import Ask
from ..questions import ContinueList
from ..registry import Commands
from .channels import hidden_from

if TYPE_CHECKING:
    from ..._irc.wire import Message
    from ..machine import ServerState
    from ..model import Channel, Client

__all__ = ["CONTINUE_LIST", "LIST_CHUNK", "ListFilter", "Listing", "commands", "continue_list"]

commands = Commands()

#: Channels looked at per chunk of a LIST.
LIST_CHUNK: Final = 200
CONTINUE_LIST: Final = ContinueList()


@dataclass(slots=True)
class ListFilter:
    """The conditions of ``LIST`` parameters such as ``>5,<100,C<60,T>10,*chat*,!*test*``."""

    names: list[str] = field(default_factory=list)
    masks: list[str] = field(default_factory=list)
    not_masks: list[str] = field(default_factory=list)
    more_users: int | None = None
    fewer_users: int | None = None
    #: Minutes: created (or topic set) more than / less than this long ago.
    created_over: int | None = None
    created_under: int | None = None
    topic_over: int | None = None
    topic_under: int | None = None

    @classmethod
    def parse(cls, text: str) -> ListFilter:
        """Read the comma-separated conditions; an unreadable number is ignored."""
        found = cls()
        for token in filter(None, text.split(",")):
            head, number = token[:2], token[2:]
            if token[0] in "<>" and token[1:].isdigit():
                if token[0] == ">":
                    found.more_users = int(token[1:])
                else:
                    found.fewer_users = int(token[1:])
            elif head in ("C>", "C<", "T>", "T<") and number.isdigit():
                setattr(found, _AGE_FIELDS[head], int(number))
            elif token.startswith("!"):
                found.not_masks.append(token[1:])
            elif "*" in token or "?" in token:
                found.masks.append(token)
            else:
                found.names.append(token)
        return found

    def accepts(self, channel: Channel, now: float) -> bool:
        users = len(channel.members)
        if self.more_users is not None and users <= self.more_users:
            return False
        if self.fewer_users is not None and users >= self.fewer_users:
            return False
        age = (now - channel.created) / 60
        if self.created_over is not None and age <= self.created_over:
            return False
        if self.created_under is not None and age >= self.created_under:
            return False
        if self.topic_over is not None or self.topic_under is not None:
            if not channel.topic:
                return False
            topic_age = (now - channel.topic_at) / 60
            if self.topic_over is not None and topic_age <= self.topic_over:
                return False
            if self.topic_under is not None and topic_age >= self.topic_under:
                return False
        name = channel.name
        if self.masks and not any(mask_matches(mask, name) for mask in self.masks):
            return False
        return not any(mask_matches(mask, name) for mask in self.not_masks)


_AGE_FIELDS: Final = {
    "C>": "created_over",
    "C<": "created_under",
    "T>": "topic_over",
    "T<": "topic_under",
}


@dataclass(slots=True)
class Listing:
    """A LIST in progress: the channel names to look at, and how far it got."""

    keys: list[str]
    conditions: ListFilter
    position: int = 0


@commands.command(
    "LIST",
    syntax="LIST [#channel,...|>n,<n,C>m,C<m,T>m,T<m,mask,!mask]",
    summary="List channels with their member counts and topics, filtered by size, age, name.",
)
def list_(state: ServerState, client: Client, message: Message) -> None:
    conditions = ListFilter.parse(message.param(0))
    if conditions.names:
        keys = [casefold(name) for name in conditions.names]
    else:
        keys = list(state.network.channels)
    state.replies.numeric(client, rpl.RPL_LISTSTART, "Channel", "Users  Name")
    client.listing = Listing(keys, conditions)
    continue_list(state, client)


def continue_list(state: ServerState, client: Client) -> None:
    """Answer the next chunk of ``client``'s LIST, and ask to go on or end it."""
    out = state.replies
    listing = client.listing
    if listing is None:
        return
    channels = state.network.channels
    now = state.now()
    start = listing.position
    end = min(start + LIST_CHUNK, len(listing.keys))
    for key in listing.keys[start:end]:
        channel = channels.get(key)
        if channel is None or hidden_from(client, channel):
            continue
        if listing.conditions.accepts(channel, now):
            out.numeric(
                client, rpl.RPL_LIST, channel.name, str(len(channel.members)), channel.topic
            )
    if end < len(listing.keys):
        listing.position = end
        out.add(Ask(client.conn, CONTINUE_LIST))
    else:
        client.listing = None
        out.numeric(client, rpl.RPL_LISTEND, "End of /LIST")

"""How handlers answer: numerics, events and deliveries, collected as effects.

Handlers never build :class:`~.effects.Send` effects by hand; they call these
helpers, which know the reply conventions (the client's nick first, a
parameter that cannot be a middle one shown as ``*``, the server as source,
``server-time`` on events).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._irc.tags import iso_time, milliseconds
from .._irc.wire import Message
from .effects import Close, Send

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from .effects import ConnId, Effect
    from .model import Channel, Client

__all__ = ["Replies", "middle", "truncate"]


def middle(param: str) -> str:
    """``param`` as a middle parameter of a reply: ``*`` when it could not be written.

    Replies often name what the client sent (a nick, a channel, a command); that
    text may be empty, hold a space or start with ``:`` (it came as a trailing
    parameter), and then cannot be a middle parameter on the wire.
    """
    return "*" if not param or " " in param or param.startswith(":") else param


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode(errors="ignore")


class Replies:
    """The effects of the event being handled, in order; :meth:`take` hands them over."""

    def __init__(self, server_name: str, clock: Callable[[], float]) -> None:
        self.server_name = server_name
        self._clock = clock
        self.effects: list[Effect] = []

    def take(self) -> list[Effect]:
        effects, self.effects = self.effects, []
        return effects

    def add(self, effect: Effect) -> None:
        self.effects.append(effect)

    def send(self, client: Client, message: Message) -> None:
        self.effects.append(Send((client.conn,), message))

    def send_exact(self, client: Client, message: Message) -> None:
        """Send ``message`` with exactly its tags (already chosen for this client)."""
        self.effects.append(Send((client.conn,), message, exact_tags=True))

    def to(self, targets: Iterable[ConnId], message: Message) -> None:
        """Deliver ``message`` to ``targets``, if there are any."""
        conns = tuple(targets)
        if conns:
            self.effects.append(Send(conns, message))

    def to_channel(self, channel: Channel, message: Message, *, skip: Client | None = None) -> None:
        if skip is None:
            targets = tuple(channel.members)
        else:
            targets = tuple(conn for conn in channel.members if conn != skip.conn)
        if targets:
            self.effects.append(Send(targets, message))

    def numeric(self, client: Client, code: str, *params: str) -> None:
        """A numeric reply to ``client``: its nick, then ``params`` (the last one trailing)."""
        head = (client.nick, *params[:-1])
        params = (*map(middle, head), *params[-1:])
        self.send(client, Message(code, params, self.server_name))

    def from_server(self, client: Client, command: str, *params: str) -> None:
        self.send(client, Message(command, params, self.server_name))

    def server_notice(self, client: Client, target: str, text: str) -> None:
        self.from_server(client, "NOTICE", target, text)

    def fail(self, client: Client, command: str, code: str, *params: str) -> None:
        """``FAIL <command> <code> <context...> :<description>`` (IRCv3 standard replies)."""
        *context, description = params
        self.from_server(client, "FAIL", command, code, *map(middle, context), description)

    def event(self, client: Client, command: str, *params: str) -> Message:
        """A message from ``client`` to others, stamped with the server time."""
        now = iso_time(milliseconds(self._clock()))
        return Message(command, params, client.source, {"time": now})

    def close(self, conn: ConnId, reason: str) -> None:
        self.effects.append(Close(conn, reason))

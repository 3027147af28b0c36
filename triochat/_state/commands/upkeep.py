"""Keeping a connection: PING and PONG, AWAY, QUIT."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..._irc import numerics as rpl
from ..advertised import AWAY_LENGTH
from ..registry import Commands
from ..replies import truncate

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..._irc.wire import Message
    from ..machine import ServerState
    from ..model import Channel, Client

__all__ = ["away_notify", "commands"]

commands = Commands()


@commands.command(
    "PING",
    syntax="PING token",
    summary="Check the connection; the server answers PONG.",
    min_params=1,
    before_registration=True,
)
def ping(state: ServerState, client: Client, message: Message) -> None:
    name = state.config.server_name
    state.replies.from_server(client, "PONG", name, message.params[0])


@commands.command(
    "PONG",
    syntax="PONG token",
    summary="Answer the server's PING.",
    before_registration=True,
)
def pong(state: ServerState, client: Client, message: Message) -> None:
    """Any input proves the client alive; the server layer resets its timer."""


@commands.command(
    "QUIT",
    syntax="QUIT [:reason]",
    summary="Leave the server (the original !exit).",
    before_registration=True,
)
def quit_(state: ServerState, client: Client, message: Message) -> None:
    reason = message.param(0)
    state.forget(client, f"Quit: {reason}" if reason else "Quit")
    state.replies.close(client.conn, f"Closing link: {client.host} (Quit)")


@commands.command(
    "AWAY",
    syntax="AWAY [:message]",
    summary="Mark yourself away with a message; no message marks you back.",
)
def away(state: ServerState, client: Client, message: Message) -> None:
    out = state.replies
    text = truncate(message.param(0), AWAY_LENGTH)
    client.away = text or None
    if client.away is None:
        out.numeric(client, rpl.RPL_UNAWAY, "You are no longer marked as being away")
    else:
        out.numeric(client, rpl.RPL_NOWAWAY, "You have been marked as being away")
    away_notify(state, client, client.channels.values())


def away_notify(state: ServerState, client: Client, channels: Iterable[Channel]) -> None:
    """Tell the members of ``channels`` who asked for ``away-notify``, each once."""
    clients = state.network.clients
    members = dict.fromkeys(conn for channel in channels for conn in channel.members)
    listeners = (
        conn for conn in members if conn != client.conn and "away-notify" in clients[conn].caps
    )
    params = (client.away,) if client.away is not None else ()
    state.replies.to(listeners, state.replies.event(client, "AWAY", *params))

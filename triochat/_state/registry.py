"""The command registry: each command declared once, with its syntax and the rules of its use.

A handler is a plain function ``(state, client, message) -> None`` declared
with :meth:`Commands.command`. The dispatcher (:mod:`.machine`) checks what the
declaration says (registered yet? enough parameters? the feature on?) before
calling it, and ``HELP`` is generated from the same declarations, so the
handler table, the pre-registration set and the help text cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from .._irc.wire import Message
    from .machine import ServerState
    from .model import Client

    Handler = Callable[[ServerState, Client, Message], None]

__all__ = ["Command", "Commands", "Feature"]

#: Optional parts of the server; a command that needs one is unknown without it.
Feature = Literal["history", "accounts"]


@dataclass(frozen=True, slots=True)
class Command:
    """One IRC command as the server offers it."""

    name: str
    handler: Handler
    #: ``HELP`` text: how to write it, and what it does.
    syntax: str
    summary: str
    #: Fewer parameters than this get ``461`` before the handler runs.
    min_params: int = 0
    #: Allowed before registration completes (``CAP``, ``NICK``, ``USER``...).
    before_registration: bool = False
    #: The feature the command belongs to; without it the command is unknown.
    needs: Feature | None = None


class Commands:
    """The commands of one concern, declared with :meth:`command`."""

    def __init__(self) -> None:
        self.table: dict[str, Command] = {}

    def command(
        self,
        name: str,
        *,
        syntax: str,
        summary: str,
        min_params: int = 0,
        before_registration: bool = False,
        needs: Feature | None = None,
    ) -> Callable[[Handler], Handler]:
        """Declare the decorated function as the handler of ``name``."""

        def declare(handler: Handler) -> Handler:
            assert name not in self.table, f"{name} declared twice"
            self.table[name] = Command(
                name, handler, syntax, summary, min_params, before_registration, needs
            )
            return handler

        return declare

    def alias(self, name: str, of: str, *, syntax: str, summary: str) -> None:
        """Declare ``name`` as a second command served by the handler of ``of``."""
        command = self.table[of]
        self.table[name] = Command(
            name,
            command.handler,
            syntax,
            summary,
            command.min_params,
            command.before_registration,
            command.needs,
        )


def merge(groups: Iterable[Commands], features: frozenset[str]) -> dict[str, Command]:
    """Every command of ``groups`` whose feature is on, by name."""
    table: dict[str, Command] = {}
    for group in groups:
        for name, command in group.table.items():
            assert name not in table, f"{name} declared in two places"
            if command.needs is None or command.needs in features:
                table[name] = command
    return table

"""The server's HELP text, generated from the command registry.

This is the IRC form of the original program's ``!commands`` list; since it is
derived from the commands the server actually serves, it never lists one that
would be answered with 421 (CHATHISTORY without history, say).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .registry import Command

__all__ = ["help_index", "help_topic"]


def help_index(commands: Mapping[str, Command]) -> list[str]:
    """One line per command, sorted: its syntax and what it does."""
    return [f"{command.syntax:<30} {command.summary}" for _, command in sorted(commands.items())]


def help_topic(commands: Mapping[str, Command], name: str) -> tuple[str, str] | None:
    """The syntax and summary of command ``name``, if the server serves it."""
    command = commands.get(name)
    return None if command is None else (command.syntax, command.summary)

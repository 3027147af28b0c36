"""What the user typed: chat text or a command, in either of the two spellings.

The client speaks two dialects. Slash commands (``/join #x``) are what every IRC
client knows; bang commands (``!private bob``) are the ones of the original
student chat room, kept so that its users feel at home. Both map onto the same
:class:`Verb`. A line that merely starts with ``!`` but names no bang command is
ordinary text (people write "!!!"); a line that starts with ``/`` always is a
command, and ``//`` sends a literal ``/``.

:data:`COMMANDS` is the single table behind the parser and ``/help``, so the
help can never list a command that does not exist, or miss one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

__all__ = [
    "COMMANDS",
    "Command",
    "CommandSpec",
    "Text",
    "UnknownCommand",
    "Verb",
    "help_lines",
    "parse_input",
]


class Verb(enum.Enum):
    """Everything the user can ask the client to do, besides talking."""

    HELP = "help"
    TIME = "time"
    WHO = "who"
    MSG = "msg"
    QUERY = "query"
    PRIVATE = "private"
    ME = "me"
    NICK = "nick"
    JOIN = "join"
    PART = "part"
    TOPIC = "topic"
    MODE = "mode"
    BAN = "ban"
    UNBAN = "unban"
    INVITE = "invite"
    KICK = "kick"
    OPER = "oper"
    QUIT = "quit"
    REGISTER = "register"
    IDENTIFY = "identify"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """How one verb is spelled, used and explained."""

    verb: Verb
    slash: str | None  # the /word, or None when there is only a bang form
    bang: str | None  # the !word of the original program, if it had one
    args: str  # shown after the command in the help, e.g. "NICK TEXT"
    summary: str


COMMANDS: Final[tuple[CommandSpec, ...]] = (
    CommandSpec(Verb.HELP, "help", "commands", "", "list these commands"),
    CommandSpec(Verb.TIME, "time", "time", "", "show the time on the server"),
    CommandSpec(Verb.WHO, "who", "clients", "", "list who is in the current channel"),
    CommandSpec(Verb.MSG, "msg", None, "NICK TEXT", "send one private message to NICK"),
    CommandSpec(
        Verb.QUERY, "query", None, "[NICK]", "talk privately to NICK; alone: back to the channel"
    ),
    CommandSpec(
        Verb.PRIVATE, None, "private", "NICK", "like /query, once the server confirms NICK is here"
    ),
    CommandSpec(Verb.ME, "me", None, "TEXT", "describe what you do: * yournick TEXT"),
    CommandSpec(Verb.NICK, "nick", None, "NEW", "change your nickname"),
    CommandSpec(Verb.JOIN, "join", None, "#CHANNEL", "join a channel and talk there"),
    CommandSpec(Verb.PART, "part", None, "[#CHANNEL]", "leave a channel (the current one)"),
    CommandSpec(Verb.TOPIC, "topic", None, "[#CHANNEL] [TEXT]", "show or set the topic"),
    CommandSpec(
        Verb.MODE, "mode", None, "[TARGET] [+/-MODES [ARGS]]", "show or change modes (+imnpst...)"
    ),
    CommandSpec(Verb.BAN, "ban", None, "[#CHANNEL] NICK|MASK", "ban from the channel (+b)"),
    CommandSpec(Verb.UNBAN, "unban", None, "[#CHANNEL] NICK|MASK", "lift a ban (-b)"),
    CommandSpec(Verb.INVITE, "invite", None, "NICK [#CHANNEL]", "invite NICK into a channel"),
    CommandSpec(Verb.KICK, "kick", None, "[#CHANNEL] NICK [REASON]", "remove NICK from a channel"),
    CommandSpec(Verb.OPER, "oper", None, "NAME PASSWORD", "log in as a server operator"),
    CommandSpec(Verb.QUIT, "quit", "exit", "[REASON]", "leave the server"),
    CommandSpec(
        Verb.REGISTER, "register", None, "PASSWORD [EMAIL]", "register your nick as an account"
    ),
    CommandSpec(Verb.IDENTIFY, "identify", None, "[ACCOUNT] PASSWORD", "log in to your account"),
)

_BY_SLASH: Final = {spec.slash: spec.verb for spec in COMMANDS if spec.slash}
_BY_BANG: Final = {spec.bang: spec.verb for spec in COMMANDS if spec.bang}


@dataclass(frozen=True, slots=True)
class Text:
    """A line to say to the current target."""

    text: str


@dataclass(frozen=True, slots=True)
class Command:
    """A known command; ``args`` is the rest of the line, stripped."""

    verb: Verb
    args: str = ""


@dataclass(frozen=True, slots=True)
class UnknownCommand:
    """A ``/word`` that names no command (nothing is sent for it)."""

    word: str


def parse_input(line: str) -> Text | Command | UnknownCommand:
    """Read one line typed by the user."""
    if line.startswith("//"):
        return Text(line[1:])
    if line.startswith("/"):
        word, _, rest = line[1:].partition(" ")
        verb = _BY_SLASH.get(word.lower())
        return UnknownCommand("/" + word) if verb is None else Command(verb, rest.strip())
    if line.startswith("!"):
        word, _, rest = line[1:].partition(" ")
        verb = _BY_BANG.get(word.lower())
        if verb is not None:
            return Command(verb, rest.strip())
    return Text(line)


def help_lines() -> list[str]:
    """One line per command, every spelling of it first."""
    rows: list[tuple[str, str]] = []
    for spec in COMMANDS:
        forms = [f"{mark}{word}" for mark, word in (("/", spec.slash), ("!", spec.bang)) if word]
        usage = ", ".join(f"{form} {spec.args}".rstrip() for form in forms)
        rows.append((usage, spec.summary))
    rows.append(("//TEXT", "send TEXT that starts with a single /"))
    width = max(len(usage) for usage, _ in rows)
    return [f"{usage.ljust(width)}  {summary}" for usage, summary in rows]

"""The client's moderation commands, as IRC lines: /ban, /unban, /invite, /kick, /mode,
/topic, /oper.

Pure functions of what the user typed and the channel being looked at, so
they are tested without a session; the client core only sends what they
return, or shows the usage when they return a :class:`Usage`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._irc.names import is_channel

__all__ = ["Usage", "moderation_line"]


@dataclass(frozen=True, slots=True)
class Usage:
    """The command could not be built: tell the user how to write it."""

    text: str


def _ban_mask(word: str) -> str:
    """A nick becomes ``nick!*@*``; anything with ``!`` or ``@`` is a mask already."""
    return word if "!" in word or "@" in word else f"{word}!*@*"


def _channel_and_rest(args: str, channel: str | None) -> tuple[str | None, list[str]]:
    """A leading ``#channel`` in ``args``, else the one being looked at; and the other words."""
    words = args.split()
    if words and is_channel(words[0]):
        return words[0], words[1:]
    return channel, words


def moderation_line(verb: str, args: str, channel: str | None) -> tuple[str, ...] | Usage:
    """The IRC command and parameters for ``/verb args`` typed while looking at ``channel``."""
    where, words = _channel_and_rest(args, channel)
    if verb in ("ban", "unban"):
        if where is None or not words:
            return Usage(f"/{verb} [#CHANNEL] NICK|MASK")
        sign = "+" if verb == "ban" else "-"
        return ("MODE", where, f"{sign}{'b' * len(words)}", *map(_ban_mask, words))
    if verb == "invite":
        words = args.split()
        target = words[1] if len(words) > 1 else channel
        if not words or target is None:
            return Usage("/invite NICK [#CHANNEL]")
        return ("INVITE", words[0], target)
    if verb == "kick":
        if where is None or not words:
            return Usage("/kick [#CHANNEL] NICK [REASON]")
        reason = " ".join(words[1:])
        return ("KICK", where, words[0], reason) if reason else ("KICK", where, words[0])
    if verb == "mode":
        words = args.split()
        if words and not words[0].startswith(("+", "-")):
            return ("MODE", *words)  # a target was named: a channel or a nick
        if channel is None:
            return Usage("/mode [#CHANNEL|NICK] [+/-MODES [ARGS]]")
        return ("MODE", channel, *words)
    if verb == "topic":
        first, _, rest = args.strip().partition(" ")
        if first and is_channel(first):
            where, text = first, rest.strip()
        else:
            where, text = channel, args.strip()
        if where is None:
            return Usage("/topic [#CHANNEL] [TEXT]")
        return ("TOPIC", where, text) if text else ("TOPIC", where)
    # oper
    words = args.split(None, 1)
    if len(words) < 2:
        return Usage("/oper NAME PASSWORD")
    return ("OPER", words[0], words[1])

"""How the full-screen client draws the view: :class:`rich.text.Text`, never markup.

Every function here builds ``Text`` by appending plain strings with a style,
so that what other people wrote (nicks, messages, topics, channel names) is
never parsed: ``[bold]`` stays those seven characters, and no one can inject a
colour, a link or layout. Colours per nick are stable (a CRC of the
casefolded nick picks one from a palette), so ``bob`` looks the same in every
room and every session.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Final

from rich.text import Text

from .._client.events import ChatLine
from .._client.view import STATUS, WindowKind
from .._irc.names import casefold

if TYPE_CHECKING:
    from datetime import date

    from .._client.view import ChatView, Member, ViewLine, Window

__all__ = [
    "nick_color",
    "render_line",
    "render_member",
    "render_status",
    "render_title",
    "render_window_entry",
]

#: Colours that read well on dark and light backgrounds, none of them red (errors).
PALETTE: Final = (
    "cyan",
    "green",
    "yellow",
    "blue",
    "magenta",
    "bright_cyan",
    "bright_green",
    "bright_blue",
    "bright_magenta",
    "dark_orange",
    "deep_sky_blue1",
    "spring_green2",
    "orchid",
    "gold1",
)
INFO_STYLE: Final = "dim"
ERROR_STYLE: Final = "bold red"
HISTORY_STYLE: Final = "dim italic"
MENTION_STYLE: Final = "bold reverse"


def nick_color(nick: str) -> str:
    """The colour of ``nick``: the same in every room and every run."""
    return PALETTE[zlib.crc32(casefold(nick).encode()) % len(PALETTE)]


def _stamp(line: ViewLine, today: date) -> str:
    if line.history and line.time.date() != today:
        return line.time.strftime("%m-%d %H:%M")
    return line.time.strftime("%H:%M")


def render_line(line: ViewLine, *, today: date) -> Text:
    """One line of a window: time, who, what; history dimmed, errors red."""
    text = Text(no_wrap=False, end="")
    text.append(_stamp(line, today), style=HISTORY_STYLE if line.history else "dim")
    text.append(" ")
    if isinstance(line, ChatLine):
        nick_style = nick_color(line.sender) + (" bold" if line.own else "")
        if line.action:
            text.append("* ", style=nick_style)
            text.append(line.sender, style=nick_style)
            text.append(" ")
        elif line.notice:
            text.append("-", style="dim")
            text.append(line.sender, style=nick_style)
            text.append("- ", style="dim")
        else:
            text.append("<", style="dim")
            text.append(line.sender, style=nick_style)
            text.append("> ", style="dim")
        start = len(text)
        text.append(line.text)
        if line.mention and not line.history:
            text.stylize(MENTION_STYLE, start)
    else:
        style = ERROR_STYLE if line.error else INFO_STYLE
        if not line.history:  # history's own lines are its separators
            text.append("-!- ", style=style)
        text.append(line.text, style=style)
    if line.history:
        text.stylize(HISTORY_STYLE)
    return text


def render_window_entry(window: Window, *, number: int, current: bool) -> Text:
    """The window's entry in the window list: number, name, markers."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append(f"{number} ", style="dim")
    name_style = "bold" if current else ""
    if not window.joined:
        name_style += " dim strike"
    elif window.mentioned:
        name_style += " bold red"
    elif window.unread:
        name_style += " bold yellow"
    text.append(window.name, style=name_style.strip())
    if window.mentioned:
        text.append(" !", style="bold red")
    if window.unread:
        text.append(f" ({window.unread})", style="yellow")
    return text


def render_member(member: Member) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append(member.prefix or " ", style="bold")
    text.append(member.nick, style=nick_color(member.nick))
    return text


def render_title(window: Window) -> Text:
    """The line above the messages: where the user is, and the topic."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    if window.kind is WindowKind.STATUS:
        text.append("status: messages from the server", style="bold")
        return text
    text.append(window.name, style="bold")
    if window.kind is WindowKind.PRIVATE:
        text.append("  private conversation", style="dim")
    elif not window.joined:
        text.append("  (not joined: /join to return)", style="dim")
    elif window.topic:
        text.append("  ")
        text.append(window.topic)
    return text


def render_status(view: ChatView, *, server: str, tls: bool) -> Text:
    """The status line: server, TLS or not, nick, lag, connection, other windows' markers."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append(f" {server} ", style="bold")
    text.append("TLS" if tls else "plain text", style="green" if tls else "yellow")
    text.append(" │ ", style="dim")
    text.append(view.nick or "(no nick yet)", style=nick_color(view.nick) + " bold")
    if view.account is not None:
        text.append(f" (logged in as {view.account})", style="green")
    text.append(" │ ", style="dim")
    if view.connected:
        lag = "lag ?" if view.lag is None else f"lag {view.lag * 1000:.0f} ms"
        text.append(lag)
    else:
        text.append(view.state, style="bold red")
    active = [
        (number, window)
        for number, (key, window) in enumerate(view.windows.items(), start=1)
        if key not in (STATUS, view.current) and (window.unread or window.mentioned)
    ]
    if active:
        text.append(" │ act: ", style="dim")
        for number, window in active:
            text.append(str(number), style="bold red" if window.mentioned else "yellow")
            text.append(" ")
    return text

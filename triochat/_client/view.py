"""What a full-screen client shows, as pure data: windows, members, markers, status.

:class:`ChatView` folds the session's events (:mod:`._client_events`) into the
state of the screen: one window per room and per private conversation (plus
the status window), each with its lines, its members, its unread and mention
markers; the nick, the lag, the state of the connection. Each
:meth:`ChatView.apply` returns an :class:`Update` that says what to redraw, so
the Textual app (:mod:`._tui`) only renders. Typing goes the other way:
:meth:`ChatView.typed` says which window a line comes from.

Also here, as plain functions of the text: Tab completion
(:func:`complete`) and the input history (:class:`InputHistory`).

Everything here is synchronous and knows neither trio nor Textual.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final

from .._irc.modes import ModeSyntax, parse_modes
from .._irc.names import casefold, is_channel
from .commands import COMMANDS
from .events import (
    ChatLine,
    Connecting,
    ConnectionLost,
    HistoryEnded,
    HistoryStarted,
    InfoLine,
    Joined,
    LagMeasured,
    Left,
    LoggedIn,
    MemberJoined,
    MemberLeft,
    MemberModes,
    MemberQuit,
    Members,
    NickChanged,
    QueryEnded,
    QueryStarted,
    Reconnecting,
    Registered,
    Topic,
    UserInput,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from .events import Event

__all__ = [
    "STATUS",
    "ChatView",
    "Completion",
    "InputHistory",
    "Member",
    "Update",
    "ViewLine",
    "Window",
    "WindowKind",
    "complete",
]

#: The key of the status window (no channel or nick can be spelled so).
STATUS: Final = "*"
#: Lines each window keeps.
MAX_LINES: Final = 5000
#: How mode strings are read: the common syntax (lists, keys, limits; q a o h v).
MODE_SYNTAX: Final = ModeSyntax()
#: Member prefixes, most powerful first (owner, admin, op, halfop, voice).
PREFIXES: Final = "".join(symbol for _, symbol in MODE_SYNTAX.prefixes)

ViewLine = ChatLine | InfoLine


class WindowKind(enum.Enum):
    STATUS = "status"
    CHANNEL = "channel"
    PRIVATE = "private"


@dataclass
class Member:
    """Someone in a channel, and their prefixes (``@``, ``+``, ...)."""

    nick: str
    prefixes: str = ""

    @property
    def prefix(self) -> str:
        """The most powerful prefix, as shown in front of the nick."""
        return self.prefixes[:1]

    @property
    def rank(self) -> int:
        """For sorting: operators first, then voiced, then everyone else."""
        return PREFIXES.index(self.prefix) if self.prefix else len(PREFIXES)


@dataclass
class Window:
    """One room, one private conversation, or the status window."""

    name: str
    kind: WindowKind
    lines: deque[ViewLine] = field(default_factory=lambda: deque(maxlen=MAX_LINES))
    members: dict[str, Member] = field(default_factory=dict)
    #: Lines from people that arrived while the user looked elsewhere.
    unread: int = 0
    #: One of them named the user (or was a private message).
    mentioned: bool = False
    #: A channel we are in (a private window or the status window: always True).
    joined: bool = True
    topic: str = ""

    @property
    def key(self) -> str:
        return STATUS if self.kind is WindowKind.STATUS else casefold(self.name)

    def sorted_members(self) -> list[Member]:
        return sorted(self.members.values(), key=lambda m: (m.rank, casefold(m.nick)))


@dataclass
class Update:
    """What one :meth:`ChatView.apply` changed, for the renderer."""

    #: New lines, with the key of their window, in order.
    lines: list[tuple[str, ViewLine]] = field(default_factory=list)
    #: The window to show now (the view's ``current`` already is it).
    focus: str | None = None
    #: The window list, or a marker on it, changed.
    windows: bool = False
    #: The members of the current window changed.
    members: bool = False
    #: The status line, or the current window's title, changed.
    status: bool = False
    #: Windows whose key changed (a private partner's new nick): (old, new).
    renamed: list[tuple[str, str]] = field(default_factory=list)
    #: Windows that are gone.
    removed: list[str] = field(default_factory=list)

    def merge(self, other: Update) -> None:
        """Add ``other`` (a later update) to this one."""
        self.lines.extend(other.lines)
        self.focus = other.focus or self.focus
        self.windows |= other.windows
        self.members |= other.members
        self.status |= other.status
        self.renamed.extend(other.renamed)
        self.removed.extend(other.removed)


def _split_prefixes(name: str) -> Member:
    """``@+bob`` (a NAMES entry, maybe ``nick!user@host``) as a member."""
    bare = name.lstrip(PREFIXES)
    return Member(bare.partition("!")[0], name[: len(name) - len(bare)])


class ChatView:
    """The state of the screen, changed only by :meth:`apply`, :meth:`select` and friends."""

    def __init__(self) -> None:
        status = Window("status", WindowKind.STATUS)
        self.windows: dict[str, Window] = {STATUS: status}
        self.current = STATUS
        self.nick = ""
        #: The account we are logged in to, if any (shown on the status line).
        self.account: str | None = None
        self.server = ""
        self.lag: float | None = None
        self.connected = False
        #: The state of the connection, in words.
        self.state = "connecting"
        self._rejoining: set[str] = set()

    # -- what the renderer and the input line ask -------------------------------

    @property
    def window(self) -> Window:
        """The window the user looks at."""
        return self.windows[self.current]

    def typed(self, text: str) -> UserInput:
        """A line typed in the current window, for the session."""
        window = self.window
        return UserInput(text, None if window.kind is WindowKind.STATUS else window.name)

    def completion_nicks(self) -> list[str]:
        """Nicks that Tab completes in the current window (not our own)."""
        window = self.window
        names = [member.nick for member in window.members.values()]
        if window.kind is WindowKind.PRIVATE:
            names.append(window.name)
        me = casefold(self.nick)
        return sorted({n for n in names if casefold(n) != me}, key=casefold)

    def channel_names(self) -> list[str]:
        return [w.name for w in self.windows.values() if w.kind is WindowKind.CHANNEL]

    # -- what the user does with windows ------------------------------------------------

    def select(self, key: str) -> Update:
        """Look at the window ``key`` (its markers are cleared)."""
        if key not in self.windows:
            return Update()
        self.current = key
        window = self.windows[key]
        window.unread, window.mentioned = 0, False
        return Update(focus=key, windows=True, members=True, status=True)

    def cycle(self, step: int) -> Update:
        """Look at the next (``step=1``) or previous (``-1``) window."""
        keys = list(self.windows)
        return self.select(keys[(keys.index(self.current) + step) % len(keys)])

    def next_marked(self) -> Update:
        """Look at the next window with a mention, else with unread lines, if any."""
        keys = list(self.windows)
        start = keys.index(self.current)
        ordered = keys[start + 1 :] + keys[: start + 1]
        mentioned = [key for key in ordered if self.windows[key].mentioned]
        unread = [key for key in ordered if self.windows[key].unread]
        return self.select((mentioned or unread)[0]) if mentioned or unread else Update()

    def close(self, key: str) -> Update:
        """Remove the window ``key`` (never the status window), and look elsewhere."""
        if key == STATUS or key not in self.windows:
            return Update()
        keys = list(self.windows)
        index = keys.index(key)
        del self.windows[key]
        update = Update(removed=[key], windows=True)
        if self.current == key:
            update.merge(self.select(keys[index - 1]))
        return update

    # -- events ---------------------------------------------------------------------

    def apply(self, event: Event) -> Update:
        """Fold one event into the view."""
        update = Update()
        match event:
            case ChatLine():
                self._chat_line(event, update)
            case InfoLine():
                self._info_line(event, update)
            case Registered(nick, server):
                self.nick, self.server = nick, server
                self.connected, self.state = True, "connected"
                update.status = True
            case LoggedIn(account):
                self.account = account
                update.status = True
            case Joined(channel):
                self._joined(channel, update)
            case Left(channel):
                window = self.windows.get(casefold(channel))
                if window is not None:
                    window.joined = False
                    window.members.clear()
                    update.windows = True
                    update.members = window.key == self.current
            case Members(channel, nicks):
                window = self.windows.get(casefold(channel))
                if window is not None:
                    members = (_split_prefixes(name) for name in nicks)
                    window.members = {casefold(m.nick): m for m in members if m.nick}
                    update.members = window.key == self.current
            case MemberJoined(channel, nick):
                window = self.windows.get(casefold(channel))
                if window is not None:
                    window.members[casefold(nick)] = Member(nick)
                    update.members = window.key == self.current
            case MemberLeft():
                self._member_left(event, update)
            case MemberQuit():
                self._member_quit(event, update)
            case NickChanged():
                self._nick_changed(event, update)
            case MemberModes(channel, modes, args):
                window = self.windows.get(casefold(channel))
                if window is not None and _apply_modes(window, modes, args):
                    update.members = window.key == self.current
            case Topic(channel, topic):
                window = self.windows.get(casefold(channel))
                if window is not None:
                    window.topic = topic
                    update.status = window.key == self.current
            case QueryStarted(nick):
                key = self._window_for(nick, WindowKind.PRIVATE, update).key
                update.merge(self.select(key))
            case QueryEnded(_, room):
                if room is not None and casefold(room) in self.windows:
                    update.merge(self.select(casefold(room)))
            case HistoryStarted(window_name, time):
                window = self._window_for(window_name, _kind_of(window_name), update)
                self._add(
                    window, InfoLine("── history ──", time, window.name, history=True), update
                )
            case HistoryEnded(window_name, time):
                window = self._window_for(window_name, _kind_of(window_name), update)
                text = "── end of history ──"
                self._add(window, InfoLine(text, time, window.name, history=True), update)
            case LagMeasured(seconds):
                self.lag = seconds
                update.status = True
            case ConnectionLost():
                self.account = None  # a new connection logs in again
                self._connection_lost(event, update)
            case Connecting(attempt):
                self.state = "connecting" if attempt == 0 else f"reconnecting (attempt {attempt})"
                update.status = True
            case Reconnecting(delay, reason, time):
                self.state = f"disconnected, retrying in {delay:.0f} s"
                text = f"{reason}; trying again in {delay:.0f} s (/quit to leave)"
                self._add(self.windows[STATUS], InfoLine(text, time, error=True), update)
                if self.current != STATUS:
                    self._add(self.window, InfoLine(text, time, error=True), update)
                update.status = True
        return update

    # -- the parts of apply -----------------------------------------------------------

    def _add(self, window: Window, line: ViewLine, update: Update) -> None:
        window.lines.append(line)
        update.lines.append((window.key, line))
        if window.key == self.current or not isinstance(line, ChatLine) or line.history:
            return
        window.unread += 1
        window.mentioned |= line.mention
        update.windows = True

    def _window_for(self, name: str, kind: WindowKind, update: Update) -> Window:
        """The window called ``name``, opened if need be."""
        key = casefold(name)
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = Window(name, kind)
            update.windows = True
        return window

    def _chat_line(self, line: ChatLine, update: Update) -> None:
        window = self._window_for(line.window, _kind_of(line.window), update)
        self._add(window, line, update)

    def _info_line(self, line: InfoLine, update: Update) -> None:
        window = self.windows[STATUS] if line.server else self.window
        if line.window is not None:
            window = self.windows.get(casefold(line.window), window)
        self._add(window, line, update)

    def _joined(self, channel: str, update: Update) -> None:
        key = casefold(channel)
        rejoined = key in self._rejoining
        self._rejoining.discard(key)
        window = self._window_for(channel, WindowKind.CHANNEL, update)
        window.name, window.joined = channel, True
        update.windows = True
        if not rejoined:
            update.merge(self.select(key))

    def _member_left(self, event: MemberLeft, update: Update) -> None:
        window = self.windows.get(casefold(event.channel))
        if window is None:
            return
        window.members.pop(casefold(event.nick), None)
        update.members |= window.key == self.current
        reason = f" ({event.reason})" if event.reason else ""
        if event.kicked_by is not None:
            text = f"{event.nick} was kicked from {event.channel} by {event.kicked_by}{reason}"
        else:
            text = f"{event.nick} has left {event.channel}{reason}"
        self._add(window, InfoLine(text, event.time, window.name), update)

    def _member_quit(self, event: MemberQuit, update: Update) -> None:
        key = casefold(event.nick)
        reason = f" ({event.reason})" if event.reason else ""
        line = InfoLine(f"{event.nick} has quit{reason}", event.time)
        for window in self.windows.values():
            if window.members.pop(key, None) is not None or window.key == key:
                update.members |= window.key == self.current
                self._add(window, replace(line, window=window.name), update)

    def _nick_changed(self, event: NickChanged, update: Update) -> None:
        old, new = casefold(event.old), casefold(event.new)
        if event.own:
            self.nick = event.new
            update.status = True
            text = f"you are now known as {event.new}"
        else:
            text = f"{event.old} is now known as {event.new}"
        told: set[str] = set()
        for window in list(self.windows.values()):
            member = window.members.pop(old, None)
            if member is not None:
                window.members[new] = Member(event.new, member.prefixes)
                update.members |= window.key == self.current
            if member is not None or window.key == old:
                self._add(window, InfoLine(text, event.time, window.name), update)
                told.add(window.key)
        private = self.windows.get(old)
        if private is not None and private.kind is WindowKind.PRIVATE and new not in self.windows:
            self._rename(private, event.new, update)
        if event.own and not told:
            self._add(self.window, InfoLine(text, event.time), update)

    def _rename(self, window: Window, name: str, update: Update) -> None:
        old_key = window.key
        window.name = name
        self.windows = {(window.key if k == old_key else k): w for k, w in self.windows.items()}
        if self.current == old_key:
            self.current = window.key
            update.status = True
        update.renamed.append((old_key, window.key))
        update.windows = True

    def _connection_lost(self, event: ConnectionLost, update: Update) -> None:
        self.connected, self.lag = False, None
        self.state = f"disconnected: {event.reason}"
        update.status = update.windows = update.members = True
        text = f"disconnected: {event.reason}"
        for window in self.windows.values():
            if window.kind is WindowKind.CHANNEL and window.joined:
                self._rejoining.add(window.key)
                window.joined = False
                window.members.clear()
            self._add(window, InfoLine(text, event.time, window.name, error=True), update)


def _kind_of(name: str) -> WindowKind:
    return WindowKind.CHANNEL if is_channel(name) else WindowKind.PRIVATE


def _apply_modes(window: Window, modes: str, args: Sequence[str]) -> bool:
    """Apply a channel ``MODE`` to the member prefixes; True if one changed."""
    changed = False
    for change in parse_modes(MODE_SYNTAX, modes, args):
        if not MODE_SYNTAX.is_prefix(change.letter):
            continue
        member = window.members.get(casefold(change.param or ""))
        if member is not None:
            changed = True
            prefix = MODE_SYNTAX.symbol(change.letter)
            kept = member.prefixes.replace(prefix, "")
            wanted = kept + prefix if change.adding else kept
            member.prefixes = "".join(p for p in PREFIXES if p in wanted)
    return changed


# -- Tab completion -----------------------------------------------------------------

#: Commands Tab completes at the start of a line (the full-screen client adds its own).
SLASH_COMMANDS: Final = tuple(f"/{spec.slash}" for spec in COMMANDS if spec.slash)
BANG_COMMANDS: Final = tuple(f"!{spec.bang}" for spec in COMMANDS if spec.bang)


@dataclass(frozen=True, slots=True)
class Completion:
    """One Tab completion: the candidates for the word at the cursor, and which is shown.

    Pressing Tab again shows the next candidate (:meth:`following`).
    """

    head: str  # the text before the word
    tail: str  # the text after the cursor
    matches: tuple[str, ...]
    suffix: str
    index: int = 0

    @property
    def value(self) -> str:
        return self.head + self.matches[self.index] + self.suffix + self.tail

    @property
    def cursor(self) -> int:
        return len(self.head) + len(self.matches[self.index]) + len(self.suffix)

    def following(self) -> Completion:
        return replace(self, index=(self.index + 1) % len(self.matches))


def complete(
    value: str,
    cursor: int,
    *,
    nicks: Iterable[str],
    channels: Iterable[str] = (),
    commands: Iterable[str] = (),
) -> Completion | None:
    """Complete the word before ``cursor``: a command, a channel or a nick.

    At the start of the line, ``/...`` completes commands (``!...`` the
    original program's ones) and a nick gets ``": "`` after it (addressing
    someone); elsewhere a nick or ``#channel`` gets a space. Matching ignores
    case (IRC's rules); ``None`` when nothing matches.
    """
    head, tail = value[:cursor], value[cursor:]
    start = head.rfind(" ") + 1
    before, word = head[:start], head[start:]
    if not word:
        return None
    at_start = not before.strip()
    if at_start and word.startswith("/"):
        candidates: Iterable[str] = (*SLASH_COMMANDS, *commands)
        suffix = " "
    elif at_start and word.startswith("!"):
        candidates, suffix = BANG_COMMANDS, " "
    elif word.startswith("#"):
        candidates, suffix = channels, " "
    else:
        candidates, suffix = nicks, (": " if at_start else " ")
    wanted = casefold(word)
    matches = tuple(sorted({c for c in candidates if casefold(c).startswith(wanted)}, key=casefold))
    if not matches:
        return None
    if tail.startswith(" "):
        suffix = suffix.rstrip(" ")
    return Completion(before, tail, matches, suffix)


# -- input history ----------------------------------------------------------------------


class InputHistory:
    """The lines typed before, walked with Up and Down like a shell's history.

    What was being typed when the walk began comes back after the newest line.
    """

    def __init__(self, limit: int = 500) -> None:
        self._lines: deque[str] = deque(maxlen=limit)
        self._index = 0
        self._draft = ""

    def add(self, line: str) -> None:
        """Remember a line that was sent (not an empty one, nor a repeat of the last)."""
        if line.strip() and (not self._lines or self._lines[-1] != line):
            self._lines.append(line)
        self._index = len(self._lines)

    def previous(self, current: str) -> str | None:
        """The line before (``None`` at the oldest); ``current`` is kept as the draft."""
        if self._index == len(self._lines):
            self._draft = current
        if self._index == 0:
            return None
        self._index -= 1
        return self._lines[self._index]

    def next(self) -> str | None:
        """The line after; the draft after the newest; ``None`` past it."""
        if self._index >= len(self._lines):
            return None
        self._index += 1
        return self._draft if self._index == len(self._lines) else self._lines[self._index]

"""History: recording, the replay on JOIN, and CHATHISTORY (asked of the history service).

The last messages of each channel are kept in memory (:class:`RecentMessages`),
so the replay on JOIN never waits for the database. A ``CHATHISTORY`` request
is validated here and becomes an :class:`~..effects.Ask`; the rows come back
through :func:`show_answer` (or :func:`show_failure`).

History is private by construction: a channel's history is readable by its
members only, and a private message by the two connections that exchanged it
(a nickname alone proves nothing: nicknames are reused).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from ..._history.records import (
    MESSAGE_SUBCOMMANDS,
    UNBOUNDED,
    HistoryEntry,
    HistoryQuery,
    parse_bound,
    parse_limit,
    private_key,
    stamped_text,
)
from ..._irc.names import casefold, is_channel, valid_nick
from ..._irc.tags import iso_time, milliseconds, visible_tags
from ..._irc.wire import Message
from ..effects import Ask, Record
from ..registry import Commands

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..machine import ServerState
    from ..model import Channel, Client

__all__ = ["RecentMessages", "commands", "record", "replay", "show_answer", "show_failure"]

commands = Commands()


class RecentMessages:
    """The last ``count`` messages of each channel, by key, for the replay on JOIN."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.by_key: dict[str, deque[HistoryEntry]] = {}

    def remember(self, entry: HistoryEntry) -> None:
        if not self.count or entry.readers is not None:
            return
        recent = self.by_key.get(entry.key)
        if recent is None:
            recent = self.by_key[entry.key] = deque(maxlen=self.count)
        recent.append(entry)

    def preload(self, entries: Iterable[HistoryEntry]) -> None:
        """Fill the buffers with channel messages saved before a restart (oldest first)."""
        for entry in entries:
            self.remember(entry)

    def merge(self, entries: Iterable[HistoryEntry]) -> None:
        """Add messages that may be older than some kept already, or kept already (a
        cluster node catching up): each buffer stays in time order, without repeats."""
        by_key: dict[str, list[HistoryEntry]] = {}
        for entry in entries:
            if self.count and entry.readers is None:
                by_key.setdefault(entry.key, []).append(entry)
        for key, fresh in by_key.items():
            kept = {entry.msgid: entry for entry in self.by_key.get(key, ())}
            kept.update((entry.msgid, entry) for entry in fresh if entry.msgid not in kept)
            ordered = sorted(kept.values(), key=lambda entry: entry.time_ms)
            self.by_key[key] = deque(ordered, maxlen=self.count)


def record(state: ServerState, entry: HistoryEntry) -> None:
    """Save ``entry`` (off the hot path) and keep it for the replay if it is a channel's."""
    state.replies.add(Record(entry))
    state.recent.remember(entry)


def replay(state: ServerState, client: Client, channel: Channel) -> None:
    """Show a newcomer what was said last, from memory, marked as history.

    A client that negotiated ``draft/chathistory`` asks for history itself
    (``CHATHISTORY LATEST``), so it gets no replay: that would show it twice.
    """
    recent = state.recent.by_key.get(casefold(channel.name))
    if not recent or "draft/chathistory" in client.caps:
        return
    entries = list(recent)
    max_age = state.config.history_max_age
    if max_age is not None:
        oldest = milliseconds(state.now() - max_age)
        entries = [entry for entry in entries if entry.time_ms >= oldest]
    if entries:
        _show_history(state, client, channel.name, entries, replay=True)


def _show_history(
    state: ServerState, client: Client, target: str, entries: list[HistoryEntry], *, replay: bool
) -> None:
    """Send ``entries`` so that they read as history, never as live chat.

    With ``batch`` and ``server-time``: a ``chathistory`` batch, each line
    with its original time. Otherwise server notices around lines whose
    text starts with their time, as ZNC plays back its buffer.
    """
    out = state.replies
    if "server-time" in client.caps and "batch" in client.caps:
        batch = _open_batch(state, client, "chathistory", target)
        for entry in entries:
            out.send_exact(client, _replayed(client, entry, entry.text, batch))
        out.from_server(client, "BATCH", f"-{batch}")
        return
    notice_target = target if is_channel(target) else client.nick
    count = len(entries)
    if not count:
        out.server_notice(client, notice_target, f"*** No history for {target}")
        return
    if replay:
        opening = f"*** Replaying the last {count} message(s) of {target} (times in UTC)"
        closing = "*** End of replay: what follows is live"
    else:
        opening = f"*** History of {target}: {count} message(s) (times in UTC)"
        closing = f"*** End of history of {target}"
    out.server_notice(client, notice_target, opening)
    for entry in entries:
        out.send_exact(client, _replayed(client, entry, stamped_text(entry), None))
    out.server_notice(client, notice_target, closing)


def _replayed(client: Client, entry: HistoryEntry, text: str, batch: str | None) -> Message:
    """``entry`` as this client sees it again: the same tag policy as live messages."""
    tags = dict(
        visible_tags({"time": iso_time(entry.time_ms), "msgid": entry.msgid}, client.tag_variant)
    )
    if batch is not None:
        tags = {"batch": batch, **tags}
    return Message(entry.command, (entry.target, text), entry.source, tags)


def _open_batch(state: ServerState, client: Client, kind: str, *params: str) -> str:
    client.batches += 1
    reference = f"history{client.batches}"
    state.replies.from_server(client, "BATCH", f"+{reference}", kind, *params)
    return reference


def show_answer(
    state: ServerState, client: Client, query: HistoryQuery, entries: list[HistoryEntry]
) -> None:
    """The rows the history service found for ``query``: show them to the client that asked."""
    if query.subcommand == "TARGETS":
        _show_targets(state, client, entries)
    else:
        _show_history(state, client, query.target, entries, replay=False)


def show_failure(state: ServerState, client: Client, query: HistoryQuery) -> None:
    """The history service could not answer ``query``; tell the client that asked."""
    state.replies.fail(
        client,
        "CHATHISTORY",
        "MESSAGE_ERROR",
        query.subcommand,
        query.target,
        "Messages could not be retrieved",
    )


def _show_targets(state: ServerState, client: Client, entries: list[HistoryEntry]) -> None:
    """``CHATHISTORY TARGETS`` lines: each conversation and the time of its last message."""
    out = state.replies
    batch = None
    if "batch" in client.caps:
        batch = _open_batch(state, client, "draft/chathistory-targets")
    tags = {"batch": batch} if batch is not None else {}
    for entry in entries:
        name = entry.target
        if entry.readers is not None and entry.readers[0] != client.session:
            name = entry.sender  # a private message this client received
        params = ("TARGETS", name, iso_time(entry.time_ms))
        out.send_exact(client, Message("CHATHISTORY", params, state.config.server_name, tags))
    if batch is not None:
        out.from_server(client, "BATCH", f"-{batch}")


@commands.command(
    "CHATHISTORY",
    syntax="CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN|TARGETS ...",
    summary="Read back a channel's or a conversation's history (IRCv3 draft/chathistory).",
    needs="history",
)
def chathistory(state: ServerState, client: Client, message: Message) -> None:
    subcommand = message.param(0).upper()
    args = message.params[1:]
    if subcommand == "TARGETS":
        _chathistory_targets(state, client, args)
    elif subcommand in MESSAGE_SUBCOMMANDS:
        _chathistory_messages(state, client, subcommand, args)
    elif not subcommand:
        _fail(state, client, "NEED_MORE_PARAMS", "*", "Missing parameters")
    else:
        _fail(state, client, "UNKNOWN_COMMAND", subcommand, "Unknown command")


def _fail(state: ServerState, client: Client, code: str, *params: str) -> None:
    state.replies.fail(client, "CHATHISTORY", code, *params)


def _chathistory_messages(
    state: ServerState, client: Client, subcommand: str, args: tuple[str, ...]
) -> None:
    """``CHATHISTORY <subcommand> <target> <reference> [<reference>] <limit>``.

    Access is checked first, and answered alike for a channel that does
    not exist and one the client is not in: nothing reveals which.
    """
    between = subcommand == "BETWEEN"
    if len(args) < (4 if between else 3):
        _fail(state, client, "NEED_MORE_PARAMS", subcommand, "Missing parameters")
        return
    target = args[0]
    readable = _readable_history(state, client, target)
    if readable is None:
        _fail(
            state, client, "INVALID_TARGET", subcommand, target, "Messages could not be retrieved"
        )
        return
    key, target = readable
    first = parse_bound(args[1], star=subcommand == "LATEST")
    second = parse_bound(args[2]) if between else UNBOUNDED
    limit = parse_limit(args[-1], state.config.history_request_limit)
    if first is None or second is None:
        bad = args[1] if first is None else args[2]
        hint = "Use timestamp=YYYY-MM-DDThh:mm:ss.sssZ or msgid=<id>"
        _fail(state, client, "INVALID_PARAMS", subcommand, bad, hint)
    elif limit is None:
        _fail(
            state,
            client,
            "INVALID_PARAMS",
            subcommand,
            args[-1],
            "The limit must be a positive number",
        )
    else:
        query = HistoryQuery(subcommand, target, (key,), client.session, first, second, limit)
        state.replies.add(Ask(client.conn, query))


def _readable_history(state: ServerState, client: Client, target: str) -> tuple[str, str] | None:
    """The history key and display name of ``target`` if ``client`` may read it.

    A channel: only while a member. A nickname: the client's own
    conversation with it (the store then keeps to the client's session).
    """
    if is_channel(target):
        channel = state.network.channel(target)
        if channel is None or client.conn not in channel.members:
            return None
        return casefold(channel.name), channel.name
    if valid_nick(target):
        peer = state.network.user(target)
        other = peer.account if peer is not None and peer.account is not None else target
        return private_key(client.account or client.nick, other), target
    return None


def _chathistory_targets(state: ServerState, client: Client, args: tuple[str, ...]) -> None:
    """``CHATHISTORY TARGETS <timestamp> <timestamp> <limit>``: the client's conversations."""
    if len(args) < 3:
        _fail(state, client, "NEED_MORE_PARAMS", "TARGETS", "Missing parameters")
        return
    first = parse_bound(args[0], msgid=False)
    second = parse_bound(args[1], msgid=False)
    limit = parse_limit(args[2], state.config.history_request_limit)
    if first is None or second is None:
        bad = args[0] if first is None else args[1]
        _fail(
            state,
            client,
            "INVALID_PARAMS",
            "TARGETS",
            bad,
            "Use timestamp=YYYY-MM-DDThh:mm:ss.sssZ",
        )
    elif limit is None:
        _fail(
            state,
            client,
            "INVALID_PARAMS",
            "TARGETS",
            args[2],
            "The limit must be a positive number",
        )
    else:
        channels = tuple(client.channels)
        query = HistoryQuery("TARGETS", "", channels, client.session, first, second, limit)
        state.replies.add(Ask(client.conn, query))

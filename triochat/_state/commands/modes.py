"""MODE: user modes, channel modes and member statuses, read with the advertised mode table.

A MODE line is applied change by change, but never half-validly: a change
with a bad parameter (a key with a space, a limit of ``x``, an overlong mask)
is refused with its numeric and is not applied, while the other changes of
the line are. At most ``MODES=`` changes with a parameter are applied per
line (the rest are dropped, and the sender is told), and flags are broadcast
as their net change, so a line of a thousand ``+m-m`` toggles costs one line
out at most.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ..._irc import numerics as rpl
from ..._irc.masks import MAX_MASK_LENGTH, normalize_mask, valid_mask
from ..._irc.modes import ModeChange, parse_modes, render_modes
from ..._irc.names import is_channel
from ..._irc.wire import Message
from .. import rooms
from ..access import MaskEntry, MaskList, account_mask, valid_key
from ..advertised import (
    CHANNEL_FLAGS,
    CHANNEL_LISTS,
    CHANNEL_SYNTAX,
    KEY_LENGTH,
    MAX_LIST,
    MODES_PER_LINE,
    USER_FLAGS,
    USER_SYNTAX,
)
from ..registry import Commands
from .channels import hidden_from, operated_channel

if TYPE_CHECKING:
    from ..machine import ServerState
    from ..model import Channel, Client

__all__ = ["channel_mode_params", "commands"]

commands = Commands()

#: For each list: the numeric of an entry and of the end of the list.
_LIST_REPLIES: Final = {
    "b": (rpl.RPL_BANLIST, rpl.RPL_ENDOFBANLIST, "End of channel ban list"),
    "e": (rpl.RPL_EXCEPTLIST, rpl.RPL_ENDOFEXCEPTLIST, "End of channel exception list"),
    "I": (rpl.RPL_INVEXLIST, rpl.RPL_ENDOFINVITELIST, "End of channel invite list"),
}
#: The largest ``+l`` accepted.
_MAX_LIMIT: Final = 1_000_000
#: User modes only the server gives (``o`` by OPER); a client may only drop them.
_GRANTED_USER_MODES: Final = frozenset("o")


@commands.command(
    "MODE",
    syntax="MODE target [modes [args]]",
    summary="Show or change modes: +imnpst, +k key, +l limit, +b/+e/+I mask, +o/+v nick.",
    min_params=1,
)
def mode(state: ServerState, client: Client, message: Message) -> None:
    target = message.params[0]
    if is_channel(target):
        _channel_mode(state, client, target, message.params[1:])
    else:
        _user_mode(state, client, target, message.param(1))


def _user_mode(state: ServerState, client: Client, nick: str, changes: str) -> None:
    out = state.replies
    target = state.network.user(nick)
    if target is None:
        out.numeric(client, rpl.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    if target is not client:
        out.numeric(client, rpl.ERR_USERSDONTMATCH, "Cant change mode for other users")
        return
    if not changes:
        out.numeric(client, rpl.RPL_UMODEIS, "+" + "".join(sorted(client.modes)))
        return
    applied: list[ModeChange] = []
    unknown = False
    for change in parse_modes(USER_SYNTAX, changes, ()):
        letter = change.letter
        if letter not in USER_FLAGS:
            unknown = True
        elif change.adding and letter in _GRANTED_USER_MODES:
            continue  # +o is OPER's to give
        elif (letter in client.modes) != change.adding:
            client.modes = client.modes | {letter} if change.adding else client.modes - {letter}
            state.network.modes_changed(client)
            applied.append(ModeChange(change.adding, letter))
            if letter == "o":
                client.oper = None
    if unknown:
        out.numeric(client, rpl.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
    if applied:
        text, _ = render_modes(applied)
        out.send(client, Message("MODE", (client.nick, text), client.source))


def channel_mode_params(client: Client, channel: Channel) -> tuple[str, ...]:
    """What 324 shows: ``+klnt key 10``; the key only to members (and opers)."""
    letters = set(channel.modes)
    shown = {}
    if channel.key is not None:
        insider = client.conn in channel.members or "o" in client.modes
        shown["k"] = channel.key if insider else "*"
    if channel.limit is not None:
        shown["l"] = str(channel.limit)
    ordered = sorted(letters | shown.keys())
    return ("+" + "".join(ordered), *(shown[letter] for letter in ordered if letter in shown))


def _channel_mode(state: ServerState, client: Client, name: str, args: tuple[str, ...]) -> None:
    out = state.replies
    channel = state.network.channel(name)
    if channel is None:
        out.numeric(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    if not args:
        out.numeric(
            client, rpl.RPL_CHANNELMODEIS, channel.name, *channel_mode_params(client, channel)
        )
        out.numeric(client, rpl.RPL_CREATIONTIME, channel.name, str(int(channel.created)))
        return
    changes = parse_modes(CHANNEL_SYNTAX, args[0], args[1:])
    edits: list[ModeChange] = []
    shown: set[str] = set()
    for change in changes:
        if change.letter in CHANNEL_LISTS and change.param is None:
            if change.letter not in shown:  # "MODE #chan b": show the list, once
                shown.add(change.letter)
                if hidden_from(client, channel):  # a secret channel's lists are its own
                    out.numeric(
                        client, rpl.ERR_NOTONCHANNEL, channel.name, "You're not on that channel"
                    )
                    break
                _show_list(state, client, channel, change.letter)
        else:
            edits.append(change)
    if not edits or operated_channel(state, client, name) is None:
        return
    _apply_channel_modes(state, client, channel, edits)


def _show_list(state: ServerState, client: Client, channel: Channel, letter: str) -> None:
    out = state.replies
    entry_code, end_code, end_text = _LIST_REPLIES[letter]
    for entry in channel.lists.get(letter, ()):
        out.numeric(client, entry_code, channel.name, entry.mask, entry.set_by, str(entry.set_at))
    out.numeric(client, end_code, channel.name, end_text)


class _Changes:
    """What one MODE line did to a channel, and the errors to report once each."""

    def __init__(self, state: ServerState, client: Client, channel: Channel) -> None:
        self.state = state
        self.client = client
        self.channel = channel
        self.applied: list[ModeChange] = []
        self.flags_before = frozenset(channel.modes)
        self.with_param = 0
        self.dropped = 0
        self.lists_changed: set[str] = set()
        self._reported: set[tuple[str, str]] = set()

    def error(self, code: str, letter: str, *params: str) -> None:
        """Send ``code`` once per letter and code, however often the line repeats the mistake."""
        if (code, letter) not in self._reported:
            self._reported.add((code, letter))
            self.state.replies.numeric(self.client, code, *params)

    def invalid(self, letter: str, param: str, why: str) -> None:
        self.error(
            rpl.ERR_INVALIDMODEPARAM,
            letter,
            self.channel.name,
            letter,
            param[:MAX_MASK_LENGTH],
            why,
        )


def _apply_channel_modes(
    state: ServerState, client: Client, channel: Channel, changes: list[ModeChange]
) -> None:
    out = state.replies
    done = _Changes(state, client, channel)
    for change in changes:
        letter = change.letter
        if letter == "R" and change.adding and not state.config.accounts:
            # Without accounts nobody could ever join a +R room.
            done.error(rpl.ERR_UNKNOWNMODE, letter, letter, "needs accounts, which are off here")
            continue
        if letter in CHANNEL_FLAGS:
            (channel.modes.add if change.adding else channel.modes.discard)(letter)
            continue
        if not CHANNEL_SYNTAX.takes_param(letter, change.adding) and letter != "l":
            done.error(rpl.ERR_UNKNOWNMODE, letter, letter, "is unknown mode char to me")
            continue
        if change.param is None and (change.adding or letter != "l"):
            done.error(rpl.ERR_NEEDMOREPARAMS, letter, "MODE", "Not enough parameters")
            continue
        if done.with_param == MODES_PER_LINE:
            done.dropped += 1
            continue
        done.with_param += 1
        if CHANNEL_SYNTAX.is_prefix(letter):
            _member_status(done, change)
        elif letter in CHANNEL_LISTS:
            _list_entry(done, change)
        elif letter == "k":
            _key(done, change)
        else:
            _limit(done, change)
    flags = [
        ModeChange(letter in channel.modes, letter)
        for letter in sorted(CHANNEL_FLAGS)
        if (letter in channel.modes) != (letter in done.flags_before)
    ]
    if done.lists_changed & {"b", "e"}:
        channel.banned.clear()
    if done.dropped:
        text = (
            f"MODE {channel.name}: {done.dropped} change(s) not applied;"
            f" at most {MODES_PER_LINE} with a parameter per line (MODES={MODES_PER_LINE})"
        )
        out.server_notice(client, client.nick, text)
    applied = flags + done.applied
    if applied:
        text, params = render_modes(applied)
        out.to_channel(channel, out.event(client, "MODE", channel.name, text, *params))
        rooms.changed(state, client, channel)


def _member_status(done: _Changes, change: ModeChange) -> None:
    state, channel, client = done.state, done.channel, done.client
    assert change.param is not None
    target = state.network.user(change.param)
    if target is None:
        done.state.replies.numeric(client, rpl.ERR_NOSUCHNICK, change.param, "No such nick/channel")
        return
    status = channel.members.get(target.conn)
    if status is None:
        state.replies.numeric(
            client,
            rpl.ERR_USERNOTINCHANNEL,
            target.nick,
            channel.name,
            "They aren't on that channel",
        )
        return
    if (change.letter in status) != change.adding:
        letter = change.letter
        channel.members[target.conn] = (
            status + letter if change.adding else status.replace(letter, "")
        )
        done.applied.append(ModeChange(change.adding, letter, target.nick))


def _list_entry(done: _Changes, change: ModeChange) -> None:
    channel, letter, raw = done.channel, change.letter, change.param
    assert raw is not None
    if len(raw) > MAX_MASK_LENGTH:  # judged before any work on it
        done.invalid(letter, raw, f"Mask too long (at most {MAX_MASK_LENGTH} characters)")
        return
    mask = account_mask(raw) if raw.startswith("$") else normalize_mask(raw)
    if mask is None:
        done.invalid(letter, raw, "Unknown extended ban; only $a:account is known (EXTBAN=$,a)")
        return
    if not valid_mask(mask):
        done.invalid(letter, raw, "Invalid mask")
        return
    masks = channel.lists.get(letter)
    if not change.adding:
        if masks is not None and masks.remove(mask) is not None:
            if not len(masks):
                del channel.lists[letter]
            done.lists_changed.add(letter)
            done.applied.append(ModeChange(False, letter, mask))
        return
    if masks is None:
        masks = channel.lists[letter] = MaskList()
    if len(masks) >= MAX_LIST:
        done.error(rpl.ERR_BANLISTFULL, letter, channel.name, letter, "Channel list is full")
        return
    entry = MaskEntry(mask, done.client.nick, int(done.state.now()))
    if masks.add(entry):
        done.lists_changed.add(letter)
        done.applied.append(ModeChange(True, letter, mask))


def _key(done: _Changes, change: ModeChange) -> None:
    channel, key = done.channel, change.param
    assert key is not None
    if not change.adding:
        if channel.key is not None:
            done.applied.append(ModeChange(False, "k", channel.key))
            channel.key = None
        return
    if not valid_key(key, KEY_LENGTH):
        done.error(rpl.ERR_INVALIDKEY, "k", channel.name, "Key is not well-formed")
        return
    if key != channel.key:
        channel.key = key
        done.applied.append(ModeChange(True, "k", key))


def _limit(done: _Changes, change: ModeChange) -> None:
    channel = done.channel
    if not change.adding:
        if channel.limit is not None:
            channel.limit = None
            done.applied.append(ModeChange(False, "l"))
        return
    text = change.param
    assert text is not None
    if (
        not (text.isascii() and text.isdigit() and len(text) <= 7)
        or not 0 < int(text) <= _MAX_LIMIT
    ):
        done.invalid("l", text, f"Limit must be a number from 1 to {_MAX_LIMIT}")
        return
    limit = int(text)
    if limit != channel.limit:
        channel.limit = limit
        done.applied.append(ModeChange(True, "l", str(limit)))

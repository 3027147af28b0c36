"""History in the pure state: message ids, Record effects, replay on JOIN, CHATHISTORY.

Like ``test_state.py``: no trio, a fake clock, lines in and lines out. The
database is not here: a :class:`Ask` effect is answered by calling
:meth:`ServerState.history_answer` with the rows a store would return.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from triochat._config import ServerConfig
from triochat._history.records import (
    UNBOUNDED,
    Bound,
    HistoryEntry,
    HistoryQuery,
    private_key,
    stamped_text,
)
from triochat._irc.tags import iso_time
from triochat._irc.wire import parse, serialize
from triochat._state.advertised import capabilities
from triochat._state.effects import Ask, ConnId, Record, Send
from triochat._state.machine import ServerState
from triochat._state.model import PeerInfo

if TYPE_CHECKING:
    from collections.abc import Iterable

    from triochat._state.effects import Effect

CAPS = capabilities(ServerConfig())
START = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC).timestamp()
START_MS = 1704164645678
SERVER = ":triochat"
FULL = ("batch", "server-time", "message-tags")


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class Chat:
    """A state with a fake clock, fed raw lines, read back as wire lines per connection."""

    def __init__(self, **config: object) -> None:
        self.clock = Clock()
        self.config = replace(ServerConfig(motd=None), **config)  # type: ignore[arg-type]
        self.state = ServerState(self.config, clock=self.clock)
        self._conns = 0

    def register(self, nick: str, *caps: str) -> ConnId:
        self._conns += 1
        conn = ConnId(self._conns)
        self.state.connect(conn, PeerInfo(f"10.0.0.{conn}"))
        lines = [f"CAP REQ :{' '.join(caps)}"] if caps else []
        lines += [f"NICK {nick}", f"USER {nick} 0 * :{nick}", "CAP END"]
        self.feed(conn, *lines)
        assert self.state.is_registered(conn)
        return conn

    def feed(self, conn: ConnId, *lines: str) -> list[Effect]:
        effects: list[Effect] = []
        for line in lines:
            effects += self.state.handle(conn, parse(line.encode()))
        return effects

    def tick(self, seconds: float = 1.0) -> None:
        self.clock.now += seconds


def lines_to(conn: ConnId, effects: Iterable[Effect], *, tags: bool = False) -> list[str]:
    """What ``conn`` reads, without tags or with every tag the state put on."""
    out = []
    for effect in effects:
        if isinstance(effect, Send) and conn in effect.targets:
            data = serialize(effect.message, tags=None if tags else {})
            out.append(data.decode().removesuffix("\r\n"))
    return out


def records(effects: Iterable[Effect]) -> list[HistoryEntry]:
    return [effect.entry for effect in effects if isinstance(effect, Record)]


@dataclass(frozen=True)
class HistoryAsk:
    """An :class:`Ask` whose question is a history query (the union has other kinds too)."""

    conn: ConnId
    question: HistoryQuery


def queries(effects: Iterable[Effect]) -> list[HistoryAsk]:
    return [
        HistoryAsk(effect.conn, effect.question)
        for effect in effects
        if isinstance(effect, Ask) and isinstance(effect.question, HistoryQuery)
    ]


def room(chat: Chat, *caps_of_bob: str) -> tuple[ConnId, ConnId]:
    """alice in #room, and bob (with ``caps_of_bob``) registered but not yet in it."""
    alice = chat.register("alice")
    chat.feed(alice, "JOIN #room")
    return alice, chat.register("bob", *caps_of_bob)


# ---------------------------------------------------------------------------
# What is recorded
# ---------------------------------------------------------------------------


def test_channel_and_private_messages_get_a_msgid_and_are_recorded() -> None:
    chat = Chat()
    alice, bob = room(chat, "message-tags")
    chat.feed(bob, "JOIN #room")
    effects = chat.feed(alice, "PRIVMSG #room :hello", "NOTICE bob :psst", "TAGMSG #room")
    entries = records(effects)
    assert [(e.key, e.target, e.command, e.text) for e in entries] == [
        ("#room", "#room", "PRIVMSG", "hello"),
        (private_key("alice", "bob"), "bob", "NOTICE", "psst"),
    ]
    assert all(e.time_ms == START_MS and e.source == "alice!~alice@10.0.0.1" for e in entries)
    channel, private = entries
    assert channel.readers is None
    sessions = (chat.state.network.clients[alice].session, chat.state.network.clients[bob].session)
    assert private.readers == sessions
    assert len(set(sessions)) == 2
    # bob (message-tags) sees each message's msgid; the TAGMSG has one too, unrecorded.
    received = lines_to(bob, effects, tags=True)
    assert received[0].startswith(f"@time={iso_time(START_MS)};msgid={channel.msgid} ")
    assert received[1].startswith(f"@time={iso_time(START_MS)};msgid={private.msgid} ")
    assert ";msgid=" in received[2]


def test_each_target_of_a_message_gets_its_own_msgid() -> None:
    chat = Chat()
    alice, _bob = room(chat)
    chat.register("carol")
    entries = records(chat.feed(alice, "PRIVMSG #room,bob,carol :to all"))
    assert len({entry.msgid for entry in entries}) == 3


def test_a_message_alone_in_a_channel_is_still_recorded() -> None:
    chat = Chat()
    alice = chat.register("alice")
    chat.feed(alice, "JOIN #quiet")
    [entry] = records(chat.feed(alice, "PRIVMSG #quiet :anyone here?"))
    assert entry.text == "anyone here?"


def test_ctcp_requests_are_not_recorded_but_actions_are() -> None:
    chat = Chat()
    alice, _ = room(chat)
    effects = chat.feed(
        alice, "PRIVMSG #room :\x01VERSION\x01", "PRIVMSG #room :\x01ACTION waves\x01"
    )
    assert [entry.text for entry in records(effects)] == ["\x01ACTION waves\x01"]


def test_without_history_nothing_is_recorded_and_nothing_is_advertised() -> None:
    chat = Chat(history=False)
    alice, bob = room(chat, "message-tags", "draft/chathistory")
    assert "draft/chathistory" not in chat.state.network.clients[bob].caps  # NAK'd
    bob = chat.register("bob2", "message-tags")
    chat.feed(bob, "JOIN #room")
    effects = chat.feed(alice, "PRIVMSG #room :hi")
    assert records(effects) == []
    assert lines_to(bob, effects, tags=True) == [
        f"@time={iso_time(START_MS)} :alice!~alice@10.0.0.1 PRIVMSG #room hi"
    ]
    [cap_ls] = lines_to(alice, chat.feed(alice, "CAP LS 302"))
    offered = [cap.partition("=")[0] for cap in cap_ls.split(" :")[1].split()]
    assert offered == sorted(CAPS - {"draft/chathistory"})
    assert lines_to(alice, chat.feed(alice, "CHATHISTORY LATEST #room * 10")) == [
        f"{SERVER} 421 alice CHATHISTORY :Unknown command"
    ]
    tokens = " ".join(lines_to(alice, chat.feed(alice, "VERSION")))
    assert "CHATHISTORY=" not in tokens
    assert "MSGREFTYPES" not in tokens


def test_isupport_advertises_the_limits() -> None:
    chat = Chat(history_request_limit=42)
    alice = chat.register("alice")
    tokens = " ".join(lines_to(alice, chat.feed(alice, "VERSION")))
    assert " CHATHISTORY=42 " in tokens
    assert " MSGREFTYPES=timestamp,msgid " in tokens
    assert {"batch", "draft/chathistory"} <= CAPS


# ---------------------------------------------------------------------------
# Replay on JOIN
# ---------------------------------------------------------------------------


def say(chat: Chat, conn: ConnId, *texts: str) -> None:
    for text in texts:
        chat.feed(conn, f"PRIVMSG #room :{text}")
        chat.tick()


def test_a_plain_client_sees_marked_lines_with_their_time_after_names() -> None:
    chat = Chat()
    alice, bob = room(chat)
    say(chat, alice, "first", "\x01ACTION waves\x01")
    chat.feed(alice, "NOTICE #room :third")
    lines = lines_to(bob, chat.feed(bob, "JOIN #room"))
    a = ":alice!~alice@10.0.0.1"
    assert lines[-6:] == [
        f"{SERVER} 366 bob #room :End of /NAMES list",
        f"{SERVER} NOTICE #room :*** Replaying the last 3 message(s) of #room (times in UTC)",
        f"{a} PRIVMSG #room :[2024-01-02 03:04:05] first",
        f"{a} PRIVMSG #room :\x01ACTION [2024-01-02 03:04:06] waves\x01",
        f"{a} NOTICE #room :[2024-01-02 03:04:07] third",
        f"{SERVER} NOTICE #room :*** End of replay: what follows is live",
    ]


def test_a_batch_and_server_time_client_gets_a_chathistory_batch() -> None:
    chat = Chat()
    alice, bob = room(chat, *FULL)
    say(chat, alice, "one", "two")
    effects = chat.feed(bob, "JOIN #room")
    lines = lines_to(bob, effects, tags=True)
    start = lines.index(f"{SERVER} 366 bob #room :End of /NAMES list") + 1
    [one, two] = (e for e in chat.state.recent.by_key["#room"])
    a = ":alice!~alice@10.0.0.1"
    assert lines[start:] == [
        f"{SERVER} BATCH +history1 chathistory #room",
        f"@batch=history1;time={iso_time(one.time_ms)};msgid={one.msgid} {a} PRIVMSG #room one",
        f"@batch=history1;time={iso_time(two.time_ms)};msgid={two.msgid} {a} PRIVMSG #room two",
        f"{SERVER} BATCH -history1",
    ]
    # A second replay on the same connection opens a new batch reference.
    chat.feed(bob, "PART #room")
    again = lines_to(bob, chat.feed(bob, "JOIN #room"), tags=True)
    assert f"{SERVER} BATCH +history2 chathistory #room" in again


def test_server_time_without_batch_gets_the_plain_form_with_time_tags() -> None:
    chat = Chat()
    alice, bob = room(chat, "server-time")
    say(chat, alice, "one")
    lines = lines_to(bob, chat.feed(bob, "JOIN #room"), tags=True)
    stamped = ":alice!~alice@10.0.0.1 PRIVMSG #room :[2024-01-02 03:04:05] one"
    assert f"@time={iso_time(START_MS)} {stamped}" in lines
    assert not any("BATCH" in line for line in lines)


def test_a_chathistory_client_asks_for_itself_and_gets_no_replay() -> None:
    chat = Chat()
    alice, bob = room(chat, "batch", "server-time", "draft/chathistory")
    say(chat, alice, "one")
    lines = lines_to(bob, chat.feed(bob, "JOIN #room"))
    assert lines[-1] == f"{SERVER} 366 bob #room :End of /NAMES list"


@pytest.mark.parametrize(("replay", "expected"), [(2, ["c", "d"]), (0, [])])
def test_replay_shows_the_last_n(replay: int, expected: list[str]) -> None:
    chat = Chat(history_replay=replay)
    alice, bob = room(chat)
    say(chat, alice, "a", "b", "c", "d")
    lines = lines_to(bob, chat.feed(bob, "JOIN #room"))
    shown = [line.rsplit("] ", 1)[1] for line in lines if "PRIVMSG" in line]
    assert shown == expected


def test_replay_leaves_out_what_retention_forgot() -> None:
    chat = Chat(history_max_age=3600)
    alice, bob = room(chat)
    say(chat, alice, "old")
    chat.tick(3600)
    say(chat, alice, "new")
    lines = lines_to(bob, chat.feed(bob, "JOIN #room"))
    assert [line for line in lines if "PRIVMSG" in line][-1].endswith("new")
    assert not any(line.endswith("old") for line in lines)


def test_private_messages_are_never_replayed() -> None:
    chat = Chat()
    alice, _bob = room(chat)
    chat.feed(alice, "PRIVMSG bob :secret")
    carol = chat.register("carol")
    lines = lines_to(carol, chat.feed(carol, "JOIN #room"))
    assert not any("secret" in line for line in lines)
    assert lines[-1].endswith("End of /NAMES list")


def test_preloaded_history_is_replayed() -> None:
    chat = Chat()
    alice = chat.register("alice")
    old = HistoryEntry(START_MS - 5000, "x1", "#room", "#Room", "zed!~z@h", "PRIVMSG", "before")
    secret = old._replace(msgid="x2", key=private_key("a", "b"), readers=("s1", "s2"))
    chat.state.preload([old, secret])
    lines = lines_to(alice, chat.feed(alice, "JOIN #room"))
    assert lines[-2] == ":zed!~z@h PRIVMSG #Room :[2024-01-02 03:04:00] before"


def test_stamped_text_keeps_an_action_an_action() -> None:
    entry = HistoryEntry(START_MS, "i", "#r", "#r", "a!b@c", "PRIVMSG", "\x01ACTION\x01")
    assert stamped_text(entry) == "\x01ACTION [2024-01-02 03:04:05]\x01"
    assert stamped_text(entry._replace(text="plain")) == "[2024-01-02 03:04:05] plain"


# ---------------------------------------------------------------------------
# CHATHISTORY requests
# ---------------------------------------------------------------------------


def fail_of(chat: Chat, conn: ConnId, line: str) -> str:
    effects = chat.feed(conn, line)
    assert queries(effects) == []
    [reply] = lines_to(conn, effects)
    return reply


NOPE = "Messages could not be retrieved"


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("CHATHISTORY", "NEED_MORE_PARAMS * :Missing parameters"),
        ("CHATHISTORY FETCH #room * 10", "UNKNOWN_COMMAND FETCH :Unknown command"),
        ("CHATHISTORY LATEST #room *", "NEED_MORE_PARAMS LATEST :Missing parameters"),
        ("CHATHISTORY BETWEEN #room * 10", "NEED_MORE_PARAMS BETWEEN :Missing parameters"),
        ("CHATHISTORY TARGETS * 10", "NEED_MORE_PARAMS TARGETS :Missing parameters"),
        # Not a member, no such channel, not a name at all: the same answer.
        ("CHATHISTORY LATEST #secret * 10", f"INVALID_TARGET LATEST #secret :{NOPE}"),
        ("CHATHISTORY LATEST #nowhere * 10", f"INVALID_TARGET LATEST #nowhere :{NOPE}"),
        ("CHATHISTORY LATEST * * 10", f"INVALID_TARGET LATEST * :{NOPE}"),
        ("CHATHISTORY LATEST 9lives * 10", f"INVALID_TARGET LATEST 9lives :{NOPE}"),
    ],
)  # fmt: skip
def test_malformed_or_forbidden_requests_fail(line: str, reply: str) -> None:
    chat = Chat()
    _alice, bob = room(chat)
    carol = chat.register("carol")
    chat.feed(carol, "JOIN #secret")
    assert fail_of(chat, bob, line) == f"{SERVER} FAIL CHATHISTORY {reply}"


BAD_REFERENCES = [
    "timestamp=2024-13-01T00:00:00.000Z",
    "timestamp=2024-02-30T00:00:00.000Z",
    "timestamp=0000-01-01T00:00:00.000Z",
    "timestamp=2024-01-01 00:00:00",
    "timestamp=2024-01-01T00:00:00.000",
    "timestamp=٢٠٢٤-01-01T00:00:00.000Z",
    "timestamp=yesterday",
    "timestamp=",
    "timestamp=" + "9" * 400,
    "msgid=",
    "msgid=" + "x" * 65,
    "id=abc",
    "*",
    "2024-01-01T00:00:00.000Z",
]


@pytest.mark.parametrize("reference", BAD_REFERENCES)
def test_bad_references_fail_with_invalid_params(reference: str) -> None:
    chat = Chat()
    alice, _ = room(chat)
    reply = fail_of(chat, alice, f"CHATHISTORY BEFORE #room {reference} 10")
    assert reply.startswith(f"{SERVER} FAIL CHATHISTORY INVALID_PARAMS BEFORE ")
    reply = fail_of(chat, alice, f"CHATHISTORY BETWEEN #room * {reference} 10")
    assert " INVALID_PARAMS BETWEEN " in reply


@pytest.mark.parametrize("limit", ["0", "-1", "ten", "1e3", "", "٣"])
def test_bad_limits_fail_with_invalid_params(limit: str) -> None:
    chat = Chat()
    alice, _ = room(chat)
    reply = fail_of(chat, alice, f"CHATHISTORY LATEST #room * :{limit}")
    assert reply.startswith(f"{SERVER} FAIL CHATHISTORY INVALID_PARAMS LATEST ")
    assert reply.endswith(":The limit must be a positive number")


def test_targets_takes_timestamps_only() -> None:
    chat = Chat()
    alice, _ = room(chat)
    reply = fail_of(chat, alice, "CHATHISTORY TARGETS msgid=abc timestamp=2024-01-01T00:00:00Z 5")
    assert reply == (
        f"{SERVER} FAIL CHATHISTORY INVALID_PARAMS TARGETS msgid=abc"
        " :Use timestamp=YYYY-MM-DDThh:mm:ss.sssZ"
    )


@pytest.mark.parametrize(
    ("limit", "expected"), [("5", 5), ("100", 100), ("101", 100), ("9" * 40, 100)]
)
def test_a_valid_request_becomes_a_query_with_the_limit_clamped(limit: str, expected: int) -> None:
    chat = Chat()
    alice, _ = room(chat)
    [query] = queries(chat.feed(alice, f"CHATHISTORY latest #ROOM * {limit}"))
    assert query.conn == alice
    q = query.question
    assert isinstance(q, HistoryQuery)
    assert (q.subcommand, q.target, q.keys, q.first, q.limit) == (
        "LATEST",
        "#room",
        ("#room",),
        UNBOUNDED,
        expected,
    )
    assert q.session == chat.state.network.clients[alice].session


def test_a_nick_target_is_the_requesters_own_conversation() -> None:
    chat = Chat()
    _alice, bob = room(chat)
    [query] = queries(
        chat.feed(bob, "CHATHISTORY BETWEEN Alice msgid=x timestamp=2024-01-02T03:04:05.678Z 10")
    )
    q = query.question
    assert isinstance(q, HistoryQuery)
    assert (q.target, q.keys) == ("Alice", (private_key("bob", "alice"),))
    assert (q.first, q.second) == (Bound(msgid="x"), Bound(time_ms=START_MS))
    assert q.session == chat.state.network.clients[bob].session


def test_targets_searches_the_requesters_channels() -> None:
    chat = Chat()
    alice, _ = room(chat)
    chat.feed(alice, "JOIN #Two")
    line = "CHATHISTORY TARGETS timestamp=2024-01-01T00:00:00.000Z timestamp=2025-01-01T00:00:00Z 9"
    [query] = queries(chat.feed(alice, line))
    q = query.question
    assert isinstance(q, HistoryQuery)
    assert (q.subcommand, q.keys, q.limit) == (
        "TARGETS",
        ("#room", "#two"),
        9,
    )


def test_chathistory_needs_registration() -> None:
    chat = Chat()
    chat.state.connect(ConnId(9), PeerInfo("h"))
    [reply] = lines_to(ConnId(9), chat.feed(ConnId(9), "CHATHISTORY LATEST #room * 10"))
    assert " 451 " in reply


# ---------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------


def answer(chat: Chat, conn: ConnId, line: str, entries: list[HistoryEntry]) -> list[Effect]:
    [query] = queries(chat.feed(conn, line))
    return chat.state.answer(conn, query.question, entries)


def test_the_answer_is_a_batch_for_a_batch_client() -> None:
    chat = Chat()
    alice = chat.register("alice", "batch", "server-time")
    chat.feed(alice, "JOIN #room")
    entry = HistoryEntry(START_MS, "m1", "#room", "#room", "zed!~z@h", "NOTICE", "hi")
    lines = lines_to(alice, answer(chat, alice, "CHATHISTORY LATEST #room * 5", [entry]), tags=True)
    assert lines == [
        f"{SERVER} BATCH +history1 chathistory #room",
        f"@batch=history1;time={iso_time(START_MS)} :zed!~z@h NOTICE #room hi",
        f"{SERVER} BATCH -history1",
    ]
    # Nothing found: an empty batch, so the client does not wait.
    lines = lines_to(alice, answer(chat, alice, "CHATHISTORY LATEST #room * 5", []))
    assert lines == [
        f"{SERVER} BATCH +history2 chathistory #room",
        f"{SERVER} BATCH -history2",
    ]


def test_the_answer_is_marked_lines_for_a_plain_client() -> None:
    chat = Chat()
    _alice, bob = room(chat)
    entry = HistoryEntry(
        START_MS, "m1", private_key("alice", "bob"), "bob", "alice!~a@h", "PRIVMSG", "yo"
    )
    lines = lines_to(bob, answer(chat, bob, "CHATHISTORY LATEST alice * 5", [entry]))
    assert lines == [
        f"{SERVER} NOTICE bob :*** History of alice: 1 message(s) (times in UTC)",
        ":alice!~a@h PRIVMSG bob :[2024-01-02 03:04:05] yo",
        f"{SERVER} NOTICE bob :*** End of history of alice",
    ]
    lines = lines_to(bob, answer(chat, bob, "CHATHISTORY LATEST alice * 5", []))
    assert lines == [f"{SERVER} NOTICE bob :*** No history for alice"]


def test_targets_name_the_other_side_of_each_conversation() -> None:
    chat = Chat()
    _alice, bob = room(chat, "batch")
    mine, theirs = chat.state.network.clients[bob].session, "elsewhere"
    key = private_key("alice", "bob")
    sent = HistoryEntry(START_MS, "a", key, "alice", "bob!~b@h", "PRIVMSG", "x", (mine, theirs))
    received = HistoryEntry(
        START_MS + 1, "b", "k", "bob", "Carol!~c@h", "PRIVMSG", "y", (theirs, mine)
    )
    channel = HistoryEntry(START_MS + 2, "c", "#room", "#Room", "z!~z@h", "PRIVMSG", "z")
    line = "CHATHISTORY TARGETS timestamp=2024-01-01T00:00:00Z timestamp=2025-01-01T00:00:00Z 10"
    lines = lines_to(bob, answer(chat, bob, line, [sent, received, channel]), tags=True)
    assert lines == [
        f"{SERVER} BATCH +history1 draft/chathistory-targets",
        f"@batch=history1 {SERVER} CHATHISTORY TARGETS alice {iso_time(START_MS)}",
        f"@batch=history1 {SERVER} CHATHISTORY TARGETS Carol {iso_time(START_MS + 1)}",
        f"@batch=history1 {SERVER} CHATHISTORY TARGETS #Room {iso_time(START_MS + 2)}",
        f"{SERVER} BATCH -history1",
    ]


def test_a_failed_query_is_a_message_error() -> None:
    chat = Chat()
    alice, _ = room(chat)
    [query] = queries(chat.feed(alice, "CHATHISTORY AFTER #room timestamp=2024-01-01T00:00:00Z 5"))
    [line] = lines_to(alice, chat.state.unanswered(alice, query.question))
    assert line == (
        f"{SERVER} FAIL CHATHISTORY MESSAGE_ERROR AFTER #room :Messages could not be retrieved"
    )


def test_an_answer_for_a_client_that_left_is_dropped() -> None:
    chat = Chat()
    alice, _ = room(chat)
    [query] = queries(chat.feed(alice, "CHATHISTORY LATEST #room * 5"))
    chat.state.disconnect(alice, "gone")
    assert chat.state.answer(alice, query.question, []) == []
    assert chat.state.unanswered(alice, query.question) == []


@pytest.mark.parametrize(
    ("time_ms", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (5, "1970-01-01T00:00:00.005Z"),
        (1_764_300_000_999, "2025-11-28T03:20:00.999Z"),
        (1_764_300_001_000, "2025-11-28T03:20:01.000Z"),  # the next second: a new prefix
        (1_764_300_000_123, "2025-11-28T03:20:00.123Z"),  # and back: the cache is per second
    ],
)
def test_iso_time_is_utc_with_milliseconds(time_ms: int, text: str) -> None:
    assert iso_time(time_ms) == text

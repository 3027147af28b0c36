"""The core's structured events (for the full-screen client), by plain function calls.

The display strings are covered by test_client_core.py; here, what the same
calls say as data: which window, who, history or live, members.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from triochat._client.base import LAG_TOKEN, mentions
from triochat._client.core import ClientCore
from triochat._client.events import (
    ChatLine,
    ConnectionLost,
    Event,
    HistoryEnded,
    HistoryStarted,
    InfoLine,
    Joined,
    LagMeasured,
    Left,
    MemberJoined,
    MemberLeft,
    MemberModes,
    MemberQuit,
    Members,
    NickChanged,
    QueryEnded,
    QueryStarted,
    Registered,
    Topic,
)
from triochat._irc.wire import Message, parse

NOON = datetime(2026, 1, 1, 12, 1, tzinfo=UTC)


def clock() -> datetime:
    return NOON


def irc(line: str) -> Message:
    return parse(line.encode())


def events(core: ClientCore, *lines: str) -> list[Event]:
    """Feed server lines; every event they made."""
    found: list[Event] = []
    for line in lines:
        found.extend(core.server_message(irc(line)).events)
    return found


def sent(core: ClientCore, line: str, window: str | None = "#lobby") -> list[Message]:
    """Type ``line`` in ``window``; the messages sent."""
    effects = core.user_line(line, window=window)
    return [parse(raw.removesuffix(b"\r\n")) for raw in effects.send]


def chatting(caps: str = "", **options: object) -> ClientCore:
    core = ClientCore(nick="alice", channel="#lobby", clock=clock, **options)  # type: ignore[arg-type]
    core.start()
    events(core, f":srv CAP * LS :{caps}")
    if caps:
        events(core, f":srv CAP alice ACK :{caps}")
    events(core, ":srv 001 alice :Welcome", ":alice!a@h JOIN #lobby")
    return core


def test_registration_and_join_are_events() -> None:
    core = ClientCore(nick="alice", clock=clock)
    core.start()
    events(core, ":srv CAP * LS :")
    assert events(core, ":srv 001 alice :Welcome") == [
        Registered("alice", "srv"),
        InfoLine("Welcome", NOON, server=True),
    ]
    assert events(core, ":alice!a@h JOIN #lobby") == [
        Joined("#lobby"),
        InfoLine("you have joined #lobby", NOON, "#lobby"),
    ]
    names = events(core, ":srv 353 alice = #lobby :@alice +bob", ":srv 366 alice #lobby :End")
    assert names[0] == Members("#lobby", ("@alice", "+bob"))


def test_chat_lines_say_where_and_who() -> None:
    core = chatting()
    assert events(core, ":bob!b@h PRIVMSG #lobby :hi all") == [
        ChatLine("#lobby", "bob", "hi all", NOON)
    ]
    assert events(core, ":bob!b@h PRIVMSG alice :psst") == [
        ChatLine("bob", "bob", "psst", NOON, mention=True)
    ]
    assert events(core, ":bob!b@h PRIVMSG #lobby :\x01ACTION waves\x01") == [
        ChatLine("#lobby", "bob", "waves", NOON, action=True)
    ]
    assert events(core, ":bob!b@h NOTICE #lobby :note this") == [
        ChatLine("#lobby", "bob", "note this", NOON, notice=True)
    ]
    [line] = events(core, ":bob!b@h PRIVMSG #lobby :ALICE: look")
    assert isinstance(line, ChatLine)
    assert line.mention


def test_own_lines_belong_to_the_target() -> None:
    core = chatting()  # no echo-message: the core shows our own lines itself
    effects = core.user_line("/msg bob hello", window="#lobby")
    assert effects.events == (ChatLine("bob", "alice", "hello", NOON, own=True),)
    effects = core.user_line("hi room", window="#lobby")
    assert effects.events == (ChatLine("#lobby", "alice", "hi room", NOON, own=True),)


def test_text_from_others_is_sanitized_in_events() -> None:
    core = chatting()
    [line] = events(core, ":b\x1bob!b@h PRIVMSG #lobby :\x1b[31mred\x07 \x02bold\x02")
    assert line == ChatLine("#lobby", "b?ob", "?[31mred? bold", NOON)


def test_membership_events() -> None:
    core = chatting()
    assert events(core, ":bob!b@h JOIN #lobby")[0] == MemberJoined("#lobby", "bob")
    assert events(core, ":bob!b@h PART #lobby :bye") == [MemberLeft("#lobby", "bob", "bye", NOON)]
    assert events(core, ":op!o@h KICK #lobby carol :spam") == [
        MemberLeft("#lobby", "carol", "spam", NOON, kicked_by="op")
    ]
    assert events(core, ":dave!d@h QUIT :gone") == [MemberQuit("dave", "gone", NOON)]
    assert events(core, ":erin!e@h NICK :erin2") == [NickChanged("erin", "erin2", NOON)]
    assert events(core, ":alice!a@h NICK :alicia") == [
        NickChanged("alice", "alicia", NOON, own=True)
    ]
    assert events(core, ":op!o@h MODE #lobby +ov bob carol")[0] == MemberModes(
        "#lobby", "+ov", ("bob", "carol")
    )
    assert events(core, ":op!o@h TOPIC #lobby :new topic")[0] == Topic("#lobby", "new topic")


def test_leaving_a_channel_is_an_event() -> None:
    core = chatting()
    assert Left("#lobby", "done") in events(core, ":alice!a@h PART #lobby :done")
    events(core, ":alice!a@h JOIN #lobby")
    assert Left("#lobby", "rude") in events(core, ":op!o@h KICK #lobby alice :rude")


def test_what_the_server_says_on_its_own_is_marked() -> None:
    core = chatting()
    assert events(core, ":srv 372 alice :- message of the day") == [
        InfoLine("- message of the day", NOON, server=True)
    ]
    assert events(core, ":srv NOTICE alice :*** server notice") == [
        InfoLine("*** server notice", NOON, server=True)
    ]
    assert events(core, ":srv NOTICE #lobby :*** about the room") == [
        InfoLine("*** about the room", NOON, "#lobby")
    ]
    [answer] = events(core, ":srv 391 alice srv :Thursday noon")
    assert answer == InfoLine("time on srv: Thursday noon", NOON)  # an answer: where the user is


def test_errors_are_marked_and_shown_where_the_user_is() -> None:
    core = chatting()
    [error] = events(core, ":srv 401 alice bob :No such nick")
    assert error == InfoLine("no such nick: bob", NOON, None, error=True)
    assert core.user_line("/frobnicate", window="#lobby").events == (
        InfoLine("unknown command /frobnicate; type /help for the list", NOON, error=True),
    )


def test_a_chathistory_batch_is_marked_as_history() -> None:
    core = chatting("batch server-time echo-message")
    earlier = "2026-01-01T09:30:00.000Z"
    found = events(
        core,
        ":srv BATCH +h1 chathistory #lobby",
        f"@batch=h1;time={earlier} :bob!b@h PRIVMSG #lobby :from before",
        f"@batch=h1;time={earlier} :alice!a@h PRIVMSG #lobby :me before",
        ":srv BATCH -h1",
        ":bob!b@h PRIVMSG #lobby :live",
    )
    then = datetime(2026, 1, 1, 9, 30, tzinfo=UTC)
    assert found == [
        HistoryStarted("#lobby", NOON),
        ChatLine("#lobby", "bob", "from before", then, history=True),
        ChatLine("#lobby", "alice", "me before", then, own=True, history=True),
        HistoryEnded("#lobby", NOON),
        ChatLine("#lobby", "bob", "live", NOON),
    ]


def test_other_batches_are_not_history() -> None:
    core = chatting("batch")
    found = events(
        core,
        ":srv BATCH +n1 netsplit irc.a irc.b",
        "@batch=n1 :bob!b@h QUIT :irc.a irc.b",
        ":srv BATCH -n1",
    )
    assert found == [MemberQuit("bob", "irc.a irc.b", NOON)]


def test_batch_is_asked_for_only_when_wanted() -> None:
    plain = ClientCore(nick="alice", clock=clock)
    plain.start()
    [request] = plain.server_message(irc(":srv CAP * LS :batch server-time")).send
    assert request == b"CAP REQ server-time\r\n"
    full = ClientCore(nick="alice", clock=clock, extra_caps={"batch"})
    full.start()
    [request] = full.server_message(irc(":srv CAP * LS :batch server-time")).send
    assert request == b"CAP REQ :batch server-time\r\n"


def test_the_window_decides_where_plain_text_goes() -> None:
    core = chatting()
    events(core, ":alice!a@h JOIN #games")
    assert sent(core, "in games", "#games") == [Message("PRIVMSG", ("#games", "in games"))]
    assert sent(core, "in lobby", "#lobby") == [Message("PRIVMSG", ("#lobby", "in lobby"))]
    assert sent(core, "to bob", "bob") == [Message("PRIVMSG", ("bob", "to bob"))]
    assert sent(core, "back", "#lobby") == [Message("PRIVMSG", ("#lobby", "back"))]
    assert sent(core, "/part", "#games") == [Message("PART", ("#games",))]
    assert sent(core, "/who", "#lobby") == [Message("NAMES", ("#lobby",))]


def test_no_plain_text_from_the_status_window_or_a_left_channel() -> None:
    core = chatting()
    effects = core.user_line("hello?", window=None)
    assert effects.send == ()
    assert effects.events[0] == InfoLine(
        "you are not in a channel: /join #channel, or /msg NICK TEXT", NOON, error=True
    )
    assert core.user_line("/part", window=None).send == ()
    events(core, ":alice!a@h PART #lobby")
    effects = core.user_line("anyone?", window="#lobby")
    assert effects.send == ()
    assert effects.events[0] == InfoLine("you are not in #lobby: /join #lobby", NOON, error=True)
    assert sent(core, "/msg bob still works", None) == [Message("PRIVMSG", ("bob", "still works"))]


def test_query_start_and_end_are_events() -> None:
    core = chatting()
    assert QueryStarted("bob") in core.user_line("/query bob", window="#lobby").events
    assert QueryEnded("bob", "#lobby") in core.user_line("/query", window="bob").events


def test_a_private_window_follows_its_partners_new_nick() -> None:
    core = chatting()
    core.user_line("hi", window="bob")
    events(core, ":bob!b@h NICK :robert")
    assert core.target == "robert"


def test_lag_is_measured_with_a_ping() -> None:
    now = [100.0]
    core = chatting(monotonic=lambda: now[0])
    assert core.probe_lag().send == (f"PING {LAG_TOKEN}\r\n".encode(),)
    assert core.lag_probe_pending
    assert core.probe_lag().send == ()  # one at a time
    now[0] = 100.25
    assert events(core, f":srv PONG srv :{LAG_TOKEN}") == [LagMeasured(0.25)]
    assert not core.lag_probe_pending


def test_no_lag_probe_before_registration() -> None:
    core = ClientCore(nick="alice", clock=clock)
    core.start()
    assert core.probe_lag().send == ()


def test_connection_lost_is_one_event() -> None:
    core = chatting()
    assert core.connection_lost("EOF").events == (ConnectionLost("EOF", NOON),)
    assert core.connection_lost("EOF").events == ()


def test_also_join_joins_every_room_after_registration() -> None:
    core = ClientCore(nick="alice", channel="#a", also_join=["b", "#a", "#c"], clock=clock)
    core.start()
    core.server_message(irc(":srv CAP * LS :"))
    effects = core.server_message(irc(":srv 001 alice :Welcome"))
    joins = [raw for raw in effects.send if raw.startswith(b"JOIN")]
    assert joins == [b"JOIN #a\r\n", b"JOIN #b\r\n", b"JOIN #c\r\n"]


def test_nick_fallback_tries_underscores_then_asks() -> None:
    core = ClientCore(nick="alice", clock=clock, nick_fallback=True)
    core.start()
    core.server_message(irc(":srv CAP * LS :"))
    tried: list[bytes] = []
    for _ in range(3):
        effects = core.server_message(irc(f":srv 433 * {core.nick} :Nickname is already in use"))
        tried.extend(raw for raw in effects.send if raw.startswith(b"NICK"))
    assert tried == [b"NICK alice_\r\n", b"NICK alice__\r\n", b"NICK alice___\r\n"]
    effects = core.server_message(irc(":srv 433 * alice___ :Nickname is already in use"))
    assert effects.send == ()
    assert effects.show[-1].endswith("choose a nickname:")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alice: hi", True),
        ("hi Alice!", True),
        ("[alice] hi", False),  # [ and ] belong to nicks: that is another nick
        ("malice aforethought", False),
        ("alice_ is not alice?", True),
        ("alice_", False),
    ],
)
def test_mentions(text: str, expected: bool) -> None:
    assert mentions(text, "alice") is expected

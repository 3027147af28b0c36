"""The full-screen client's view model, Tab completion and input history: pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from triochat._client.events import (
    ChatLine,
    Connecting,
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
    Reconnecting,
    Registered,
    Topic,
    UserInput,
)
from triochat._client.view import STATUS, ChatView, InputHistory, Update, WindowKind, complete

NOON = datetime(2026, 1, 1, 12, 1, tzinfo=UTC)


def view_with(*events: Event) -> ChatView:
    view = ChatView()
    for event in events:
        view.apply(event)
    return view


def lobby(*nicks: str) -> ChatView:
    """Registered as alice, in #lobby with ``nicks``."""
    return view_with(
        Registered("alice", "srv"),
        Joined("#lobby"),
        Members("#lobby", ("@alice", *nicks)),
    )


def texts(view: ChatView, key: str) -> list[str]:
    return [line.text for line in view.windows[key].lines]


def marks(view: ChatView, key: str) -> tuple[int, bool]:
    """The unread count and the mention marker of a window."""
    return view.windows[key].unread, view.windows[key].mentioned


def test_joining_opens_a_window_and_shows_it() -> None:
    view = lobby("bob", "+carol")
    assert list(view.windows) == [STATUS, "#lobby"]
    assert view.current == "#lobby"
    assert [(m.prefix, m.nick) for m in view.window.sorted_members()] == [
        ("@", "alice"),
        ("+", "carol"),
        ("", "bob"),
    ]
    assert view.nick == "alice"
    assert view.connected


def test_lines_go_to_their_window_and_count_as_unread_elsewhere() -> None:
    view = lobby("bob")
    view.apply(Joined("#games"))
    assert view.current == "#games"
    update = view.apply(ChatLine("#lobby", "bob", "hi", NOON))
    assert update.lines == [("#lobby", ChatLine("#lobby", "bob", "hi", NOON))]
    assert update.windows
    assert marks(view, "#lobby") == (1, False)
    view.apply(ChatLine("#lobby", "bob", "alice: look", NOON, mention=True))
    assert marks(view, "#lobby") == (2, True)
    update = view.select("#lobby")
    assert marks(view, "#lobby") == (0, False)
    assert update.focus == "#lobby"


def test_info_lines_are_not_unread_and_land_where_the_user_is() -> None:
    view = lobby()
    view.apply(InfoLine("no such nick: bob", NOON, error=True))
    assert texts(view, "#lobby")[-1] == "no such nick: bob"
    view.apply(InfoLine("bob has joined #games", NOON, "#games"))  # no such window: here
    assert texts(view, "#lobby")[-1] == "bob has joined #games"
    assert view.windows["#lobby"].unread == 0


def test_server_chatter_goes_to_the_status_window() -> None:
    view = lobby()
    view.apply(InfoLine("- message of the day", NOON, server=True))
    assert texts(view, STATUS)[-1] == "- message of the day"
    assert "- message of the day" not in texts(view, "#lobby")


def test_a_private_message_opens_a_window_marked_as_a_mention() -> None:
    view = lobby("bob")
    view.apply(ChatLine("bob", "bob", "psst", NOON, mention=True))
    private = view.windows["bob"]
    assert private.kind is WindowKind.PRIVATE
    assert marks(view, "bob") == (1, True)
    assert view.current == "#lobby"  # no focus stealing


def test_query_opens_and_shows_the_private_window_and_ending_it_returns() -> None:
    view = lobby("bob")
    view.apply(QueryStarted("Bob"))
    assert view.current == "bob"
    assert view.window.name == "Bob"
    assert view.typed("hi") == UserInput("hi", "Bob")
    view.apply(QueryEnded("Bob", "#lobby"))
    assert view.current == "#lobby"
    assert "bob" in view.windows  # the conversation stays readable


def test_typing_in_the_status_window_has_no_target() -> None:
    view = lobby()
    view.select(STATUS)
    assert view.typed("/join #x") == UserInput("/join #x", None)


def test_members_follow_joins_parts_quits_kicks_and_nicks() -> None:
    view = lobby("bob", "carol")
    view.apply(MemberJoined("#lobby", "dave"))
    assert "dave" in view.window.members
    update = view.apply(MemberLeft("#lobby", "carol", "bye", NOON))
    assert update.members
    assert texts(view, "#lobby")[-1] == "carol has left #lobby (bye)"
    view.apply(MemberLeft("#lobby", "dave", "", NOON, kicked_by="alice"))
    assert texts(view, "#lobby")[-1] == "dave was kicked from #lobby by alice"
    view.apply(NickChanged("bob", "robert", NOON))
    assert "robert" in view.window.members
    assert "bob" not in view.window.members
    assert texts(view, "#lobby")[-1] == "bob is now known as robert"
    view.apply(MemberQuit("robert", "gone", NOON))
    assert list(view.window.members) == ["alice"]
    assert texts(view, "#lobby")[-1] == "robert has quit (gone)"


def test_a_quit_is_told_only_where_that_person_was() -> None:
    view = lobby("bob")
    view.apply(Joined("#games"))
    view.apply(ChatLine("carol", "carol", "hi", NOON))
    view.apply(MemberQuit("bob", "", NOON))
    assert texts(view, "#lobby")[-1] == "bob has quit"
    assert "bob has quit" not in texts(view, "#games")
    assert "bob has quit" not in texts(view, "carol")


def test_a_private_window_is_renamed_with_its_partner() -> None:
    view = lobby("bob")
    view.apply(QueryStarted("bob"))
    update = view.apply(NickChanged("bob", "robert", NOON))
    assert update.renamed == [("bob", "robert")]
    assert list(view.windows) == [STATUS, "#lobby", "robert"]  # same place in the list
    assert view.current == "robert"
    assert texts(view, "robert")[-1] == "bob is now known as robert"


def test_own_nick_change() -> None:
    view = lobby()
    update = view.apply(NickChanged("alice", "alicia", NOON, own=True))
    assert view.nick == "alicia"
    assert update.status
    assert "alicia" in view.window.members
    assert texts(view, "#lobby")[-1] == "you are now known as alicia"


def test_modes_change_prefixes() -> None:
    view = lobby("bob", "carol")
    view.apply(MemberModes("#lobby", "+o-o+vk", ("bob", "alice", "carol", "secret")))
    members = view.window.members
    assert (members["bob"].prefix, members["alice"].prefix, members["carol"].prefix) == (
        "@",
        "",
        "+",
    )
    view.apply(MemberModes("#lobby", "+v", ("bob",)))
    assert members["bob"].prefixes == "@+"
    view.apply(MemberModes("#lobby", "-o", ("bob",)))
    assert members["bob"].prefix == "+"


def test_history_is_framed_and_never_unread() -> None:
    view = lobby()
    view.apply(Joined("#games"))
    view.apply(HistoryStarted("#lobby", NOON))
    view.apply(ChatLine("#lobby", "bob", "old news, alice", NOON, history=True, mention=True))
    view.apply(HistoryEnded("#lobby", NOON))
    assert texts(view, "#lobby")[-3:] == [
        "── history ──",
        "old news, alice",
        "── end of history ──",
    ]
    assert marks(view, "#lobby") == (0, False)


def test_losing_the_connection_and_coming_back() -> None:
    view = lobby("bob")
    view.apply(Joined("#games"))
    view.select("#lobby")
    view.apply(LagMeasured(0.02))
    view.apply(ConnectionLost("EOF", NOON))
    assert not view.connected
    assert view.lag is None
    assert not view.windows["#lobby"].joined
    assert view.windows["#lobby"].members == {}
    assert texts(view, "#games")[-1] == "disconnected: EOF"
    view.apply(Reconnecting(2.0, "the connection was lost", NOON))
    assert view.state == "disconnected, retrying in 2 s"
    view.apply(Connecting(1))
    view.apply(Registered("alice", "srv"))
    view.apply(Joined("#lobby"))
    view.apply(Joined("#games"))
    assert view.current == "#lobby"  # joining again does not move the user
    assert view.windows["#games"].joined


def test_leaving_a_room_keeps_its_window_until_closed() -> None:
    view = lobby("bob")
    view.apply(Left("#lobby", ""))
    assert not view.window.joined
    assert view.window.members == {}
    update = view.close("#lobby")
    assert update.removed == ["#lobby"]
    assert view.current == STATUS
    assert view.close(STATUS) == Update()


def test_topic_and_lag() -> None:
    view = lobby()
    assert view.apply(Topic("#lobby", "be nice")).status
    assert view.window.topic == "be nice"
    view.apply(LagMeasured(0.5))
    assert view.lag == 0.5


def test_cycling_and_jumping_to_activity() -> None:
    view = lobby("bob")
    view.apply(Joined("#games"))
    view.apply(Joined("#music"))
    view.apply(ChatLine("#lobby", "bob", "hey", NOON))
    view.apply(ChatLine("#games", "bob", "alice!", NOON, mention=True))
    assert view.next_marked().focus == "#games"  # a mention first
    assert view.next_marked().focus == "#lobby"
    assert view.next_marked() == Update()
    assert view.cycle(1).focus == "#games"
    assert view.cycle(-1).focus == "#lobby"
    assert view.cycle(-1).focus == STATUS
    assert view.cycle(-1).focus == "#music"


def test_completion_candidates() -> None:
    view = lobby("bob", "@Bea", "carol")
    assert view.completion_nicks() == ["Bea", "bob", "carol"]
    view.apply(Joined("#games"))
    assert view.channel_names() == ["#lobby", "#games"]


# -- Tab completion ---------------------------------------------------------------


NICKS = ["bob", "Bea", "carol"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ca", "carol: "),
        ("hi ca", "hi carol "),
        ("/jo", "/join "),
        ("/msg ca", "/msg carol "),
        ("!pri", "!private "),
        ("see #lo", "see #lobby "),
        ("/CL", "/close "),
    ],
)
def test_complete(value: str, expected: str) -> None:
    done = complete(value, len(value), nicks=NICKS, channels=["#lobby"], commands=["/close"])
    assert done is not None
    assert (done.value, done.cursor) == (expected, len(expected))


def test_complete_cycles_through_matches_in_order() -> None:
    done = complete("b", 1, nicks=NICKS)
    assert done is not None
    assert done.value == "Bea: "
    assert done.following().value == "bob: "
    assert done.following().following().value == "Bea: "


def test_complete_in_the_middle_keeps_the_rest() -> None:
    done = complete("ca said hi", 2, nicks=NICKS)
    assert done is not None
    assert (done.value, done.cursor) == ("carol: said hi", 6)


@pytest.mark.parametrize("value", ["", "hi ", "zed", "/nope", "!!!"])
def test_nothing_to_complete(value: str) -> None:
    assert complete(value, len(value), nicks=NICKS) is None


# -- input history ------------------------------------------------------------------


def test_input_history_walks_back_and_returns_to_the_draft() -> None:
    history = InputHistory()
    for line in ("one", "two", "two", "  ", "three"):
        history.add(line)
    assert history.next() is None
    assert history.previous("draft") == "three"
    assert history.previous("three") == "two"
    assert history.previous("two") == "one"
    assert history.previous("one") is None
    assert history.next() == "two"
    assert history.next() == "three"
    assert history.next() == "draft"
    assert history.next() is None


def test_input_history_is_bounded() -> None:
    history = InputHistory(limit=2)
    for line in ("a", "b", "c"):
        history.add(line)
    assert history.previous("") == "c"
    assert history.previous("c") == "b"
    assert history.previous("b") is None

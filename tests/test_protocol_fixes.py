"""The "protocol details found wrong" of issue 12, each with a state test.

(LUSERS 265/266, MODE +o nobody = 401 and 324 with parameters are covered
beside the tests they changed, in ``test_state.py`` and ``test_moderation.py``.)
"""

from __future__ import annotations

import pytest
from test_state import SERVER, Harness, room

from triochat._irc.wire import Message


def test_user_with_an_empty_realname_is_461() -> None:
    h = Harness()
    conn = h.connect()
    h.feed(conn, "NICK alice")
    assert h.feed(conn, "USER alice 0 * :").to(conn) == [
        f"{SERVER} 461 alice USER :Not enough parameters"
    ]
    assert not h.state.is_registered(conn)


def test_tagmsg_gets_a_msgid_and_is_not_recorded() -> None:
    h = Harness()
    alice = h.register("alice", caps=["message-tags"])
    bob = h.register("bob", caps=["message-tags"])
    h.feed(alice, "JOIN #room")
    h.feed(bob, "JOIN #room")
    out = h.feed(alice, "@+typing=active TAGMSG #room")
    [message] = out.messages(bob)
    assert message.command == "TAGMSG"
    assert message.tags["+typing"] == "active"
    assert message.tags["msgid"]
    assert "Record" not in {type(effect).__name__ for effect in out.effects}


def test_client_tags_past_4094_bytes_get_417() -> None:
    h = Harness()
    alice = h.register("alice", caps=["message-tags"])
    bob = h.register("bob", caps=["message-tags"])
    h.feed(alice, "JOIN #room")
    h.feed(bob, "JOIN #room")
    out = h.handle(alice, Message("TAGMSG", ("#room",), tags={"+big": "x" * 4100}))
    assert out.to(alice) == [f"{SERVER} 417 alice :Client tags too long (at most 4094 bytes)"]
    assert out.to(bob) == []
    fits = h.handle(alice, Message("TAGMSG", ("#room",), tags={"+big": "x" * 4000}))
    assert fits.codes(bob) == ["TAGMSG"]
    # A whole line past the limit never gets that far: the parser answers 417.
    assert h.feed(alice, "@+a=" + "y" * 9000 + " TAGMSG #room").codes(alice) == ["417"]


@pytest.mark.parametrize(
    ("mask", "nicks"),
    [
        ("*", ["alice", "bob", "carol", "dave"]),
        ("b*", ["bob"]),
        ("*.0.0.3", ["carol"]),  # host
        ("~car*", ["carol"]),  # user
        ("Real d*", ["dave"]),  # realname
        ("trio*", ["alice", "bob", "carol", "dave"]),  # server
        ("nobody*", []),
    ],
)
def test_who_with_a_mask(mask: str, nicks: list[str]) -> None:
    h = Harness()
    _, _, _, dave = room(h)
    lines = h.feed(dave, f"WHO :{mask}").to(dave)
    assert [line.split()[7] for line in lines[:-1]] == nicks
    assert lines[-1].endswith(":End of WHO list")


def test_who_hides_invisible_strangers_but_not_channel_peers() -> None:
    h = Harness()
    alice, bob, _, dave = room(h)
    h.feed(bob, "MODE bob +i")
    assert [line.split()[7] for line in h.feed(dave, "WHO b*").to(dave)[:-1]] == []
    assert [line.split()[7] for line in h.feed(alice, "WHO b*").to(alice)[:-1]] == ["bob"]
    assert h.feed(dave, "WHO bob").codes(dave) == ["352", "315"]  # asked for exactly
    assert h.feed(dave, "WHO #room").codes(dave) == ["352", "352", "315"]


def test_who_flags_show_away_and_status() -> None:
    h = Harness()
    alice, bob, _, _ = room(h)
    h.feed(bob, "AWAY :lunch")
    lines = h.feed(alice, "WHO #room").to(alice)
    assert lines[0] == f"{SERVER} 352 alice #room ~alice 10.0.0.1 triochat alice H@ :0 Real alice"
    assert lines[1] == f"{SERVER} 352 alice #room ~bob 10.0.0.2 triochat bob G :0 Real bob"


def test_whox() -> None:
    h = Harness()
    alice, _, _, _ = room(h)
    assert h.feed(alice, "WHO #room %tnfr,42").to(alice)[0] == (
        f"{SERVER} 354 alice 42 alice H@ :Real alice"
    )
    assert h.feed(alice, "WHO bob %cuhsn").to(alice)[0] == (
        f"{SERVER} 354 alice * ~bob 10.0.0.2 triochat bob"
    )


def test_admin_and_links() -> None:
    h = Harness()
    alice = h.register("alice")
    assert h.feed(alice, "ADMIN").codes(alice) == ["256", "257", "258", "259"]
    assert h.feed(alice, "LINKS").to(alice) == [
        f"{SERVER} 364 alice * triochat :0 triochat server",
        f"{SERVER} 365 alice * :End of /LINKS list",
    ]

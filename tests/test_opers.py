"""Server operators at the state level (issue 12): OPER, KILL, WALLOPS, server bans, STATS.

The password check is a question (an :class:`Ask`): these tests answer it
themselves, as the server's password service would, so no hashing runs here
(the hashing itself is tested in ``test_opers_server.py``).
"""

from __future__ import annotations

import pytest
from test_state import SERVER, A, Harness, Outcome, check_consistent, room

from triochat._config import ServerConfig
from triochat._state.effects import Ask, ConnId
from triochat._state.questions import PasswordCheck, Rehash, ServerBan, ServerBanChange

HASH = "$scrypt$ln=4,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
CONFIG = ServerConfig(motd=("hi",), opers=(("admin", HASH),))


def asks(out: Outcome) -> list[Ask]:
    return [effect for effect in out.effects if isinstance(effect, Ask)]


def oper_up(h: Harness, conn: ConnId) -> Outcome:
    """OPER admin, with the password service saying yes."""
    [ask] = asks(h.feed(conn, "OPER admin right"))
    assert isinstance(ask.question, PasswordCheck)
    return h._check(h.state.answer(conn, ask.question, True))


def test_oper_asks_for_a_password_check_and_gives_381_and_plus_o() -> None:
    h = Harness(CONFIG)
    alice = h.register("alice")
    out = h.feed(alice, "OPER admin secret")
    [ask] = asks(out)
    assert ask.conn == alice
    assert ask.question == PasswordCheck("admin", "secret", HASH)
    assert "secret" not in repr(ask.question)
    assert out.to(alice) == []
    answered = h._check(h.state.answer(alice, ask.question, True))
    assert answered.to(alice) == [
        f"{SERVER} 381 alice :You are now an IRC operator",
        f"{A} MODE alice +o",
    ]
    assert h.state.network.clients[alice].modes == {"o"}
    assert h.feed(alice, "MODE alice -o").to(alice) == [f"{A} MODE alice -o"]
    assert h.feed(alice, "MODE alice +o").effects == []  # only OPER gives +o


def test_three_failed_opers_in_a_minute_disconnect() -> None:
    h = Harness(CONFIG)
    alice = h.register("alice")
    bob = h.register("bob")
    h.feed(alice, "JOIN #room")
    h.feed(bob, "JOIN #room")
    [ask] = asks(h.feed(alice, "OPER admin wrong"))
    out = h._check(h.state.answer(alice, ask.question, False))
    assert out.to(alice) == [f"{SERVER} 464 alice :Password incorrect"]
    h.clock.advance(61)  # the first failure is forgotten after a minute
    assert h.feed(alice, "OPER nobody x").to(alice) == [f"{SERVER} 464 alice :Password incorrect"]
    assert h.feed(alice, "OPER nobody x").closed() == {}
    out = h.feed(alice, "OPER nobody x")
    assert out.closed() == {alice: "Closing link: Too many failed OPER attempts"}
    assert out.to(bob) == [f"{A} QUIT :Too many failed OPER attempts"]
    check_consistent(h.state)


def test_a_failed_password_service_is_a_failed_login() -> None:
    h = Harness(CONFIG)
    alice = h.register("alice")
    [ask] = asks(h.feed(alice, "OPER admin x"))
    out = h._check(h.state.unanswered(alice, ask.question))
    assert out.codes(alice) == ["464"]


@pytest.mark.parametrize(
    "line",
    [
        "KILL bob :x",
        "KLINE *@10.0.0.2 :x",
        "DLINE 10.0.0.2 :x",
        "UNKLINE *@x",
        "UNDLINE 10.0.0.2",
        "WALLOPS :hi",
        "STATS k",
        "STATS d",
        "STATS o",
        "REHASH",
    ],
)
def test_operator_commands_need_an_operator(line: str) -> None:
    h = Harness(CONFIG)
    alice, bob, _, _ = room(h)
    out = h.feed(alice, line)
    assert out.to(alice) == [f"{SERVER} 481 alice :Permission Denied- You're not an IRC operator"]
    assert out.recipients() == {alice}
    assert bob in h.state.network.clients


def test_kill() -> None:
    h = Harness(CONFIG)
    alice, bob, carol, _ = room(h)
    oper_up(h, alice)
    out = h.feed(alice, "KILL bob :spamming")
    assert out.to(bob) == [f"{A} KILL bob spamming"]
    assert out.closed() == {bob: "Closing link: Killed (alice (spamming))"}
    assert out.to(carol) == [":bob!~bob@10.0.0.2 QUIT :Killed (alice (spamming))"]
    assert bob not in h.state.network.clients
    assert h.feed(alice, "KILL nobody :x").codes(alice) == ["401"]
    check_consistent(h.state)


def test_wallops_reach_users_with_w() -> None:
    h = Harness(CONFIG)
    alice, bob, carol, _ = room(h)
    oper_up(h, alice)
    h.feed(bob, "MODE bob +w")
    out = h.feed(alice, "WALLOPS :maintenance at noon")
    assert out.to(bob) == [f"{A} WALLOPS :maintenance at noon"]
    assert out.to(carol) == []


def test_kline_disconnects_matching_users_and_refuses_them_at_registration() -> None:
    h = Harness(CONFIG)
    alice, bob, carol, _ = room(h)
    oper_up(h, alice)
    out = h.feed(alice, "KLINE *@10.0.0.2 :go away")
    assert out.to(alice)[0] == (
        f"{SERVER} NOTICE alice :Added K-line on *@10.0.0.2 until removed: go away"
    )
    [ask] = asks(out)
    assert ask.question == ServerBanChange(
        ServerBan("K", "*@10.0.0.2", "go away", "alice", h.clock.now, None)
    )
    assert out.closed() == {bob: "Closing link: K-lined: go away"}
    assert out.to(carol) == [":bob!~bob@10.0.0.2 QUIT :K-lined: go away"]
    # At registration, from the same address.
    again = h.connect(host="10.0.0.2")
    out = h.feed_all(again, "NICK bob2", "USER bob 0 * :Bob")
    assert out.to(again) == [f"{SERVER} 465 bob2 :You are banned from this server: go away"]
    assert out.closed() == {again: "Closing link: K-lined: go away"}
    assert not h.state.is_registered(again)
    assert h.feed(alice, "STATS k").to(alice) == [
        f"{SERVER} 216 alice K *@10.0.0.2 :go away",
        f"{SERVER} 219 alice k :End of /STATS report",
    ]
    out = h.feed(alice, "UNKLINE *@10.0.0.2")
    assert out.to(alice) == [f"{SERVER} NOTICE alice :Removed K-line on *@10.0.0.2"]
    assert [ask.question for ask in asks(out)] == [
        ServerBanChange(ServerBan("K", "*@10.0.0.2", "go away", "alice", h.clock.now), True)
    ]
    third = h.connect(host="10.0.0.2")
    assert "001" in h.feed_all(third, "NICK bob3", "USER bob 0 * :Bob").codes(third)
    check_consistent(h.state)


def test_a_timed_dline_lapses() -> None:
    h = Harness(CONFIG)
    alice = h.register("alice")
    oper_up(h, alice)
    out = h.feed(alice, "DLINE 10.9.0.0/16 5 :cool off")
    assert "for 5 minute(s)" in out.to(alice)[0]
    assert h.feed(alice, "STATS d").to(alice)[0] == f"{SERVER} 225 alice D 10.9.0.0/16 :cool off"
    banned = h.connect(host="10.9.3.4")
    assert h.feed_all(banned, "NICK x", "USER x 0 * :x").codes(banned) == ["465"]
    h.clock.advance(301)
    later = h.connect(host="10.9.3.4")
    assert "001" in h.feed_all(later, "NICK y", "USER y 0 * :y").codes(later)
    assert h.feed(alice, "STATS d").codes(alice) == ["219"]


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("DLINE not-an-ip :x", "NOTICE alice :DLINE: invalid mask 'not-an-ip'"),
        ("KLINE " + "x" * 500 + " :x", "NOTICE alice :KLINE: invalid mask '" + "x" * 60 + "'"),
        ("KLINE", "461 alice KLINE :Not enough parameters"),
        ("KLINE *@* :everyone", "NOTICE alice :KLINE: invalid mask '*@*'"),
        ("DLINE 0.0.0.0/0 :everyone", "NOTICE alice :DLINE: invalid mask '0.0.0.0/0'"),
        ("UNKLINE *@nothing", "NOTICE alice :No K-line on *@nothing"),
    ],
)
def test_bad_server_bans(line: str, reply: str) -> None:
    h = Harness(CONFIG)
    alice = h.register("alice")
    oper_up(h, alice)
    out = h.feed(alice, line)
    assert out.to(alice) == [f"{SERVER} {reply}"]
    assert not asks(out)


def test_an_unsaved_ban_is_said_to_last_until_a_restart() -> None:
    h = Harness(CONFIG)
    alice = h.register("alice")
    oper_up(h, alice)
    [ask] = asks(h.feed(alice, "KLINE *@evil :x"))
    out = h._check(h.state.answer(alice, ask.question, False))
    assert out.to(alice) == [
        f"{SERVER} NOTICE alice :The K-line on *@evil could not be saved: it lasts until a restart"
    ]


def test_an_oper_may_mode_and_kick_in_any_channel() -> None:
    h = Harness(CONFIG)
    _alice, bob, _, dave = room(h)
    oper_up(h, dave)
    assert h.feed(dave, "MODE #room +b bob").to(bob) == [
        ":dave!~dave@10.0.0.4 MODE #room +b bob!*@*"
    ]
    assert h.feed(dave, "KICK #room bob").to(bob) == [":dave!~dave@10.0.0.4 KICK #room bob dave"]
    assert h.feed(dave, "WHO *").to(dave)[-2].split()[8] == "H*"  # dave's own line
    assert "313" in h.feed(bob, "WHOIS dave").codes(bob)


def test_preloaded_bans_apply_at_registration() -> None:
    h = Harness(CONFIG)
    h.state.preload_bans([ServerBan("K", "*@10.0.0.1", "old", "x", 0.0)])
    conn = h.connect()
    assert h.feed_all(conn, "NICK a", "USER a 0 * :a").codes(conn) == ["465"]


def test_a_failed_oper_is_logged_with_the_address_and_never_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness(CONFIG)
    alice = h.register("alice")
    with caplog.at_level("WARNING", logger="triochat.oper"):
        [ask] = asks(h.feed(alice, "OPER admin hunter2"))
        h.state.answer(alice, ask.question, False)
    [record] = caplog.records
    assert "10.0.0.1" in record.getMessage()
    assert "admin" in record.getMessage()
    assert "hunter2" not in caplog.text


def test_rehash_asks_for_a_reload_and_tells_the_oper_what_it_did() -> None:
    h = Harness(CONFIG)
    alice, _, _, _ = room(h)
    oper_up(h, alice)
    out = h.feed(alice, "REHASH")
    assert out.to(alice) == [f"{SERVER} 382 alice configuration Rehashing"]
    [ask] = asks(out)
    assert ask.question == Rehash()
    notes = ["server_name changed: restart needed", "TLS certificate reloaded from c.pem"]
    answered = h._check(h.state.answer(alice, ask.question, notes))
    assert answered.to(alice) == [f"{SERVER} NOTICE alice :*** REHASH: {note}" for note in notes]
    assert answered.recipients() == {alice}
    failed = h._check(h.state.unanswered(alice, ask.question))
    assert failed.to(alice) == [
        f"{SERVER} NOTICE alice :*** REHASH: the reload failed; nothing changed"
    ]


def test_stats_o_names_the_operators_without_their_hashes_and_stats_u_the_uptime() -> None:
    h = Harness(CONFIG)
    alice = h.register("alice")
    h.clock.advance(2 * 86400 + 3 * 3600 + 4 * 60 + 5)
    assert h.feed(alice, "STATS u").to(alice) == [
        f"{SERVER} 242 alice :Server Up 2 days 3:04:05",
        f"{SERVER} 219 alice u :End of /STATS report",
    ]
    oper_up(h, alice)
    out = h.feed(alice, "STATS o")
    assert out.to(alice) == [
        f"{SERVER} 243 alice O * * admin",
        f"{SERVER} 219 alice o :End of /STATS report",
    ]
    assert HASH not in "".join(out.to(alice))

"""ChanServ, registered rooms, +R and ``$a:`` bans at the state level.

The room questions are answered at once by :class:`rooms_support.RoomHarness`
with the real room store (in memory), so what is saved is checked too.
"""

from __future__ import annotations

from dataclasses import replace

from rooms_support import RoomHarness, harness

from triochat._accounts.rooms import AccessEntry, ListEntry, RoomRegister, RoomSave
from triochat._config import ServerConfig
from triochat._irc.wire import parse
from triochat._state.advertised import isupport_tokens
from triochat._state.effects import Ask, ConnId


def founded(h: RoomHarness, room: str = "#room") -> ConnId:
    """alice, logged in, creates ``room`` and registers it."""
    alice = h.user("alice")
    h.feed(alice, f"JOIN {room}")
    assert h.cs(alice, f"REGISTER {room}") == [f"{room} is registered to alice"]
    return alice


def test_register_by_a_logged_in_operator_makes_the_founder() -> None:
    h = harness()
    founded(h)
    [question] = h.room_questions
    assert isinstance(question, RoomRegister)
    [stored] = h.store.rooms.all()
    assert (stored.name, stored.founder, stored.modes) == ("#room", "alice", "nt")
    bob = h.user("bob", account=False)
    info = h.cs(bob, "INFO #ROOM")
    assert info[0].startswith("#room is registered to alice since ")
    assert h.cs(bob, "INFO #other") == ["#other is not registered"]


def test_register_refused_when_logged_out() -> None:
    h = harness()
    bob = h.user("bob", account=False)
    h.feed(bob, "JOIN #room")
    assert h.cs(bob, "REGISTER #room") == ["Log in first (/msg NickServ IDENTIFY <password>)"]
    assert h.state.rooms.get("#room") is None
    assert h.room_questions == []


def test_register_refused_to_a_member_who_is_not_operator() -> None:
    h = harness()
    alice = h.user("alice")
    h.feed(alice, "JOIN #room")
    bob = h.user("bob")
    h.feed(bob, "JOIN #room")
    refusal = ["You must be a channel operator in #room to register it"]
    assert h.cs(bob, "REGISTER #room") == refusal
    assert h.cs(bob, "REGISTER #nowhere") == [
        "You must be a channel operator in #nowhere to register it"
    ]
    assert h.store.rooms.all() == []


def test_a_room_is_registered_once() -> None:
    h = harness()
    alice = founded(h)
    assert h.cs(alice, "REGISTER #Room") == ["#room is already registered"]
    assert len(h.room_questions) == 1


def test_chanserv_command_and_help_and_reserved_nick() -> None:
    h = harness()
    alice = h.user("alice")
    out = h.feed(alice, "CS HELP")
    assert any("REGISTER <#room>" in line for line in out.to(alice))
    # Which status is given once and which is remembered, in plain words.
    help_lines = h.cs(alice, "HELP")
    [once] = [line for line in help_lines if line.startswith("OP|VOICE")]
    assert "now, this once: it is not remembered" in once
    [kept] = [line for line in help_lines if line.startswith("ACCESS <#room> ADD")]
    assert "remembered: that account gets the status at every join" in kept
    assert h.cs(alice, "NONSENSE")[0].startswith("ChanServ keeps registered rooms")
    conn = h.connect()
    assert "432" in h.feed_all(conn, "NICK ChanServ", "USER x 0 * :x").codes(conn)


def test_without_accounts_there_is_no_chanserv() -> None:
    h = harness(accounts=False)
    alice = h.register("alice")
    out = h.feed(alice, "PRIVMSG ChanServ :REGISTER #room")
    assert "401" in out.codes(alice)  # no services without accounts: an unknown nick


def test_a_registered_room_keeps_topic_modes_and_lists_when_it_empties() -> None:
    h = harness()
    alice = founded(h)
    h.feed_all(
        alice,
        "TOPIC #room :kept across restarts",
        "MODE #room +sk secret",
        "MODE #room +l 10",
        "MODE #room +b carol!*@*",
        "MODE #room +e carol!*@friend",
    )
    [stored] = h.store.rooms.all()
    assert (stored.topic, stored.modes, stored.key, stored.limit) == (
        "kept across restarts",
        "nst",
        "secret",
        10,
    )
    assert [(e.letter, e.mask) for e in stored.lists] == [
        ("b", "carol!*@*"),
        ("e", "carol!*@friend"),
    ]
    assert sum(isinstance(q, RoomSave) for q in h.room_questions) == 5
    h.feed(alice, "PART #room")
    assert h.state.network.channel("#room") is None
    carol = h.user("carol", account=False)
    assert "474" in h.feed(carol, "JOIN #room secret").codes(carol)
    assert h.state.network.channel("#room") is None  # a refused JOIN leaves nothing behind
    bob = h.user("bob", account=False)
    assert "475" in h.feed(bob, "JOIN #room").codes(bob)
    out = h.feed(bob, "JOIN #room secret")
    assert "332" in out.codes(bob)
    assert any(line.endswith(":kept across restarts") for line in out.to(bob))
    channel = h.state.network.channel("#room")
    assert channel is not None
    assert channel.members[bob] == ""  # re-creating a registered room gives no status
    assert (channel.modes, channel.key, channel.limit) == ({"n", "s", "t"}, "secret", 10)
    assert "b" in channel.lists
    assert "e" in channel.lists


def test_the_founder_is_opped_on_join_and_the_access_list_gets_its_status() -> None:
    h = harness()
    alice = founded(h)
    bob = h.user("bob")
    dave = h.user("dave")
    assert h.cs(alice, "ACCESS #room ADD bob voice") == ["#room: bob is voice"]
    assert h.cs(alice, "ACCESS #room ADD dave op") == ["#room: dave is op"]
    [stored] = h.store.rooms.all()
    assert stored.access == (AccessEntry("bob", "voice"), AccessEntry("dave", "op"))
    out = h.feed(bob, "JOIN #room")
    assert ":ChanServ!ChanServ@triochat MODE #room +v bob" in out.to(alice)
    out = h.feed(dave, "JOIN #room")
    assert ":ChanServ!ChanServ@triochat MODE #room +o dave" in out.to(bob)
    h.feed(alice, "PART #room")
    out = h.feed(alice, "JOIN #room")
    assert ":ChanServ!ChanServ@triochat MODE #room +o alice" in out.to(alice)
    assert h.cs(dave, "ACCESS #room LIST") == [
        "#room: bob voice",
        "#room: dave op",
        "End of the access list of #room",
    ]
    assert h.cs(bob, "ACCESS #room LIST") == ["You need operator access to #room"]
    assert h.cs(alice, "ACCESS #room DEL bob") == ["#room: bob removed"]
    assert h.cs(alice, "ACCESS #room DEL bob") == ["bob is not on the access list of #room"]
    assert h.store.rooms.all()[0].access == (AccessEntry("dave", "op"),)


def test_access_refuses_bad_levels_accounts_and_non_founders() -> None:
    h = harness()
    alice = founded(h)
    bob = h.user("bob")
    assert h.cs(alice, "ACCESS #room ADD bob admin") == ["Unknown level admin: use op or voice"]
    assert h.cs(alice, "ACCESS #room ADD nobody op") == ["nobody is not a registered account"]
    assert h.cs(alice, "ACCESS #room ADD bob") == [
        "Syntax: ACCESS <#room> ADD <account> <op|voice> | DEL <account>"
    ]
    assert h.cs(bob, "ACCESS #room ADD bob op") == ["Only the founder of #room may do that"]
    assert h.cs(alice, "ACCESS #none ADD bob op") == ["#none is not registered"]
    assert h.store.rooms.all()[0].access == ()


def test_op_and_voice_by_whoever_has_operator_access() -> None:
    h = harness()
    alice = founded(h)
    bob = h.user("bob", account=False)
    h.feed(bob, "JOIN #room")
    assert h.cs(bob, "OP #room bob") == ["You need operator access to #room"]
    out = h.feed(alice, "PRIVMSG ChanServ :VOICE #room bob")
    assert ":ChanServ!ChanServ@triochat MODE #room +v bob" in out.to(bob)
    assert h.cs(alice, "OP #room nobody") == ["nobody is not in #room"]


def test_drop_is_for_the_founder_only() -> None:
    h = harness()
    alice = founded(h)
    bob = h.user("bob")
    assert h.cs(bob, "DROP #room") == ["Only the founder of #room may do that"]
    assert h.cs(bob, "DROP #elsewhere") == ["#elsewhere is not registered"]
    assert h.store.rooms.all() != []
    assert h.cs(alice, "DROP #room") == ["#room has been dropped"]
    assert h.store.rooms.all() == []
    assert h.state.rooms.get("#room") is None
    h.feed(alice, "TOPIC #room :not saved")
    assert not any(isinstance(q, RoomSave) for q in h.room_questions)


def test_a_dropped_and_re_registered_account_is_not_the_founder() -> None:
    h = harness()
    alice = founded(h)
    room = h.state.rooms.get("#room")
    assert room is not None
    h.state.rooms.put(replace(room, founder_id=room.founder_id + 100))  # "alice" of another id
    assert h.cs(alice, "DROP #room") == ["Only the founder of #room may do that"]


def test_dropping_a_founders_account_unregisters_its_rooms_as_ergo_does() -> None:
    """NickServ DROP leaves no room founded by nobody: like Ergo's unregister, the rooms the
    account founded stop being registered (they go on as ordinary rooms), and its access
    entries elsewhere go too, so a newcomer registering the name inherits nothing."""
    h = harness()
    alice = founded(h)
    h.feed(alice, "JOIN #second")
    assert h.cs(alice, "REGISTER #second") == ["#second is registered to alice"]
    bob = h.user("bob")
    h.feed(bob, "JOIN #bobs")
    assert h.cs(bob, "REGISTER #bobs") == ["#bobs is registered to bob"]
    assert h.cs(bob, "ACCESS #bobs ADD alice op") == ["#bobs: alice is op"]
    dropped = h.cs_like(alice, "NickServ", "DROP alice")
    assert dropped == [
        "alice has been dropped; its history stays with it. The rooms it founded are no"
        " longer registered: #room, #second"
    ]
    assert [room.name for room in h.store.rooms.all()] == ["#bobs"]
    assert h.store.rooms.all()[0].access == ()
    assert h.state.rooms.get("#room") is None
    assert h.state.rooms.get("#second") is None
    bobs = h.state.rooms.get("#bobs")
    assert bobs is not None
    assert bobs.access == ()
    assert h.state.network.channel("#room") is not None  # the room itself goes on
    h.feed(alice, "TOPIC #room :not saved")
    assert not any(isinstance(q, RoomSave) and q.room.name == "#room" for q in h.room_questions)
    # Someone registers "alice" again: no founder rights, no access anywhere.
    h.create("alice", "secret2")
    assert h.cs_like(alice, "NickServ", "IDENTIFY secret2")[-1].startswith("You are now")
    assert h.cs(alice, "OP #bobs alice") == ["You need operator access to #bobs"]


def test_dropping_an_account_without_rooms_says_nothing_of_rooms() -> None:
    h = harness()
    bob = h.user("bob")
    assert h.cs_like(bob, "NickServ", "DROP bob") == [
        "bob has been dropped; its history stays with it"
    ]


def test_a_save_the_database_refuses_is_said_and_kept_in_memory() -> None:
    h = harness()
    alice = founded(h)
    effects = h.state.handle(alice, parse(b"TOPIC #room :new topic"))
    [ask] = [effect for effect in effects if isinstance(effect, Ask)]
    out = h.state.unanswered(alice, ask.question)
    assert any("not saved" in str(effect) for effect in out)
    room = h.state.rooms.get("#room")
    assert room is not None
    assert room.topic == "new topic"


def test_plus_r_lets_only_logged_in_users_join() -> None:
    h = harness()
    alice = h.user("alice")
    out = h.feed_all(alice, "JOIN #room", "MODE #room +R")
    assert out.to(alice)[-1].endswith(" MODE #room +R")
    bob = h.user("bob", account=False)
    out = h.feed(bob, "JOIN #room")
    why = "Cannot join channel (+R) - you need to be logged into your account"
    assert out.to(bob) == [f":triochat 477 bob #room :{why}"]
    h.create("bob", "secret1")
    h.cs_like(bob, "NickServ", "IDENTIFY secret1")
    assert "366" in h.feed(bob, "JOIN #room").codes(bob)


def test_plus_r_needs_accounts() -> None:
    h = harness(accounts=False)
    alice = h.register("alice")
    out = h.feed_all(alice, "JOIN #room", "MODE #room +R")
    assert "472" in out.codes(alice)
    channel = h.state.network.channel("#room")
    assert channel is not None
    assert "R" not in channel.modes


def test_account_bans_match_after_a_login_and_not_before() -> None:
    h = harness()
    alice = h.user("alice")
    h.feed(alice, "JOIN #room")
    out = h.feed(alice, "MODE #room +b $A:bob")
    assert any(line.endswith("MODE #room +b $a:bob") for line in out.to(alice))
    h.create("bob", "secret1")
    bob = h.register("bob")
    assert "366" in h.feed(bob, "JOIN #room").codes(bob)
    assert "404" not in h.feed(bob, "PRIVMSG #room :before").codes(bob)  # verdict now cached
    h.cs_like(bob, "NickServ", "IDENTIFY secret1")
    assert "404" in h.feed(bob, "PRIVMSG #room :after").codes(bob)
    h.feed(bob, "PART #room")
    assert "474" in h.feed(bob, "JOIN #room").codes(bob)
    h.feed(alice, "MODE #room +e $a:b*")
    assert "366" in h.feed(bob, "JOIN #room").codes(bob)


def test_bad_extended_bans_are_refused() -> None:
    h = harness()
    alice = h.user("alice")
    h.feed(alice, "JOIN #room")
    for mask in ("$x:bob", "$a:", "$a"):
        out = h.feed(alice, f"MODE #room +b {mask}")
        assert "696" in out.codes(alice), mask
    channel = h.state.network.channel("#room")
    assert channel is not None
    assert "b" not in channel.lists


def test_extban_is_advertised_with_accounts() -> None:
    assert "EXTBAN=$,a" in isupport_tokens(ServerConfig())
    assert "EXTBAN=$,a" not in isupport_tokens(ServerConfig(accounts=False))


def test_preloaded_rooms_are_restored_by_a_join() -> None:
    h = harness()
    founded(h)
    h.feed(next(iter(h.state.network.clients)), "MODE #room +b $a:troll")
    rooms = h.store.rooms.all()
    assert rooms[0].lists == (ListEntry("b", "$a:troll", "alice", int(h.clock.now)),)
    fresh = harness()
    fresh.state.preload_rooms(rooms)
    bob = fresh.user("bob", account=False)
    fresh.feed(bob, "JOIN #room")
    channel = fresh.state.network.channel("#room")
    assert channel is not None
    assert [e.mask for e in channel.lists["b"]] == ["$a:troll"]


def test_a_failed_registration_is_undone() -> None:
    h = harness()
    alice = h.user("alice")
    h.feed(alice, "JOIN #room")
    effects = h.state.handle(alice, parse(b"PRIVMSG ChanServ :REGISTER #room"))
    [ask] = [effect for effect in effects if isinstance(effect, Ask)]
    assert h.state.rooms.get("#room") is not None  # a JOIN meanwhile already sees it
    out = h.state.unanswered(alice, ask.question)
    assert h.state.rooms.get("#room") is None
    assert any("could not be registered" in str(effect) for effect in out)

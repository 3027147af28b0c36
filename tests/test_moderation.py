"""Moderation at the state level (issue 12): channel modes, bans, invitations, keys, limits.

Pure state tests with the :class:`~test_state.Harness`: raw lines in, exact
reply lines out. Operators and server bans are in ``test_opers.py``.
"""

from __future__ import annotations

import pytest
from test_state import SERVER, START, A, B, Harness, check_consistent, room

from triochat._config import ServerConfig
from triochat._irc.masks import MAX_MASK_LENGTH, MaskSet, mask_matches, normalize_mask
from triochat._irc.wire import Message
from triochat._state.advertised import MAX_LIST, MODES_PER_LINE, isupport_tokens
from triochat._state.effects import Ask
from triochat._state.questions import ContinueList

# ---------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mask", "text", "matches"),
    [
        ("bob!*@*", "bob!~bob@10.0.0.2", True),
        ("BOB!*@*", "bob!~bob@10.0.0.2", True),
        ("b?b!*@*", "bub!x@h", True),
        ("b?b!*@*", "bb!x@h", False),
        ("*!*@10.0.0.*", "carol!~c@10.0.0.3", True),
        ("*!*@10.0.0.*", "carol!~c@10.0.1.3", False),
        ("nick[a]!*@*", "NICK{A}!u@h", True),  # rfc1459: [] are the upper case of {}
        ("a.b!*@*", "axb!u@h", False),  # a dot is a dot, not any character
        ("(x)+!*@*", "(x)+!u@h", True),  # regex characters are literal
    ],
)
def test_masks_match_under_the_casemapping(mask: str, text: str, matches: bool) -> None:
    assert mask_matches(mask, text) is matches
    assert MaskSet([mask]).match(text) is matches
    assert MaskSet(["zzz!*@*", mask]).match(text) is matches


def test_an_empty_mask_set_matches_nothing() -> None:
    assert not MaskSet([]).match("a!b@c")


@pytest.mark.parametrize(
    ("given", "full"),
    [
        ("bob", "bob!*@*"),
        ("*@host.example", "*!*@host.example"),
        ("bob!user", "bob!user@*"),
        ("10.0.0.1", "*!*@10.0.0.1"),
        ("a!b@c", "a!b@c"),
    ],
)
def test_masks_are_completed(given: str, full: str) -> None:
    assert normalize_mask(given) == full


# ---------------------------------------------------------------------------
# ISUPPORT and the mode table
# ---------------------------------------------------------------------------


def test_isupport_advertises_the_modes_and_lists() -> None:
    tokens = isupport_tokens(ServerConfig())
    assert "CHANMODES=beI,k,l,imnpst" in tokens
    assert "PREFIX=(ov)@+" in tokens
    assert f"MAXLIST=beI:{MAX_LIST}" in tokens
    assert f"MODES={MODES_PER_LINE}" in tokens
    assert {"EXCEPTS=e", "INVEX=I", "ELIST=CMNTU", "KEYLEN=23"} <= set(tokens)
    assert any(token.startswith("TARGMAX=") and "KICK:" in token for token in tokens)


# ---------------------------------------------------------------------------
# Bans and exceptions
# ---------------------------------------------------------------------------


def test_a_ban_is_listed_and_keeps_the_banned_out() -> None:
    h = Harness()
    alice, bob, _, dave = room(h)
    out = h.feed(alice, "MODE #room +b dave")
    assert out.to(bob) == [f"{A} MODE #room +b dave!*@*"]
    assert h.feed(bob, "MODE #room +b").to(bob) == [
        f"{SERVER} 367 bob #room dave!*@* alice {int(START)}",
        f"{SERVER} 368 bob #room :End of channel ban list",
    ]
    assert h.feed(dave, "JOIN #room").to(dave) == [
        f"{SERVER} 474 dave #room :Cannot join channel (+b)"
    ]
    h.feed(alice, "MODE #room -b DAVE!*@*")
    assert "JOIN" in h.feed(dave, "JOIN #room").codes(dave)
    check_consistent(h.state)


def test_an_exception_lets_a_banned_user_in() -> None:
    h = Harness()
    alice, _, _, dave = room(h)
    h.feed(alice, "MODE #room +be *!*@10.0.0.* dave")
    assert h.feed(alice, "MODE #room e").to(alice)[0] == (
        f"{SERVER} 348 alice #room dave!*@* alice {int(START)}"
    )
    assert "JOIN" in h.feed(dave, "JOIN #room").codes(dave)


def test_a_banned_member_cannot_speak_unless_voiced() -> None:
    h = Harness()
    alice, bob, carol, _ = room(h)
    h.feed(alice, "MODE #room +b bob")
    assert h.feed(bob, "PRIVMSG #room :hi").to(bob) == [
        f"{SERVER} 404 bob #room :Cannot send to channel"
    ]
    h.feed(alice, "MODE #room +v bob")
    assert h.feed(bob, "PRIVMSG #room :hi").to(carol) == [f"{B} PRIVMSG #room hi"]
    h.feed(alice, "MODE #room -vb bob bob")
    assert h.feed(bob, "PRIVMSG #room :free").to(carol) == [f"{B} PRIVMSG #room free"]


def test_the_ban_verdict_follows_nick_changes_and_list_changes() -> None:
    h = Harness()
    alice, bob, carol, _ = room(h)
    h.feed(alice, "MODE #room +b robert!*@*")
    assert h.feed(bob, "PRIVMSG #room :one").to(carol)  # cached: not banned
    h.feed(bob, "NICK robert")
    assert h.feed(bob, "PRIVMSG #room :two").codes(bob) == ["404"]
    h.feed(bob, "NICK bob")
    assert h.feed(bob, "PRIVMSG #room :three").to(carol)
    h.feed(alice, "MODE #room +b bob")
    assert h.feed(bob, "PRIVMSG #room :four").codes(bob) == ["404"]
    h.feed(alice, "MODE #room +e bob")
    assert h.feed(bob, "PRIVMSG #room :five").to(carol)


def test_a_ban_list_has_a_cap() -> None:
    h = Harness()
    alice, _, _, _ = room(h)
    for start in range(0, MAX_LIST, MODES_PER_LINE):
        masks = " ".join(f"n{n}" for n in range(start, start + MODES_PER_LINE))
        h.feed(alice, f"MODE #room +{'b' * MODES_PER_LINE} {masks}")
    assert len(h.state.network.channels["#room"].lists["b"]) == MAX_LIST
    assert h.feed(alice, "MODE #room +bb extra1 extra2").to(alice) == [
        f"{SERVER} 478 alice #room b :Channel list is full"
    ]
    assert len(h.state.network.channels["#room"].lists["b"]) == MAX_LIST


def test_a_mask_of_ten_thousand_characters_is_refused() -> None:
    h = Harness()
    alice, bob, _, _ = room(h)
    huge = "x" * 10_000
    # On the wire such a line is too long (417); a longer line limit must still refuse it.
    assert h.feed(alice, f"MODE #room +b {huge}").codes(alice) == ["417"]
    out = h.handle(alice, Message("MODE", ("#room", "+b", huge)))
    assert out.to(alice) == [
        f"{SERVER} 696 alice #room b {'x' * MAX_MASK_LENGTH} "
        f":Mask too long (at most {MAX_MASK_LENGTH} characters)"
    ]
    assert out.to(bob) == []
    assert "b" not in h.state.network.channels["#room"].lists


def test_only_operators_change_lists_but_anyone_may_read_them() -> None:
    h = Harness()
    _, bob, _, dave = room(h)
    assert h.feed(bob, "MODE #room +b dave").to(bob) == [
        f"{SERVER} 482 bob #room :You're not channel operator"
    ]
    assert h.feed(dave, "MODE #room bI").codes(dave) == ["368", "347"]


# ---------------------------------------------------------------------------
# MODE: bad input
# ---------------------------------------------------------------------------


def test_a_thousand_mode_changes_in_one_line() -> None:
    h = Harness()
    alice, bob, _, _ = room(h)
    out = h.handle(alice, Message("MODE", ("#room", "+m-m" * 500 + "+m")))
    assert out.to(bob) == [f"{A} MODE #room +m"]
    out = h.handle(alice, Message("MODE", ("#room", "x" * 1000)))
    assert out.to(alice) == [f"{SERVER} 472 alice x :is unknown mode char to me"]


def test_at_most_modes_changes_with_a_parameter_per_line() -> None:
    h = Harness()
    alice, bob, _, _ = room(h)
    masks = " ".join(f"m{n}" for n in range(10))
    out = h.feed(alice, f"MODE #room +bbbbbbbbbb {masks}")
    applied = " ".join(f"m{n}!*@*" for n in range(MODES_PER_LINE))
    assert out.to(bob) == [f"{A} MODE #room +{'b' * MODES_PER_LINE} {applied}"]
    assert out.to(alice)[0] == (
        f"{SERVER} NOTICE alice :MODE #room: {10 - MODES_PER_LINE} change(s) not applied;"
        f" at most {MODES_PER_LINE} with a parameter per line (MODES={MODES_PER_LINE})"
    )


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("MODE #room +k", "461 alice MODE :Not enough parameters"),
        ("MODE #room +l", "461 alice MODE :Not enough parameters"),
        ("MODE #room +z", "472 alice z :is unknown mode char to me"),
        ("MODE #room +k a b", "525 alice #room :Key is not well-formed"),
        ("MODE #room +k a,b", "525 alice #room :Key is not well-formed"),
        ("MODE #room +k a\x01b", "525 alice #room :Key is not well-formed"),
        ("MODE #room +k " + "k" * 24, "525 alice #room :Key is not well-formed"),
        ("MODE #room +l x", "696 alice #room l x :Limit must be a number from 1 to 1000000"),
        ("MODE #room +l 0", "696 alice #room l 0 :Limit must be a number from 1 to 1000000"),
        ("MODE #room +l -5", "696 alice #room l -5 :Limit must be a number from 1 to 1000000"),
        (
            "MODE #room +l " + "9" * 5000,
            "696 alice #room l "
            + "9" * MAX_MASK_LENGTH
            + " :Limit must be a number from 1 to 1000000",
        ),
    ],
)
def test_bad_mode_parameters_are_refused_and_never_stored(line: str, reply: str) -> None:
    h = Harness()
    alice, bob, _, _ = room(h)
    out = h.handle(alice, Message("MODE", tuple(line.split(" ", 3)[1:])))
    assert out.to(alice) == [f"{SERVER} {reply}"]
    assert out.to(bob) == []
    channel = h.state.network.channels["#room"]
    assert (channel.key, channel.limit, channel.modes) == (None, None, {"n", "t"})


# ---------------------------------------------------------------------------
# Keys, limits, invite-only
# ---------------------------------------------------------------------------


def test_a_key_is_needed_to_join_and_shown_to_members_only() -> None:
    h = Harness()
    alice, bob, _, dave = room(h)
    assert h.feed(alice, "MODE #room +kl sesame 10").to(bob) == [f"{A} MODE #room +kl sesame 10"]
    assert h.feed(bob, "MODE #room").to(bob)[0] == f"{SERVER} 324 bob #room +klnt sesame 10"
    assert h.feed(dave, "MODE #room").to(dave)[0] == f"{SERVER} 324 dave #room +klnt * 10"
    assert h.feed(dave, "JOIN #room").to(dave) == [
        f"{SERVER} 475 dave #room :Cannot join channel (+k)"
    ]
    assert h.feed(dave, "JOIN #room wrong").codes(dave) == ["475"]
    out = h.feed(dave, "JOIN #other,#room x,sesame")
    assert out.codes(dave).count("JOIN") == 2
    h.feed(alice, "MODE #room -k whatever")
    assert h.state.network.channels["#room"].key is None


def test_a_full_channel_refuses_joins() -> None:
    h = Harness()
    alice, _, _, dave = room(h)
    h.feed(alice, "MODE #room +l 3")
    assert h.feed(dave, "JOIN #room").to(dave) == [
        f"{SERVER} 471 dave #room :Cannot join channel (+l)"
    ]
    h.feed(alice, "MODE #room -l")
    assert "JOIN" in h.feed(dave, "JOIN #room").codes(dave)


def test_invite_only_with_invite() -> None:
    h = Harness()
    alice, bob, _, dave = room(h)
    h.feed(alice, "MODE #room +i")
    assert h.feed(dave, "JOIN #room").to(dave) == [
        f"{SERVER} 473 dave #room :Cannot join channel (+i)"
    ]
    assert h.feed(bob, "INVITE dave #room").to(bob) == [
        f"{SERVER} 482 bob #room :You're not channel operator"
    ]
    out = h.feed(alice, "INVITE dave #room")
    assert out.to(alice) == [f"{SERVER} 341 alice dave #room"]
    assert out.to(dave) == [f"{A} INVITE dave #room"]
    assert h.feed(dave, "INVITE").to(dave) == [
        f"{SERVER} 336 dave #room",
        f"{SERVER} 337 dave :End of /INVITE list",
    ]
    assert "JOIN" in h.feed(dave, "JOIN #room").codes(dave)
    assert h.feed(dave, "INVITE").to(dave) == [f"{SERVER} 337 dave :End of /INVITE list"]
    # Used up: after leaving, the invitation is gone.
    h.feed(dave, "PART #room")
    assert h.feed(dave, "JOIN #room").codes(dave) == ["473"]


def test_an_invite_exception_lets_a_mask_in() -> None:
    h = Harness()
    alice, _, _, dave = room(h)
    h.feed(alice, "MODE #room +iI *!*@10.0.0.4")
    assert "JOIN" in h.feed(dave, "JOIN #room").codes(dave)


def test_an_invitation_ends_when_the_channel_empties() -> None:
    h = Harness()
    alice = h.register("alice")
    dave = h.register("dave")
    h.feed(alice, "JOIN #solo")
    h.feed(alice, "INVITE dave #solo")
    invitation = h.state.network.clients[dave].invites["#solo"]
    h.feed(alice, "PART #solo")
    assert "#solo" not in h.state.network.channels
    assert invitation() is None  # the invitation did not keep the channel's state alive
    assert h.feed(dave, "INVITE").to(dave) == [f"{SERVER} 337 dave :End of /INVITE list"]
    h.feed(alice, "JOIN #solo")
    h.feed(alice, "MODE #solo +i")
    assert h.feed(dave, "JOIN #solo").codes(dave) == ["473"]


@pytest.mark.parametrize(
    ("who", "line", "reply"),
    [
        ("alice", "INVITE bob #room", "443 alice bob #room :is already on channel"),
        ("alice", "INVITE nobody #room", "401 alice nobody :No such nick/channel"),
        ("alice", "INVITE dave #nowhere", "403 alice #nowhere :No such channel"),
        ("dave", "INVITE carol #room", "442 dave #room :You're not on that channel"),
        ("alice", "INVITE dave", "461 alice INVITE :Not enough parameters"),
    ],
)
def test_invite_errors(who: str, line: str, reply: str) -> None:
    h = Harness()
    conns = dict(zip(("alice", "bob", "carol", "dave"), room(h), strict=True))
    assert h.feed(conns[who], line).to(conns[who]) == [f"{SERVER} {reply}"]


def test_invite_notify_tells_the_operators() -> None:
    h = Harness()
    alice = h.register("alice", caps=["invite-notify"])
    bob = h.register("bob", caps=["invite-notify"])
    dave = h.register("dave")
    h.feed(alice, "JOIN #room")
    h.feed(bob, "JOIN #room")
    h.feed(alice, "MODE #room +o bob")
    out = h.feed(alice, "INVITE dave #room")
    assert out.to(bob) == [f"{A} INVITE dave #room"]
    assert out.to(dave) == [f"{A} INVITE dave #room"]


# ---------------------------------------------------------------------------
# Secret and private channels
# ---------------------------------------------------------------------------


def test_secret_channels_are_hidden_from_outsiders() -> None:
    h = Harness()
    alice, bob, _, dave = room(h)
    h.feed(alice, "MODE #room +s")
    assert h.feed(dave, "NAMES #room").to(dave) == [f"{SERVER} 366 dave #room :End of /NAMES list"]
    assert h.feed(bob, "NAMES #room").to(bob)[0].startswith(f"{SERVER} 353 bob @ #room :")
    assert h.feed(dave, "LIST").codes(dave) == ["321", "323"]
    assert h.feed(bob, "LIST").codes(bob) == ["321", "322", "323"]
    assert h.feed(dave, "WHO #room").codes(dave) == ["315"]
    assert "319" not in h.feed(dave, "WHOIS bob").codes(dave)
    assert h.feed(dave, "MODE #room b").codes(dave) == ["442"]
    assert "319" in h.feed(alice, "WHOIS bob").codes(alice)


def test_private_channels_show_a_star_in_names() -> None:
    h = Harness()
    alice, bob, _, dave = room(h)
    h.feed(alice, "MODE #room +p")
    assert h.feed(bob, "NAMES #room").to(bob)[0].startswith(f"{SERVER} 353 bob * #room :")
    assert h.feed(dave, "LIST").codes(dave) == ["321", "323"]


# ---------------------------------------------------------------------------
# KICK with several targets
# ---------------------------------------------------------------------------


def test_kick_one_nick_from_several_channels() -> None:
    h = Harness()
    alice, bob, _, _ = room(h)
    h.feed(alice, "JOIN #two")
    h.feed(bob, "JOIN #two")
    out = h.feed(alice, "KICK #room,#two bob :out")
    assert out.to(bob) == [f"{A} KICK #room bob out", f"{A} KICK #two bob out"]
    assert h.state.network.clients[bob].channels == {}


def test_kick_pairs_and_mismatched_lists() -> None:
    h = Harness()
    alice, _, carol, _ = room(h)
    h.feed(alice, "JOIN #two")
    h.feed(carol, "JOIN #two")
    out = h.feed(alice, "KICK #room,#two bob,carol")
    assert out.to(alice) == [f"{A} KICK #room bob alice", f"{A} KICK #two carol alice"]
    assert h.feed(alice, "KICK #room,#two a,b,c").codes(alice) == ["461"]


# ---------------------------------------------------------------------------
# LIST: filters and streaming
# ---------------------------------------------------------------------------


def test_list_filters() -> None:
    h = Harness()
    alice, _, _, dave = room(h)
    h.feed(dave, "JOIN #lonely")
    h.clock.advance(600)
    h.feed(dave, "JOIN #new")
    h.feed(alice, "TOPIC #room :hello")

    def listed(filters: str) -> list[str]:
        lines = h.feed(alice, f"LIST {filters}").to(alice)
        return [line.split()[3] for line in lines if " 322 " in line]

    assert listed(">2") == ["#room"]
    assert listed("<2") == ["#lonely", "#new"]
    assert listed("C>5") == ["#room", "#lonely"]
    assert listed("C<5") == ["#new"]
    assert listed("T<1") == ["#room"]
    assert listed("T>1") == []
    assert listed("*o*") == ["#room", "#lonely"]
    assert listed("!*o*") == ["#new"]
    assert listed("#LONELY,#nowhere") == ["#lonely"]


def test_a_long_list_is_answered_in_chunks() -> None:
    h = Harness(ServerConfig(max_channels=1000))
    alice = h.register("alice")
    for n in range(450):
        h.feed(alice, f"JOIN #c{n}")
    out = h.feed(alice, "LIST")
    asks = [effect for effect in out.effects if isinstance(effect, Ask)]
    assert len(asks) == 1
    assert isinstance(asks[0].question, ContinueList)
    lines = out.codes(alice)
    assert lines[0] == "321"
    assert "323" not in lines
    total = lines.count("322")
    while True:
        effects = h.state.answer(alice, asks[0].question, None)
        sent = h._check(effects)
        total += sent.codes(alice).count("322")
        if "323" in sent.codes(alice):
            assert not any(isinstance(effect, Ask) for effect in effects)
            break
    assert total == 450
    assert h.state.network.clients[alice].listing is None


def test_a_channel_forgets_its_modes_and_lists_when_it_empties() -> None:
    h = Harness()
    alice, bob, carol, _ = room(h)
    h.feed(alice, "MODE #room +bkli dave sesame 5")
    for conn in (alice, bob, carol):
        h.feed(conn, "PART #room")
    assert "#room" not in h.state.network.channels
    h.feed(bob, "JOIN #room")
    assert h.feed(bob, "MODE #room").to(bob)[0] == f"{SERVER} 324 bob #room +nt"
    assert h.feed(bob, "MODE #room b").codes(bob) == ["368"]


def test_the_ban_check_matches_once_per_member_not_once_per_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """100 bans compile into one matcher; each member is matched once until something changes."""
    calls: list[str] = []
    original = MaskSet.match

    def counting(self: MaskSet, text: str) -> bool:
        calls.append(text)
        return original(self, text)

    monkeypatch.setattr(MaskSet, "match", counting)
    h = Harness()
    alice, bob, carol, _ = room(h)
    for start in range(0, 100, MODES_PER_LINE):
        masks = " ".join(f"bad{n}" for n in range(start, start + MODES_PER_LINE))
        h.feed(alice, f"MODE #room +{'b' * MODES_PER_LINE} {masks}")
    for n in range(50):
        assert h.feed(bob, f"PRIVMSG #room :message {n}").to(carol)
    assert calls == ["bob!~bob@10.0.0.2"]
    h.feed(alice, "MODE #room -b bad0")  # the list changed: judged again, once
    for n in range(5):
        h.feed(bob, f"PRIVMSG #room :again {n}")
    assert len(calls) == 2

"""Accounts at the state level: SASL, REGISTER, PASS, what an account shows, and attacks.

The state is fed raw lines; its account questions are answered at once by
:class:`accounts_support.AccountHarness` against a real in-memory store with
the real hashing, so every exchange here is the one a client would see.
"""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest
from accounts_support import AccountHarness, b64
from test_state import MOTD, SERVER

from triochat._accounts.records import Login, Lookup, Register
from triochat._accounts.sasl import scram_client_final, scram_client_first
from triochat._config import ServerConfig
from triochat._history.records import HistoryQuery
from triochat._state.effects import Ask, ConnId, Record, Send, Timer
from triochat._state.model import PeerInfo

LOGGED_IN = f"{SERVER} 900 alice alice!~alice@10.0.0.1 alice :You are now logged in as alice"
SUCCESS = f"{SERVER} 903 alice :SASL authentication successful"
FAILED = f"{SERVER} 904 alice :SASL authentication failed"


def harness(**changes: object) -> AccountHarness:
    return AccountHarness(replace(ServerConfig(motd=MOTD), **changes))  # type: ignore[arg-type]


# -- SASL PLAIN -------------------------------------------------------------------


def test_cap_ls_302_offers_sasl_mechanisms_and_registration() -> None:
    h = harness()
    conn = h.connect()
    [line] = h.feed(conn, "CAP LS 302").to(conn)
    offered = line.split(" :", 1)[1].split()
    assert "sasl=SCRAM-SHA-256,PLAIN,EXTERNAL" in offered
    assert "draft/account-registration=before-connect" in offered
    assert {"account-tag", "account-notify", "extended-join"} <= set(offered)
    [old] = h.feed(conn, "CAP LS").to(conn)  # before 302: names only
    assert " sasl " in f" {old.split(' :', 1)[1]} "


def test_sasl_plain_logs_in_and_registration_waits_for_it() -> None:
    h = harness()
    h.create("alice", "secret1")
    conn = h.start("alice")
    assert h.feed(conn, "AUTHENTICATE PLAIN").to(conn) == [f"{SERVER} AUTHENTICATE +"]
    assert h.feed(conn, "CAP END").to(conn) == []  # SASL in progress: no welcome yet
    out = h.feed(conn, "AUTHENTICATE " + b64("\0alice\0secret1"))
    assert out.to(conn)[:3] == [
        LOGGED_IN,
        SUCCESS,
        f"{SERVER} 001 alice :Welcome to the triochat IRC Network, alice!~alice@10.0.0.1",
    ]
    client = h.state.network.clients[conn]
    assert client.account == "alice"
    assert client.session.startswith("account:")


def test_wrong_password_and_unknown_account_get_the_same_904() -> None:
    h = harness()
    h.create("alice", "secret1")
    first = h.start("alice")
    assert h.plain(first, "alice", "wrong!").to(first) == [FAILED]
    second = h.start("bob")
    assert h.plain(second, "nobody", "wrong!").to(second) == [FAILED.replace("alice", "bob")]
    assert h.state.network.clients[first].account is None
    # After a failure the client may go on without an account.
    assert "001" in h.feed(first, "CAP END").codes(first)


def test_plain_with_another_authorization_identity_is_refused() -> None:
    h = harness()
    h.create("alice", "secret1")
    h.create("bob", "secret2")
    conn = h.start("alice")
    h.feed(conn, "AUTHENTICATE PLAIN")
    out = h.feed(conn, "AUTHENTICATE " + b64("bob\0alice\0secret1"))
    assert out.to(conn) == [FAILED]
    assert h.asked == []  # malformed: nothing was even checked


@pytest.mark.parametrize("payload", ["!!!notbase64", b64("no-nul-bytes"), b64(b"\xff\0a\0b")])
def test_malformed_plain_is_904(payload: str) -> None:
    h = harness()
    conn = h.start("alice")
    h.feed(conn, "AUTHENTICATE PLAIN")
    assert h.feed(conn, f"AUTHENTICATE {payload}").to(conn) == [FAILED]


def test_unknown_mechanism_lists_the_mechanisms_908() -> None:
    h = harness()
    conn = h.start("alice")
    assert h.feed(conn, "AUTHENTICATE DIGEST-MD5").to(conn) == [
        f"{SERVER} 908 alice SCRAM-SHA-256,PLAIN,EXTERNAL :are available SASL mechanisms",
        FAILED,
    ]


def test_abort_is_906_and_already_authenticated_is_907() -> None:
    h = harness()
    h.create("alice", "secret1")
    conn = h.start("alice")
    h.feed(conn, "AUTHENTICATE PLAIN")
    assert h.feed(conn, "AUTHENTICATE *").to(conn) == [
        f"{SERVER} 906 alice :SASL authentication aborted"
    ]
    assert LOGGED_IN in h.plain(conn, "alice", "secret1").to(conn)
    assert h.feed(conn, "AUTHENTICATE PLAIN").to(conn) == [
        f"{SERVER} 907 alice :You have already authenticated using SASL"
    ]


def test_payload_split_in_400_byte_chunks_is_reassembled() -> None:
    h = harness()
    password = "p" * 290  # long enough that the base64 needs two chunks
    h.create("alice", password)
    conn = h.start("alice")
    h.feed(conn, "AUTHENTICATE PLAIN")
    payload = b64(f"alice\0alice\0{password}")
    assert len(payload) > 400
    assert h.feed(conn, f"AUTHENTICATE {payload[:400]}").to(conn) == []
    assert LOGGED_IN in h.feed(conn, f"AUTHENTICATE {payload[400:]}").to(conn)


def test_a_payload_of_exactly_400_bytes_ends_with_plus() -> None:
    h = harness()
    # "alice\0alice\0" is 12 bytes; 300 bytes in all encode to exactly 400 base64 bytes.
    password = "q" * 288
    h.create("alice", password)
    conn = h.start("alice")
    h.feed(conn, "AUTHENTICATE PLAIN")
    payload = b64(f"alice\0alice\0{password}")
    assert len(payload) == 400
    assert h.feed(conn, f"AUTHENTICATE {payload}").to(conn) == []
    assert LOGGED_IN in h.feed(conn, "AUTHENTICATE +").to(conn)


def test_a_chunk_past_400_bytes_or_a_message_past_the_limit_is_905() -> None:
    h = harness()
    conn = h.start("alice")
    h.feed(conn, "AUTHENTICATE PLAIN")
    too_long = f"{SERVER} 905 alice :SASL message too long"
    assert h.feed(conn, "AUTHENTICATE " + "A" * 401).to(conn) == [too_long]
    h.feed(conn, "AUTHENTICATE PLAIN")
    for _ in range(11):  # 4,400 bytes: past the 4,096 a whole message may have
        out = h.feed(conn, "AUTHENTICATE " + "A" * 400)
    assert out.to(conn) == [too_long]
    assert h.asked == []
    assert h.state.network.clients[conn].sasl is None


def test_a_client_that_never_finishes_sasl_still_times_out() -> None:
    h = harness()
    conn = h.start("alice")
    h.feed_all(conn, "AUTHENTICATE PLAIN", "CAP END")
    effects = h.state.timer(Timer(conn, "registration"))
    assert [getattr(e, "reason", None) for e in effects] == ["Closing link: Registration timed out"]


# -- rate limits ------------------------------------------------------------------


def test_failed_logins_from_one_address_are_limited_but_others_go_on() -> None:
    h = harness()
    h.create("alice", "secret1")
    attacker = h.start("mallory", host="6.6.6.6")
    for _ in range(10):
        assert h.plain(attacker, "alice", "guess").codes(attacker) == ["904"]
    asked = len(h.asked)
    out = h.plain(attacker, "alice", "secret1")  # even the right password: not checked now
    assert "too many failed logins" in out.to(attacker)[0].lower()
    assert len(h.asked) == asked  # refused without hashing anything
    for _ in range(10_000 - 11):  # 10,000 failed logins in all: none costs a hash now
        h.feed_all(attacker, "AUTHENTICATE PLAIN", "AUTHENTICATE " + b64("\0bob\0guess"))
    assert len(h.asked) == asked
    # Someone else, from another address, logs in to another account at once.
    h.create("bob", "secret2")
    other = h.start("bob", host="10.1.1.1")
    assert "903" in h.plain(other, "bob", "secret2").codes(other)
    h.clock.advance(60)  # the address's bucket refills: one try every 6 s
    assert "903" in h.plain(attacker, "alice", "secret1").codes(attacker)


def test_failed_logins_to_one_account_are_limited_across_addresses() -> None:
    h = harness()
    h.create("alice", "secret1")
    for n in range(20):
        conn = h.start(f"m{n}", host=f"7.7.{n}.1")
        assert h.plain(conn, "alice", "guess").codes(conn) == ["904"]
    conn = h.start("m99", host="7.7.99.1")
    asked = len(h.asked)
    assert "too many" in h.plain(conn, "alice", "secret1").to(conn)[0].lower()
    assert len(h.asked) == asked


# -- SCRAM-SHA-256 ----------------------------------------------------------------


def _scram_start(h: AccountHarness, conn: ConnId, name: str) -> bytes:
    """Send client-first; return the server-first message."""
    h.feed(conn, "AUTHENTICATE SCRAM-SHA-256")
    [line] = h.feed(conn, "AUTHENTICATE " + b64(scram_client_first(name, "clientnonce"))).to(conn)
    return base64.b64decode(line.split()[-1])


def test_scram_sha_256_logs_in_without_the_server_seeing_the_password() -> None:
    h = harness()
    h.create("alice", "secret1")
    conn = h.start("alice")
    server_first = _scram_start(h, conn, "alice")
    assert server_first.startswith(b"r=clientnonceservernonce,s=")
    assert [type(q) for q in h.asked] == [Lookup]  # never a password
    final, expected = scram_client_final("alice", "secret1", "clientnonce", server_first) or (
        b"",
        b"",
    )
    [line] = h.feed(conn, "AUTHENTICATE " + b64(final)).to(conn)
    assert base64.b64decode(line.split()[-1]) == expected
    assert h.feed(conn, "AUTHENTICATE +").to(conn) == [LOGGED_IN, SUCCESS]


def test_scram_wrong_proof_is_904() -> None:
    h = harness()
    h.create("alice", "secret1")
    conn = h.start("alice")
    server_first = _scram_start(h, conn, "alice")
    answer = scram_client_final("alice", "wrong", "clientnonce", server_first)
    assert answer is not None
    assert h.feed(conn, "AUTHENTICATE " + b64(answer[0])).to(conn) == [FAILED]


def test_scram_unknown_account_looks_the_same_until_the_proof() -> None:
    h = harness()
    conn = h.start("alice")
    server_first = _scram_start(h, conn, "ghost")
    assert b",s=" in server_first
    assert server_first.endswith(b",i=4096")
    assert (
        _scram_start(h, h.start("bob"), "ghost").split(b",s=")[1] == server_first.split(b",s=")[1]
    )  # the same decoy salt every time: no tell
    answer = scram_client_final("ghost", "anything", "clientnonce", server_first)
    assert answer is not None
    assert h.feed(conn, "AUTHENTICATE " + b64(answer[0])).to(conn) == [FAILED]


def test_scram_replayed_client_final_is_refused() -> None:
    h = harness()
    h.create("alice", "secret1")
    conn = h.start("alice")
    server_first = _scram_start(h, conn, "alice")
    answer = scram_client_final("alice", "secret1", "clientnonce", server_first)
    assert answer is not None
    h.feed_all(conn, "AUTHENTICATE " + b64(answer[0]), "AUTHENTICATE +")
    # An eavesdropper replays the same messages on a new connection: a fresh nonce.
    h.state.accounts.new_nonce = lambda: "othernonce"
    thief = h.start("mallory")
    _scram_start(h, thief, "alice")
    assert h.feed(thief, "AUTHENTICATE " + b64(answer[0])).to(thief) == [
        f"{SERVER} 904 mallory :SASL authentication failed"
    ]


@pytest.mark.parametrize(
    "client_first",
    [b"x,,n=alice,r=abc", b"n,,r=abc,n=alice", b"n,,n=,r=abc", b"p=tls-unique,,n=a,r=b", b"\xff"],
)
def test_scram_malformed_client_first_is_904(client_first: bytes) -> None:
    h = harness()
    conn = h.start("alice")
    h.feed(conn, "AUTHENTICATE SCRAM-SHA-256")
    assert h.feed(conn, "AUTHENTICATE " + b64(client_first)).to(conn) == [FAILED]


def test_scram_malformed_client_final_is_904() -> None:
    h = harness()
    h.create("alice", "secret1")
    conn = h.start("alice")
    _scram_start(h, conn, "alice")
    out = h.feed(conn, "AUTHENTICATE " + b64("c=biws,r=clientnonceservernonce,p=!!"))
    assert out.to(conn) == [FAILED]


# -- EXTERNAL ---------------------------------------------------------------------


def test_external_without_a_client_certificate_is_904() -> None:
    h = harness()
    conn = h.start("alice")
    h.feed(conn, "AUTHENTICATE EXTERNAL")
    out = h.feed(conn, "AUTHENTICATE +")
    assert out.to(conn) == [f"{SERVER} 904 alice :SASL EXTERNAL needs a TLS client certificate"]


# -- REGISTER (draft/account-registration) -------------------------------------------


def test_register_creates_the_account_and_logs_in() -> None:
    h = harness()
    conn = h.register("alice")
    out = h.feed(conn, "REGISTER * alice@example.org secret1")
    assert out.to(conn) == [
        f"{SERVER} REGISTER SUCCESS alice "
        ":Account created; e-mail addresses are stored but never verified here",
        LOGGED_IN,
    ]
    assert h.state.accounts.is_registered("ALICE")
    found = h.store.get("alice")
    assert found is not None
    assert "secret1" not in found[1]
    assert found[0].email == "alice@example.org"


def test_register_before_connecting_is_allowed() -> None:
    h = harness()
    conn = h.connect()
    h.feed(conn, "NICK alice")
    assert h.feed(conn, "REGISTER * * secret1").codes(conn) == ["REGISTER", "900"]


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("REGISTER bob * secret1", "BAD_ACCOUNT_NAME"),
        ("REGISTER * * short", "WEAK_PASSWORD"),
        ("REGISTER * * " + "x" * 301, "UNACCEPTABLE_PASSWORD"),
        ("REGISTER * not-an-address secret1", "INVALID_EMAIL"),
    ],
)
def test_register_refusals_store_nothing(line: str, code: str) -> None:
    h = harness()
    conn = h.register("alice")
    [fail] = h.feed(conn, line).to(conn)
    assert fail.split()[1:3] == ["FAIL", "REGISTER"]
    assert fail.split()[3] == code
    assert h.store.count() == 0
    assert h.asked == []


def test_register_a_taken_name_is_account_exists() -> None:
    h = harness()
    h.create("alice", "secret1")
    conn = h.register("alice")
    [fail] = h.feed(conn, "REGISTER * * secret2").to(conn)
    assert fail == f"{SERVER} FAIL REGISTER ACCOUNT_EXISTS alice :alice is already registered"


def test_register_without_a_nick_is_need_nick() -> None:
    h = harness()
    conn = h.connect()
    assert h.feed(conn, "REGISTER * * secret1").to(conn) == [
        f"{SERVER} FAIL REGISTER NEED_NICK * :Choose a nickname with NICK first"
    ]


def test_registrations_from_one_address_are_capped() -> None:
    h = harness()
    created = 0
    refused = 0
    for n in range(10_000):
        conn = h.connect(host="8.8.8.8")
        h.feed(conn, f"NICK user{n}")
        codes = h.feed(conn, "REGISTER * * secret1").to(conn)
        if "SUCCESS" in codes[0]:
            created += 1
        else:
            assert "TEMPORARILY_UNAVAILABLE" in codes[0]
            refused += 1
        h.disconnect(conn)
    assert created == 3
    assert refused == 10_000 - 3
    assert h.store.count() == 3


def test_no_registration_refuses_and_does_not_advertise() -> None:
    h = harness(account_registration=False)
    conn = h.register("alice")
    assert "draft/account-registration" not in h.state.capabilities
    [fail] = h.feed(conn, "REGISTER * * secret1").to(conn)
    assert "TEMPORARILY_UNAVAILABLE" in fail
    [notice] = h.feed(conn, "PRIVMSG NickServ :REGISTER secret1").to(conn)
    assert "Registration is off" in notice


# -- PASS account:password ----------------------------------------------------------


def test_pass_account_password_logs_in() -> None:
    h = harness()
    h.create("alice", "secret1")
    conn = h.connect()
    out = h.feed_all(conn, "PASS alice:secret1", "NICK alice", "USER alice 0 * :R")
    assert out.to(conn)[:2] == [LOGGED_IN, out.to(conn)[1]]
    assert "001" in out.codes(conn)
    assert h.state.network.clients[conn].account == "alice"


def test_pass_with_a_wrong_password_connects_without_an_account() -> None:
    h = harness()
    h.create("alice", "secret1")
    conn = h.connect()
    out = h.feed_all(conn, "PASS alice:nope", "NICK bob", "USER bob 0 * :R")
    assert "Login with PASS failed" in out.to(conn)[0]
    assert "001" in out.codes(conn)
    assert h.state.network.clients[conn].account is None


# -- what an account shows ------------------------------------------------------------


def _logged_in(h: AccountHarness, nick: str, caps: str = "") -> ConnId:
    h.create(nick, "secret1")
    conn = h.start(nick)
    if caps:
        h.feed(conn, f"CAP REQ :{caps}")
    h.plain(conn, nick, "secret1")
    h.feed(conn, "CAP END")
    return conn


def test_whois_shows_330_and_messages_carry_the_account_tag() -> None:
    h = harness()
    alice = _logged_in(h, "alice")
    bob = h.register("bob", caps=["message-tags"])
    whois = h.feed(bob, "WHOIS alice").to(bob)
    assert f"{SERVER} 330 bob alice alice :is logged in as" in whois
    [line] = h.feed(alice, "PRIVMSG bob :hi").to(bob, tags=True)
    assert ";account=alice" in line or "@account=alice" in line


def test_extended_join_and_account_notify() -> None:
    h = harness()
    bob = h.register("bob", caps=["extended-join", "account-notify"])
    carol = h.register("carol")
    h.feed(bob, "JOIN #room")
    h.feed(carol, "JOIN #room")
    h.create("dave", "secret1")
    dave = h.register("dave")
    joined = h.feed(dave, "JOIN #room")
    assert joined.to(bob) == [":dave!~dave@10.0.0.3 JOIN #room * :Real dave"]
    assert joined.to(carol) == [":dave!~dave@10.0.0.3 JOIN #room"]
    out = h.feed(dave, "PRIVMSG NickServ :IDENTIFY secret1")
    assert out.to(bob) == [":dave!~dave@10.0.0.3 ACCOUNT dave"]
    assert out.to(carol) == []


# -- NickServ -------------------------------------------------------------------------


def ns(h: AccountHarness, conn: ConnId, text: str) -> list[str]:
    return [
        line.split(" :", 1)[1]
        for line in h.feed(conn, f"PRIVMSG NickServ :{text}").to(conn)
        if " NOTICE " in line
    ]


def test_nickserv_register_identify_info_and_help() -> None:
    h = harness()
    alice = h.register("alice")
    assert ns(h, alice, "REGISTER secret1")[-1].startswith("Registered alice")
    bob = h.register("bob")
    assert ns(h, bob, "IDENTIFY alice wrong") == ["Invalid account or password"]
    assert ns(h, bob, "IDENTIFY nobody wrong") == ["Invalid account or password"]
    assert ns(h, bob, "IDENTIFY alice secret1") == ["You are now identified for alice"]
    assert "logged in now: True" in ns(h, bob, "INFO alice")[0]
    assert ns(h, bob, "INFO carol") == ["carol is not registered"]
    assert any("GHOST" in line for line in ns(h, bob, "HELP"))
    assert isinstance(h.asked[1], Login)
    assert "secret1" not in repr(h.asked)


def test_nobody_may_take_the_nickserv_nick() -> None:
    h = harness()
    conn = h.register("alice")
    assert h.feed(conn, "NICK NickServ").codes(conn) == ["432"]


def test_nickserv_ghost_disconnects_a_stale_session() -> None:
    h = harness()
    h.create("alice", "secret1")
    stale = h.register("alice")
    phone = h.register("alice_")
    ns(h, phone, "IDENTIFY alice secret1")
    outcome = h.feed(phone, "PRIVMSG NickServ :GHOST alice")
    assert stale in outcome.closed()
    assert h.state.network.holder("alice") is None
    stranger = h.register("eve")
    assert ns(h, stranger, "GHOST alice_") == ["You may not ghost alice_"]


def test_nickserv_set_password_and_drop() -> None:
    h = harness()
    alice = _logged_in(h, "alice")
    assert ns(h, alice, "SET PASSWORD newsecret") == ["Password changed"]
    other = h.start("alice2")
    assert "903" in h.plain(other, "alice", "newsecret").codes(other)
    assert ns(h, alice, "DROP notmine")[0].startswith("Log in first")
    out = h.feed(alice, "PRIVMSG NickServ :DROP alice")
    assert "901" in out.codes(alice)
    assert h.store.get("alice") is None
    assert not h.state.accounts.is_registered("alice")


def test_private_history_follows_the_account_id_not_the_name() -> None:
    h = harness()
    alice = _logged_in(h, "alice")
    first = h.state.network.clients[alice].session
    h.feed(alice, "PRIVMSG NickServ :DROP alice")
    again = h.register("alice2")
    h.feed(again, "NICK alice")
    h.feed(again, "REGISTER * * secret9")
    second = h.state.network.clients[again].session
    assert first.startswith("account:")
    assert second.startswith("account:")
    assert first != second  # a new id: none of the old account's private history


# -- nick protection --------------------------------------------------------------------


def test_a_reserved_nick_is_warned_then_renamed() -> None:
    h = harness()
    h.create("alice", "secret1")
    conn = h.register("alice")
    client = h.state.network.clients[conn]
    assert client.nick_claim == ("alice", h.clock.now + 30)
    h.clock.advance(30)
    effects = h.state.timer(Timer(conn, "nick-protection"))
    assert client.nick.startswith("Guest")
    assert any("NICK" in str(e) for e in effects)


def test_identifying_in_time_keeps_the_nick() -> None:
    h = harness()
    h.create("alice", "secret1")
    conn = h.register("alice")
    ns(h, conn, "IDENTIFY secret1")
    h.clock.advance(30)
    h.state.timer(Timer(conn, "nick-protection"))
    assert h.state.network.clients[conn].nick == "alice"


def test_strict_protection_refuses_the_nick() -> None:
    h = harness(nick_protection="strict")
    h.create("alice", "secret1")
    conn = h.register("bob")
    [line] = h.feed(conn, "NICK alice").to(conn)
    assert line.startswith(f"{SERVER} 433 bob alice :")
    late = h.connect()
    out = h.feed_all(late, "NICK alice", "USER a 0 * :R")
    assert h.state.network.clients[late].nick.startswith("Guest")
    assert "001" in out.codes(late)


def test_protection_off_does_nothing() -> None:
    h = harness(nick_protection="off")
    h.create("alice", "secret1")
    conn = h.register("alice")
    assert h.state.network.clients[conn].nick_claim is None


def test_an_account_name_that_is_not_a_nickname_cannot_be_registered() -> None:
    h = harness()
    conn = h.register("alice")
    [fail] = h.feed(conn, "REGISTER #chan * secret1").to(conn)
    assert "BAD_ACCOUNT_NAME" in fail


def test_questions_never_show_passwords() -> None:
    assert "hunter2" not in repr(Login("alice", "hunter2"))
    assert "hunter2" not in repr(Register("alice", "hunter2"))


def test_private_history_is_keyed_by_account_across_nicks() -> None:
    h = harness()
    alice = _logged_in(h, "alice")
    bob = h.register("bob")
    h.feed(alice, "NICK alice_away")
    effects = h.feed(alice, "PRIVMSG bob :sent from another nick").effects
    [entry] = [effect.entry for effect in effects if isinstance(effect, Record)]
    assert entry.key == "alice bob"  # the account, not the nick of the moment
    assert entry.readers is not None
    assert entry.readers[0] == h.state.network.clients[alice].session
    h.feed(alice, "NICK alice")
    effects = h.feed(alice, "CHATHISTORY LATEST bob * 10").effects
    [question] = [effect.question for effect in effects if isinstance(effect, Ask)]
    assert isinstance(question, HistoryQuery)
    assert question.keys == ("alice bob",)
    assert h.state.network.clients[bob].account is None


def test_logging_in_with_sasl_renames_a_ghost_and_takes_the_nick() -> None:
    h = harness()
    h.create("alice", "secret1")
    ghost = h.register("alice")
    conn = h.start("alice_")  # the client's fallback nick: "alice" was taken
    renamed = h.plain(conn, "alice", "secret1").to(ghost)
    assert renamed[0].startswith(":alice!~alice@10.0.0.1 NICK Guest")
    assert "alice logged in from another connection" in renamed[1]
    out = h.feed(conn, "CAP END")
    assert "001" in out.codes(conn)
    assert h.state.network.clients[conn].nick == "alice"
    assert h.state.network.clients[ghost].nick.startswith("Guest")


def test_when_the_accounts_database_fails_the_client_is_told() -> None:
    h = harness()
    conn = h.start("alice")
    h.feed(conn, "AUTHENTICATE PLAIN")
    # The service could not answer (its database failed): as Delivery reports it.
    effects = h.state.unanswered(conn, Login("alice", "secret1", "sasl"))
    [line] = [e.message.params[-1] for e in effects if isinstance(e, Send)]
    assert line == "Accounts are unavailable right now; try again later"
    assert h.state.network.clients[conn].sasl is None
    bob = h.register("bob")
    effects = h.state.unanswered(bob, Register("bob", "secret1"))
    [fail] = [e.message for e in effects if isinstance(e, Send)]
    assert fail.params[:3] == ("REGISTER", "TEMPORARILY_UNAVAILABLE", "bob")


def _connect_with_cert(h: AccountHarness, nick: str, certfp: str) -> ConnId:
    conn = h.connect()
    h.state.network.clients[conn].peer = PeerInfo("10.9.9.9", True, "tls", certfp)
    h.feed_all(conn, "CAP LS 302", "CAP REQ :sasl", f"NICK {nick}", f"USER {nick} 0 * :R")
    return conn


def test_nickserv_cert_add_then_sasl_external_then_cert_del() -> None:
    h = harness()
    alice = _logged_in(h, "alice")
    fingerprint = "AB:" * 31 + "AB"
    assert ns(h, alice, f"CERT ADD {fingerprint}") == ["Certificates: " + "ab" * 32]
    assert ns(h, alice, "CERT LIST") == ["Certificates: " + "ab" * 32]
    assert ns(h, alice, "CERT ADD nothex") == ["A fingerprint is 64 hex digits (SHA-256)"]
    laptop = _connect_with_cert(h, "alice2", "ab" * 32)
    h.feed(laptop, "AUTHENTICATE EXTERNAL")
    out = h.feed(laptop, "AUTHENTICATE +")
    assert out.codes(laptop)[-1] == "903"
    assert h.state.network.clients[laptop].account == "alice"
    other = _connect_with_cert(h, "alice3", "ab" * 32)
    h.feed(other, "AUTHENTICATE EXTERNAL")
    assert h.feed(other, "AUTHENTICATE " + b64("bob")).codes(other) == ["904"]  # not its account
    assert ns(h, alice, "CERT DEL " + "ab" * 32) == ["Certificates: "]
    stranger = _connect_with_cert(h, "eve", "ab" * 32)
    h.feed(stranger, "AUTHENTICATE EXTERNAL")
    assert h.feed(stranger, "AUTHENTICATE +").codes(stranger) == ["904"]


def test_nickserv_refuses_what_needs_a_login_and_bad_passwords() -> None:
    h = harness()
    bob = h.register("bob")
    assert ns(h, bob, "SET PASSWORD whatever") == ["Log in first"]
    assert ns(h, bob, "CERT LIST") == ["Log in first"]
    assert ns(h, bob, "DROP bob")[0].startswith("Log in first")
    assert ns(h, bob, "REGISTER") == ["Syntax: REGISTER <password> [email]"]
    assert ns(h, bob, "REGISTER abc") == ["Cannot register bob: Use at least 6 characters"]
    bob_account = _logged_in(h, "carol")
    assert ns(h, bob_account, "SET PASSWORD abc") == ["Use 6 to 300 printable bytes"]
    assert ns(h, bob_account, "IDENTIFY secret1") == ["You are already logged in as carol"]


def test_a_login_in_progress_never_shows_the_password_in_repr() -> None:
    h = harness()
    conn = h.start("alice")
    h.feed_all(conn, "PASS alice:hunter22")
    h.feed(conn, "AUTHENTICATE PLAIN")
    h.feed(conn, "AUTHENTICATE " + b64("alice\0alice\0hunter22" + "x" * 300)[:400])
    client = h.state.network.clients[conn]
    assert client.sasl is not None
    assert "hunter22" not in repr(client)
    assert b64("alice\0alice\0hunter22")[:20] not in repr(client)


# -- multiclient ------------------------------------------------------------------------


def _session(h: AccountHarness, nick: str, account: str, host: str) -> ConnId:
    conn = h.start(nick, host=host)
    h.plain(conn, account, "secret1")
    assert "001" in h.feed(conn, "CAP END").codes(conn)
    return conn


def test_two_connections_of_one_account_share_the_nick() -> None:
    h = harness()
    h.create("alice", "secret1")
    laptop = _session(h, "alice", "alice", "10.0.0.1")
    phone = _session(h, "alice_", "alice", "10.0.0.2")  # asked for alice_: alice was taken
    bob = h.register("bob")
    assert h.state.network.clients[phone].nick == "alice"
    assert h.state.network.clients[laptop].nick == "alice"
    # Both hear what is said to the nick; each sees what the other sends.
    to_alice = h.feed(bob, "PRIVMSG alice :hi both")
    assert to_alice.recipients() == {laptop, phone}
    from_phone = h.feed(phone, "PRIVMSG bob :from my phone")
    assert from_phone.recipients() == {bob, laptop}
    # In a channel, the person shows once.
    h.feed(laptop, "JOIN #room")
    h.feed(bob, "JOIN #room")
    joined = h.feed(phone, "JOIN #room")
    assert joined.to(bob) == []  # alice is already there
    names = [line for line in h.feed(bob, "NAMES #room").to(bob) if " 353 " in line]
    assert names[0].endswith(":@alice bob")
    said = h.feed(phone, "PRIVMSG #room :hello room")
    assert said.recipients() == {bob, laptop}
    # Leaving is not a quit while the laptop stays.
    left = h.feed(phone, "QUIT :bye")
    assert left.to(bob) == []
    assert h.feed(bob, "PRIVMSG alice :still there?").recipients() == {laptop}
    assert h.feed(laptop, "QUIT :gone").codes(bob) == ["QUIT"]
    assert h.state.network.holder("alice") is None


def test_nick_from_one_session_renames_every_session_of_the_account() -> None:
    """As in Ergo: the nick belongs to the person, so one NICK renames all its connections."""
    h = harness()
    h.create("alice", "secret1")
    laptop = _session(h, "alice", "alice", "10.0.0.1")
    phone = _session(h, "alice_", "alice", "10.0.0.2")
    bob = h.register("bob")
    carol = h.register("carol")
    for conn in (laptop, phone, bob, carol):
        h.feed(conn, "JOIN #room")
    h.feed(phone, "JOIN #other")
    h.feed(bob, "JOIN #other")
    renamed = h.feed(phone, "NICK alice_away")
    change = ":alice!~alice_@10.0.0.2 NICK alice_away"
    # Each session hears it once; bob shares two channels with alice and hears it once too.
    for conn in (laptop, phone, bob, carol):
        assert renamed.to(conn) == [change], conn
    assert {h.state.network.clients[c].nick for c in (laptop, phone)} == {"alice_away"}
    assert h.state.network.holder("alice") is None
    assert h.state.network.sessions(h.state.network.clients[laptop]) == [
        h.state.network.clients[laptop],
        h.state.network.clients[phone],
    ]
    # The renamed person still gets every message on both connections, and the old nick is free.
    assert h.feed(bob, "PRIVMSG alice_away :hi").recipients() == {laptop, phone}
    assert h.feed(bob, "PRIVMSG alice :hi").codes(bob) == ["401"]
    assert h.feed(bob, "WHOWAS alice").codes(bob)[0] == "314"
    # Sessions that join later attach to the account's current nick.
    tablet = _session(h, "alice_", "alice", "10.0.0.3")
    assert h.state.network.clients[tablet].nick == "alice_away"
    assert h.feed(bob, "PRIVMSG alice_away :all three?").recipients() == {laptop, phone, tablet}
    # Only a case change: everyone sees it, nobody else could take it meanwhile.
    assert h.feed(laptop, "NICK Alice_Away").to(carol) == [
        ":alice_away!~alice@10.0.0.1 NICK Alice_Away"
    ]
    # A nick held by someone else is refused for all, and nothing changes.
    assert h.feed(laptop, "NICK bob").codes(laptop) == ["433"]
    assert {h.state.network.clients[c].nick for c in (laptop, phone, tablet)} == {"Alice_Away"}


def test_a_shared_nick_cannot_become_another_accounts_name() -> None:
    h = harness()
    h.create("alice", "secret1")
    h.create("dave", "secret1")
    laptop = _session(h, "alice", "alice", "10.0.0.1")
    phone = _session(h, "alice_", "alice", "10.0.0.2")
    refused = h.feed(phone, "NICK dave")
    assert refused.codes(phone) == ["433"]
    assert refused.to(laptop) == []
    assert h.state.network.clients[laptop].nick == "alice"


def test_pass_account_password_attaches_like_sasl() -> None:
    """Ergo: SASL "or the PASS workaround" when connecting attaches to the account's nick."""
    h = harness()
    h.create("alice", "secret1")
    laptop = _session(h, "alice", "alice", "10.0.0.1")
    phone = h.connect("10.0.0.2")
    out = h.feed_all(phone, "PASS alice:secret1", "NICK alice_phone", "USER alice 0 * :R")
    assert "001" in out.codes(phone)
    assert h.state.network.clients[phone].nick == "alice"
    bob = h.register("bob")
    assert h.feed(bob, "PRIVMSG alice :hi").recipients() == {laptop, phone}


def test_without_multiclient_the_older_connection_is_renamed() -> None:
    h = harness(multiclient=False)
    h.create("alice", "secret1")
    laptop = _session(h, "alice", "alice", "10.0.0.1")
    phone = _session(h, "alice_", "alice", "10.0.0.2")
    assert h.state.network.clients[phone].nick == "alice"
    assert h.state.network.clients[laptop].nick.startswith("Guest")


def test_whox_shows_the_account() -> None:
    h = harness()
    alice = _logged_in(h, "alice")
    bob = h.register("bob")
    h.feed(alice, "JOIN #room")
    h.feed(bob, "JOIN #room")
    lines = h.feed(bob, "WHO #room %tcnfa,42").to(bob)
    assert lines == [
        f"{SERVER} 354 bob 42 #room alice H@ alice",
        f"{SERVER} 354 bob 42 #room bob H 0",
        f"{SERVER} 315 bob #room :End of WHO list",
    ]
    [line, _] = h.feed(bob, "WHO alice %nar").to(bob)
    assert line == f"{SERVER} 354 bob alice alice R"
    assert "WHOX" in " ".join(h.feed(bob, "VERSION").to(bob))


def test_an_early_timer_from_an_earlier_warning_renames_nobody() -> None:
    h = harness()
    h.create("alice", "secret1")
    conn = h.register("alice")
    h.clock.advance(20)
    h.feed(conn, "NICK other")
    h.feed(conn, "NICK alice")  # warned again: 30 s from now
    h.clock.advance(10)
    h.state.timer(Timer(conn, "nick-protection"))  # the first warning's timer
    assert h.state.network.clients[conn].nick == "alice"
    h.clock.advance(20)
    h.state.timer(Timer(conn, "nick-protection"))
    assert h.state.network.clients[conn].nick.startswith("Guest")

"""Tests for the pure, synchronous chat-room state (``triochat._state.machine``).

No trio and no sockets: a :class:`ServerState` with a fake clock is fed parsed
IRC lines, and the effects it returns are expanded into the lines each
connection would receive. Expected lines are written as they appear on the
wire, so the tests read like IRC transcripts. Facts come from Modern IRC
(ircdocs/modern-irc) and the IRCv3 specifications; the last sections turn the
original student program's bugs (research/python-peers.md, 1.3) into tests,
and a hypothesis state machine checks the room's invariants.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from triochat._config import ServerConfig
from triochat._irc.names import casefold
from triochat._irc.tags import ALL_TAGS, NO_TAGS
from triochat._irc.wire import (
    InvalidUtf8,
    LineTooLong,
    MalformedMessage,
    Message,
    RemoteProtocolError,
    TooManyParams,
    parse,
    serialize,
)
from triochat._state.advertised import VERSION, capabilities
from triochat._state.effects import Close, ConnId, Schedule, Send
from triochat._state.machine import ServerState
from triochat._state.model import PeerInfo

if TYPE_CHECKING:
    from collections.abc import Iterable

    from triochat._state.effects import Effect

# ---------------------------------------------------------------------------
# Harness
# ---------------------------------------------------------------------------

#: The fake clock starts here; ``START_TAG`` is its IRCv3 ``server-time`` form.
CAPS = capabilities(ServerConfig())
START = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC).timestamp()
START_TAG = "2024-01-02T03:04:05.678Z"
MOTD = ("Hello from the tests.",)
SERVER = ":triochat"

#: Sources of the clients the helpers register, in connection order.
A = ":alice!~alice@10.0.0.1"
B = ":bob!~bob@10.0.0.2"
C = ":carol!~carol@10.0.0.3"
D = ":dave!~dave@10.0.0.4"


class FakeClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wire(message: Message, *, tags: bool = False) -> str:
    """``message`` as one line on the wire, without CRLF (and without tags unless asked)."""
    data = serialize(message, tags=None if tags else {})
    assert data.endswith(b"\r\n")
    body = data[:-2]
    assert b"\r" not in body
    assert b"\n" not in body
    assert b"\0" not in body
    return body.decode()


@dataclass
class Outcome:
    """The effects of one call, viewed per connection."""

    effects: list[Effect]

    def sends(self) -> list[Send]:
        return [effect for effect in self.effects if isinstance(effect, Send)]

    def messages(self, conn: ConnId) -> list[Message]:
        """The messages ``conn`` receives, in order (once per time it is targeted)."""
        return [send.message for send in self.sends() for target in send.targets if target == conn]

    def to(self, conn: ConnId, *, tags: bool = False) -> list[str]:
        """The lines ``conn`` receives, in order."""
        return [wire(message, tags=tags) for message in self.messages(conn)]

    def codes(self, conn: ConnId) -> list[str]:
        """The commands (numerics included) of what ``conn`` receives."""
        return [message.command for message in self.messages(conn)]

    def recipients(self) -> set[ConnId]:
        return {target for send in self.sends() for target in send.targets}

    def closed(self) -> dict[ConnId, str]:
        return {effect.conn: effect.reason for effect in self.effects if isinstance(effect, Close)}


class Harness:
    """A :class:`ServerState` with a fake clock, driven by raw IRC lines."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.clock = FakeClock()
        self.config = config if config is not None else ServerConfig(motd=MOTD)
        self.state = ServerState(self.config, clock=self.clock)
        self._next_conn = 1

    def connect(self, host: str | None = None) -> ConnId:
        conn = ConnId(self._next_conn)
        self._next_conn += 1
        effects = self.state.connect(conn, PeerInfo(f"10.0.0.{conn}" if host is None else host))
        assert all(isinstance(effect, Schedule) for effect in effects)
        return conn

    def _check(self, effects: list[Effect]) -> Outcome:
        for effect in effects:
            if isinstance(effect, Send):
                assert effect.targets, "a Send to nobody"
                assert len(set(effect.targets)) == len(effect.targets), "a target twice"
                wire(effect.message, tags=True)  # every effect can be written, tags and all
                wire(effect.message)
        return Outcome(effects)

    def feed(self, conn: ConnId, line: str | bytes) -> Outcome:
        """``conn`` sent ``line`` (parsed as the server would, errors go to reject())."""
        raw = line.encode() if isinstance(line, str) else line
        try:
            message = parse(raw)
        except RemoteProtocolError as error:
            return self._check(self.state.reject(conn, error))
        return self._check(self.state.handle(conn, message))

    def handle(self, conn: ConnId, message: Message) -> Outcome:
        """``conn`` sent ``message``, whatever its size (past what the wire would carry)."""
        return self._check(self.state.handle(conn, message))

    def feed_all(self, conn: ConnId, *lines: str) -> Outcome:
        effects: list[Effect] = []
        for line in lines:
            effects.extend(self.feed(conn, line).effects)
        return Outcome(effects)

    def disconnect(self, conn: ConnId, reason: str = "Connection closed") -> Outcome:
        return self._check(self.state.disconnect(conn, reason))

    def register(
        self,
        nick: str,
        *,
        caps: Iterable[str] = (),
        negotiate: bool = False,
        password: str | None = None,
    ) -> ConnId:
        """Connect and register ``nick`` (negotiating ``caps`` first, if any)."""
        conn = self.connect()
        caps = tuple(caps)
        lines: list[str] = []
        if password is not None:
            lines.append(f"PASS {password}")
        if caps or negotiate:
            lines.append("CAP LS 302")
            if caps:
                lines.append("CAP REQ :" + " ".join(caps))
        lines += [f"NICK {nick}", f"USER {nick} 0 * :Real {nick}"]
        if caps or negotiate:
            lines.append("CAP END")
        outcome = self.feed_all(conn, *lines)
        assert "001" in outcome.codes(conn), outcome.to(conn)
        assert self.state.is_registered(conn)
        return conn

    def source(self, conn: ConnId) -> str:
        return ":" + self.state.network.clients[conn].source


def check_consistent(state: ServerState) -> None:
    """Clients, channels and the nickname index all agree."""
    for key, channel in state.network.channels.items():
        assert key == casefold(channel.name)
        assert channel.members, f"empty channel {channel.name} left behind"
        for conn, status in channel.members.items():
            client = state.network.clients[conn]  # no member that is gone
            assert client.registered
            assert client.channels.get(key) is channel
            assert set(status) <= {"o", "v"}
    for conn, client in state.network.clients.items():
        assert client.conn == conn
        for key, channel in client.channels.items():
            assert state.network.channels.get(key) is channel
            assert conn in channel.members
        if client.has_nick:
            assert state.network.nicks[casefold(client.nick)] is client
        else:
            assert not client.registered
    for key, holder in state.network.nicks.items():
        assert key == casefold(holder.nick)
        assert state.network.clients.get(holder.conn) is holder
        assert holder.has_nick
    # The census LUSERS reads is what counting every client would give.
    network = state.network
    registered = [client for client in network.clients.values() if client.registered]
    assert network.user_count == len(registered)
    assert network.local_user_count == sum(client.origin is None for client in registered)
    assert network.invisible == {client.conn for client in registered if "i" in client.modes}
    assert network.opers == {client.conn for client in registered if "o" in client.modes}


def room(h: Harness, *caps_of: Iterable[str]) -> tuple[ConnId, ConnId, ConnId, ConnId]:
    """alice (op), bob and carol in #room; dave registered but in no channel.

    ``caps_of`` gives the capabilities of alice, bob, carol, dave in order.
    """
    caps = [*caps_of, *([()] * (4 - len(caps_of)))]
    alice = h.register("alice", caps=caps[0])
    bob = h.register("bob", caps=caps[1])
    carol = h.register("carol", caps=caps[2])
    dave = h.register("dave", caps=caps[3])
    for conn in (alice, bob, carol):
        h.feed(conn, "JOIN #room")
    return alice, bob, carol, dave


def test_harness_sources_match_the_constants() -> None:
    h = Harness()
    conns = room(h)
    assert [h.source(conn) for conn in conns] == [A, B, C, D]


# ---------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------

WELCOME_CODES = ["001", "002", "003", "004"]
LUSERS_MOTD_CODES = ["251", "254", "255", "265", "266", "375", "372", "376"]


@pytest.mark.parametrize(
    "lines",
    [
        ("NICK alice", "USER alice 0 * :Alice Liddell"),
        ("USER alice 0 * :Alice Liddell", "NICK alice"),
    ],
)
def test_nick_and_user_in_either_order_register(lines: tuple[str, str]) -> None:
    h = Harness()
    conn = h.connect()
    assert h.feed(conn, lines[0]).effects == []
    assert not h.state.is_registered(conn)
    out = h.feed(conn, lines[1])
    assert h.state.is_registered(conn)
    codes = out.codes(conn)
    assert codes[:4] == WELCOME_CODES
    assert set(codes[4 : -len(LUSERS_MOTD_CODES)]) == {"005"}
    assert codes[-len(LUSERS_MOTD_CODES) :] == LUSERS_MOTD_CODES
    lines_out = out.to(conn)
    assert lines_out[0] == (
        f"{SERVER} 001 alice :Welcome to the triochat IRC Network, alice!~alice@10.0.0.1"
    )
    assert lines_out[1] == f"{SERVER} 002 alice :Your host is triochat, running version {VERSION}"
    assert lines_out[2] == f"{SERVER} 003 alice :This server was created 2024-01-02 03:04:05 UTC"
    assert lines_out[3] == f"{SERVER} 004 alice triochat {VERSION} iow IRbeiklmnopstv Ibeklov"
    assert lines_out[-8:] == [
        f"{SERVER} 251 alice :There are 1 users and 0 invisible on 1 servers",
        f"{SERVER} 254 alice 0 :channels formed",
        f"{SERVER} 255 alice :I have 1 clients and 0 servers",
        f"{SERVER} 265 alice 1 1 :Current local users 1, max 1",
        f"{SERVER} 266 alice 1 1 :Current global users 1, max 1",
        f"{SERVER} 375 alice :- triochat Message of the day - ",
        f"{SERVER} 372 alice :- Hello from the tests.",
        f"{SERVER} 376 alice :End of /MOTD command.",
    ]
    assert out.recipients() == {conn}
    assert h.state.network.clients[conn].realname == "Alice Liddell"


def test_isupport_advertises_what_the_state_enforces() -> None:
    h = Harness(ServerConfig(motd=MOTD, max_channels=7))
    conn = h.connect()
    out = h.feed_all(conn, "NICK alice", "USER alice 0 * :A")
    tokens = {
        token
        for message in out.messages(conn)
        if message.command == "005"
        for token in message.params[1:-1]
    }
    for token in (
        "CASEMAPPING=rfc1459",
        "CHANLIMIT=#:7",
        "CHANTYPES=#",
        "PREFIX=(ov)@+",
        "NICKLEN=30",
        "MAXTARGETS=4",
    ):
        assert token in tokens
    for message in out.messages(conn):
        if message.command == "005":
            assert message.params[-1] == "are supported by this server"


@pytest.mark.parametrize("motd", [None, ()])
def test_no_motd_gives_422(motd: tuple[str, ...] | None) -> None:
    h = Harness(ServerConfig(motd=motd))
    conn = h.connect()
    out = h.feed_all(conn, "NICK alice", "USER alice 0 * :A")
    assert out.codes(conn)[-1] == "422"
    assert out.to(conn)[-1] == f"{SERVER} 422 alice :MOTD File is missing"
    assert not {"375", "372", "376"} & set(out.codes(conn))
    assert h.feed(conn, "MOTD").to(conn) == [f"{SERVER} 422 alice :MOTD File is missing"]


def test_cap_ls_302_suspends_registration_until_cap_end() -> None:
    h = Harness()
    conn = h.connect()
    out = h.feed(conn, "CAP LS 302")
    [line] = out.to(conn)
    assert line.startswith(f"{SERVER} CAP * LS :")
    # CAP LS 302 shows values (sasl=..., draft/account-registration=...) after the names.
    assert {cap.partition("=")[0] for cap in line.split(" :", 1)[1].split()} == CAPS
    assert {"message-tags", "server-time", "echo-message", "multi-prefix"} <= capabilities(
        ServerConfig()
    )
    assert {"userhost-in-names", "away-notify"} <= CAPS
    assert h.feed_all(conn, "NICK alice", "USER alice 0 * :A").effects == []
    assert not h.state.is_registered(conn)
    out = h.feed(conn, "CAP END")
    assert out.codes(conn)[:4] == WELCOME_CODES
    assert h.state.is_registered(conn)
    # After registration, CAP END does nothing and CAP LS does not suspend anything.
    assert h.feed(conn, "CAP END").effects == []
    assert h.feed(conn, "CAP LS 302").codes(conn) == ["CAP"]
    assert h.feed(conn, "PING x").codes(conn) == ["PONG"]


def test_cap_req_alone_also_suspends_registration() -> None:
    h = Harness()
    conn = h.connect()
    out = h.feed_all(conn, "CAP REQ :multi-prefix", "NICK alice", "USER alice 0 * :A")
    assert out.to(conn) == [f"{SERVER} CAP * ACK multi-prefix"]
    assert "001" in h.feed(conn, "CAP END").codes(conn)


CAP_REQ_CASES: list[tuple[str, str, set[str]]] = [
    # (requested, reply, caps afterwards) starting from no caps.
    ("multi-prefix", f"{SERVER} CAP * ACK multi-prefix", {"multi-prefix"}),
    (
        "multi-prefix server-time",
        f"{SERVER} CAP * ACK :multi-prefix server-time",
        {"multi-prefix", "server-time"},
    ),
    # One unknown capability NAKs the whole request, echoed whole, and changes nothing.
    ("multi-prefix bogus", f"{SERVER} CAP * NAK :multi-prefix bogus", set()),
    ("bogus", f"{SERVER} CAP * NAK bogus", set()),
    ("server-time -bogus", f"{SERVER} CAP * NAK :server-time -bogus", set()),
    ("", f"{SERVER} CAP * NAK :", set()),
]


@pytest.mark.parametrize(("requested", "reply", "caps"), CAP_REQ_CASES)
def test_cap_req(requested: str, reply: str, caps: set[str]) -> None:
    h = Harness()
    conn = h.connect()
    assert h.feed(conn, f"CAP REQ :{requested}").to(conn) == [reply]
    assert h.state.network.clients[conn].caps == caps


def test_cap_list_and_removal() -> None:
    h = Harness()
    conn = h.connect()
    client = h.state.network.clients[conn]
    assert h.feed(conn, "CAP LIST").to(conn) == [f"{SERVER} CAP * LIST :"]
    h.feed(conn, "CAP REQ :server-time message-tags echo-message")
    assert client.tag_variant == ALL_TAGS
    out = h.feed(conn, "CAP LIST")
    assert out.to(conn) == [f"{SERVER} CAP * LIST :echo-message message-tags server-time"]
    out = h.feed(conn, "CAP REQ :-server-time -message-tags")
    assert out.to(conn) == [f"{SERVER} CAP * ACK :-server-time -message-tags"]
    assert client.caps == {"echo-message"}
    assert client.tag_variant == NO_TAGS
    h.feed_all(conn, "CAP END", "NICK alice", "USER alice 0 * :A")
    # Capabilities can change after registration too; replies then name the nick.
    assert h.feed(conn, "CAP REQ :-echo-message").to(conn) == [
        f"{SERVER} CAP alice ACK -echo-message"
    ]
    assert client.caps == set()


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("CAP FOO", f"{SERVER} 410 * FOO :Invalid CAP command"),
        ("CAP foo bar", f"{SERVER} 410 * FOO :Invalid CAP command"),
        ("CAP", f"{SERVER} 461 * CAP :Not enough parameters"),
    ],
)
def test_cap_errors(line: str, reply: str) -> None:
    h = Harness()
    conn = h.connect()
    assert h.feed(conn, line).to(conn) == [reply]
    assert not h.state.network.clients[conn].negotiating_caps


PASSWORD_CONFIG = ServerConfig(motd=MOTD, password="sesame")


@pytest.mark.parametrize("lines", [(), ("PASS wrong",), ("PASS sesame2",), ("PASS Sesame",)])
def test_wrong_or_missing_password_is_refused(lines: tuple[str, ...]) -> None:
    h = Harness(PASSWORD_CONFIG)
    conn = h.connect()
    out = h.feed_all(conn, *lines, "NICK alice", "USER alice 0 * :A")
    assert out.to(conn) == [f"{SERVER} 464 alice :Password incorrect"]
    assert out.closed() == {conn: "Closing link: bad password"}
    assert not h.state.is_registered(conn)
    # The connection is then dropped, and its nick with it.
    assert h.disconnect(conn).effects == []
    check_consistent(h.state)
    h.register("alice", password="sesame")


def test_right_password_registers_and_pass_after_registration_is_462() -> None:
    h = Harness(PASSWORD_CONFIG)
    conn = h.connect()
    out = h.feed_all(conn, "PASS sesame", "NICK alice", "USER alice 0 * :A")
    assert out.codes(conn)[:4] == WELCOME_CODES
    assert out.closed() == {}
    assert h.feed(conn, "PASS sesame").to(conn) == [f"{SERVER} 462 alice :You may not reregister"]
    assert h.feed(conn, "PASS").to(conn) == [f"{SERVER} 462 alice :You may not reregister"]


def test_pass_without_parameter_is_461() -> None:
    h = Harness(PASSWORD_CONFIG)
    conn = h.connect()
    assert h.feed(conn, "PASS").to(conn) == [f"{SERVER} 461 * PASS :Not enough parameters"]


def test_password_is_ignored_when_none_is_configured() -> None:
    # With accounts on, PASS is an account login instead (tests/test_accounts_state.py).
    h = Harness(ServerConfig(motd=MOTD, accounts=False))
    h.register("alice", password="anything")


@pytest.mark.parametrize(
    "line", ["USER", "USER alice", "USER alice 0", "USER alice 0 *", "USER :  0 * :x"]
)
def test_user_with_too_few_parameters_is_461(line: str) -> None:
    h = Harness()
    conn = h.connect()
    h.feed(conn, "NICK alice")
    assert h.feed(conn, line).to(conn) == [f"{SERVER} 461 alice USER :Not enough parameters"]
    assert not h.state.is_registered(conn)


def test_user_twice_is_462() -> None:
    h = Harness()
    conn = h.register("alice")
    out = h.feed(conn, "USER other 0 * :Other")
    assert out.to(conn) == [f"{SERVER} 462 alice :You may not reregister"]
    assert h.state.network.clients[conn].user == "~alice"
    assert h.state.network.clients[conn].realname == "Real alice"


@pytest.mark.parametrize(
    ("given", "user"),
    [
        ("alice", "~alice"),
        ("a" * 40, "~" + "a" * 17),  # USERLEN=18, the "~" included
        ("al!ce@x", "~alcex"),  # nothing that would break nick!user@host
        ("☃", "~user"),
    ],
)
def test_username_is_sanitized(given: str, user: str) -> None:
    h = Harness()
    conn = h.connect()
    h.feed_all(conn, "NICK alice", f"USER {given} 0 * :A")
    assert h.state.network.clients[conn].user == user
    assert h.source(conn) == f":alice!{user}@10.0.0.1"


@pytest.mark.parametrize(
    "line",
    [
        "JOIN #a",
        "PRIVMSG bob :hi",
        "NOTICE bob :hi",
        "MOTD",
        "WHOIS bob",
        "MODE alice",
        "AWAY :gone",
        "FOO",
    ],
)
def test_commands_before_registration_are_451(line: str) -> None:
    h = Harness()
    h.register("bob")
    conn = h.connect()
    h.feed(conn, "NICK alice")
    out = h.feed(conn, line)
    assert out.to(conn) == [f"{SERVER} 451 alice :You have not registered"]
    assert out.recipients() == {conn}
    assert h.state.network.channels == {}


def test_ping_before_registration_is_answered() -> None:
    h = Harness()
    conn = h.connect()
    assert h.feed(conn, "PING :abc 123").to(conn) == [f"{SERVER} PONG triochat :abc 123"]
    assert h.feed(conn, "PING").to(conn) == [f"{SERVER} 461 * PING :Not enough parameters"]
    assert h.feed(conn, "PONG x").effects == []


def test_quit_before_registration_closes_without_broadcast() -> None:
    h = Harness()
    h.register("bob")
    conn = h.connect()
    h.feed(conn, "NICK alice")
    out = h.feed(conn, "QUIT :bye")
    assert out.sends() == []
    assert out.closed() == {conn: "Closing link: 10.0.0.2 (Quit)"}
    assert conn not in h.state.network.clients
    assert "alice" not in h.state.network.nicks
    check_consistent(h.state)
    assert h.disconnect(conn).effects == []


def test_unknown_connection_is_ignored() -> None:
    h = Harness()
    assert h.state.handle(ConnId(99), Message("NICK", ("alice",))) == []
    assert h.state.reject(ConnId(99), MalformedMessage("bad")) == []
    assert h.state.disconnect(ConnId(99), "gone") == []
    assert not h.state.is_registered(ConnId(99))
    assert h.state.network.clients == {}


@pytest.mark.parametrize(
    ("host", "shown"), [("::1", "0::1"), ("", "unknown"), ("1.2.3.4", "1.2.3.4")]
)
def test_host_is_made_writable(host: str, shown: str) -> None:
    h = Harness()
    conn = h.connect(host)
    h.feed_all(conn, "NICK alice", "USER alice 0 * :A")
    assert h.source(conn) == f":alice!~alice@{shown}"


# ---------------------------------------------------------------------------
# Nicknames
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("line", ["NICK", "NICK :"])
def test_no_nickname_is_431(line: str) -> None:
    h = Harness()
    conn = h.connect()
    assert h.feed(conn, line).to(conn) == [f"{SERVER} 431 * :No nickname given"]
    alice = h.register("alice")
    assert h.feed(alice, line).to(alice) == [f"{SERVER} 431 alice :No nickname given"]


ERRONEOUS_NICKS = [
    "9abc",  # starts with a digit
    "-abc",  # starts with a dash
    "a!b",
    "a@b",
    "#x",
    "a.b",
    "a,b",
    "a*",
    "a:b",
    "a" * 31,  # NICKLEN=30
    "zoë",  # non-ASCII (killed the original's accept loop)
    "\u212a",  # Kelvin sign, lower-cases to ASCII 'k'
]


@pytest.mark.parametrize("nick", ERRONEOUS_NICKS)
def test_erroneous_nickname_is_432(nick: str) -> None:
    h = Harness()
    conn = h.connect()
    assert h.feed(conn, f"NICK {nick}").to(conn) == [f"{SERVER} 432 * {nick} :Erroneous nickname"]
    alice = h.register("alice")
    out = h.feed(alice, f"NICK {nick}")
    assert out.to(alice) == [f"{SERVER} 432 alice {nick} :Erroneous nickname"]
    assert h.state.network.clients[alice].nick == "alice"
    assert set(h.state.network.nicks) == {"alice"}


@pytest.mark.parametrize("nick", [":a b", "::x", "a b c"])
def test_erroneous_nickname_that_is_no_middle_parameter_is_432(nick: str) -> None:
    # "NICK :a b" makes one parameter with a space; the 432 reply must still be
    # writable (the nick cannot be echoed as a middle parameter as it is).
    h = Harness()
    alice = h.register("alice")
    out = h.feed(alice, f"NICK :{nick}")
    assert out.codes(alice) == ["432"]
    [message] = out.messages(alice)
    assert message.params[-1] == "Erroneous nickname"
    assert h.state.network.clients[alice].nick == "alice"


def test_nick_takes_only_its_first_parameter() -> None:
    h = Harness()
    conn = h.connect()
    h.feed_all(conn, "NICK a b", "USER a 0 * :A")
    assert h.state.network.clients[conn].nick == "a"


@pytest.mark.parametrize("nick", ["a" * 30, "a[b]", "`x", "_x", "x-1", "^x", "{x}|", "\\o", "A9-"])
def test_valid_nicknames_are_accepted(nick: str) -> None:
    h = Harness()
    conn = h.connect()
    h.feed_all(conn, f"NICK {nick}", "USER u 0 * :U")
    assert h.state.is_registered(conn)
    assert h.state.network.clients[conn].nick == nick


CASE_PAIRS = [
    ("Alice", "alice"),
    ("ALICE", "alice"),
    ("a[b", "a{b"),
    ("a]", "a}"),
    ("a\\", "a|"),
    ("a^", "A^"),
]


@pytest.mark.parametrize(("taken", "wanted"), CASE_PAIRS)
def test_nickname_in_use_under_rfc1459_casemapping_is_433(taken: str, wanted: str) -> None:
    h = Harness()
    first = h.connect()
    h.feed_all(first, f"NICK {taken}", "USER u 0 * :U")
    assert h.state.is_registered(first)
    conn = h.connect()
    out = h.feed(conn, f"NICK {wanted}")
    assert out.to(conn) == [f"{SERVER} 433 * {wanted} :Nickname is already in use"]
    assert out.recipients() == {conn}
    # A registered client that tries the same keeps its nick.
    bob = h.register("bob")
    out = h.feed(bob, f"NICK {wanted}")
    assert out.to(bob) == [f"{SERVER} 433 bob {wanted} :Nickname is already in use"]
    assert out.recipients() == {bob}
    assert h.state.network.clients[bob].nick == "bob"


def test_nick_held_by_unregistered_client_is_in_use() -> None:
    h = Harness()
    pending = h.connect()
    h.feed(pending, "NICK alice")
    conn = h.connect()
    assert h.feed(conn, "NICK ALICE").codes(conn) == ["433"]


def test_nick_change_reaches_self_and_each_peer_exactly_once() -> None:
    h = Harness()
    alice, bob, carol, dave = room(h)
    h.feed(alice, "JOIN #other")
    h.feed(bob, "JOIN #other")  # bob shares two channels with alice
    out = h.feed(alice, "NICK alicia")
    change = f"{A} NICK alicia"
    assert out.to(alice) == [change]
    assert out.to(bob) == [change]
    assert out.to(carol) == [change]
    assert out.to(dave) == []
    assert out.sends()[0].message.tags == {"time": START_TAG}
    assert h.source(alice) == ":alicia!~alice@10.0.0.1"
    assert "alice" not in h.state.network.nicks
    assert h.state.network.nicks["alicia"].conn == alice
    check_consistent(h.state)
    # The channel shows the new nick.
    assert h.feed(bob, "NAMES #room").to(bob)[0] == f"{SERVER} 353 bob = #room :@alicia bob carol"


def test_nick_change_without_channels_reaches_only_self() -> None:
    h = Harness()
    alice = h.register("alice")
    bob = h.register("bob")
    out = h.feed(alice, "NICK alicia")
    assert out.to(alice) == [f"{A} NICK alicia"]
    assert out.recipients() == {alice}
    assert h.state.network.clients[bob].nick == "bob"


def test_own_case_change_is_allowed_and_same_nick_is_a_no_op() -> None:
    h = Harness()
    alice, bob, _, _ = room(h)
    assert h.feed(alice, "NICK alice").effects == []
    out = h.feed(alice, "NICK Alice")
    assert out.to(alice) == [f"{A} NICK Alice"]
    assert out.to(bob) == [f"{A} NICK Alice"]
    assert h.state.network.clients[alice].nick == "Alice"
    assert h.state.network.nicks["alice"].conn == alice
    check_consistent(h.state)


def test_released_nick_is_reusable_after_change_and_after_disconnect() -> None:
    h = Harness()
    alice = h.register("alice")
    h.feed(alice, "NICK alicia")
    h.register("alice")  # freed by the change
    bob = h.register("bob")
    h.disconnect(bob)
    h.register("BOB")  # freed by the disconnect
    carol = h.register("carol")
    h.feed(carol, "QUIT")
    h.register("carol")  # freed by QUIT
    check_consistent(h.state)


def test_nick_changes_before_registration_free_the_old_one() -> None:
    h = Harness()
    conn = h.connect()
    h.feed_all(conn, "NICK first", "NICK second", "USER u 0 * :U")
    assert h.state.network.clients[conn].nick == "second"
    assert set(h.state.network.nicks) == {"second"}
    h.register("first")


# ---------------------------------------------------------------------------
# Channels: JOIN, PART, NAMES, KICK
# ---------------------------------------------------------------------------


def test_join_creates_channel_with_creator_as_operator() -> None:
    h = Harness()
    alice = h.register("alice")
    out = h.feed(alice, "JOIN #Room")
    assert out.to(alice) == [
        f"{A} JOIN #Room",
        f"{SERVER} 353 alice = #Room @alice",
        f"{SERVER} 366 alice #Room :End of /NAMES list",
    ]
    assert out.sends()[0].message.tags == {"time": START_TAG}
    channel = h.state.network.channels["#room"]
    assert channel.name == "#Room"
    assert channel.members == {alice: "o"}
    assert channel.created == START
    check_consistent(h.state)


def test_join_is_echoed_to_every_member_including_the_joiner() -> None:
    h = Harness()
    alice = h.register("alice")
    bob = h.register("bob")
    carol = h.register("carol")
    h.feed(alice, "JOIN #room")
    h.feed(bob, "JOIN #room")
    out = h.feed(carol, "JOIN #ROOM")  # any case finds the channel; its own name is kept
    assert out.to(alice) == [f"{C} JOIN #room"]
    assert out.to(bob) == [f"{C} JOIN #room"]
    assert out.to(carol) == [
        f"{C} JOIN #room",
        f"{SERVER} 353 carol = #room :@alice bob carol",
        f"{SERVER} 366 carol #room :End of /NAMES list",
    ]
    assert h.state.network.channels["#room"].members == {alice: "o", bob: "", carol: ""}


def test_join_twice_does_nothing() -> None:
    h = Harness()
    _alice, bob, _, _ = room(h)
    assert h.feed(bob, "JOIN #ROOM").effects == []
    assert h.state.network.channels["#room"].members[bob] == ""


def test_join_shows_topic_when_set() -> None:
    h = Harness()
    alice = h.register("alice")
    bob = h.register("bob")
    h.feed(alice, "JOIN #room")
    h.feed(alice, "TOPIC #room :Tea at five")
    h.clock.advance(100)
    out = h.feed(bob, "JOIN #room")
    assert out.to(bob) == [
        f"{B} JOIN #room",
        f"{SERVER} 332 bob #room :Tea at five",
        f"{SERVER} 333 bob #room alice!~alice@10.0.0.1 {int(START)}",
        f"{SERVER} 353 bob = #room :@alice bob",
        f"{SERVER} 366 bob #room :End of /NAMES list",
    ]


def test_join_several_channels_at_once() -> None:
    h = Harness()
    alice = h.register("alice")
    out = h.feed(alice, "JOIN #a,#b,#c key")
    assert [line for line in out.to(alice) if " JOIN " in line] == [
        f"{A} JOIN #a",
        f"{A} JOIN #b",
        f"{A} JOIN #c",
    ]
    assert set(h.state.network.channels) == {"#a", "#b", "#c"}


@pytest.mark.parametrize(
    ("caps", "names"),
    [
        ((), "@alice +bob carol"),
        (("multi-prefix",), "@+alice +bob carol"),
        (("userhost-in-names",), f"@{A[1:]} +{B[1:]} {C[1:]}"),
        (("multi-prefix", "userhost-in-names"), f"@+{A[1:]} +{B[1:]} {C[1:]}"),
    ],
)
def test_names_prefixes_follow_the_viewers_caps(caps: tuple[str, ...], names: str) -> None:
    h = Harness()
    alice, _bob, _carol, _ = room(h)
    h.feed(alice, "MODE #room +vv alice bob")
    viewer = h.register("eve", caps=caps)
    h.feed(viewer, "JOIN #room")
    out = h.feed(viewer, "NAMES #room")
    extra = f"{h.state.network.clients[viewer].source} " if "userhost-in-names" in caps else "eve "
    assert out.to(viewer) == [
        f"{SERVER} 353 eve = #room :{names} {extra.strip()}",
        f"{SERVER} 366 eve #room :End of /NAMES list",
    ]


BAD_CHANNELS = ["a", "#", "&a", "#" + "x" * 50, "#a\x07b", "#a\x7fb", "0a"]


@pytest.mark.parametrize("name", BAD_CHANNELS)
def test_bad_channel_name_is_476(name: str) -> None:
    h = Harness()
    alice = h.register("alice")
    out = h.feed(alice, f"JOIN {name}")
    assert out.to(alice) == [f"{SERVER} 476 alice {name} :Bad Channel Mask"]
    assert h.state.network.channels == {}
    assert h.state.network.clients[alice].channels == {}


def test_longest_channel_name_is_accepted() -> None:
    h = Harness()
    alice = h.register("alice")
    h.feed(alice, "JOIN #" + "x" * 49)
    h.feed(alice, "JOIN #日本")
    assert set(h.state.network.channels) == {"#" + "x" * 49, "#日本"}


def test_joining_too_many_channels_is_405() -> None:
    h = Harness(ServerConfig(motd=MOTD, max_channels=2))
    alice = h.register("alice")
    out = h.feed(alice, "JOIN #a,#b,#c")
    assert out.to(alice)[-1] == f"{SERVER} 405 alice #c :You have joined too many channels"
    assert set(h.state.network.clients[alice].channels) == {"#a", "#b"}
    assert set(h.state.network.channels) == {"#a", "#b"}
    h.feed(alice, "PART #a")
    h.feed(alice, "JOIN #c")
    assert set(h.state.network.clients[alice].channels) == {"#b", "#c"}


def test_join_0_parts_every_channel() -> None:
    h = Harness()
    alice, bob, _carol, dave = room(h)
    h.feed(alice, "JOIN #solo")
    h.feed(dave, "JOIN #other")
    h.feed(alice, "JOIN #other")
    out = h.feed(alice, "JOIN 0")
    assert out.to(alice) == [f"{A} PART #room", f"{A} PART #solo", f"{A} PART #other"]
    assert out.to(bob) == [f"{A} PART #room"]
    assert out.to(dave) == [f"{A} PART #other"]
    assert h.state.network.clients[alice].channels == {}
    assert set(h.state.network.channels) == {"#room", "#other"}  # #solo emptied and deleted
    check_consistent(h.state)


def test_join_without_parameter_is_461() -> None:
    h = Harness()
    alice = h.register("alice")
    assert h.feed(alice, "JOIN").to(alice) == [f"{SERVER} 461 alice JOIN :Not enough parameters"]


def test_part_broadcasts_with_reason_and_deletes_emptied_channel() -> None:
    h = Harness()
    alice, bob, carol, dave = room(h)
    out = h.feed(bob, "PART #ROOM :off to lunch")
    line = f"{B} PART #room :off to lunch"
    assert out.to(alice) == [line]
    assert out.to(bob) == [line]
    assert out.to(carol) == [line]
    assert out.to(dave) == []
    assert bob not in h.state.network.channels["#room"].members
    assert h.feed(carol, "PART #room").to(alice) == [f"{C} PART #room"]
    out = h.feed(alice, "PART #room")
    assert out.to(alice) == [f"{A} PART #room"]
    assert h.state.network.channels == {}
    check_consistent(h.state)


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("PART #nowhere", "403 dave #nowhere :No such channel"),
        ("PART #room", "442 dave #room :You're not on that channel"),
        ("PART", "461 dave PART :Not enough parameters"),
    ],
)
def test_part_errors(line: str, reply: str) -> None:
    h = Harness()
    _, _, _, dave = room(h)
    out = h.feed(dave, line)
    assert out.to(dave) == [f"{SERVER} {reply}"]
    assert out.recipients() == {dave}


def test_part_several_channels_reports_each_error() -> None:
    h = Harness()
    alice, _, _, _ = room(h)
    out = h.feed(alice, "PART #room,#nowhere")
    assert out.to(alice) == [f"{A} PART #room", f"{SERVER} 403 alice #nowhere :No such channel"]


def test_names_without_parameters_lists_own_channels() -> None:
    h = Harness()
    alice, _, _, dave = room(h)
    h.feed(alice, "JOIN #two")
    assert h.feed(alice, "NAMES").to(alice) == [
        f"{SERVER} 353 alice = #room :@alice bob carol",
        f"{SERVER} 366 alice #room :End of /NAMES list",
        f"{SERVER} 353 alice = #two @alice",
        f"{SERVER} 366 alice #two :End of /NAMES list",
    ]
    assert h.feed(dave, "NAMES").to(dave) == [f"{SERVER} 366 dave * :End of /NAMES list"]
    assert h.feed(dave, "NAMES #room,#nowhere").to(dave) == [
        f"{SERVER} 353 dave = #room :@alice bob carol",
        f"{SERVER} 366 dave #room :End of /NAMES list",
        f"{SERVER} 366 dave #nowhere :End of /NAMES list",
    ]


@pytest.mark.parametrize("channel", ["#" + "x" * 49, "#" + "日" * 49], ids=["ascii", "cjk"])
def test_long_names_reply_is_split_within_512_bytes(channel: str) -> None:
    h = Harness()
    members = [h.register(f"n{i:02d}" + "x" * 27) for i in range(40)]
    for conn in members:
        h.feed(conn, f"JOIN {channel}")
    viewer = h.register("viewer", caps=("multi-prefix", "userhost-in-names"))
    out = h.feed(viewer, f"NAMES {channel}")
    replies = [m for m in out.messages(viewer) if m.command == "353"]
    assert len(replies) > 1
    shown = [entry for m in replies for entry in m.params[-1].split()]
    assert [entry.lstrip("@").split("!")[0] for entry in shown] == [
        h.state.network.clients[conn].nick for conn in members
    ]
    for message in replies:
        assert len(serialize(message, tags={})) <= 512
    assert out.codes(viewer)[-1] == "366"


def test_kick_by_operator_is_broadcast_and_removes_target() -> None:
    h = Harness()
    alice, bob, carol, dave = room(h)
    out = h.feed(alice, "KICK #room BOB :behave")
    line = f"{A} KICK #room bob behave"
    assert out.to(alice) == [line]
    assert out.to(bob) == [line]
    assert out.to(carol) == [line]
    assert out.to(dave) == []
    assert bob not in h.state.network.channels["#room"].members
    assert "#room" not in h.state.network.clients[bob].channels
    # The default reason is the kicker's nick.
    assert h.feed(alice, "KICK #room carol").to(carol) == [f"{A} KICK #room carol alice"]
    check_consistent(h.state)


def test_kick_several_and_kick_self_last_deletes_channel() -> None:
    h = Harness()
    alice, _bob, _carol, _ = room(h)
    out = h.feed(alice, "KICK #room bob,carol,alice :bye")
    assert out.to(alice) == [
        f"{A} KICK #room bob bye",
        f"{A} KICK #room carol bye",
        f"{A} KICK #room alice bye",
    ]
    assert h.state.network.channels == {}
    check_consistent(h.state)


@pytest.mark.parametrize(
    ("kicker", "line", "reply"),
    [
        ("bob", "KICK #room carol", "482 bob #room :You're not channel operator"),
        ("dave", "KICK #room carol", "442 dave #room :You're not on that channel"),
        ("alice", "KICK #room dave", "441 alice dave #room :They aren't on that channel"),
        ("alice", "KICK #room nobody", "441 alice nobody #room :They aren't on that channel"),
        ("alice", "KICK #nowhere bob", "403 alice #nowhere :No such channel"),
        ("alice", "KICK #room", "461 alice KICK :Not enough parameters"),
    ],
)
def test_kick_errors(kicker: str, line: str, reply: str) -> None:
    h = Harness()
    conns = dict(zip(("alice", "bob", "carol", "dave"), room(h), strict=True))
    before = dict(h.state.network.channels["#room"].members)
    out = h.feed(conns[kicker], line)
    assert out.to(conns[kicker]) == [f"{SERVER} {reply}"]
    assert out.recipients() == {conns[kicker]}
    assert h.state.network.channels["#room"].members == before


# ---------------------------------------------------------------------------
# Channels: TOPIC and MODE
# ---------------------------------------------------------------------------


def test_topic_query_before_and_after_it_is_set() -> None:
    h = Harness()
    alice, bob, carol, dave = room(h)
    assert h.feed(bob, "TOPIC #room").to(bob) == [f"{SERVER} 331 bob #room :No topic is set"]
    h.clock.advance(10)
    out = h.feed(alice, "TOPIC #ROOM :Tea at five")
    line = f"{A} TOPIC #room :Tea at five"
    assert out.to(alice) == [line]
    assert out.to(bob) == [line]
    assert out.to(carol) == [line]
    assert out.to(dave) == []
    assert h.feed(dave, "TOPIC #room").to(dave) == [
        f"{SERVER} 332 dave #room :Tea at five",
        f"{SERVER} 333 dave #room alice!~alice@10.0.0.1 {int(START) + 10}",
    ]
    # An empty topic clears it.
    h.feed(alice, "TOPIC #room :")
    assert h.feed(bob, "TOPIC #room").codes(bob) == ["331"]


def test_topic_is_truncated_to_topiclen() -> None:
    h = Harness()
    alice, _, _, _ = room(h)
    h.feed(alice, "TOPIC #room :" + "é" * 240)  # 480 bytes, a valid line
    topic = h.state.network.channels["#room"].topic
    assert len(topic.encode()) <= 390
    assert topic == "é" * 195


@pytest.mark.parametrize(
    ("who", "line", "reply"),
    [
        ("bob", "TOPIC #room :mine", "482 bob #room :You're not channel operator"),
        ("dave", "TOPIC #room :mine", "442 dave #room :You're not on that channel"),
        ("dave", "TOPIC #nowhere :mine", "403 dave #nowhere :No such channel"),
        ("dave", "TOPIC #nowhere", "403 dave #nowhere :No such channel"),
        ("dave", "TOPIC", "461 dave TOPIC :Not enough parameters"),
    ],
)
def test_topic_errors_with_t_set(who: str, line: str, reply: str) -> None:
    h = Harness()
    conns = dict(zip(("alice", "bob", "carol", "dave"), room(h), strict=True))
    out = h.feed(conns[who], line)
    assert out.to(conns[who]) == [f"{SERVER} {reply}"]
    assert out.recipients() == {conns[who]}
    assert h.state.network.channels["#room"].topic == ""


def test_minus_t_lets_members_but_not_outsiders_set_the_topic() -> None:
    h = Harness()
    alice, bob, carol, dave = room(h)
    assert h.feed(alice, "MODE #room -t").to(bob) == [f"{A} MODE #room -t"]
    out = h.feed(bob, "TOPIC #room :bob's topic")
    assert out.to(carol) == [f"{B} TOPIC #room :bob's topic"]
    assert h.state.network.channels["#room"].topic_by == B[1:]
    out = h.feed(dave, "TOPIC #room :dave's topic")
    assert out.to(dave) == [f"{SERVER} 442 dave #room :You're not on that channel"]
    assert h.state.network.channels["#room"].topic == "bob's topic"


def test_channel_mode_query() -> None:
    h = Harness()
    alice, _, _, dave = room(h)
    assert h.feed(dave, "MODE #ROOM").to(dave) == [
        f"{SERVER} 324 dave #room +nt",
        f"{SERVER} 329 dave #room {int(START)}",
    ]
    h.feed(alice, "MODE #room +m-t")
    assert h.feed(dave, "MODE #room").to(dave)[0] == f"{SERVER} 324 dave #room +mn"


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("MODE #room b", "368 dave #room :End of channel ban list"),
        ("MODE #room +b", "368 dave #room :End of channel ban list"),
        ("MODE #room e", "349 dave #room :End of channel exception list"),
        ("MODE #room I", "347 dave #room :End of channel invite list"),
        ("MODE #nowhere", "403 dave #nowhere :No such channel"),
        ("MODE", "461 dave MODE :Not enough parameters"),
    ],
)
def test_channel_mode_lists_and_errors(line: str, reply: str) -> None:
    h = Harness()
    _, _, _, dave = room(h)
    assert h.feed(dave, line).to(dave) == [f"{SERVER} {reply}"]


def test_member_modes_by_operator_are_broadcast() -> None:
    h = Harness()
    alice, bob, carol, dave = room(h)
    out = h.feed(alice, "MODE #room +ov bob CAROL")
    line = f"{A} MODE #room +ov bob carol"
    assert out.to(alice) == [line]
    assert out.to(bob) == [line]
    assert out.to(carol) == [line]
    assert out.to(dave) == []
    assert out.sends()[0].message.tags == {"time": START_TAG}
    members = h.state.network.channels["#room"].members
    assert members == {alice: "o", bob: "o", carol: "v"}
    # Setting what is already set is silent.
    assert h.feed(alice, "MODE #room +o bob").effects == []
    out = h.feed(bob, "MODE #room -o+t-v alice carol")
    assert out.to(carol) == [f"{B} MODE #room -ov alice carol"]
    assert members == {alice: "", bob: "o", carol: ""}
    assert h.feed(alice, "MODE #room +o alice").to(alice) == [
        f"{SERVER} 482 alice #room :You're not channel operator"
    ]


@pytest.mark.parametrize(
    ("line", "replies", "broadcast"),
    [
        ("MODE #room +x", ["472 alice x :is unknown mode char to me"], None),
        ("MODE #room +mx", ["472 alice x :is unknown mode char to me"], "+m"),
        ("MODE #room +o", ["461 alice MODE :Not enough parameters"], None),
        ("MODE #room +o dave", ["441 alice dave #room :They aren't on that channel"], None),
        ("MODE #room +o nobody", ["401 alice nobody :No such nick/channel"], None),
        ("MODE #room +b bob", [], "+b bob!*@*"),
    ],
)
def test_channel_mode_change_errors(line: str, replies: list[str], broadcast: str | None) -> None:
    h = Harness()
    alice, bob, _, _ = room(h)
    out = h.feed(alice, line)
    sent = [f"{SERVER} {reply}" for reply in replies]
    assert [x for x in out.to(alice) if x.startswith(SERVER)] == sent
    expected = [] if broadcast is None else [f"{A} MODE #room {broadcast}"]
    assert out.to(bob) == expected


@pytest.mark.parametrize(
    ("who", "reply"),
    [
        ("bob", "482 bob #room :You're not channel operator"),
        ("dave", "442 dave #room :You're not on that channel"),
    ],
)
def test_channel_mode_change_by_non_operator(who: str, reply: str) -> None:
    h = Harness()
    conns = dict(zip(("alice", "bob", "carol", "dave"), room(h), strict=True))
    for change in ("+o bob", "-o alice", "+m", "-t"):
        out = h.feed(conns[who], f"MODE #room {change}")
        assert out.to(conns[who]) == [f"{SERVER} {reply}"]
        assert out.recipients() == {conns[who]}
    assert h.state.network.channels["#room"].modes == {"n", "t"}
    assert h.state.network.channels["#room"].members[conns["alice"]] == "o"


def test_user_mode() -> None:
    h = Harness()
    alice = h.register("alice")
    bob = h.register("bob")
    assert h.feed(alice, "MODE alice").to(alice) == [f"{SERVER} 221 alice +"]
    assert h.feed(alice, "MODE Alice +i").to(alice) == [f"{A} MODE alice +i"]
    assert h.state.network.clients[alice].modes == {"i"}
    assert h.feed(alice, "MODE alice +i").effects == []
    assert h.feed(alice, "MODE alice").to(alice) == [f"{SERVER} 221 alice +i"]
    assert h.feed(alice, "MODE alice +x").to(alice) == [f"{SERVER} 501 alice :Unknown MODE flag"]
    assert h.feed(alice, "MODE alice -i").to(alice) == [f"{A} MODE alice -i"]
    out = h.feed(alice, "MODE bob +i")
    assert out.to(alice) == [f"{SERVER} 502 alice :Cant change mode for other users"]
    assert out.recipients() == {alice}
    assert h.state.network.clients[bob].modes == set()
    assert h.feed(alice, "MODE bob").codes(alice) == ["502"]
    assert h.feed(alice, "MODE nobody").to(alice) == [
        f"{SERVER} 401 alice nobody :No such nick/channel"
    ]


# ---------------------------------------------------------------------------
# Messages: PRIVMSG, NOTICE, TAGMSG
# ---------------------------------------------------------------------------

NICKS = ("alice", "bob", "carol", "dave", "eve")


def private_room(h: Harness, alice_caps: Iterable[str] = ()) -> dict[str, ConnId]:
    """The usual room, plus eve who has a nick but never finished registering."""
    conns = dict(zip(NICKS, room(h, alice_caps), strict=False))
    conns["eve"] = h.connect()
    h.feed(conns["eve"], "NICK eve")
    return conns


PRIVATE_CASES: list[tuple[str, bool, dict[str, list[str]]]] = [
    # (line alice sends, with echo-message, exactly what each connection receives)
    ("PRIVMSG bob :just us", False, {"bob": [f"{A} PRIVMSG bob :just us"]}),
    (
        "PRIVMSG bob :just us",
        True,
        {"alice": [f"{A} PRIVMSG bob :just us"], "bob": [f"{A} PRIVMSG bob :just us"]},
    ),
    ("PRIVMSG BOB :just us", False, {"bob": [f"{A} PRIVMSG bob :just us"]}),
    ("PRIVMSG alice :note to self", False, {"alice": [f"{A} PRIVMSG alice :note to self"]}),
    ("PRIVMSG alice :note to self", True, {"alice": [f"{A} PRIVMSG alice :note to self"]}),
    (
        "PRIVMSG nobody :just us",
        False,
        {"alice": [f"{SERVER} 401 alice nobody :No such nick/channel"]},
    ),
    (
        "PRIVMSG nobody :just us",
        True,
        {"alice": [f"{SERVER} 401 alice nobody :No such nick/channel"]},
    ),
    ("PRIVMSG eve :just us", False, {"alice": [f"{SERVER} 401 alice eve :No such nick/channel"]}),
    ("PRIVMSG", False, {"alice": [f"{SERVER} 411 alice :No recipient given (PRIVMSG)"]}),
    ("PRIVMSG :", True, {"alice": [f"{SERVER} 411 alice :No recipient given (PRIVMSG)"]}),
    ("PRIVMSG bob", True, {"alice": [f"{SERVER} 412 alice :No text to send"]}),
    ("PRIVMSG bob :", False, {"alice": [f"{SERVER} 412 alice :No text to send"]}),
    (
        "PRIVMSG a,b,c,d,bob :just us",
        True,
        {"alice": [f"{SERVER} 407 alice a,b,c,d,bob :Too many targets"]},
    ),
    (
        "PRIVMSG bob,carol :just us",
        False,
        {"bob": [f"{A} PRIVMSG bob :just us"], "carol": [f"{A} PRIVMSG carol :just us"]},
    ),
    ("PRIVMSG bob,bob :just us", False, {"bob": [f"{A} PRIVMSG bob :just us"]}),
    ("PRIVMSG bob,BOB,Bob :just us", False, {"bob": [f"{A} PRIVMSG bob :just us"]}),
    (
        "PRIVMSG bob,nobody :just us",
        False,
        {
            "alice": [f"{SERVER} 401 alice nobody :No such nick/channel"],
            "bob": [f"{A} PRIVMSG bob :just us"],
        },
    ),
    (
        "PRIVMSG bob, :just us",
        False,
        {
            "alice": [f"{SERVER} 401 alice * :No such nick/channel"],
            "bob": [f"{A} PRIVMSG bob :just us"],
        },
    ),
    # A client cannot choose its source: the server stamps the one it knows.
    (
        ":bob!~bob@10.0.0.2 PRIVMSG carol :just us",
        False,
        {"carol": [f"{A} PRIVMSG carol :just us"]},
    ),
    (":carol PRIVMSG carol :just us", False, {"carol": [f"{A} PRIVMSG carol :just us"]}),
    # NOTICE never draws an error reply.
    ("NOTICE bob :just us", False, {"bob": [f"{A} NOTICE bob :just us"]}),
    (
        "NOTICE bob :just us",
        True,
        {"alice": [f"{A} NOTICE bob :just us"], "bob": [f"{A} NOTICE bob :just us"]},
    ),
    ("NOTICE nobody :just us", True, {}),
    ("NOTICE eve :just us", False, {}),
    ("NOTICE", False, {}),
    ("NOTICE bob", False, {}),
    ("NOTICE a,b,c,d,bob :just us", False, {}),
    ("NOTICE #nowhere :just us", False, {}),
]


@pytest.mark.parametrize(("line", "echo", "expected"), PRIVATE_CASES)
def test_private_message_reaches_exactly_its_target(
    line: str, echo: bool, expected: dict[str, list[str]]
) -> None:
    h = Harness()
    conns = private_room(h, ("echo-message",) if echo else ())
    out = h.feed(conns["alice"], line)
    for nick in NICKS:
        assert out.to(conns[nick]) == expected.get(nick, []), nick
    assert out.closed() == {}


def test_private_message_to_away_user_gets_301_but_notice_does_not() -> None:
    h = Harness()
    alice, bob, _, _ = room(h)
    assert h.feed(bob, "AWAY :out to lunch").to(bob) == [
        f"{SERVER} 306 bob :You have been marked as being away"
    ]
    out = h.feed(alice, "PRIVMSG Bob :are you there")
    assert out.to(alice) == [f"{SERVER} 301 alice bob :out to lunch"]
    assert out.to(bob) == [f"{A} PRIVMSG bob :are you there"]
    out = h.feed(alice, "NOTICE bob :are you there")
    assert out.to(alice) == []
    assert out.to(bob) == [f"{A} NOTICE bob :are you there"]
    assert h.feed(alice, "PRIVMSG #room :anyone").to(alice) == []


CHANNEL_CASES: list[tuple[str, bool, set[str]]] = [
    # (line alice sends, with echo-message, who receives the message)
    ("PRIVMSG #room :hello all", False, {"bob", "carol"}),
    ("PRIVMSG #room :hello all", True, {"alice", "bob", "carol"}),
    ("PRIVMSG #ROOM :hello all", False, {"bob", "carol"}),
    ("PRIVMSG #room,#room :hello all", False, {"bob", "carol"}),
    ("NOTICE #room :hello all", False, {"bob", "carol"}),
    ("NOTICE #room :hello all", True, {"alice", "bob", "carol"}),
]


@pytest.mark.parametrize(("line", "echo", "receivers"), CHANNEL_CASES)
def test_channel_message_reaches_every_other_member(
    line: str, echo: bool, receivers: set[str]
) -> None:
    h = Harness()
    conns = private_room(h, ("echo-message",) if echo else ())
    out = h.feed(conns["alice"], line)
    command = line.split()[0]
    for nick in NICKS:
        want = [f"{A} {command} #room :hello all"] if nick in receivers else []
        assert out.to(conns[nick]) == want, nick


def test_channel_and_nick_targets_together() -> None:
    h = Harness()
    alice, bob, carol, dave = room(h)
    out = h.feed(alice, "PRIVMSG #room,dave :hi there")
    assert out.to(bob) == [f"{A} PRIVMSG #room :hi there"]
    assert out.to(carol) == [f"{A} PRIVMSG #room :hi there"]
    assert out.to(dave) == [f"{A} PRIVMSG dave :hi there"]
    assert out.to(alice) == []


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("PRIVMSG #nowhere :hi", "401 dave #nowhere :No such nick/channel"),
        ("PRIVMSG #room :hi", "404 dave #room :Cannot send to channel"),  # +n, not a member
        ("TAGMSG #room", "404 dave #room :Cannot send to channel"),
    ],
)
def test_channel_message_errors(line: str, reply: str) -> None:
    h = Harness()
    _, _, _, dave = room(h)
    out = h.feed(dave, line)
    assert out.to(dave) == [f"{SERVER} {reply}"]
    assert out.recipients() == {dave}


def test_moderated_channel_needs_voice() -> None:
    h = Harness()
    alice, bob, carol, _ = room(h)
    h.feed(alice, "MODE #room +m")
    out = h.feed(bob, "PRIVMSG #room :may I")
    assert out.to(bob) == [f"{SERVER} 404 bob #room :Cannot send to channel"]
    assert out.recipients() == {bob}
    assert h.feed(bob, "NOTICE #room :may I").effects == []
    assert h.feed(alice, "PRIVMSG #room :ops may").to(bob) == [f"{A} PRIVMSG #room :ops may"]
    h.feed(alice, "MODE #room +v bob")
    assert h.feed(bob, "PRIVMSG #room :voiced now").to(carol) == [f"{B} PRIVMSG #room :voiced now"]
    h.feed(alice, "MODE #room -v bob")
    assert h.feed(bob, "PRIVMSG #room :again").codes(bob) == ["404"]


def test_channel_without_n_takes_messages_from_outside() -> None:
    h = Harness()
    alice, bob, carol, dave = room(h)
    h.feed(alice, "MODE #room -n")
    out = h.feed(dave, "PRIVMSG #room :from outside")
    assert out.recipients() == {alice, bob, carol}
    assert out.to(bob) == [f"{D} PRIVMSG #room :from outside"]
    h.feed(alice, "MODE #room +m")
    assert h.feed(dave, "PRIVMSG #room :again").codes(dave) == ["404"]


def test_tagmsg_reaches_only_message_tags_clients() -> None:
    h = Harness()
    alice, bob, carol, dave = room(h, ("message-tags", "echo-message"), ("message-tags",))
    out = h.feed(alice, "@+typing=active TAGMSG #room")
    assert out.recipients() == {alice, bob}
    [send] = out.sends()
    msgid = send.message.tags["msgid"]  # relayed with a msgid, like PRIVMSG (issue 12)
    assert send.message.tags == {"+typing": "active", "time": START_TAG, "msgid": msgid}
    assert out.to(bob, tags=True) == [
        f"@+typing=active;time={START_TAG};msgid={msgid} {A} TAGMSG #room"
    ]
    # Private TAGMSG to a client without message-tags reaches nobody (not even the echo).
    h.feed(alice, "CAP REQ :-echo-message")
    assert h.feed(alice, "@+typing=active TAGMSG carol").effects == []
    assert h.feed(alice, "@+typing=active TAGMSG bob").recipients() == {bob}
    assert h.feed(carol, "@+typing=active TAGMSG #room").recipients() == {alice, bob}
    assert h.feed(alice, "TAGMSG").codes(alice) == ["411"]
    assert h.feed(dave, "TAGMSG nobody").codes(dave) == ["401"]


def test_only_client_only_tags_are_relayed_with_server_time() -> None:
    h = Harness()
    alice, bob, _, _ = room(h, ("message-tags",), ("message-tags", "server-time"))
    out = h.feed(
        alice,
        "@+foo=bar;msgid=forged;time=1999-01-01T00:00:00.000Z;+example.com/x=a\\sb;account=bob"
        " PRIVMSG #room :tagged",
    )
    [send] = out.sends()
    msgid = send.message.tags["msgid"]  # the server's own, for the history
    assert msgid != "forged"
    assert dict(send.message.tags) == {
        "+foo": "bar",
        "+example.com/x": "a b",
        "time": START_TAG,
        "msgid": msgid,
    }
    assert out.to(bob, tags=True) == [
        f"@+foo=bar;+example.com/x=a\\sb;time={START_TAG};msgid={msgid} {A} PRIVMSG #room tagged"
    ]


def test_relayed_messages_carry_the_current_server_time() -> None:
    h = Harness()
    alice, bob, _, _ = room(h)
    h.clock.advance(2.5)
    for line in ("PRIVMSG #room :x", "NOTICE bob :x", "TOPIC #room :x", "MODE #room +v bob"):
        [send] = h.feed(alice, line).sends()
        tags = {key: value for key, value in send.message.tags.items() if key != "msgid"}
        assert tags == {"time": "2024-01-02T03:04:08.178Z"}, line
    [send] = h.feed(bob, "PART #room").sends()
    assert send.message.tags == {"time": "2024-01-02T03:04:08.178Z"}
    # Numerics are the server's own replies and carry no time.
    [send] = h.feed(alice, "MOTD").sends()[:1]
    assert send.message.tags == {}


@pytest.mark.parametrize("targets", ["a,b,c,d,e", "#a,#b,#c,#d,#e", "bob,bob,bob,bob,bob"])
def test_more_than_four_targets_is_407(targets: str) -> None:
    h = Harness()
    alice, _bob, _, _ = room(h)
    out = h.feed(alice, f"PRIVMSG {targets} :spam")
    assert out.to(alice) == [f"{SERVER} 407 alice {targets} :Too many targets"]
    assert out.recipients() == {alice}


# ---------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------


def test_who_channel_lists_members_with_flags() -> None:
    h = Harness()
    alice, bob, _carol, dave = room(h)
    h.feed(alice, "MODE #room +v bob")
    h.feed(bob, "AWAY :brb")
    assert h.feed(dave, "WHO #ROOM").to(dave) == [
        f"{SERVER} 352 dave #room ~alice 10.0.0.1 triochat alice H@ :0 Real alice",
        f"{SERVER} 352 dave #room ~bob 10.0.0.2 triochat bob G+ :0 Real bob",
        f"{SERVER} 352 dave #room ~carol 10.0.0.3 triochat carol H :0 Real carol",
        f"{SERVER} 315 dave #ROOM :End of WHO list",
    ]
    h.feed(alice, "MODE #room +v alice")
    multi = h.register("eve", caps=("multi-prefix",))
    assert h.feed(multi, "WHO #room").to(multi)[0] == (
        f"{SERVER} 352 eve #room ~alice 10.0.0.1 triochat alice H@+ :0 Real alice"
    )


@pytest.mark.parametrize(
    ("line", "replies"),
    [
        (
            "WHO bob",
            [
                "352 dave * ~bob 10.0.0.2 triochat bob H :0 Real bob",
                "315 dave bob :End of WHO list",
            ],
        ),
        ("WHO nobody", ["315 dave nobody :End of WHO list"]),
        ("WHO eve", ["315 dave eve :End of WHO list"]),  # not registered
        ("WHO #nowhere", ["315 dave #nowhere :End of WHO list"]),
    ],
)
def test_who_nick_and_unknowns(line: str, replies: list[str]) -> None:
    h = Harness()
    conns = private_room(h)
    out = h.feed(conns["dave"], line)
    assert out.to(conns["dave"]) == [f"{SERVER} {reply}" for reply in replies]


def test_whois() -> None:
    h = Harness()
    _alice, bob, _, dave = room(h)
    h.feed(bob, "JOIN #other")
    h.clock.advance(30)
    h.feed(bob, "PRIVMSG #room :speaking")
    h.clock.advance(12)
    assert h.feed(dave, "WHOIS BOB").to(dave) == [
        f"{SERVER} 311 dave bob ~bob 10.0.0.2 * :Real bob",
        f"{SERVER} 319 dave bob :#room @#other",
        f"{SERVER} 312 dave bob triochat :triochat server",
        f"{SERVER} 317 dave bob 12 {int(START)} :seconds idle, signon time",
        f"{SERVER} 318 dave bob :End of /WHOIS list",
    ]
    h.feed(bob, "AWAY :gone fishing")
    out = h.feed(dave, "WHOIS triochat bob")  # the server-name form
    assert out.codes(dave) == ["311", "319", "312", "301", "317", "318"]
    assert out.to(dave)[3] == f"{SERVER} 301 dave bob :gone fishing"
    # Without channels there is no 319; without ever speaking, idle counts from signon.
    out = h.feed(bob, "WHOIS dave")
    assert out.codes(bob) == ["311", "312", "317", "318"]
    assert out.to(bob)[2] == f"{SERVER} 317 bob dave 42 {int(START)} :seconds idle, signon time"


@pytest.mark.parametrize(
    ("line", "replies"),
    [
        (
            "WHOIS nobody",
            ["401 dave nobody :No such nick/channel", "318 dave nobody :End of /WHOIS list"],
        ),
        ("WHOIS eve", ["401 dave eve :No such nick/channel", "318 dave eve :End of /WHOIS list"]),
        ("WHOIS", ["431 dave :No nickname given"]),
        (
            "WHOWAS alice",
            ["406 dave alice :There was no such nickname", "369 dave alice :End of WHOWAS"],
        ),
        ("WHOWAS", ["431 dave :No nickname given"]),
    ],
)
def test_whois_and_whowas_errors(line: str, replies: list[str]) -> None:
    h = Harness()
    conns = private_room(h)
    out = h.feed(conns["dave"], line)
    assert out.to(conns["dave"]) == [f"{SERVER} {reply}" for reply in replies]
    assert out.recipients() == {conns["dave"]}


def test_ison_and_userhost() -> None:
    h = Harness()
    conns = private_room(h)
    dave = conns["dave"]
    assert h.feed(dave, "ISON alice nobody BOB eve").to(dave) == [f"{SERVER} 303 dave :alice bob"]
    assert h.feed(dave, "ISON :alice carol").to(dave) == [f"{SERVER} 303 dave :alice carol"]
    assert h.feed(dave, "ISON nobody").to(dave) == [f"{SERVER} 303 dave :"]
    h.feed(conns["bob"], "AWAY :away")
    assert h.feed(dave, "USERHOST alice BOB nobody eve").to(dave) == [
        f"{SERVER} 302 dave :alice=+~alice@10.0.0.1 bob=-~bob@10.0.0.2"
    ]
    out = h.feed(dave, "USERHOST a b c d e alice")  # at most five are looked at
    assert out.to(dave) == [f"{SERVER} 302 dave :"]


def test_list() -> None:
    h = Harness()
    alice, _, _, dave = room(h)
    h.feed(alice, "TOPIC #room :Tea at five")
    h.feed(dave, "JOIN #quiet")
    assert h.feed(dave, "LIST").to(dave) == [
        f"{SERVER} 321 dave Channel :Users  Name",
        f"{SERVER} 322 dave #room 3 :Tea at five",
        f"{SERVER} 322 dave #quiet 1 :",
        f"{SERVER} 323 dave :End of /LIST",
    ]
    assert h.feed(dave, "LIST #QUIET,#nowhere").to(dave) == [
        f"{SERVER} 321 dave Channel :Users  Name",
        f"{SERVER} 322 dave #quiet 1 :",
        f"{SERVER} 323 dave :End of /LIST",
    ]


def test_time() -> None:
    h = Harness()
    alice = h.register("alice")
    [message] = h.feed(alice, "TIME").messages(alice)
    assert message.command == "391"
    assert message.source == "triochat"
    assert message.params[:2] == ("alice", "triochat")
    local = datetime.fromtimestamp(START).astimezone()
    assert local.strftime("%H:%M:%S") in message.params[2]
    assert local.strftime("%Y") in message.params[2]


def test_help_index_topic_and_unknown() -> None:
    h = Harness()
    alice = h.register("alice")
    out = h.feed(alice, "HELP")
    lines = out.to(alice)
    assert lines[0] == f"{SERVER} 704 alice index :** triochat commands **"
    assert lines[-1] == f"{SERVER} 706 alice index :End of /HELP"
    assert out.codes(alice) == ["704"] + ["705"] * len(h.state.commands) + ["706"]
    helped = {m.params[2].split()[0] for m in out.messages(alice) if m.command == "705"}
    assert {"PRIVMSG", "JOIN", "QUIT", "TIME", "NAMES", "HELP"} <= helped
    privmsg = h.state.commands["PRIVMSG"]
    syntax, summary = privmsg.syntax, privmsg.summary
    assert h.feed(alice, "HELP privmsg").to(alice) == [
        f"{SERVER} 704 alice PRIVMSG :{syntax}",
        f"{SERVER} 705 alice PRIVMSG :{summary}",
        f"{SERVER} 706 alice PRIVMSG :End of /HELP",
    ]
    assert h.feed(alice, "HELP frobnicate").to(alice) == [
        f"{SERVER} 524 alice FROBNICATE :No help available on this topic"
    ]


def test_every_command_has_help_and_every_help_topic_is_a_command() -> None:
    h = Harness()
    alice = h.register("alice")
    for command in sorted(h.state.commands, key=lambda name: name == "QUIT"):  # QUIT last
        assert h.feed(alice, f"HELP {command}").codes(alice)[0] == "704"
        out = h.feed(alice, command)
        assert "421" not in out.codes(alice), command
    assert out.closed() == {alice: "Closing link: 10.0.0.1 (Quit)"}


def test_version() -> None:
    h = Harness()
    alice = h.register("alice")
    out = h.feed(alice, "VERSION")
    lines = out.to(alice)
    assert lines[0] == (
        f"{SERVER} 351 alice {VERSION} triochat :a chat server on Trio's structured concurrency"
    )
    assert set(out.codes(alice)[1:]) == {"005"}


def test_version_comes_from_the_package_metadata() -> None:
    assert f"triochat-{importlib.metadata.version('triochat')}" == VERSION


def test_info_says_what_the_server_is_not_its_version_line() -> None:
    h = Harness()
    alice = h.register("alice")
    out = h.feed(alice, "INFO")
    codes = out.codes(alice)
    assert codes[-1] == "374"
    assert set(codes[:-1]) == {"371"}
    assert VERSION in out.to(alice)[0]


def test_lusers_counts_users_invisible_unknown_and_channels() -> None:
    h = Harness()
    alice = h.register("alice")
    h.register("bob")
    h.connect()  # not registered
    h.feed(alice, "MODE alice +i")
    h.feed(alice, "JOIN #a")
    assert h.feed(alice, "LUSERS").to(alice) == [
        f"{SERVER} 251 alice :There are 1 users and 1 invisible on 1 servers",
        f"{SERVER} 253 alice 1 :unknown connection(s)",
        f"{SERVER} 254 alice 1 :channels formed",
        f"{SERVER} 255 alice :I have 2 clients and 0 servers",
        f"{SERVER} 265 alice 2 2 :Current local users 2, max 2",
        f"{SERVER} 266 alice 2 2 :Current global users 2, max 2",
    ]


def test_motd_on_request() -> None:
    h = Harness(ServerConfig(motd=("line one", "line two")))
    alice = h.register("alice")
    assert h.feed(alice, "MOTD").to(alice) == [
        f"{SERVER} 375 alice :- triochat Message of the day - ",
        f"{SERVER} 372 alice :- line one",
        f"{SERVER} 372 alice :- line two",
        f"{SERVER} 376 alice :End of /MOTD command.",
    ]


@pytest.mark.parametrize("line", ["FOO", "foo bar", "PRIVMSGX #a :hi", "SQUIT a b", "CONNECT bob"])
def test_unknown_command_is_421(line: str) -> None:
    h = Harness()
    alice = h.register("alice")
    command = line.split()[0].upper()
    out = h.feed(alice, line)
    assert out.to(alice) == [f"{SERVER} 421 alice {command} :Unknown command"]
    assert out.recipients() == {alice}


def test_ping_after_registration() -> None:
    h = Harness()
    alice = h.register("alice")
    assert h.feed(alice, "PING LAG123").to(alice) == [f"{SERVER} PONG triochat LAG123"]


# ---------------------------------------------------------------------------
# Presence: AWAY and away-notify
# ---------------------------------------------------------------------------


def test_away_sets_and_unsets() -> None:
    h = Harness()
    alice = h.register("alice")
    assert h.feed(alice, "AWAY :at lunch").to(alice) == [
        f"{SERVER} 306 alice :You have been marked as being away"
    ]
    assert h.state.network.clients[alice].away == "at lunch"
    assert h.feed(alice, "AWAY").to(alice) == [
        f"{SERVER} 305 alice :You are no longer marked as being away"
    ]
    assert h.state.network.clients[alice].away is None
    h.feed(alice, "AWAY :x")
    h.feed(alice, "AWAY :")  # an empty message also unsets
    assert h.state.network.clients[alice].away is None
    h.feed(alice, "AWAY :" + "z" * 300)
    assert h.state.network.clients[alice].away == "z" * 200  # AWAYLEN


def test_away_notify_peers_hear_once_and_others_not_at_all() -> None:
    h = Harness()
    alice, bob, carol, dave = room(h, (), ("away-notify",), (), ("away-notify",))
    h.feed(alice, "JOIN #two")
    h.feed(bob, "JOIN #two")  # bob shares two channels with alice
    out = h.feed(alice, "AWAY :at lunch")
    assert out.to(bob) == [f"{A} AWAY :at lunch"]
    assert out.to(carol) == []  # shares a channel, but did not ask
    assert out.to(dave) == []  # asked, but shares no channel
    assert out.to(alice) == [f"{SERVER} 306 alice :You have been marked as being away"]
    out = h.feed(alice, "AWAY")
    assert out.to(bob) == [f"{A} AWAY"]
    assert out.recipients() == {alice, bob}


def test_away_notify_on_join_while_away() -> None:
    h = Harness()
    alice, bob, carol, _ = room(h, ("away-notify",), ("away-notify",))
    eve = h.register("eve")
    h.feed(eve, "AWAY :busy")
    out = h.feed(eve, "JOIN #room")
    e = h.source(eve)
    assert out.to(alice) == [f"{e} JOIN #room", f"{e} AWAY busy"]
    assert out.to(bob) == [f"{e} JOIN #room", f"{e} AWAY busy"]
    assert out.to(carol) == [f"{e} JOIN #room"]
    assert "AWAY" not in out.codes(eve)
    # Not away: no AWAY on join.
    frank = h.register("frank")
    assert "AWAY" not in h.feed(frank, "JOIN #room").codes(alice)


# ---------------------------------------------------------------------------
# Leaving: QUIT and disconnect
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [("QUIT :see you", "Quit: see you"), ("QUIT", "Quit"), ("QUIT :", "Quit")],
)
def test_quit_is_broadcast_once_per_peer_and_closes(line: str, reason: str) -> None:
    h = Harness()
    alice, bob, carol, dave = room(h)
    h.feed(alice, "JOIN #two")
    h.feed(bob, "JOIN #two")
    h.feed(alice, "JOIN #solo")
    out = h.feed(alice, line)
    quit_line = f"{A} QUIT :{reason}" if " " in reason else f"{A} QUIT {reason}"
    assert out.to(bob) == [quit_line]
    assert out.to(carol) == [quit_line]
    assert out.to(dave) == []
    assert out.to(alice) == []
    assert out.closed() == {alice: "Closing link: 10.0.0.1 (Quit)"}
    assert isinstance(out.effects[-1], Close)
    assert alice not in h.state.network.clients
    assert "alice" not in h.state.network.nicks
    assert set(h.state.network.channels) == {"#room", "#two"}
    check_consistent(h.state)
    # The server layer then drops the connection: nothing more happens.
    assert h.disconnect(alice).effects == []
    assert h.feed(alice, "PRIVMSG #room :ghost").effects == []


def test_disconnect_tells_peers_once_and_forgets_everything() -> None:
    h = Harness()
    alice, bob, carol, dave = room(h)
    h.feed(alice, "JOIN #two")
    h.feed(bob, "JOIN #two")
    h.feed(alice, "JOIN #solo")
    out = h.disconnect(alice, "Ping timeout: 180 seconds")
    line = f"{A} QUIT :Ping timeout: 180 seconds"
    assert out.to(bob) == [line]
    assert out.to(carol) == [line]
    assert out.to(dave) == []
    assert out.recipients() == {bob, carol}
    assert out.closed() == {}
    assert out.sends()[0].message.tags == {"time": START_TAG}
    assert alice not in h.state.network.clients
    assert all(alice not in channel.members for channel in h.state.network.channels.values())
    assert "#solo" not in h.state.network.channels
    assert "alice" not in h.state.network.nicks
    check_consistent(h.state)
    assert h.disconnect(alice, "again").effects == []
    h.register("alice")


def test_disconnect_of_last_members_deletes_channels() -> None:
    h = Harness()
    alice, bob, carol, dave = room(h)
    for conn in (alice, bob, carol, dave):
        h.disconnect(conn)
        check_consistent(h.state)
    assert h.state.network.clients == {}
    assert h.state.network.channels == {}
    assert h.state.network.nicks == {}


def test_disconnect_of_unregistered_client_is_silent() -> None:
    h = Harness()
    _alice, _, _, _ = room(h)
    conn = h.connect()
    h.feed(conn, "NICK pending")
    assert h.disconnect(conn).effects == []
    assert "pending" not in h.state.network.nicks
    check_consistent(h.state)


def test_peer_leaving_is_not_told_to_the_leaver_after_kick() -> None:
    h = Harness()
    alice, bob, carol, _ = room(h)
    h.feed(alice, "KICK #room bob")
    out = h.disconnect(bob)
    assert out.effects == []  # bob shares no channel any more
    out = h.disconnect(carol)
    assert out.recipients() == {alice}


# ---------------------------------------------------------------------------
# reject(): lines that could not be parsed
# ---------------------------------------------------------------------------

REJECT_CASES: list[tuple[RemoteProtocolError, str]] = [
    (LineTooLong("line too long", "PRIVMSG"), f"{SERVER} 417 alice :Input line was too long"),
    (
        InvalidUtf8("line is not valid UTF-8", "PRIVMSG"),
        f"{SERVER} FAIL PRIVMSG INVALID_UTF8 "
        ":Message rejected, your IRC software MUST use UTF-8 encoding",
    ),
    (
        InvalidUtf8("bad", "*"),
        f"{SERVER} FAIL * INVALID_UTF8 "
        ":Message rejected, your IRC software MUST use UTF-8 encoding",
    ),
    (
        TooManyParams("more than 15 parameters", "FOO"),
        f"{SERVER} 461 alice FOO :Too many parameters",
    ),
    (
        MalformedMessage("line has no command"),
        f"{SERVER} 400 alice * :Malformed line: line has no command",
    ),
]


@pytest.mark.parametrize(("error", "reply"), REJECT_CASES)
def test_reject(error: RemoteProtocolError, reply: str) -> None:
    h = Harness()
    alice, bob, _, _ = room(h)
    out = Outcome(h.state.reject(alice, error))
    assert out.to(alice) == [reply]
    assert out.recipients() == {alice}
    assert out.closed() == {}
    # The client is still there and the server keeps working.
    assert h.feed(alice, "PRIVMSG bob :still here").to(bob) == [f"{A} PRIVMSG bob :still here"]


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"PRIVMSG #room :" + b"x" * 600, "417"),
        (b"PRIVMSG #room :caf\xe9", "FAIL"),
        (b"FOO" + b" a" * 16, "461"),
        (b"PRIVMSG #room :a\x00b", "400"),
    ],
)
def test_unparsable_lines_are_rejected_to_the_sender_only(line: bytes, code: str) -> None:
    h = Harness()
    alice, _, _, _ = room(h)
    out = h.feed(alice, line)
    assert out.codes(alice) == [code]
    assert out.recipients() == {alice}


def test_reject_before_registration_uses_star() -> None:
    h = Harness()
    conn = h.connect()
    out = Outcome(h.state.reject(conn, LineTooLong("too long")))
    assert out.to(conn) == [f"{SERVER} 417 * :Input line was too long"]


# ---------------------------------------------------------------------------
# Bad input never breaks a line, never reaches others, never breaks the state
# ---------------------------------------------------------------------------

UNWRITABLE_ECHO_LINES = [
    # Each of these makes a reply that names what the client sent, which is
    # empty, holds a space or starts with ':' and so cannot be a middle parameter.
    "JOIN ,",
    "JOIN #a,,#b",
    "JOIN :#a b",
    "JOIN ::x",
    "PART ,",
    "PART :#a b",
    "KICK #room ,",
    "KICK #room :a b",
    "KICK :#a b :x",
    "MODE #room +o :",
    "MODE #room +o :a b",
    "MODE #room :o b",
    "MODE :a b",
    "MODE :#a b",
    "MODE ::x",
    "TOPIC :#a b",
    "TOPIC :#a b :x",
    "NAMES ,",
    "NAMES :#a b",
    "WHO :",
    "WHO :a b",
    "WHOIS :",
    "WHOIS :a b",
    "WHOWAS :",
    "WHOWAS :a b",
    "HELP :a b",
    "HELP ::x",
    "CAP :a b",
    "CAP :",
    "NICK :a b",
    "NICK ::x",
    "PRIVMSG , :x",
    "PRIVMSG #room,, :x",
    "TAGMSG :a b",
    "TAGMSG :#a b",
    "TAGMSG ::x",
    "TAGMSG :a,b,c,d,e f",
    "PRIVMSG :a b",
]


@pytest.mark.parametrize("line", UNWRITABLE_ECHO_LINES)
def test_replies_that_echo_client_text_can_always_be_written(line: str) -> None:
    h = Harness()
    alice, bob, carol, dave = room(h)
    before = {key: dict(channel.members) for key, channel in h.state.network.channels.items()}
    out = h.feed(alice, line)  # the harness serializes every effect
    assert out.effects, "bad input gets an answer"
    assert out.recipients() <= {alice, bob, carol}
    for conn in (bob, carol, dave):
        assert not [m for m in out.messages(conn) if m.source == "triochat"]
    assert out.closed() == {}
    if not line.startswith("JOIN"):
        assert {key: dict(c.members) for key, c in h.state.network.channels.items()} == before
    check_consistent(h.state)


@pytest.mark.parametrize("line", ["NICK :a b", "NICK ::x", "CAP :a b", "USER :a b", "PING :"])
def test_replies_before_registration_can_always_be_written(line: str) -> None:
    h = Harness()
    conn = h.connect()
    out = h.feed(conn, line)
    assert out.recipients() <= {conn}
    assert not h.state.is_registered(conn)


# ---------------------------------------------------------------------------
# The original program's bugs (research/python-peers.md, section 1.3)
# ---------------------------------------------------------------------------


def test_seed_two_clients_cannot_share_a_nickname() -> None:
    h = Harness()
    sam = h.register("sam")
    other = h.connect()
    out = h.feed_all(other, "NICK Sam", "USER sam 0 * :Sam")
    assert out.to(other) == [f"{SERVER} 433 * Sam :Nickname is already in use"]
    assert not h.state.is_registered(other)
    alice = h.register("alice")
    out = h.feed(alice, "PRIVMSG SAM :hi sam")
    assert out.recipients() == {sam}


def test_seed_private_to_unknown_nick_is_an_error_and_nothing_leaks() -> None:
    h = Harness()
    alice, bob, _carol, _dave = room(h)
    out = h.feed(alice, "PRIVMSG nobody :this was meant to be private")
    assert out.to(alice) == [f"{SERVER} 401 alice nobody :No such nick/channel"]
    assert out.recipients() == {alice}
    # No hidden "private mode": the next line is what it says, and !exit is text.
    out = h.feed(alice, "PRIVMSG #room :!exit")
    assert out.to(bob) == [f"{A} PRIVMSG #room !exit"]
    assert out.closed() == {}
    assert h.state.is_registered(alice)
    assert alice in h.state.network.channels["#room"].members


def test_seed_private_to_self_works() -> None:
    h = Harness()
    alice, _, _, _ = room(h)
    out = h.feed(alice, "PRIVMSG ALICE :talking to myself")
    assert out.to(alice) == [f"{A} PRIVMSG alice :talking to myself"]
    assert out.recipients() == {alice}


@pytest.mark.parametrize(
    ("line", "code"), [("PRIVMSG", "411"), ("PRIVMSG :", "411"), ("PRIVMSG  :hi", "412")]
)
def test_seed_empty_private_target_is_an_error(line: str, code: str) -> None:
    h = Harness()
    alice, _, _, _ = room(h)
    out = h.feed(alice, line)
    assert out.codes(alice) == [code]
    assert out.recipients() == {alice}
    # The next line is not taken as a target.
    out = h.feed(alice, "bob")
    assert out.codes(alice) == ["421"]
    assert out.recipients() == {alice}


def test_seed_non_ascii_nickname_is_refused_and_server_keeps_working() -> None:
    h = Harness()
    alice = h.register("alice")
    zoe = h.connect()
    out = h.feed_all(zoe, "NICK zoë", "USER zoe 0 * :Zoë")
    assert out.to(zoe) == [f"{SERVER} 432 * zoë :Erroneous nickname"]
    assert not h.state.is_registered(zoe)
    h.register("bob")  # others still get in
    assert "001" in h.feed(zoe, "NICK zoe").codes(zoe)  # and zoë may pick another nick
    assert h.feed(alice, "PRIVMSG zoe :welcome").recipients() == {zoe}
    assert h.state.network.clients[zoe].realname == "Zoë"


@pytest.mark.parametrize(
    "line",
    [
        ":alice!~alice@10.0.0.1 PRIVMSG #room :I am definitely alice",
        ":alice PRIVMSG #room :I am definitely alice",
        "PRIVMSG #room :>alice: I am definitely alice",
        "@+draft/from=alice PRIVMSG #room :I am definitely alice",
    ],
)
def test_seed_nobody_can_impersonate_anybody(line: str) -> None:
    h = Harness()
    alice, bob, carol, _ = room(h)
    out = h.feed(bob, line)
    for send in out.sends():
        assert send.message.source == B[1:]
    assert out.recipients() == {alice, carol}
    assert all(line.startswith(B + " ") for line in out.to(alice))


@pytest.mark.parametrize(
    "line",
    [
        b"PRIVMSG #room :hi\rQUIT :bye",
        b"PRIVMSG #room :hi\r",
        b"PRIVMSG #room :hi\x00QUIT",
        b"PRIVMSG bob\r :hi",
        b"@+x=a\\r\\nQUIT PRIVMSG #room :hi",
        b"@+x=a\rb PRIVMSG #room :hi",
        b"NICK a\rb",
        b"TOPIC #room :a\rb",
        b"AWAY :a\rb",
        b"QUIT :a\rb",
        b"KICK #room bob :a\rb",
    ],
)
def test_seed_no_line_injection(line: bytes) -> None:
    h = Harness()
    alice, bob, carol, _ = room(h)
    out = h.feed(alice, line)  # the harness serializes every effect, tags and all
    for send in out.sends():
        for tags in (True, False):
            written = serialize(send.message, tags=None if tags else {})
            assert written.count(b"\n") == 1
            assert written.count(b"\r") == 1
            assert b"\0" not in written
    for conn in (bob, carol):
        for message in out.messages(conn):
            assert message.source == A[1:]
    check_consistent(h.state)


@pytest.mark.parametrize("text", ["!exit", "!time", "!clients", "!private", "EXIT", "NICKNAME"])
def test_seed_control_words_are_just_text(text: str) -> None:
    h = Harness()
    alice, bob, carol, _ = room(h)
    out = h.feed(alice, f"PRIVMSG #room :{text}")
    assert out.to(bob) == [f"{A} PRIVMSG #room {text}"]
    assert out.to(carol) == [f"{A} PRIVMSG #room {text}"]
    assert out.to(alice) == []
    assert out.closed() == {}
    assert h.state.is_registered(alice)


def test_seed_bare_bang_exit_is_not_a_command() -> None:
    h = Harness()
    alice, _bob, _, _ = room(h)
    out = h.feed(alice, "!exit")
    assert out.codes(alice) == ["400"]
    assert out.recipients() == {alice}
    assert out.closed() == {}
    assert h.state.is_registered(alice)


def test_seed_gone_clients_leave_no_ghost() -> None:
    h = Harness()
    _alice, bob, _, dave = room(h)
    h.disconnect(bob, "Connection reset by peer")
    assert h.feed(dave, "NAMES #room").to(dave)[0] == f"{SERVER} 353 dave = #room :@alice carol"
    assert h.feed(dave, "ISON bob").to(dave) == [f"{SERVER} 303 dave :"]
    assert h.feed(dave, "PRIVMSG bob :hello").codes(dave) == ["401"]
    assert h.feed(dave, "WHO #room").codes(dave) == ["352", "352", "315"]


def test_echo_message_reaches_a_sender_outside_the_channel() -> None:
    # echo-message: servers MUST send PRIVMSG and NOTICE back to the client that sent them.
    h = Harness()
    alice, bob, carol, dave = room(h, (), (), (), ("echo-message",))
    h.feed(alice, "MODE #room -n")
    out = h.feed(dave, "PRIVMSG #room :from outside")
    assert out.recipients() == {alice, bob, carol, dave}
    assert out.to(dave) == [f"{D} PRIVMSG #room :from outside"]


def test_kicker_who_kicks_itself_cannot_kick_more() -> None:
    h = Harness()
    alice, bob, carol, _ = room(h)
    out = h.feed(alice, "KICK #room alice,bob :bye")
    assert out.to(bob) == [f"{A} KICK #room alice bye"]
    assert out.to(alice) == [
        f"{A} KICK #room alice bye",
        f"{SERVER} 442 alice #room :You're not on that channel",
    ]
    assert set(h.state.network.channels["#room"].members) == {bob, carol}
    check_consistent(h.state)


def test_kick_that_empties_the_channel_reports_the_rest() -> None:
    h = Harness()
    alice = h.register("alice")
    h.feed(alice, "JOIN #solo")
    out = h.feed(alice, "KICK #solo alice,bob")
    assert out.to(alice) == [
        f"{A} KICK #solo alice alice",
        f"{SERVER} 403 alice #solo :No such channel",
    ]
    assert h.state.network.channels == {}


# ---------------------------------------------------------------------------
# A state machine: random clients doing random things, checked against a model
# ---------------------------------------------------------------------------

MACHINE_NICKS = ["alice", "Alice", "bob", "BOB", "a[b", "a{b", "carol", "zoë"]
MACHINE_CHANNELS = ["#a", "#A", "#b", "#c"]
indices = st.integers(min_value=0, max_value=7)


class RoomMachine(RuleBasedStateMachine):
    """Every outcome is predicted by a small independent model of the room."""

    def __init__(self) -> None:
        super().__init__()
        self.h = Harness(ServerConfig(motd=None, max_channels=3))
        self.conns: list[ConnId] = []
        self.nick_of: dict[ConnId, str] = {}  # every nick held, registered or not
        self.users: set[ConnId] = set()  # sent a valid USER
        self.registered: set[ConnId] = set()
        self.members: dict[str, set[ConnId]] = {}  # casefolded channel -> members
        self.ops: dict[str, set[ConnId]] = {}

    # -- helpers ------------------------------------------------------------

    def pick(self, index: int) -> ConnId | None:
        return self.conns[index % len(self.conns)] if self.conns else None

    def joined(self, conn: ConnId) -> list[str]:
        return [key for key, members in self.members.items() if conn in members]

    def peers(self, conn: ConnId) -> set[ConnId]:
        found: set[ConnId] = set()
        for key in self.joined(conn):
            found |= self.members[key]
        return found - {conn}

    def leave(self, conn: ConnId, key: str) -> None:
        self.members[key].discard(conn)
        self.ops[key].discard(conn)
        if not self.members[key]:
            del self.members[key]
            del self.ops[key]

    def forget(self, conn: ConnId) -> None:
        for key in self.joined(conn):
            self.leave(conn, key)
        self.conns.remove(conn)
        self.nick_of.pop(conn, None)
        self.users.discard(conn)
        self.registered.discard(conn)

    def each_once(self, out: Outcome, conns: set[ConnId], command: str) -> None:
        assert {c for c in out.recipients() if command in out.codes(c)} == conns
        for conn in conns:
            assert out.codes(conn).count(command) == 1

    # -- rules --------------------------------------------------------------

    @rule()
    def connect(self) -> None:
        self.conns.append(self.h.connect())

    @rule(nick=st.sampled_from(MACHINE_NICKS), channel=st.sampled_from(MACHINE_CHANNELS))
    def newcomer(self, nick: str, channel: str) -> None:
        """Connect, register under a free nick and join: rooms fill up quickly."""
        self.connect()
        conn = self.conns[-1]
        free = [
            n for n in ("dave", "erin", "frank", "grace", "heidi") if n not in self.nick_of.values()
        ]
        self.nick(len(self.conns) - 1, free[0] if free else nick)
        self.user(len(self.conns) - 1)
        if conn in self.registered:
            self.join(len(self.conns) - 1, channel)

    @rule(index=indices, nick=st.sampled_from(MACHINE_NICKS))
    def nick(self, index: int, nick: str) -> None:
        conn = self.pick(index)
        if conn is None:
            return
        out = self.h.feed(conn, f"NICK {nick}")
        taken = any(
            casefold(held) == casefold(nick) for c, held in self.nick_of.items() if c != conn
        )
        if nick == "zoë":
            assert out.codes(conn) == ["432"]
        elif taken:
            assert out.codes(conn) == ["433"]
        elif self.nick_of.get(conn) == nick:
            assert out.effects == []
        else:
            self.nick_of[conn] = nick
            if conn in self.registered:
                self.each_once(out, self.peers(conn) | {conn}, "NICK")
                assert out.recipients() == self.peers(conn) | {conn}
            elif conn in self.users:
                self.registered.add(conn)
                assert out.codes(conn)[0] == "001"
        if nick != "zoë" and not taken:
            assert self.h.state.network.clients[conn].nick == nick

    @rule(index=indices)
    def user(self, index: int) -> None:
        conn = self.pick(index)
        if conn is None:
            return
        out = self.h.feed(conn, "USER u 0 * :U")
        if conn in self.registered:
            assert out.codes(conn) == ["462"]
            return
        self.users.add(conn)
        if conn in self.nick_of:
            self.registered.add(conn)
            assert out.codes(conn)[0] == "001"
        else:
            assert out.effects == []

    @rule(index=indices, channel=st.sampled_from(MACHINE_CHANNELS))
    def join(self, index: int, channel: str) -> None:
        conn = self.pick(index)
        if conn is None:
            return
        out = self.h.feed(conn, f"JOIN {channel}")
        key = casefold(channel)
        if conn not in self.registered:
            assert out.codes(conn) == ["451"]
        elif conn in self.members.get(key, set()):
            assert out.effects == []
        elif len(self.joined(conn)) >= 3:
            assert out.codes(conn) == ["405"]
        else:
            if key not in self.members:
                self.members[key], self.ops[key] = set(), {conn}
            self.members[key].add(conn)
            self.each_once(out, self.members[key], "JOIN")

    @rule(index=indices, channel=st.sampled_from(MACHINE_CHANNELS))
    def part(self, index: int, channel: str) -> None:
        conn = self.pick(index)
        if conn is None or conn not in self.registered:
            return
        key = casefold(channel)
        out = self.h.feed(conn, f"PART {channel} :bye now")
        if key not in self.members:
            assert out.codes(conn) == ["403"]
        elif conn not in self.members[key]:
            assert out.codes(conn) == ["442"]
        else:
            self.each_once(out, set(self.members[key]), "PART")
            self.leave(conn, key)

    @rule(index=indices, other=indices, channel=st.sampled_from(MACHINE_CHANNELS))
    def kick(self, index: int, other: int, channel: str) -> None:
        conn, victim = self.pick(index), self.pick(other)
        if conn is None or victim is None or conn not in self.registered:
            return
        if victim not in self.registered:
            return
        key = casefold(channel)
        out = self.h.feed(conn, f"KICK {channel} {self.nick_of[victim]}")
        if key not in self.members:
            assert out.codes(conn) == ["403"]
        elif conn not in self.members[key]:
            assert out.codes(conn) == ["442"]
        elif conn not in self.ops[key]:
            assert out.codes(conn) == ["482"]
        elif victim not in self.members[key]:
            assert out.codes(conn) == ["441"]
        else:
            self.each_once(out, set(self.members[key]), "KICK")
            self.leave(victim, key)

    @rule(index=indices, channel=st.sampled_from(MACHINE_CHANNELS))
    def say(self, index: int, channel: str) -> None:
        conn = self.pick(index)
        if conn is None:
            return
        key = casefold(channel)
        out = self.h.feed(conn, f"PRIVMSG {channel} :hello there")
        if conn not in self.registered:
            assert out.codes(conn) == ["451"]
        elif key not in self.members:
            assert out.codes(conn) == ["401"]
        elif conn not in self.members[key]:
            assert out.codes(conn) == ["404"]
        else:
            assert out.recipients() == self.members[key] - {conn}
            self.each_once(out, self.members[key] - {conn}, "PRIVMSG")
            return
        assert out.recipients() == {conn}

    @rule(index=indices, other=indices)
    def whisper(self, index: int, other: int) -> None:
        conn, peer = self.pick(index), self.pick(other)
        if conn is None or peer is None or conn not in self.registered:
            return
        nick = self.nick_of.get(peer, "nobody")
        out = self.h.feed(conn, f"PRIVMSG {nick} :psst")
        if peer in self.registered:
            assert out.recipients() == {peer}
            assert out.codes(peer) == ["PRIVMSG"]
        else:
            assert out.recipients() == {conn}
            assert out.codes(conn) == ["401"]

    @rule(index=indices)
    def quit(self, index: int) -> None:
        conn = self.pick(index)
        if conn is None:
            return
        peers = self.peers(conn) if conn in self.registered else set()
        out = self.h.feed(conn, "QUIT :leaving")
        assert out.closed() == {conn: f"Closing link: 10.0.0.{conn} (Quit)"}
        assert out.recipients() == peers
        self.each_once(out, peers, "QUIT")
        self.forget(conn)

    @rule(index=indices)
    def drop(self, index: int) -> None:
        conn = self.pick(index)
        if conn is None:
            return
        peers = self.peers(conn) if conn in self.registered else set()
        out = self.h.disconnect(conn, "Connection reset by peer")
        assert out.recipients() == peers
        self.each_once(out, peers, "QUIT")
        assert out.closed() == {}
        self.forget(conn)
        assert self.h.disconnect(conn).effects == []

    # -- invariants ---------------------------------------------------------

    @invariant()
    def state_matches_model(self) -> None:
        state = self.h.state
        check_consistent(state)
        assert set(state.network.clients) == set(self.conns)
        assert {c for c in state.network.clients if state.is_registered(c)} == self.registered
        assert {
            c: client.nick for c, client in state.network.clients.items() if client.has_nick
        } == (self.nick_of)
        folded = [casefold(nick) for nick in self.nick_of.values()]
        assert len(folded) == len(set(folded))
        assert {key: set(channel.members) for key, channel in state.network.channels.items()} == (
            self.members
        )
        assert {
            key: {c for c, status in channel.members.items() if "o" in status}
            for key, channel in state.network.channels.items()
        } == self.ops


RoomMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=50, deadline=None)
TestRoomMachine = RoomMachine.TestCase


# ---------------------------------------------------------------------------
# WHOWAS keeps a bounded ring of departures; HELP lists exactly what is served
# ---------------------------------------------------------------------------


def test_whowas_remembers_who_quit_and_who_changed_nick() -> None:
    h = Harness()
    alice = h.register("alice")
    bob = h.register("bob")
    h.clock.now += 60
    h.feed(alice, "QUIT :bye")
    h.feed(bob, "NICK robert")
    carol = h.register("carol")
    out = h.feed(carol, "WHOWAS ALICE")
    assert out.codes(carol) == ["314", "312", "369"]
    assert out.to(carol)[0] == f"{SERVER} 314 carol alice ~alice 10.0.0.1 * :Real alice"
    assert out.to(carol)[2] == f"{SERVER} 369 carol ALICE :End of WHOWAS"
    assert h.feed(carol, "WHOWAS bob").codes(carol) == ["314", "312", "369"]
    # The one still online under its new nick has no WHOWAS entry for it.
    assert h.feed(carol, "WHOWAS robert").codes(carol) == ["406", "369"]


def test_whowas_count_limits_the_entries_newest_first() -> None:
    h = Harness()
    for realname in ("first", "second", "third"):
        conn = h.connect()
        h.feed_all(conn, "NICK alice", f"USER a 0 * :{realname}")
        h.feed(conn, "QUIT")
    dave = h.register("dave")
    out = h.feed(dave, "WHOWAS alice 2")
    names = [m.params[-1] for m in out.messages(dave) if m.command == "314"]
    assert names == ["third", "second"]
    assert len([m for m in h.feed(dave, "WHOWAS alice").messages(dave) if m.command == "314"]) == 3


def test_whowas_ring_is_bounded() -> None:
    from triochat._state.network import WHOWAS_SIZE

    h = Harness()
    for n in range(WHOWAS_SIZE + 5):
        conn = h.connect()
        h.feed_all(conn, f"NICK n{n}", "USER a 0 * :x")
        h.feed(conn, "QUIT")
    dave = h.register("dave")
    assert h.feed(dave, "WHOWAS n0").codes(dave) == ["406", "369"]
    assert h.feed(dave, f"WHOWAS n{WHOWAS_SIZE + 4}").codes(dave)[0] == "314"


def test_help_without_history_does_not_list_chathistory() -> None:
    h = Harness(ServerConfig(motd=MOTD, history=False))
    alice = h.register("alice")
    listed = {m.params[2].split()[0] for m in h.feed(alice, "HELP").messages(alice)[1:-1]}
    assert "CHATHISTORY" not in listed
    assert "PRIVMSG" in listed
    assert h.feed(alice, "HELP CHATHISTORY").codes(alice) == ["524"]
    assert h.feed(alice, "CHATHISTORY LATEST #a * 1").codes(alice) == ["421"]


def test_registration_deadline_is_a_timer_the_state_sets() -> None:
    h = Harness(ServerConfig(motd=MOTD, registration_timeout=42.0))
    conn = ConnId(99)
    [schedule] = h.state.connect(conn, PeerInfo("10.0.0.9"))
    assert isinstance(schedule, Schedule)
    assert schedule.delay == 42.0
    assert h.state.timer(schedule.timer) == [Close(conn, "Closing link: Registration timed out")]
    # Once registered (or gone), the same timer does nothing.
    alice = h.register("alice")
    assert h.state.timer(replace(schedule.timer, conn=alice)) == []
    h.disconnect(conn)
    assert h.state.timer(schedule.timer) == []

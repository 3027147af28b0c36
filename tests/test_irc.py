"""Tests for the sans-IO IRC wire layer (``triochat._irc.wire``).

Plain synchronous, table-driven tests (in the style of h11's ``test_io.py``),
plus a few hypothesis properties. Facts about the wire come from Modern IRC
(ircdocs/modern-irc, "Message Format") and the IRCv3 message-tags
specification; the examples of both are used verbatim as test data.
"""

from __future__ import annotations

import itertools
import string
from typing import TYPE_CHECKING, TypeAlias

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from triochat._irc.wire import (
    LINE_TOO_LONG,
    MAX_BODY_BYTES,
    MAX_LINE_BYTES,
    MAX_PARAMS,
    MAX_TAGS_BYTES,
    InvalidUtf8,
    LineReader,
    LineTooLong,
    LocalProtocolError,
    MalformedMessage,
    Message,
    ProtocolError,
    RemoteProtocolError,
    TooManyParams,
    parse,
    serialize,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from triochat._irc.wire import _LineTooLongMarker

#: What LineReader.lines() gives: a line, or the LINE_TOO_LONG marker.
LineOrMarker: TypeAlias = "bytes | _LineTooLongMarker"

PROPERTY = settings(max_examples=200, deadline=None)


def _short_id(value: object) -> str | None:
    """Test ids that stay readable when a parameter is a long line or a message."""
    if isinstance(value, bytes | Message):
        text = ascii(value)
        return text if len(text) <= 60 else text[:50] + f"...<{len(text)} chars>"
    return None


# ---------------------------------------------------------------------------
# parse: line -> Message
# ---------------------------------------------------------------------------

SIMPLE_PARSE_CASES: list[tuple[bytes, Message]] = [
    # Commands are upper-cased; numerics are kept as they are.
    (b"PING", Message("PING")),
    (b"ping", Message("PING")),
    (b"Privmsg #a hi", Message("PRIVMSG", ("#a", "hi"))),
    (b"001 alice", Message("001", ("alice",))),
    (
        b":irc.example.com 001 alice :Welcome to the network",
        Message("001", ("alice", "Welcome to the network"), source="irc.example.com"),
    ),
    (
        b":irc.example.com 433 * alice :Nickname is already in use",
        Message("433", ("*", "alice", "Nickname is already in use"), source="irc.example.com"),
    ),
    # Middle and trailing parameters.
    (b"PING :irc.example.com", Message("PING", ("irc.example.com",))),
    (b"USER alice 0 * :Alice Liddell", Message("USER", ("alice", "0", "*", "Alice Liddell"))),
    (b"PRIVMSG #a a:b", Message("PRIVMSG", ("#a", "a:b"))),
    (b"PRIVMSG #a :", Message("PRIVMSG", ("#a", ""))),
    (b"PRIVMSG #a :  two  spaces ", Message("PRIVMSG", ("#a", "  two  spaces "))),
    (b"PRIVMSG #a :: colon", Message("PRIVMSG", ("#a", ": colon"))),
    (b"PRIVMSG #a :a :b c", Message("PRIVMSG", ("#a", "a :b c"))),
    (b"PRIVMSG #a :\\x01ACTION\\x01", Message("PRIVMSG", ("#a", "\\x01ACTION\\x01"))),
    (b"PRIVMSG #a :\x01ACTION waves\x01", Message("PRIVMSG", ("#a", "\x01ACTION waves\x01"))),
    (b"PRIVMSG #a :tab\there", Message("PRIVMSG", ("#a", "tab\there"))),
    (
        "PRIVMSG #café :héllo ☃ 日本語".encode(),
        Message("PRIVMSG", ("#café", "héllo ☃ 日本語")),
    ),
    # One or more spaces separate the parts; trailing spaces are no parameter.
    (
        b":src   PRIVMSG   #a    b   :c  d",
        Message("PRIVMSG", ("#a", "b", "c  d"), source="src"),
    ),
    (b"JOIN #a ", Message("JOIN", ("#a",))),
    # An empty source is no source.
    (b": PING x", Message("PING", ("x",))),
    (b"JOIN   #a   ", Message("JOIN", ("#a",))),
    # Modern IRC, "Message Format": the complete examples...
    (
        b":irc.example.com CAP LS * :multi-prefix extended-join sasl",
        Message("CAP", ("LS", "*", "multi-prefix extended-join sasl"), source="irc.example.com"),
    ),
    (
        b"@id=234AB :dan!d@localhost PRIVMSG #chan :Hey what's up!",
        Message(
            "PRIVMSG", ("#chan", "Hey what's up!"), source="dan!d@localhost", tags={"id": "234AB"}
        ),
    ),
    (b"CAP REQ :sasl", Message("CAP", ("REQ", "sasl"))),
    # ... the parameter examples ...
    (b":irc.example.com CAP * LIST :", Message("CAP", ("*", "LIST", ""), source="irc.example.com")),
    (b"CAP * LS :multi-prefix sasl", Message("CAP", ("*", "LS", "multi-prefix sasl"))),
    (b"CAP REQ :sasl message-tags foo", Message("CAP", ("REQ", "sasl message-tags foo"))),
    (
        b":dan!d@localhost PRIVMSG #chan :Hey!",
        Message("PRIVMSG", ("#chan", "Hey!"), source="dan!d@localhost"),
    ),
    (
        b":dan!d@localhost PRIVMSG #chan Hey!",
        Message("PRIVMSG", ("#chan", "Hey!"), source="dan!d@localhost"),
    ),
    (
        b":dan!d@localhost PRIVMSG #chan ::-)",
        Message("PRIVMSG", ("#chan", ":-)"), source="dan!d@localhost"),
    ),
    # ... and the tags examples.
    (b"@id=123AB;rose PING", Message("PING", tags={"id": "123AB", "rose": ""})),
    (b"@url=;netsplit=tur,ty PING", Message("PING", tags={"url": "", "netsplit": "tur,ty"})),
    # IRCv3 message-tags examples.
    (
        b"@aaa=bbb;ccc;example.com/ddd=eee :nick!ident@host.com PRIVMSG me :Hello",
        Message(
            "PRIVMSG",
            ("me", "Hello"),
            source="nick!ident@host.com",
            tags={"aaa": "bbb", "ccc": "", "example.com/ddd": "eee"},
        ),
    ),
    (
        b"@+example-client-tag=example-value TAGMSG #channel",
        Message("TAGMSG", ("#channel",), tags={"+example-client-tag": "example-value"}),
    ),
    (
        b"@+example=raw+:=,escaped\\:\\s\\\\ :irc.example.com NOTICE #channel :Message",
        Message(
            "NOTICE",
            ("#channel", "Message"),
            source="irc.example.com",
            tags={"+example": "raw+:=,escaped; \\"},
        ),
    ),
    (
        b"@+example.com/foo=bar :irc.example.com NOTICE #channel :A vendor-prefixed message",
        Message(
            "NOTICE",
            ("#channel", "A vendor-prefixed message"),
            source="irc.example.com",
            tags={"+example.com/foo": "bar"},
        ),
    ),
    # Tag value escapes, one at a time and together.
    (b"@a=x\\:y PING", Message("PING", tags={"a": "x;y"})),
    (b"@a=x\\sy PING", Message("PING", tags={"a": "x y"})),
    (b"@a=x\\\\y PING", Message("PING", tags={"a": "x\\y"})),
    (b"@a=x\\ry PING", Message("PING", tags={"a": "x\ry"})),
    (b"@a=x\\ny PING", Message("PING", tags={"a": "x\ny"})),
    (b"@a=\\:\\s\\\\\\r\\n PING", Message("PING", tags={"a": "; \\\r\n"})),
    (b"@a=\\\\s PING", Message("PING", tags={"a": "\\s"})),
    # An invalid escape drops the backslash; a lone trailing backslash is dropped.
    (b"@a=\\b PING", Message("PING", tags={"a": "b"})),
    (b"@a=x\\by PING", Message("PING", tags={"a": "xby"})),
    (b"@a=test\\ PING", Message("PING", tags={"a": "test"})),
    (b"@a=\\ PING", Message("PING", tags={"a": ""})),
    # Raw characters that need no escape, '=' inside a value, empty values.
    (b"@a=b=c PING", Message("PING", tags={"a": "b=c"})),
    (b"@a=:x,y+z PING", Message("PING", tags={"a": ":x,y+z"})),
    (b"@a= PING", Message("PING", tags={"a": ""})),
    (b"@a;;b PING", Message("PING", tags={"a": "", "b": ""})),
    # A repeated key: only the final occurrence counts (message-tags).
    (b"@a=1;b=2;a=3 PING", Message("PING", tags={"a": "3", "b": "2"})),
    # Several spaces after the tags section.
    (
        b"@a=b   :src   PRIVMSG   #a :hi",
        Message("PRIVMSG", ("#a", "hi"), source="src", tags={"a": "b"}),
    ),
    # Tags and UTF-8 in values.
    (
        "@+draft/react=👍 TAGMSG #a".encode(),
        Message("TAGMSG", ("#a",), tags={"+draft/react": "👍"}),
    ),
]


@pytest.mark.parametrize(("line", "expected"), SIMPLE_PARSE_CASES, ids=_short_id)
def test_parse(line: bytes, expected: Message) -> None:
    message = parse(line)
    assert message == expected
    # Spell out what equality hides: the exact types and the tag contents.
    assert message.command == expected.command
    assert message.params == expected.params
    assert type(message.params) is tuple
    assert message.source == expected.source
    assert dict(message.tags) == dict(expected.tags)


def test_parse_without_tags_has_empty_tags() -> None:
    assert dict(parse(b"PING x").tags) == {}
    assert dict(parse(b"@ PING x").tags) == {}
    assert dict(parse(b"@;; PING x").tags) == {}


def test_parse_drops_bare_client_prefix_key() -> None:
    # "+" alone is no key: nothing to name.
    assert dict(parse(b"@+;+=x;a=1 PING").tags) == {"a": "1"}


def test_message_param() -> None:
    message = Message("PRIVMSG", ("#a", "hi"))
    assert message.param(0) == "#a"
    assert message.param(1) == "hi"
    assert message.param(2) == ""
    assert message.param(5, "*") == "*"
    assert Message("PING").param(0, "x") == "x"


def test_message_defaults() -> None:
    message = Message("PING")
    assert message.params == ()
    assert message.source is None
    assert dict(message.tags) == {}
    assert Message("PING") == Message("PING", tags={})


# --- the limits ------------------------------------------------------------

_PRIVMSG_PREFIX = b"PRIVMSG #a :"


def _privmsg_with_body(size: int) -> bytes:
    """A PRIVMSG line whose body (everything after the tags) is ``size`` bytes."""
    return _PRIVMSG_PREFIX + b"x" * (size - len(_PRIVMSG_PREFIX))


def _tags_section(size: int) -> bytes:
    """A tags section of ``size`` bytes, the leading '@' and trailing space included."""
    return b"@k=" + b"v" * (size - 4) + b" "


def test_body_of_510_bytes_is_accepted() -> None:
    line = _privmsg_with_body(MAX_BODY_BYTES - 2)
    assert len(line) == 510
    message = parse(line)
    assert message.command == "PRIVMSG"
    assert message.params == ("#a", "x" * (510 - len(_PRIVMSG_PREFIX)))


def test_body_of_511_bytes_is_too_long() -> None:
    line = _privmsg_with_body(MAX_BODY_BYTES - 1)
    assert len(line) == 511
    with pytest.raises(LineTooLong) as excinfo:
        parse(line)
    assert excinfo.value.command == "PRIVMSG"


def test_body_limit_counts_bytes_not_characters() -> None:
    # 255 two-byte characters: 255 characters, but 510 + 12 bytes.
    line = _PRIVMSG_PREFIX + "é".encode() * 255
    assert len(line.decode()) < MAX_BODY_BYTES - 2 < len(line)
    with pytest.raises(LineTooLong):
        parse(line)


def test_body_limit_does_not_count_tags() -> None:
    line = _tags_section(100) + _privmsg_with_body(510)
    message = parse(line)
    assert message.tags == {"k": "v" * 96}
    assert len(message.params[1]) == 510 - len(_PRIVMSG_PREFIX)


def test_tags_section_at_limit_is_accepted() -> None:
    section = _tags_section(MAX_TAGS_BYTES)
    assert len(section) == 8191
    message = parse(section + b"PING x")
    assert message == Message("PING", ("x",), tags={"k": "v" * (8191 - 4)})


def test_tags_section_over_limit_is_too_long() -> None:
    section = _tags_section(MAX_TAGS_BYTES + 1)
    with pytest.raises(LineTooLong) as excinfo:
        parse(section + b"PRIVMSG #a :hi")
    assert excinfo.value.command == "PRIVMSG"


def test_longest_valid_line_passes_line_reader_and_parse() -> None:
    # Both limits at once: the longest line the wire allows, CRLF included.
    line = _tags_section(MAX_TAGS_BYTES) + _privmsg_with_body(MAX_BODY_BYTES - 2)
    assert len(line) + 2 == MAX_LINE_BYTES
    reader = LineReader()
    reader.feed(line + b"\r\n")
    assert reader.lines() == [line]
    message = parse(line)
    assert message.command == "PRIVMSG"
    assert len(message.tags["k"]) == MAX_TAGS_BYTES - 4


def test_fifteen_params_are_accepted() -> None:
    params = tuple(f"p{i}" for i in range(MAX_PARAMS))
    line = ("CMD " + " ".join(params[:-1]) + " :" + params[-1]).encode()
    assert parse(line) == Message("CMD", params)
    assert parse(("CMD " + " ".join(params)).encode()) == Message("CMD", params)


@pytest.mark.parametrize(
    "line",
    [
        b"CMD " + b" ".join(b"p%d" % i for i in range(16)),
        b"CMD " + b" ".join(b"p%d" % i for i in range(15)) + b" :trailing words",
        b"@a=b :src cmd " + b" ".join(b"p" for _ in range(40)),
    ],
    ids=_short_id,
)
def test_sixteen_params_are_too_many(line: bytes) -> None:
    with pytest.raises(TooManyParams) as excinfo:
        parse(line)
    assert excinfo.value.command == "CMD"


# --- errors ----------------------------------------------------------------

PARSE_ERROR_CASES: list[tuple[bytes, type[RemoteProtocolError], str]] = [
    # Over-long (see also the boundary tests above).
    (_privmsg_with_body(600), LineTooLong, "PRIVMSG"),
    (b":src  join " + b"#" * 600, LineTooLong, "JOIN"),
    (_tags_section(9000) + b"TAGMSG #a", LineTooLong, "TAGMSG"),
    (b"@" + b"a" * 9000, LineTooLong, "*"),
    # Not UTF-8: the command is still named when it can be read.
    (b"PRIVMSG #a :\xff", InvalidUtf8, "PRIVMSG"),
    (b"privmsg #a :caf\xe9", InvalidUtf8, "PRIVMSG"),
    (b":n\xffck PRIVMSG #a :hi", InvalidUtf8, "PRIVMSG"),
    (b"@a=\xff PRIVMSG #a :hi", InvalidUtf8, "PRIVMSG"),
    (b"@a=b :src NOTICE #a :\xc3", InvalidUtf8, "NOTICE"),
    (b"PRIV\xffMSG #a :hi", InvalidUtf8, "*"),
    # Only SPACE separates the parts: a tab does not end the command.
    (b"PRIVMSG\t#a :\xff", InvalidUtf8, "*"),
    # NUL anywhere.
    (b"PRIVMSG #a :a\x00b", MalformedMessage, "PRIVMSG"),
    (b"PRIVMSG #a\x00 :hi", MalformedMessage, "PRIVMSG"),
    (b"@a=\x00 PRIVMSG #a :hi", MalformedMessage, "PRIVMSG"),
    (b"\x00", MalformedMessage, "*"),
    # A bare CR is no part of any message (nospcrlfcl, escaped value).
    (b"PRIVMSG #a :x\ry", MalformedMessage, "PRIVMSG"),
    (b"PRIVMSG #a\r :hi", MalformedMessage, "PRIVMSG"),
    (b"PRIVMSG #a :hi\r", MalformedMessage, "PRIVMSG"),
    (b":sr\rc PRIVMSG #a :hi", MalformedMessage, "PRIVMSG"),
    (b"@a=b\rc PRIVMSG #a :hi", MalformedMessage, "PRIVMSG"),
    (b"@a\r=b PRIVMSG #a :hi", MalformedMessage, "PRIVMSG"),
    # Nor is a LF, when a caller hands parse() more than one line.
    (b"PRIVMSG #a :x\ny", MalformedMessage, "PRIVMSG"),
    (b"PRIVMSG #a :x\r\nQUIT :bye", MalformedMessage, "PRIVMSG"),
    # No command.
    (b"", MalformedMessage, "*"),
    (b"   ", MalformedMessage, "*"),
    (b":src", MalformedMessage, "*"),
    (b":src ", MalformedMessage, "*"),
    (b":src    ", MalformedMessage, "*"),
    (b"@a=b", MalformedMessage, "*"),
    (b"@a=b ", MalformedMessage, "*"),
    (b"@a=b :src", MalformedMessage, "*"),
    # Not a command at all.
    (b"PRIV-MSG #a :hi", MalformedMessage, "*"),
    (b":src #a :hi", MalformedMessage, "*"),
    (b"PRIVMSG: #a", MalformedMessage, "*"),
    ("ÉTÉ #a".encode(), MalformedMessage, "*"),
    # Non-ASCII letters that upper-case to ASCII ones are still no command.
    ("pr\u0131vmsg #a :hi".encode(), MalformedMessage, "*"),  # dotless i -> I
    ("\u017fquit".encode(), MalformedMessage, "*"),  # long s -> S
    ("\ufb00".encode(), MalformedMessage, "*"),  # ligature ff -> FF
]


@pytest.mark.parametrize(("line", "error", "command"), PARSE_ERROR_CASES, ids=_short_id)
def test_parse_error(line: bytes, error: type[RemoteProtocolError], command: str) -> None:
    with pytest.raises(RemoteProtocolError) as excinfo:
        parse(line)
    assert type(excinfo.value) is error
    assert excinfo.value.command == command
    assert excinfo.value.reason
    assert str(excinfo.value) == excinfo.value.reason


def test_error_hierarchy() -> None:
    for error in (LineTooLong, InvalidUtf8, TooManyParams, MalformedMessage):
        assert issubclass(error, RemoteProtocolError)
        assert not issubclass(error, LocalProtocolError)
    assert issubclass(RemoteProtocolError, ProtocolError)
    assert issubclass(LocalProtocolError, ProtocolError)
    assert RemoteProtocolError("why").command == "*"


# ---------------------------------------------------------------------------
# serialize: Message -> line
# ---------------------------------------------------------------------------

SIMPLE_SERIALIZE_CASES: list[tuple[Message, bytes]] = [
    (Message("PING"), b"PING\r\n"),
    (Message("PING", ("x",)), b"PING x\r\n"),
    (Message("PRIVMSG", ("#a", "hi")), b"PRIVMSG #a hi\r\n"),
    (Message("PRIVMSG", ("#a", "a:b")), b"PRIVMSG #a a:b\r\n"),
    # The last parameter gets a ':' only when it needs one.
    (Message("PRIVMSG", ("#a", "")), b"PRIVMSG #a :\r\n"),
    (Message("PRIVMSG", ("#a", "hello world")), b"PRIVMSG #a :hello world\r\n"),
    (Message("PRIVMSG", ("#a", " ")), b"PRIVMSG #a : \r\n"),
    (Message("PRIVMSG", ("#a", ":-)")), b"PRIVMSG #a ::-)\r\n"),
    (Message("PRIVMSG", ("#a", ":")), b"PRIVMSG #a ::\r\n"),
    (Message("CAP", ("*", "LIST", "")), b"CAP * LIST :\r\n"),
    (Message("JOIN", ("",)), b"JOIN :\r\n"),
    (
        Message("USER", ("alice", "0", "*", "Alice Liddell")),
        b"USER alice 0 * :Alice Liddell\r\n",
    ),
    # Source.
    (
        Message("001", ("alice", "Welcome to IRC"), source="irc.example.com"),
        b":irc.example.com 001 alice :Welcome to IRC\r\n",
    ),
    (
        Message("PRIVMSG", ("#chan", "Hey!"), source="dan!d@localhost"),
        b":dan!d@localhost PRIVMSG #chan Hey!\r\n",
    ),
    # Tags: with and without values, in order, escaped.
    (
        Message("PRIVMSG", ("#a", "hi"), source="n!u@h", tags={"time": "2024-01-02T03:04:05.678Z"}),
        b"@time=2024-01-02T03:04:05.678Z :n!u@h PRIVMSG #a hi\r\n",
    ),
    (Message("PING", tags={"rose": ""}), b"@rose PING\r\n"),
    (Message("PING", tags={"id": "123AB", "rose": ""}), b"@id=123AB;rose PING\r\n"),
    (
        Message("NOTICE", ("#channel", "Message"), tags={"+example": "raw+:=,escaped; \\"}),
        b"@+example=raw+:=,escaped\\:\\s\\\\ NOTICE #channel Message\r\n",
    ),
    (Message("PING", tags={"a": "x\r\ny"}), b"@a=x\\r\\ny PING\r\n"),
    # UTF-8 out.
    (Message("PRIVMSG", ("#café", "héllo ☃")), "PRIVMSG #café :héllo ☃\r\n".encode()),
]


@pytest.mark.parametrize(("message", "expected"), SIMPLE_SERIALIZE_CASES, ids=_short_id)
def test_serialize(message: Message, expected: bytes) -> None:
    assert serialize(message) == expected


@pytest.mark.parametrize(
    "message", [message for message, _ in SIMPLE_SERIALIZE_CASES], ids=_short_id
)
def test_serialize_then_parse(message: Message) -> None:
    assert parse(serialize(message)[:-2]) == message


def test_serialize_drops_nul_from_tag_value() -> None:
    # NUL has no escape in a tag value: it is dropped, never written.
    assert serialize(Message("PING", tags={"a": "x\x00y"})) == b"@a=xy PING\r\n"


TAGGED = Message("PRIVMSG", ("#a", "hi"), source="n!u@h", tags={"msgid": "1", "+x": "y"})
UNTAGGED = Message("PRIVMSG", ("#a", "hi"), source="n!u@h")

TAGS_OVERRIDE_CASES: list[tuple[Message, Mapping[str, str] | None, bytes]] = [
    (TAGGED, None, b"@msgid=1;+x=y :n!u@h PRIVMSG #a hi\r\n"),
    (TAGGED, {}, b":n!u@h PRIVMSG #a hi\r\n"),
    (TAGGED, {"time": "t"}, b"@time=t :n!u@h PRIVMSG #a hi\r\n"),
    (UNTAGGED, None, b":n!u@h PRIVMSG #a hi\r\n"),
    (UNTAGGED, {}, b":n!u@h PRIVMSG #a hi\r\n"),
    (UNTAGGED, {"msgid": "2"}, b"@msgid=2 :n!u@h PRIVMSG #a hi\r\n"),
]


@pytest.mark.parametrize(("message", "tags", "expected"), TAGS_OVERRIDE_CASES)
def test_serialize_tags_override(
    message: Message, tags: Mapping[str, str] | None, expected: bytes
) -> None:
    assert serialize(message, tags=tags) == expected


BAD_MESSAGES: list[Message] = [
    # CR, LF or NUL in any parameter, middle or last.
    *(
        Message("PRIVMSG", params)
        for bad in ("\r", "\n", "\0", "\r\n")
        for params in (
            ("#a", f"hi{bad}there"),
            ("#a", bad),
            (f"#a{bad}", "hi"),
            (f"hi{bad}QUIT",),
        )
    ),
    Message("PRIVMSG", ("#a", "hi\r\nQUIT :bye")),
    # Middle parameters that cannot be written.
    Message("PRIVMSG", ("#a b", "hi")),
    Message("PRIVMSG", ("", "hi")),
    Message("PRIVMSG", (":a", "hi")),
    Message("MODE", ("#a", " ", "x")),
    # Bad sources.
    Message("PING", source=""),
    Message("PING", source="a b"),
    Message("PING", source="a\r"),
    Message("PING", source="a\nQUIT"),
    Message("PING", source="a\0"),
    # Bad commands.
    Message(""),
    Message("PRIV MSG"),
    Message("PRIVMSG\r\nQUIT"),
    Message("PING\n"),
    Message("PING\0"),
    Message("PRIV-MSG"),
    Message(":PING"),
    Message("ÉTÉ"),
    # Tag keys that would break the tags section or the line.
    Message("PING", tags={"": "x"}),
    Message("PING", tags={"a b": "x"}),
    Message("PING", tags={"a;b": "x"}),
    Message("PING", tags={"a=b": "x"}),
    Message("PING", tags={"a\r": ""}),
    Message("PING", tags={"a\nQUIT": ""}),
    Message("PING", tags={"a\0": "x"}),
]


@pytest.mark.parametrize("message", BAD_MESSAGES, ids=_short_id)
def test_serialize_refuses(message: Message) -> None:
    with pytest.raises(LocalProtocolError):
        serialize(message)


def test_serialize_refuses_bad_tag_key_given_as_override() -> None:
    with pytest.raises(LocalProtocolError):
        serialize(UNTAGGED, tags={"a\r\nQUIT": ""})


ROUND_TRIP_MESSAGES: list[Message] = [
    Message("PING"),
    Message("001", ("alice", "Welcome"), source="irc.example.com"),
    Message("PRIVMSG", ("#a", "")),
    Message("PRIVMSG", ("#a", " ")),
    Message("PRIVMSG", ("#a", ":")),
    Message("PRIVMSG", ("#a", "::")),
    Message("PRIVMSG", ("#a", " leading and trailing ")),
    Message("PRIVMSG", ("#a", "a:b")),
    Message("PRIVMSG", ("#a", "\x01ACTION waves\x01")),
    Message("PRIVMSG", ("#a", "tab\there")),
    Message("PRIVMSG", ("#日本", "☃ 👍 é")),
    Message("MODE", ("#a", "+ov", "alice", "bob")),
    Message("CMD", (*(f"p{i}" for i in range(14)), "last one")),
    Message("PRIVMSG", ("#a", "hi"), source="::odd"),
    Message("PING", tags={"a": ""}),
    Message("PING", tags={"a": "; \\\r\n", "b": "=", "+c": "\\s"}),
    Message("PING", tags={"a": "x\\"}),
    Message(
        "PRIVMSG",
        ("#a", "hi there"),
        source="n!u@h",
        tags={"time": "2024-01-02T03:04:05.678Z", "+example.com/foo": "bar baz"},
    ),
]


@pytest.mark.parametrize("message", ROUND_TRIP_MESSAGES, ids=_short_id)
def test_round_trip(message: Message) -> None:
    line = serialize(message)
    assert line.endswith(b"\r\n")
    assert parse(line[:-2]) == message


# ---------------------------------------------------------------------------
# LineReader: bytes -> lines
# ---------------------------------------------------------------------------


def _read(reader: LineReader, chunks: Iterable[bytes]) -> list[LineOrMarker]:
    """Feed ``chunks`` one by one, taking the lines after each."""
    found: list[LineOrMarker] = []
    for chunk in chunks:
        reader.feed(chunk)
        found.extend(reader.lines())
    return found


def _bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


LINE_READER_CASES: list[tuple[bytes, list[LineOrMarker]]] = [
    (b"", []),
    (b"PING a\r\n", [b"PING a"]),
    (b"PING a\n", [b"PING a"]),
    (b"PING a\r\nPING b\r\n", [b"PING a", b"PING b"]),
    (b"PING a\nPING b\r\nPING c\n", [b"PING a", b"PING b", b"PING c"]),
    # Empty lines are skipped.
    (b"\r\n\n\r\n", []),
    (b"\r\nPING a\r\n\r\n\nPING b\n\n", [b"PING a", b"PING b"]),
    # A CR alone ends nothing; only the CR right before the LF is dropped.
    (b"PING a\rPING b\r\n", [b"PING a\rPING b"]),
    (b"\rPING\r\n", [b"\rPING"]),
    (b"PING\r\r\n", [b"PING\r"]),
    (b"\r\r\n", [b"\r"]),
    (b"PING a\r", []),
    # A partial line is held.
    (b"PING a\r\nPING b", [b"PING a"]),
    # Bytes are bytes: nothing is decoded here.
    (b"\xff\x00 x\r\n", [b"\xff\x00 x"]),
]


@pytest.mark.parametrize(("data", "expected"), LINE_READER_CASES, ids=_short_id)
def test_line_reader(data: bytes, expected: list[LineOrMarker]) -> None:
    assert _read(LineReader(), [data]) == expected
    assert _read(LineReader(), _bytewise(data)) == expected


def test_partial_line_is_held_until_its_lf() -> None:
    reader = LineReader()
    reader.feed(b"PRIV")
    assert reader.lines() == []
    assert reader.buffered == 4
    reader.feed(b"MSG #a :hi\r")
    assert reader.lines() == []
    assert reader.buffered == len(b"PRIVMSG #a :hi\r")
    reader.feed(b"\nPI")
    assert reader.lines() == [b"PRIVMSG #a :hi"]
    assert reader.buffered == 2
    reader.feed(b"NG\n")
    assert reader.lines() == [b"PING"]
    assert reader.buffered == 0
    assert reader.lines() == []


def test_lines_are_taken_once() -> None:
    reader = LineReader()
    reader.feed(b"PING a\r\nPING b\r\n")
    assert reader.lines() == [b"PING a", b"PING b"]
    assert reader.lines() == []


def test_lines_are_bytes_whatever_is_fed() -> None:
    reader = LineReader()
    reader.feed(bytearray(b"PING a\r\nPI"))
    reader.feed(memoryview(b"NG b\r\n").tobytes())
    lines = reader.lines()
    assert lines == [b"PING a", b"PING b"]
    assert all(type(line) is bytes for line in lines)


def test_line_at_limit_is_kept_and_one_over_is_too_long() -> None:
    reader = LineReader(max_line_bytes=10)
    data = b"x" * 10 + b"\r\n" + b"y" * 11 + b"\r\n" + b"z" * 10 + b"\n" + b"w" * 11 + b"\n"
    expected = [b"x" * 10, LINE_TOO_LONG, b"z" * 10, LINE_TOO_LONG]
    assert _read(reader, [data]) == expected
    assert _read(LineReader(max_line_bytes=10), _bytewise(data)) == expected


def test_default_limit() -> None:
    ok = b"x" * MAX_LINE_BYTES
    over = b"y" * (MAX_LINE_BYTES + 1)
    data = ok + b"\r\n" + over + b"\r\nPING\r\n"
    expected = [ok, LINE_TOO_LONG, b"PING"]
    assert _read(LineReader(), [data]) == expected
    assert _read(LineReader(), [data[i : i + 100] for i in range(0, len(data), 100)]) == expected


def test_over_long_line_reported_once_and_next_line_intact() -> None:
    reader = LineReader(max_line_bytes=16)
    found = _read(reader, [b"PING a\r\n", b"x" * 100, b"x" * 100, b"x\r", b"\nPING b\r\n"])
    assert found == [b"PING a", LINE_TOO_LONG, b"PING b"]
    assert reader.buffered == 0


# A varied input: CRLF and LF, empty lines, a bare CR, non-UTF-8 bytes, a line
# exactly at the limit, lines one over it (with and without CR), a long line.
_LIMIT = 32
VARIED_INPUT = b"".join(
    [
        b"CAP LS 302\r\n",
        b"NICK alice\n",
        b"\r\n\n",
        b"USER alice 0 * :Alice\rLiddell\r\n",
        b"x" * _LIMIT + b"\r\n",
        b"y" * (_LIMIT + 1) + b"\r\n",
        b"z" * (_LIMIT + 1) + b"\n",
        b"w" * _LIMIT + b"\r\r\n",
        b"PRIVMSG #a :\xff\xfe\r\n",
        b"v" * (_LIMIT * 10) + b"\r\n",
        b"QUIT :bye\r\n",
        b"PARTIAL",
    ]
)
VARIED_EXPECTED: list[LineOrMarker] = [
    b"CAP LS 302",
    b"NICK alice",
    b"USER alice 0 * :Alice\rLiddell",
    b"x" * _LIMIT,
    LINE_TOO_LONG,
    LINE_TOO_LONG,
    LINE_TOO_LONG,
    b"PRIVMSG #a :\xff\xfe",
    LINE_TOO_LONG,
    b"QUIT :bye",
]


@pytest.mark.parametrize("size", [1, 2, 3, 7, _LIMIT, _LIMIT + 1, _LIMIT + 2, 1000])
def test_any_chunk_size_gives_the_same_lines(size: int) -> None:
    chunks = [VARIED_INPUT[i : i + size] for i in range(0, len(VARIED_INPUT), size)]
    reader = LineReader(max_line_bytes=_LIMIT)
    assert _read(reader, chunks) == VARIED_EXPECTED
    assert reader.buffered == len(b"PARTIAL")


def test_feeding_without_taking_gives_the_same_lines() -> None:
    reader = LineReader(max_line_bytes=_LIMIT)
    for chunk in _bytewise(VARIED_INPUT):
        reader.feed(chunk)
    assert reader.lines() == VARIED_EXPECTED


def test_endless_line_is_bounded_and_reported_once() -> None:
    reader = LineReader()
    found: list[LineOrMarker] = []
    piece = b"x" * 1024
    for _ in range(1024):  # 1 MiB without a newline
        reader.feed(piece)
        found.extend(reader.lines())
        assert reader.buffered <= MAX_LINE_BYTES + 1
    assert found == [LINE_TOO_LONG]
    reader.feed(b"x\r\nPING\r\n")
    assert reader.lines() == [b"PING"]
    assert reader.buffered == 0


def test_endless_line_is_bounded_even_when_lines_are_not_taken() -> None:
    # The limit holds while buffering, not only when someone asks for lines.
    reader = LineReader()
    reader.feed(b"PING a\r\n")
    piece = b"x" * 1024
    for _ in range(1024):
        reader.feed(piece)
        assert reader.buffered <= MAX_LINE_BYTES + 1
    reader.feed(b"\r\nPING b\r\n")
    assert reader.lines() == [b"PING a", LINE_TOO_LONG, b"PING b"]
    assert reader.buffered == 0


def test_endless_line_of_crs_is_bounded() -> None:
    reader = LineReader(max_line_bytes=8)
    found = _read(reader, [b"\r" * 5 for _ in range(100)])
    assert found == [LINE_TOO_LONG]
    assert reader.buffered <= 9
    assert _read(reader, [b"\nPING\r\n"]) == [b"PING"]


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------

# Pieces that hit the interesting branches of the grammar far more often than
# uniform random bytes do.
_TOKENS = [
    b" ",
    b"  ",
    b":",
    b"@",
    b";",
    b"=",
    b"+",
    b"\\",
    b"\\s",
    b"\x00",
    b"\x01",
    b"\t",
    b"a",
    b"Z",
    b"0",
    b"#",
    b"!",
    b"PRIVMSG",
    b"001",
    b"\xc3\xa9",  # é
    b"\xc4\xb1",  # dotless i
    b"\xff",
    b"\xc3",
    b"x" * 100,
]


def _without_newlines(data: bytes) -> bytes:
    return data.replace(b"\r", b"").replace(b"\n", b"")


def _without_lf(data: bytes) -> bytes:
    return data.replace(b"\n", b"")


_token_lines = st.lists(st.sampled_from([*_TOKENS, b"\r"]), max_size=60).map(b"".join)
# Lines that get past the command more often: optional tags and source, a command.
_plausible_lines = st.tuples(
    st.sampled_from([b"", b"@a=b ", b"@+x;y=\\s\\ ", b"@a\r "]),
    st.sampled_from([b"", b":n!u@h ", b"::odd  ", b": "]),
    st.sampled_from([b"PRIVMSG", b"privmsg", b"001", b"CMD"]),
    st.lists(st.sampled_from([*_TOKENS, b"\r"]), max_size=40).map(b"".join),
).map(b"".join)
_any_bytes = st.binary(max_size=700)
_lines_without_lf = st.one_of(_token_lines, _plausible_lines, _any_bytes).map(_without_lf)
_lines_without_newlines = _lines_without_lf.map(_without_newlines)


def _parse_or_error(line: bytes) -> Message | RemoteProtocolError:
    try:
        return parse(line)
    except RemoteProtocolError as error:
        return error


@PROPERTY
@given(_lines_without_newlines)
def test_parse_raises_only_remote_protocol_errors(line: bytes) -> None:
    # Any other exception escapes _parse_or_error and fails the test.
    result = _parse_or_error(line)
    if isinstance(result, RemoteProtocolError):
        assert result.command == "*" or (result.command.isascii() and result.command.isalnum())
        assert result.command == result.command.upper()
        return
    assert result.command
    assert result.command.isascii()
    assert result.command.isalnum()
    assert result.command == result.command.upper()
    assert len(result.params) <= MAX_PARAMS
    assert result.source is None or (result.source and " " not in result.source)
    for param in result.params[:-1]:
        assert param
        assert " " not in param
        assert not param.startswith(":")


@PROPERTY
@given(_lines_without_lf)
def test_parsed_message_can_be_relayed(line: bytes) -> None:
    # Whatever parse accepts, serialize can write back, and it reads the same:
    # relaying a peer's message never raises LocalProtocolError.
    try:
        message = parse(line)
    except RemoteProtocolError:
        return
    wire = serialize(message)
    assert b"\r" not in wire[:-2]
    assert parse(wire[:-2]) == message


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def _model_lines(data: bytes, limit: int) -> list[LineOrMarker]:
    """What LineReader must give, written the obvious (unbounded) way."""
    *complete, tail = data.split(b"\n")
    found: list[LineOrMarker] = []
    for raw in complete:
        line = raw.removesuffix(b"\r")
        if len(line) > limit:
            found.append(LINE_TOO_LONG)
        elif line:
            found.append(line)
    if len(tail) > limit + 1:
        found.append(LINE_TOO_LONG)
    return found


_stream = st.lists(
    st.sampled_from([b"\r\n", b"\n", b"\r", b"a", b"b" * 5, b"c" * 12, b"\xff", b" "]),
    max_size=80,
).map(b"".join)


@PROPERTY
@given(
    data=_stream,
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=30),
    limit=st.integers(min_value=0, max_value=20),
)
def test_line_reader_any_chunking(data: bytes, cuts: list[int], limit: int) -> None:
    expected = _model_lines(data, limit)
    chunks = _split(data, cuts)
    assert b"".join(chunks) == data

    whole = LineReader(max_line_bytes=limit)
    assert _read(whole, [data]) == expected

    taking = LineReader(max_line_bytes=limit)
    found: list[LineOrMarker] = []
    for chunk in chunks:
        taking.feed(chunk)
        found.extend(taking.lines())
        assert taking.buffered <= limit + 1
    assert found == expected

    hoarding = LineReader(max_line_bytes=limit)
    for chunk in chunks:
        hoarding.feed(chunk)
        assert hoarding.buffered <= limit + 1
    assert hoarding.lines() == expected

    # What is still held is exactly the unfinished tail (when not over-long).
    tail = data.rsplit(b"\n", 1)[-1]
    if len(tail) <= limit + 1:
        assert whole.buffered == taking.buffered == hoarding.buffered == len(tail)


# Generated valid messages.

_text_char = st.characters(codec="utf-8", exclude_characters="\r\n\x00")
_word_char = st.characters(codec="utf-8", exclude_characters="\r\n\x00 ")


def _no_leading_colon(text: str) -> bool:
    return not text.startswith(":")


_commands = st.one_of(
    st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=10),
    st.text(alphabet=string.digits, min_size=3, max_size=3),
)
_middles = st.text(alphabet=_word_char, min_size=1, max_size=8).filter(_no_leading_colon)
_lasts = st.text(alphabet=_text_char, max_size=30)
_sources = st.one_of(st.none(), st.text(alphabet=_word_char, min_size=1, max_size=20))


def _tag_key(client_only: bool, vendor: str | None, name: str) -> str:
    """``[ '+' ] [ <vendor> '/' ] <letters, digits, hyphens>`` (message-tags)."""
    return ("+" if client_only else "") + (f"{vendor}/" if vendor else "") + name


_tag_keys = st.builds(
    _tag_key,
    st.booleans(),
    st.one_of(
        st.none(),
        st.text(alphabet=string.ascii_lowercase + string.digits + ".-", min_size=1, max_size=10),
    ),
    st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=10),
)
_tag_values = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)


@st.composite
def _messages(draw: st.DrawFn) -> Message:
    params = draw(st.lists(_middles, max_size=MAX_PARAMS - 1))
    if draw(st.booleans()):
        params.append(draw(_lasts))
    return Message(
        command=draw(_commands),
        params=tuple(params),
        source=draw(_sources),
        tags=draw(st.dictionaries(_tag_keys, _tag_values, max_size=5)),
    )


@PROPERTY
@given(_messages())
def test_serialize_parse_round_trip(message: Message) -> None:
    wire = serialize(message)
    body = serialize(message, tags={})
    assume(len(body) <= MAX_BODY_BYTES)
    assume(len(wire) - len(body) <= MAX_TAGS_BYTES)
    assert wire.endswith(b"\r\n")
    assert b"\r" not in wire[:-2]
    assert b"\n" not in wire[:-2]
    assert b"\x00" not in wire
    assert parse(wire[:-2]) == message


_any_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
_risky_text = st.one_of(
    _any_text,
    st.lists(
        st.sampled_from(["a", "B", " ", ":", ";", "=", "+", "\r", "\n", "\x00", "\\", "é"]),
        max_size=12,
    ).map("".join),
)


@PROPERTY
@given(
    command=st.one_of(_commands, st.sampled_from(["privmsg", "Ping", "x1"]), _risky_text),
    params=st.lists(st.one_of(_middles, _lasts, _risky_text), max_size=5),
    source=st.one_of(st.none(), _sources, _risky_text),
    tags=st.dictionaries(
        st.one_of(_tag_keys, _risky_text), st.one_of(_tag_values, _risky_text), max_size=4
    ),
    override=st.one_of(
        st.none(),
        st.dictionaries(
            st.one_of(_tag_keys, _risky_text), st.one_of(_tag_values, _risky_text), max_size=4
        ),
    ),
)
def test_serialize_never_breaks_framing(
    command: str,
    params: list[str],
    source: str | None,
    tags: dict[str, str],
    override: dict[str, str] | None,
) -> None:
    message = Message(command, tuple(params), source, tags)
    try:
        wire = serialize(message, tags=override)
    except LocalProtocolError:
        return
    assert wire.endswith(b"\r\n")
    for forbidden in (b"\r", b"\n", b"\x00"):
        assert forbidden not in wire[:-2]
    # What was written reads back as one message with the same parts.
    parsed = parse(wire[:-2])
    assert parsed.command == command.upper()
    assert parsed.params == message.params
    assert parsed.source == source
    written = message.tags if override is None else override
    assert dict(parsed.tags) == {
        key: value.replace("\x00", "") for key, value in written.items() if key != "+"
    }

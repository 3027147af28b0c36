"""Tests for nickname and channel-name rules (``triochat._irc.names``)."""

from __future__ import annotations

import pytest

from triochat._irc.names import (
    CASEMAPPING,
    CHANNEL_PREFIXES,
    MAX_CHANNEL_LENGTH,
    MAX_NICK_LENGTH,
    casefold,
    is_channel,
    valid_channel,
    valid_nick,
)


def test_constants() -> None:
    # What we advertise in RPL_ISUPPORT must match what the code does.
    assert CASEMAPPING == "rfc1459"
    assert CHANNEL_PREFIXES == "#"
    assert MAX_NICK_LENGTH == 30
    assert MAX_CHANNEL_LENGTH == 50


# ---------------------------------------------------------------------------
# casefold (rfc1459)
# ---------------------------------------------------------------------------

CASEFOLD_CASES: list[tuple[str, str]] = [
    ("", ""),
    ("alice", "alice"),
    ("Alice", "alice"),
    ("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"),
    ("0123456789-_`", "0123456789-_`"),
    # rfc1459: []\~ are the upper-case forms of {}|^.
    ("Nick[]\\~", "nick{}|^"),
    ("[", "{"),
    ("]", "}"),
    ("\\", "|"),
    ("~", "^"),
    ("{}|^", "{}|^"),
    ("#Chan[X]", "#chan{x}"),
    # Non-ASCII is left alone: no Unicode case folding.
    ("Ünïcode", "Ünïcode"),
    ("ÀÉÎ", "ÀÉÎ"),
    ("Straße", "straße"),
    ("#Café", "#café"),
    ("ΣΊΣΥΦΟΣ", "ΣΊΣΥΦΟΣ"),
    ("\u212a", "\u212a"),  # KELVIN SIGN, which Unicode folds to "k"
]


@pytest.mark.parametrize(("name", "folded"), CASEFOLD_CASES)
def test_casefold(name: str, folded: str) -> None:
    assert casefold(name) == folded
    assert casefold(folded) == folded  # idempotent


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Alice", "aLICE"),
        ("Nick[away]", "nick{AWAY}"),
        ("a\\b", "A|B"),
        ("x~", "X^"),
        ("#Chan", "#chan"),
    ],
)
def test_same_name_under_casemapping(a: str, b: str) -> None:
    assert casefold(a) == casefold(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("alice", "alicf"),
        ("É", "é"),
        ("\u0131", "i"),  # dotless i is not i
        ("I", "\u0131"),
        ("\u212a", "k"),  # nor is the Kelvin sign k
        ("[", "]"),
        ("~", "-"),
    ],
)
def test_different_names_under_casemapping(a: str, b: str) -> None:
    assert casefold(a) != casefold(b)


# ---------------------------------------------------------------------------
# valid_nick
# ---------------------------------------------------------------------------

VALID_NICKS = [
    "a",
    "Z",
    "alice",
    "Alice",
    "a1",
    "a123",
    "a-b",
    "a-",
    # The specials may come first.
    "[bot]",
    "\\o",
    "`x",
    "_x_",
    "^x^",
    "{x}",
    "|x|",
    "[]\\`_^{|}",
    "a" * MAX_NICK_LENGTH,
    "a" + "9" * (MAX_NICK_LENGTH - 1),
]

INVALID_NICKS = [
    "",
    "a" * (MAX_NICK_LENGTH + 1),
    # Digits and '-' may not come first.
    "1abc",
    "9",
    "-abc",
    "-",
    # Separators and characters with a meaning in the protocol.
    " ",
    "a b",
    " alice",
    "alice ",
    "a!b",
    "a@b",
    "#a",
    "a#",
    "a,b",
    "a*",
    "a?",
    "a:b",
    ":a",
    "$a",
    "&a",
    "+a",
    "%a",
    "a.b",
    "a/b",
    # Control characters.
    "a\r",
    "a\n",
    "alice\n",
    "a\0",
    "a\t",
    "a\x07",
    # Non-ASCII.
    "ä",
    "niño",
    "алиса",
    "a\u200b",  # ZERO WIDTH SPACE
    "a\u00a0",  # NO-BREAK SPACE
]


@pytest.mark.parametrize("nick", VALID_NICKS)
def test_valid_nick(nick: str) -> None:
    assert valid_nick(nick)


@pytest.mark.parametrize("nick", INVALID_NICKS)
def test_invalid_nick(nick: str) -> None:
    assert not valid_nick(nick)


def test_nick_length_boundary() -> None:
    assert valid_nick("n" * 30)
    assert not valid_nick("n" * 31)


# ---------------------------------------------------------------------------
# is_channel / valid_channel
# ---------------------------------------------------------------------------

IS_CHANNEL_CASES: list[tuple[str, bool]] = [
    ("#a", True),
    ("#", True),
    ("##", True),
    ("#a b", True),  # a channel target, though not a valid name
    ("a", False),
    ("alice", False),
    ("&a", False),  # only '#' is a channel prefix here
    ("+a", False),
    ("!a", False),
    (" #a", False),
    ("", False),
]


@pytest.mark.parametrize(("target", "expected"), IS_CHANNEL_CASES)
def test_is_channel(target: str, expected: bool) -> None:
    assert is_channel(target) is expected


VALID_CHANNELS = [
    "#a",
    "#chan",
    "#Chan",
    "##",
    "#1",
    "#a.b-c_d",
    "#[x]",
    "#!@$%",
    "#" + "x" * (MAX_CHANNEL_LENGTH - 1),
    # UTF-8 letters are allowed.
    "#café",
    "#日本語",
    "#ünïcödé",
    "#☃",
]

INVALID_CHANNELS = [
    "",
    "#",
    "a",
    "alice",
    "&a",
    "+a",
    "!a",
    " #a",
    "#" + "x" * MAX_CHANNEL_LENGTH,
    # Space, comma and BEL are forbidden by Modern IRC.
    "#a b",
    "# ",
    "#a,b",
    "#a,",
    "#a\x07",
    "#\x07",
    # Other C0 controls, DEL and C1 controls.
    "#a\x00",
    "#a\r",
    "#a\n",
    "#a\t",
    "#a\x01",
    "#a\x1b[31m",
    "#a\x1f",
    "#a\x7f",
    "#a\x80",
    "#a\x85",  # NEXT LINE
    "#a\x9b31m",  # CSI
    "#a\x9f",
]


@pytest.mark.parametrize("name", VALID_CHANNELS)
def test_valid_channel(name: str) -> None:
    assert valid_channel(name)
    assert is_channel(name)


@pytest.mark.parametrize("name", INVALID_CHANNELS)
def test_invalid_channel(name: str) -> None:
    assert not valid_channel(name)


def test_channel_length_boundary() -> None:
    assert len("#" + "x" * 49) == 50
    assert valid_channel("#" + "x" * 49)
    assert not valid_channel("#" + "x" * 50)


def test_valid_names_keep_their_validity_when_folded() -> None:
    # Folding never turns a valid name into an invalid one (the fold is the key).
    for nick in VALID_NICKS:
        assert valid_nick(casefold(nick))
    for name in VALID_CHANNELS:
        assert valid_channel(casefold(name))

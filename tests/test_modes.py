"""Mode strings read and written with the advertised syntax (``triochat._irc.modes``)."""

from __future__ import annotations

import pytest

from triochat._config import ServerConfig
from triochat._irc.modes import ModeChange, ModeSyntax, parse_modes, render_modes
from triochat._state.advertised import CHANNEL_SYNTAX, isupport_tokens

INSPIRCD = ModeSyntax.from_isupport("IXbeg,k,FHJLfjl,ACKMNOPQRSTcimnprstz", "(qaohv)~&@%+")


@pytest.mark.parametrize(
    ("modes", "params", "expected"),
    [
        ("+o", ["alice"], [ModeChange(True, "o", "alice")]),
        (
            "+ov-v",
            ["a", "b", "c"],
            [ModeChange(True, "o", "a"), ModeChange(True, "v", "b"), ModeChange(False, "v", "c")],
        ),
        # +l takes a parameter only when set; -l takes none.
        ("+l-l", ["10"], [ModeChange(True, "l", "10"), ModeChange(False, "l")]),
        # Lists and keys take one both ways; a missing one is None, not a shift.
        ("-k+b", ["key"], [ModeChange(False, "k", "key"), ModeChange(True, "b", None)]),
        # An unknown letter takes no parameter: the ones after it keep theirs.
        ("+Zo", ["alice"], [ModeChange(True, "Z"), ModeChange(True, "o", "alice")]),
        ("mnt", [], [ModeChange(True, "m"), ModeChange(True, "n"), ModeChange(True, "t")]),
    ],
)
def test_parse_modes_with_an_advertised_syntax(
    modes: str, params: list[str], expected: list[ModeChange]
) -> None:
    assert parse_modes(INSPIRCD, modes, params) == expected


def test_from_isupport_reads_the_four_classes_and_the_prefixes() -> None:
    assert INSPIRCD.lists == "IXbeg"
    assert INSPIRCD.when_set == "FHJLfjl"
    assert INSPIRCD.symbol("h") == "%"
    assert INSPIRCD.prefix == "(qaohv)~&@%+"
    assert INSPIRCD.chanmodes == "IXbeg,k,FHJLfjl,ACKMNOPQRSTcimnprstz"


def test_render_writes_signs_only_where_they_change() -> None:
    changes = [
        ModeChange(True, "o", "alice"),
        ModeChange(True, "v", "bob"),
        ModeChange(False, "t"),
        ModeChange(True, "m"),
    ]
    assert render_modes(changes) == ("+ov-t+m", ["alice", "bob"])
    assert render_modes([]) == ("", [])


def test_the_server_advertises_its_mode_table() -> None:
    tokens = isupport_tokens(ServerConfig())
    assert f"CHANMODES={CHANNEL_SYNTAX.chanmodes}" in tokens
    assert f"PREFIX={CHANNEL_SYNTAX.prefix}" in tokens
    assert CHANNEL_SYNTAX.prefix == "(ov)@+"
    # What is advertised is what a client reading 005 gets back.
    echoed = ModeSyntax.from_isupport(CHANNEL_SYNTAX.chanmodes, CHANNEL_SYNTAX.prefix)
    assert echoed == CHANNEL_SYNTAX

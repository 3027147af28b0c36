"""Reading what the user typed: text, slash commands, bang commands (sync)."""

from __future__ import annotations

import pytest

from triochat._client.commands import (
    COMMANDS,
    Command,
    Text,
    UnknownCommand,
    Verb,
    help_lines,
    parse_input,
)


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("hello", Text("hello")),
        ("//join is a command", Text("/join is a command")),
        ("!!! wow", Text("!!! wow")),
        ("!privately speaking", Text("!privately speaking")),
        ("/help", Command(Verb.HELP)),
        ("!commands", Command(Verb.HELP)),
        ("/TIME", Command(Verb.TIME)),
        ("!time", Command(Verb.TIME)),
        ("/who", Command(Verb.WHO)),
        ("!clients", Command(Verb.WHO)),
        ("/msg bob  hi there ", Command(Verb.MSG, "bob  hi there")),
        ("/query bob", Command(Verb.QUERY, "bob")),
        ("/query", Command(Verb.QUERY)),
        ("!private bob", Command(Verb.PRIVATE, "bob")),
        ("/me waves", Command(Verb.ME, "waves")),
        ("/nick robert", Command(Verb.NICK, "robert")),
        ("/join #x", Command(Verb.JOIN, "#x")),
        ("/part", Command(Verb.PART)),
        ("/quit see you", Command(Verb.QUIT, "see you")),
        ("!exit", Command(Verb.QUIT)),
        ("/private bob", UnknownCommand("/private")),
        ("/frobnicate x", UnknownCommand("/frobnicate")),
        ("/", UnknownCommand("/")),
    ],
)
def test_parse_input(line: str, parsed: Text | Command | UnknownCommand) -> None:
    assert parse_input(line) == parsed


def test_help_lists_every_spelling_of_every_command() -> None:
    text = "\n".join(help_lines())
    for spec in COMMANDS:
        if spec.slash:
            assert f"/{spec.slash}" in text
        if spec.bang:
            assert f"!{spec.bang}" in text
    assert "//TEXT" in text
    assert len(help_lines()) == len(COMMANDS) + 1


def test_every_verb_has_a_spelling() -> None:
    assert {spec.verb for spec in COMMANDS} == set(Verb)

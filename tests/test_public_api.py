"""The package facade: every public name is importable from ``triochat`` itself."""

from __future__ import annotations

import triochat


def test_every_public_name_is_exported() -> None:
    for name in triochat.__all__:
        assert getattr(triochat, name).__module__.startswith("triochat._")


def test_a_message_round_trips_through_the_facade() -> None:
    message = triochat.parse(b":alice!a@h PRIVMSG #lobby :hello there")
    assert message == triochat.Message("PRIVMSG", ("#lobby", "hello there"), "alice!a@h")
    assert triochat.serialize(message) == b":alice!a@h PRIVMSG #lobby :hello there\r\n"

"""The client's moderation commands (issue 12): /ban /unban /invite /kick /mode /topic /oper."""

from __future__ import annotations

import pytest
from test_client_core import chatting, said, sent

from triochat._client.commands import help_lines
from triochat._client.events import InfoLine
from triochat._client.moderation import Usage, moderation_line
from triochat._irc.wire import Message, parse


@pytest.mark.parametrize(
    ("verb", "args", "line"),
    [
        ("ban", "bob", ("MODE", "#room", "+b", "bob!*@*")),
        ("ban", "#other *!*@10.0.0.*", ("MODE", "#other", "+b", "*!*@10.0.0.*")),
        ("ban", "bob carol", ("MODE", "#room", "+bb", "bob!*@*", "carol!*@*")),
        ("unban", "bob", ("MODE", "#room", "-b", "bob!*@*")),
        ("invite", "dave", ("INVITE", "dave", "#room")),
        ("invite", "dave #other", ("INVITE", "dave", "#other")),
        ("kick", "bob", ("KICK", "#room", "bob")),
        ("kick", "bob stop spamming", ("KICK", "#room", "bob", "stop spamming")),
        ("kick", "#other bob", ("KICK", "#other", "bob")),
        ("mode", "", ("MODE", "#room")),
        ("mode", "+i", ("MODE", "#room", "+i")),
        ("mode", "+kl key 10", ("MODE", "#room", "+kl", "key", "10")),
        ("mode", "#other +m", ("MODE", "#other", "+m")),
        ("mode", "alice +w", ("MODE", "alice", "+w")),
        ("topic", "", ("TOPIC", "#room")),
        ("topic", "all about trio", ("TOPIC", "#room", "all about trio")),
        ("topic", "#other new topic", ("TOPIC", "#other", "new topic")),
        ("oper", "admin open sesame", ("OPER", "admin", "open sesame")),
    ],
)
def test_commands_become_irc_lines(verb: str, args: str, line: tuple[str, ...]) -> None:
    assert moderation_line(verb, args, "#room") == line


@pytest.mark.parametrize(
    ("verb", "args"),
    [("ban", ""), ("kick", ""), ("oper", "admin"), ("invite", "dave"), ("topic", "x")],
)
def test_missing_arguments_give_the_usage(verb: str, args: str) -> None:
    assert isinstance(moderation_line(verb, args, None), Usage)


def test_the_client_sends_them_and_lists_them_in_help() -> None:
    core = chatting(channel="#room")
    assert sent(core.user_line("/ban bob")) == [Message("MODE", ("#room", "+b", "bob!*@*"))]
    assert sent(core.user_line("/kick bob bye now")) == [
        Message("KICK", ("#room", "bob", "bye now"))
    ]
    effects = core.user_line("/oper admin")
    assert sent(effects) == []
    assert any("usage: /oper NAME PASSWORD" in line for line in effects.show)
    assert any(line.startswith("/oper NAME PASSWORD") for line in help_lines())


def test_moderation_errors_are_said_in_plain_words() -> None:
    core = chatting(channel="#room")
    shown = said(core, ":srv 474 alice #room :Cannot join channel (+b)").show
    assert any("cannot join #room: you are banned" in line for line in shown)
    shown = said(core, ":srv 478 alice #room b :Channel list is full").show
    assert any("the b list of #room is full" in line for line in shown)


def test_an_error_about_a_channel_is_shown_in_its_window() -> None:
    core = chatting(channel="#room")
    effects = core.server_message(parse(b":srv 482 alice #room :You're not channel operator"))
    [line] = [event for event in effects.events if isinstance(event, InfoLine)]
    assert line.window == "#room"
    assert line.error

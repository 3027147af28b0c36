"""The chat client's logic, driven by plain function calls (no trio, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from triochat._client.base import DRAIN_TOKEN, Effects, Phase
from triochat._client.core import ClientCore
from triochat._irc.wire import Message, parse

NOON: datetime = datetime(2026, 1, 1, 12, 1, tzinfo=UTC)
ALL_CAPS = "server-time echo-message message-tags multi-prefix sasl=PLAIN away-notify"


def clock() -> datetime:
    return NOON


def irc(line: str) -> Message:
    return parse(line.encode())


def reads_input(core: ClientCore) -> bool:
    """``core.accepting_input``, read through a call so that mypy does not narrow it."""
    return core.accepting_input


def phase_of(core: ClientCore) -> Phase:
    """``core.phase``, read through a call so that mypy does not narrow it."""
    return core.phase


def sent(effects: Effects) -> list[Message]:
    return [parse(line.removesuffix(b"\r\n")) for line in effects.send]


def said(core: ClientCore, *lines: str) -> Effects:
    """Feed server lines to ``core``; the effects of all of them together."""
    send: list[bytes] = []
    show: list[str] = []
    for line in lines:
        effects = core.server_message(irc(line))
        send.extend(effects.send)
        show.extend(effects.show)
    return Effects(tuple(send), tuple(show))


def chatting(nick: str = "alice", *, caps: str = "", channel: str | None = "#lobby") -> ClientCore:
    """A core that has registered (with ``caps`` acknowledged) and joined ``channel``."""
    core = ClientCore(nick=nick, channel=channel, clock=clock)
    core.start()
    said(core, f":srv CAP * LS :{caps}")
    if caps:
        said(core, f":srv CAP {nick} ACK :{caps}")
    said(core, f":srv 001 {nick} :Welcome")
    if channel:
        said(core, f":{nick}!{nick}@host JOIN {channel}")
    return core


# -- registration --------------------------------------------------------------


def test_start_with_a_nick_registers_at_once() -> None:
    core = ClientCore(nick="alice", clock=clock)
    assert sent(core.start()) == [
        Message("CAP", ("LS", "302")),
        Message("NICK", ("alice",)),
        Message("USER", ("alice", "0", "*", "alice")),
    ]
    assert phase_of(core) is Phase.REGISTERING


def test_start_without_a_nick_asks_for_one() -> None:
    core = ClientCore(nick=None, clock=clock)
    effects = core.start()
    assert sent(effects) == [Message("CAP", ("LS", "302"))]
    assert effects.show == ("[12:01] -!- choose a nickname:",)
    assert reads_input(core)
    assert sent(core.user_line("  bob ")) == [
        Message("NICK", ("bob",)),
        Message("USER", ("bob", "0", "*", "bob")),
    ]


def test_a_nick_with_spaces_is_asked_again_without_sending() -> None:
    core = ClientCore(nick=None, clock=clock)
    core.start()
    effects = core.user_line("bob smith")
    assert sent(effects) == []
    assert "one word" in effects.show[0]
    assert effects.show[-1].endswith("choose a nickname:")


def test_an_unsendable_nick_option_asks_instead() -> None:
    core = ClientCore(nick=":bad", clock=clock)
    effects = core.start()
    assert sent(effects) == [Message("CAP", ("LS", "302"))]
    assert effects.show[-1].endswith("choose a nickname:")


def test_caps_request_only_what_the_server_offers_and_wants() -> None:
    core = ClientCore(nick="alice", clock=clock)
    core.start()
    assert sent(said(core, ":srv CAP * LS * :sasl=PLAIN,EXTERNAL server-time")) == []
    req = sent(said(core, ":srv CAP * LS :echo-message away-notify"))
    assert req == [Message("CAP", ("REQ", "echo-message server-time"))]
    assert sent(said(core, ":srv CAP alice ACK :echo-message server-time")) == [
        Message("CAP", ("END",))
    ]
    assert core.caps == {"echo-message", "server-time"}


@pytest.mark.parametrize("reply", [":srv CAP * LS :", ":srv CAP * LS :sasl away-notify"])
def test_caps_end_at_once_when_nothing_is_wanted(reply: str) -> None:
    core = ClientCore(nick="alice", clock=clock)
    core.start()
    assert sent(said(core, reply)) == [Message("CAP", ("END",))]


def test_caps_nak_still_ends_negotiation() -> None:
    core = ClientCore(nick="alice", clock=clock)
    core.start()
    said(core, ":srv CAP * LS :echo-message")
    assert sent(said(core, ":srv CAP alice NAK :echo-message")) == [Message("CAP", ("END",))]
    assert core.caps == set()


def test_cap_del_forgets_a_capability() -> None:
    core = chatting(caps="echo-message server-time")
    said(core, ":srv CAP alice DEL :echo-message")
    assert core.caps == {"server-time"}


@pytest.mark.parametrize(
    ("numeric", "reason"),
    [
        ("433 * alice :Nickname is already in use", "the nickname alice is already in use"),
        ("432 * al!ce :Erroneous nickname", "al!ce cannot be used as a nickname"),
        ("431 * :No nickname given", "no nickname given"),
    ],
)
def test_nick_refused_during_registration_asks_again(numeric: str, reason: str) -> None:
    core = ClientCore(nick="alice", clock=clock)
    core.start()
    effects = said(core, f":srv {numeric}")
    assert effects.show == (f"[12:01] -!- {reason}", "[12:01] -!- choose a nickname:")
    assert sent(core.user_line("alice2")) == [Message("NICK", ("alice2",))]  # USER went once


def test_nick_refused_after_registration_keeps_the_old_one() -> None:
    core = chatting()
    sent_nick = sent(core.user_line("/nick bob"))
    assert sent_nick == [Message("NICK", ("bob",))]
    effects = said(core, ":srv 433 alice bob :Nickname is already in use")
    assert effects.show == ("[12:01] -!- the nickname bob is already in use",)
    assert core.nick == "alice"


def test_welcome_takes_the_servers_nick_and_joins_the_channel() -> None:
    core = ClientCore(nick="Alice", clock=clock)
    core.start()
    said(core, ":srv CAP * LS :")
    effects = said(core, ":srv 001 alice :Welcome to triochat")
    assert sent(effects) == [Message("JOIN", ("#lobby",))]
    assert effects.show == ("[12:01] -!- Welcome to triochat",)
    assert core.nick == "alice"
    assert core.target is None
    effects = said(core, ":alice!a@h JOIN #lobby")
    assert effects.show == ("[12:01] -!- you have joined #lobby",)
    assert core.target == "#lobby"


def test_no_channel_means_no_join() -> None:
    core = chatting(channel=None)
    assert core.target is None
    effects = core.user_line("anyone?")
    assert sent(effects) == []
    assert "not in a channel" in effects.show[0]


# -- holding input until the client can act on it ------------------------------


def test_lines_typed_before_joining_are_held_then_sent_in_order() -> None:
    core = ClientCore(nick="alice", clock=clock)
    core.start()
    assert reads_input(core)
    assert core.user_line("first") == Effects()
    assert not reads_input(core)  # one line waits: stop reading
    said(core, ":srv CAP * LS :", ":srv 001 alice :hi")
    assert not reads_input(core)
    effects = said(core, ":alice!a@h JOIN #lobby")
    assert sent(effects) == [Message("PRIVMSG", ("#lobby", "first"))]
    assert reads_input(core)


def test_a_failed_first_join_releases_held_lines() -> None:
    core = ClientCore(nick="alice", clock=clock)
    core.start()
    core.user_line("/time")
    effects = said(core, ":srv 001 alice :hi", ":srv 403 alice #lobby :No such channel")
    assert sent(effects) == [Message("JOIN", ("#lobby",)), Message("TIME")]
    assert "[12:01] -!- no such channel: #lobby" in effects.show


def test_quit_is_never_held() -> None:
    core = ClientCore(nick="alice", clock=clock)
    core.start()
    core.user_line("held")
    assert sent(core.user_line("/quit bye")) == [Message("QUIT", ("bye",))]
    assert phase_of(core) is Phase.QUITTING


def test_quit_while_asked_for_a_nick() -> None:
    core = ClientCore(nick=None, clock=clock)
    core.start()
    assert sent(core.user_line("!exit")) == [Message("QUIT", ("leaving",))]


# -- talking ---------------------------------------------------------------------


def test_text_goes_to_the_channel_and_shows_at_once_without_echo() -> None:
    core = chatting()
    effects = core.user_line("hello")
    assert sent(effects) == [Message("PRIVMSG", ("#lobby", "hello"))]
    assert effects.show == ("[12:01] <alice> hello",)


def test_with_echo_message_own_text_shows_when_the_server_echoes_it() -> None:
    core = chatting(caps="echo-message")
    effects = core.user_line("hello")
    assert sent(effects) == [Message("PRIVMSG", ("#lobby", "hello"))]
    assert effects.show == ()
    echo = said(core, ":alice!a@h PRIVMSG #lobby :hello")
    assert echo.show == ("[12:01] <alice> hello",)


def test_user_line_cleaning() -> None:
    core = chatting()
    assert sent(core.user_line("a\rb\0c\r\n")) == [Message("PRIVMSG", ("#lobby", "abc"))]
    assert core.user_line("   ") == Effects()


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (":bob!b@h PRIVMSG #lobby :hi all", "[12:01] <bob> hi all"),
        (":bob!b@h PRIVMSG #other :over here", "[12:01] #other <bob> over here"),
        (":bob!b@h PRIVMSG #lobby :\x01ACTION waves\x01", "[12:01] * bob waves"),
        (":bob!b@h PRIVMSG #lobby :\x01ACTION waves", "[12:01] * bob waves"),
        (":bob!b@h PRIVMSG alice :psst", "[12:01] *bob* psst"),
        (":bob!b@h PRIVMSG alice :\x01ACTION winks\x01", "[12:01] *bob* * bob winks"),
        (":alice!a@h PRIVMSG bob :psst", "[12:01] -> *bob* psst"),
        (
            ":bob!b@h PRIVMSG alice :\x01VERSION\x01",
            "[12:01] -!- bob sent a CTCP VERSION request (not answered)",
        ),
        (":srv NOTICE * :*** Looking up your hostname", "[12:01] -!- *** Looking up your hostname"),
        (":bob!b@h NOTICE alice :hey", "[12:01] -!- notice from bob: hey"),
        (":bob!b@h NOTICE #lobby :all", "[12:01] -!- notice from bob to #lobby: all"),
        (":bob!b@h JOIN #lobby", "[12:01] -!- bob has joined #lobby"),
        (":bob!b@h PART #lobby :bye", "[12:01] -!- bob has left #lobby (bye)"),
        (":bob!b@h PART #lobby", "[12:01] -!- bob has left #lobby"),
        (":bob!b@h QUIT :Quit: gone", "[12:01] -!- bob has quit (Quit: gone)"),
        (":bob!b@h NICK robert", "[12:01] -!- bob is now known as robert"),
        (":op!o@h KICK #lobby bob :spam", "[12:01] -!- bob was kicked from #lobby by op (spam)"),
        (
            ":bob!b@h TOPIC #lobby :new topic",
            "[12:01] -!- bob changed the topic of #lobby to: new topic",
        ),
        (":srv 332 alice #lobby :the topic", "[12:01] -!- topic of #lobby: the topic"),
        (":bob!b@h INVITE alice #secret", "[12:01] -!- bob invites you to #secret"),
        (":op!o@h MODE #lobby +o bob", "[12:01] -!- mode #lobby +o bob by op"),
        (":srv 372 alice :- message of the day", "[12:01] -!- - message of the day"),
        (":srv 254 alice 3 :channels formed", "[12:01] -!- 3 channels formed"),
        (
            ":srv FAIL CHATHISTORY MESSAGE_ERROR :no history",
            "[12:01] -!- error (CHATHISTORY): no history",
        ),
        (
            "@time=2026-01-01T09:30:00.000Z :bob!b@h PRIVMSG #lobby :stamped",
            "[09:30] <bob> stamped",
        ),
        ("@time=garbage :bob!b@h PRIVMSG #lobby :unstamped", "[12:01] <bob> unstamped"),
    ],
)
def test_what_the_server_says_is_shown(line: str, shown: str) -> None:
    assert said(chatting(), line).show == (shown,)


@pytest.mark.parametrize(
    "line", [":srv 005 alice CASEMAPPING=rfc1459 :are supported", ":srv 376 alice :End of MOTD"]
)
def test_quiet_numerics_show_nothing(line: str) -> None:
    assert said(chatting(), line) == Effects()


def test_text_from_others_is_made_safe_for_the_terminal() -> None:
    effects = said(
        chatting(), ":b\x1bob!b@h PRIVMSG #lobby :\x1b[2J\x1b]0;pwned\x07\x02bold\x02\x0304red"
    )
    assert effects.show == ("[12:01] <b?ob> ?[2J?]0;pwned?boldred",)


def test_ping_is_answered() -> None:
    assert sent(said(chatting(), "PING :abc123")) == [Message("PONG", ("abc123",))]


# -- long lines ------------------------------------------------------------------


def test_long_text_is_split_into_lines_that_fit_when_relayed() -> None:
    core = chatting()
    text = ("word " * 100) + "\u00e9" * 150 + "\U0001f600" * 40
    messages = sent(core.user_line(text))
    assert len(messages) > 2
    assert all(m.command == "PRIVMSG" and m.params[0] == "#lobby" for m in messages)
    assert "".join(m.params[1] for m in messages) == text
    host = "h" * 63
    for message in messages:
        relayed = f":alice!~alice@{host} PRIVMSG #lobby :{message.params[1]}\r\n"
        assert len(relayed.encode()) <= 512


def test_long_action_is_split_into_several_actions() -> None:
    core = chatting()
    messages = sent(core.user_line("/me " + "x" * 900))
    assert len(messages) == 3
    assert all(m.params[1].startswith("\x01ACTION ") for m in messages)
    assert all(m.params[1].endswith("\x01") for m in messages)
    assert "".join(m.params[1][8:-1] for m in messages) == "x" * 900


# -- commands --------------------------------------------------------------------


def test_help_is_local() -> None:
    effects = chatting().user_line("/help")
    assert effects.send == ()
    text = "\n".join(effects.show)
    for word in ("/help", "!commands", "!time", "!clients", "!private", "!exit", "/query", "/me"):
        assert word in text
    assert chatting().user_line("!commands").show == effects.show


def test_time_asks_the_server_and_shows_its_answer() -> None:
    core = chatting()
    assert sent(core.user_line("!time")) == [Message("TIME")]
    effects = said(core, ":srv 391 alice srv :Thursday January 1 2026 -- 12:01:00 +00:00")
    assert effects.show == ("[12:01] -!- time on srv: Thursday January 1 2026 -- 12:01:00 +00:00",)


def test_who_lists_the_current_channel_in_one_line() -> None:
    core = chatting()
    assert sent(core.user_line("/who")) == [Message("NAMES", ("#lobby",))]
    assert sent(core.user_line("!clients")) == [Message("NAMES", ("#lobby",))]
    effects = said(
        core,
        ":srv 353 alice = #lobby :@alice +bob",
        ":srv 353 alice = #lobby :carol",
        ":srv 366 alice #lobby :End of /NAMES list",
    )
    assert effects.show == ("[12:01] -!- here in #lobby (3): @alice +bob carol",)


def test_who_outside_a_channel_is_refused() -> None:
    effects = chatting(channel=None).user_line("/who")
    assert effects.send == ()
    assert "not in a channel" in effects.show[0]


def test_msg_sends_one_private_message() -> None:
    core = chatting()
    effects = core.user_line("/msg bob  psst, hi")
    assert sent(effects) == [Message("PRIVMSG", ("bob", "psst, hi"))]
    assert effects.show == ("[12:01] -> *bob* psst, hi",)
    assert core.target == "#lobby"


@pytest.mark.parametrize("line", ["/msg", "/msg bob", "/msg bob   "])
def test_msg_without_text_shows_usage(line: str) -> None:
    effects = chatting().user_line(line)
    assert effects.send == ()
    assert "usage: /msg NICK TEXT" in effects.show[0]


def test_msg_to_an_unsendable_target_is_refused_locally() -> None:
    effects = chatting().user_line("/msg :bob hi")
    assert effects.send == ()
    assert "not sent" in effects.show[0]


def test_query_switches_the_target_until_query_alone() -> None:
    core = chatting()
    effects = core.user_line("/query bob")
    assert core.target == "bob"
    assert "talking privately with bob" in effects.show[0]
    assert sent(core.user_line("secret")) == [Message("PRIVMSG", ("bob", "secret"))]
    effects = core.user_line("/query")
    assert "back in #lobby" in effects.show[0]
    assert sent(core.user_line("public")) == [Message("PRIVMSG", ("#lobby", "public"))]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("/query #other", "is a channel"),
        ("/query ALICE", "that is you"),
        ("!private alice", "that is you"),
        ("!private", "usage: !private NICK"),
    ],
)
def test_private_targets_that_make_no_sense_are_refused(line: str, why: str) -> None:
    core = chatting()
    effects = core.user_line(line)
    assert effects.send == ()
    assert why in effects.show[0]
    assert core.target == "#lobby"


def test_query_alone_outside_a_query() -> None:
    assert "not talking privately" in chatting().user_line("/query").show[0]


def test_401_in_a_query_says_the_partner_is_gone() -> None:
    core = chatting()
    core.user_line("/query bob")
    core.user_line("are you there?")
    effects = said(core, ":srv 401 alice bob :No such nick/channel")
    assert effects.show[0] == "[12:01] -!- no such nick: bob"
    assert "bob has left the server" in effects.show[1]
    assert core.target == "bob"  # never silently falls back to the channel


def test_partner_quitting_is_pointed_out() -> None:
    core = chatting()
    core.user_line("/query bob")
    effects = said(core, ":bob!b@h QUIT :bye")
    assert "bob is gone" in effects.show[1]


def test_partner_changing_nick_is_followed() -> None:
    core = chatting()
    core.user_line("/query bob")
    said(core, ":bob!b@h NICK robert")
    assert core.target == "robert"


# -- !private: check first, never leak ---------------------------------------------


def test_private_to_an_absent_nick_stays_in_the_channel() -> None:
    core = chatting()
    effects = core.user_line("!private bob")
    assert sent(effects) == [Message("WHOIS", ("bob",))]
    assert core.checking_nick == "bob"
    effects = said(
        core,
        ":srv 401 alice bob :No such nick/channel",
        ":srv 318 alice bob :End of /WHOIS list",
    )
    assert effects.show[0] == "[12:01] -!- no such nick: bob"
    assert "still talking in #lobby" in effects.show[1]
    assert len(effects.show) == 2
    assert core.target == "#lobby"
    assert sent(core.user_line("hello room")) == [Message("PRIVMSG", ("#lobby", "hello room"))]


def test_text_typed_during_a_failed_check_is_not_sent_anywhere() -> None:
    core = chatting()
    core.user_line("!private bob")
    assert core.user_line("meant for bob only") == Effects()
    assert not reads_input(core)
    effects = said(core, ":srv 401 alice bob :No such nick/channel")
    assert sent(effects) == []
    assert "[12:01] -!- not sent, bob is not here: meant for bob only" in effects.show
    assert reads_input(core)


def test_commands_typed_during_a_failed_check_still_run() -> None:
    core = chatting()
    core.user_line("!private bob")
    core.user_line("/time")
    assert sent(said(core, ":srv 401 alice bob :No such nick/channel")) == [Message("TIME")]


def test_private_to_a_present_nick_starts_private_talk() -> None:
    core = chatting()
    core.user_line("!private Bob")
    core.user_line("typed while checking")
    effects = said(
        core,
        ":srv 311 alice bob b host * :Bob",
        ":srv 319 alice bob :#lobby",
        ":srv 312 alice bob srv :triochat server",
        ":srv 318 alice bob :End of /WHOIS list",
    )
    assert core.target == "Bob"
    assert sent(effects) == [Message("PRIVMSG", ("Bob", "typed while checking"))]
    assert "talking privately with Bob" in effects.show[0]
    assert sent(core.user_line("psst")) == [Message("PRIVMSG", ("Bob", "psst"))]


def test_private_check_without_whois_support_fails_safe() -> None:
    core = chatting()
    core.user_line("!private bob")
    core.user_line("secret")
    effects = said(core, ":srv 421 alice WHOIS :Unknown command")
    assert sent(effects) == []
    assert core.target == "#lobby"


def test_private_check_timeout_fails_safe() -> None:
    core = chatting()
    core.user_line("!private bob")
    core.user_line("secret")
    effects = core.check_timed_out()
    assert sent(effects) == []
    assert "did not say whether bob is here" in effects.show[0]
    assert core.checking_nick is None
    assert core.check_timed_out() == Effects()


# -- other commands ----------------------------------------------------------------


def test_me_sends_a_ctcp_action() -> None:
    core = chatting()
    effects = core.user_line("/me waves")
    assert sent(effects) == [Message("PRIVMSG", ("#lobby", "\x01ACTION waves\x01"))]
    assert effects.show == ("[12:01] * alice waves",)
    core.user_line("/query bob")
    assert core.user_line("/me winks").show == ("[12:01] -> *bob* * alice winks",)


@pytest.mark.parametrize(("line", "usage"), [("/me", "/me TEXT"), ("/nick", "/nick NEW")])
def test_commands_without_arguments_show_usage(line: str, usage: str) -> None:
    effects = chatting().user_line(line)
    assert effects.send == ()
    assert usage in effects.show[0]


def test_nick_change_is_followed() -> None:
    core = chatting()
    assert sent(core.user_line("/nick robert")) == [Message("NICK", ("robert",))]
    effects = said(core, ":alice!a@h NICK robert")
    assert effects.show == ("[12:01] -!- you are now known as robert",)
    assert core.nick == "robert"


def test_join_and_part_move_the_current_channel() -> None:
    core = chatting()
    assert sent(core.user_line("/join games")) == [Message("JOIN", ("#games",))]
    said(core, ":alice!a@h JOIN #games")
    assert core.target == "#games"
    assert sent(core.user_line("/part")) == [Message("PART", ("#games",))]
    effects = said(core, ":alice!a@h PART #games")
    assert effects.show == ("[12:01] -!- you have left #games", "[12:01] -!- now talking in #lobby")
    assert core.target == "#lobby"
    assert sent(core.user_line("/part #lobby see you")) == [Message("PART", ("#lobby", "see you"))]
    said(core, ":alice!a@h PART #lobby :see you")
    assert core.room is None
    assert core.channels == {}
    assert "not in a channel" in core.user_line("/part").show[0]


def test_being_kicked_leaves_the_channel() -> None:
    core = chatting()
    effects = said(core, ":op!o@h KICK #lobby alice :behave")
    assert effects.show == ("[12:01] -!- you were kicked from #lobby by op (behave)",)
    assert core.target is None


def test_unknown_command_sends_nothing() -> None:
    effects = chatting().user_line("/frobnicate now")
    assert effects.send == ()
    assert effects.show == ("[12:01] -!- unknown command /frobnicate; type /help for the list",)


def test_double_slash_sends_a_literal_slash() -> None:
    assert sent(chatting().user_line("//shrug")) == [Message("PRIVMSG", ("#lobby", "/shrug"))]


@pytest.mark.parametrize(
    ("numeric", "shown"),
    [
        ("401 alice bob :No such nick/channel", "no such nick: bob"),
        ("403 alice #nope :No such channel", "no such channel: #nope"),
        ("404 alice #x :Cannot send to channel", "cannot send to #x"),
        (
            "411 alice :No recipient given (PRIVMSG)",
            "no recipient given: say who the message is for",
        ),
        ("412 alice :No text to send", "no text to send"),
        ("421 alice FROB :Unknown command", "the server does not know the command FROB"),
        ("442 alice #x :You're not on that channel", "you are not on #x"),
        ("461 alice JOIN :Not enough parameters", "not enough parameters for JOIN"),
        ("482 alice #x :You're not channel operator", "you are not a channel operator of #x"),
        ("474 alice #x :Cannot join channel (+b)", "cannot join #x: you are banned"),
        ("499 alice odd thing :Weird", "error 499 from the server: odd thing Weird"),
        ("482 alice :missing channel", "error 482 from the server: missing channel"),
    ],
)
def test_error_numerics_are_said_plainly(numeric: str, shown: str) -> None:
    assert said(chatting(), f":srv {numeric}").show == (f"[12:01] -!- {shown}",)


# -- the end ---------------------------------------------------------------------------


def test_end_of_input_drains_then_quits() -> None:
    core = chatting()
    assert sent(core.end_of_input()) == [Message("PING", (DRAIN_TOKEN,))]
    assert phase_of(core) is Phase.DRAINING
    assert not reads_input(core)
    assert sent(said(core, ":srv PONG srv :other")) == []
    assert sent(said(core, f":srv PONG srv :{DRAIN_TOKEN}")) == [Message("QUIT", ("leaving",))]
    assert phase_of(core) is Phase.QUITTING
    effects = said(core, "ERROR :Closing link: 127.0.0.1 (Quit)")
    assert effects.show == ("[12:01] -!- disconnected: Closing link: 127.0.0.1 (Quit)",)
    assert core.exit_code == 0


def test_end_of_input_before_registration_quits_at_once() -> None:
    core = ClientCore(nick="alice", clock=clock)
    core.start()
    assert sent(core.end_of_input()) == [Message("QUIT", ("leaving",))]


def test_server_going_away_is_said_once_with_exit_code_1() -> None:
    core = chatting()
    effects = said(core, "ERROR :Closing link: server shutting down")
    assert effects.show == ("[12:01] -!- disconnected: Closing link: server shutting down",)
    assert phase_of(core) is Phase.CLOSED
    assert core.exit_code == 1
    assert core.connection_lost("EOF") == Effects()
    assert said(core, ":bob!b@h PRIVMSG #lobby :late") == Effects()
    assert core.user_line("anyone?") == Effects()


def test_quit_after_the_close_does_nothing() -> None:
    core = chatting()
    core.connection_lost("reset")
    assert core.quit() == Effects()
    assert core.exit_code == 1


def test_quit_command_exits_with_0() -> None:
    core = chatting()
    assert sent(core.user_line("!exit")) == [Message("QUIT", ("leaving",))]
    assert core.user_line("too late") == Effects()
    core.connection_lost("the server closed the connection")
    assert core.exit_code == 0


def test_the_channel_option_may_omit_the_hash() -> None:
    core = ClientCore(nick="alice", channel="games", clock=clock)
    core.start()
    effects = said(core, ":srv CAP * LS :", ":srv 001 alice :hi")
    assert sent(effects)[-1] == Message("JOIN", ("#games",))


def test_names_from_a_server_that_sends_no_channel_symbol() -> None:
    core = chatting()
    effects = said(core, ":srv 353 alice #lobby :bob", ":srv 366 alice #lobby :End")
    assert effects.show == ("[12:01] -!- here in #lobby (1): bob",)

"""Every bug observed in the original student chat program, and what triochat does instead.

Each test names the row of the table in ``research/python-peers.md`` (section 1.3)
that it answers. They run in memory against the real server layer; the client-side
rows (``!private`` falling back to public, the client spinning on EOF) are tested in
the client's own tests, and the process-level rows (Ctrl-C, restart on the same
port) in ``test_e2e.py``.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from harness import ServerHarness, config


async def test_private_to_unknown_nick_is_refused_and_reaches_nobody(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    """Original: the error went to the server console; the text later went public."""
    with trio.fail_after(5):
        alice = await harness.client("alice", channel="#lobby")
        bob = await harness.client("bob", channel="#lobby")
        await alice.send("PRIVMSG nobody :this was meant to be private")
        error = await alice.expect("401")
        assert error.params == ("alice", "nobody", "No such nick/channel")
        await alice.send("PRIVMSG #lobby :public")
        assert (await bob.expect("PRIVMSG")).params == ("#lobby", "public")  # nothing before


async def test_private_to_yourself_works(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(5):
        alice = await harness.client("alice")
        await alice.send("PRIVMSG alice :note to self")
        note = await alice.expect("PRIVMSG")
        assert note.params == ("alice", "note to self")


async def test_private_with_empty_target_or_text_gets_an_error(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    """Original: an empty target was silently sent nowhere, and the next line became the target."""
    with trio.fail_after(5):
        alice = await harness.client("alice")
        await alice.send("PRIVMSG", "PRIVMSG bob", "PRIVMSG alice :")
        assert [(await alice.receive()).command for _ in range(3)] == ["411", "412", "412"]


async def test_target_leaving_mid_conversation_gets_401_not_a_broken_room(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(5):
        alice = await harness.client("alice", channel="#lobby")
        bob = await harness.client("bob", channel="#lobby")
        await bob.send("QUIT")
        await alice.expect("QUIT")
        await alice.send("PRIVMSG bob :still there?")
        assert (await alice.expect("401")).params[1] == "bob"
        await alice.sync()  # alice is still connected and served


async def test_abrupt_close_is_noticed_at_once_and_never_spins(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    """Original: a FIN made the handler loop on empty reads at 100% CPU, leaving a ghost."""
    with trio.fail_after(5):
        alice = await harness.client("alice", channel="#lobby")
        bob = await harness.client("bob", channel="#lobby")
        await bob.stream.aclose()
        assert (await alice.expect("QUIT")).params == ("Connection closed",)
        await alice.send("NAMES #lobby")
        names = await alice.expect("353")
        assert names.params[-1] == "@alice"  # no ghost


async def test_non_ascii_message_is_delivered_intact(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    """Original: 'café' raised UnicodeDecodeError and disconnected the sender."""
    with trio.fail_after(5):
        alice = await harness.client("alice", channel="#lobby")
        dave = await harness.client("dave", channel="#lobby")
        await dave.send("PRIVMSG #lobby :café 🎉 naïve")
        assert (await alice.expect("PRIVMSG")).params[1] == "café 🎉 naïve"
        await dave.sync()


async def test_non_ascii_nickname_is_refused_and_the_server_keeps_accepting(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    """Original: a nickname 'zoë' killed the accept loop for good."""
    with trio.fail_after(5):
        zoe = await harness.connect()
        await zoe.send("NICK zoë")
        assert (await zoe.expect("432")).params[1] == "zoë"
        await zoe.register("zoe")
        later = await harness.client("later")
        await later.sync()


async def test_tail_of_an_over_long_line_never_runs_as_a_command(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    """Original: 1024 bytes of text followed by '!clients' ran the command."""
    with trio.fail_after(5):
        alice = await harness.client("alice", channel="#lobby")
        bob = await harness.client("bob", channel="#lobby")
        await bob.send("PRIVMSG #lobby :" + "x" * 1100 + " QUIT :tail")
        assert (await bob.receive()).command == "417"
        await bob.send("PRIVMSG #lobby :after")
        assert (await alice.expect("PRIVMSG")).params[1] == "after"
        assert harness.server.connection_count == 2


async def test_lines_ending_in_lf_or_crlf_are_both_understood(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    """Original: '!exit\\n' was not a command and a nickname became 'nick\\n'."""
    with trio.fail_after(5):
        client = await harness.connect()
        await client.send(b"NICK netcat\nUSER nc 0 * :nc\n")
        welcome = await client.expect("001")
        assert welcome.params[0] == "netcat"


async def test_duplicate_nickname_is_refused_case_insensitively(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    """Original: two 'sam's were allowed and private messages reached the first."""
    with trio.fail_after(5):
        await harness.client("sam")
        second = await harness.connect()
        await second.send("NICK SAM")
        assert (await second.expect("433")).params[1] == "SAM"


async def test_nobody_can_impersonate_anybody(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    """Original: any client could send '>alice: ...' and everyone saw it as alice."""
    with trio.fail_after(5):
        alice = await harness.client("alice", channel="#lobby")
        mallory = await harness.client("mallory", channel="#lobby")
        await mallory.send(":alice!~alice@localhost PRIVMSG #lobby :I am definitely alice")
        said = await alice.expect("PRIVMSG")
        assert said.source == "mallory!~mallory@localhost"


@pytest.mark.parametrize("text", ["EXIT", "NICKNAME", "ERROR :fake", "\x01VERSION\x01"])
async def test_control_words_are_just_text(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness, text: str
) -> None:
    """Original: broadcasting 'EXIT' closed other clients; 'NICKNAME' made them answer."""
    with trio.fail_after(5):
        alice = await harness.client("alice", channel="#lobby")
        mallory = await harness.client("mallory", channel="#lobby")
        await mallory.send(f"PRIVMSG #lobby :{text}")
        said = await alice.expect("PRIVMSG")
        assert said.params == ("#lobby", text)
        assert said.source == "mallory!~mallory@localhost"


async def test_a_raw_error_command_from_a_client_is_unknown(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(5):
        mallory = await harness.client("mallory")
        await mallory.send("ERROR :pretend the server said this")
        assert (await mallory.expect("421")).params[1] == "ERROR"


@pytest.mark.parametrize("server_config", [config(registration_timeout=10)])
async def test_silent_connection_blocks_no_join_and_is_dropped(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    """Original: one client that never sent its nickname blocked every later join."""
    with trio.fail_after(30):
        silent = await harness.connect()
        await harness.client("alice")
        messages = await silent.wait_closed()
        assert "Registration timed out" in messages[-1].params[0]


# The sender is a trusted bot (no flood control): tests/test_hostile.py has the flooder.
@pytest.mark.parametrize("server_config", [config(sendq_bytes=100_000, flood_control=False)])
async def test_sender_is_never_blocked_by_a_reader_that_stopped(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    """Original: the flooding sender's thread blocked in send() toward a non-reader."""
    with trio.fail_after(5):
        sender = await harness.client("sender", channel="#lobby")
        stalled = await harness.connect(lockstep=True)
        await stalled.register("stalled")
        await stalled.join("#lobby")
        for batch in range(20):
            await sender.send(*(f"PRIVMSG #lobby :{batch}.{n} {'z' * 100}" for n in range(100)))
            await sender.sync()  # answered at once, every time
        quits = [message for message in sender.skipped if message.command == "QUIT"]
        assert [message.params for message in quits] == [("SendQ exceeded",)]

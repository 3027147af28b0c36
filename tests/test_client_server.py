"""Our client against our real server, in memory: what two users see of each other."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
from test_client import Screen

from triochat._client.session import run_client

if TYPE_CHECKING:
    from harness import ServerHarness


class User:
    """A person at a triochat client: a keyboard, a screen, an exit code."""

    def __init__(self) -> None:
        self.keyboard, self._lines = trio.open_memory_channel[str](100)
        self._display, shown = trio.open_memory_channel[str](1000)
        self.screen = Screen(shown)
        self.exit_code: int | None = None
        self.done = trio.Event()

    async def run(self, stream: trio.abc.Stream, nick: str) -> None:
        self.exit_code = await run_client(stream, self._lines, self._display, nick=nick)
        self.done.set()

    async def type(self, *lines: str) -> None:
        for line in lines:
            await self.keyboard.send(line)


async def arrive(harness: ServerHarness, nursery: trio.Nursery, nick: str) -> User:
    user = User()
    nursery.start_soon(user.run, await harness.listener.connect(), nick)
    await user.screen.wait_for("you have joined #lobby")
    return user


async def test_two_users_talk_in_public_and_in_private(
    harness: ServerHarness, nursery: trio.Nursery, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(30):
        alice = await arrive(harness, nursery, "alice")
        bob = await arrive(harness, nursery, "bob")
        await alice.screen.wait_for("-!- bob has joined #lobby")

        await alice.type("hello bob")
        await bob.screen.wait_for("<alice> hello bob")
        await alice.screen.wait_for("<alice> hello bob")  # the server's echo

        await bob.type("!private carol", "this is for carol only")
        await bob.screen.wait_for("-!- no such nick: carol")
        await bob.screen.wait_for("not sent, carol is not here: this is for carol only")

        await bob.type("!private alice", "psst alice", "/me winks")
        await alice.screen.wait_for("*bob* psst alice")
        await alice.screen.wait_for("*bob* * bob winks")
        await bob.screen.wait_for("-> *alice* psst alice")

        await bob.type("/query", "!clients", "!time")
        await bob.screen.wait_for("here in #lobby (2):")
        await bob.screen.wait_for("-!- time on test.server:")
        bob.keyboard.close()
        await bob.done.wait()
        assert bob.exit_code == 0
        await alice.screen.wait_for("-!- bob has quit")

        await alice.type("!exit")
        await alice.done.wait()
        assert alice.exit_code == 0
        assert not any("carol only" in line for line in alice.screen.drain())

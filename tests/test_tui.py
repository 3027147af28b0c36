"""The full-screen client, headless: Textual's Pilot types, the in-memory server answers.

Each test is a plain (synchronous) test that runs ``asyncio.run``: Textual's
loop is the host, and trio runs inside it as a guest, as in real use. The trio
side of a test (:class:`World`) runs the in-memory triochat server, the
reconnecting session, and whatever the test asks for from the asyncio side
(:meth:`World.trio`: a bob who talks, a cut connection).

These tests use real time, as the app does; every wait has a deadline
(:data:`LIMIT`) and polls a condition, so they take well under a second each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

import trio
from harness import TEST_CONFIG, IrcClient, MemoryListener, ServerHarness
from rich.style import Style
from textual.widgets import Input, OptionList, Static

from triochat._client.events import (
    ChatLine,
    Event,
    HistoryEnded,
    HistoryStarted,
    Joined,
    Members,
    Registered,
    Topic,
    UserInput,
)
from triochat._client.reconnect import Backoff, run_chat
from triochat._client.session import ClientTimeouts
from triochat._server.server import ChatServer
from triochat._tui.app import ChatApp, ChatInput
from triochat._tui.render import nick_color

if TYPE_CHECKING:
    from textual.pilot import Pilot

T = TypeVar("T")

#: Seconds of real time any one wait may take (each normally takes milliseconds).
LIMIT = 10.0
SIZE = (110, 30)


class World:
    """The trio side of a test: the server, the chat session, and errands for the test."""

    def __init__(self) -> None:
        self._errands, self._errand_queue = trio.open_memory_channel[
            tuple[Callable[[], Awaitable[object]], asyncio.Future[object]]
        ](100)
        self.harness: ServerHarness | None = None
        self.streams: list[trio.abc.Stream] = []
        self._released = trio.Event()

    async def chat(
        self, user_input: trio.abc.ReceiveChannel[UserInput], events: trio.abc.SendChannel[Event]
    ) -> int:
        """The app's trio side: a server in memory, and alice's session on it.

        The server and the errands outlive the session (even when the app
        cancels it) until the test is done with them (:meth:`release`).
        """
        async with trio.open_nursery() as nursery:
            world_scope = await nursery.start(self._world)
            try:
                return await run_chat(
                    self._connect,
                    user_input,
                    events,
                    nick="alice",
                    backoff=Backoff(initial=0.05, jitter=0.0),
                    timeouts=ClientTimeouts(close=2),
                    lag_interval=None,
                )
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(LIMIT):
                    await self._released.wait()
                world_scope.cancel()

    async def _world(self, task_status: trio.TaskStatus[trio.CancelScope]) -> None:
        with trio.CancelScope(shield=True) as scope:
            async with trio.open_nursery() as nursery:
                listener = MemoryListener()
                server = ChatServer(TEST_CONFIG)
                await nursery.start(server.serve, [listener])
                self.harness = ServerHarness(server, listener)
                nursery.start_soon(self._run_errands, nursery)
                task_status.started(scope)
                await trio.sleep_forever()

    def release(self) -> None:
        """The test is over: the trio side may end once the session has."""
        self._released.set()

    async def _connect(self) -> trio.abc.Stream:
        assert self.harness is not None
        stream = await self.harness.listener.connect()
        self.streams.append(stream)
        return stream

    async def _run_errands(self, nursery: trio.Nursery) -> None:
        async for errand, future in self._errand_queue:
            nursery.start_soon(self._run_errand, errand, future)

    @staticmethod
    async def _run_errand(
        errand: Callable[[], Awaitable[object]], future: asyncio.Future[object]
    ) -> None:
        try:
            result = await errand()
        except Exception as error:
            if not future.done():
                future.set_exception(error)
        else:
            if not future.done():
                future.set_result(result)

    async def trio(self, errand: Callable[[], Awaitable[T]]) -> T:
        """Run ``errand`` on the trio side, from the test's (asyncio) side; its result."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._errands.send_nowait((errand, future))  # type: ignore[arg-type]
        return await asyncio.wait_for(future, LIMIT)

    async def client(self, nick: str, channel: str | None = "#lobby") -> IrcClient:
        """Someone else on the server, driven from the test."""
        assert self.harness is not None
        harness = self.harness
        return await self.trio(lambda: harness.client(nick, channel=channel))

    async def cut(self) -> None:
        """The network drops alice's connection."""
        await self.trio(self.streams[-1].aclose)


def run(scenario: Callable[[ChatApp, Pilot[int], World], Awaitable[None]]) -> ChatApp:
    """Run ``scenario`` against the app and a fresh world; the app, after it ended."""
    world = World()
    app = ChatApp(world.chat, server="memory", tls=False)

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await scenario(app, pilot, world)
            world.release()
            await until(pilot, lambda: app.outcome is not None, "the end of the session")

    asyncio.run(main())
    return app


async def until(pilot: Pilot[int], condition: Callable[[], bool], what: str) -> None:
    """Wait (a bounded time) until ``condition()``: the screen offers nothing to await."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LIMIT
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.01)


async def type_line(pilot: Pilot[int], text: str) -> None:
    """Put ``text`` in the input line (as a paste would: Pilot types slowly), press Enter.

    Typing key by key is tested with the completion keys.
    """
    pilot.app.query_one("#input", ChatInput).insert_text_at_cursor(text)
    await pilot.press("enter")


def pane_text(app: ChatApp, key: str) -> str:
    """What the message pane of window ``key`` shows, as text."""
    return "\n".join(strip.text for strip in app.log_of(key).lines)


def list_text(app: ChatApp, list_id: str) -> list[str]:
    options = app.query_one(list_id, OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


def static_text(app: ChatApp, static_id: str) -> str:
    return str(app.query_one(static_id, Static).render())


def status_text(app: ChatApp) -> str:
    return static_text(app, "#status")


async def shows(pilot: Pilot[int], app: ChatApp, key: str, text: str) -> None:
    await until(pilot, lambda: text in pane_text(app, key), f"{text!r} in {key}")


async def joined(pilot: Pilot[int], app: ChatApp) -> None:
    """Wait until alice is in #lobby and sees herself in its member list."""
    await until(pilot, lambda: "#lobby" in app.view.windows, "the join")
    await until(pilot, lambda: "@alice" in list_text(app, "#members"), "the member list")


# -- the tests ------------------------------------------------------------------------


def test_sending_and_receiving() -> None:
    async def scenario(app: ChatApp, pilot: Pilot[int], world: World) -> None:
        await joined(pilot, app)
        assert app.focused is app.query_one("#input", Input)
        bob = await world.client("bob")
        await until(pilot, lambda: " bob" in list_text(app, "#members"), "bob in the members")
        await type_line(pilot, "hello bob")
        said = await world.trio(lambda: bob.expect("PRIVMSG"))
        assert said.params == ("#lobby", "hello bob")
        await shows(pilot, app, "#lobby", "<alice> hello bob")
        # Markup in what people write stays text: no colour, no link, no layout.
        await world.trio(lambda: bob.send("PRIVMSG #lobby :[bold red]alice[/] [link=x]y[/link]"))
        await shows(pilot, app, "#lobby", "<bob> [bold red]alice[/] [link=x]y[/link]")
        status = status_text(app)
        assert "memory" in status
        assert "plain text" in status
        assert "alice" in status
        await type_line(pilot, "/quit")
        assert (await world.trio(lambda: bob.expect("QUIT"))).params == ("Quit: leaving",)

    app = run(scenario)
    assert app.return_code == 0


def test_private_conversations_get_their_own_window() -> None:
    async def scenario(app: ChatApp, pilot: Pilot[int], world: World) -> None:
        await joined(pilot, app)
        bob = await world.client("bob")
        await world.trio(lambda: bob.send("PRIVMSG alice :psst, alice"))
        await until(pilot, lambda: "bob" in app.view.windows, "the private window")
        assert app.view.current == "#lobby"  # a private message does not steal the screen
        assert list_text(app, "#windows")[-1] == "3 bob ! (1)"  # unread, and a mention
        assert " 3 " in status_text(app)  # the activity list
        await pilot.press("alt+a")  # the next window with activity
        assert app.view.current == "bob"
        await shows(pilot, app, "bob", "<bob> psst, alice")
        assert list_text(app, "#windows")[-1] == "3 bob"
        await type_line(pilot, "hi bob, privately")
        said = await world.trio(lambda: bob.expect("PRIVMSG"))
        assert said.params == ("bob", "hi bob, privately")
        await shows(pilot, app, "bob", "<alice> hi bob, privately")
        assert "hi bob, privately" not in pane_text(app, "#lobby")
        # /query from a room opens (or shows) the conversation; /close closes it.
        await pilot.press("ctrl+p")
        assert app.view.current == "#lobby"
        await type_line(pilot, "/query carol")
        await until(pilot, lambda: app.view.current == "carol", "the carol window")
        await type_line(pilot, "/close")
        assert "carol" not in app.view.windows
        assert app.view.current == "bob"
        await pilot.press("ctrl+c")

    app = run(scenario)
    assert app.return_code == 0


def test_member_list_follows_joins_parts_quits_and_nicks() -> None:
    async def scenario(app: ChatApp, pilot: Pilot[int], world: World) -> None:
        await joined(pilot, app)

        def members() -> list[str]:
            return [name.strip() for name in list_text(app, "#members")]

        bob = await world.client("bob")
        carol = await world.client("carol")
        await until(pilot, lambda: members() == ["@alice", "bob", "carol"], "bob and carol")
        await world.trio(lambda: bob.send("NICK robert"))
        await until(pilot, lambda: members() == ["@alice", "carol", "robert"], "robert")
        await shows(pilot, app, "#lobby", "bob is now known as robert")
        await world.trio(lambda: carol.send("PART #lobby :bye"))
        await until(pilot, lambda: members() == ["@alice", "robert"], "carol gone")
        await shows(pilot, app, "#lobby", "carol has left #lobby (bye)")
        await type_line(pilot, "/mode +v robert")  # the member list follows the change
        await until(pilot, lambda: members() == ["@alice", "+robert"], "robert voiced")
        await world.trio(lambda: robert_quits(bob))
        await until(pilot, lambda: members() == ["@alice"], "robert gone")
        await shows(pilot, app, "#lobby", "robert has quit")
        await pilot.press("ctrl+c")

    run(scenario)


async def robert_quits(client: IrcClient) -> None:
    await client.send("QUIT :done")
    await client.wait_closed()


def test_tab_completes_nicks_and_commands_and_up_recalls_lines() -> None:
    async def scenario(app: ChatApp, pilot: Pilot[int], world: World) -> None:
        await joined(pilot, app)
        await world.client("bob")
        await world.client("bea")
        await until(pilot, lambda: len(app.view.window.members) == 3, "bob and bea")
        field = app.query_one("#input", ChatInput)
        await pilot.press("b", "tab")
        assert field.value == "bea: "
        await pilot.press("tab")
        assert field.value == "bob: "
        await pilot.press(*"see #lo", "tab")
        assert field.value == "bob: see #lobby "
        await pilot.press("enter")
        await shows(pilot, app, "#lobby", "<alice> bob: see #lobby")
        await pilot.press(*"/jo", "tab")
        assert field.value == "/join "
        await pilot.press("ctrl+u", "up")
        assert field.value == "bob: see #lobby "
        await pilot.press("down")
        assert field.value == ""
        await pilot.press("ctrl+c")

    run(scenario)


def test_errors_are_shown_where_the_user_is() -> None:
    async def scenario(app: ChatApp, pilot: Pilot[int], world: World) -> None:
        await joined(pilot, app)
        await type_line(pilot, "/msg bob are you there?")
        await shows(pilot, app, "#lobby", "-!- no such nick: bob")
        line = next(s for s in app.log_of("#lobby").lines if "no such nick" in s.text)
        assert any(seg.style and seg.style.color and seg.style.color.name == "red" for seg in line)
        await pilot.click("#windows", offset=(2, 0))  # the status window: no room to talk to
        assert app.view.current == "*"
        await type_line(pilot, "hello?")
        await shows(pilot, app, "*", "you are not in a channel")
        await pilot.press("ctrl+c")

    run(scenario)


def test_connection_loss_is_shown_and_the_client_reconnects() -> None:
    async def scenario(app: ChatApp, pilot: Pilot[int], world: World) -> None:
        await joined(pilot, app)
        await type_line(pilot, "/join #games")
        await until(pilot, lambda: app.view.current == "#games", "#games")
        watcher = await world.client("watcher", "#games")
        await until(pilot, lambda: "watcher" in app.view.window.members, "the watcher")
        await world.cut()
        await shows(pilot, app, "#games", "disconnected:")
        await until(pilot, lambda: "alice" in app.view.window.members, "the rejoin")
        assert " alice" in list_text(app, "#members")
        rejoined = await world.trio(lambda: watcher.expect("JOIN"))
        assert rejoined.source is not None
        assert rejoined.source.startswith("alice!")
        assert app.view.current == "#games"
        assert app.view.windows["#lobby"].joined
        assert "reconnecting" not in status_text(app)
        await type_line(pilot, "I am back")
        said = await world.trio(lambda: watcher.expect("PRIVMSG"))
        assert said.params == ("#games", "I am back")
        await pilot.press("ctrl+c")
        assert (await world.trio(lambda: watcher.expect("QUIT"))).params == ("Quit: leaving",)

    app = run(scenario)
    assert app.return_code == 0
    assert app.failure is None


def test_history_from_the_server_is_shown_as_history() -> None:
    async def scenario(app: ChatApp, pilot: Pilot[int], world: World) -> None:
        await joined(pilot, app)
        bob = await world.client("bob", "#games")
        await world.trio(lambda: bob.send("PRIVMSG #games :said before you came"))
        await world.trio(bob.sync)
        await type_line(pilot, "/join #games")
        await shows(pilot, app, "#games", "── end of history ──")
        texts = [strip.text.rstrip()[6:] for strip in app.log_of("#games").lines]
        start = texts.index("── history ──")
        assert texts[start : start + 3] == [
            "── history ──",
            "<bob> said before you came",
            "── end of history ──",
        ]
        replayed = app.log_of("#games").lines[start + 1]
        assert all(seg.style and seg.style.dim for seg in replayed if seg.text.strip())
        await world.trio(lambda: bob.send("PRIVMSG #games :and now, live"))
        await shows(pilot, app, "#games", "<bob> and now, live")
        live = app.log_of("#games").lines[-1]
        assert not any(seg.style and seg.style.dim for seg in live if "live" in seg.text)
        await pilot.press("ctrl+c")

    run(scenario)


# -- rendering, with events made up by the test ------------------------------------------


def scripted(*events: Event) -> Callable[..., Awaitable[int]]:
    """A trio side that only says ``events``, then waits for the user to leave."""

    async def chat(
        user_input: trio.abc.ReceiveChannel[UserInput], sink: trio.abc.SendChannel[Event]
    ) -> int:
        for event in events:
            await sink.send(event)
        async for typed in user_input:
            if typed.text == "/quit":
                return 0
        return 0

    return chat


def test_history_is_framed_and_dimmed_and_markup_stays_text() -> None:
    now = datetime.now().astimezone()
    events: tuple[Event, ...] = (
        Registered("alice", "srv"),
        Joined("#lobby"),
        Members("#lobby", ("@alice", "[red]mallory")),
        Topic("#lobby", "[blink]topic[/blink]"),
        HistoryStarted("#lobby", now),
        ChatLine("#lobby", "bob", "said before", now, history=True),
        HistoryEnded("#lobby", now),
        ChatLine("#lobby", "[red]mallory", "[reverse]live[/reverse] :smile:", now),
    )
    app = ChatApp(scripted(*events), server="memory", tls=True)

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await shows(pilot, app, "#lobby", "live")
            lines = app.log_of("#lobby").lines
            texts = [strip.text.rstrip() for strip in lines]
            stamp = now.strftime("%H:%M")
            assert texts[-4:] == [
                f"{stamp} ── history ──",
                f"{stamp} <bob> said before",
                f"{stamp} ── end of history ──",
                f"{stamp} <[red]mallory> [reverse]live[/reverse] :smile:",
            ]
            history = lines[-3]
            assert all(seg.style and seg.style.dim for seg in history if seg.text.strip())
            assert not any(seg.style and seg.style.dim for seg in lines[-1] if "live" in seg.text)
            assert not any(seg.style and seg.style.reverse for seg in lines[-1])
            assert "[red]mallory" in " ".join(list_text(app, "#members"))
            assert "[blink]topic[/blink]" in static_text(app, "#title")
            assert "TLS" in status_text(app)
            await type_line(pilot, "/quit")
            await until(pilot, lambda: app.outcome is not None, "the end")

    asyncio.run(main())
    assert app.return_code == 0


def test_nick_colors_are_stable_and_differ() -> None:
    assert nick_color("bob") == nick_color("BOB")
    assert len({nick_color(nick) for nick in ("alice", "bob", "carol", "dave", "erin")}) > 2
    assert Style.parse(nick_color("alice")).color is not None


def test_page_up_scrolls_back() -> None:
    now = datetime.now().astimezone()
    lines = [ChatLine("#lobby", "bob", f"line {n}", now) for n in range(100)]
    app = ChatApp(
        scripted(Registered("alice", "srv"), Joined("#lobby"), *lines), server="m", tls=False
    )

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await shows(pilot, app, "#lobby", "line 99")
            log = app.log_of("#lobby")
            await until(pilot, lambda: log.scroll_y == log.max_scroll_y > 0, "the end")
            bottom = log.scroll_y
            await pilot.press("pageup")
            await until(pilot, lambda: log.scroll_y < bottom, "scrolling up")
            await pilot.press("pagedown")
            await until(pilot, lambda: log.scroll_y == bottom, "scrolling down")
            await type_line(pilot, "/quit")
            await until(pilot, lambda: app.outcome is not None, "the end")

    asyncio.run(main())

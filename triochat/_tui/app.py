"""The full-screen client: a Textual app, with the trio session as a guest in its loop.

Textual runs on asyncio; the chat session runs on trio. The app starts trio in
*guest mode* (:func:`trio.lowlevel.start_guest_run`) on its own asyncio loop,
so both run in one thread and trio stays pure trio: the session
(:func:`~triochat._client_reconnect.run_chat` in real use) sends events on a
trio channel, which a small trio task renders into the widgets, and typed
lines go back with ``send_nowait`` (allowed from the host loop: trio counts
it as inside the run). The app never parses IRC and the session never draws.

Leaving (Ctrl-C, Ctrl-Q) cancels the session's scope, so the session says
``QUIT`` to the server and waits briefly for it; the app exits when trio is
done (never before: trio's guest must finish before its host loop stops).
``/quit`` ends the session from inside, with the same result.

The screen: windows on the left (rooms, private conversations, the status
window; unread counts and mention markers), the current window's messages in
the middle with its title (name, topic) above, its members on the right, then
the status line and the input line. Everything from other people is drawn as
:class:`rich.text.Text` (see :mod:`._tui_render`), never as markup.

Importing this module needs Textual but no terminal.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Final

import outcome
import trio
from textual.app import App
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import ContentSwitcher, Input, OptionList, RichLog, Static
from textual.widgets.option_list import Option

from .._client.events import Event, InfoLine, UserInput
from .._client.reconnect import run_chat
from .._client.view import (
    MAX_LINES,
    STATUS,
    ChatView,
    InputHistory,
    Update,
    WindowKind,
    complete,
)
from .render import (
    render_line,
    render_member,
    render_status,
    render_title,
    render_window_entry,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from textual.app import ComposeResult

    from .._client.sasl import Credentials
    from .._client.view import Completion

    #: The trio side: chat with these channels until the user leaves; the exit code.
    ChatMain = Callable[
        [trio.abc.ReceiveChannel[UserInput], trio.abc.SendChannel[Event]], Awaitable[int]
    ]

__all__ = ["TUI_COMMANDS", "ChatApp", "ChatInput", "run_app"]

logger = logging.getLogger("triochat.tui")

#: Typed lines that may wait for the session (it takes them at once, normally).
INPUT_BUFFER: Final = 64
#: Events that may wait for the screen.
EVENT_BUFFER: Final = 1024
#: Commands of the full-screen client itself (windows are its own business).
TUI_COMMANDS: Final = ("/close",)
#: Said once in the status window when the app starts.
KEYS_HELP: Final = (
    "keys: Ctrl+N / Ctrl+P next / previous window (or click one),"
    " Alt+A next window with activity, Tab completes nicks and commands,"
    " Up / Down typed lines, PageUp / PageDown scroll, Ctrl+C or /quit leaves."
    " /close closes the current window (and leaves its room); /help lists the commands."
)


class ChatInput(Input):
    """The input line: history with Up and Down, completion with Tab."""

    BINDINGS: ClassVar = [
        Binding("up", "history(-1)", "Previous line", show=False),
        Binding("down", "history(1)", "Next line", show=False),
        Binding("tab", "complete", "Complete", show=False),
    ]

    def __init__(
        self, completer: Callable[[str, int], Completion | None], *, id: str | None = None
    ) -> None:
        super().__init__(placeholder="type a message, or /help", id=id)
        self.history = InputHistory()
        self._completer = completer
        self._completion: Completion | None = None

    def action_history(self, step: int) -> None:
        line = self.history.previous(self.value) if step < 0 else self.history.next()
        if line is not None:
            self.value = line
            self.cursor_position = len(line)

    def action_complete(self) -> None:
        shown = self._completion
        if shown is not None and (self.value, self.cursor_position) == (
            shown.value,
            shown.cursor,
        ):
            shown = shown.following()
        else:
            shown = self._completer(self.value, self.cursor_position)
        self._completion = shown
        if shown is not None:
            self.value = shown.value
            self.cursor_position = shown.cursor


class ChatApp(App[int]):
    """The full-screen chat client; ``chat`` runs the trio side."""

    TITLE = "triochat"
    AUTO_FOCUS = "#input"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #main { height: 1fr; }
    #windows { width: 22; height: 1fr; border-right: solid $primary-darken-2; }
    #center { width: 1fr; }
    #title { height: 1; background: $primary-darken-3; padding: 0 1; }
    #logs { height: 1fr; }
    #logs > RichLog { height: 1fr; scrollbar-size-vertical: 1; }
    #members { width: 20; height: 1fr; border-left: solid $primary-darken-2; }
    #status { height: 1; background: $primary-darken-2; }
    #input { height: 1; border: none; padding: 0 1; }
    OptionList { border: none; padding: 0; }
    """
    BINDINGS: ClassVar = [
        Binding("ctrl+c", "leave", "Quit", priority=True),
        Binding("ctrl+q", "leave", "Quit", priority=True),
        Binding("ctrl+n", "cycle(1)", "Next window", priority=True),
        Binding("ctrl+p", "cycle(-1)", "Previous window", priority=True),
        Binding("alt+a", "next_marked", "Next active window", priority=True),
        Binding("pageup", "scroll(-1)", "Scroll up", show=False, priority=True),
        Binding("pagedown", "scroll(1)", "Scroll down", show=False, priority=True),
    ]

    def __init__(
        self, chat: ChatMain, *, server: str, tls: bool, handle_signals: bool = False
    ) -> None:
        super().__init__()
        self.view = ChatView()
        #: How the trio side ended (``None`` while it runs).
        self.outcome: outcome.Outcome[int] | None = None
        #: What made the session fail (the first connection, or a bug), if anything.
        self.failure: Exception | None = None
        self._chat = chat
        self._server = server
        self._tls = tls
        self._handle_signals = handle_signals
        self._inputs: trio.MemorySendChannel[UserInput] | None = None
        self._chat_scope: trio.CancelScope | None = None
        self._trio_done: asyncio.Future[outcome.Outcome[int]] | None = None
        self._log_ids: dict[str, str] = {}
        self._next_id = 0
        self._leaving = False

    # -- layout -------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield OptionList(id="windows")
            with Vertical(id="center"):
                yield Static(id="title")
                yield ContentSwitcher(id="logs")
            yield OptionList(id="members")
        yield Static(id="status")
        yield ChatInput(self._complete, id="input")

    def on_mount(self) -> None:
        for list_id in ("#windows", "#members"):
            self.query_one(list_id, OptionList).can_focus = False
        self._ensure_log(STATUS)
        now = datetime.now().astimezone()
        self._render(self._note_status(f"triochat: {self._server}", now))
        self._render(self._note_status(KEYS_HELP, now))
        self._render(self.view.select(STATUS))
        loop = asyncio.get_running_loop()
        self._trio_done = loop.create_future()
        trio.lowlevel.start_guest_run(
            self._trio_main,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            run_sync_soon_not_threadsafe=loop.call_soon,
            done_callback=self._trio_finished,
            host_uses_signal_set_wakeup_fd=True,
        )

    def _note_status(self, text: str, now: datetime) -> Update:
        return self.view.apply(InfoLine(text, now))

    # -- the trio side ------------------------------------------------------------------

    async def _trio_main(self) -> int:
        inputs, user_input = trio.open_memory_channel[UserInput](INPUT_BUFFER)
        events, event_output = trio.open_memory_channel[Event](EVENT_BUFFER)
        self._inputs = inputs
        code = 0  # cancelled by the user: they left
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._render_events, event_output)
            async with trio.open_nursery() as watchers:
                if self._handle_signals:
                    watchers.start_soon(self._leave_on_signal)
                with trio.CancelScope() as self._chat_scope:
                    if self._leaving:
                        self._chat_scope.cancel()
                    async with events:
                        try:
                            code = await self._chat(user_input, events)
                        except Exception as error:  # said once the terminal is restored
                            self.failure = error
                            code = 1
                watchers.cancel_scope.cancel()
        return code

    async def _render_events(self, events: trio.MemoryReceiveChannel[Event]) -> None:
        """Draw every event; all those already waiting are drawn in one go."""
        async with events:
            async for event in events:
                update = self.view.apply(event)
                while True:
                    try:
                        update.merge(self.view.apply(events.receive_nowait()))
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                self._render(update)

    async def _leave_on_signal(self) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                logger.info("%s: leaving", signal.Signals(signum).name)
                self._cancel_chat()
                return

    def _cancel_chat(self) -> None:
        self._leaving = True
        if self._chat_scope is not None:
            self._chat_scope.cancel()

    def _trio_finished(self, result: outcome.Outcome[int]) -> None:
        self.outcome = result
        assert self._trio_done is not None
        self._trio_done.set_result(result)
        code = result.value if isinstance(result, outcome.Value) else 1
        self.exit(return_code=code)

    def action_leave(self) -> None:
        """Leave: the session says QUIT; the app exits when trio has finished (never before)."""
        self._cancel_chat()
        if self._trio_done is None:  # trio never started
            self.exit(return_code=0)

    async def on_unmount(self) -> None:
        """Never let the host loop end before its trio guest (a safety net)."""
        if self._trio_done is not None and not self._trio_done.done():
            self._cancel_chat()
            await self._trio_done

    # -- typing -------------------------------------------------------------------

    def on_input_submitted(self, message: Input.Submitted) -> None:
        text = message.value
        message.input.value = ""
        if not isinstance(message.input, ChatInput) or not text.strip():
            return
        message.input.history.add(text)
        if text.strip().lower() == "/close":
            self._close_window()
        else:
            self._send(self.view.typed(text))

    def _send(self, typed: UserInput) -> None:
        now = datetime.now().astimezone()
        if self._inputs is None:
            self._render(self.view.apply(InfoLine("not ready yet: try again", now, error=True)))
            return
        try:
            self._inputs.send_nowait(typed)
        except trio.WouldBlock:
            busy = InfoLine("busy: that line was not sent, try again", now, error=True)
            self._render(self.view.apply(busy))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            logger.debug("typed after the end of the session: %r", typed.text)

    def _close_window(self) -> None:
        window = self.view.window
        if window.key == STATUS:
            now = datetime.now().astimezone()
            refusal = InfoLine("the status window stays open", now, error=True)
            self._render(self.view.apply(refusal))
            return
        if window.kind is WindowKind.CHANNEL and window.joined:
            self._send(self.view.typed(f"/part {window.name}"))
        self._render(self.view.close(window.key))

    def _complete(self, value: str, cursor: int) -> Completion | None:
        return complete(
            value,
            cursor,
            nicks=self.view.completion_nicks(),
            channels=self.view.channel_names(),
            commands=TUI_COMMANDS,
        )

    # -- windows ------------------------------------------------------------------------

    def action_cycle(self, step: int) -> None:
        self._render(self.view.cycle(step))

    def action_next_marked(self) -> None:
        self._render(self.view.next_marked())

    def action_scroll(self, step: int) -> None:
        log = self.query_one("#logs", ContentSwitcher).visible_content
        if isinstance(log, RichLog):
            if step < 0:
                log.scroll_page_up()
            else:
                log.scroll_page_down()

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        option_id = message.option.id
        if option_id is None:
            return
        if message.option_list.id == "windows":
            self._render(self.view.select(option_id))
        elif message.option_list.id == "members":
            self._send(self.view.typed(f"/query {option_id}"))

    # -- drawing ---------------------------------------------------------------------

    def log_of(self, key: str) -> RichLog:
        """The message pane of the window ``key``."""
        return self._ensure_log(key)

    def _ensure_log(self, key: str) -> RichLog:
        log_id = self._log_ids.get(key)
        if log_id is None:
            self._next_id += 1
            log_id = self._log_ids[key] = f"window-{self._next_id}"
            log = RichLog(
                id=log_id,
                max_lines=MAX_LINES,
                wrap=True,
                markup=False,
                highlight=False,
                min_width=20,
            )
            log.can_focus = False
            log.display = False  # until the switcher shows it
            self.query_one("#logs", ContentSwitcher).mount(log)
            return log
        return self.query_one(f"#{log_id}", RichLog)

    def _render(self, update: Update) -> None:
        for old, new in update.renamed:
            if old in self._log_ids:
                self._log_ids[new] = self._log_ids.pop(old)
        for key in update.removed:
            log_id = self._log_ids.pop(key, None)
            if log_id is not None:
                self.query_one(f"#{log_id}", RichLog).remove()
        today = datetime.now().astimezone().date()
        for key, line in update.lines:
            if key in self.view.windows:
                self._ensure_log(key).write(render_line(line, today=today))
        current = self.view.current
        self._ensure_log(current)
        switcher = self.query_one("#logs", ContentSwitcher)
        if switcher.current != self._log_ids[current]:
            switcher.current = self._log_ids[current]
        if update.windows or update.focus:
            self._draw_windows()
        if update.members or update.focus:
            self._draw_members()
        self._draw_status()

    def _draw_windows(self) -> None:
        windows = self.query_one("#windows", OptionList)
        options = [
            Option(render_window_entry(w, number=n, current=k == self.view.current), id=k)
            for n, (k, w) in enumerate(self.view.windows.items(), start=1)
        ]
        windows.clear_options()
        windows.add_options(options)
        windows.highlighted = list(self.view.windows).index(self.view.current)

    def _draw_members(self) -> None:
        members = self.query_one("#members", OptionList)
        window = self.view.window
        members.clear_options()
        members.add_options(
            [Option(render_member(member), id=member.nick) for member in window.sorted_members()]
        )
        members.display = window.kind is WindowKind.CHANNEL

    def _draw_status(self) -> None:
        self.query_one("#title", Static).update(render_title(self.view.window))
        status = render_status(self.view, server=self._server, tls=self._tls)
        self.query_one("#status", Static).update(status)


def run_app(
    connect: Callable[[], Awaitable[trio.abc.Stream]],
    *,
    server: str,
    tls: bool,
    nick: str | None,
    channel: str | None,
    login: Credentials | None = None,
) -> int:
    """Run the full-screen client in this terminal until the user leaves; the exit code.

    Raises:
        What the first connection attempt raised (:exc:`OSError`,
        :exc:`~triochat._client.ConnectError`), once the terminal is restored:
        later failures are retried, the first one is reported.
    """

    async def chat(
        user_input: trio.abc.ReceiveChannel[UserInput], events: trio.abc.SendChannel[Event]
    ) -> int:
        return await run_chat(
            connect,
            user_input,
            events,
            nick=nick,
            channel=channel,
            first_failure_is_fatal=True,
            login=login,
        )

    # Textual trusts these over the terminal itself; exported, they are often stale.
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)
    app = ChatApp(chat, server=server, tls=tls, handle_signals=True)
    code = app.run()
    if app.failure is not None:
        raise app.failure
    if app.outcome is not None:
        app.outcome.unwrap()  # a bug on the trio side: its traceback, on a usable terminal
    return 0 if code is None else code

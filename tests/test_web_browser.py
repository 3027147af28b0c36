"""The web client in a real headless chromium, against a real ``triochat serve`` process.

Two browser users (tabs of one shared chromium) and one irssi user in tmux chat
in a room; private messages; history for a late joiner; reconnecting after a
restart; hostile text shown as text. A failing test saves screenshots and names
them in its failure.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import pytest
import trio
from browser import Browser, Tab, screenshot_on_failure, start_chromium
from harness import IrcClient, config
from processes import ServerProcess, Tmux, require, serve
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from triochat._irc.wire import LineReader, parse
from triochat._web.handshake import WebPolicy
from triochat._web.listeners import web_url
from triochat._web.server import WebServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator
    from pathlib import Path

    from selenium.webdriver.remote.webdriver import WebDriver

pytestmark = pytest.mark.e2e

WEB_URL = r"triochat: web client at (http://\S+)"


@pytest.fixture(scope="session")
def chromium() -> Iterator[WebDriver]:
    driver = start_chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(chromium: WebDriver) -> Iterator[Browser]:
    browser = Browser(chromium)
    try:
        yield browser
    finally:
        browser.reset()


@asynccontextmanager
async def web_server(*args: str) -> AsyncIterator[tuple[ServerProcess, str]]:
    """``triochat serve`` with a web port (0 unless given); the server and its web URL."""
    if "--web-port" not in args:
        args = (*args, "--web-port", "0")
    async with serve(*args) as server:
        with trio.fail_after(10):
            match = await server.output.wait_for(WEB_URL)
        yield server, match[1]


async def tcp_client(port: int, nick: str, channel: str = "#lobby") -> IrcClient:
    client = IrcClient(await trio.open_tcp_stream("127.0.0.1", port))
    await client.register(nick)
    await client.join(channel)
    return client


async def user(browser: Browser, url: str, nick: str) -> Tab:
    tab = await browser.tab(nick, url)
    await tab.login(nick)
    await tab.wait_line(f"{nick} joined")
    return tab


@screenshot_on_failure
async def test_two_browser_users_and_irssi_chat_in_a_room(browser: Browser, tmp_path: Path) -> None:
    irssi = require("irssi")
    tmux = Tmux(require("tmux"), f"triochat-web-{os.getpid()}-{secrets.token_hex(4)}")
    home = tmp_path / "irssi"
    home.mkdir()
    (home / "config").write_text('settings = { "irc/core" = { cmd_queue_speed = "0"; }; };\n')
    async with web_server() as (server, url):
        try:
            with trio.fail_after(60):
                alice = await user(browser, url, "alice")
                bob = await user(browser, url, "bob")
                await alice.wait_line("bob joined")
                await tmux.start([irssi, f"--home={home}", "-n", "carol", "-c", "127.0.0.1",
                                  "-p", str(server.port)])  # fmt: skip
                await tmux.wait_for("Welcome to the triochat IRC Network")
                await tmux.type("/join #lobby")
                await alice.wait_line("carol joined")
                await alice.type("hello from alice's browser")
                await bob.wait_line("hello from alice's browser")
                await tmux.wait_for("hello from alice's browser")
                await tmux.type("hello from irssi")
                await alice.wait_line("hello from irssi")
                await bob.wait_line("hello from irssi")
                await bob.type("/me waves at carol")
                await tmux.wait_for("bob waves at carol")
                await alice.wait_line("waves at carol")
                await alice.wait_text("#members .member", "carol")
                await alice.wait_text("#members .member", "bob")
                # "carol" named in bob's line: a mention for carol, not for alice.
                logs = await alice.run(lambda d: d.get_log("browser"))  # type: ignore[attr-defined]
                assert not [e for e in logs if "Content Security Policy" in e["message"]], logs
        finally:
            await tmux.close()
        assert await server.stop() == 0


@screenshot_on_failure
async def test_a_private_message_between_browser_users(browser: Browser) -> None:
    async with web_server() as (server, url):
        with trio.fail_after(40):
            watcher = await tcp_client(server.port, "watcher")
            alice = await user(browser, url, "alice")
            bob = await user(browser, url, "bob")
            await alice.type("/msg bob psst, just for you")
            await bob.wait_text('button[data-window="alice"] .unread', "1")
            await bob.select("alice")
            await bob.wait_line("psst, just for you")
            await bob.type("a private reply")
            await alice.select("bob")
            await alice.wait_line("a private reply")
            await alice.select("#lobby")
            await alice.type("in public")
            await watcher.expect("PRIVMSG", "#lobby")  # the first thing it hears is public
            await watcher.stream.aclose()
        assert await server.stop() == 0


@screenshot_on_failure
async def test_history_for_a_late_joiner_and_older_on_scrolling_up(browser: Browser) -> None:
    async with web_server("--no-flood-control") as (server, url):
        with trio.fail_after(40):
            early = await tcp_client(server.port, "early")
            await early.send(*(f"PRIVMSG #lobby :message {n}" for n in range(70)))
            await early.sync()
            late = await user(browser, url, "late")
            await late.wait_line("message 69")
            lines = await late.lines()
            assert "message 20" in lines
            assert "message 19" not in lines  # 50 at first
            history = await late.script(
                "return document.querySelectorAll('#messages .line.history').length"
            )
            assert history == 50
            await late.wait_text("#messages .divider", "history")
            await late.script("document.getElementById('messages').scrollTop = 0")
            await late.wait_line("message 0")
            await early.stream.aclose()
        assert await server.stop() == 0


@screenshot_on_failure
async def test_reconnects_and_rejoins_after_the_server_restarts(browser: Browser) -> None:
    async with web_server() as (server, url):
        web_port = re.search(r":(\d+)/$", url)
        assert web_port is not None
        with trio.fail_after(30):
            alice = await user(browser, url, "alice")
            await alice.type("/join #second")
            await alice.wait_line("alice joined")
            await alice.wait_text("#title", "#second")
            assert await server.stop() == 0
            await alice.wait_text("#status", "Disconnected")
    args = ("--port", str(server.port), "--web-port", web_port[1])
    async with web_server(*args) as (again, _url):
        with trio.fail_after(30):
            await alice.wait_text("#status", "Connected as alice")
            bob = await tcp_client(again.port, "bob", "#second")
            await alice.wait_line("bob joined")
            await alice.type("back again")
            assert (await bob.expect("PRIVMSG")).params == ("#second", "back again")
            await bob.stream.aclose()
        assert await again.stop() == 0


@screenshot_on_failure
async def test_hostile_text_is_shown_as_text(browser: Browser) -> None:
    payloads = [
        "<img src=x onerror=\"window.pwned='img'\">",
        "<a href=\"javascript:window.pwned='a'\">click</a>",
        "javascript:window.pwned='bare'",
        "see https://example.org/ok?a=1 and <script>window.pwned='script'</script>",
    ]
    async with web_server() as (server, url):
        with trio.fail_after(30):
            mallory = await tcp_client(server.port, "mallory")
            alice = await user(browser, url, "alice")
            await alice.wait_line("alice joined")
            await mallory.send(f"TOPIC #lobby :{payloads[0]}")
            await mallory.send(*(f"PRIVMSG #lobby :{p}" for p in payloads))
            await alice.wait_line("window.pwned='script'")
            lines = await alice.lines()
            for payload in payloads:
                assert payload in lines
            await alice.wait_text("#topic", payloads[0])
            found = await alice.run(
                lambda d: {
                    "pwned": d.execute_script("return window.pwned === undefined ? null : 1"),
                    "tags": [
                        e.tag_name
                        for e in d.find_elements(By.CSS_SELECTOR, "#messages *, #topic *")
                        if e.tag_name in ("img", "script", "iframe")
                    ],
                    "links": [
                        (a.get_attribute("href"), a.get_attribute("rel"), a.get_attribute("target"))
                        for a in d.find_elements(By.CSS_SELECTOR, "#messages a, #topic a")
                    ],
                }
            )
            assert found["pwned"] is None
            assert found["tags"] == []
            assert found["links"] == [
                ("https://example.org/ok?a=1", "noopener noreferrer", "_blank")
            ]
            await mallory.stream.aclose()
        assert await server.stop() == 0


@screenshot_on_failure
async def test_a_taken_nickname_is_explained_on_the_connect_screen(browser: Browser) -> None:
    async with web_server() as (server, url):
        with trio.fail_after(30):
            holder = await tcp_client(server.port, "alice")
            tab = await browser.tab("second-alice", url)
            await tab.wait(lambda d: d.find_element(By.ID, "nick-input").is_displayed(), "form")
            await tab.run(lambda d: d.find_element(By.ID, "nick-input").send_keys("alice\n"))
            await tab.wait_text("#connect-error", "taken")
            await tab.run(lambda d: d.find_element(By.ID, "nick-input").clear())
            await tab.run(lambda d: d.find_element(By.ID, "nick-input").send_keys("9lives\n"))
            await tab.wait_text("#connect-error", "cannot start with a digit")
            await holder.stream.aclose()
        assert await server.stop() == 0


@screenshot_on_failure
async def test_commands_and_tab_completion(browser: Browser) -> None:
    async with web_server() as (server, url):
        with trio.fail_after(40):
            bob = await tcp_client(server.port, "bobby")
            alice = await user(browser, url, "alice")
            await alice.run(lambda d: d.find_element(By.ID, "input").send_keys("bo\t"))
            value = await alice.script("return document.getElementById('input').value")
            assert value == "bobby: "
            await alice.run(lambda d: d.find_element(By.ID, "input").send_keys("hi\n"))
            assert (await bob.expect("PRIVMSG")).params == ("#lobby", "bobby: hi")
            await alice.type("/topic not allowed: bobby created #lobby")
            await alice.wait_line("not channel operator")
            await alice.type("/join #other")  # alice creates it: she may set its topic
            await alice.wait_text("#title", "#other")
            await alice.type("/topic a <b>bold</b> topic")
            await alice.wait_text("#topic", "a <b>bold</b> topic")
            await alice.type("/time")
            await alice.wait_line("Server time:")
            await alice.type("/who")
            await alice.wait_line("End of /who #other")
            await alice.type("/help")
            await alice.wait_line("/query NICK")
            await alice.type("/nick alicia")
            await alice.wait_line("You are now known as alicia")
            await alice.wait_text("#me", "alicia")
            await alice.type("/part")
            await alice.wait(
                lambda d: not d.find_elements(By.CSS_SELECTOR, 'button[data-window="#other"]'),
                "#other to close",
            )
            await alice.type("/frobnicate")
            await alice.wait_line("Unknown command /frobnicate")
            await bob.stream.aclose()
        assert await server.stop() == 0


@screenshot_on_failure
async def test_phone_width_has_drawers(browser: Browser) -> None:
    async with web_server() as (_server, url):
        with trio.fail_after(30):
            alice = await user(browser, url, "alice")
            await alice.run(lambda d: d.set_window_size(400, 760))
            await alice.type("/join #second")
            await alice.wait_text("#title", "#second")

            def sidebar_left(d: WebDriver) -> float:
                rect = d.find_element(By.CSS_SELECTOR, ".sidebar").rect
                return float(rect["x"] + rect["width"])

            await alice.wait(lambda d: sidebar_left(d) <= 0, "the drawer to be closed")
            await alice.run(lambda d: d.find_element(By.ID, "toggle-windows").click())
            await alice.wait(lambda d: sidebar_left(d) > 100, "the drawer to open")
            await alice.select("#lobby")
            await alice.wait(lambda d: sidebar_left(d) <= 0, "the drawer to close")


class FakeAccountsServer:
    """Just enough IRC, behind the real web listener, to test the client's SASL PLAIN.

    (This branch's server has no accounts yet; the accounts branch adds them.)
    The password of every account is ``secret``.
    """

    def __init__(self) -> None:
        self.config = config()
        #: Every SASL PLAIN message received, decoded.
        self.logins: list[str] = []

    async def handle_connection(self, stream: trio.abc.Stream, peer: object = None) -> None:
        reader = LineReader()
        nick = "*"

        async def send(*lines: str) -> None:
            await stream.send_all(b"".join(line.encode() + b"\r\n" for line in lines))

        try:
            while data := await stream.receive_some(65536):
                reader.feed(data)
                for raw in reader.lines():
                    assert isinstance(raw, bytes)
                    message = parse(raw)
                    command, params = message.command, message.params
                    if command == "CAP" and params[0] == "LS":
                        await send(":fake CAP * LS :sasl=PLAIN server-time")
                    elif command == "CAP" and params[0] == "REQ":
                        await send(f":fake CAP * ACK :{params[1]}")
                    elif command == "NICK":
                        nick = params[0]
                    elif command == "AUTHENTICATE" and params[0] == "PLAIN":
                        await send("AUTHENTICATE +")
                    elif command == "AUTHENTICATE":
                        login = base64.b64decode(params[0]).decode()
                        self.logins.append(login)
                        if login.endswith("\0secret"):
                            logged_in = f":fake 900 {nick} {nick}!u@h {nick} :You are logged in"
                            await send(logged_in, f":fake 903 {nick} :SASL successful")
                        else:
                            await send(f":fake 904 {nick} :SASL authentication failed")
                    elif command == "CAP" and params[0] == "END":
                        await send(f":fake 001 {nick} :Welcome", f":fake 376 {nick} :End of MOTD")
                    elif command == "JOIN":
                        await send(f":{nick}!u@h JOIN {params[0]}",
                                   f":fake 366 {nick} {params[0]} :End of NAMES")  # fmt: skip
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await trio.aclose_forcefully(stream)


@screenshot_on_failure
async def test_a_password_logs_in_with_sasl_plain(browser: Browser, nursery: trio.Nursery) -> None:
    fake = FakeAccountsServer()
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    await nursery.start(WebServer(fake, WebPolicy()).serve, listeners)  # type: ignore[arg-type]
    url = web_url(listeners[0])

    def log_in(password: str) -> Callable[[WebDriver], None]:
        def fill(driver: WebDriver) -> None:
            driver.find_element(By.ID, "nick-input").clear()
            driver.find_element(By.ID, "nick-input").send_keys("alice")
            driver.find_element(By.ID, "password-input").clear()
            driver.find_element(By.ID, "password-input").send_keys(password, Keys.ENTER)

        return fill

    with trio.fail_after(30):
        tab = await browser.tab("alice", url)
        await tab.wait(lambda d: d.find_element(By.ID, "nick-input").is_displayed(), "form")
        await tab.run(log_in("wrong"))
        await tab.wait_text("#connect-error", "Wrong password")
        await tab.run(log_in("secret"))
        await tab.wait(lambda d: d.find_element(By.ID, "input").is_displayed(), "the chat")
        await tab.wait_text("#title", "#lobby")
        await tab.run(
            lambda d: d.find_element(By.CSS_SELECTOR, 'button[data-window="*server*"]').click()
        )
        await tab.wait_line("Logged in as alice")
        stored = await tab.script("return JSON.stringify(localStorage)")
        assert "secret" not in stored
    assert fake.logins == ["alice\0alice\0wrong", "alice\0alice\0secret"]

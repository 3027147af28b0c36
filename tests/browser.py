"""Driving Debian's chromium with selenium, from trio tests: tabs as users, waits with deadlines.

One chromium serves every browser test (starting one costs about half a
second); each user is a tab. Selenium is synchronous, so every call runs in a
worker thread, one at a time, and each wait is bounded by WebDriverWait.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import pytest
import trio
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",  # we run as root in CI containers
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
WINDOW_SIZE = (1200, 760)
#: Longest wait for anything to show in the page.
WAIT = 15.0

T = TypeVar("T")
P = ParamSpec("P")


def start_chromium() -> WebDriver:
    """A headless chromium, or skip when the Debian packages are not installed."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if shutil.which(path) is None:
            pytest.skip(f"{path} is not installed (on Debian: apt-get install {package})")
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager go online
    os.environ.setdefault("SE_AVOID_STATS", "true")
    options = Options()
    options.binary_location = CHROMIUM
    for argument in ARGUMENTS:
        options.add_argument(argument)
    options.add_argument("--window-size={},{}".format(*WINDOW_SIZE))
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


class Browser:
    """The shared chromium, as seen by one test: tabs it opened, closed at the end."""

    def __init__(self, driver: WebDriver) -> None:
        self.driver = driver
        self.tabs: list[Tab] = []
        self._lock = trio.Lock()
        self._first = driver.current_window_handle

    async def run(self, handle: str, fn: Callable[[WebDriver], T]) -> T:
        """``fn(driver)`` in a worker thread, with tab ``handle`` selected."""

        def call() -> T:
            if self.driver.current_window_handle != handle:
                self.driver.switch_to.window(handle)
            return fn(self.driver)

        async with self._lock:
            return await trio.to_thread.run_sync(call)

    async def tab(self, name: str, url: str) -> Tab:
        """A new tab (the first reuses the blank one) showing ``url``."""

        def open_tab(driver: WebDriver) -> str:
            if self.tabs:
                driver.switch_to.new_window("tab")
            driver.get(url)
            return driver.current_window_handle

        handle = await self.run(self._first, open_tab)
        tab = Tab(self, name, handle)
        self.tabs.append(tab)
        return tab

    def screenshots(self, label: str) -> list[Path]:
        """Save every tab's screenshot; the paths (for a failure message)."""
        folder = Path(tempfile.gettempdir()) / "triochat-browser"
        folder.mkdir(exist_ok=True)
        paths = []
        for tab in self.tabs:
            path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', label)}-{tab.name}.png"
            try:
                self.driver.switch_to.window(tab.handle)
                self.driver.save_screenshot(str(path))
                paths.append(path)
            except WebDriverException:
                pass
        return paths

    def reset(self) -> None:
        """Close the test's tabs, leaving one blank tab for the next test."""
        for tab in self.tabs:
            if tab.handle != self._first:
                try:
                    self.driver.switch_to.window(tab.handle)
                    self.driver.close()
                except WebDriverException:
                    pass
        self.driver.switch_to.window(self._first)
        self.driver.get("about:blank")
        self.driver.set_window_size(*WINDOW_SIZE)
        self.tabs.clear()


class Tab:
    """One user of the web client, in one tab."""

    def __init__(self, browser: Browser, name: str, handle: str) -> None:
        self.browser = browser
        self.name = name
        self.handle = handle

    async def run(self, fn: Callable[[WebDriver], T]) -> T:
        return await self.browser.run(self.handle, fn)

    async def wait(self, condition: Callable[[WebDriver], T], what: str) -> T:
        """Wait (at most :data:`WAIT`) until ``condition`` is truthy; fail saying ``what``."""

        def waiting(driver: WebDriver) -> T:
            try:
                return WebDriverWait(driver, WAIT, poll_frequency=0.05).until(condition)
            except TimeoutException:
                raise AssertionError(f"{self.name}: timed out waiting for {what}") from None

        return await self.run(waiting)

    async def script(self, source: str, *args: object) -> Any:
        return await self.run(lambda d: d.execute_script(source, *args))

    async def login(self, nick: str) -> None:
        """Type a nickname on the connect screen, and wait until the chat shows."""

        def submit(driver: WebDriver) -> None:
            field = driver.find_element(By.ID, "nick-input")
            field.clear()
            field.send_keys(nick, Keys.ENTER)

        await self.wait(lambda d: d.find_element(By.ID, "nick-input").is_displayed(), "the form")
        await self.run(submit)
        await self.wait(lambda d: d.find_element(By.ID, "input").is_displayed(), "the chat")

    async def type(self, text: str) -> None:
        """Type a line into the input and press Enter."""
        await self.run(lambda d: d.find_element(By.ID, "input").send_keys(text, Keys.ENTER))

    async def lines(self) -> list[str]:
        """The texts of the lines in the current window."""
        texts: list[str] = await self.run(lambda d: _texts(d, "#messages .line .text"))
        return texts

    async def wait_line(self, text: str) -> None:
        """Wait until a line of the current window contains ``text``."""
        await self.wait(
            lambda d: any(text in line for line in _texts(d, "#messages .line .text")),
            f"a line with {text!r}",
        )

    async def wait_text(self, selector: str, text: str) -> None:
        await self.wait(
            lambda d: any(text in t for t in _texts(d, selector)), f"{text!r} in {selector}"
        )

    async def select(self, window: str) -> None:
        """Click the window called ``window`` in the list on the left."""
        await self.wait(
            lambda d: d.find_elements(By.CSS_SELECTOR, f'button[data-window="{window}"]'),
            f"window {window}",
        )
        await self.run(
            lambda d: d.find_element(By.CSS_SELECTOR, f'button[data-window="{window}"]').click()
        )
        await self.wait_text("#title", window)


def _texts(driver: WebDriver, selector: str) -> list[str]:
    return driver.execute_script(  # type: ignore[no-any-return]
        "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)", selector
    )


def screenshot_on_failure(
    test: Callable[P, Awaitable[None]],
) -> Callable[P, Awaitable[None]]:
    """Save screenshots of the test's tabs when it fails, and name them in the failure."""

    @functools.wraps(test)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            await test(*args, **kwargs)
        except BaseException as error:
            browser = kwargs.get("browser")
            if isinstance(browser, Browser) and not isinstance(error, trio.Cancelled):
                paths = browser.screenshots(test.__name__)
                error.add_note("screenshots: " + ", ".join(str(p) for p in paths))
            raise

    return wrapper

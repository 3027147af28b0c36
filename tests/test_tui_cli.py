"""``triochat connect`` picks the full-screen client only on a terminal, and never with --plain."""

from __future__ import annotations

import subprocess
import sys

import pytest

from triochat._cli import connect as _cli_connect
from triochat._cli.main import build_parser


class FakeStream:
    def __init__(self, tty: bool) -> None:
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(
    ("argv", "stdin_tty", "stdout_tty", "term", "expected"),
    [
        ([], True, True, "xterm-256color", True),
        (["--plain"], True, True, "xterm-256color", False),
        ([], False, True, "xterm-256color", False),  # piped input: line mode
        ([], True, False, "xterm-256color", False),  # output to a file: line mode
        ([], True, True, "dumb", False),
        ([], True, True, None, False),
    ],
)
def test_full_screen_only_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    stdin_tty: bool,
    stdout_tty: bool,
    term: str | None,
    expected: bool,
) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStream(stdin_tty))
    monkeypatch.setattr(sys, "stdout", FakeStream(stdout_tty))
    if term is None:
        monkeypatch.delenv("TERM", raising=False)
    else:
        monkeypatch.setenv("TERM", term)
    args = build_parser().parse_args(["connect", *argv])
    assert _cli_connect.full_screen_wanted(args) is expected


def test_line_mode_does_not_load_textual() -> None:
    code = (
        "import sys, triochat._cli.main, triochat._cli.connect;"
        " print(any(name.split('.')[0] == 'textual' for name in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


def test_the_full_screen_client_imports_without_a_terminal() -> None:
    code = "import triochat._tui.app; print('ok')"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert result.stdout.strip() == "ok"

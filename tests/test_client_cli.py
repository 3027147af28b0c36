"""``triochat connect``: its options, and a server that cannot be reached."""

from __future__ import annotations

import socket

import pytest

from triochat._cli import connect as _cli_connect
from triochat._cli.main import build_parser


def test_connect_defaults() -> None:
    args = build_parser().parse_args(["connect"])
    assert (args.host, args.nick, args.channel) == ("127.0.0.1", None, "#lobby")
    assert _cli_connect.port_from_args(args) == 6667
    assert args.run is _cli_connect.run


@pytest.mark.parametrize(
    ("argv", "port"), [(["--tls"], 6697), (["--tls", "--port", "7000"], 7000), (["--port", "1"], 1)]
)
def test_connect_port_follows_the_irc_convention(argv: list[str], port: int) -> None:
    args = build_parser().parse_args(["connect", *argv])
    assert _cli_connect.port_from_args(args) == port


def test_connect_options() -> None:
    args = build_parser().parse_args(
        ["connect", "chat.example", "--port", "7000", "--nick", "bob", "--channel", "#games"]
    )
    assert (args.host, args.port, args.nick, args.channel) == (
        "chat.example",
        7000,
        "bob",
        "#games",
    )


def test_connect_rejects_a_port_that_is_not_a_number(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["connect", "--port", "http"])
    assert "invalid int value" in capsys.readouterr().err


def _closed_port() -> int:
    """A loopback port that nothing listens on (the kernel's pick, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_refused_connection_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    port = _closed_port()
    args = build_parser().parse_args(["connect", "127.0.0.1", "--port", str(port)])
    assert _cli_connect.run(args) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"triochat: cannot connect to 127.0.0.1:{port}: Connection refused\n"

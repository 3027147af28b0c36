"""The ``triochat`` command line: parsing, validation and exit codes, without a network."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from triochat._cli.main import build_parser, main
from triochat._ops.launch import load
from triochat._ops.launch import load as load_launch

if TYPE_CHECKING:
    from pathlib import Path


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("serve", "connect", "certs"):
        assert command in out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "required" in capsys.readouterr().err


def test_serve_defaults_bind_loopback_on_6667() -> None:
    launch = load_launch(build_parser().parse_args(["serve"]))
    assert (launch.host, launch.port, launch.tls_port) == ("127.0.0.1", 6667, None)


def test_password_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIOCHAT_PASSWORD", "sesame")
    config = load(build_parser().parse_args(["serve"])).server
    assert config.password == "sesame"
    config = load(build_parser().parse_args(["serve", "--password", "other"])).server
    assert config.password == "other"


def test_motd_file_is_read(tmp_path: Path) -> None:
    motd = tmp_path / "motd.txt"
    motd.write_text("first line\nsecond line\n", encoding="utf-8")
    config = load(build_parser().parse_args(["serve", "--motd-file", str(motd)])).server
    assert config.motd == ("first line", "second line")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--server-name", "two words"], "--server-name must be one word"),
        (["--server-name", ""], "--server-name must be one word"),
        (["--network-name", "a:b"], "--network-name must be one word"),
        (["--password", "has space"], "password cannot contain spaces"),
        (["--ping-interval", "0"], "--ping-interval must be positive"),
        (["--registration-timeout", "-1"], "--registration-timeout must be positive"),
        (["--motd-file", "/nonexistent/motd"], "cannot read the MOTD file"),
    ],
)
def test_invalid_serve_options_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err

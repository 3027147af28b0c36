"""``triochat hash-password`` and ``triochat serve --oper NAME:HASH`` (issue 12)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest

from triochat._cli.main import build_parser, main
from triochat._opers.passwords import is_password_hash, verify_password
from triochat._ops.configfile import ConfigError
from triochat._ops.launch import load

if TYPE_CHECKING:
    from pathlib import Path


def test_hash_password_reads_stdin_and_prints_only_the_hash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("open sesame\n"))
    assert main(["hash-password", "--cost", "10"]) == 0
    out = capsys.readouterr().out.strip()
    assert is_password_hash(out)
    assert verify_password("open sesame", out)
    assert "open sesame" not in out


def test_hash_password_refuses_an_empty_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert main(["hash-password"]) == 2
    assert "no password" in capsys.readouterr().err


def test_serve_takes_opers_as_name_and_hash() -> None:
    hashed = "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5"
    args = build_parser().parse_args(
        ["serve", "--oper", f"admin:{hashed}", "--oper", f"b:{hashed}"]
    )
    assert load(args).server.opers == (("admin", hashed), ("b", hashed))


@pytest.mark.parametrize("value", ["admin:hunter2", "admin", ":$scrypt$", "a b:x"])
def test_serve_refuses_plain_passwords_and_bad_opers(value: str) -> None:
    args = build_parser().parse_args(["serve", "--oper", value])
    with pytest.raises(ConfigError, match="--oper"):
        load(args)


def test_operators_in_the_config_file_reach_the_server(tmp_path: Path) -> None:
    hashed = "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5"
    config = tmp_path / "triochat.toml"
    config.write_text(f'[[operators]]\nname = "admin"\nhash = "{hashed}"\n')
    args = build_parser().parse_args(["serve", "--config", str(config)])
    assert load(args).server.opers == (("admin", hashed),)
    # Operators given as flags replace the file's.
    args = build_parser().parse_args(["serve", "--config", str(config), "--oper", f"b:{hashed}"])
    assert load(args).server.opers == (("b", hashed),)


def test_a_plain_password_in_the_config_file_is_refused_at_its_line(tmp_path: Path) -> None:
    config = tmp_path / "triochat.toml"
    config.write_text('[[operators]]\nname = "admin"\nhash = "hunter2"\n')
    args = build_parser().parse_args(["serve", "--config", str(config)])
    with pytest.raises(ConfigError, match=r"triochat.toml:3: operators\[0\].hash"):
        load(args)

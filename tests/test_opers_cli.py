"""``triochat hash-password`` and ``triochat serve --oper NAME:HASH`` (issue 12)."""

from __future__ import annotations

import io

import pytest

from triochat._cli.main import build_parser, main
from triochat._cli.serve import config_from_args
from triochat._opers.passwords import is_password_hash, verify_password


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
    assert config_from_args(args).opers == (("admin", hashed), ("b", hashed))


@pytest.mark.parametrize("value", ["admin:hunter2", "admin", ":$scrypt$", "a b:x"])
def test_serve_refuses_plain_passwords_and_bad_opers(value: str) -> None:
    args = build_parser().parse_args(["serve", "--oper", value])
    with pytest.raises(ValueError, match="--oper"):
        config_from_args(args)

"""``triochat account create``: the owner's way to make accounts, passwords never in argv."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from triochat._accounts.hashing import verify_password
from triochat._accounts.store import AccountStore
from triochat._cli import accounts as accounts_cli
from triochat._cli.main import build_parser, main
from triochat._ops.launch import load

if TYPE_CHECKING:
    from pathlib import Path


def test_create_reads_the_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "triochat.db"
    monkeypatch.setenv("TRIOCHAT_PASSWORD", "secret1")
    assert main(["account", "create", "alice", "--db", str(db)]) == 0
    assert main(["account", "create", "ALICE", "--db", str(db)]) == 1  # taken
    found = AccountStore(db).get("alice")
    assert found is not None
    assert verify_password(found[1], "secret1")


def test_create_asks_twice_without_echo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIOCHAT_PASSWORD", raising=False)
    db = tmp_path / "triochat.db"
    args = build_parser().parse_args(["account", "create", "bob", "--db", str(db)])
    answers = iter(["secret2", "secret2"])
    assert accounts_cli.run(args, prompt=lambda _: next(answers)) == 0
    args = build_parser().parse_args(["account", "create", "carol", "--db", str(db)])
    answers = iter(["secret2", "different"])
    assert accounts_cli.run(args, prompt=lambda _: next(answers)) == 2


@pytest.mark.parametrize("name", ["#chan", "NickServ", "bad name", "9lives"])
def test_create_refuses_names_that_are_not_nicknames(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIOCHAT_PASSWORD", "secret1")
    assert main(["account", "create", name, "--db", str(tmp_path / "x.db")]) == 2


def test_there_is_no_password_option() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["account", "create", "alice", "--password", "x"])


def test_serve_account_options() -> None:
    args = build_parser().parse_args(["serve", "--no-registration", "--nick-protection", "strict"])
    config = load(args).server
    assert (config.accounts, config.account_registration, config.nick_protection) == (
        True,
        False,
        "strict",
    )
    config = load(build_parser().parse_args(["serve", "--no-accounts"])).server
    assert not config.accounts
    assert config.multiclient
    config = load(build_parser().parse_args(["serve", "--no-multiclient"])).server
    assert not config.multiclient


def test_client_ca_asks_for_certificates_only_with_tls(tmp_path: Path) -> None:
    import ssl

    import trustme

    from triochat._tls import TlsSetupError, make_dev_certificates, server_context

    ca = trustme.CA()
    ca_file = tmp_path / "clients.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    _, server_pem = make_dev_certificates(tmp_path / "certs")
    assert server_context(server_pem).verify_mode == ssl.CERT_NONE
    context = server_context(server_pem, client_ca=ca_file)
    assert context.verify_mode == ssl.CERT_OPTIONAL
    with pytest.raises(TlsSetupError, match="cannot use --client-ca"):
        server_context(server_pem, client_ca=tmp_path / "missing.pem")
    assert main(["serve", "--client-ca", str(ca_file), "--db", ":memory:"]) == 2

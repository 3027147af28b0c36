"""The accounts table against a real SQLite file, and the hashing it stores."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest

from triochat._accounts.hashing import hash_password, make_secrets, verify_password
from triochat._accounts.store import AccountStore, AccountStoreError
from triochat._history.records import HistoryEntry
from triochat._history.store import HistoryStore

if TYPE_CHECKING:
    from pathlib import Path


def _create(store: AccountStore, name: str, password: str = "secret1") -> int:
    password_hash, scram = make_secrets(password)
    account = store.create(name, password_hash, scram, email=None, now=1.0)
    assert account is not None
    return account.id


def test_a_history_database_gains_the_accounts_table_and_keeps_its_messages(
    tmp_path: Path,
) -> None:
    path = tmp_path / "triochat.db"
    history = HistoryStore.open(path)
    entry = HistoryEntry(1, "m1", "#room", "#room", "a!b@c", "PRIVMSG", "hello")
    history.append_many([entry])
    history.close()
    store = AccountStore(path)
    _create(store, "alice")
    store.close()
    reopened = HistoryStore.open(path)  # the history's schema version is left alone
    assert reopened.count() == 1
    reopened.close()
    tables = {
        name
        for (name,) in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")
        if not name.startswith("sqlite_")
    }
    assert {"messages", "accounts", "account_certs"} <= tables


def test_accounts_persist_and_names_are_casefolded(tmp_path: Path) -> None:
    path = tmp_path / "triochat.db"
    store = AccountStore(path)
    _create(store, "Alice[1]")
    password_hash, scram = make_secrets("other1")
    assert store.create("alice{1}", password_hash, scram, email=None, now=2.0) is None
    store.close()
    store = AccountStore(path)
    found = store.get("ALICE{1}")
    assert found is not None
    account, stored = found
    assert account.name == "Alice[1]"
    assert verify_password(stored, "secret1")
    assert store.names() == ["Alice[1]"]


def test_the_password_is_never_stored(tmp_path: Path) -> None:
    path = tmp_path / "triochat.db"
    store = AccountStore(path)
    _create(store, "alice", "correct horse battery")
    store.close()
    assert b"correct horse battery" not in path.read_bytes()
    for wal in tmp_path.glob("*-wal"):
        assert b"correct horse battery" not in wal.read_bytes()


def test_a_dropped_name_registered_again_gets_a_new_id(tmp_path: Path) -> None:
    store = AccountStore(tmp_path / "triochat.db")
    first = _create(store, "alice")
    assert store.drop(first)
    assert not store.drop(first)
    second = _create(store, "alice")
    assert second != first


def test_certificates_name_one_account(tmp_path: Path) -> None:
    store = AccountStore(tmp_path / "triochat.db")
    alice = _create(store, "alice")
    fingerprint = "ab" * 32
    account = store.change_cert(alice, fingerprint.upper(), add=True)
    assert account is not None
    assert account.certfps == (fingerprint,)
    by_cert = store.by_cert(fingerprint)
    assert by_cert is not None
    assert by_cert.id == alice
    store.change_cert(alice, fingerprint, add=False)
    assert store.by_cert(fingerprint) is None


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AccountStoreError):
        AccountStore(tmp_path)


def test_hashes_are_salted_and_checked() -> None:
    first, second = hash_password("secret1"), hash_password("secret1")
    assert first != second
    assert first.startswith("scrypt$16384$8$1$")
    assert verify_password(first, "secret1")
    assert not verify_password(first, "secret2")
    assert not verify_password(None, "secret1")
    assert not verify_password("garbage", "secret1")

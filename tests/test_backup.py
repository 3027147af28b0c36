"""``triochat db backup``: a consistent copy while another connection keeps writing."""

from __future__ import annotations

import sqlite3
import threading
from typing import TYPE_CHECKING

import pytest

from triochat._cli.main import main
from triochat._history.records import HistoryEntry
from triochat._history.store import HistoryStore
from triochat._ops.backup import BackupError, backup

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def said(index: int) -> HistoryEntry:
    return HistoryEntry(
        1_700_000_000_000 + index,
        f"m{index}",
        "#room",
        "#room",
        "a!b@c",
        "PRIVMSG",
        f"text {index}",
    )


@pytest.fixture
def busy_database(tmp_path: Path) -> Iterator[Path]:
    """A history database that a thread keeps writing to (as a running server would)."""
    path = tmp_path / "history.db"
    store = HistoryStore.open(path)
    store.append_many([said(i) for i in range(100)])
    stop = threading.Event()
    written = threading.Event()

    def write() -> None:
        index = 100
        while not stop.is_set():
            store.append_many([said(index + i) for i in range(50)])
            index += 50
            written.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert written.wait(10)
        yield path
    finally:
        stop.set()
        writer.join(10)
        store.close()


def test_backup_while_the_database_is_written(busy_database: Path, tmp_path: Path) -> None:
    for round_ in range(3):
        target = tmp_path / f"backup{round_}.db"
        messages = backup(busy_database, target)
        assert messages >= 100
        with sqlite3.connect(target) as copy:
            assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert copy.execute("SELECT count(*) FROM messages").fetchone()[0] == messages
            assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        copy.close()
        reopened = HistoryStore.open(target)  # a backup is a database triochat can serve from
        assert reopened.count() == messages
        reopened.close()
    assert not list(tmp_path.glob(".*.partial"))


def test_backup_refuses_to_overwrite_without_force(busy_database: Path, tmp_path: Path) -> None:
    target = tmp_path / "backup.db"
    target.write_bytes(b"precious")
    with pytest.raises(BackupError, match="already exists; pass --force"):
        backup(busy_database, target)
    assert target.read_bytes() == b"precious"
    assert backup(busy_database, target, force=True) >= 100


def test_backup_command(
    busy_database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "copy.db"
    assert main(["db", "backup", str(target), "--db", str(busy_database)]) == 0
    assert f"backed up {busy_database} to {target}" in capsys.readouterr().out
    assert main(["db", "backup", str(target), "--db", str(busy_database)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main(["db", "backup", str(target), "--db", str(busy_database), "--force"]) == 0
    config = tmp_path / "triochat.toml"
    config.write_text(f'[history]\ndb = "{busy_database}"\n', encoding="utf-8")
    again = tmp_path / "again.db"
    assert main(["db", "backup", str(again), "--config", str(config)]) == 0
    assert again.is_file()


def test_backup_of_a_missing_database_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["db", "backup", str(tmp_path / "b.db"), "--db", str(tmp_path / "absent.db")])
    assert code == 2
    assert "no database at" in capsys.readouterr().err

"""``triochat serve`` history options, and history across a real restart of the process."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest
import trio
from harness import IrcClient
from processes import serve

from triochat._cli.main import build_parser, main
from triochat._cli.serve import open_history
from triochat._ops.checks import parse_duration
from triochat._ops.launch import load

if TYPE_CHECKING:
    from pathlib import Path


def test_history_defaults() -> None:
    args = build_parser().parse_args(["serve"])
    config = load(args).server
    assert config.history_db == "triochat.db"
    assert (config.history, config.history_replay) == (True, 50)
    assert (config.history_max_age, config.history_max_per_channel) == (None, None)


def test_history_options_reach_the_config() -> None:
    config = load(
        build_parser().parse_args(
            [
                "serve",
                "--db",
                ":memory:",
                "--history-replay",
                "0",
                "--history-max-age",
                "30d",
                "--history-max-per-channel",
                "500",
            ]
        )
    ).server
    assert (config.history_db, config.history_replay) == (":memory:", 0)
    assert (config.history_max_age, config.history_max_per_channel) == (30 * 86400, 500)
    off = load(build_parser().parse_args(["serve", "--no-history"])).server
    assert not off.history
    assert open_history(off) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30d", 2_592_000),
        ("12h", 43_200),
        ("90m", 5400),
        ("45s", 45),
        ("10", 10),
        ("1.5h", 5400),
        ("2w", 1_209_600),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--history-max-age", "soon"], "--history-max-age must be a positive duration"),
        (["--history-max-age", "0d"], "--history-max-age must be a positive duration"),
        (["--history-max-age=-3h"], "--history-max-age must be a positive duration"),
        (["--history-replay", "-1"], "--history-replay must be 0 or more"),
        (["--history-max-per-channel", "0"], "--history-max-per-channel must be positive"),
    ],
)
def test_invalid_history_options_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("kind", ["missing directory", "not a database", "a directory"])
def test_a_database_that_cannot_be_opened_exits_2(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "history.db"
    if kind == "missing directory":
        path = tmp_path / "gone" / "history.db"
    elif kind == "not a database":
        path.write_bytes(b"definitely not SQLite " * 200)
    else:
        path.mkdir()
    assert main(["serve", "--port", "0", "--db", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"triochat serve: cannot open the history database {path}: ")
    assert "Traceback" not in err


@pytest.mark.e2e
async def test_history_survives_a_restart_of_the_process(tmp_path: Path) -> None:
    database = tmp_path / "chat.db"
    async with serve("--db", str(database)) as server:
        with trio.fail_after(20):
            alice = IrcClient(await trio.open_tcp_stream("127.0.0.1", server.port))
            await alice.register("alice")
            await alice.join("#room")
            for text in ("first", "second", "third"):
                await alice.send(f"PRIVMSG #room :{text}")
            await alice.send("PRIVMSG alice :a note to self")
            await alice.sync()
            await alice.send("QUIT")
            await alice.wait_closed()
            await alice.stream.aclose()
            assert await server.stop() == 0
    assert not (tmp_path / "chat.db-wal").exists()  # closed cleanly: checkpointed
    async with serve("--db", str(database)) as again:
        with trio.fail_after(20):
            bob = IrcClient(await trio.open_tcp_stream("127.0.0.1", again.port))
            await bob.register("bob")
            await bob.join("#room")
            replay = await bob.collect_until("NOTICE")
            assert replay[-1].params[1].startswith("*** Replaying the last 3 message(s) of #room")
            lines = await bob.collect_until("NOTICE")
            assert [line.source for line in lines[:-1]] == ["alice!~alice@127.0.0.1"] * 3
            assert [line.params[1][22:] for line in lines[:-1]] == ["first", "second", "third"]
            assert lines[-1].params[1].startswith("*** End of replay")
            await bob.stream.aclose()
            assert await again.stop() == 0
    db = sqlite3.connect(database)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 4
    finally:
        db.close()

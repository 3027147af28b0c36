"""``kill -9`` while history is being written, then restart on the same database.

README, History: a message is acknowledged once relayed and saved a few
milliseconds later; a crash may lose what was not saved yet. So: what was
seen saved before the kill must be there after the restart, in order, and
whatever else survived must be the messages that followed, with no gap.
Real processes on 127.0.0.1, every wait bounded.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import trio
from harness import IrcClient
from processes import serve

if TYPE_CHECKING:
    from pathlib import Path

SAVED_FIRST = 300
BURST = 20_000


def _saved_texts(db: Path) -> list[str]:
    """The channel's saved messages, oldest first, read beside the running server."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = connection.execute(
            "SELECT text FROM messages WHERE target = '#crash' ORDER BY id"
        ).fetchall()
    finally:
        connection.close()
    return [text for (text,) in rows]


async def _client(port: int, nick: str) -> IrcClient:
    client = IrcClient(await trio.open_tcp_stream("127.0.0.1", port), nick)
    await client.register(nick)
    await client.join("#crash")
    return client


async def test_kill_9_during_writes_loses_nothing_saved(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    # The writer is a trusted bot: no flood control, so the burst is as fast as it gets.
    async with serve("--db", str(db), "--no-flood-control") as server:
        with trio.fail_after(30):
            writer = await _client(server.port, "writer")
            await writer.send(*(f"PRIVMSG #crash :message {n}" for n in range(SAVED_FIRST)))
            await writer.sync()
            while len(saved := _saved_texts(db)) < SAVED_FIRST:  # noqa: ASYNC110 - another process
                await trio.sleep(0.05)
        assert saved == [f"message {n}" for n in range(SAVED_FIRST)]

        # A burst, and kill -9 while the writer thread is busy saving it.
        with trio.fail_after(30):
            lines = [
                f"PRIVMSG #crash :message {n}" for n in range(SAVED_FIRST, SAVED_FIRST + BURST)
            ]
            for start in range(0, BURST, 2000):
                await writer.send(*lines[start : start + 2000])
            await writer.sync()  # all relayed: acknowledged
            server.process.kill()
            assert await server.process.wait() == -9
        await writer.stream.aclose()

    async with serve("--db", str(db), "--no-flood-control") as restarted:
        with trio.fail_after(30):
            survived = _saved_texts(db)
            assert survived == [f"message {n}" for n in range(len(survived))]  # in order, no gap
            assert len(survived) >= SAVED_FIRST
            reader = await _client(restarted.port, "reader")  # the database is in use again
            await reader.send("PRIVMSG #crash :after the restart")
            await reader.sync()
            await reader.stream.aclose()
            assert restarted.process.returncode is None

"""The SQLite history store (``triochat._history.store.HistoryStore``) against a real file.

Synchronous and without trio: what is saved, what each CHATHISTORY query
returns (the expectations follow irctest's chathistory cases), who may read a
private conversation, retention, and how a bad database file is refused.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest

from triochat._history.records import UNBOUNDED, Bound, HistoryEntry, HistoryQuery, private_key
from triochat._history.store import SCHEMA_VERSION, HistoryError, HistoryStore

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

T0 = 1_700_000_000_000  # ms
ALICE = "alice!~alice@host"
BOB = "bob!~bob@host"


def said(index: int, *, key: str = "#room", time_ms: int | None = None) -> HistoryEntry:
    """Message number ``index`` in a channel, one second after the previous one."""
    at = T0 + index * 1000 if time_ms is None else time_ms
    return HistoryEntry(at, f"m{key}{index}", key, key, ALICE, "PRIVMSG", f"message {index}")


def private(index: int, sender: str, *, sessions: tuple[str, str]) -> HistoryEntry:
    """A private message between alice and bob (``sessions``: sender's, recipient's)."""
    source, target = (ALICE, "bob") if sender == "alice" else (BOB, "alice")
    key = private_key("alice", "bob")
    return HistoryEntry(
        T0 + index * 1000, f"p{index}", key, target, source, "PRIVMSG", f"psst {index}", sessions
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    opened = HistoryStore.open(tmp_path / "history.db")
    yield opened
    opened.close()


@pytest.fixture
def room(store: HistoryStore) -> list[HistoryEntry]:
    """Ten messages in #room (and a few elsewhere, which no #room query may return)."""
    entries = [said(i) for i in range(10)]
    store.append_many(entries)
    store.append_many([said(i, key="#other") for i in range(3)])
    return entries


def ask(
    store: HistoryStore,
    subcommand: str,
    first: Bound,
    second: Bound = UNBOUNDED,
    limit: int = 100,
    *,
    key: str = "#room",
    session: str = "s1",
) -> list[str]:
    query = HistoryQuery(subcommand, key, (key,), session, first, second, limit)
    return [entry.msgid for entry in store.fetch(query)]


def ids(entries: list[HistoryEntry]) -> list[str]:
    return [entry.msgid for entry in entries]


def at(entry: HistoryEntry) -> Bound:
    return Bound(time_ms=entry.time_ms)


def by_id(entry: HistoryEntry) -> Bound:
    return Bound(msgid=entry.msgid)


# ---------------------------------------------------------------------------
# The file
# ---------------------------------------------------------------------------


def test_a_new_file_gets_the_schema_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    HistoryStore.open(path).close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        indexes = {row[1] for row in db.execute("PRAGMA index_list(messages)")}
        assert "messages_by_key_time" in indexes
    finally:
        db.close()


def test_what_is_saved_is_there_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "again.db"
    first = HistoryStore.open(path)
    first.append_many([said(0), said(1)])
    first.close()
    second = HistoryStore.open(path)
    try:
        assert second.count() == 2
        [entry] = second.fetch(
            HistoryQuery("LATEST", "#room", ("#room",), "s", UNBOUNDED, UNBOUNDED, 1)
        )
        assert entry == said(1)
    finally:
        second.close()


def test_any_text_comes_back_exactly(store: HistoryStore) -> None:
    texts = ["Grüße, 世界 😀", "\x01ACTION waves\x01", 'quotes " and \\ back', "\u2028 \ufeff"]
    entries = [said(n)._replace(text=text) for n, text in enumerate(texts)]
    store.append_many(entries)
    query = HistoryQuery("LATEST", "#room", ("#room",), "s", UNBOUNDED, UNBOUNDED, 10)
    assert store.fetch(query) == entries


def test_a_batch_is_saved_whole_or_not_at_all(store: HistoryStore) -> None:
    store.append_many([said(0)])
    store._db.execute("PRAGMA query_only=ON")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        store.append_many([said(1), said(2)])
    store._db.execute("PRAGMA query_only=OFF")
    assert store.count() == 1


def test_a_duplicate_msgid_does_not_lose_the_rest_of_its_batch(store: HistoryStore) -> None:
    store.append_many([said(0)])
    store.append_many([said(0), said(1)])
    assert store.count() == 2


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"this is no database, just text " * 100, "file is not a database"),
        (None, "it is a directory"),
    ],
)
def test_what_is_not_a_database_is_refused(
    tmp_path: Path, content: bytes | None, reason: str
) -> None:
    path = tmp_path / "bad.db"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(HistoryError, match=reason):
        HistoryStore.open(path)


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="unable to open"):
        HistoryStore.open(tmp_path / "no" / "such" / "dir" / "history.db")


def test_a_database_from_a_newer_triochat_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(HistoryError, match="newer triochat"):
        HistoryStore.open(path)


def test_memory_runs_inline_and_a_file_in_a_thread(tmp_path: Path) -> None:
    memory = HistoryStore.open(":memory:")
    on_disk = HistoryStore.open(tmp_path / "f.db")
    forced = HistoryStore.open(tmp_path / "g.db", threaded=False)
    try:
        assert (memory.on_disk, memory.threaded) == (False, False)
        assert (on_disk.on_disk, on_disk.threaded) == (True, True)
        assert (forced.on_disk, forced.threaded) == (True, False)
    finally:
        for opened in (memory, on_disk, forced):
            opened.close()


# ---------------------------------------------------------------------------
# CHATHISTORY queries
# ---------------------------------------------------------------------------


def test_latest(store: HistoryStore, room: list[HistoryEntry]) -> None:
    assert ask(store, "LATEST", UNBOUNDED) == ids(room)
    assert ask(store, "LATEST", UNBOUNDED, limit=5) == ids(room[-5:])
    assert ask(store, "LATEST", UNBOUNDED, limit=1) == ids(room[-1:])
    assert ask(store, "LATEST", by_id(room[4])) == ids(room[5:])
    assert ask(store, "LATEST", at(room[4])) == ids(room[5:])
    assert ask(store, "LATEST", at(room[4]), limit=2) == ids(room[-2:])


def test_before(store: HistoryStore, room: list[HistoryEntry]) -> None:
    assert ask(store, "BEFORE", by_id(room[6])) == ids(room[:6])
    assert ask(store, "BEFORE", at(room[6])) == ids(room[:6])
    assert ask(store, "BEFORE", at(room[6]), limit=2) == ids(room[4:6])


def test_after(store: HistoryStore, room: list[HistoryEntry]) -> None:
    assert ask(store, "AFTER", by_id(room[3])) == ids(room[4:])
    assert ask(store, "AFTER", at(room[3])) == ids(room[4:])
    assert ask(store, "AFTER", at(room[3]), limit=3) == ids(room[4:7])


def test_around_includes_the_message_it_names(
    store: HistoryStore, room: list[HistoryEntry]
) -> None:
    assert ask(store, "AROUND", by_id(room[7]), limit=1) == ids(room[7:8])
    assert ask(store, "AROUND", by_id(room[7]), limit=3) == ids(room[6:9])
    assert ask(store, "AROUND", at(room[7]), limit=3) == ids(room[6:9])
    assert ask(store, "AROUND", by_id(room[0]), limit=4) == ids(room[0:4])


def test_between_either_way_excludes_both_ends(
    store: HistoryStore, room: list[HistoryEntry]
) -> None:
    for ref in (by_id, at):
        assert ask(store, "BETWEEN", ref(room[0]), ref(room[-1])) == ids(room[1:-1])
        assert ask(store, "BETWEEN", ref(room[-1]), ref(room[0])) == ids(room[1:-1])
        # With a limit, the messages nearest the first reference.
        assert ask(store, "BETWEEN", ref(room[0]), ref(room[-1]), limit=3) == ids(room[1:4])
        assert ask(store, "BETWEEN", ref(room[-1]), ref(room[0]), limit=3) == ids(room[-4:-1])


def test_messages_at_the_same_millisecond_keep_their_order(store: HistoryStore) -> None:
    same = [said(i, time_ms=T0) for i in range(5)]
    store.append_many(same)
    assert ask(store, "LATEST", UNBOUNDED) == ids(same)
    assert ask(store, "BEFORE", by_id(same[3])) == ids(same[:3])
    assert ask(store, "AFTER", by_id(same[1])) == ids(same[2:])
    assert ask(store, "BETWEEN", by_id(same[4]), by_id(same[0]), limit=2) == ids(same[2:4])
    # A timestamp reference falls before or after all of that millisecond.
    assert ask(store, "BEFORE", Bound(time_ms=T0)) == []
    assert ask(store, "AFTER", Bound(time_ms=T0)) == []


def test_an_unknown_or_foreign_msgid_finds_nothing(
    store: HistoryStore, room: list[HistoryEntry]
) -> None:
    assert ask(store, "BEFORE", Bound(msgid="nope")) == []
    other = said(1, key="#other")  # exists, but in another channel
    assert ask(store, "AFTER", by_id(other)) == []
    assert ask(store, "BETWEEN", by_id(room[0]), Bound(msgid="nope")) == []


# ---------------------------------------------------------------------------
# Private conversations
# ---------------------------------------------------------------------------


def test_a_private_conversation_is_readable_by_its_two_sessions_only(
    store: HistoryStore,
) -> None:
    conversation = [
        private(0, "alice", sessions=("a1", "b1")),
        private(1, "bob", sessions=("b1", "a1")),
        # Later, someone else called "bob" (session b2) talks to alice.
        private(2, "alice", sessions=("a1", "b2")),
    ]
    store.append_many(conversation)
    key = private_key("alice", "bob")
    assert ask(store, "LATEST", UNBOUNDED, key=key, session="a1") == ["p0", "p1", "p2"]
    assert ask(store, "LATEST", UNBOUNDED, key=key, session="b1") == ["p0", "p1"]
    assert ask(store, "LATEST", UNBOUNDED, key=key, session="b2") == ["p2"]
    assert ask(store, "LATEST", UNBOUNDED, key=key, session="mallory") == []
    # Nor can a stranger use a private msgid as a reference.
    assert ask(store, "AROUND", Bound(msgid="p1"), key=key, session="b2") == []


def test_recent_channel_messages_are_the_last_of_each_channel_without_private(
    store: HistoryStore, room: list[HistoryEntry]
) -> None:
    store.append_many([private(20, "alice", sessions=("a1", "b1"))])
    recent = store.recent_channel_messages(3)
    assert ids(recent) == ids([said(i, key="#other") for i in range(3)]) + ids(room[-3:])


# ---------------------------------------------------------------------------
# TARGETS
# ---------------------------------------------------------------------------


def targets(
    store: HistoryStore, first: int, second: int, *, channels: tuple[str, ...], limit: int = 100
) -> list[tuple[str, int]]:
    query = HistoryQuery(
        "TARGETS", "", channels, "a1", Bound(time_ms=first), Bound(time_ms=second), limit
    )
    return [(entry.key, entry.time_ms) for entry in store.fetch(query)]


def test_targets_are_my_channels_and_my_conversations_by_latest_message(
    store: HistoryStore, room: list[HistoryEntry]
) -> None:
    store.append_many(
        [private(11, "alice", sessions=("a1", "b1")), private(12, "bob", sessions=("b9", "c9"))]
    )
    everything = targets(store, 0, T0 + 100_000, channels=("#room", "#other"))
    assert everything == [
        ("#other", T0 + 2000),
        ("#room", T0 + 9000),
        (private_key("alice", "bob"), T0 + 11_000),
    ]
    # Only the channels asked about (the requester's), either order of times.
    assert targets(store, T0 + 100_000, 0, channels=("#room",)) == everything[1:]
    # The range excludes its ends; the limit keeps those nearest the first time.
    assert targets(store, T0 + 2000, T0 + 100_000, channels=("#room", "#other")) == everything[1:]
    assert targets(store, 0, T0 + 100_000, channels=("#room", "#other"), limit=1) == everything[:1]
    assert targets(store, T0 + 100_000, 0, channels=("#room", "#other"), limit=1) == everything[2:]


# ---------------------------------------------------------------------------
# Retention
# ---------------------------------------------------------------------------


def test_prune_by_age(store: HistoryStore, room: list[HistoryEntry]) -> None:
    deleted = store.prune(older_than_ms=room[5].time_ms, max_per_key=None)
    assert deleted == 5 + 3  # #room's first five, and all of #other
    assert ask(store, "LATEST", UNBOUNDED) == ids(room[5:])


def test_prune_per_conversation_keeps_the_newest(
    store: HistoryStore, room: list[HistoryEntry]
) -> None:
    assert store.prune(older_than_ms=None, max_per_key=2) == 8 + 1
    assert ask(store, "LATEST", UNBOUNDED) == ids(room[-2:])
    assert ask(store, "LATEST", UNBOUNDED, key="#other") == ["m#other1", "m#other2"]

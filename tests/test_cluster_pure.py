"""The pure parts of cluster mode: event encoding, and a replica applying a log by hand."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from triochat._cli.main import build_parser, main
from triochat._cluster.events import (
    AccountName,
    Burst,
    Bye,
    Hello,
    Intro,
    Line,
    Lost,
    Quit,
    Topic,
    UserAccount,
    UserInfo,
    UserModes,
    decode,
    decode_batch,
    decode_history,
    encode,
    encode_batch,
    encode_history,
)
from triochat._cluster.replica import REMOTE_CONN_BASE, Replica
from triochat._config import ServerConfig
from triochat._history.records import HistoryEntry
from triochat._irc.wire import parse
from triochat._ops.launch import load
from triochat._ops.reload import restart_notes
from triochat._state.effects import ConnId, Send
from triochat._state.machine import ServerState
from triochat._state.model import PeerInfo

if TYPE_CHECKING:
    from pathlib import Path

    from triochat._cluster.events import Event
    from triochat._irc.wire import Message
    from triochat._state.effects import Effect

BOB = UserInfo(1, "bob", "~bob", "b.example", "Bob", "s.1", channels=(("#room", ""),))
ALICE = UserInfo(2, "alice", "~a", "a.example", "A", "account:7", account="Alice", account_id=7)
EVENTS: list[Event] = [
    Line("a", 3, "PRIVMSG #room :héllo", 1700000000.25, 7),
    Intro("b", BOB),
    Intro("b", ALICE),
    Quit("a", 3, "Quit: bye"),
    Hello("a"),
    Burst(
        "b",
        (BOB,),
        (
            Topic("#room", "t", "bob!~bob@b", 1.5, "nt"),
            Topic("#den", "", "", 0.0, "iklnt", key="sesame", limit=10),
            Topic(
                "#lists",
                "",
                "",
                0.0,
                "nt",
                lists=(("b", "x!*@*", "op", 5), ("I", "f!*@*", "op", 6)),
            ),
        ),
    ),
    UserModes("a", 3, "iow"),
    UserAccount("a", 3, "Alice", 7, "account:7"),
    UserAccount("a", 3, None, None, "dropped:7.3"),
    AccountName("a", "Alice", registered=True),
    AccountName("a", "Alice", registered=False),
    Lost("b", "node b lost"),
    Bye("b", "node b shut down"),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda event: type(event).__name__)
def test_every_event_survives_its_encoding(event: Event) -> None:
    assert decode(encode(event)) == event


def test_a_burst_of_an_older_node_without_key_and_limit_still_reads() -> None:
    old = '{"k":"burst","node":"b","users":[],"topics":[["#r","t","x",1.0,"nt"]]}'
    assert decode(old) == Burst("b", (), (Topic("#r", "t", "x", 1.0, "nt"),))


def test_history_rows_survive_their_encoding() -> None:
    rows = [
        HistoryEntry(1, "m1", "#room", "#Room", "a!a@a", "PRIVMSG", "héllo"),
        HistoryEntry(2, "m2", "a\0b", "b", "a!a@a", "NOTICE", "psst", ("s.1", "account:7")),
    ]
    assert decode_history(encode_history(rows)) == rows
    with pytest.raises((ValueError, TypeError)):
        decode_history('[["not", "a", "row"]]')


def test_a_batch_is_one_entry_in_order_and_a_single_event_reads_as_a_batch() -> None:
    assert decode_batch(encode_batch(EVENTS)) == EVENTS
    assert decode_batch(encode(EVENTS[0])) == [EVENTS[0]]
    with pytest.raises((ValueError, KeyError)):
        decode('{"k": "nonsense", "node": "a"}')


def to(conn: ConnId, effects: list[Effect]) -> list[Message]:
    return [
        effect.message for effect in effects if isinstance(effect, Send) and conn in effect.targets
    ]


def local_user(state: ServerState, replica: Replica, nick: str) -> ConnId:
    conn = ConnId(len(state.network.clients) + 1)
    state.connect(conn, PeerInfo("a.example"))
    state.handle(conn, parse(f"NICK {nick}".encode()))
    state.handle(conn, parse(f"USER {nick} 0 * :{nick}".encode()))
    replica.local(conn)
    return conn


def test_a_burst_reconciles_a_node_users_and_memberships() -> None:
    state = ServerState(ServerConfig())
    replica = Replica(state, "a")
    alice = local_user(state, replica, "alice")
    replica.apply("1-0.0", Hello("a"))
    replica.apply("1-0.1", Line("a", alice, "JOIN #room", 1.0))
    carol = UserInfo(2, "carol", "~c", "b.example", "C", "s.2", channels=(("#room", "o"),))
    effects = replica.apply("2-0.0", Burst("b", (BOB, carol)))
    assert [m.command for m in to(alice, effects)] == ["JOIN", "JOIN"]
    room = state.network.channel("#room")
    assert room is not None
    assert room.members[ConnId(REMOTE_CONN_BASE + 1)] == "o"
    # A later burst without carol, and bob out of #room: carol quits, bob parts.
    effects = replica.apply("3-0.0", Burst("b", (UserInfo(1, "bob", "~bob", "b", "B", "s.1"),)))
    assert sorted(m.command for m in to(alice, effects)) == ["PART", "QUIT"]
    assert state.network.user("carol") is None
    assert state.network.user("bob") is not None


def test_events_of_a_node_wait_for_its_burst() -> None:
    state = ServerState(ServerConfig())
    replica = Replica(state, "a")
    alice = local_user(state, replica, "alice")
    replica.apply("1-0.0", Line("a", alice, "JOIN #room", 1.0))
    assert replica.apply("2-0.0", Line("b", 1, "PRIVMSG #room :early", 2.0)) == []
    effects = replica.apply("3-0.0", Burst("b", (BOB,)))
    assert [m.params for m in to(alice, effects) if m.command == "PRIVMSG"] == [("#room", "early")]


def test_the_single_node_server_never_imports_coredis() -> None:
    code = (
        "import sys, triochat._cli.main, triochat._server.server;"
        "assert 'coredis' not in sys.modules, 'coredis imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--cluster", "http://127.0.0.1:6379"], "redis:// URL"),
        (["--cluster", "redis://127.0.0.1:6379", "--node-timeout", "0"], "positive"),
        (["--cluster", "redis://127.0.0.1:6379", "--node-name", "a b"], "no spaces"),
    ],
)
def test_bad_cluster_options_are_refused_with_exit_2(
    args: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", "0", *args]) == 2
    assert error in capsys.readouterr().err


def test_a_cluster_node_keeps_its_own_history_file_by_default() -> None:
    args = build_parser().parse_args(["serve", "--cluster", "redis://x", "--node-name", "a"])
    assert load(args).server.history_db == "triochat-a.db"
    args = build_parser().parse_args(["serve", "--cluster", "redis://x", "--db", "mine.db"])
    assert load(args).server.history_db == "mine.db"


def test_the_cluster_settings_come_from_the_config_file_too(tmp_path: Path) -> None:
    file = tmp_path / "triochat.toml"
    file.write_text(
        '[cluster]\nurl = "redis://127.0.0.1:6379/0"\nnode_name = "b"\nnode_timeout = 4\n'
    )
    launch = load(build_parser().parse_args(["serve", "--config", str(file)]))
    assert launch.cluster == {
        "cluster": "redis://127.0.0.1:6379/0",
        "node_name": "b",
        "node_timeout": 4.0,
    }
    assert launch.server.history_db == "triochat-b.db"
    flags = ["serve", "--config", str(file), "--node-name", "c"]  # a flag wins over the file
    assert load(build_parser().parse_args(flags)).cluster["node_name"] == "c"


def test_changing_the_cluster_settings_on_reload_says_a_restart_is_needed() -> None:
    launch = load(build_parser().parse_args(["serve"]))
    moved = replace(launch, cluster={**launch.cluster, "cluster": "redis://elsewhere:6379/0"})
    assert restart_notes(launch, moved) == ["cluster settings changed: restart needed"]

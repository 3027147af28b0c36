"""Cluster mode against the in-memory store: several nodes in one process, deterministic.

Each node is a whole :class:`ChatServer` with its :class:`ClusterNode`; they
share one :class:`MemoryStore` (what Redis holds), so these tests cover the
replication logic with virtual time (``autojump_clock``): rooms and private
messages across nodes, one order for everyone, the nick race, node death by
heartbeat, a clean stop, and an outage of the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
import trio.testing
from cluster_harness import Node, start_node

from triochat._cluster.bus import MemoryBus, MemoryStore
from triochat._cluster.events import Lost, decode_history
from triochat._history.records import HistoryEntry

if TYPE_CHECKING:
    from harness import IrcClient

    from triochat._irc.wire import Message


async def two_nodes(nursery: trio.Nursery, *, node_timeout: float = 15.0) -> tuple[Node, Node]:
    store = MemoryStore()
    a = await start_node(nursery, store, "a", node_timeout=node_timeout)
    b = await start_node(nursery, store, "b", node_timeout=node_timeout)
    return a, b


async def chat(client: IrcClient, count: int, command: str = "PRIVMSG") -> list[Message]:
    """The next ``count`` messages of ``command`` that ``client`` receives."""
    return [await client.expect(command) for _ in range(count)]


async def test_a_room_across_two_nodes(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30):
        a, b = await two_nodes(nursery)
        alice = await a.client("alice", channel="#room")
        bob = await b.client("bob", channel="#room")
        joined = await alice.expect("JOIN")
        assert (joined.source or "").startswith("bob!")
        await alice.send("TOPIC #room :cluster talk")
        topic = await bob.expect("TOPIC")
        assert topic.params == ("#room", "cluster talk")
        await alice.send("PRIVMSG #room :hello")
        said = await bob.expect("PRIVMSG")
        assert said.params == ("#room", "hello")
        await bob.send("NAMES #room", "WHOIS alice", "LUSERS")
        names = await bob.expect("353")
        assert set(names.params[-1].split()) == {"@alice", "bob"}
        await bob.expect("311", "bob", "alice")
        assert (await bob.expect("251")).params[-1].endswith("on 2 servers")
        assert (await bob.expect("255")).params[-1] == "I have 1 clients and 1 servers"
        assert (await bob.expect("266")).params[1:3] == ("2", "2")  # global users, max
        await bob.send("LINKS")
        links = [(await bob.expect("364")).params[2] for _ in range(2)]
        assert links == ["a", "b"]


async def test_a_private_message_reaches_a_user_of_the_other_node(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30):
        a, b = await two_nodes(nursery)
        alice = await a.client("alice")
        bob = await b.client("bob")
        await bob.send("PRIVMSG alice :psst")
        message = await alice.expect("PRIVMSG")
        assert message.params == ("alice", "psst")
        assert (message.source or "").startswith("bob!")
        await alice.send("ISON bob")
        assert (await alice.expect("303")).params[-1] == "bob"


async def test_every_member_sees_the_same_order_with_the_same_ids_and_times(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30):
        a, b = await two_nodes(nursery)
        caps = "echo-message server-time message-tags"
        alice = await a.client("alice", caps=caps, channel="#room")
        bob = await b.client("bob", caps=caps, channel="#room")
        carol = await a.client("carol", caps=caps, channel="#room")
        for n in range(5):  # interleaved, without waiting for each other
            await alice.send(f"PRIVMSG #room :a{n}")
            await bob.send(f"PRIVMSG #room :b{n}")
        seen = [
            [(m.params[1], m.tags["msgid"], m.tags["time"]) for m in await chat(c, 10)]
            for c in (alice, bob, carol)
        ]
        assert seen[0] == seen[1] == seen[2]
        assert sorted(text for text, _, _ in seen[0]) == sorted(
            [f"a{n}" for n in range(5)] + [f"b{n}" for n in range(5)]
        )


async def test_two_nodes_racing_for_one_nick_exactly_one_wins(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30):
        a, b = await two_nodes(nursery)
        first = await a.harness.connect()
        second = await b.harness.connect()
        await first.send("NICK alice", "USER a 0 * :a")
        await second.send("NICK alice", "USER b 0 * :b")
        replies = []
        for client in (first, second):
            message = await client.receive()
            while message.command not in ("001", "433"):
                message = await client.receive()
            replies.append(message.command)
        assert sorted(replies) == ["001", "433"]
        # The loser picks another nick and gets in; a later NICK to the winner's is refused.
        loser = second if replies[1] == "433" else first
        await loser.send("NICK alice")  # asking again is answered again
        assert (await loser.expect("433")).params[:2] == ("*", "alice")
        await loser.send("NICK alice2")
        await loser.expect("001")
        await loser.send("NICK alice")
        assert (await loser.expect("433")).params[1] == "alice"


async def test_a_nick_change_is_seen_everywhere_and_frees_the_old_nick(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30):
        a, b = await two_nodes(nursery)
        alice = await a.client("alice", channel="#room")
        bob = await b.client("bob", channel="#room")
        await alice.expect("JOIN")
        await bob.send("NICK robert")
        change = await alice.expect("NICK")
        assert change.params == ("robert",)
        newcomer = await a.client("bob")  # the old nick is free on the other node
        await newcomer.send("WHOIS robert")
        await newcomer.expect("311", "bob", "robert")


async def test_a_node_that_dies_is_noticed_by_heartbeat_and_its_users_quit(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        a, b = await two_nodes(nursery, node_timeout=3)
        alice = await a.client("alice", channel="#room")
        await b.client("bob", channel="#room")
        await alice.expect("JOIN")
        started = trio.current_time()
        b.scope.cancel()  # gone without a word, as with kill -9
        quit_ = await alice.expect("QUIT")
        assert quit_.params == ("node b lost",)
        assert trio.current_time() - started <= 3 + 1 + 1  # timeout, a heartbeat period, slack
        again = await a.client("bob")  # the nick is free again
        await again.send("LUSERS")
        assert (await again.expect("251")).params[-1].endswith("on 1 servers")


async def test_a_node_that_stops_cleanly_says_goodbye_at_once(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30):
        a, b = await two_nodes(nursery)
        alice = await a.client("alice", channel="#room")
        await b.client("bob", channel="#room")
        await alice.expect("JOIN")
        started = trio.current_time()
        b.stop.set()
        quit_ = await alice.expect("QUIT")
        assert (quit_.source or "").startswith("bob!")
        assert trio.current_time() - started < 3  # the shutdown grace, not the node timeout
        await a.client("bob")


async def test_a_new_node_learns_the_network_from_the_others(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30):
        store = MemoryStore()
        a = await start_node(nursery, store, "a")
        alice = await a.client("alice", channel="#room")
        await alice.send("TOPIC #room :before b", "MODE #room +m")
        await alice.expect("TOPIC")
        await alice.expect("MODE")
        await alice.send("MODE #room +bI troll!*@* friend!*@*")
        await alice.expect("MODE")
        b = await start_node(nursery, store, "b")
        bob = await b.client("bob")
        await bob.send("JOIN #room")
        assert (await bob.expect("332")).params[-1] == "before b"
        names = await bob.expect("353")
        assert set(names.params[-1].split()) == {"@alice", "bob"}
        await bob.send("MODE #room")
        assert (await bob.expect("324")).params[2] == "+mnt"
        await bob.send("MODE #room +b", "MODE #room +I")  # the lists came in the burst too
        assert (await bob.expect("367")).params[2] == "troll!*@*"
        assert (await bob.expect("346")).params[2] == "friend!*@*"


async def test_history_is_the_same_from_either_node(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30):
        a, b = await two_nodes(nursery)
        alice = await a.client("alice", channel="#room")
        for n in range(3):
            await alice.send(f"PRIVMSG #room :line {n}")
        await alice.sync()
        caps = "batch server-time message-tags"
        late_a = await a.client("late_a", caps=caps, channel="#room")
        late_b = await b.client("late_b", caps=caps, channel="#room")
        replays = []
        for late in (late_a, late_b):
            _, lines = await late.batch()
            replays.append([(m.params[-1], m.tags.get("msgid"), m.tags.get("time")) for m in lines])
        assert replays[0] == replays[1]
        assert [text for text, _, _ in replays[0]] == ["line 0", "line 1", "line 2"]


async def test_a_node_started_later_serves_the_history_said_before_it_started(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30):
        store = MemoryStore()
        a = await start_node(nursery, store, "a")
        alice = await a.client("alice", channel="#room")
        bob = await a.client("bob")
        for n in range(3):
            await alice.send(f"PRIVMSG #room :line {n}")
        await alice.send("PRIVMSG bob :just us")
        await bob.expect("PRIVMSG")
        b = await start_node(nursery, store, "b")
        caps = "batch server-time message-tags"
        late = await b.client("late", caps=caps, channel="#room")
        _, replayed = await late.batch()
        assert [m.params[-1] for m in replayed] == ["line 0", "line 1", "line 2"]
        asking = await b.client("asking", caps=caps + " draft/chathistory", channel="#room")
        await asking.send("CHATHISTORY LATEST #room * 10")
        _, answered = await asking.batch()
        assert [(m.params[-1], m.tags["msgid"]) for m in answered] == [
            (m.params[-1], m.tags["msgid"]) for m in replayed
        ]
        # The private message came too, and only its two readers may read it.
        assert any(entry.readers for _, text in store.history for entry in decode_history(text))
        await asking.send("CHATHISTORY LATEST bob * 10")
        _, private = await asking.batch()
        assert private == []


async def test_two_senders_of_history_rows_send_each_row_once(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """The history task and a hello's flush may send at the same time: no row lost or doubled."""
    with trio.fail_after(30):
        store = MemoryStore()
        a = await start_node(nursery, store, "a")
        rows = [
            HistoryEntry(n, f"id{n}", "#room", "#room", "x!x@x", "PRIVMSG", str(n))
            for n in range(1200)
        ]
        a.cluster._history_rows.extend(rows)
        async with trio.open_nursery() as senders:
            for _ in range(2):
                senders.start_soon(a.cluster._send_history, MemoryBus(store))
        sent = [entry.msgid for _, text in store.history for entry in decode_history(text)]
        assert sorted(sent) == sorted(row.msgid for row in rows)


async def test_a_store_outage_is_told_once_refused_clearly_and_survived(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        store = MemoryStore()
        a = await start_node(nursery, store, "a", node_timeout=3)
        b = await start_node(nursery, store, "b", node_timeout=3)
        alice = await a.client("alice", channel="#room")
        bob = await b.client("bob", channel="#room")
        await alice.expect("JOIN")
        store.down = True
        notice = await alice.expect("NOTICE")
        assert "lost its link" in notice.params[-1]
        await alice.send("PRIVMSG #room :into the void?")
        fail = await alice.expect("FAIL")
        assert fail.params[:2] == ("PRIVMSG", "CLUSTER_UNAVAILABLE")
        newcomer = await a.harness.connect()
        await newcomer.send("NICK carol", "USER c 0 * :c")
        closing = await newcomer.wait_closed()
        assert any(m.command == "ERROR" for m in closing)
        await trio.sleep(2)
        store.wipe()  # it comes back empty, as a Redis restarted without persistence
        store.down = False
        back = await alice.expect("NOTICE")
        assert "is back" in back.params[-1]
        await bob.expect("NOTICE")
        await trio.sleep(1)
        await alice.send("PRIVMSG #room :after")
        message = await bob.expect("PRIVMSG")
        assert message.params == ("#room", "after")
        await bob.send("NAMES #room")
        names = await bob.expect("353")
        assert set(names.params[-1].split()) == {"@alice", "bob"}


async def test_a_nick_taken_elsewhere_while_cut_off_is_renamed_to_a_guest(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        store = MemoryStore()
        a = await start_node(nursery, store, "a", node_timeout=3)
        b = await start_node(nursery, store, "b", node_timeout=3)
        alice = await a.client("alice")
        a.cut[0] = True  # only a loses the store; b carries on
        await alice.expect("NOTICE")
        await trio.sleep(15)  # long enough for b to find a lost and free its nicks
        store.keys.pop("nick:alice", None)  # (the TTL of a's claim ran out)
        other = await b.client("alice")
        a.cut[0] = False
        renamed = await alice.expect("NICK")
        assert renamed.params[0].startswith("Guest")
        await other.send("WHOIS " + renamed.params[0])
        await other.expect("311", "alice", renamed.params[0])


async def test_a_node_declared_lost_while_alive_joins_again(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30):
        store = MemoryStore()
        a = await start_node(nursery, store, "a")
        b = await start_node(nursery, store, "b")
        alice = await a.client("alice", channel="#room")
        await b.client("bob", channel="#room")
        await alice.expect("JOIN")
        store.append(Lost("b", "node b lost"))  # as after a stall of b longer than the timeout
        assert (await alice.expect("QUIT")).params == ("node b lost",)
        back = await alice.expect("JOIN")  # b's burst brings bob back
        assert (back.source or "").startswith("bob!")


async def test_the_last_words_of_a_dropped_connection_reach_everyone_before_its_quit(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30):
        a, b = await two_nodes(nursery)
        alice = await a.client("alice", channel="#room")
        carol = await a.client("carol", channel="#room")
        bob = await b.client("bob", channel="#room")
        await alice.expect("JOIN")
        a.delay[0] = 1.0  # a slow store: the lines are still in flight when alice is gone
        await alice.send(*(f"PRIVMSG #room :last {n}" for n in range(3)))
        await alice.stream.aclose()  # gone without QUIT, lines still in flight
        for listener in (carol, bob):
            heard = [m.params[-1] for m in await chat(listener, 3)]
            assert heard == ["last 0", "last 1", "last 2"]
            assert (await listener.expect("QUIT")).source == "alice!~alice@localhost"

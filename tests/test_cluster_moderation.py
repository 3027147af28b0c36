"""Cluster mode with what main added: operators, KILL, bans, INVITE, WALLOPS, health.

Two whole servers on one :class:`MemoryStore`, in real time (OPER checks its
password in a worker thread, which a virtual clock would jump over). The point of each
test is what crosses nodes: an OPER on one node makes a +o that the others
honour (but its password never reaches the store), a KILL or K-line reaches a
user of another node and frees its nick network-wide, an INVITE lets a user of
another node into a +i room, and ``/readyz`` and ``/metrics`` say how the link is.
"""

from __future__ import annotations

import trio
from cluster_harness import Node, start_node
from harness import config

from triochat._cluster.bus import MemoryStore
from triochat._cluster.events import Line, UserModes, encode
from triochat._opers.passwords import hash_password
from triochat._ops.health import readiness_problems
from triochat._ops.metrics import exposition

PASSWORD = "open sesame"
OPERS = config(opers=(("admin", hash_password(PASSWORD, log_cost=4)),))


async def two_nodes(nursery: trio.Nursery) -> tuple[MemoryStore, Node, Node]:
    store = MemoryStore()
    a = await start_node(nursery, store, "a", config=OPERS)
    b = await start_node(nursery, store, "b", config=OPERS)
    return store, a, b


async def test_oper_is_local_but_its_mode_is_shared_and_kill_reaches_another_node(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(30):
        store, a, b = await two_nodes(nursery)
        alice = await a.client("alice", channel="#room")
        bob = await b.client("bob", channel="#room")
        await alice.send(f"OPER admin :{PASSWORD}")
        await alice.expect("381")
        await bob.send("WHO alice")
        assert "*" in (await bob.expect("352")).params[6]  # +o is known on node b
        assert not any(PASSWORD in encode(event) for _, event in store.log)
        assert any(isinstance(event, UserModes) for _, event in store.log)
        await alice.send("KILL bob :enough")
        killed = await bob.expect("KILL")
        assert killed.params[0] == "bob"
        quit_ = await alice.expect("QUIT")
        assert (quit_.source or "").startswith("bob!")
        again = await b.client("bob")  # the nick was freed network-wide at once
        await again.send("WHOIS alice")
        await again.expect("311", "bob", "alice")


async def test_a_kline_on_one_node_removes_and_refuses_users_of_another(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(30):
        _, a, b = await two_nodes(nursery)
        alice = await a.client("alice")
        await alice.send(f"OPER admin :{PASSWORD}")
        await alice.expect("381")
        bob = await b.client("bob")
        await bob.send("WHOIS bob")
        host = (await bob.expect("311")).params[3]
        await alice.send(f"KLINE *@{host} :go away")
        await bob.expect("ERROR")
        # alice shares bob's host (in-memory connections): she is removed too, everywhere.
        late = await b.harness.connect()
        await late.send("NICK carol", "USER c 0 * :c")
        await late.expect("465")


async def test_an_invite_lets_a_user_of_another_node_into_an_invite_only_room(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(30):
        _, a, b = await two_nodes(nursery)
        alice = await a.client("alice", channel="#room")
        bob = await b.client("bob")
        await alice.send("MODE #room +i")
        await alice.expect("MODE")
        await bob.send("JOIN #room")
        await bob.expect("473")
        await alice.send("INVITE bob #room")
        await alice.expect("341")
        await bob.expect("INVITE")
        await bob.send("JOIN #room")
        joined = await alice.expect("JOIN")
        assert (joined.source or "").startswith("bob!")


async def test_wallops_reach_plus_w_users_of_every_node(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(30):
        _, a, b = await two_nodes(nursery)
        alice = await a.client("alice")
        bob = await b.client("bob")
        await bob.send("MODE bob +w")
        await bob.expect("MODE")
        await alice.send(f"OPER admin :{PASSWORD}")
        await alice.expect("381")
        await alice.send("WALLOPS :maintenance at noon")
        assert (await bob.expect("WALLOPS")).params == ("maintenance at noon",)


async def test_nickserv_lines_never_enter_the_log(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(30):
        store, a, _ = await two_nodes(nursery)
        alice = await a.client("alice")
        await alice.send("PRIVMSG NickServ :IDENTIFY alice hunter2", "PING :done")
        await alice.expect("PONG")
        lines = [event.line for _, event in store.log if isinstance(event, Line)]
        assert not any("hunter2" in line for line in lines)


async def test_readiness_and_metrics_report_the_cluster_link(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(60):
        _, a, _ = await two_nodes(nursery)
        alice = await a.client("alice", channel="#room")
        await alice.send("PRIVMSG #room :hi", "PING :done")
        await alice.expect("PONG")
        server = a.harness.server
        assert readiness_problems(server) == []
        text = exposition(server)
        assert "triochat_cluster_up 1" in text
        assert "triochat_cluster_events_applied_total" in text
        assert "triochat_cluster_append_seconds" in text
        a.cut[0] = True
        await alice.expect("NOTICE")  # told once that the link is down
        assert any("cluster" in problem for problem in readiness_problems(server))
        assert "triochat_cluster_up 0" in exposition(server)

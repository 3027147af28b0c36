"""Cluster mode: accounts, registered rooms and server bans are the network's, not a node's.

Two (or three) whole servers on one :class:`MemoryStore`, in real time bounded by
``trio.fail_after`` (logins hash their password in a worker thread, which a virtual
clock would jump over). An account registered on one node logs in on another, a
login is seen from every node, two nodes registering one name at once make
exactly one account, a room registered with ChanServ on one node gives its founder
``+o`` on another, and a K-line set before a node started is in force there.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import trio
import trio.testing
from cluster_harness import Node, start_node
from harness import config

from triochat._accounts.hashing import make_secrets
from triochat._cli.cluster import OWNER_TOOL
from triochat._cluster.bus import MemoryBus, MemoryStore
from triochat._cluster.events import AccountName, encode
from triochat._cluster.shared import SharedRecords
from triochat._opers.passwords import hash_password
from triochat._state.questions import ServerBan

if TYPE_CHECKING:
    from harness import IrcClient

    from triochat._irc.wire import Message

PASSWORD = "open sesame"
OPERS = config(opers=(("admin", hash_password(PASSWORD, log_cost=4)),))


async def two_nodes(nursery: trio.Nursery) -> tuple[MemoryStore, Node, Node]:
    store = MemoryStore()
    a = await start_node(nursery, store, "a", config=OPERS)
    b = await start_node(nursery, store, "b", config=OPERS)
    return store, a, b


async def sasl_plain(client: IrcClient, nick: str, account: str, password: str) -> str:
    """Log in with SASL PLAIN while registering; the numeric that ended SASL."""
    client.nick = nick
    await client.send("CAP LS 302", "CAP REQ :sasl", f"NICK {nick}", f"USER {nick} 0 * :R")
    await client.send("AUTHENTICATE PLAIN")
    await client.expect("AUTHENTICATE", "+")
    token = base64.b64encode(f"{account}\0{account}\0{password}".encode()).decode()
    await client.send("AUTHENTICATE " + token)
    while (message := await client.receive()).command not in ("903", "904"):
        pass
    await client.send("CAP END")
    await client.expect("376")
    return message.command


async def chat(client: IrcClient, count: int, command: str) -> list[Message]:
    return [await client.expect(command) for _ in range(count)]


async def registered(node: Node, nick: str, password: str) -> IrcClient:
    client = await node.client(nick)
    await client.send(f"REGISTER * * {password}")
    assert (await client.expect("REGISTER")).params[:2] == ("SUCCESS", nick)
    return client


async def test_an_account_registered_on_one_node_logs_in_on_another(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(30):
        store, a, b = await two_nodes(nursery)
        alice = await registered(a, "alice", "secret1")
        watcher = await a.client(
            "watcher", caps="account-tag account-notify message-tags", channel="#room"
        )
        await alice.send("QUIT")
        await alice.wait_closed()
        again = await b.harness.connect()
        assert await sasl_plain(again, "alice", "alice", "secret1") == "903"
        await again.send("JOIN #room")
        joined = await watcher.expect("JOIN")  # on node a, the user of b is logged in
        assert (joined.source or "").startswith("alice!")
        await again.send("PRIVMSG #room :hi")
        said = await watcher.expect("PRIVMSG")
        assert said.tags.get("account") == "alice"
        await watcher.send("WHOIS alice")
        assert (await watcher.expect("330")).params[1:3] == ("alice", "alice")
        wrong = await b.harness.connect()
        assert await sasl_plain(wrong, "bob", "alice", "nope") == "904"
        # Only outcomes travel: no password, no hash, no verifier in the log.
        log = "".join(encode(event) for _, event in store.log)
        assert "secret1" not in log
        assert "scrypt" not in log
        assert "stored_key" not in log


async def test_a_login_after_registering_is_seen_from_every_node(nursery: trio.Nursery) -> None:
    with trio.fail_after(30):
        _, a, b = await two_nodes(nursery)
        first = await registered(a, "alice", "secret1")
        await first.send("QUIT")
        await first.wait_closed()
        bob = await b.client("bob", caps="account-notify", channel="#room")
        alice = await a.client("alice", channel="#room")
        await bob.expect("JOIN")
        await alice.send("PRIVMSG NickServ :IDENTIFY secret1")
        await alice.expect("NOTICE", "alice", "You are now identified for alice")
        assert (await bob.expect("ACCOUNT")).params == ("alice",)
        await bob.send("WHOIS alice")
        assert (await bob.expect("330")).params[2] == "alice"


async def test_an_account_dropped_on_one_node_logs_out_its_users_on_every_node(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(30):
        _, a, b = await two_nodes(nursery)
        owner = await registered(a, "alice", "secret1")
        await owner.join("#room")
        phone = await b.client("alice_")
        await phone.send("PRIVMSG NickServ :IDENTIFY alice secret1")
        await phone.expect("900")
        watcher = await b.client("watcher", caps="account-notify", channel="#room")
        await phone.join("#room")
        await owner.send("PRIVMSG NickServ :DROP alice")
        await owner.expect("NOTICE", "alice", "alice has been dropped; its history stays with it")
        await phone.expect("901")  # logged out on its own node b too
        notified = {(m.source or "").partition("!")[0] for m in await chat(watcher, 2, "ACCOUNT")}
        assert notified == {"alice", "alice_"}
        await watcher.send("WHOIS alice_")
        reply = await watcher.expect("318")
        assert not any(m.command == "330" for m in watcher.skipped[-5:]), reply


async def test_a_ghost_disconnected_by_nickserv_quits_on_every_node(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(30):
        _, a, b = await two_nodes(nursery)
        ghost = await registered(a, "alice", "secret1")
        await ghost.join("#room")
        watcher = await b.client("watcher", channel="#room")
        owner = await a.client("alice2")
        await owner.send("PRIVMSG NickServ :IDENTIFY alice secret1")
        await owner.expect("900")
        await owner.send("PRIVMSG NickServ :GHOST alice")
        await ghost.expect("ERROR")
        quit_ = await watcher.expect("QUIT")  # node b hears it too
        assert (quit_.source or "").startswith("alice!")
        await watcher.send("ISON alice")
        assert (await watcher.expect("303")).params[-1] == ""
        taker = await b.client("alice")  # its nick is free network-wide at once
        await taker.expect("NOTICE", "alice")


async def test_two_nodes_creating_one_account_at_once_make_exactly_one() -> None:
    """Nicks are unique, so REGISTER cannot race itself; the store's create must not either."""
    store = MemoryStore()
    nodes = [SharedRecords(lambda: MemoryBus(store)) for _ in range(2)]
    password_hash, scram = make_secrets("secret1")
    made: list[object] = []

    async def create(records: SharedRecords) -> None:
        made.append(await records.create("Carol", password_hash, scram, email=None, now=1.0))

    async with trio.open_nursery() as nursery:
        for records in nodes:
            nursery.start_soon(create, records)
    assert sorted(account is None for account in made) == [False, True]
    assert await nodes[1].names() == ["Carol"]
    found = await nodes[1].get("carol")
    assert found is not None
    assert (found[0].name, found[1]) == ("Carol", password_hash)


async def outcome(client: IrcClient) -> Message:
    """The REGISTER success or FAIL that ``client`` gets next."""
    while (message := await client.receive()).command not in ("REGISTER", "FAIL"):
        pass
    return message


async def test_a_room_registered_on_one_node_ops_its_founder_on_another(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(30):
        _, a, b = await two_nodes(nursery)
        alice = await registered(a, "alice", "secret1")
        await alice.join("#room")
        await alice.send("PRIVMSG ChanServ :REGISTER #room")
        await alice.expect("NOTICE", "alice", "#room is registered to alice")
        await alice.send("TOPIC #room :kept", "QUIT")
        await alice.wait_closed()
        bob = await b.client("bob")
        await bob.send("JOIN #room")  # re-creates it on b, where bob is no operator
        assert (await bob.expect("332")).params[-1] == "kept"
        founder = await b.harness.connect()
        assert await sasl_plain(founder, "alice", "alice", "secret1") == "903"
        await founder.send("JOIN #room")
        given = await bob.expect("MODE")
        assert given.params == ("#room", "+o", "alice")
        assert (given.source or "").startswith("ChanServ!")
        await bob.send("PRIVMSG ChanServ :INFO #room")
        info = await bob.expect("NOTICE", "bob")
        assert info.params[1].startswith("#room is registered to alice since")


async def test_chanserv_commands_on_one_node_change_the_room_on_every_node(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(30):
        _, a, b = await two_nodes(nursery)
        alice = await registered(a, "alice", "secret1")
        await alice.join("#room")
        await alice.send("PRIVMSG ChanServ :REGISTER #room")
        await alice.expect("NOTICE", "alice", "#room is registered to alice")
        bob = await b.client("bob", channel="#room")
        await alice.send("CS OP #room bob")
        given = await bob.expect("MODE")
        assert given.params == ("#room", "+o", "bob")
        await bob.send("NAMES #room")  # node b's own copy agrees
        assert set((await bob.expect("353")).params[-1].split()) == {"@alice", "@bob"}
        await bob.send("PRIVMSG ChanServ :INFO #room")
        info = await bob.expect("NOTICE", "bob")
        assert info.params[1].startswith("#room is registered to alice since")


async def test_a_kline_set_while_a_node_was_cut_off_removes_its_users_when_it_relinks(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        store = MemoryStore()
        a = await start_node(nursery, store, "a")
        b = await start_node(nursery, store, "b")
        troll = await b.client("troll")
        friend = await b.client("friend")
        b.cut[0] = True
        await troll.expect("NOTICE", "troll")  # the link is lost
        # Meanwhile an operator of node a K-lines the troll (as its KLINE would save it).
        ban = ServerBan("K", "troll@*", "go away", "admin", trio.current_time())
        assert await SharedRecords(lambda: MemoryBus(store)).change_ban(ban, removed=False)
        b.cut[0] = False
        assert "K-lined: go away" in (await troll.expect("ERROR")).params[0]
        await friend.expect("NOTICE", "friend", "*** The link to the rest of the network is back.")
        watcher = await a.client("watcher")
        await watcher.send("ISON troll friend")
        assert (await watcher.expect("303")).params[-1] == "friend"
        again = await a.client("troll2")
        await again.send("NICK troll")  # its nick was freed network-wide
        assert (await again.expect("NICK")).params == ("troll",)


async def test_a_kline_set_before_a_node_started_is_in_force_there(
    nursery: trio.Nursery,
) -> None:
    with trio.fail_after(30):
        store = MemoryStore()
        a = await start_node(nursery, store, "a", config=OPERS)
        admin = await a.client("admin")
        await admin.send(f"OPER admin :{PASSWORD}")
        await admin.expect("381")
        await admin.send("KLINE troll@* :go away")
        await admin.sync()
        b = await start_node(nursery, store, "b", config=OPERS)
        late = await b.harness.connect()
        await late.send("NICK troll", "USER troll 0 * :t")
        await late.expect("465")


async def nodes_with_account(
    nursery: trio.Nursery, name: str, protection: str, *, delay: float = 30.0
) -> tuple[Node, Node]:
    """Two nodes whose shared store already holds account ``name`` (no hashing at run time)."""
    store = MemoryStore()
    password_hash, scram = make_secrets("secret1")
    records = SharedRecords(lambda: MemoryBus(store))
    assert await records.create(name, password_hash, scram, email=None, now=0.0) is not None
    protected = config(nick_protection=protection, nick_protection_delay=delay)
    a = await start_node(nursery, store, "a", config=protected)
    b = await start_node(nursery, store, "b", config=protected)
    return a, b


async def test_nick_protection_renames_a_user_of_another_node_everywhere(
    nursery: trio.Nursery,
) -> None:
    # Real time: the state's grace period is on the wall clock, which a mock clock never moves.
    with trio.fail_after(30):
        a, b = await nodes_with_account(nursery, "alice", "warn", delay=0.2)
        watcher = await a.client("watcher", channel="#room")
        taker = await b.client("alice")
        warning = await taker.expect("NOTICE", "alice")
        assert "is a registered account" in warning.params[1]
        await taker.join("#room")
        await watcher.expect("JOIN")
        renamed = await watcher.expect("NICK")  # after the grace period, seen on node a too
        guest = renamed.params[0]
        assert guest.startswith("Guest")
        assert (renamed.source or "").startswith("alice!")
        assert (await taker.expect("NICK")).params == (guest,)
        told = await taker.expect("NOTICE", guest)
        assert "alice belongs to an account" in told.params[1]
        for node in (a, b):
            network = node.harness.server.state.network
            assert network.holder("alice") is None
            holder = network.holder(guest)
            assert holder is not None
        newcomer = await a.client("alice")  # the nick is free network-wide
        await newcomer.expect("NOTICE", "alice")


async def test_strict_nick_protection_refuses_a_registered_nick_on_any_node(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(30):
        _, b = await nodes_with_account(nursery, "alice", "strict")
        bob = await b.client("bob")
        await bob.send("NICK alice")
        assert (await bob.expect("433")).params[1] == "alice"


async def test_an_account_name_from_the_owners_tool_is_reserved_by_running_nodes(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """``triochat account create --cluster`` is no node and never bursts: its event applies."""
    with trio.fail_after(30):
        store = MemoryStore()
        a = await start_node(nursery, store, "a", config=config(nick_protection="warn"))
        store.append(AccountName(OWNER_TOOL, "Dave", registered=True))
        watcher = await a.client("watcher", channel="#sync")  # applied after the name
        await watcher.send("PART #sync")
        await watcher.expect("PART")
        dave = await a.client("dave")
        warning = await dave.expect("NOTICE", "dave")
        assert "is a registered account" in warning.params[1]


async def test_dropping_a_founder_on_one_node_unregisters_its_rooms_on_every_node(
    nursery: trio.Nursery,
) -> None:
    """As on one server: the rooms a dropped account founded stop being registered, in the
    shared store and on every node, and its access entries in other rooms go too."""
    with trio.fail_after(30):
        store, a, b = await two_nodes(nursery)
        alice = await registered(a, "alice", "secret1")
        await alice.join("#hers")
        await alice.send("PRIVMSG ChanServ :REGISTER #hers")
        await alice.expect("NOTICE", "alice", "#hers is registered to alice")
        bob = await registered(b, "bob", "secret2")
        await bob.join("#his")
        await bob.send(
            "PRIVMSG ChanServ :REGISTER #his", "PRIVMSG ChanServ :ACCESS #his ADD alice op"
        )
        await bob.expect("NOTICE", "bob", "#his is registered to bob")
        await bob.expect("NOTICE", "bob")
        await alice.send("PRIVMSG NickServ :DROP alice")
        dropped = await alice.expect("NOTICE", "alice")
        assert dropped.params[1].endswith("no longer registered: #hers")
        await bob.send("PRIVMSG ChanServ :INFO #hers")  # node b forgot it too
        assert (await bob.expect("NOTICE", "bob")).params[1] == "#hers is not registered"
        await bob.send("PRIVMSG ChanServ :ACCESS #his LIST")
        listed = [(await bob.expect("NOTICE", "bob")).params[1]]
        while not listed[-1].startswith("End of the access list"):
            listed.append((await bob.expect("NOTICE", "bob")).params[1])
        assert not any("alice" in line for line in listed), listed
        rooms = await SharedRecords(lambda: MemoryBus(store)).rooms()
        assert [room.name for room in rooms] == ["#his"]
        assert rooms[0].access == ()

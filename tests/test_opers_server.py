"""Operators, bans and long LISTs through the trio server (issue 12).

In memory with the autojump clock where nothing runs in a thread; the
password check runs scrypt in a worker thread, so those tests use the real
clock under ``trio.fail_after`` (and never sleep). One test goes over real
loopback sockets, one restarts a server on the same database.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing
from harness import IrcClient, MemoryListener, ServerHarness, config

from triochat._history.store import HistoryStore
from triochat._opers.passwords import hash_password, is_password_hash, verify_password
from triochat._server import services
from triochat._server.server import ChatServer
from triochat._state.effects import ConnId
from triochat._state.questions import ServerBan

if TYPE_CHECKING:
    from pathlib import Path

#: A cheap hash (scrypt N=2**4): the tests check the path, not the cost.
HASH = hash_password("open sesame", log_cost=4)
OPERS = config(opers=(("admin", HASH),))


def test_hashes_verify_only_their_password() -> None:
    assert is_password_hash(HASH)
    assert verify_password("open sesame", HASH)
    assert not verify_password("open sesame!", HASH)
    assert not verify_password("open sesame", "plain text")
    assert not is_password_hash("hunter2")
    assert hash_password("x", log_cost=4) != hash_password("x", log_cost=4)  # salted


@pytest.mark.parametrize("server_config", [OPERS])
async def test_oper_login_hashes_in_a_thread_and_the_room_goes_on(
    harness: ServerHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a password check is stuck in its thread, everyone else still chats."""
    release = threading.Event()
    started = trio.Event()
    token = trio.lowlevel.current_trio_token()

    def slow_verify(password: str, hashed: str) -> bool:
        token.run_sync_soon(started.set)
        release.wait(10)
        return verify_password(password, hashed)

    monkeypatch.setattr(services, "verify_password", slow_verify)
    with trio.fail_after(10):
        alice = await harness.client("alice")
        bob = await harness.client("bob", channel="#room")
        carol = await harness.client("carol", channel="#room")
        await alice.send("OPER admin :open sesame")
        await started.wait()
        await bob.send("PRIVMSG #room :still here")
        await carol.expect("PRIVMSG", "#room", "still here")
        release.set()
        await alice.expect("381")
        mode = await alice.expect("MODE")
        assert mode.params == ("alice", "+o")


@pytest.mark.parametrize("server_config", [OPERS])
async def test_wrong_passwords_get_464_and_the_third_disconnects(harness: ServerHarness) -> None:
    with trio.fail_after(10):
        alice = await harness.client("alice")
        for _ in range(2):
            await alice.send("OPER admin :wrong")
            await alice.expect("464")
        await alice.send("OPER admin :wrong")
        await alice.expect("464")
        rest = await alice.wait_closed()
        assert rest[-1].params == ("Closing link: Too many failed OPER attempts",)


async def _oper(client: IrcClient) -> None:
    await client.send("OPER admin :open sesame")
    await client.expect("381")


@pytest.mark.parametrize("server_config", [OPERS])
async def test_kline_disconnects_a_connected_user_and_refuses_it_again(
    harness: ServerHarness,
) -> None:
    with trio.fail_after(10):
        alice = await harness.client("alice", channel="#room")
        bob = await harness.client("bob", channel="#room")
        await _oper(alice)
        await alice.send("KLINE bob@* :spam")
        quit_ = await alice.expect("QUIT")
        assert quit_.params == ("K-lined: spam",)
        assert (await bob.wait_closed())[-1].params == ("Closing link: K-lined: spam",)
        again = await harness.connect()
        await again.send("NICK bob", "USER bob 0 * :Bob")
        refused = await again.expect("465")
        assert refused.params[-1] == "You are banned from this server: spam"
        assert (await again.wait_closed())[-1].command == "ERROR"
        carol = await harness.client("carol")  # another user is welcome
        await carol.sync()


async def test_a_list_of_ten_thousand_channels_stalls_nobody(
    autojump_clock: trio.testing.MockClock, harness: ServerHarness
) -> None:
    with trio.fail_after(60):
        alice = await harness.client("alice")
        bob = await harness.client("bob", channel="#room")
        carol = await harness.client("carol", channel="#room")
        state = harness.server.state
        owner = state.network.user("bob")
        assert owner is not None
        for n in range(10_000):
            state.network.join(owner, f"#c{n}", 0.0)
        await alice.send("LIST")
        await bob.send("PRIVMSG #room :while listing")
        await carol.expect("PRIVMSG", "#room", "while listing")
        lister = state.network.user("alice")
        assert lister is not None
        assert lister.listing is not None, "the LIST should still be going out"
        replies = await alice.collect_until("323")
        assert sum(message.command == "322" for message in replies) == 10_001
        assert lister.listing is None


async def test_oper_and_ban_over_real_sockets(nursery: trio.Nursery) -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await nursery.start(ChatServer(OPERS).serve, listeners)
    with trio.fail_after(10):
        alice = IrcClient(await trio.open_tcp_stream("127.0.0.1", port))
        await alice.register("alice")
        await alice.join("#room")
        await alice.send("MODE #room +b bob")
        await alice.expect("MODE", "#room", "+b", "bob!*@*")
        bob = IrcClient(await trio.open_tcp_stream("127.0.0.1", port))
        await bob.register("bob")
        await bob.send("JOIN #room")
        await bob.expect("474", "bob", "#room")
        await _oper(alice)
        await alice.send("KILL bob :bye")
        assert (await bob.wait_closed())[-1].params == ("Closing link: Killed (alice (bye))",)
        await bob.stream.aclose()
        await alice.stream.aclose()


async def test_klines_survive_a_restart(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """The ban is saved through the server's answer, read back by a new server."""
    path = tmp_path / "history.db"
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            listener = MemoryListener()
            server = ChatServer(OPERS, store=HistoryStore.open(path, threaded=False))
            await nursery.start(server.serve, [listener])
            first = ServerHarness(server, listener)
            alice = await first.client("alice")
            # OPER would run scrypt in a thread; make alice an operator directly.
            server.state.network.clients[ConnId(1)].modes |= {"o"}
            await alice.send("KLINE 30 bob@* :flooding", "DLINE 192.0.2.0/24 :bots")
            await alice.sync()
            nursery.cancel_scope.cancel()
        store = HistoryStore.open(path, threaded=False)
        saved = store.server_bans(0.0)
        store.close()
        assert [(ban.kind, ban.mask, ban.reason) for ban in saved] == [
            ("K", "bob@*", "flooding"),
            ("D", "192.0.2.0/24", "bots"),
        ]
        assert saved[0].expires is not None
        async with trio.open_nursery() as nursery:
            listener = MemoryListener()
            server = ChatServer(OPERS, store=HistoryStore.open(path, threaded=False))
            await nursery.start(server.serve, [listener])
            second = ServerHarness(server, listener)
            bob = await second.connect()
            await bob.send("NICK bob", "USER bob 0 * :Bob")
            await bob.expect("465")
            nursery.cancel_scope.cancel()


def test_the_store_migrates_and_forgets_lapsed_bans(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path / "bans.db", threaded=False)
    store.save_server_ban(ServerBan("K", "*@a", "r", "op", 1.0, None))
    store.save_server_ban(ServerBan("K", "*@b", "r", "op", 2.0, 100.0))
    store.save_server_ban(ServerBan("K", "*@a", "new reason", "op", 3.0, None))
    assert [(ban.mask, ban.reason) for ban in store.server_bans(50.0)] == [
        ("*@b", "r"),
        ("*@a", "new reason"),
    ]
    assert [ban.mask for ban in store.server_bans(150.0)] == ["*@a"]
    store.delete_server_ban("K", "*@a")
    assert store.server_bans(150.0) == []
    store.close()

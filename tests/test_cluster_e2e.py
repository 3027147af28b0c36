"""Cluster mode end to end: one real ``redis-server`` and real ``triochat serve --cluster`` nodes.

One Redis serves the whole module (started on a free port, emptied between
tests, stopped by PID); each test starts its own nodes with a short
``--node-timeout``. Real time and real sockets, so every wait has a deadline.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import subprocess
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
import trio
from harness import IrcClient
from processes import ServerProcess, Tmux, connect, require, serve, triochat_command

from triochat._accounts.hashing import make_secrets
from triochat._cluster.redis import connect as connect_redis
from triochat._opers.passwords import hash_password

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from triochat._cluster.shared import SharedRecords

pytestmark = pytest.mark.e2e

NODE_TIMEOUT = 2.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _redis_command(port: int, *words: str) -> bytes:
    """Send one command to Redis in its inline form; its first reply line."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(" ".join(words).encode() + b"\r\n")
        return sock.recv(65536)


@dataclass
class RedisServer:
    """A private ``redis-server`` with no persistence, on one port for the whole module."""

    executable: str
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *(self.executable, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.PIPE,
        )
        # redis-server says when it listens: wait for that line (its log ends if it dies).
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if b"Ready to accept connections" in line:
                break
        else:
            raise AssertionError("redis-server exited before accepting connections")
        self.process.stdout.close()
        assert _redis_command(self.port, "PING").startswith(b"+PONG")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def flush(self) -> None:
        assert _redis_command(self.port, "FLUSHALL").startswith(b"+OK")


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.skip("redis-server is not installed (on Debian: apt-get install redis-server)")
    server = RedisServer(executable)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis(redis_server: RedisServer) -> RedisServer:
    """The module's Redis, running and empty."""
    if redis_server.process is None:
        redis_server.start()
    redis_server.flush()
    return redis_server


async def nodes(
    stack: AsyncExitStack, redis: RedisServer, *names: str, extra: tuple[str, ...] = ()
) -> list[ServerProcess]:
    """Start one ``triochat serve --cluster`` per name (stopped by PID when ``stack`` closes)."""
    started = []
    for name in names:
        args = ("--cluster", redis.url, "--node-name", name, "--node-timeout", str(NODE_TIMEOUT))
        started.append(await stack.enter_async_context(serve(*args, *extra)))
    return started


async def open_irc(stack: AsyncExitStack, server: ServerProcess) -> IrcClient:
    """A TCP connection to ``server``, closed when ``stack`` closes."""
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    stack.push_async_callback(stream.aclose)
    return IrcClient(stream)


async def client(
    stack: AsyncExitStack, server: ServerProcess, nick: str, channel: str | None = None
) -> IrcClient:
    irc = await open_irc(stack, server)
    await irc.register(nick)
    if channel is not None:
        await irc.join(channel)
    return irc


async def test_a_room_a_private_message_and_history_across_two_real_nodes(
    redis: RedisServer,
) -> None:
    async with AsyncExitStack() as stack:
        with trio.fail_after(40):
            a, b = await nodes(stack, redis, "a", "b")
            alice = await client(stack, a, "alice", "#room")
            bob = await client(stack, b, "bob", "#room")
            assert (await alice.expect("JOIN")).source == "bob!~bob@127.0.0.1"
            await alice.send("PRIVMSG #room :hello from a")
            assert (await bob.expect("PRIVMSG")).params == ("#room", "hello from a")
            await bob.send("PRIVMSG alice :psst")
            assert (await alice.expect("PRIVMSG")).params == ("alice", "psst")
            await bob.send("LUSERS", "LINKS")
            assert (await bob.expect("251")).params[-1].endswith("on 2 servers")
            links = [(await bob.expect("364")).params[2], (await bob.expect("364")).params[2]]
            assert sorted(links) == ["a", "b"]
            # A late joiner on either node is replayed the same messages, same ids and times.
            caps = "batch server-time message-tags"
            replays = []
            for server, nick in ((a, "late_a"), (b, "late_b")):
                late = await open_irc(stack, server)
                await late.register(nick, caps=caps)
                await late.send("JOIN #room")
                _, lines = await late.batch()
                replays.append([(m.params[-1], m.tags["msgid"], m.tags["time"]) for m in lines])
            assert replays[0] == replays[1]
            assert [text for text, _, _ in replays[0]] == ["hello from a"]


async def test_two_real_nodes_racing_for_one_nick_exactly_one_wins(redis: RedisServer) -> None:
    async with AsyncExitStack() as stack:
        with trio.fail_after(30):
            a, b = await nodes(stack, redis, "a", "b")
            for round_ in range(3):
                nick = f"racer{round_}"
                first = await open_irc(stack, a)
                second = await open_irc(stack, b)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(first.send, f"NICK {nick}", "USER x 0 * :x")
                    nursery.start_soon(second.send, f"NICK {nick}", "USER y 0 * :y")
                outcomes = []
                for racer in (first, second):
                    message = await racer.receive()
                    while message.command not in ("001", "433"):
                        message = await racer.receive()
                    outcomes.append(message.command)
                assert sorted(outcomes) == ["001", "433"]


async def test_a_node_killed_with_sigkill_is_noticed_within_the_node_timeout(
    redis: RedisServer,
) -> None:
    async with AsyncExitStack() as stack:
        with trio.fail_after(30):
            a, b = await nodes(stack, redis, "a", "b")
            alice = await client(stack, a, "alice", "#room")
            await client(stack, b, "bob", "#room")
            await alice.expect("JOIN")
            killed_at = trio.current_time()
            b.process.kill()
            quit_ = await alice.expect("QUIT")
            assert quit_.source == "bob!~bob@127.0.0.1"
            assert quit_.params == ("node b lost",)
            assert trio.current_time() - killed_at < NODE_TIMEOUT * 2 + 1
            again = await client(stack, a, "bob")  # the nick is free
            await again.sync()


async def test_a_node_stopped_with_sigterm_says_goodbye_at_once(redis: RedisServer) -> None:
    async with AsyncExitStack() as stack:
        with trio.fail_after(30):
            a, b = await nodes(stack, redis, "a", "b")
            alice = await client(stack, a, "alice", "#room")
            bob = await client(stack, b, "bob", "#room")
            await alice.expect("JOIN")
            stopped_at = trio.current_time()
            b.process.terminate()
            quit_ = await alice.expect("QUIT")
            assert quit_.source == "bob!~bob@127.0.0.1"
            assert trio.current_time() - stopped_at < NODE_TIMEOUT
            assert (await bob.wait_closed())[-1].command == "ERROR"
            await bob.stream.aclose()  # as IRC clients do on ERROR
            assert await b.process.wait() == 0
            await client(stack, a, "bob")  # the nick is free at once


async def test_redis_stopped_for_seconds_then_restarted_empty_is_survived(
    redis: RedisServer,
) -> None:
    async with AsyncExitStack() as stack:
        with trio.fail_after(45):
            a, b = await nodes(stack, redis, "a", "b")
            alice = await client(stack, a, "alice", "#room")
            bob = await client(stack, b, "bob", "#room")
            await alice.expect("JOIN")
            redis.stop()
            assert "lost its link" in (await alice.expect("NOTICE")).params[-1]
            assert "lost its link" in (await bob.expect("NOTICE")).params[-1]
            await alice.send("PRIVMSG #room :while redis is down")
            fail = await alice.expect("FAIL")
            assert fail.params[:2] == ("PRIVMSG", "CLUSTER_UNAVAILABLE")
            newcomer = await open_irc(stack, a)
            await newcomer.send("NICK carol", "USER c 0 * :c")
            assert any(m.command == "ERROR" for m in await newcomer.wait_closed())
            await trio.sleep(3)
            redis.start()  # the same port, with nothing in it
            assert "is back" in (await alice.expect("NOTICE")).params[-1]
            assert "is back" in (await bob.expect("NOTICE")).params[-1]
            await trio.sleep(0.5)  # the bursts of both nodes
            await alice.send("PRIVMSG #room :redis is back")
            assert (await bob.expect("PRIVMSG")).params == ("#room", "redis is back")
            await bob.send("NAMES #room")
            assert set((await bob.expect("353")).params[-1].split()) == {"@alice", "bob"}
            carol = await client(stack, b, "carol")
            await carol.sync()


async def test_irssi_on_one_node_and_triochat_connect_on_the_other_chat(
    redis: RedisServer, tmp_path: Path
) -> None:
    """What the README's Cluster section has a newcomer do, with real clients."""
    irssi = require("irssi")
    tmux = Tmux(require("tmux"), f"triochat-cluster-{os.getpid()}-{secrets.token_hex(4)}")
    home = tmp_path / "irssi"
    home.mkdir()
    (home / "config").write_text('settings = { "irc/core" = { cmd_queue_speed = "0"; }; };\n')
    async with AsyncExitStack() as stack:
        a, b = await nodes(stack, redis, "a", "b")
        bob = await stack.enter_async_context(connect("--port", str(b.port), "--nick", "bob"))
        try:
            with trio.fail_after(60):
                await bob.output.wait_for("here in #lobby")
                irssi_command = [irssi, f"--home={home}", "-n", "alice"]
                await tmux.start([*irssi_command, "-c", "127.0.0.1", "-p", str(a.port)])
                await tmux.wait_for("Welcome to the triochat IRC Network")
                await tmux.type("/join #lobby")
                await bob.output.wait_for("alice has joined #lobby")
                await tmux.type("hello from irssi on node a")
                await bob.output.wait_for("<alice> hello from irssi on node a")
                await bob.say("hi alice, from node b")
                await tmux.wait_for("hi alice, from node b")
                await tmux.type("/quit bye")
                await bob.output.wait_for("alice has quit")
                assert await bob.finish() == 0
        finally:
            await tmux.close()


async def sasl_plain(irc: IrcClient, nick: str, password: str) -> str:
    """Register as ``nick`` logging in to the account of that name; the numeric ending SASL."""
    irc.nick = nick
    await irc.send("CAP LS 302", "CAP REQ :sasl", f"NICK {nick}", f"USER {nick} 0 * :{nick}")
    await irc.send("AUTHENTICATE PLAIN")
    await irc.expect("AUTHENTICATE", "+")
    token = base64.b64encode(f"{nick}\0{nick}\0{password}".encode()).decode()
    await irc.send("AUTHENTICATE " + token)
    while (message := await irc.receive()).command not in ("903", "904"):
        pass
    await irc.send("CAP END")
    await irc.expect("376")
    return message.command


async def test_an_account_and_a_room_registered_on_one_real_node_work_on_the_other(
    redis: RedisServer,
) -> None:
    async with AsyncExitStack() as stack:
        with trio.fail_after(40):
            a, b = await nodes(stack, redis, "a", "b")
            alice = await client(stack, a, "alice", "#room")
            await alice.send("REGISTER * * secret1")
            assert (await alice.expect("REGISTER")).params[:2] == ("SUCCESS", "alice")
            await alice.send("PRIVMSG ChanServ :REGISTER #room")
            await alice.expect("NOTICE", "alice", "#room is registered to alice")
            await alice.send("QUIT")
            await alice.expect("ERROR")
            bob = await client(stack, a, "bob", "#room")  # re-creates it on node a
            again = await open_irc(stack, b)
            assert await sasl_plain(again, "alice", "secret1") == "903"
            await again.send("JOIN #room")
            assert (await again.expect("MODE")).params == ("#room", "+o", "alice")
            await bob.send("WHOIS alice")  # node a knows the login made on node b
            assert (await bob.expect("330")).params[1:3] == ("alice", "alice")
            await bob.send("NAMES #room")
            assert "@alice" in (await bob.expect("353")).params[-1].split()


async def test_a_real_node_started_after_messages_were_sent_returns_them(
    redis: RedisServer,
) -> None:
    async with AsyncExitStack() as stack:
        with trio.fail_after(40):
            (a,) = await nodes(stack, redis, "a")
            alice = await client(stack, a, "alice", "#room")
            for n in range(3):
                await alice.send(f"PRIVMSG #room :before b {n}")
            await alice.send("PING sync")
            await alice.expect("PONG")
            (b,) = await nodes(stack, redis, "b")
            late = await open_irc(stack, b)
            await late.register("late", caps="batch server-time message-tags draft/chathistory")
            await late.join("#room")
            await late.send("CHATHISTORY LATEST #room * 10")
            _, lines = await late.batch()
            assert [m.params[-1] for m in lines] == [f"before b {n}" for n in range(3)]


async def test_a_kline_on_one_real_node_removes_and_refuses_a_user_of_the_other(
    redis: RedisServer,
) -> None:
    oper = f"admin:{hash_password('open-sesame', log_cost=4)}"
    async with AsyncExitStack() as stack:
        with trio.fail_after(40):
            a, b = await nodes(stack, redis, "a", "b", extra=("--oper", oper))
            admin = await client(stack, a, "admin")
            await admin.send("OPER admin open-sesame")
            await admin.expect("381")
            troll = await client(stack, b, "troll")
            await admin.send("KLINE troll@* :go away")
            assert "go away" in (await troll.expect("ERROR")).params[0]
            back = await open_irc(stack, b)
            await back.send("NICK troll", "USER troll 0 * :t")
            await back.expect("465")


async def test_two_links_creating_one_account_in_real_redis_make_exactly_one(
    redis: RedisServer,
) -> None:
    from triochat._cluster.shared import SharedRecords

    password_hash, scram = make_secrets("secret1")
    made: list[object] = []

    async def create(records: SharedRecords) -> None:
        made.append(await records.create("Carol", password_hash, scram, email=None, now=1))

    async def link() -> None:
        link = connect_redis(redis.url, call_timeout=5.0, nick_ttl=10.0)
        async with link as bus, trio.open_nursery() as tries:  # many at once: still one
            for _ in range(5):
                tries.start_soon(create, SharedRecords(lambda: bus))

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(link)
            nursery.start_soon(link)
        async with connect_redis(redis.url, call_timeout=5.0, nick_ttl=10.0) as bus:
            records = SharedRecords(lambda: bus)
            assert await records.names() == ["Carol"]
            found = await records.get("CAROL")
    assert [account is not None for account in made].count(True) == 1
    assert found is not None
    assert found[1] == password_hash


async def test_the_owner_creates_an_account_in_the_cluster_and_the_nodes_use_it(
    redis: RedisServer,
) -> None:
    create = [*triochat_command("account", "create", "carol", "--cluster", redis.url)]
    env = {**os.environ, "TRIOCHAT_PASSWORD": "secret1"}
    with trio.fail_after(30):
        made = await trio.run_process(create, env=env, capture_stderr=True, check=False)
        assert made.returncode == 0, made.stderr
        again = await trio.run_process(create, env=env, capture_stderr=True, check=False)
        assert again.returncode == 1  # taken: one account per name in the network
        unreachable = [*create[:-1], f"redis://127.0.0.1:{_free_port()}/0"]
        failed = await trio.run_process(unreachable, env=env, capture_stderr=True, check=False)
        assert failed.returncode == 2
        assert b"cannot reach" in failed.stderr
        async with AsyncExitStack() as stack:
            (a,) = await nodes(stack, redis, "a")
            watcher = await client(stack, a, "watcher")
            await trio.run_process([("dave" if w == "carol" else w) for w in create], env=env)
            # A JOIN is applied in log order, after the new account's name: the running
            # node reserves that nick from then on (nick protection warns who takes it).
            await watcher.join("#sync")
            dave = await client(stack, a, "dave")
            warning = await dave.expect("NOTICE", "dave")
            assert "is a registered account" in warning.params[1]
            carol = await open_irc(stack, a)
            assert await sasl_plain(carol, "carol", "secret1") == "903"

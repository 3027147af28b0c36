"""Live reload in process: ChatServer.reload, the Reloader on a file, a TLS certificate swap."""

from __future__ import annotations

import argparse
import logging
import ssl
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest
import trio
import trustme
from cryptography import x509
from harness import IrcClient, MemoryListener, config

from triochat._ops.launch import load
from triochat._ops.reload import Reloader
from triochat._server.server import ChatServer
from triochat._server.tlsswap import SwappableTlsListener, TlsContextHolder

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from harness import ServerHarness


async def motd_of(client: IrcClient) -> list[str]:
    await client.send("MOTD")
    messages = await client.collect_until("376")
    return [message.params[-1] for message in messages if message.command == "372"]


async def test_reload_applies_the_motd_and_keeps_what_needs_a_restart(
    harness: ServerHarness,
) -> None:
    alice = await harness.client("alice", channel="#room")
    server = harness.server
    notes = server.reload(
        replace(server.config, motd=("fresh news",), server_name="other.name", max_channels=3)
    )
    assert notes == ["server_name changed: restart needed"]
    assert server.config.server_name == "test.server"
    assert server.state.config is server.config
    assert server.config.max_channels == 3
    assert await motd_of(alice) == ["- fresh news"]
    await alice.send("JOIN #b,#c,#d")
    assert (await alice.expect("405")).params[1] == "#d"  # the new channel limit, at once


async def test_a_lower_connection_limit_refuses_newcomers_and_keeps_everyone(
    harness: ServerHarness,
) -> None:
    alice = await harness.client("alice")
    bob = await harness.client("bob")
    harness.server.reload(replace(harness.server.config, max_clients=2))
    refused = await harness.connect()
    assert "limit 2" in (await refused.expect("ERROR")).params[0]
    await alice.sync()
    await bob.sync()


@pytest.mark.parametrize("server_config", [config(history_replay=50)])
async def test_reload_changes_history_retention(
    harness: ServerHarness, autojump_clock: trio.testing.MockClock
) -> None:
    alice = await harness.client("alice", channel="#room")
    for index in range(5):
        await alice.send(f"PRIVMSG #room :message {index}")
    await alice.sync()
    history = harness.server.history
    assert history is not None
    await history.settled()
    assert history.store.count() == 5
    harness.server.reload(replace(harness.server.config, history_max_per_channel=2))
    while history.store.count() != 2:  # noqa: ASYNC110 (pruning offers no event to await)
        await trio.sleep(1)


# -- the Reloader: re-reading a file ----------------------------------------------------------


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    file = tmp_path / "triochat.toml"
    (tmp_path / "motd.txt").write_text("first motd\n", encoding="utf-8")
    file.write_text(f'[server]\nmotd_file = "{tmp_path / "motd.txt"}"\n', encoding="utf-8")
    return file


def write(file: Path, text: str | None, *, append: bool = False) -> None:
    """Change a file the server reads (None: delete it)."""
    if text is None:
        file.unlink()
    else:
        file.write_text((file.read_text(encoding="utf-8") if append else "") + text, "utf-8")


@pytest.fixture
def keep_log_level() -> Iterator[None]:
    level = logging.getLogger().level
    yield
    logging.getLogger().setLevel(level)


@pytest.mark.usefixtures("keep_log_level")
async def test_the_reloader_rereads_the_file_and_flags_still_win(
    nursery: trio.Nursery, config_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    args = argparse.Namespace(config=config_file, max_channels=7, history=False)
    launch = load(args)
    server = ChatServer(launch.server)
    listener = MemoryListener()
    await nursery.start(server.serve, [listener])
    reloader = Reloader(server, launch, args)
    write(tmp_path / "motd.txt", "second motd\n")
    write(
        config_file,
        "[limits]\nmax_channels = 99\nmax_per_ip = 3\n[logging]\nlevel = 'warning'\n",
        append=True,
    )
    assert await reloader.reload() == []
    assert server.config.motd == ("second motd",)
    assert (server.config.max_channels, server.config.max_per_ip) == (7, 3)  # the flag wins
    assert logging.getLogger().level == logging.WARNING

    write(config_file, "[listeners]\nport = 7000\n")
    assert await reloader.reload() == ["listener addresses changed: restart needed"]
    assert server.config.motd is not None
    assert "Welcome" in server.config.motd[0]  # no motd_file any more: the default


async def test_an_invalid_file_changes_nothing_and_says_why(
    nursery: trio.Nursery, config_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    args = argparse.Namespace(config=config_file, history=False)
    launch = load(args)
    server = ChatServer(launch.server)
    await nursery.start(server.serve, [MemoryListener()])
    reloader = Reloader(server, launch, args)
    before = server.config
    write(config_file, "[limits]\nmax_clients = -1\n")
    notes = await reloader.reload()
    assert notes == [
        f"reload refused, nothing changed: {config_file}:2: limits.max_clients:"
        " must be 0 (no limit) or more, not -1"
    ]
    assert server.config is before
    assert "reload refused, nothing changed" in caplog.text
    write(config_file, None)
    assert "cannot read it" in (await reloader.reload())[0]
    assert server.config is before


# -- TLS: new handshakes get the new certificate, old connections carry on ---------------------


def serial(leaf: trustme.LeafCert) -> int:
    return x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).serial_number


def context_for(leaf: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    return context


async def tls_client(port: int, ca: trustme.CA) -> tuple[IrcClient, int]:
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    tcp = await trio.open_tcp_stream("127.0.0.1", port)
    stream = trio.SSLStream(tcp, client_ctx, server_hostname="localhost")
    await stream.do_handshake()
    peer = stream.getpeercert()
    assert peer is not None
    return IrcClient(stream), int(str(peer["serialNumber"]), 16)


async def test_a_swapped_certificate_serves_new_handshakes(nursery: trio.Nursery) -> None:
    ca = trustme.CA()
    old, new = ca.issue_cert("localhost"), ca.issue_cert("localhost")
    holder = TlsContextHolder(context_for(old))
    transports = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = transports[0].socket.getsockname()[1]
    listeners = [SwappableTlsListener(listener, holder) for listener in transports]
    await nursery.start(ChatServer(config(history=False)).serve, listeners)
    with trio.fail_after(10):
        alice, alice_serial = await tls_client(port, ca)
        await alice.register("alice")
        assert alice_serial == serial(old)
        holder.context = context_for(new)
        bob, bob_serial = await tls_client(port, ca)
        await bob.register("bob")
        assert bob_serial == serial(new)
        await alice.send("PRIVMSG bob :still here")  # the old connection carries on
        assert (await bob.expect("PRIVMSG")).params[1] == "still here"
    for client in (alice, bob):
        await trio.aclose_forcefully(client.stream)


async def test_a_listener_change_is_reported_until_a_restart(
    nursery: trio.Nursery, config_file: Path
) -> None:
    args = argparse.Namespace(config=config_file, history=False)
    launch = load(args)
    server = ChatServer(launch.server)
    await nursery.start(server.serve, [MemoryListener()])
    reloader = Reloader(server, launch, args)
    write(config_file, "[listeners]\nhost = '::'\n")
    assert await reloader.reload() == ["listener addresses changed: restart needed"]
    assert await reloader.reload() == ["listener addresses changed: restart needed"]
    write(config_file, "")
    assert await reloader.reload() == []


async def test_a_reloaded_certificate_keeps_asking_for_client_certificates(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """SASL EXTERNAL survives a reload: the new context asks for (any) client certificate too."""
    from triochat._tls import make_dev_certificates, server_context

    _, cert = make_dev_certificates(tmp_path / "certs")
    file = tmp_path / "tls.toml"
    write(file, f'[listeners]\ntls = true\ncert = "{cert}"\n')
    args = argparse.Namespace(config=file, history=False)
    launch = load(args)
    holder = TlsContextHolder(server_context(cert, client_certs=True))
    server = ChatServer(launch.server)
    await nursery.start(server.serve, [MemoryListener()])
    first = holder.context
    notes = await Reloader(server, launch, args, tls=holder).reload()
    assert f"TLS certificate reloaded from {cert}" in notes
    assert holder.context is not first
    assert holder.context.verify_mode == ssl.CERT_OPTIONAL
    write(file, f'[listeners]\ntls = true\ncert = "{cert}"\n[accounts]\nenabled = false\n')
    await Reloader(server, load(args), args, tls=holder).reload()
    without_accounts = holder.context
    assert without_accounts.verify_mode == ssl.CERT_NONE  # nothing to ask for


async def test_only_the_irc_port_asks_for_client_certificates_and_a_reload_keeps_it_so(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """A browser asked for a client certificate may prompt its user: the web ports never ask."""
    from triochat._ops.launch import tls_contexts
    from triochat._tls import make_dev_certificates

    _, cert = make_dev_certificates(tmp_path / "certs")
    file = tmp_path / "tls.toml"
    write(file, f'[listeners]\ntls = true\ncert = "{cert}"\n')
    args = argparse.Namespace(config=file, history=False)
    launch = load(args)
    irc, web = tls_contexts(launch, irc=True, web=True)
    assert irc is not None
    assert web is not None
    assert (irc.verify_mode, web.verify_mode) == (ssl.CERT_OPTIONAL, ssl.CERT_NONE)
    irc_holder, web_holder = TlsContextHolder(irc), TlsContextHolder(web)
    server = ChatServer(launch.server)
    await nursery.start(server.serve, [MemoryListener()])
    reloader = Reloader(server, launch, args, tls=irc_holder, web_tls=web_holder)
    assert f"TLS certificate reloaded from {cert}" in await reloader.reload()
    assert irc_holder.context is not irc
    assert web_holder.context is not web
    assert irc_holder.context.verify_mode == ssl.CERT_OPTIONAL
    assert web_holder.context.verify_mode == ssl.CERT_NONE

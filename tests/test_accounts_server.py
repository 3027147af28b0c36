"""Accounts through the real server: the service, hashing off the event loop, SASL over TLS.

These tests run on the real clock (bounded by ``trio.fail_after``) rather
than ``autojump_clock``: password hashing runs in worker threads, and a
mock clock would jump to the next deadline whenever the event loop waits
for one. Nothing here sleeps.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ssl
from typing import TYPE_CHECKING

import pytest
import trio
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from harness import IrcClient, MemoryListener, ServerHarness, config

from triochat._accounts.hashing import make_secrets
from triochat._accounts.sasl import scram_client_final, scram_client_first
from triochat._history.store import HistoryStore
from triochat._server.server import ChatServer
from triochat._tls import server_context

if TYPE_CHECKING:
    from pathlib import Path

    from triochat._config import ServerConfig

HOSTNAME = "chat.test"


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


async def running(nursery: trio.Nursery, server_config: ServerConfig) -> ServerHarness:
    listener = MemoryListener()
    server = ChatServer(server_config)
    await nursery.start(server.serve, [listener])
    return ServerHarness(server, listener)


def create(server: ChatServer, name: str, password: str) -> None:
    assert server.accounts is not None
    password_hash, scram = make_secrets(password)
    server.accounts.store.create(name, password_hash, scram, email=None, now=0.0)
    server.state.preload_accounts([name])


async def sasl_plain(client: IrcClient, nick: str, account: str, password: str) -> str:
    """Negotiate sasl, log in with PLAIN, finish registering; the numeric that ended SASL."""
    client.nick = nick
    await client.send("CAP LS 302", "CAP REQ :sasl", f"NICK {nick}", f"USER {nick} 0 * :R")
    await client.send("AUTHENTICATE PLAIN")
    await client.expect("AUTHENTICATE", "+")
    await client.send("AUTHENTICATE " + b64(f"{account}\0{account}\0{password}"))
    while (message := await client.receive()).command not in ("903", "904"):
        pass
    await client.send("CAP END")
    await client.expect("376")
    return message.command


async def test_register_then_log_in_with_sasl_plain(nursery: trio.Nursery) -> None:
    with trio.fail_after(30):
        h = await running(nursery, config())
        alice = await h.client("alice")
        await alice.send("REGISTER * * secret1")
        success = await alice.expect("REGISTER")
        assert success.params[:2] == ("SUCCESS", "alice")
        await alice.send("QUIT")
        await alice.wait_closed()
        again = await h.connect()
        assert await sasl_plain(again, "alice", "alice", "secret1") == "903"
        wrong = await h.connect()
        assert await sasl_plain(wrong, "bob", "alice", "nope") == "904"


async def test_the_account_tag_reaches_account_tag_clients_without_message_tags(
    nursery: trio.Nursery,
) -> None:
    """IRCv3 message-tags: a tag goes to message-tags clients or to its own capability's."""
    with trio.fail_after(30):
        h = await running(nursery, config())
        create(h.server, "alice", "secret1")
        alice = await h.connect()
        assert await sasl_plain(alice, "alice", "alice", "secret1") == "903"
        tagged = await h.client("bob", caps="account-tag")
        timed = await h.client("carol", caps="server-time")
        await alice.send("PRIVMSG bob :hi", "PRIVMSG carol :hi")
        to_bob = await tagged.expect("PRIVMSG")
        assert dict(to_bob.tags) == {"account": "alice"}
        to_carol = await timed.expect("PRIVMSG")
        assert set(to_carol.tags) == {"time"}


async def test_scram_through_the_server(nursery: trio.Nursery) -> None:
    with trio.fail_after(30):
        h = await running(nursery, config())
        create(h.server, "alice", "secret1")
        client = await h.connect()
        await client.send("CAP LS 302", "CAP REQ :sasl", "NICK alice", "USER a 0 * :R")
        await client.send("AUTHENTICATE SCRAM-SHA-256")
        await client.expect("AUTHENTICATE", "+")
        await client.send("AUTHENTICATE " + b64(scram_client_first("alice", "cnonce")))
        server_first = base64.b64decode((await client.expect("AUTHENTICATE")).params[0])
        answer = scram_client_final("alice", "secret1", "cnonce", server_first)
        assert answer is not None
        await client.send("AUTHENTICATE " + b64(answer[0]))
        server_final = base64.b64decode((await client.expect("AUTHENTICATE")).params[0])
        assert server_final == answer[1]
        await client.send("AUTHENTICATE +")
        await client.expect("903")


async def test_logins_waiting_for_hashing_never_stall_the_chat(nursery: trio.Nursery) -> None:
    """Every hashing thread is busy (the test holds them): chat goes on; logins wait, then pass."""
    with trio.fail_after(60):
        h = await running(nursery, config(max_per_ip=None))
        create(h.server, "alice", "secret1")
        assert h.server.accounts is not None
        limiter = h.server.accounts.hash_limiter
        holders = [object() for _ in range(int(limiter.total_tokens))]
        for holder in holders:
            await limiter.acquire_on_behalf_of(holder)
        bob = await h.client("bob", channel="#room")
        carol = await h.client("carol", channel="#room")
        logins = []
        for n in range(20):
            client = await h.connect()
            await client.send("CAP LS 302", "CAP REQ :sasl", f"NICK u{n}", f"USER u{n} 0 * :R")
            await client.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + b64("\0alice\0secret1"))
            logins.append(client)
        for _ in range(3):  # the room is as quick as ever while 20 logins wait
            await bob.send("PRIVMSG #room :still here")
            await carol.expect("PRIVMSG", "#room", "still here")
        assert limiter.borrowed_tokens == limiter.total_tokens
        for holder in holders:
            limiter.release_on_behalf_of(holder)
        for client in logins:
            while (await client.receive()).command != "903":
                pass


async def test_a_database_made_before_accounts_keeps_working(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    path = tmp_path / "old.db"
    HistoryStore.open(path).close()  # what the current history code makes
    with trio.fail_after(30):
        h = await running(nursery, config(history_db=str(path)))
        alice = await h.client("alice")
        await alice.send("REGISTER * * secret1")
        assert (await alice.expect("REGISTER")).params[0] == "SUCCESS"


# -- over a real TLS socket ---------------------------------------------------------


async def _tls_server(nursery: trio.Nursery, server_ctx: ssl.SSLContext) -> tuple[ChatServer, int]:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    server = ChatServer(config())
    tls = [trio.SSLListener(listener, server_ctx) for listener in listeners]
    await nursery.start(server.serve, tls)
    return server, listeners[0].socket.getsockname()[1]


async def test_sasl_plain_over_a_real_tls_socket(nursery: trio.Nursery) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOSTNAME).configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    with trio.fail_after(30):
        server, port = await _tls_server(nursery, server_ctx)
        create(server, "alice", "secret1")
        tcp = await trio.open_tcp_stream("127.0.0.1", port)
        async with trio.SSLStream(tcp, client_ctx, server_hostname=HOSTNAME) as stream:
            client = IrcClient(stream)
            assert await sasl_plain(client, "alice", "alice", "secret1") == "903"
            await client.send("WHOIS alice")
            whois = await client.expect("330")
            assert whois.params[1:3] == ("alice", "alice")


def self_signed(folder: Path, name: str) -> tuple[Path, str]:
    """A self-signed client certificate and key in one PEM file, as irssi users make them; its
    SHA-256 fingerprint."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    path = folder / f"{name}.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    return path, hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


class CertFpServer:
    """A real TLS listener made as ``triochat serve --tls`` makes it, and clients for it."""

    def __init__(self, folder: Path, *, client_ca: Path | None = None) -> None:
        self.ca = trustme.CA()
        self.folder = folder
        server_pem = folder / "server.pem"
        self.ca.issue_cert(HOSTNAME).private_key_and_cert_chain_pem.write_to_path(str(server_pem))
        self.context = server_context(server_pem, client_certs=True, client_ca=client_ca)

    async def start(self, nursery: trio.Nursery) -> None:
        self.server, self.port = await _tls_server(nursery, self.context)

    async def connect(self, cert: Path | None) -> trio.SSLStream[trio.SocketStream]:
        client_ctx = ssl.create_default_context()
        self.ca.configure_trust(client_ctx)
        if cert is not None:
            client_ctx.load_cert_chain(cert)
        tcp = await trio.open_tcp_stream("127.0.0.1", self.port)
        stream = trio.SSLStream(tcp, client_ctx, server_hostname=HOSTNAME)
        await stream.do_handshake()
        return stream


async def sasl_external(client: IrcClient, nick: str) -> str:
    """Negotiate sasl and try EXTERNAL: the numeric that ended it (903 or 904)."""
    await client.send("CAP LS 302", "CAP REQ :sasl", f"NICK {nick}", f"USER {nick} 0 * :R")
    await client.send("AUTHENTICATE EXTERNAL")
    while (message := await client.receive()).command not in ("AUTHENTICATE", "904"):
        pass
    if message.command == "AUTHENTICATE":
        await client.send("AUTHENTICATE +")
        while (message := await client.receive()).command not in ("903", "904"):
            pass
    return message.command


async def test_sasl_external_with_a_self_signed_certificate_after_cert_add(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Ergo's CertFP: any certificate, its fingerprint bound by ``NickServ CERT ADD``."""
    mine, fingerprint = self_signed(tmp_path, "alice-laptop")
    tls = CertFpServer(tmp_path)
    assert tls.context.verify_mode == ssl.CERT_OPTIONAL
    with trio.fail_after(30):
        await tls.start(nursery)
        create(tls.server, "alice", "secret1")
        async with await tls.connect(mine) as stream:
            client = IrcClient(stream)
            assert await sasl_plain(client, "alice", "alice", "secret1") == "903"
            await client.send("PRIVMSG NickServ :CERT ADD")
            await client.expect("NOTICE", "alice")
            await client.send("PRIVMSG NickServ :CERT LIST")
            listed = await client.expect("NOTICE", "alice")
            while fingerprint not in listed.params[1]:
                listed = await client.expect("NOTICE", "alice")
        async with await tls.connect(mine) as stream:
            client = IrcClient(stream)
            assert await sasl_external(client, "alice") == "903"
            await client.send("CAP END")
            await client.expect("376")
            await client.send("WHOIS alice")
            assert (await client.expect("330")).params[1:3] == ("alice", "alice")


async def test_sasl_external_with_an_unknown_certificate_is_904(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    _, fingerprint = self_signed(tmp_path, "alice-laptop")
    stranger, _ = self_signed(tmp_path, "mallory")
    tls = CertFpServer(tmp_path)
    with trio.fail_after(30):
        await tls.start(nursery)
        create(tls.server, "alice", "secret1")
        assert tls.server.accounts is not None
        found = tls.server.accounts.store.get("alice")
        assert found is not None
        tls.server.accounts.store.change_cert(found[0].id, fingerprint, add=True)
        async with await tls.connect(stranger) as stream:
            client = IrcClient(stream)
            assert await sasl_external(client, "alice") == "904"
            await client.send("CAP END")
            await client.expect("376")  # still connected, as a guest


async def test_no_client_certificate_still_connects_and_external_fails_cleanly(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    tls = CertFpServer(tmp_path)
    with trio.fail_after(30):
        await tls.start(nursery)
        create(tls.server, "alice", "secret1")
        async with await tls.connect(None) as stream:
            client = IrcClient(stream)
            assert await sasl_external(client, "alice") == "904"
            await client.send("CAP END")
            await client.expect("376")
            await client.send("PRIVMSG NickServ :IDENTIFY alice secret1")
            await client.send("WHOIS alice")
            assert (await client.expect("330")).params[1:3] == ("alice", "alice")


async def test_client_ca_still_verifies_client_certificates(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """``--client-ca``: a certificate that CA issued logs in; a self-signed one is refused."""
    clients = trustme.CA()
    clients_file = tmp_path / "clients.pem"
    clients.cert_pem.write_to_path(str(clients_file))
    issued = clients.issue_cert("alice@client.test")
    issued_file = tmp_path / "issued.pem"
    issued.private_key_and_cert_chain_pem.write_to_path(str(issued_file))
    der = ssl.PEM_cert_to_DER_cert(issued.cert_chain_pems[0].bytes().decode())
    stranger, _ = self_signed(tmp_path, "mallory")
    tls = CertFpServer(tmp_path, client_ca=clients_file)
    with trio.fail_after(30):
        await tls.start(nursery)
        create(tls.server, "alice", "secret1")
        assert tls.server.accounts is not None
        found = tls.server.accounts.store.get("alice")
        assert found is not None
        tls.server.accounts.store.change_cert(
            found[0].id, hashlib.sha256(der).hexdigest(), add=True
        )
        async with await tls.connect(issued_file) as stream:
            assert await sasl_external(IrcClient(stream), "alice") == "903"
        refused = await tls.connect(stranger)
        # TLS 1.3: the client learns of the refusal at its first read, not in its handshake.
        with pytest.raises(trio.BrokenResourceError):
            await _talk(refused)
        await refused.aclose()


async def _talk(stream: trio.SSLStream[trio.SocketStream]) -> bytes | bytearray:
    await stream.send_all(b"NICK mallory\r\nUSER m 0 * :m\r\n")
    return await stream.receive_some()

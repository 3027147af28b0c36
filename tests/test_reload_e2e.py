"""Live reload of a real ``triochat serve --config F`` process with real SIGHUPs.

Each test waits for the server's own log line saying the reload happened
(stderr is read), then connects with a raw socket client: no sleeps.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import ssl
from typing import TYPE_CHECKING

import pytest
import trio
import trustme
from cryptography import x509
from harness import IrcClient
from processes import serve

if TYPE_CHECKING:
    from pathlib import Path

    from processes import OutputLines, ServerProcess

pytestmark = pytest.mark.e2e

_nicks = itertools.count()


async def motd_at(port: int) -> list[str]:
    """Register a fresh client and return the MOTD lines it was sent."""
    client = IrcClient(await trio.open_tcp_stream("127.0.0.1", port))
    nick = f"probe{next(_nicks)}"
    await client.send(f"NICK {nick}", f"USER {nick} 0 * :probe")
    messages = await client.collect_until("376")
    await client.send("QUIT")
    await client.wait_closed()
    await client.stream.aclose()
    return [
        message.params[-1].removeprefix("- ") for message in messages if message.command == "372"
    ]


def write_config(file: Path, motd: Path, extra: str = "") -> None:
    file.write_text(f'[server]\nmotd_file = "{motd}"\n{extra}', encoding="utf-8")


async def hangup(server: ServerProcess, log: OutputLines, expect: str) -> re.Match[str]:
    """Send SIGHUP and wait for the log line ``expect`` that follows it."""
    start = len(log.lines)
    server.process.send_signal(signal.SIGHUP)
    return await log.wait_for(expect, start=start)


async def test_sighup_rereads_the_config_and_the_motd(tmp_path: Path) -> None:
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text("the first motd\n", encoding="utf-8")
    second.write_text("the second motd\n", encoding="utf-8")
    config = tmp_path / "triochat.toml"
    write_config(config, first)
    async with serve("--config", str(config), "--port", "0", capture_log=True) as server:
        assert server.log is not None
        with trio.fail_after(20):
            assert await motd_at(server.port) == ["the first motd"]
            write_config(config, second)
            await hangup(server, server.log, "reloaded")
            assert await motd_at(server.port) == ["the second motd"]
            second.write_text("edited in place\n", encoding="utf-8")  # the MOTD file alone
            await hangup(server, server.log, "reloaded")
            assert await motd_at(server.port) == ["edited in place"]
            assert await server.stop() == 0


async def test_an_invalid_file_on_sighup_keeps_the_old_motd_and_says_why(tmp_path: Path) -> None:
    good, other = tmp_path / "good.txt", tmp_path / "other.txt"
    good.write_text("good motd\n", encoding="utf-8")
    other.write_text("never shown\n", encoding="utf-8")
    config = tmp_path / "triochat.toml"
    write_config(config, good)
    async with serve("--config", str(config), "--port", "0", capture_log=True) as server:
        assert server.log is not None
        with trio.fail_after(20):
            write_config(config, other, "[limits]\nmax_clients = -1\n")
            refused = await hangup(server, server.log, "reload refused, nothing changed: (.*)")
            assert refused[1] == (
                f"{config}:4: limits.max_clients: must be 0 (no limit) or more, not -1"
            )
            assert await motd_at(server.port) == ["good motd"]
            assert await server.stop() == 0


async def test_a_sighup_storm_coalesces_and_the_server_keeps_serving(tmp_path: Path) -> None:
    motd = tmp_path / "motd.txt"
    motd.write_text("before the storm\n", encoding="utf-8")
    config = tmp_path / "triochat.toml"
    write_config(config, motd)
    async with serve("--config", str(config), "--port", "0", capture_log=True) as server:
        assert server.log is not None
        with trio.fail_after(30):
            alice = IrcClient(await trio.open_tcp_stream("127.0.0.1", server.port))
            await alice.register("alice")
            for _ in range(100):
                server.process.send_signal(signal.SIGHUP)
            await alice.sync()  # answered during the storm
            # One last change, visible in the log (a warning) once it is applied.
            motd.write_text("after the storm " + "!" * 400 + "\n", encoding="utf-8")
            await hangup(server, server.log, "MOTD lines longer than")
            warned = max(i for i, line in enumerate(server.log.lines) if "MOTD lines" in line)
            await server.log.wait_for(r"\(reload \d+\)", start=warned)
            assert (await motd_at(server.port))[0].startswith("after the storm")
            found = [re.search(r"\(reload (\d+)\)", line) for line in server.log.lines]
            reloads = max(int(match[1]) for match in found if match)
            assert reloads <= 10, f"{reloads} reloads for 101 signals"
            await alice.sync()
            await alice.stream.aclose()
            assert await server.stop() == 0


def _serial(leaf: trustme.LeafCert) -> int:
    return x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).serial_number


async def _tls_serial(port: int, ca: trustme.CA) -> int:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    tcp = await trio.open_tcp_stream("127.0.0.1", port)
    async with trio.SSLStream(tcp, context, server_hostname="localhost") as stream:
        await stream.do_handshake()
        peer = stream.getpeercert()
        assert peer is not None
        return int(str(peer["serialNumber"]), 16)


async def test_a_renewed_certificate_is_used_after_sighup(tmp_path: Path) -> None:
    ca = trustme.CA()
    old, new = ca.issue_cert("localhost"), ca.issue_cert("localhost")
    cert = tmp_path / "fullchain.pem"
    old.private_key_and_cert_chain_pem.write_to_path(str(cert))
    config = tmp_path / "triochat.toml"
    config.write_text(f'[listeners]\ntls = true\ncert = "{cert}"\n', encoding="utf-8")
    args = ("--config", str(config), "--tls", "--tls-port", "0", "--port", "0")
    async with serve(*args, capture_log=True) as server:
        assert server.log is not None
        with trio.fail_after(20):
            (tls_port,) = server.tls_ports
            assert await _tls_serial(tls_port, ca) == _serial(old)
            renewed = tmp_path / "fullchain.pem.new"  # certbot replaces the file
            new.private_key_and_cert_chain_pem.write_to_path(str(renewed))
            os.replace(renewed, cert)
            await hangup(server, server.log, "TLS certificate reloaded")
            assert await _tls_serial(tls_port, ca) == _serial(new)
            assert await server.stop() == 0


async def test_json_logs_from_a_real_server(tmp_path: Path) -> None:
    config = tmp_path / "triochat.toml"
    config.write_text("[logging]\nformat = 'json'\nlevel = 'info'\n", encoding="utf-8")
    async with serve("--config", str(config), "--port", "0", capture_log=True) as server:
        assert server.log is not None
        with trio.fail_after(20):
            found = await server.log.wait_for(r'^\{.*"serving on 1 listener')
            line = json.loads(found.string)
            assert (line["level"], line["logger"]) == ("INFO", "triochat.server")
            assert line["message"] == "serving on 1 listener(s)"
            assert await server.stop() == 0


async def test_an_operator_rehash_reloads_like_sighup(tmp_path: Path) -> None:
    from triochat._opers.passwords import hash_password

    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text("before rehash\n", encoding="utf-8")
    second.write_text("after rehash\n", encoding="utf-8")
    config = tmp_path / "triochat.toml"
    operator = f'[[operators]]\nname = "admin"\nhash = "{hash_password("s3cret", log_cost=4)}"\n'
    write_config(config, first, operator)
    async with serve("--config", str(config), "--port", "0", capture_log=True) as server:
        with trio.fail_after(20):
            admin = IrcClient(await trio.open_tcp_stream("127.0.0.1", server.port))
            await admin.register("boss")
            await admin.send("REHASH")
            assert (await admin.expect("481")).params[-1].startswith("Permission Denied")
            await admin.send("OPER admin s3cret")
            await admin.expect("381")
            write_config(config, second, operator)
            await admin.send("REHASH")
            await admin.expect("382")
            notice = await admin.expect("NOTICE")
            assert notice.params[-1].startswith("*** REHASH:")
            assert await motd_at(server.port) == ["after rehash"]
            config.write_text("[server]\nbogus = 1\n", encoding="utf-8")
            await admin.send("REHASH")
            await admin.expect("382")
            refused = await admin.expect("NOTICE")
            assert "nothing changed" in refused.params[-1]
            assert "bogus" in refused.params[-1]
            assert await motd_at(server.port) == ["after rehash"]
            await admin.stream.aclose()
            assert await server.stop() == 0

"""End to end: irssi logs in with its ordinary SASL settings, NickServ IDENTIFY and CertFP.

Real ``triochat`` processes, a real irssi in tmux, real sockets; every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import subprocess
from typing import TYPE_CHECKING

import pytest
import trio
from harness import IrcClient
from processes import Tmux, require, run, serve, triochat_command

from triochat._tls import client_context, make_dev_certificates

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e


async def _create_account(db: Path, name: str, password: str) -> None:
    """``triochat account create``, the password in the environment (never in argv)."""
    with trio.fail_after(60):
        done = await trio.run_process(
            triochat_command("account", "create", name, "--db", str(db)),
            env={**os.environ, "TRIOCHAT_PASSWORD": password},
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert done.returncode == 0, done.stderr


async def _account_of(port: int, nick: str, *, tls: Path | None = None) -> str | None:
    """Ask WHOIS, as another user would (over TLS trusting ``tls``): the account in 330."""
    stream: trio.abc.Stream = await trio.open_tcp_stream("127.0.0.1", port)
    if tls is not None:
        stream = trio.SSLStream(stream, client_context(tls), server_hostname="localhost")
    watcher = IrcClient(stream)
    try:
        await watcher.register(f"w{secrets.token_hex(3)}")
        await watcher.send(f"WHOIS {nick}")
        while (reply := await watcher.receive()).command != "318":
            if reply.command == "330":
                return reply.params[2]
        return None
    finally:
        await watcher.stream.aclose()


async def test_irssi_logs_in_with_sasl_plain_and_with_nickserv(tmp_path: Path) -> None:
    irssi = require("irssi")
    db = tmp_path / "triochat.db"
    await _create_account(db, "carol", "secret1")
    await _create_account(db, "dave", "secret2")
    tmux = Tmux(require("tmux"), f"triochat-acc-{os.getpid()}-{secrets.token_hex(4)}")
    home = tmp_path / "irssi"
    home.mkdir()
    (home / "config").write_text('settings = { "irc/core" = { cmd_queue_speed = "0"; }; };\n')
    async with serve("--db", str(db)) as server:
        try:
            with trio.fail_after(90):
                await tmux.start([irssi, f"--home={home}", "-n", "carol"])
                await tmux.wait_for("Irssi v")
                # The README's commands, as a newcomer types them.
                await tmux.type(
                    "/network add -sasl_username carol -sasl_password secret1"
                    " -sasl_mechanism PLAIN testnet"
                )
                await tmux.wait_for("Network testnet saved")
                await tmux.type(f"/server add -network testnet 127.0.0.1 {server.port}")
                await tmux.wait_for("Server 127.0.0.1 saved")
                await tmux.type("/connect testnet")
                await tmux.wait_for("Welcome to the triochat IRC Network")
                assert await _account_of(server.port, "carol") == "carol"
                # A second identity on the same irssi, logging in after connecting (to
                # "localhost": 127.0.0.1 is the network above, which would log in as carol).
                await tmux.type("/set nick dave")
                await tmux.type(f"/connect -4 localhost {server.port}")
                await tmux.wait_for("dave is a registered account")
                await tmux.type("/msg NickServ IDENTIFY secret2")
                await tmux.wait_for("You are now logged in as dave")  # 900; NickServ's
                # NOTICE goes to a window of its own.
                assert await _account_of(server.port, "dave") == "dave"
                await tmux.type("/quit")
        finally:
            await tmux.close()
        assert await server.stop() == 0


async def test_weechat_logs_in_with_sasl_scram_sha_256(tmp_path: Path) -> None:
    """WeeChat's own SCRAM-SHA-256 against ours: the password never crosses the wire."""
    weechat = require("weechat-headless")
    db = tmp_path / "triochat.db"
    await _create_account(db, "erin", "secret3")
    async with serve("--db", str(db)) as server:
        commands = (
            f"/server add tc 127.0.0.1/{server.port} -notls -nicks=erin"
            " -sasl_mechanism=scram_sha_256 -sasl_username=erin -sasl_password=secret3"
            ";/connect tc"
        )
        process = await trio.lowlevel.open_process(
            [weechat, "--dir", str(tmp_path / "weechat"), "-r", commands],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with trio.fail_after(60):
                while await _account_of(server.port, "erin") != "erin":  # noqa: ASYNC110
                    await trio.sleep(0.2)  # polling: WeeChat tells us nothing
        finally:
            process.kill()
            with trio.move_on_after(10):
                await process.wait()
        assert await server.stop() == 0


async def test_irssi_logs_in_with_a_self_signed_certificate_and_sasl_external(
    tmp_path: Path,
) -> None:
    """The README's CertFP recipe: openssl makes a certificate, CERT ADD binds it, EXTERNAL."""
    irssi = require("irssi")
    openssl = require("openssl")
    db = tmp_path / "triochat.db"
    await _create_account(db, "frank", "secret4")
    ca, server_pem = make_dev_certificates(tmp_path / "certs")
    mine = tmp_path / "frank.pem"
    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    files = ("-keyout", str(mine), "-out", str(mine))
    made = await run([openssl, "req", "-x509", *key, "-days", "30", "-subj", "/CN=frank", *files])
    assert made.returncode == 0, made.stderr
    tmux = Tmux(require("tmux"), f"triochat-ext-{os.getpid()}-{secrets.token_hex(4)}")
    home = tmp_path / "irssi"
    home.mkdir()
    (home / "config").write_text('settings = { "irc/core" = { cmd_queue_speed = "0"; }; };\n')
    tls = ("--tls", "--tls-port", "0", "--cert", str(server_pem))
    async with serve("--db", str(db), *tls) as server:
        port = server.tls_ports[0]
        try:
            with trio.fail_after(90):
                # Wide enough for the long paths of /server add on one input line.
                await tmux.start([irssi, f"--home={home}", "-n", "frank"], width=400)
                await tmux.wait_for("Irssi v")
                await tmux.type(
                    "/network add -sasl_username frank -sasl_password secret4"
                    " -sasl_mechanism PLAIN testnet"
                )
                await tmux.wait_for("Network testnet saved")
                await tmux.type(
                    f"/server add -tls -tls_cert {mine} -tls_cafile {ca} -network testnet"
                    f" localhost {port}"
                )
                await tmux.wait_for("Server localhost saved")
                await tmux.type("/connect testnet")
                await tmux.wait_for("Welcome to the triochat IRC Network")
                await tmux.type("/msg NickServ CERT ADD")
                while not _certificates(db):  # noqa: ASYNC110
                    await trio.sleep(0.2)  # polling: the answer is in NickServ's window
                await tmux.type("/disconnect testnet")
                while await _account_of(port, "frank", tls=ca) is not None:  # noqa: ASYNC110
                    await trio.sleep(0.2)
                # No password from now on: the certificate is the login.
                await tmux.type("/network add -sasl_mechanism EXTERNAL -sasl_password '' testnet")
                await tmux.wait_for("Network testnet saved")
                await tmux.type("/connect testnet")
                while await _account_of(port, "frank", tls=ca) != "frank":  # noqa: ASYNC110
                    await trio.sleep(0.2)
                await tmux.type("/quit")
        finally:
            await tmux.close()
        assert await server.stop() == 0


def _certificates(db: Path) -> list[str]:
    """The fingerprints stored for any account (read-only, beside the running server)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as reader:
        return [certfp for (certfp,) in reader.execute("SELECT certfp FROM account_certs")]

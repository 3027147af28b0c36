"""The TLS listener meets Mozilla's intermediate profile (issue 16).

One test runs sslyze's own scanner and Mozilla checker against a real
loopback listener; the others offer one suite or one group at a time with the
standard library's client, so the profile is also pinned down where sslyze
does not run, and for the fallback without :mod:`ctypes`.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

import pytest
import trio
from harness import config
from sslyze.mozilla_tls_profile.tls_config_checker import (
    SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
    MozillaTlsConfiguration,
    ServerNotCompliantWithTlsConfiguration,
    TlsConfigurationEnum,
    check_server_against_tls_configuration,
)
from sslyze.scanner.models import ServerScanRequest
from sslyze.scanner.scanner import Scanner
from sslyze.server_setting import ServerNetworkLocation

from triochat import _tls_profile
from triochat._server.server import ChatServer
from triochat._tls import client_context, make_dev_certificates, server_context

if TYPE_CHECKING:
    from pathlib import Path

#: What sslyze reports about the development certificates, not about the listener.
CERTIFICATE_CHECKS = {
    "certificate_path_validation",
    "maximum_certificate_lifespan",
    "certificate_types",
    "certificate_curves",
    "certificate_signatures",
    "rsa_key_size",
}
REJECTED_TLS12_SUITES = [
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-ECDSA-AES128-SHA",
    "AES128-GCM-SHA256",
    "DHE-RSA-AES128-GCM-SHA256",
]
ACCEPTED_TLS12_SUITES = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_dev_certificates(tmp_path_factory.mktemp("certs"))


async def serve_tls(nursery: trio.Nursery, context: ssl.SSLContext) -> int:
    """A real TLS listener on 127.0.0.1 in front of a chat server; its port."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    tls = [trio.SSLListener(listener, context) for listener in listeners]
    await nursery.start(ChatServer(config(history=False)).serve, tls)
    port: int = listeners[0].socket.getsockname()[1]
    return port


async def handshake(port: int, client: ssl.SSLContext) -> bool:
    """Whether a TLS handshake with ``client``'s offer succeeds."""
    with trio.fail_after(10):
        tcp = await trio.open_tcp_stream("127.0.0.1", port)
        stream = trio.SSLStream(tcp, client, server_hostname="localhost")
        try:
            await stream.do_handshake()
        except trio.BrokenResourceError:
            return False
        finally:
            await trio.aclose_forcefully(stream)
    return True


def offering(ca: Path, *, suite: str | None = None, group: str | None = None) -> ssl.SSLContext:
    """A client context that offers only ``suite`` (in TLS 1.2) or only ``group``."""
    context = client_context(ca)
    if suite is not None:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(suite)
    if group is not None:
        context.set_ecdh_curve(group)
    return context


@pytest.mark.filterwarnings("ignore:Parsed a serial number")  # a CA in sslyze's trust store
@pytest.mark.parametrize("client_certs", [False, True], ids=["plain", "asking-client-certs"])
async def test_sslyze_finds_the_mozilla_intermediate_profile(
    nursery: trio.Nursery, certs: tuple[Path, Path], client_certs: bool
) -> None:
    """Also as served with accounts on: asking for client certificates (CertFP) changes no
    part of the profile."""
    port = await serve_tls(nursery, server_context(certs[1], client_certs=client_certs))

    def scan() -> dict[str, str]:
        scanner = Scanner()
        location = ServerNetworkLocation("127.0.0.1", port)
        commands = SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER
        scanner.queue_scans([ServerScanRequest(location, scan_commands=commands)])
        (result,) = scanner.get_results()
        profile = MozillaTlsConfiguration.get(TlsConfigurationEnum.MOZILLA_INTERMEDIATE)
        try:
            check_server_against_tls_configuration(result, profile)
        except ServerNotCompliantWithTlsConfiguration as error:
            return error.issues
        return {}

    with trio.fail_after(120):
        issues = await trio.to_thread.run_sync(scan)
    assert {key: why for key, why in issues.items() if key not in CERTIFICATE_CHECKS} == {}


@pytest.mark.parametrize("fallback", [False, True], ids=["ctypes-groups", "fallback"])
async def test_each_suite_and_group_outside_the_profile_is_refused(
    nursery: trio.Nursery,
    certs: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    fallback: bool,
) -> None:
    if fallback:
        monkeypatch.setattr(_tls_profile, "_set_groups", lambda context, groups: False)
    ca, cert = certs
    port = await serve_tls(nursery, server_context(cert))
    for suite in REJECTED_TLS12_SUITES:
        assert not await handshake(port, offering(ca, suite=suite)), suite
    for suite in ACCEPTED_TLS12_SUITES:
        assert await handshake(port, offering(ca, suite=suite)), suite
    for group in ("X448", "secp521r1"):
        assert not await handshake(port, offering(ca, group=group)), group
    accepted = ["prime256v1"] if fallback else ["X25519", "prime256v1", "secp384r1"]
    for group in accepted:
        assert await handshake(port, offering(ca, group=group)), group


def test_the_context_leaves_cipher_order_to_the_client_and_never_compresses(
    certs: tuple[Path, Path],
) -> None:
    context = server_context(certs[1])
    assert not context.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    assert context.options & ssl.OP_NO_COMPRESSION
    assert context.options & ssl.OP_NO_RENEGOTIATION
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_NONE  # see apply_intermediate_profile
    names = {cipher["name"] for cipher in context.get_ciphers() if cipher["protocol"] == "TLSv1.2"}
    assert names == set(_tls_profile.INTERMEDIATE_CIPHERS.split(":"))


def test_client_certificates_of_any_issuer_are_asked_for_not_required(
    certs: tuple[Path, Path],
) -> None:
    """CertFP's verify callback is installed last, so ``verify_mode`` reads it back."""
    _, cert = certs
    assert server_context(cert).verify_mode == ssl.CERT_NONE
    assert server_context(cert, client_certs=True).verify_mode == ssl.CERT_OPTIONAL


def test_without_the_ssl_ctx_no_client_certificate_is_asked_for(
    certs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Where the pointer cannot be proven, TLS works as before and one line says why."""
    monkeypatch.setattr(_tls_profile, "_ssl_ctx", lambda context: None)
    _, cert = certs
    with caplog.at_level("WARNING", logger="triochat.tls"):
        context = server_context(cert, client_certs=True)
    assert context.verify_mode == ssl.CERT_NONE
    [record] = [r for r in caplog.records if r.name == "triochat.tls"]
    assert "SASL EXTERNAL needs --client-ca" in record.getMessage()

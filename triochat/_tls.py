"""TLS contexts and development certificates, with errors a person can act on.

Contexts start from :func:`ssl.create_default_context` (modern ciphers,
hostname checks on the client side) and refuse anything older than TLS 1.2;
the server's also meets Mozilla's intermediate profile (:mod:`._tls_profile`).
Loading problems become :class:`TlsSetupError` with one clear sentence, so the
CLI can print it and exit 2 instead of showing a traceback.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Final

from ._tls_profile import accept_any_client_certificate, apply_intermediate_profile

log = logging.getLogger("triochat.tls")

__all__ = [
    "DEFAULT_CERT_DIR",
    "TlsSetupError",
    "client_context",
    "describe_verification_error",
    "make_dev_certificates",
    "server_context",
]

DEFAULT_CERT_DIR: Final = Path("certs")
CA_FILE: Final = "ca.pem"
SERVER_FILE: Final = "server.pem"
DEV_HOSTNAMES: Final = ("localhost", "127.0.0.1", "::1")


class TlsSetupError(Exception):
    """TLS cannot be set up as asked; the message says why and what to do."""


def server_context(
    cert: Path,
    key: Path | None = None,
    *,
    client_certs: bool = False,
    client_ca: Path | None = None,
) -> ssl.SSLContext:
    """A server context presenting ``cert`` (PEM; its key inside it unless ``key`` is given).

    ``client_certs`` asks clients for a certificate (never requires one) for
    SASL EXTERNAL: any certificate, self-signed ones included, or with
    ``client_ca`` only those that CA issued (see :func:`_request_client_certs`).
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    apply_intermediate_profile(context)
    for path in (cert, key):
        if path is not None and not path.is_file():
            hint = " (create a development one with: triochat certs)" if path == cert else ""
            raise TlsSetupError(f"certificate file not found: {path}{hint}")
    try:
        context.load_cert_chain(cert, key)
    except PermissionError as error:
        raise TlsSetupError(f"cannot read {error.filename}: permission denied") from None
    except ssl.SSLError as error:
        if "KEY_VALUES_MISMATCH" in str(error) or "key values mismatch" in str(error):
            raise TlsSetupError(
                f"the private key does not match the certificate in {cert}"
            ) from None
        source = f"{cert} and {key}" if key is not None else str(cert)
        raise TlsSetupError(
            f"{source} must hold a PEM certificate and its private key ({error.reason})"
        ) from None
    except OSError as error:
        raise TlsSetupError(f"cannot read {cert}: {error.strerror}") from None
    if client_certs or client_ca is not None:
        _request_client_certs(context, client_ca)
    return context


def _request_client_certs(context: ssl.SSLContext, ca: Path | None) -> None:
    """Ask for an optional client certificate: from ``ca`` (checked), or any (CertFP).

    Without ``ca`` the fingerprint is the identity, so the certificate is
    accepted unverified (:func:`accept_any_client_certificate`); where that is
    impossible, no certificate is asked for and TLS works as before.
    """
    if ca is None:
        if not accept_any_client_certificate(context):
            log.warning(
                "TLS: this Python cannot accept self-signed client certificates; SASL EXTERNAL"
                " needs --client-ca here"
            )
        return
    try:
        context.load_verify_locations(cafile=ca)
    except (OSError, ssl.SSLError) as error:
        raise TlsSetupError(f"cannot use --client-ca {ca}: {error}") from None
    context.verify_mode = ssl.CERT_OPTIONAL


def client_context(cafile: Path | None = None, *, insecure: bool = False) -> ssl.SSLContext:
    """A client context trusting ``cafile`` (or the system store) and checking hostnames.

    ``insecure`` turns every check off: the connection is encrypted but anyone
    in the middle can read it. The CLI only allows it with a loud warning.
    """
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if cafile is not None:
        if not cafile.is_file():
            raise TlsSetupError(f"CA file not found: {cafile}")
        try:
            context.load_verify_locations(cafile)
        except (ssl.SSLError, ValueError) as error:
            raise TlsSetupError(f"{cafile} is not a PEM CA certificate ({error})") from None
        except OSError as error:
            raise TlsSetupError(f"cannot read {cafile}: {error.strerror}") from None
    return context


def describe_verification_error(error: ssl.SSLCertVerificationError, host: str) -> str:
    """Explain a failed certificate check, with the fix that usually applies."""
    reason = error.verify_message or str(error)
    if "self-signed" in reason or "unable to get local issuer" in reason:
        return (
            f"the server's certificate is not signed by a CA you trust ({reason}); "
            f"for a development server pass its CA, e.g. --ca {DEFAULT_CERT_DIR / CA_FILE}"
        )
    if "Hostname mismatch" in reason or "IP address mismatch" in reason:
        return (
            f"the server's certificate is not valid for {host!r} ({reason}); connect with "
            "the name it was issued for, or reissue it: triochat certs --host NAME --force"
        )
    if "expired" in reason:
        return f"the server's certificate has expired ({reason})"
    return f"the server's certificate was rejected: {reason}"


def make_dev_certificates(
    directory: Path, extra_hostnames: tuple[str, ...] = (), *, force: bool = False
) -> tuple[Path, Path]:
    """Write a development CA (``ca.pem``) and a server certificate with its key (``server.pem``).

    The server certificate is valid for localhost, 127.0.0.1, ::1 and
    ``extra_hostnames``. Existing files are kept unless ``force``. Returns the
    paths of the CA and of the server file.
    """
    import trustme  # only this command needs it; the server and client do not

    ca_path, server_path = directory / CA_FILE, directory / SERVER_FILE
    existing = [path for path in (ca_path, server_path) if path.exists()]
    if existing and not force:
        names = ", ".join(str(path) for path in existing)
        raise TlsSetupError(f"{names} already exist; pass --force to replace them")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA(organization_name="triochat development CA")
        server = ca.issue_cert(*DEV_HOSTNAMES, *extra_hostnames)
        ca.cert_pem.write_to_path(str(ca_path))
        server_path.write_bytes(b"")
        server_path.chmod(0o600)  # it holds the private key
        server.private_key_and_cert_chain_pem.write_to_path(str(server_path))
    except OSError as error:
        raise TlsSetupError(f"cannot write to {directory}: {error.strerror}") from None
    return ca_path, server_path

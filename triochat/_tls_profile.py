"""Mozilla's *intermediate* TLS profile for the server side, as far as Python allows.

The profile (https://ssl-config.mozilla.org, version 5.7) asks for:

* TLS 1.2 and 1.3 only;
* in TLS 1.2, ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 only
  (DHE is allowed with 2048-bit parameters; we leave it out rather than ship
  and rotate a dhparams file). TLS 1.3's suites are OpenSSL's defaults, which
  are exactly the profile's three; Python has no API to change them anyway;
* the groups (curves) X25519, prime256v1 and secp384r1 only;
* no compression, and the client's cipher order (no server preference).

The groups are the hard part: :mod:`ssl` before Python 3.15 only has
``set_ecdh_curve``, which keeps *one* group. :func:`_set_groups` calls
OpenSSL's ``SSL_CTX_set1_groups_list`` through :mod:`ctypes` on the context's
own ``SSL_CTX``, after proving that it found the right pointer (OpenSSL must
report the same options as Python). Where that is not possible (another
Python implementation, a statically linked ``_ssl``), the context falls back
to ``set_ecdh_curve("prime256v1")``: still within the profile, but without
X25519 and secp384r1.

Client certificates need the same route: with the standard library a server
can only accept client certificates signed by a CA it has loaded, while
IRC's CertFP needs the fingerprint of *any* (usually self-signed)
certificate. :func:`accept_any_client_certificate` installs a verify callback
that accepts every certificate, through the same proven ``SSL_CTX`` pointer.
"""

from __future__ import annotations

import ctypes
import logging
import ssl
import sys
from typing import Final

__all__ = [
    "INTERMEDIATE_CIPHERS",
    "INTERMEDIATE_GROUPS",
    "accept_any_client_certificate",
    "apply_intermediate_profile",
]

log = logging.getLogger("triochat.tls")

#: The TLS 1.2 suites of the profile, without DHE (see the module docstring).
INTERMEDIATE_CIPHERS: Final = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)
#: The key exchange groups of the profile, in OpenSSL's names, preferred first.
INTERMEDIATE_GROUPS: Final = "X25519:prime256v1:secp384r1"
#: ``SSL_CTRL_SET_GROUPS_LIST`` from OpenSSL's ``ssl.h`` (1.1.1 and 3.x).
_SSL_CTRL_SET_GROUPS_LIST: Final = 92
#: ``SSL_VERIFY_PEER`` from ``ssl.h``: ask for the peer's certificate (not require it).
_SSL_VERIFY_PEER: Final = 0x01

#: OpenSSL's ``int (*verify_callback)(int preverify_ok, X509_STORE_CTX *ctx)``.
_VerifyCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


def _accept(preverify_ok: int, store: int | None) -> int:
    """Accept the certificate whatever OpenSSL's checks said: its fingerprint is the identity."""
    return 1


#: One callback for every context, alive as long as the module: OpenSSL keeps only its address.
_ACCEPT_ANY: Final = _VerifyCallback(_accept)


def apply_intermediate_profile(context: ssl.SSLContext) -> None:
    """Restrict a server ``context`` to Mozilla's intermediate profile.

    ``verify_mode`` stays ``CERT_NONE``: asking for an optional client
    certificate (``CERT_OPTIONAL``) would make OpenSSL *fail* every handshake
    whose certificate is not signed by a loaded CA, and the standard library
    has no verify callback to accept self-signed ones. CertFP (the accounts
    work) needs that callback: pyOpenSSL-style ``set_verify`` or the same
    :mod:`ctypes` route as the groups below.
    """
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(INTERMEDIATE_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    if not _set_groups(context, INTERMEDIATE_GROUPS):
        log.info("TLS: cannot choose key exchange groups here; offering prime256v1 only")
        context.set_ecdh_curve("prime256v1")


def accept_any_client_certificate(context: ssl.SSLContext) -> bool:
    """Ask clients for a certificate, never require one, and accept any (IRC's CertFP).

    ``SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept)``: the handshake goes
    on whether the certificate is self-signed, expired or absent, and the
    server reads its SHA-256 fingerprint afterwards. Python's ``verify_mode``
    setter would replace the callback, so this must come last; it reads back
    as ``CERT_OPTIONAL``. False (nothing changed) where the ``SSL_CTX`` cannot
    be found safely.
    """
    found = _ssl_ctx(context)
    if found is None:
        return False
    library, pointer = found
    try:
        set_verify = library.SSL_CTX_set_verify
    except AttributeError:
        return False
    set_verify.restype = None
    set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VerifyCallback]
    set_verify(pointer, _SSL_VERIFY_PEER, _ACCEPT_ANY)
    return context.verify_mode == ssl.CERT_OPTIONAL


def _ssl_ctx(context: ssl.SSLContext) -> tuple[ctypes.CDLL, int] | None:
    """OpenSSL's library and ``context``'s ``SSL_CTX`` pointer, proven; None where impossible.

    The proof: OpenSSL must report the same options for the pointer as Python
    does for the context. Anything else (another Python, a statically linked
    ``_ssl``, another object layout) touches nothing.
    """
    if sys.implementation.name != "cpython":
        return None
    try:
        import _ssl

        library = ctypes.CDLL(_ssl.__file__)  # resolves OpenSSL's symbols through _ssl's own
        get_options = library.SSL_CTX_get_options
    except (AttributeError, OSError):  # _ssl built in, or an OpenSSL without these
        return None
    get_options.restype = ctypes.c_uint64
    get_options.argtypes = [ctypes.c_void_p]
    # CPython's context object is PyObject_HEAD followed by its SSL_CTX pointer.
    pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
    if not pointer or get_options(pointer) != int(context.options):
        return None
    return library, pointer


def _set_groups(context: ssl.SSLContext, groups: str) -> bool:
    """``SSL_CTX_set1_groups_list(ctx, groups)`` on ``context``; False where impossible."""
    found = _ssl_ctx(context)
    if found is None:
        return False
    library, pointer = found
    try:
        control = library.SSL_CTX_ctrl
    except AttributeError:
        return False
    control.restype = ctypes.c_long
    control.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_char_p]
    return bool(control(pointer, _SSL_CTRL_SET_GROUPS_LIST, 0, groups.encode()))

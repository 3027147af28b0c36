"""``triochat certs``: a development CA and server certificate, for ``--tls`` on one machine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .._tls import DEFAULT_CERT_DIR, DEV_HOSTNAMES, TlsSetupError, make_dev_certificates

if TYPE_CHECKING:
    import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``triochat certs``."""
    parser.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_CERT_DIR,
        help="where to write ca.pem and server.pem (default: %(default)s)",
    )
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="NAME",
        help=f"another name or address the certificate is for, besides {', '.join(DEV_HOSTNAMES)}"
        " (repeatable)",
    )
    parser.add_argument("--force", action="store_true", help="replace existing files")


def run(args: argparse.Namespace) -> int:
    """Run ``triochat certs``."""
    try:
        ca, server = make_dev_certificates(args.dir, tuple(args.host), force=args.force)
    except TlsSetupError as error:
        print(f"triochat certs: {error}", file=sys.stderr)
        return 2
    print(f"wrote {ca} (the CA: give it to clients, e.g. triochat connect --tls --ca {ca})")
    print(f"wrote {server} (certificate and private key: triochat serve --tls --cert {server})")
    print("These are for development only: the CA's key is thrown away, so nothing else is signed.")
    return 0

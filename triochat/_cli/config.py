"""``triochat config example`` prints a full config file; ``config check FILE`` checks one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._ops.configfile import ConfigError
from .._ops.example import example_config
from .._ops.launch import load
from .._tls import TlsSetupError, server_context

__all__ = ["add_arguments"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``triochat config example`` and ``triochat config check FILE``."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    example = actions.add_parser("example", help="print a commented file with every default")
    example.set_defaults(run=run_example)
    check = actions.add_parser("check", help="validate a file without starting (exit 0 or 2)")
    check.add_argument("file", type=Path, metavar="FILE")
    check.set_defaults(run=run_check)


def run_example(args: argparse.Namespace) -> int:
    """Print the example config."""
    sys.stdout.write(example_config())
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Check ``args.file`` as ``triochat serve --config FILE`` would, TLS certificate included."""
    try:
        launch = load(argparse.Namespace(config=args.file))
        if launch.tls_port is not None:
            server_context(launch.cert, launch.key)
    except (ConfigError, TlsSetupError) as error:
        print(f"triochat config check: {error}", file=sys.stderr)
        return 2
    for warning in launch.warnings:
        print(f"triochat config check: warning: {warning}", file=sys.stderr)
    print(f"{args.file}: OK")
    return 0

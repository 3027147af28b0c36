"""``triochat db backup FILE``: copy the history database, safe while the server runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._ops.backup import BackupError, backup
from .._ops.configfile import ConfigError
from .._ops.launch import load

__all__ = ["add_arguments"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``triochat db backup FILE [--db PATH | --config FILE] [--force]``."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    copy = actions.add_parser("backup", help="copy the history database (safe while running)")
    copy.add_argument("file", type=Path, metavar="FILE", help="where to write the copy")
    copy.add_argument(
        "--db", type=Path, help="the database to copy (default: the config's, or triochat.db)"
    )
    copy.add_argument("--config", type=Path, metavar="FILE", help="take history.db from this file")
    copy.add_argument("--force", action="store_true", help="replace FILE if it exists")
    copy.set_defaults(run=run_backup)


def run_backup(args: argparse.Namespace) -> int:
    """Run ``triochat db backup``."""
    source: Path | None = args.db
    if source is None:
        try:
            source = Path(load(argparse.Namespace(config=args.config)).server.history_db)
        except ConfigError as error:
            print(f"triochat db backup: {error}", file=sys.stderr)
            return 2
    try:
        messages = backup(source, args.file, force=args.force)
    except BackupError as error:
        print(f"triochat db backup: {error}", file=sys.stderr)
        return 2
    print(f"backed up {source} to {args.file} ({messages} message(s))")
    return 0

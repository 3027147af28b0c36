"""``triochat db backup``: a consistent copy of the history database, safe while the server runs.

SQLite's online backup API (:meth:`sqlite3.Connection.backup`) copies the
database as one read transaction sees it: with WAL, the server keeps writing
meanwhile and the copy is a snapshot, never a torn file (copying the file
with ``cp`` can be). The copy goes to a temporary file beside the target,
is checked, and only then renamed into place, so a failed backup never
leaves a half-written file under the target's name.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["BackupError", "backup"]


class BackupError(Exception):
    """The backup cannot be made; the message says why."""


def backup(source: Path, target: Path, *, force: bool = False) -> int:
    """Copy the database ``source`` to ``target``; return how many messages the copy holds."""
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    if target.exists() and not force:
        raise BackupError(f"{target} already exists; pass --force to replace it")
    if target.is_dir():
        raise BackupError(f"{target} is a directory")
    partial = target.with_name(f".{target.name}.partial")
    try:
        source_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=10.0)
    except sqlite3.Error as error:
        raise BackupError(f"cannot open {source}: {error}") from None
    try:
        with contextlib.closing(sqlite3.connect(partial)) as copy:
            source_db.backup(copy)
            if copy.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise BackupError(f"the copy of {source} failed its integrity check")
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            messages = _count(copy)
        os.replace(partial, target)
    except sqlite3.Error as error:
        raise BackupError(f"cannot back up {source} to {target}: {error}") from None
    except OSError as error:
        raise BackupError(f"cannot write {target}: {error.strerror}") from None
    finally:
        source_db.close()
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return messages


def _count(db: sqlite3.Connection) -> int:
    try:
        return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])
    except sqlite3.OperationalError:  # not a triochat database, or an empty one: still copied
        return 0

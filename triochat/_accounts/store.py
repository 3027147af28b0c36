"""The ``accounts`` table, in the same SQLite database as the chat history.

Plain synchronous ``sqlite3`` with its own connection to the file (WAL mode
lets it share the file with the history writer); :mod:`.service` calls it
from worker threads, one at a time. The table is created on open, so a
database made by an older triochat (history only) gains it on the next
start, its messages untouched. The history's ``user_version`` is left alone.

Account names are stored as given and indexed casefolded, like nicknames.
Ids come from ``AUTOINCREMENT``, so an id is never reused: a dropped account
registered again by someone else is a different account.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from .._irc.names import casefold
from .records import Account, ScramCredentials
from .roomstore import ROOM_SCHEMA, RoomStore

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["AccountStore", "AccountStoreError"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created REAL NOT NULL,
    password_hash TEXT NOT NULL,
    scram_salt BLOB NOT NULL,
    scram_iterations INTEGER NOT NULL,
    scram_stored_key BLOB NOT NULL,
    scram_server_key BLOB NOT NULL,
    email TEXT
);
CREATE TABLE IF NOT EXISTS account_certs (
    certfp TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS account_certs_by_account ON account_certs (account_id);
"""
_COLUMNS: Final = (
    "id, name, created, scram_salt, scram_iterations, scram_stored_key, scram_server_key, email"
)


class AccountStoreError(Exception):
    """The accounts table cannot be opened or set up."""


class AccountStore:
    """Accounts in one SQLite database; synchronous, one caller at a time."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.on_disk = on_disk = self.path not in (":memory:", "")
        if on_disk and Path(self.path).is_dir():
            raise AccountStoreError(f"{self.path}: it is a directory")
        try:
            self._db = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False)
            if on_disk:
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA + ROOM_SCHEMA)
        except sqlite3.Error as error:
            raise AccountStoreError(f"{self.path}: {error}") from None
        #: Registered rooms (ChanServ), in the same database and connection.
        self.rooms = RoomStore(self._db)

    def close(self) -> None:
        self._db.close()

    def _account(self, row: Sequence[Any]) -> Account:
        account_id, name, created, salt, iterations, stored, server, email = row
        certs = self._db.execute(
            "SELECT certfp FROM account_certs WHERE account_id = ? ORDER BY certfp", (account_id,)
        )
        scram = ScramCredentials(bytes(salt), int(iterations), bytes(stored), bytes(server))
        return Account(account_id, name, float(created), scram, tuple(fp for (fp,) in certs), email)

    def create(
        self,
        name: str,
        password_hash: str,
        scram: ScramCredentials,
        *,
        email: str | None,
        now: float,
    ) -> Account | None:
        """Create account ``name``; None if an account of that (casefolded) name exists."""
        try:
            with self._db:
                cursor = self._db.execute(
                    """
                    INSERT INTO accounts (key, name, created, password_hash, scram_salt,
                        scram_iterations, scram_stored_key, scram_server_key, email)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    (
                        casefold(name),
                        name,
                        now,
                        password_hash,
                        scram.salt,
                        scram.iterations,
                        scram.stored_key,
                        scram.server_key,
                        email,
                    ),
                )
        except sqlite3.IntegrityError:
            return None
        assert cursor.lastrowid is not None
        return self.by_id(cursor.lastrowid)

    def by_id(self, account_id: int) -> Account | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM accounts WHERE id = ?", (account_id,)
        ).fetchone()
        return None if row is None else self._account(row)

    def get(self, name: str) -> tuple[Account, str] | None:
        """The account called ``name`` (casefolded) and its password hash."""
        row = self._db.execute(
            f"SELECT {_COLUMNS}, password_hash FROM accounts WHERE key = ?", (casefold(name),)
        ).fetchone()
        return None if row is None else (self._account(row[:-1]), str(row[-1]))

    def by_cert(self, certfp: str) -> Account | None:
        row = self._db.execute(
            "SELECT account_id FROM account_certs WHERE certfp = ?", (certfp.lower(),)
        ).fetchone()
        return None if row is None else self.by_id(int(row[0]))

    def names(self) -> list[str]:
        """Every account name, as registered (the state reserves them as nicknames)."""
        return [name for (name,) in self._db.execute("SELECT name FROM accounts ORDER BY id")]

    def drop(self, account_id: int) -> bool:
        """Delete the account, its certificates and its rooms; False if it was already gone.

        As Ergo does on unregistering, the rooms it founded stop being registered
        (nobody could manage them again), and its access entries in other rooms
        go too (a newcomer who registers the name inherits nothing). All in one
        transaction.
        """
        with self._db:
            row = self._db.execute("SELECT key FROM accounts WHERE id = ?", (account_id,))
            found = row.fetchone()
            if found is not None:
                self.rooms.forget_account(account_id, found[0])
            self._db.execute("DELETE FROM account_certs WHERE account_id = ?", (account_id,))
            cursor = self._db.execute("DELETE FROM accounts WHERE id = ?", (account_id,))
        return cursor.rowcount > 0

    def set_password(
        self, account_id: int, password_hash: str, scram: ScramCredentials
    ) -> Account | None:
        with self._db:
            self._db.execute(
                """
                UPDATE accounts SET password_hash = ?, scram_salt = ?, scram_iterations = ?,
                    scram_stored_key = ?, scram_server_key = ? WHERE id = ?
                """,
                (
                    password_hash,
                    scram.salt,
                    scram.iterations,
                    scram.stored_key,
                    scram.server_key,
                    account_id,
                ),
            )
        return self.by_id(account_id)

    def change_cert(self, account_id: int, certfp: str, *, add: bool) -> Account | None:
        """Add (or delete) a certificate fingerprint; one certificate names one account."""
        certfp = certfp.lower()
        with self._db:
            if add:
                self._db.execute(
                    "INSERT OR REPLACE INTO account_certs (certfp, account_id) VALUES (?, ?)",
                    (certfp, account_id),
                )
            else:
                self._db.execute(
                    "DELETE FROM account_certs WHERE certfp = ? AND account_id = ?",
                    (certfp, account_id),
                )
        return self.by_id(account_id)

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM accounts").fetchone()[0])

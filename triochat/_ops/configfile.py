"""The TOML config file: read it, check every key, and say where a problem is (FILE:LINE).

``tomllib`` gives values but no positions, so :class:`_Lines` scans the text
for table headers and keys to find the line of each one. A syntax error from
``tomllib`` already names its line. Every problem is collected, so one run of
``triochat config check`` lists them all.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._opers.passwords import is_password_hash
from .checks import Invalid, word
from .settings import BY_KEY, SECTIONS

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["ConfigError", "Given", "Operator", "read_file"]

_HEADER = re.compile(r"\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_NAME = r"(?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+)"
_KEY = re.compile(rf"\s*({_NAME}(?:\s*\.\s*{_NAME})*)\s*=")


class ConfigError(ValueError):
    """The configuration is refused; each line of the message is one problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Given:
    """A value that a file or a flag gave, with where it came from for error messages."""

    value: object
    #: ``name`` as the user wrote it: ``limits.max_clients``, or ``--max-clients``.
    name: str
    #: ``FILE:LINE`` for a file; None for a flag or the environment.
    where: str | None = None

    def problem(self, phrase: str) -> str:
        """``FILE:LINE: key: phrase`` for a file, ``--flag phrase`` for a flag."""
        if self.where is None:
            return f"{self.name} {phrase}"
        return f"{self.where}: {self.name}: {phrase}"


@dataclass(frozen=True, slots=True)
class Operator:
    """An ``[[operators]]`` entry (or ``--oper NAME:HASH``): a name and a password hash."""

    name: str
    hash: str


def _parts(dotted: str) -> tuple[str, ...]:
    """``a."b".c`` as its names (a quoted key holding a dot is not supported: none exists)."""
    return tuple(part.strip().strip("\"'") for part in dotted.split("."))


class _Lines:
    """Where each table and key of a TOML text is, by scanning its lines."""

    def __init__(self, file: Path, text: str) -> None:
        self.file = file
        self._lines: dict[tuple[str | int, ...], int] = {}
        table: tuple[str | int, ...] = ()
        arrays: dict[tuple[str, ...], int] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            header = _HEADER.match(line)
            if header is not None:
                names = _parts(header[2])
                if header[1] == "[[":
                    index = arrays[names] = arrays.get(names, -1) + 1
                    table = (*names, index)
                else:
                    table = names
                self._lines.setdefault(table, number)
                continue
            key = _KEY.match(line)
            if key is not None:
                self._lines.setdefault((*table, *_parts(key[1])), number)

    def at(self, *path: str | int) -> str:
        """``FILE:LINE`` of ``path``, or of the nearest enclosing table or key found."""
        for end in range(len(path), 0, -1):
            number = self._lines.get(path[:end])
            if number is not None:
                return f"{self.file}:{number}"
        return f"{self.file}:1"


def read_file(file: Path) -> tuple[dict[str, Given], tuple[Operator, ...]]:
    """The settings ``file`` gives (by dest) and its operators; :class:`ConfigError` if wrong."""
    try:
        text = file.read_bytes().decode("utf-8")
    except IsADirectoryError:
        raise ConfigError([f"{file}: is a directory, not a config file"]) from None
    except OSError as error:
        raise ConfigError([f"{file}: cannot read it: {error.strerror}"]) from None
    except UnicodeDecodeError as error:
        raise ConfigError([f"{file}: not UTF-8 text ({error.reason})"]) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"at line (\d+)", str(error))
        raise ConfigError([f"{file}:{found[1] if found else 1}: not valid TOML: {error}"]) from None
    return _Reader(_Lines(file, text)).read(document)


class _Reader:
    """Walks the parsed document, checking each key against :data:`~.settings.SETTINGS`."""

    def __init__(self, lines: _Lines) -> None:
        self.lines = lines
        self.values: dict[str, Given] = {}
        self.operators: list[Operator] = []
        self.problems: list[str] = []

    def complain(self, path: tuple[str | int, ...], name: str, phrase: str) -> None:
        self.problems.append(f"{self.lines.at(*path)}: {name}: {phrase}")

    def read(self, document: dict[str, object]) -> tuple[dict[str, Given], tuple[Operator, ...]]:
        for section, table in document.items():
            if section not in SECTIONS or section == "listeners.web":
                known = ", ".join(f"[{name}]" for name in SECTIONS)
                self.complain((section,), section, f"unknown section; expected one of {known}")
            elif section == "operators":
                self._operators(table)
            elif not isinstance(table, dict):
                self.complain((section,), section, "must be a table, like [" + section + "]")
            else:
                self._table((section,), table)
        if self.problems:
            raise ConfigError(self.problems)
        return self.values, tuple(self.operators)

    def _table(self, path: tuple[str, ...], table: dict[str, object]) -> None:
        section = ".".join(path)
        for key, value in table.items():
            if section == "listeners" and key == "web":
                if isinstance(value, dict):
                    self._table((*path, key), value)
                else:
                    self.complain(
                        (*path, key), "listeners.web", "must be a table, like [listeners.web]"
                    )
                continue
            setting = BY_KEY.get((section, key))
            name = f"{section}.{key}"
            if setting is None:
                known = ", ".join(s.key for s in BY_KEY.values() if s.section == section)
                self.complain((*path, key), name, f"unknown key; expected one of {known}")
                continue
            try:
                checked = setting.check(value)
            except Invalid as error:
                self.complain((*path, key), name, str(error))
            else:
                self.values[setting.dest] = Given(checked, name, self.lines.at(*path, key))

    def _operators(self, entries: object) -> None:
        if not isinstance(entries, list):
            self.complain(
                ("operators",),
                "operators",
                "must be a list of tables, like [[operators]] with name and hash",
            )
            return
        for index, entry in enumerate(entries):
            path: tuple[str | int, ...] = ("operators", index)
            name = f"operators[{index}]"
            if not isinstance(entry, dict):
                self.complain(path, name, "must be a table with name and hash")
                continue
            for key in entry.keys() - {"name", "hash"}:
                self.complain((*path, key), f"{name}.{key}", "unknown key; expected name, hash")
            for key in ("name", "hash"):
                if key not in entry:
                    self.complain(path, f"{name}.{key}", "is missing")
            try:
                word(entry.get("name", "x"))
            except Invalid as error:
                self.complain((*path, "name"), f"{name}.name", str(error))
            secret = entry.get("hash")
            if "hash" in entry and (not isinstance(secret, str) or not is_password_hash(secret)):
                self.complain(
                    (*path, "hash"),
                    f"{name}.hash",
                    "must be a password hash made by 'triochat hash-password'",
                )
            if not self.problems:
                self.operators.append(Operator(str(entry["name"]), str(entry["hash"])))

"""The checks every setting goes through, from a flag or from the config file.

A check gets a value already typed (by argparse or by TOML) and returns it
normalised, or raises :class:`Invalid` with what was expected, phrased to
follow the setting's name: ``--max-clients must be 0 (no limit) or more``, or
in a file, ``triochat.toml:7: limits.max_clients: must be 0 (no limit) or more, not -1``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .._irc.wire import MAX_LINE_BYTES
from .logs import LOG_FORMATS, parse_level

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["MIN_QUEUE_BYTES", "Invalid", "parse_duration"]

#: The smallest SendQ or RecvQ: one line of the longest kind, tags and CRLF included.
MIN_QUEUE_BYTES: Final = MAX_LINE_BYTES + 2
_DURATION = re.compile(r"(\d+(?:\.\d*)?)\s*([smhdw]?)")
_SECONDS_PER_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class Invalid(ValueError):
    """A value that a check refused; the message says what was expected."""


def _shown(value: object) -> str:
    """A value as the file would spell it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return str(value)


def integer(
    low: int, high: int | None = None, phrase: str | None = None
) -> Callable[[object], object]:
    """An int (never a bool) from ``low`` to ``high``."""
    if phrase is None:
        phrase = f"must be {low} or more" if high is None else f"must be from {low} to {high}"
        if low == 1 and high is None:
            phrase = "must be positive"

    def check(value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be a whole number, not {_shown(value)}")
        if value < low or (high is not None and value > high):
            raise Invalid(f"{phrase}, not {value}")
        return value

    return check


def positive(value: object) -> object:
    """A number above 0 (an int or a float), as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"must be a number, not {_shown(value)}")
    if not value > 0 or value != value or value == float("inf"):
        raise Invalid(f"must be positive, not {value}")
    return float(value)


def boolean(value: object) -> object:
    if not isinstance(value, bool):
        raise Invalid(f"must be true or false, not {_shown(value)}")
    return value


def text(value: object) -> object:
    if not isinstance(value, str):
        raise Invalid(f"must be a string, not {_shown(value)}")
    return value


def word(value: object) -> object:
    """A server or network name: one word, no IRC punctuation."""
    if not isinstance(value, str) or not value or any(c in value for c in " \r\n\0:,!@"):
        raise Invalid(f"must be one word: {_shown(value)}")
    return value


def redis_url(value: object) -> object:
    """Where the cluster's Redis is: a ``redis://``, ``rediss://`` or ``unix://`` URL."""
    if not isinstance(value, str) or not value.startswith(("redis://", "rediss://", "unix://")):
        raise Invalid(f"wants a redis:// URL, not {_shown(value)}")
    return value


def node_name(value: object) -> object:
    """A cluster node's name: it goes into Redis keys and owner tags, so no separators."""
    if not isinstance(value, str) or not value or any(c in value for c in " :{},\r\n\0"):
        raise Invalid(f"no spaces, ':', ',' or braces: {_shown(value)}")
    return value


def password(value: object) -> object:
    """A connection password; an empty one means none."""
    if not isinstance(value, str):
        raise Invalid(f"must be a string, not {_shown(value)}")
    if any(c in value for c in " \r\n\0"):
        raise Invalid("cannot contain spaces or line breaks")
    return value or None


def path(value: object) -> object:
    if isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value:
        raise Invalid(f"must be a file name, not {_shown(value)}")
    return Path(value)


def database(value: object) -> object:
    if not isinstance(value, str | Path) or not str(value):
        raise Invalid(f"must be a file name or ':memory:', not {_shown(value)}")
    return str(value)


def parse_duration(value: object) -> float:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` or plain seconds, in seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return positive(value)  # type: ignore[return-value]
    match = _DURATION.fullmatch(value.strip().lower()) if isinstance(value, str) else None
    if match is None or float(match[1]) <= 0:
        raise Invalid(f"must be a positive duration like 30d or 12h: {_shown(value)}")
    return float(match[1]) * _SECONDS_PER_UNIT[match[2]]


def log_level(value: object) -> object:
    if not isinstance(value, str):
        raise Invalid(f"must be a string, not {_shown(value)}")
    try:
        return parse_level(value)
    except ValueError as error:
        raise Invalid(f"must be {error}: {value!r}") from None


def log_format(value: object) -> object:
    if value not in LOG_FORMATS:
        raise Invalid(f"must be one of {', '.join(LOG_FORMATS)}: {_shown(value)}")
    return value


def choice(*options: str) -> Callable[[object], object]:
    """One of ``options``, exactly."""

    def checked(value: object) -> object:
        if value not in options:
            raise Invalid(f"must be one of {', '.join(options)}: {_shown(value)}")
        return value

    return checked


def strings(value: object) -> object:
    """A string or a list of strings, as a tuple."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise Invalid(f"must be a string or a list of strings, not {_shown(value)}")


def optional(check: Callable[[object], object]) -> Callable[[object], object]:
    """``check``, letting None (a flag or key not given) through."""

    def checked(value: object) -> object:
        return None if value is None else check(value)

    return checked

"""Nicknames and channel names: what is valid, and when two names are the same.

Every naming rule lives here, so that validation and comparison can never
disagree. Names compare under the ``rfc1459`` casemapping that we advertise
(``CASEMAPPING=rfc1459``): ASCII letters ignore case, and ``[]\\~`` are the
upper-case forms of ``{}|^``.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "CASEMAPPING",
    "CHANNEL_PREFIXES",
    "MAX_CHANNEL_LENGTH",
    "MAX_NICK_LENGTH",
    "casefold",
    "is_channel",
    "valid_channel",
    "valid_nick",
]

CASEMAPPING: Final = "rfc1459"
CHANNEL_PREFIXES: Final = "#"
_CHANNEL_PREFIXES: Final = tuple(CHANNEL_PREFIXES)  # as str.startswith takes them
MAX_NICK_LENGTH: Final = 30
MAX_CHANNEL_LENGTH: Final = 50

_FOLD: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~", "abcdefghijklmnopqrstuvwxyz{}|^")
# The classic nickname grammar (RFC 2812 section 2.3.1): every client parses it.
_NICK: Final = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]*")
# Channel names may hold any UTF-8 except separators and control characters.
# (C0, DEL and C1: a C1 control such as CSI, U+009B, drives terminals like ESC [).
_CHANNEL_FORBIDDEN: Final = re.compile(r"[\x00-\x20,\x7f-\x9f]")


def casefold(name: str) -> str:
    """The key under which ``name`` is unique (rfc1459 casemapping)."""
    return name.translate(_FOLD)


def valid_nick(nick: str) -> bool:
    """True when ``nick`` may be used as a nickname."""
    return len(nick) <= MAX_NICK_LENGTH and _NICK.fullmatch(nick) is not None


def is_channel(target: str) -> bool:
    """True when ``target`` names a channel rather than a nickname."""
    return target.startswith(_CHANNEL_PREFIXES)


def valid_channel(name: str) -> bool:
    """True when ``name`` may be used as a channel name."""
    return (
        1 < len(name) <= MAX_CHANNEL_LENGTH
        and is_channel(name)
        and _CHANNEL_FORBIDDEN.search(name) is None
    )

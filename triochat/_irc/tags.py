"""Message tags: the ``server-time`` and ``msgid`` values, and who receives which tags.

One policy decides which tags a recipient sees (:func:`tag_variant` and
:func:`visible_tags`), for live fan-out and for history replay alike. As the
IRCv3 message-tags spec says, a tag goes to clients that negotiated
``message-tags`` *or* the capability that defines that tag: ``server-time``
brings the ``time`` tag, ``account-tag`` the ``account`` tag, and
``message-tags`` every tag but ``time`` (``account``, ``msgid``, client-only
``+tags``). A connection's variant is computed once, when its capabilities
change, so the fan-out reads one small integer per delivery and serializes
each message at most once per variant.
"""

from __future__ import annotations

import functools
import itertools
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

__all__ = [
    "ALL_TAGS",
    "NO_TAGS",
    "TAG_VARIANTS",
    "iso_time",
    "milliseconds",
    "new_id_source",
    "receives_client_tags",
    "tag_variant",
    "visible_tags",
]

#: Variants, as bit sets: 1 = the ``time`` tag, 2 = the ``account`` tag, 4 = every other tag.
NO_TAGS: Final = 0
ALL_TAGS: Final = 7
TAG_VARIANTS: Final = 8
_TIME: Final = 1
_ACCOUNT: Final = 2
_OTHERS: Final = 4
#: The variant bit that brings each tag with a capability of its own; any other: ``_OTHERS``.
_BIT: Final = {"time": _TIME, "account": _ACCOUNT}


def tag_variant(caps: Collection[str]) -> int:
    """Which tags a connection with these capabilities receives (0 to 7)."""
    variant = _TIME if "server-time" in caps else NO_TAGS
    if "message-tags" in caps:
        return variant | _ACCOUNT | _OTHERS
    return variant | _ACCOUNT if "account-tag" in caps else variant


def receives_client_tags(variant: int) -> bool:
    """True if a recipient of ``variant`` sees tags other than ``time`` (``message-tags``)."""
    return bool(variant & _OTHERS)


def visible_tags(tags: Mapping[str, str], variant: int) -> Mapping[str, str]:
    """The part of ``tags`` a recipient of ``variant`` receives."""
    if variant == ALL_TAGS or not tags:
        return tags
    return {key: value for key, value in tags.items() if variant & _BIT.get(key, _OTHERS)}


def milliseconds(timestamp: float) -> int:
    """``timestamp`` (UNIX seconds) in whole milliseconds, as ``datetime`` rounds it."""
    return round(timestamp * 1_000_000) // 1000


def iso_time(time_ms: int) -> str:
    """The IRCv3 ``server-time`` format: UTC with milliseconds."""
    return f"{_iso_second(time_ms // 1000)}{time_ms % 1000:03d}Z"


@functools.lru_cache(maxsize=64)
def _iso_second(seconds: int) -> str:
    """Everything but the milliseconds: shared by every message of that second."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.")


def new_id_source() -> tuple[str, Callable[[], str]]:
    """A random prefix for this server run, and a function that makes unique message ids.

    The prefix keeps ids unique across restarts that share a database; the
    counter keeps making one cheap. Sessions use the prefix too.
    """
    prefix = secrets.token_hex(8)
    counter = itertools.count(1)
    return prefix, lambda: f"{prefix}{next(counter):x}"

"""Hostmasks (``nick!user@host`` with ``*`` and ``?``): normalised, validated and matched.

Ban, exception and invite lists and server bans all hold masks. Matching
follows the casemapping of :mod:`.names` (``[]\\~`` are the upper-case forms
of ``{}|^``), so a ban on ``Bob[m]`` also keeps out ``bob{m}``. A list of masks
is compiled once into one regular expression (:class:`MaskSet`), so checking
a user against a list of a hundred masks is one ``match`` call, not a hundred.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Final

from .names import casefold

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["MAX_MASK_LENGTH", "MaskSet", "mask_matches", "normalize_mask", "valid_mask"]

#: The longest mask accepted: a nick, a user and a host each of generous length.
MAX_MASK_LENGTH: Final = 150
_FORBIDDEN: Final = re.compile(r"[\x00-\x20,\x7f]")


def normalize_mask(text: str) -> str:
    """``text`` as a full ``nick!user@host`` mask: ``bob`` is ``bob!*@*``, ``*@h`` is ``*!*@h``."""
    if "!" not in text and "@" not in text:
        if "." in text or ":" in text:  # a bare host
            return f"*!*@{text}"
        return f"{text}!*@*"
    if "!" not in text:
        return f"*!{text}"
    if "@" not in text:
        return f"{text}@*"
    return text


def valid_mask(mask: str) -> bool:
    """True when ``mask`` may be stored: short enough, no spaces, commas or controls."""
    return 0 < len(mask) <= MAX_MASK_LENGTH and _FORBIDDEN.search(mask) is None


def _pattern(mask: str) -> str:
    """The regular expression of one mask, over casefolded text."""
    return "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in casefold(mask)
    )


def mask_matches(mask: str, text: str) -> bool:
    """True when ``text`` (e.g. ``nick!user@host``) matches ``mask`` under the casemapping."""
    return re.fullmatch(_pattern(mask), casefold(text), re.DOTALL) is not None


class MaskSet:
    """Masks compiled together: one regular expression answers "does any of them match?"."""

    __slots__ = ("_regex",)

    def __init__(self, masks: Iterable[str]) -> None:
        alternatives = [_pattern(mask) for mask in masks]
        self._regex = (
            re.compile("(?:" + "|".join(alternatives) + r")\Z", re.DOTALL) if alternatives else None
        )

    def match(self, text: str) -> bool:
        """True when any mask matches ``text``."""
        return self._regex is not None and self._regex.match(casefold(text)) is not None


def host_in(network: str, host: str) -> bool:
    """True when ``host`` is the address ``network`` (an IP or CIDR) or inside it, or matches
    it as a mask (``10.0.*``)."""
    try:
        net = ipaddress.ip_network(network, strict=False)
        return ipaddress.ip_address(host) in net
    except ValueError:
        return mask_matches(network, host)

"""Mode strings (``+ov-t alice bob``): parsed and rendered the same way by server and client.

Which letters take a parameter is not fixed by IRC: each server says so in
ISUPPORT ``CHANMODES=A,B,C,D`` (A: lists, always a parameter; B: always a
parameter; C: a parameter when set; D: never) and ``PREFIX=(ov)@+`` (member
statuses, always a parameter). :class:`ModeSyntax` holds that, and
:func:`parse_modes` walks a mode string with it, so that a letter the reader
does not know never shifts the parameters of the letters after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ["ModeChange", "ModeSyntax", "parse_modes", "render_modes"]


@dataclass(frozen=True, slots=True)
class ModeSyntax:
    """The parameter rules of channel modes, as ``CHANMODES`` and ``PREFIX`` advertise them."""

    lists: str = "beI"
    always: str = "k"
    when_set: str = "lfjL"
    flags: str = ""
    #: (mode, prefix) pairs, highest rank first.
    prefixes: tuple[tuple[str, str], ...] = (
        ("q", "~"),
        ("a", "&"),
        ("o", "@"),
        ("h", "%"),
        ("v", "+"),
    )

    @classmethod
    def from_isupport(cls, chanmodes: str, prefix: str) -> ModeSyntax:
        """The rules a server advertised, e.g. ``("beI,k,l,imnst", "(ov)@+")``."""
        lists, always, when_set, flags = [*chanmodes.split(","), "", "", "", ""][:4]
        pairs: tuple[tuple[str, str], ...] = ()
        if prefix.startswith("(") and ")" in prefix:
            modes, symbols = prefix[1:].split(")", 1)
            pairs = tuple(zip(modes, symbols, strict=False))
        return cls(lists, always, when_set, flags, pairs)

    @property
    def chanmodes(self) -> str:
        """The ``CHANMODES=`` value."""
        return f"{self.lists},{self.always},{self.when_set},{self.flags}"

    @property
    def prefix(self) -> str:
        """The ``PREFIX=`` value."""
        modes = "".join(mode for mode, _ in self.prefixes)
        symbols = "".join(symbol for _, symbol in self.prefixes)
        return f"({modes}){symbols}"

    def is_prefix(self, letter: str) -> bool:
        return any(mode == letter for mode, _ in self.prefixes)

    def symbol(self, letter: str) -> str:
        """The prefix shown for member status ``letter`` (``@`` for ``o``)."""
        return next(symbol for mode, symbol in self.prefixes if mode == letter)

    def takes_param(self, letter: str, adding: bool) -> bool:
        if letter in self.lists or letter in self.always or self.is_prefix(letter):
            return True
        return adding and letter in self.when_set


@dataclass(frozen=True, slots=True)
class ModeChange:
    """One letter of a mode string: ``+o alice`` is ``ModeChange(True, "o", "alice")``.

    ``param`` is None when the letter takes none, or when the string ran out
    of parameters for it (the reader decides: a list query, or a 461).
    """

    adding: bool
    letter: str
    param: str | None = None


def parse_modes(syntax: ModeSyntax, modes: str, params: Sequence[str]) -> list[ModeChange]:
    """Every change in ``modes`` with its parameter taken from ``params`` in order."""
    changes: list[ModeChange] = []
    remaining = iter(params)
    adding = True
    for letter in modes:
        if letter in "+-":
            adding = letter == "+"
        elif syntax.takes_param(letter, adding):
            changes.append(ModeChange(adding, letter, next(remaining, None)))
        else:
            changes.append(ModeChange(adding, letter))
    return changes


def render_modes(changes: Iterable[ModeChange]) -> tuple[str, list[str]]:
    """``("+ov-t", ["alice", "bob"])`` for those changes: signs only where they change."""
    text, sign, params = "", "", []
    for change in changes:
        wanted = "+" if change.adding else "-"
        if wanted != sign:
            text += wanted
            sign = wanted
        text += change.letter
        if change.param is not None:
            params.append(change.param)
    return text, params

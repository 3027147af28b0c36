"""Text rules of the chat client: what is safe to show, and how long text is cut.

Nothing here knows about IRC state or I/O. Two jobs:

* :func:`sanitize` makes text that came from other people safe to print on a
  terminal: mIRC formatting codes are removed, and every control character
  (C0, DEL, C1, and the Unicode bidirectional overrides that can make a line
  read backwards) becomes a visible ``?``. An ESC byte can therefore never
  reach the terminal, so nobody can move the cursor, retitle the window or
  fake a line from someone else.
* :func:`split_utf8` cuts text into pieces that each fit a byte budget, only
  ever between characters, and without losing or adding a single character.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["sanitize", "split_utf8", "strip_formatting"]

# mIRC formatting (https://modern.ircdocs.horse/formatting): bold, italics,
# underline, strikethrough, monospace, reverse, reset, and the two colour codes
# with their optional foreground[,background] arguments.
_FORMATTING: Final = re.compile(
    r"\x03(?:\d{1,2}(?:,\d{1,2})?)?"
    r"|\x04(?:[0-9A-Fa-f]{6}(?:,[0-9A-Fa-f]{6})?)?"
    r"|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)
# Everything a terminal may interpret rather than print. U+2028/2029 end lines in
# some terminals; U+202A-202E and U+2066-2069 reorder text (bidi overrides).
_UNSAFE: Final = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def strip_formatting(text: str) -> str:
    """``text`` without mIRC formatting codes (colours, bold, ...)."""
    return _FORMATTING.sub("", text)


def sanitize(text: str) -> str:
    """``text`` made safe for a terminal: no formatting, no control characters.

    A tab becomes a space; every other control character becomes ``?`` so that
    the reader can see that something was there.
    """
    return _UNSAFE.sub("?", strip_formatting(text).replace("\t", " "))


def split_utf8(text: str, max_bytes: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``max_bytes`` UTF-8 bytes each.

    Pieces end after a space when one falls in the second half of the budget
    (so words stay whole), otherwise at the last character that fits.
    ``"".join(pieces) == text`` always holds. Empty text gives no pieces.

    Raises:
        ValueError: ``max_bytes`` cannot hold even one character (below 4).
    """
    if max_bytes < 4:
        raise ValueError(f"a budget of {max_bytes} bytes cannot hold every character")
    pieces: list[str] = []
    encoded = text.encode()
    start = 0
    while len(encoded) - start > max_bytes:
        end = start + max_bytes
        while encoded[end] & 0xC0 == 0x80:  # a continuation byte: step back to a boundary
            end -= 1
        space = encoded.rfind(b" ", start + max_bytes // 2, end)
        if space != -1:
            end = space + 1
        pieces.append(encoded[start:end].decode())
        start = end
    if start < len(encoded):
        pieces.append(encoded[start:].decode())
    return pieces

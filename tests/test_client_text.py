"""Terminal safety and line splitting of the chat client (sync, no I/O)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triochat._client.text import sanitize, split_utf8, strip_formatting


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text", "plain text"),
        ("\x1b[2J\x1b]0;owned\x07", "?[2J?]0;owned?"),
        ("bell\x07 and NUL\x00", "bell? and NUL?"),
        ("C1 \x9b31m csi", "C1 ?31m csi"),
        ("DEL\x7f", "DEL?"),
        ("tab\there", "tab here"),
        ("line\nbreak\rreturn", "line?break?return"),
        ("\u202egnp.exe", "?gnp.exe"),
        ("\u2066isolate\u2069", "?isolate?"),
        ("para\u2028graph", "para?graph"),
        (
            "\x02bold\x02 \x1ditalic\x1d \x1funder\x1f \x1estrike\x1e \x11mono\x11",
            "bold italic under strike mono",
        ),
        ("\x0304red\x03 \x0304,12on blue\x0f \x16rev\x16", "red on blue rev"),
        ("\x03,5 comma stays", ",5 comma stays"),
        ("\x04FF0000hex\x04", "hex"),
        ("caf\u00e9 \u2603 \U0001f600", "caf\u00e9 \u2603 \U0001f600"),
    ],
)
def test_sanitize_keeps_text_and_drops_controls(raw: str, shown: str) -> None:
    assert sanitize(raw) == shown


@given(st.text())
def test_sanitize_never_lets_a_control_character_through(text: str) -> None:
    shown = sanitize(text)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown)


def test_strip_formatting_keeps_digits_after_a_full_colour_code() -> None:
    assert strip_formatting("\x0312,345") == "5"


@pytest.mark.parametrize(
    ("text", "budget", "pieces"),
    [
        ("", 10, []),
        ("short", 10, ["short"]),
        ("exactly10!", 10, ["exactly10!"]),
        ("aaaaaaaaaabbbbb", 10, ["aaaaaaaaaa", "bbbbb"]),
        ("hello big world", 10, ["hello big ", "world"]),
        ("one verylongword", 12, ["one verylong", "word"]),
        ("onetwo verylongword", 12, ["onetwo ", "verylongword"]),
        ("\u00e9\u00e9\u00e9", 5, ["\u00e9\u00e9", "\u00e9"]),
        ("\U0001f600\U0001f600", 5, ["\U0001f600", "\U0001f600"]),
    ],
)
def test_split_utf8_cuts_between_characters(text: str, budget: int, pieces: list[str]) -> None:
    assert split_utf8(text, budget) == pieces


@given(st.text(), st.integers(min_value=4, max_value=64))
def test_split_utf8_loses_nothing_and_respects_the_budget(text: str, budget: int) -> None:
    pieces = split_utf8(text, budget)
    assert "".join(pieces) == text
    assert all(0 < len(piece.encode()) <= budget for piece in pieces)


def test_split_utf8_refuses_a_budget_below_one_character() -> None:
    with pytest.raises(ValueError, match="cannot hold"):
        split_utf8("text", 3)

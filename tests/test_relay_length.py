"""A message whose relayed line would pass 512 bytes is refused (417), never cut or sent long.

A client counts its own line, but the server relays it with the sender's
``nick!user@host`` in front, and a line over 512 bytes breaks clients that
trust the limit. Cutting it would change what was said without anybody
knowing, so (as Ergo does) the sender is told how much would fit instead.
"""

from __future__ import annotations

import pytest
from test_state import SERVER, A, Harness, room

from triochat._irc.wire import Message, serialize


def relayed_size(command: str, target: str, text: str) -> int:
    """Bytes of the line everybody else would get, CRLF included."""
    return len(serialize(Message(command, (target, text), A[1:]), tags={}))


def text_of(size: int, command: str, target: str, unit: str = "x") -> str:
    """The longest text of ``unit`` characters whose relayed line is at most ``size`` bytes."""
    text = ""
    while relayed_size(command, target, text + unit) <= size:
        text += unit
    return text


@pytest.mark.parametrize("unit", ["x", "é", "漢", "a b"])
@pytest.mark.parametrize("command", ["PRIVMSG", "NOTICE"])
def test_the_longest_line_that_fits_goes_out_whole_and_one_byte_more_is_refused(
    unit: str, command: str
) -> None:
    h = Harness()
    alice, bob, _, _ = room(h)
    fits = text_of(512, command, "#room", unit)
    assert relayed_size(command, "#room", fits) > 512 - len(unit.encode())  # as long as it gets
    assert len(f"{command} #room :{fits}".encode()) + 2 <= 512  # what alice sent was legal
    [line] = h.feed(alice, f"{command} #room :{fits}").to(bob)
    assert len(line.encode()) + 2 == relayed_size(command, "#room", fits)
    assert line.endswith(fits)
    longer = fits + unit
    assert len(f"{command} #room :{longer}".encode()) + 2 <= 512  # still legal as sent
    out = h.feed(alice, f"{command} #room :{longer}")
    allowed = len(fits.encode()) + (512 - relayed_size(command, "#room", fits))
    assert out.to(alice) == [
        f"{SERVER} 417 alice :Message too long to relay to #room"
        f" (at most {allowed} bytes of text here)"
    ]
    assert out.recipients() == {alice}


def test_each_target_is_judged_by_its_own_relayed_line() -> None:
    h = Harness()
    alice, bob, _, dave = room(h)
    h.feed(dave, "JOIN #a-much-longer-channel-name")
    h.feed(alice, "JOIN #a-much-longer-channel-name")
    text = text_of(505, "PRIVMSG", "#room")  # alice's own line is longer: it must be legal
    line = f"PRIVMSG #room,#a-much-longer-channel-name :{text}"
    assert len(line.encode()) + 2 <= 512
    out = h.feed(alice, line)
    assert out.to(bob)[0].endswith(text)  # #room: it fits
    assert out.codes(dave) == []  # the longer name: it would not
    assert out.codes(alice) == ["417"]

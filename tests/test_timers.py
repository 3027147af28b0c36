"""One task runs every timer the state sets (``triochat._server.timers``)."""

from __future__ import annotations

import trio
import trio.testing

from triochat._server.timers import Timers
from triochat._state.effects import ConnId, Timer


async def test_timers_fire_in_deadline_order_at_their_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fired: list[tuple[float, str]] = []
    timers = Timers(lambda timer: fired.append((trio.current_time(), timer.kind)))
    with trio.fail_after(100):
        async with trio.open_nursery() as nursery:
            await nursery.start(timers.run)
            start = trio.current_time()
            timers.schedule(30, Timer(ConnId(1), "late"))
            timers.schedule(10, Timer(ConnId(2), "early"))
            await trio.sleep(5)
            timers.schedule(1, Timer(ConnId(3), "sooner, set later"))  # wakes the task earlier
            timers.schedule(25, Timer(ConnId(4), "same"))
            timers.schedule(25, Timer(ConnId(5), "same, second"))
            await trio.sleep(40)
            nursery.cancel_scope.cancel()
    assert [(round(at - start), kind) for at, kind in fired] == [
        (6, "sooner, set later"),
        (10, "early"),
        (30, "late"),  # set first: equal deadlines keep the order they were set in
        (30, "same"),
        (30, "same, second"),
    ]
    assert len(timers) == 0

"""Timers the state asks for (:class:`~.._state.effects.Schedule`), all run by one task.

A heap of deadlines instead of a task or a cancel scope per timer: an idle
connection costs one heap entry, and a timer whose connection has gone just
finds nothing to do when it fires.
"""

from __future__ import annotations

import heapq
import itertools
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._state.effects import Timer

__all__ = ["Timers"]


class Timers:
    """Calls ``on_due(timer)`` for each timer when its delay has passed."""

    def __init__(self, on_due: Callable[[Timer], object]) -> None:
        self._on_due = on_due
        self._heap: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()  # equal deadlines fire in the order they were set
        self._changed = trio.Event()

    def schedule(self, delay: float, timer: Timer) -> None:
        deadline = trio.current_time() + delay
        if not self._heap or deadline < self._heap[0][0]:
            self._changed.set()
        heapq.heappush(self._heap, (deadline, next(self._order), timer))

    def __len__(self) -> int:
        return len(self._heap)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Fire timers as they fall due, forever."""
        task_status.started()
        heap = self._heap
        while True:
            self._changed = trio.Event()
            with trio.move_on_at(heap[0][0] if heap else float("inf")):
                await self._changed.wait()
            now = trio.current_time()
            while heap and heap[0][0] <= now:
                _, _, timer = heapq.heappop(heap)
                self._on_due(timer)

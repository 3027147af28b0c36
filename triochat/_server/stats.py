"""Numbers about a running server that no IRC command shows: live tasks, resident memory.

The soak tool reads them from the server's log (``--stats-interval``) to check
that a long run under hostile load leaves no task or memory behind.
"""

from __future__ import annotations

import os

import trio

__all__ = ["live_task_count", "rss_kib"]


def live_task_count() -> int:
    """Tasks alive in this trio run, found by walking the task tree from the root."""
    count = 0
    tasks = [trio.lowlevel.current_root_task()]
    while tasks:
        task = tasks.pop()
        if task is None:
            continue
        count += 1
        for nursery in task.child_nurseries:
            tasks.extend(nursery.child_tasks)
    return count


def rss_kib() -> int:
    """This process's resident memory in KiB (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            resident_pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return resident_pages * os.sysconf("SC_PAGE_SIZE") // 1024

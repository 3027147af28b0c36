"""CPU, memory and machine facts, read from /proc and getrusage.

The server's numbers come from ``/proc/<pid>`` of the server process itself,
so they measure that one process, whatever else runs on the machine.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(*pids: int) -> float:
    """User + system CPU time of the processes (fields 14 and 15 of /proc/<pid>/stat)."""
    ticks = 0
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat").read_text()
        # The command name (field 2) may contain spaces: count fields after its ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS_PER_S


def process_rss_kib(*pids: int) -> int:
    """Resident set size of the processes together in KiB (VmRSS of /proc/<pid>/status)."""
    return sum(_rss_kib(pid) for pid in pids)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ValueError(f"no VmRSS for process {pid}")


def own_cpu_seconds() -> float:
    """User + system CPU time of the calling process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raise_open_file_limit() -> int:
    """Raise RLIMIT_NOFILE to the hard limit (10,000 sockets need it); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft if soft != resource.RLIM_INFINITY else hard


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or "unknown CPU"."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return "unknown CPU"


def usable_cpus() -> int:
    """CPUs this process may run on (what ``nproc`` prints)."""
    return len(os.sched_getaffinity(0))


def machine_description() -> str:
    """One line for RESULTS.md: how many CPUs of which kind."""
    return f"nproc {usable_cpus()}, {cpu_model()}"

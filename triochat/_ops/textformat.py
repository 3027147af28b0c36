"""The Prometheus text exposition format (0.0.4), and the process's own numbers.

Small and stable enough to write by hand (see :mod:`.metrics` for why there
is no ``prometheus-client`` at run time); the tests parse it with
``prometheus_client``'s parser so it stays what Prometheus reads.
"""

from __future__ import annotations

import bisect
import os
import resource
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from .._server.stats import rss_kib

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["CONTENT_TYPE", "Family", "Histogram", "histogram_family", "process_families", "render"]

#: What ``/metrics`` answers with: the classic text format every scraper reads.
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


class Histogram:
    """Observations counted into fixed buckets (cumulative only when rendered)."""

    __slots__ = ("bounds", "count", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.count = 0
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.total += value


@dataclass
class Family:
    """One metric: its name, type, help and samples (labels, value)."""

    name: str
    kind: str
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)


def render(families: Iterable[Family]) -> str:
    """The Prometheus text exposition format (0.0.4) of ``families``."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {family.help}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for labels, value in family.samples:
            name = family.name
            if "__name__" in labels:  # histogram parts: _bucket, _sum, _count
                labels = dict(labels)
                name += labels.pop("__name__")
            text = ",".join(f'{key}="{value}"' for key, value in labels.items())
            lines.append(
                f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}"
            )
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    return repr(value)


def histogram_family(name: str, help: str, histogram: Histogram) -> Family:
    family = Family(name, "histogram", help)
    running = 0
    for bound, count in zip((*histogram.bounds, float("inf")), histogram.counts, strict=True):
        running += count
        le = "+Inf" if bound == float("inf") else repr(bound)
        family.samples.append(({"__name__": "_bucket", "le": le}, running))
    family.samples.append(({"__name__": "_sum"}, histogram.total))
    family.samples.append(({"__name__": "_count"}, histogram.count))
    return family


def _open_files() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def process_families(started: float) -> list[Family]:
    """The process's own numbers, under the names every Prometheus dashboard knows."""
    cpu = os.times()
    return [
        Family(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            [({}, rss_kib() * 1024)],
        ),
        Family("process_open_fds", "gauge", "Open file descriptors.", [({}, _open_files())]),
        Family(
            "process_max_fds",
            "gauge",
            "The open-file limit.",
            [({}, resource.getrlimit(resource.RLIMIT_NOFILE)[0])],
        ),
        Family(
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent.",
            [({}, cpu.user + cpu.system)],
        ),
        Family(
            "process_start_time_seconds",
            "gauge",
            "When the server started, in seconds since the epoch.",
            [({}, started)],
        ),
        Family(
            "triochat_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
            [({}, max(0.0, time.time() - started))],
        ),
    ]

"""Where the server spends its CPU during a scenario: py-spy samples, summarised by function.

``python -m benchmarks --profile DIR`` samples the triochat server process of
every scenario the load generator drives (from the first connection to the
last delivery) with `py-spy <https://github.com/benfred/py-spy>`_ (installed
into the bench environment by ``nox -s bench``) and writes, per run, the raw
collapsed stacks (``DIR/<scenario>-<n>.txt``, for a flame graph with any
collapsed-stack tool) and, for all of them, ``DIR/summary.md``: the functions
with the most samples on top of the stack (self) and anywhere in it (total).
In a cluster scenario the first node is sampled; the ``websocket`` and
``logins`` rows have runners of their own and are not sampled.

Sampling costs the server some speed even without pausing it
(``--nonblocking``), so a profiled run's numbers are not comparable with an
unprofiled run's: profile to see where time goes, measure without it.
"""

from __future__ import annotations

import collections
import contextlib
import re
import shutil
import signal
import subprocess
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager
    from pathlib import Path

    from .servers import RunningServer

__all__ = ["Profiler", "py_spy_available", "sampling", "summarize"]

#: Samples per second: enough for a 10 s scenario to give thousands of stacks.
RATE = 250
STOP_TIMEOUT_S = 20.0
#: ``function (path/to/file.py:123)`` → ``function (file.py)``: lines differ per call site.
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<path>[^():]*)(?::\d+)?\)$")


def py_spy_available() -> bool:
    return shutil.which("py-spy") is not None


@contextmanager
def sampling(pid: int, out: Path) -> Iterator[None]:
    """Sample process ``pid`` while the body runs; the collapsed stacks land in ``out``."""
    sampler = subprocess.Popen(
        [
            "py-spy",
            "record",
            "--pid",
            str(pid),
            "--nonblocking",
            "--rate",
            str(RATE),
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        sampler.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
        try:
            sampler.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            sampler.kill()
            sampler.wait()


def _is_triochat(path: str) -> bool:
    """triochat's own code, but not the command line every sample starts in."""
    ours = path.startswith("triochat/") or "/triochat/" in path
    return ours and "_cli/" not in path and not path.endswith("__main__.py")


def _function(frame: str) -> tuple[str, bool]:
    """``function (file.py)``, and whether it is triochat's own code."""
    match = _FRAME.match(frame)
    if match is None:
        return frame, False
    path = match["path"]
    return f"{match['function']} ({path.rsplit('/', 1)[-1]})", _is_triochat(path)


def summarize(stacks: Path, title: str, top: int = 12) -> str:
    """A Markdown table of the ``top`` functions by self samples (any code), and of
    triochat's own functions by total samples (with what they call)."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in stacks.read_text(errors="replace").splitlines():
        path, _, count_text = line.rpartition(" ")
        if not path or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(frame) for frame in path.split(";")]
        samples += count
        own[frames[-1][0]] += count
        for function in {name for name, ours in frames if ours}:
            total[function] += count
    if samples == 0:
        return f"{title}: no samples (py-spy could not attach, or the server was idle)\n"
    rows = [
        f"{title}: {samples:,} samples at {RATE}/s",
        "",
        "| self | function (any) | | total | triochat function (with callees) |",
        "|---|---|---|---|---|",
    ]
    by_total = total.most_common(top)
    for index, (function, count) in enumerate(own.most_common(top)):
        total_function, total_count = by_total[index] if index < len(by_total) else ("", 0)
        rows.append(
            f"| {count / samples:.1%} | `{function}` | | "
            f"{total_count / samples:.1%} | `{total_function}` |"
        )
    return "\n".join(rows) + "\n"


class Profiler:
    """Samples the triochat servers of a benchmark run into ``directory``, one file per run."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.runs = 0
        self.summaries: list[str] = []

    def around(self, scenario: str, server: RunningServer) -> AbstractContextManager[None]:
        """Sample ``server`` for as long as the block runs (other servers: not at all)."""
        if not server.label.startswith("triochat"):
            return contextlib.nullcontext()
        return self._sampled(scenario, server)

    @contextmanager
    def _sampled(self, scenario: str, server: RunningServer) -> Iterator[None]:
        self.runs += 1
        out = self.directory / f"{scenario}-{self.runs}.txt"
        with sampling(server.pid, out):
            yield
        self.summaries.append(summarize(out, f"{scenario} (run {self.runs}, {out.name})"))
        summary = self.directory / "summary.md"
        summary.write_text("\n".join(self.summaries), encoding="utf-8")

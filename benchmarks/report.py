"""The results table: printed, appended to RESULTS.md, and dumped as JSON.

A failed scenario shows FAILURE and the reason in its cells, never a number:
a fast server that drops messages is not fast.
"""

from __future__ import annotations

import datetime
import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .procstats import machine_description

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .driver import Measurement
    from .scenarios import Kind

RESULTS_FILE = Path(__file__).with_name("RESULTS.md")


@dataclass(frozen=True)
class Section:
    """One scenario's rows: its title and each server's measurement."""

    title: str
    kind: Kind
    by_server: dict[str, Measurement]


@dataclass(frozen=True)
class Metric:
    """One row: how to get the number, how to show it, whether to compare."""

    label: str
    value: Callable[[Measurement], float]
    shown: Callable[[float], str]
    compare: bool = True


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _ms(value: float) -> str:
    return f"{value:.2f} ms"


def _pct(value: float) -> str:
    return f"{value:.0f}%"


def _seconds(value: float) -> str:
    return f"{value:.2f} s"


def _kib(value: float) -> str:
    return f"{value:.1f} KiB"


def _generator_cpu(percentages: list[float]) -> float:
    return max(percentages, default=0.0)


GENERATOR_NOTE = "load generator CPU, busiest process"

METRICS: dict[Kind, list[Metric]] = {
    "throughput": [
        Metric("deliveries/s ↑", lambda m: m.deliveries_per_s, _count),
        Metric("server CPU", lambda m: m.server_cpu_pct, _pct, compare=False),
        Metric(GENERATOR_NOTE, lambda m: _generator_cpu(m.generator_cpu_pct), _pct, False),
    ],
    "latency": [
        Metric("latency p50 ↓", lambda m: m.latency_ms["p50"], _ms),
        Metric("latency p99 ↓", lambda m: m.latency_ms["p99"], _ms),
        Metric("latency max ↓", lambda m: m.latency_ms["max"], _ms),
        Metric("server CPU ↓", lambda m: m.server_cpu_pct, _pct),
        Metric(GENERATOR_NOTE, lambda m: _generator_cpu(m.generator_cpu_pct), _pct, False),
    ],
    "scale": [
        Metric("time to connect and register all ↓", lambda m: m.register_s, _seconds),
        Metric("time for all to join their channel ↓", lambda m: m.join_s, _seconds),
        Metric("server RSS per connection ↓", lambda m: m.rss_per_connection_kib, _kib),
        Metric("broadcast: last delivery after ↓", lambda m: m.latency_ms["max"], _ms),
        Metric("server CPU while connecting", lambda m: m.server_connect_cpu_pct, _pct, False),
        Metric(
            GENERATOR_NOTE + " (connecting)",
            lambda m: _generator_cpu(m.generator_connect_cpu_pct),
            _pct,
            False,
        ),
    ],
    # Only shown while a server cannot run with history on and off; once it
    # can, each of the two runs is a "throughput" section of its own.
    "history": [
        Metric("deliveries/s, history on vs off ↑", lambda m: m.deliveries_per_s, _count),
    ],
}


def _cell(measurement: Measurement | None, metric: Metric, first_row: bool) -> str:
    if measurement is None:
        return ""
    if measurement.not_applicable:
        return measurement.not_applicable if first_row else "n/a"
    if measurement.failures:
        return "FAILURE: " + "; ".join(measurement.failures) if first_row else "FAILURE"
    return metric.shown(metric.value(measurement))


def _ratio(first: Measurement | None, second: Measurement | None, metric: Metric) -> str:
    if not metric.compare or first is None or second is None:
        return ""
    if not (first.ok and second.ok):
        return "—"
    denominator = metric.value(second)
    return f"{metric.value(first) / denominator:.2f}" if denominator else "—"


def table(sections: Sequence[Section], servers: Sequence[str]) -> str:
    """A Markdown table: one row per metric, one column per server, and the ratio."""
    header = ["scenario", "metric", *servers]
    if len(servers) == 2:
        header.append(f"{servers[0]}/{servers[1]}")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for section in sections:
        for row, metric in enumerate(METRICS[section.kind]):
            measured = [section.by_server.get(server) for server in servers]
            cells = [section.title if row == 0 else "", metric.label]
            cells += [_cell(m, metric, row == 0) for m in measured]
            if len(servers) == 2:
                cells.append(_ratio(measured[0], measured[1], metric))
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def notes(sections: Sequence[Section], servers: Sequence[str]) -> str:
    """What the reader needs besides the numbers: how to read them, what failed."""
    lines = [
        "↑ higher is better, ↓ lower is better; CPU is % of one core."
        + (f" Ratio = {servers[0]} / {servers[1]}." if len(servers) == 2 else "")
        + " A load-generator process near 100% means the generator, not the server,"
        " limited that row."
    ]
    lines.extend(
        f"- {section.title} — {server}: {detail}"
        for section in sections
        for server, measurement in section.by_server.items()
        for detail in measurement.failures + measurement.details[:5]
    )
    return "\n".join(lines)


def _commit() -> str:
    """The checked-out commit, read-only (never touches the index)."""
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return completed.stdout.strip()


def record(body: str, command: str, path: Path = RESULTS_FILE) -> None:
    """Append one run to RESULTS.md with date and machine."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    where = f"`{command}`, working tree on commit {_commit()}"
    entry = f"\n## {now} — {machine_description()}\n\n{where}\n\n{body}\n"
    if not path.exists():
        path.write_text("# Benchmark results\n\nAppended by `nox -s bench`; newest last.\n")
    with path.open("a") as results:
        results.write(entry)


def dump_json(sections: Sequence[Section], path: Path) -> None:
    """Every measurement, for scripts and tests."""
    data = []
    for section in sections:
        for measurement in section.by_server.values():
            item = asdict(measurement)
            item["ok"] = measurement.ok
            item["deliveries_per_s"] = measurement.deliveries_per_s
            data.append(item)
    path.write_text(json.dumps(data, indent=2))

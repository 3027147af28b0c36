"""The results table: printed, appended to RESULTS.md, and dumped as JSON.

A failed scenario shows FAILURE and the reason in its cells, never a number:
a fast server that drops messages is not fast.
"""

from __future__ import annotations

import datetime
import json
import math
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .procstats import machine_description
from .targets import status, target_for

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
    #: The scenario's name: the key of its targets.
    scenario: str = ""


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


def _times(value: float) -> str:
    return f"{value:.2f}x"


def _us(value: float) -> str:
    return f"{value:.1f} µs"


def _share(value: float) -> str:
    return f"{value:.0%}"


def _generator_cpu(percentages: list[float]) -> float:
    return max(percentages, default=0.0)


def _value(key: str) -> Callable[[Measurement], float]:
    """A number of :attr:`Measurement.values` (NaN when the run did not get that far)."""
    return lambda m: m.values.get(key, math.nan)


GENERATOR_NOTE = "load generator CPU, busiest process"

_THROUGHPUT = [
    Metric("deliveries/s ↑", lambda m: m.deliveries_per_s, _count),
    Metric("server CPU", lambda m: m.server_cpu_pct, _pct, compare=False),
    Metric(GENERATOR_NOTE, lambda m: _generator_cpu(m.generator_cpu_pct), _pct, False),
]
_LATENCY = [
    Metric("latency p50 ↓", lambda m: m.latency_ms["p50"], _ms),
    Metric("latency p99 ↓", lambda m: m.latency_ms["p99"], _ms),
    Metric("latency max ↓", lambda m: m.latency_ms["max"], _ms),
    Metric("server CPU ↓", lambda m: m.server_cpu_pct, _pct),
    Metric(GENERATOR_NOTE, lambda m: _generator_cpu(m.generator_cpu_pct), _pct, False),
]
_SCALE = [
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
]
#: Numbers of a cluster run that come from one node doing the same in the same run.
SINGLE = "1 node, same run"

METRICS: dict[Kind, list[Metric]] = {
    "throughput": _THROUGHPUT,
    "latency": _LATENCY,
    "scale": _SCALE,
    # Only shown while a server cannot run with history on and off; once it
    # can, each of the two runs is a section of its own.
    "history": [
        Metric("deliveries/s, history on vs off ↑", lambda m: m.deliveries_per_s, _count),
    ],
    "history-on": [
        *_THROUGHPUT,
        Metric("deliveries/s, history on / off", _value("on_vs_off"), _times, compare=False),
    ],
    # A cluster's CPU and RSS are its two nodes' and its Redis's together.
    "cluster-fanout": [
        *_THROUGHPUT,
        Metric(f"{SINGLE}: deliveries/s", _value("single_deliveries_per_s"), _count, False),
        Metric("2 nodes / 1 node, deliveries/s", _value("vs_single"), _times, compare=False),
    ],
    "cluster-latency": [
        *_LATENCY,
        Metric(f"{SINGLE}: latency p99", _value("single_p99_ms"), _ms, compare=False),
    ],
    "cluster-scale": _SCALE,
    "websocket": [
        Metric("WebSocket / TCP deliveries/s ↑", _value("ratio"), _times, compare=False),
        Metric("TCP deliveries/s", _value("tcp_deliveries_per_s"), _count, compare=False),
        Metric("WebSocket deliveries/s", _value("websocket_deliveries_per_s"), _count, False),
        Metric("TCP server CPU per delivery", _value("tcp_cpu_us_per_delivery"), _us, False),
        Metric(
            "WebSocket server CPU per delivery",
            _value("websocket_cpu_us_per_delivery"),
            _us,
            False,
        ),
        Metric("TCP RSS per idle connection", _value("tcp_rss_kib"), _kib, compare=False),
        Metric("WebSocket RSS per idle connection", _value("websocket_rss_kib"), _kib, False),
    ],
    "logins": [
        Metric(
            "logins completed ↑",
            lambda m: m.values.get("completed", 0.0) / max(1.0, m.values.get("wanted", 1.0)),
            _share,
            compare=False,
        ),
        Metric(
            "time for all logins ↓",
            lambda m: m.values.get("logins_s", math.nan) * 1000,
            _ms,
            compare=False,
        ),
        Metric("one login, p99", _value("login_p99_ms"), _ms, compare=False),
        Metric("chat latency p99 alone", _value("chat_p99_before_ms"), _ms, False),
        Metric("chat latency p99 during the logins", _value("chat_p99_during_ms"), _ms, False),
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


def _ratio_of(
    first: Measurement | None, second: Measurement | None, metric: Metric
) -> float | None:
    if not metric.compare or first is None or second is None or not (first.ok and second.ok):
        return None
    denominator = metric.value(second)
    return metric.value(first) / denominator if denominator else None


def _ratio(first: Measurement | None, second: Measurement | None, metric: Metric) -> str:
    if not metric.compare or first is None or second is None:
        return ""
    ratio = _ratio_of(first, second, metric)
    return "—" if ratio is None else f"{ratio:.2f}"


def _target_cells(section: Section, metric: Metric, servers: Sequence[str]) -> list[str]:
    target = target_for(section.scenario, metric.label)
    if target is None:
        return ["", ""]
    measured = section.by_server.get(servers[0])
    compared = section.by_server.get(servers[1]) if len(servers) == 2 else None
    ratio = _ratio_of(measured, compared, metric)
    value = metric.value(measured) if measured is not None and measured.ok else math.nan
    return [target.goal, status(target, measured, value, ratio)]


def table(sections: Sequence[Section], servers: Sequence[str]) -> str:
    """A Markdown table: one row per metric, one column per server, the ratio, the target."""
    header = ["scenario", "metric", *servers]
    if len(servers) == 2:
        header.append(f"{servers[0]}/{servers[1]}")
    header += ["target", "status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for section in sections:
        for row, metric in enumerate(METRICS[section.kind]):
            measured = [section.by_server.get(server) for server in servers]
            cells = [section.title if row == 0 else "", metric.label]
            cells += [_cell(m, metric, row == 0) for m in measured]
            if len(servers) == 2:
                cells.append(_ratio(measured[0], measured[1], metric))
            cells += _target_cells(section, metric, servers)
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def targets_summary(sections: Sequence[Section], servers: Sequence[str]) -> list[tuple[str, str]]:
    """(scenario/metric, status) of every target in the table, for the JSON and the tests."""
    found = []
    for section in sections:
        for metric in METRICS[section.kind]:
            if target_for(section.scenario, metric.label) is not None:
                status_cell = _target_cells(section, metric, servers)[1]
                found.append((f"{section.scenario}: {metric.label}", status_cell))
    return found


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


def dump_json(sections: Sequence[Section], servers: Sequence[str], path: Path) -> None:
    """Every measurement and every target's status, for scripts and tests."""
    data = []
    for section in sections:
        for measurement in section.by_server.values():
            item = asdict(measurement)
            item["section"] = section.title
            item["ok"] = measurement.ok
            item["deliveries_per_s"] = measurement.deliveries_per_s
            data.append(item)
    targets = [{"row": row, "status": state} for row, state in targets_summary(sections, servers)]
    path.write_text(json.dumps({"measurements": data, "targets": targets}, indent=2))

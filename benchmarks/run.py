"""Command line: run the scenarios on triochat (and ngIRCd), print one table.

``nox -s bench -- --compare ngircd --quick`` ends up here, as
``python -m benchmarks --compare ngircd --quick``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .driver import Measurement, measure
from .logins import measure_logins
from .procstats import raise_open_file_limit, usable_cpus
from .profile import Profiler, py_spy_available
from .report import METRICS, RESULTS_FILE, Section, dump_json, notes, record, table
from .scenarios import CLUSTER_KINDS, DEFAULT_SCENARIOS, OWN_RUNNER_KINDS, catalog
from .servers import ClusterLauncher, ServerStartError, TriochatLauncher, launcher_for
from .websocket import measure_websocket

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .scenarios import Kind, Scenario
    from .servers import ServerLauncher

SERVERS = ("triochat", "ngircd")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark triochat, optionally side by side with ngIRCd: one table with"
        " every scenario and every target of issues 13, 14, 15 and 17.",
    )
    parser.add_argument("--server", choices=SERVERS, default="triochat", help="server under test")
    parser.add_argument(
        "--compare", choices=SERVERS, help="also run this server and print the ratios"
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a quick look")
    parser.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help="comma-separated names (default: %(default)s; also smoke, smoke-rate)",
    )
    parser.add_argument("--scale-clients", type=int, help="idle connections of the scale scenario")
    parser.add_argument(
        "--workers",
        type=int,
        default=max(2, usable_cpus() - 1),
        help="load-generator processes for the receivers, besides one for the senders"
        " (default: %(default)s)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run every scenario N times per server, alternating, and show the median run",
    )
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra option for 'triochat serve', repeatable (e.g. --server-arg=--no-flood-control)",
    )
    parser.add_argument("--no-record", action="store_true", help=f"do not append to {RESULTS_FILE}")
    parser.add_argument("--results-file", type=Path, default=RESULTS_FILE, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every number here")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the triochat server of each scenario with py-spy into DIR (see"
        " benchmarks/profile.py; a profiled run's numbers carry the sampler's cost)",
    )
    args = parser.parse_args(argv)
    if args.compare == args.server:
        parser.error("--compare must name the other server")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.profile is not None and not py_spy_available():
        parser.error("--profile needs py-spy (pip install py-spy; nox -s bench installs it)")
    return args


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_on(
    scenario: Scenario,
    launcher: ServerLauncher,
    workdir: Path,
    workers: int,
    extra_args: Sequence[str] = (),
    profiler: Profiler | None = None,
) -> Measurement:
    """Start a fresh server, measure the scenario on it, stop it."""
    try:
        server = launcher.start(workdir, extra_args)
    except ServerStartError as error:
        failed = Measurement(scenario.name, launcher.label, scenario.clients)
        failed.failures.append(f"server did not start: {str(error).splitlines()[0]}")
        failed.details.append(str(error))
        return failed
    try:
        return measure(scenario, server, workers, profiler)
    finally:
        server.stop()  # measure() stops it; this is for when measure() itself failed


def _summary(section: Section, label: str) -> str:
    measurement = section.by_server[label]
    if measurement.not_applicable:
        return measurement.not_applicable
    if measurement.failures:
        return "FAILURE: " + "; ".join(measurement.failures)
    metric = METRICS[section.kind][0]
    return f"{metric.label} {metric.shown(metric.value(measurement))}"


def median_run(runs: Sequence[Measurement], kind: Kind) -> Measurement:
    """The run whose headline number is the median; any failed run wins outright."""
    failed = [run for run in runs if run.failures]
    if failed:
        return failed[0]
    headline = METRICS[kind][0].value
    return sorted(runs, key=headline)[(len(runs) - 1) // 2]


def _not_applicable(scenario: Scenario, label: str, why: str) -> Measurement:
    return Measurement(scenario.name, label, scenario.clients, not_applicable=why)


def _repeated(measure: Callable[[], Measurement], repeat: int, kind: Kind) -> Measurement:
    return median_run([measure() for _ in range(repeat)], kind)


def run_scenario(
    scenario: Scenario,
    launchers: Sequence[ServerLauncher],
    workdir: Path,
    workers: int,
    repeat: int = 1,
    profiler: Profiler | None = None,
) -> list[Section]:
    """Each server in turn on the same scenario, so their numbers sit side by side."""
    if scenario.kind == "history":
        return _history_sections(scenario, launchers, workdir, workers, repeat, profiler)
    if scenario.kind in OWN_RUNNER_KINDS or scenario.kind in CLUSTER_KINDS:
        return [_triochat_only(scenario, launchers, workdir, workers, repeat, profiler)]
    runs: dict[str, list[Measurement]] = {launcher.label: [] for launcher in launchers}
    for _ in range(repeat):
        for launcher in launchers:
            run = run_on(scenario, launcher, workdir, workers, profiler=profiler)
            runs[launcher.label].append(run)
    measured = {label: median_run(each, scenario.kind) for label, each in runs.items()}
    return [Section(scenario.title, scenario.kind, measured, scenario.name)]


def _triochat_only(
    scenario: Scenario,
    launchers: Sequence[ServerLauncher],
    workdir: Path,
    workers: int,
    repeat: int,
    profiler: Profiler | None = None,
) -> Section:
    """A scenario only triochat can run (WebSocket, SASL, a cluster): n/a for the others."""
    measured: dict[str, Measurement] = {}
    for launcher in launchers:
        if not isinstance(launcher, TriochatLauncher):
            why = "n/a (no cluster)" if scenario.kind in CLUSTER_KINDS else "n/a"
            measured[launcher.label] = _not_applicable(scenario, launcher.label, why)
            continue
        args = launcher.base_args

        def once(
            launcher: TriochatLauncher = launcher, args: tuple[str, ...] = args
        ) -> Measurement:
            if scenario.kind == "websocket":
                return measure_websocket(scenario, workdir, workers, args)
            if scenario.kind == "logins":
                return measure_logins(scenario, workdir, args)
            return _cluster_beside_one_node(scenario, launcher, workdir, workers, profiler)

        measured[launcher.label] = _repeated(once, repeat, scenario.kind)
    return Section(scenario.title, scenario.kind, measured, scenario.name)


def _cluster_beside_one_node(
    scenario: Scenario,
    launcher: TriochatLauncher,
    workdir: Path,
    workers: int,
    profiler: Profiler | None = None,
) -> Measurement:
    """The scenario on two nodes and Redis; fan-out and latency on one node too, same run."""
    cluster = ClusterLauncher(base_args=launcher.base_args, label=launcher.label)
    result = run_on(scenario, cluster, workdir, workers, profiler=profiler)
    if scenario.kind == "cluster-scale":
        return result
    single = run_on(scenario, launcher, workdir, workers)
    if not single.ok:
        result.details.append("one node, same run: " + "; ".join(single.failures))
    elif scenario.kind == "cluster-fanout":
        result.values["single_deliveries_per_s"] = single.deliveries_per_s
        if single.deliveries_per_s:
            result.values["vs_single"] = result.deliveries_per_s / single.deliveries_per_s
    else:
        result.values["single_p99_ms"] = single.latency_ms["p99"]
    return result


def _history_sections(
    scenario: Scenario,
    launchers: Sequence[ServerLauncher],
    workdir: Path,
    workers: int,
    repeat: int,
    profiler: Profiler | None = None,
) -> list[Section]:
    """fanout5 with history on and with it off; the "on" rows say what history costs."""
    if all(launcher.history_args is None for launcher in launchers):
        na = {
            launcher.label: _not_applicable(
                scenario, launcher.label, f"n/a (no history in {launcher.label})"
            )
            for launcher in launchers
        }
        return [Section(scenario.title, scenario.kind, na, scenario.name)]
    by_variant: dict[str, dict[str, Measurement]] = {"on": {}, "off": {}}
    for variant, measured in by_variant.items():
        for launcher in launchers:
            if launcher.history_args is None:
                measured[launcher.label] = _not_applicable(scenario, launcher.label, "n/a")
                continue
            args = launcher.history_args[variant]
            runs = [
                run_on(scenario, launcher, workdir, workers, args, profiler) for _ in range(repeat)
            ]
            measured[launcher.label] = median_run(runs, "throughput")
    for label, on in by_variant["on"].items():
        off = by_variant["off"][label]
        if on.ok and off.ok and off.deliveries_per_s:
            on.values["on_vs_off"] = on.deliveries_per_s / off.deliveries_per_s
    plain = scenario.title.removeprefix("history on vs off, ")
    return [
        Section(f"history on: {plain}", "history-on", by_variant["on"], scenario.name),
        Section(f"history off: {plain}", "throughput", by_variant["off"], scenario.name),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run, print the table, append it to RESULTS.md; exit 1 if anything FAILED."""
    args = parse_args(argv)
    raise_open_file_limit()  # the servers we start inherit it too
    scenarios = catalog(quick=args.quick, scale_clients=args.scale_clients)
    names = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = [name for name in names if name not in scenarios]
    if unknown:
        print(f"unknown scenarios {unknown}; known: {', '.join(scenarios)}", file=sys.stderr)
        return 2
    try:
        servers = [args.server] + ([args.compare] if args.compare else [])
        launchers = [launcher_for(name, args.server_arg) for name in servers]
    except ServerStartError as error:
        print(error, file=sys.stderr)
        return 2
    labels = [launcher.label for launcher in launchers]
    sections: list[Section] = []
    profiler = None
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
        profiler = Profiler(args.profile)
    with tempfile.TemporaryDirectory(prefix="triochat-bench-") as workdir:
        for name in names:
            sections_of_scenario = run_scenario(
                scenarios[name], launchers, Path(workdir), args.workers, args.repeat, profiler
            )
            for section in sections_of_scenario:
                sections.append(section)
                for label in labels:
                    _progress(f"{name} on {label}: {_summary(section, label)}")
    body = table(sections, labels) + "\n\n" + notes(sections, labels)
    if args.repeat > 1:
        body += f"\nEach cell is the median of {args.repeat} runs (by the first row's number)."
    print(body)
    if not args.no_record:
        command = shlex.join(["python", "-m", "benchmarks", *(argv or sys.argv[1:])])
        record(body, command, args.results_file)
    if args.json:
        dump_json(sections, labels, args.json)
    if profiler is not None:
        _progress(f"profiles: {args.profile / 'summary.md'} ({profiler.runs} runs sampled)")
    failed = any(m.failures for s in sections for m in s.by_server.values())
    return 1 if failed else 0

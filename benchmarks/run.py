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
from .procstats import raise_open_file_limit, usable_cpus
from .report import METRICS, RESULTS_FILE, Section, dump_json, notes, record, table
from .scenarios import DEFAULT_SCENARIOS, catalog
from .servers import ServerStartError, launcher_for

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .scenarios import Kind, Scenario
    from .servers import ServerLauncher

SERVERS = ("triochat", "ngircd")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark triochat (issue 7), optionally side by side with ngIRCd.",
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
    args = parser.parse_args(argv)
    if args.compare == args.server:
        parser.error("--compare must name the other server")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_on(
    scenario: Scenario,
    launcher: ServerLauncher,
    workdir: Path,
    workers: int,
    extra_args: Sequence[str] = (),
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
        return measure(scenario, server, workers)
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


def run_scenario(
    scenario: Scenario,
    launchers: Sequence[ServerLauncher],
    workdir: Path,
    workers: int,
    repeat: int = 1,
) -> list[Section]:
    """Each server in turn on the same scenario, so their numbers sit side by side."""
    if scenario.kind != "history":
        runs: dict[str, list[Measurement]] = {launcher.label: [] for launcher in launchers}
        for _ in range(repeat):
            for launcher in launchers:
                runs[launcher.label].append(run_on(scenario, launcher, workdir, workers))
        measured = {label: median_run(each, scenario.kind) for label, each in runs.items()}
        return [Section(scenario.title, scenario.kind, measured)]
    if all(launcher.history_args is None for launcher in launchers):
        na = {
            launcher.label: Measurement(
                scenario.name,
                launcher.label,
                scenario.clients,
                not_applicable=f"n/a (no history in {launcher.label})",
            )
            for launcher in launchers
        }
        return [Section(scenario.title, scenario.kind, na)]
    sections = []
    for variant in ("on", "off"):
        measured = {}
        for launcher in launchers:
            if launcher.history_args is None:
                measured[launcher.label] = Measurement(
                    scenario.name, launcher.label, scenario.clients, not_applicable="n/a"
                )
            else:
                args = launcher.history_args[variant]
                repeated = [
                    run_on(scenario, launcher, workdir, workers, args) for _ in range(repeat)
                ]
                measured[launcher.label] = median_run(repeated, "throughput")
        title = f"history {variant}: {scenario.title.removeprefix('history on vs off, ')}"
        sections.append(Section(title, "throughput", measured))
    return sections


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
    with tempfile.TemporaryDirectory(prefix="triochat-bench-") as workdir:
        for name in names:
            sections_of_scenario = run_scenario(
                scenarios[name], launchers, Path(workdir), args.workers, args.repeat
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
        dump_json(sections, args.json)
    failed = any(m.failures for s in sections for m in s.by_server.values())
    return 1 if failed else 0

"""Run one scenario against one running server, with worker processes.

The orchestrator (this module) only coordinates: it forks the workers, waits
for all of them to have registered, lets them all join, samples the server's
RSS and CPU, gives one common start time, and collects the reports. All socket
work happens in the workers, so the orchestrator's own CPU use is negligible.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

from .moderation import BANS, ChannelOperator, SetupError
from .plan import ClientPlan, PhaseReport, TrafficPlan, TrafficReport, WorkerPlan
from .procstats import process_cpu_seconds, process_rss_kib
from .protocol import channel_names, nick_for
from .worker import worker_main

if TYPE_CHECKING:
    from collections.abc import Sequence
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    from .profile import Profiler
    from .scenarios import Scenario
    from .servers import RunningServer

NS = 1_000_000_000
START_DELAY_S = 0.05
REPORT_GRACE_S = 30.0
#: Rate senders later than this behind their schedule get a note under the table.
SEND_LAG_NOTE_MS = 2.0


class HarnessError(RuntimeError):
    """A worker crashed or went silent: the run says nothing about the server."""


@dataclass
class Measurement:
    """The raw numbers of one scenario on one server, and what went wrong."""

    scenario: str
    server: str
    clients: int
    failures: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    not_applicable: str = ""
    #: Numbers particular to one scenario (WebSocket, logins, a cluster beside one node).
    values: dict[str, float] = field(default_factory=dict)
    register_s: float = 0.0
    join_s: float = 0.0
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    server_connect_cpu_pct: float = 0.0
    generator_connect_cpu_pct: list[float] = field(default_factory=list)
    deliveries: int = 0
    expected: int = 0
    missing: int = 0
    anomalies: int = 0
    traffic_s: float = 0.0
    server_cpu_pct: float = 0.0
    generator_cpu_pct: list[float] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    max_send_lag_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and not self.not_applicable

    @property
    def deliveries_per_s(self) -> float:
        return self.deliveries / self.traffic_s if self.traffic_s > 0 else 0.0

    @property
    def rss_per_connection_kib(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / self.clients


def build_plans(
    scenario: Scenario, host: str, ports: Sequence[int], workers: int
) -> list[WorkerPlan]:
    """Senders get a process of their own; receivers are dealt round-robin to the rest.

    A sender waits for its PONGs before it sends more, so it must not queue
    behind the parsing of thousands of deliveries in a busy receiver process.
    With several ports (cluster nodes), clients are dealt round-robin to them,
    or, for ``placement="apart"``, the senders go to the first node and the
    receivers to the last, so that every delivery crosses nodes.
    """

    def port_of(index: int, sender: bool) -> int:
        if scenario.placement == "apart":
            return ports[0] if sender else ports[-1]
        return ports[index % len(ports)]

    traffic = TrafficPlan(
        senders=scenario.senders,
        messages_per_sender=scenario.messages_per_sender,
        payload_bytes=scenario.payload_bytes,
        rate_per_sender=scenario.rate_per_sender,
        batch=scenario.batch,
        window=scenario.window,
        record_latency=scenario.record_latency,
        stall_timeout_s=scenario.stall_timeout_s,
        deadline_s=scenario.deadline_s,
    )
    channels = channel_names(scenario.channels)
    receiver_groups = max(1, min(workers, scenario.receivers))
    senders = [
        ClientPlan(i, nick_for(i), i, channels, port_of(i, True)) for i in range(scenario.senders)
    ]
    groups: list[list[ClientPlan]] = [senders] + [[] for _ in range(receiver_groups)]
    for number in range(scenario.receivers):
        index = scenario.senders + number
        member_of = channels[number * len(channels) // scenario.receivers]
        groups[1 + number % receiver_groups].append(
            ClientPlan(index, nick_for(index), None, (member_of,), port_of(index, False))
        )
    return [
        WorkerPlan(
            worker_index=number,
            host=host,
            clients=tuple(group),
            traffic=traffic,
            handshake_window=scenario.handshake_window,
            receive_buffer_bytes=scenario.receive_buffer_bytes,
            connect_timeout_s=scenario.connect_timeout_s,
        )
        for number, group in enumerate(groups)
    ]


class WorkerPool:
    """The forked worker processes of one scenario and their control pipes."""

    def __init__(self, plans: list[WorkerPlan]) -> None:
        context = multiprocessing.get_context("fork")
        self.pipes: list[Connection] = []
        self.processes: list[BaseProcess] = []
        for plan in plans:
            ours, theirs = context.Pipe()
            process = context.Process(target=worker_main, args=(plan, theirs), daemon=True)
            process.start()
            theirs.close()
            self.pipes.append(ours)
            self.processes.append(process)

    def collect(self, kind: str, timeout_s: float) -> list[Any]:
        """One ``kind`` message from every worker, in worker order."""
        replies: dict[int, Any] = {}
        deadline = time.monotonic() + timeout_s
        while len(replies) < len(self.pipes):
            pending = [p for i, p in enumerate(self.pipes) if i not in replies]
            ready = wait(pending, timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                raise HarnessError(f"workers sent no {kind!r} within {timeout_s:g} s")
            for pipe in ready:
                assert isinstance(pipe, multiprocessing.connection.Connection)
                try:
                    message, payload = pipe.recv()
                except EOFError:
                    raise HarnessError("a worker process died") from None
                if message == "error":
                    raise HarnessError(f"a worker crashed:\n{payload}")
                if message != kind:
                    raise HarnessError(f"expected {kind!r} from a worker, got {message!r}")
                replies[self.pipes.index(pipe)] = payload
        return [replies[i] for i in range(len(self.pipes))]

    def broadcast(self, message: str, argument: object = None) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send((message, argument))

    def close(self) -> None:
        """Tell every worker to stop, and make sure it has."""
        self.broadcast("stop")
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.terminate()
                process.join()
        for pipe in self.pipes:
            pipe.close()


def measure(
    scenario: Scenario, server: RunningServer, workers: int, profiler: Profiler | None = None
) -> Measurement:
    """Register, join, start together, check every delivery; numbers or failures.

    With a ``profiler``, the server is sampled from the first connection to the
    last delivery (its numbers then carry the sampler's cost).
    """
    if profiler is None:
        return _measure(scenario, server, workers)
    with profiler.around(scenario.name, server):
        return _measure(scenario, server, workers)


def _measure(scenario: Scenario, server: RunningServer, workers: int) -> Measurement:
    result = Measurement(scenario=scenario.name, server=server.label, clients=scenario.clients)
    plans = build_plans(scenario, server.host, server.ports, workers)
    channels = channel_names(scenario.channels)
    operator = None
    try:
        if scenario.moderated:
            operator = ChannelOperator(server.host, server.ports[0])
            operator.moderate(channels)
            result.values["bans"] = operator.bans
            if operator.bans < BANS:
                result.details.append(f"{operator.bans} bans per channel: the server keeps no more")
    except (OSError, SetupError) as error:
        result.failures.append(f"moderation set-up: {error}")
        if operator is not None:
            operator.close()
        _stop_server(result, server)
        return result
    time.sleep(0.1)  # let the freshly started server settle before "before"
    result.rss_before_kib = process_rss_kib(*server.pids)
    connecting = CpuWindow(server.pids)
    pool = WorkerPool(plans)
    try:
        phase_timeout = scenario.connect_timeout_s + REPORT_GRACE_S
        registered: list[PhaseReport] = pool.collect("registered", phase_timeout)
        result.register_s = _phase_seconds(registered, connecting.started_ns)
        if _phase_failed(result, registered, "register"):
            return result
        joining_ns = time.monotonic_ns()
        pool.broadcast("join")
        joined: list[PhaseReport] = pool.collect("ready", phase_timeout)
        result.join_s = _phase_seconds(joined, joining_ns)
        result.server_connect_cpu_pct = connecting.server_pct()
        result.generator_connect_cpu_pct = connecting.generator_pcts(
            [a.cpu_s + b.cpu_s for a, b in zip(registered, joined, strict=True)]
        )
        result.rss_after_kib = process_rss_kib(*server.pids)
        if _phase_failed(result, joined, "join"):
            return result
        if operator is not None:
            operator.voice_and_leave(channels, [nick_for(i) for i in range(scenario.senders)])
        time.sleep(scenario.settle_s)
        start_ns = time.monotonic_ns() + int(START_DELAY_S * NS)
        pool.broadcast("go", start_ns)
        time.sleep(max(0.0, (start_ns - time.monotonic_ns()) / NS))
        sending = CpuWindow(server.pids)
        reports: list[TrafficReport] = pool.collect("result", scenario.deadline_s + REPORT_GRACE_S)
        result.server_cpu_pct = sending.server_pct()
        result.generator_cpu_pct = sending.generator_pcts([r.cpu_s for r in reports])
        _record_traffic(result, reports, start_ns)
    except HarnessError as error:
        result.failures.append(f"harness: {error}")
    except (OSError, SetupError) as error:
        result.failures.append(f"moderation set-up: {error}")
    finally:
        if operator is not None:
            operator.close()
        _stop_server(result, server)
        pool.close()
    return result


def _stop_server(result: Measurement, server: RunningServer) -> None:
    """Stop the server while the clients are still connected.

    Closing 2,000 clients first makes a server relay 2,000 QUITs to 2,000
    members; a server shutting down skips most of that.
    """
    code = server.exit_code()
    if code is not None:
        result.failures.insert(0, f"server exited with code {code} during the run")
        result.details.append(server.log_tail())
        return
    code = server.stop()
    if code != 0:
        result.details.append(f"server exited with code {code} on SIGTERM")


class CpuWindow:
    """CPU use of the server and the workers over one stretch of wall time."""

    def __init__(self, server_pids: Sequence[int]) -> None:
        self.server_pids = tuple(server_pids)
        self.started_ns = time.monotonic_ns()
        self.server_cpu_s = process_cpu_seconds(*self.server_pids)

    def _wall_s(self) -> float:
        return max(1e-9, (time.monotonic_ns() - self.started_ns) / NS)

    def server_pct(self) -> float:
        return 100 * (process_cpu_seconds(*self.server_pids) - self.server_cpu_s) / self._wall_s()

    def generator_pcts(self, worker_cpu_s: list[float]) -> list[float]:
        wall_s = self._wall_s()
        return [100 * cpu_s / wall_s for cpu_s in worker_cpu_s]


def _phase_seconds(reports: list[PhaseReport], started_ns: int) -> float:
    return max(0.0, (max(r.last_ns for r in reports) - started_ns) / NS)


def _phase_failed(result: Measurement, reports: list[PhaseReport], verb: str) -> bool:
    lost = [failure for r in reports for failure in r.failures]
    succeeded = sum(r.succeeded for r in reports)
    if lost:
        result.failures.append(
            f"{len(lost)} of {result.clients} clients did not {verb} ({lost[0]})"
        )
        result.details.extend(lost)
    elif succeeded != result.clients:
        result.failures.append(f"only {succeeded} of {result.clients} clients could {verb}")
    return bool(result.failures)


def _record_traffic(result: Measurement, reports: list[TrafficReport], start_ns: int) -> None:
    result.deliveries = sum(r.deliveries for r in reports)
    result.expected = sum(r.expected for r in reports)
    result.missing = sum(r.missing for r in reports)
    result.anomalies = sum(r.anomalies for r in reports)
    last_ns = max(r.last_delivery_ns for r in reports)
    result.traffic_s = max(0.0, (last_ns - start_ns) / NS)
    result.max_send_lag_ms = max(r.max_send_lag_ns for r in reports) / 1e6
    if result.max_send_lag_ms > SEND_LAG_NOTE_MS:
        result.details.append(
            f"the load generator sent up to {result.max_send_lag_ms:.1f} ms behind schedule"
        )
    latencies = array("q")
    for report in reports:
        latencies.extend(report.latencies_ns)
    if latencies:
        result.latency_ms = latency_summary_ms(latencies)
    lost = [failure for r in reports for failure in r.failures]
    if lost:
        result.failures.append(f"{len(lost)} clients lost under load ({lost[0]})")
        result.details.extend(lost)
    if result.missing:
        result.failures.append(f"{result.missing} of {result.expected} deliveries missing")
    if result.anomalies:
        result.failures.append(f"{result.anomalies} deliveries out of order or duplicated")
    if result.deliveries != result.expected and not result.missing and not result.anomalies:
        result.failures.append(f"{result.deliveries} deliveries, {result.expected} expected")
    gave_up = sorted({r.gave_up for r in reports if r.gave_up})
    if gave_up and result.failures:
        result.details.extend(f"a worker gave up: {why}" for why in gave_up)


def latency_summary_ms(latencies_ns: array[int]) -> dict[str, float]:
    """p50, p99 and max of the delivery latencies, in milliseconds."""
    ordered = sorted(latencies_ns)
    last = len(ordered) - 1

    def at(quantile: float) -> float:
        return ordered[round(quantile * last)] / 1e6

    return {"p50": at(0.50), "p99": at(0.99), "max": ordered[last] / 1e6}

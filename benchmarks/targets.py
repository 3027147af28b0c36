"""Every target the issues set for a row of the table, in one place.

A target belongs to one metric of one scenario. It is checked either on the
ratio to the compared server (issue 17's targets are ratios to ngIRCd in the
same run), on triochat's own number (a scenario ngIRCd cannot run, or an
absolute bound), or on the run itself having lost nothing. The table shows the
target and whether this run met it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Callable

    from .driver import Measurement


@dataclass(frozen=True)
class Target:
    """What one row must show, and where the goal comes from."""

    scenario: str
    metric: str
    #: As shown in the table.
    goal: str
    #: "ratio": the metric's ratio to the compared server; "value": triochat's
    #: number; "ok": the run completed and every delivery arrived.
    on: Literal["ratio", "value", "ok"]
    check: Callable[[float], bool] = lambda _: True


def _at_least(bound: float) -> Callable[[float], bool]:
    return lambda x: x >= bound


def _at_most(bound: float) -> Callable[[float], bool]:
    return lambda x: x <= bound


def _below(bound: float) -> Callable[[float], bool]:
    return lambda x: x < bound


TARGETS: tuple[Target, ...] = (
    # Issue 17, ratios to ngIRCd in the same run, history on (as shipped).
    Target("fanout5", "deliveries/s ↑", "≥ 1.2x ngIRCd (#17)", "ratio", _at_least(1.2)),
    Target("fanout1", "deliveries/s ↑", "≥ 1.2x ngIRCd (#17)", "ratio", _at_least(1.2)),
    Target("latency", "server CPU ↓", "≤ 1.0x ngIRCd (#17)", "ratio", _at_most(1.0)),
    Target("latency", "latency p99 ↓", "< 1 ms (#17)", "value", _below(1.0)),
    Target(
        "scale",
        "server RSS per connection ↓",
        "≤ 1.5x ngIRCd at 10,000 (#17)",
        "ratio",
        _at_most(1.5),
    ),
    Target(
        "scale", "time to connect and register all ↓", "≤ 1.0x ngIRCd (#17)", "ratio", _at_most(1.0)
    ),
    Target(
        "history",
        "deliveries/s, history on / off",
        "within 3% (#17)",
        "value",
        lambda x: 0.97 <= x <= 1.03,
    ),
    # Issue 17: the moderation checks on the hot path, under the fan-out target.
    Target("moderation", "deliveries/s ↑", "≥ 1.2x ngIRCd (#17)", "ratio", _at_least(1.2)),
    # Issue 14: WebSocket fan-out at least 0.7x of TCP's in the same run.
    Target("websocket", "WebSocket / TCP deliveries/s ↑", "≥ 0.7x (#14)", "value", _at_least(0.7)),
    # Issue 13: 100 concurrent SCRAM logins all complete.
    Target("logins", "logins completed ↑", "all (#13)", "value", _at_least(1.0)),
    # Issue 15: two nodes and one Redis on loopback.
    Target("cluster-fanout", "deliveries/s ↑", "every delivery, in order (#15)", "ok"),
    Target("cluster-latency", "latency p99 ↓", "< 5 ms across nodes (#15)", "value", _below(5.0)),
    Target(
        "cluster-scale",
        "time to connect and register all ↓",
        "all connect, join, receive (#15)",
        "ok",
    ),
)


def target_for(scenario: str, metric: str) -> Target | None:
    for target in TARGETS:
        if target.scenario == scenario and target.metric == metric:
            return target
    return None


def status(target: Target, measured: Measurement | None, value: float, ratio: float | None) -> str:
    """ "met", "not met", or why it cannot be told from this run."""
    if measured is None or measured.not_applicable:
        return "—"
    if measured.failures:
        return "not met (FAILURE)"
    if target.on == "ok":
        return "met"
    number = ratio if target.on == "ratio" else value
    if number is None:
        return "— (needs --compare ngircd)"
    if math.isnan(number):
        return "—"
    return "met" if target.check(number) else "not met"

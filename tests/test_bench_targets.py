"""The target and status columns of the benchmark table, from made-up measurements."""

from __future__ import annotations

from benchmarks.driver import Measurement
from benchmarks.report import Section, table, targets_summary


def fanout(server: str, deliveries: int, *, failed: bool = False) -> Measurement:
    measured = Measurement("fanout5", server, 50, deliveries=deliveries, expected=deliveries)
    measured.traffic_s = 1.0
    if failed:
        measured.failures.append("12 of 100 deliveries missing")
    return measured


def latency(server: str, p99_ms: float) -> Measurement:
    measured = Measurement("latency", server, 50, server_cpu_pct=20.0)
    measured.latency_ms = {"p50": 0.5, "p99": p99_ms, "max": 3.0}
    return measured


def statuses(sections: list[Section], servers: list[str]) -> dict[str, str]:
    return dict(targets_summary(sections, servers))


def test_a_ratio_target_is_met_or_not_by_the_ratio_to_ngircd() -> None:
    servers = ["triochat", "ngIRCd"]
    met = Section("f", "throughput", {"triochat": fanout("t", 130), "ngIRCd": fanout("n", 100)},
                  "fanout5")  # fmt: skip
    assert statuses([met], servers) == {"fanout5: deliveries/s ↑": "met"}
    short = Section("f", "throughput", {"triochat": fanout("t", 110), "ngIRCd": fanout("n", 100)},
                    "fanout5")  # fmt: skip
    assert statuses([short], servers) == {"fanout5: deliveries/s ↑": "not met"}
    rows = table([short], servers).splitlines()
    assert rows[0].endswith("| target | status |")
    assert "| 1.10 | ≥ 1.2x ngIRCd (#17) | not met |" in rows[2]


def test_a_ratio_target_cannot_be_told_without_the_compared_server() -> None:
    alone = Section("f", "throughput", {"triochat": fanout("t", 130)}, "fanout5")
    assert statuses([alone], ["triochat"]) == {
        "fanout5: deliveries/s ↑": "— (needs --compare ngircd)"
    }


def test_a_failed_run_never_meets_its_target() -> None:
    failed = Section(
        "f",
        "throughput",
        {"triochat": fanout("t", 500, failed=True), "ngIRCd": fanout("n", 100)},
        "fanout5",
    )
    assert statuses([failed], ["triochat", "ngIRCd"]) == {
        "fanout5: deliveries/s ↑": "not met (FAILURE)"
    }


def test_an_absolute_target_uses_triochats_own_number() -> None:
    servers = ["triochat", "ngIRCd"]
    fast = Section("l", "latency", {"triochat": latency("t", 0.9), "ngIRCd": latency("n", 5.0)},
                   "latency")  # fmt: skip
    slow = Section("l", "latency", {"triochat": latency("t", 1.4), "ngIRCd": latency("n", 0.5)},
                   "latency")  # fmt: skip
    assert statuses([fast], servers)["latency: latency p99 ↓"] == "met"
    assert statuses([slow], servers)["latency: latency p99 ↓"] == "not met"
    # The CPU target is a ratio: the same 20% on both is exactly 1.0x, which is allowed.
    assert statuses([fast], servers)["latency: server CPU ↓"] == "met"


def test_history_on_versus_off_must_stay_within_three_percent() -> None:
    on = fanout("t", 97)
    on.values["on_vs_off"] = 0.97
    within = Section("h", "history-on", {"triochat": on}, "history")
    assert statuses([within], ["triochat"]) == {"history: deliveries/s, history on / off": "met"}
    on.values["on_vs_off"] = 0.96
    assert statuses([within], ["triochat"]) == {
        "history: deliveries/s, history on / off": "not met"
    }

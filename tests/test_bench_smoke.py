"""Tiny runs of the benchmark harness against triochat, so that no row of the table can rot.

They assert no speed, only that each run completes and lost nothing: 3 clients,
1 sender, 20 messages, as a burst, at a fixed rate, in a moderated channel with
100 bans, over two cluster nodes (with a private redis-server), over WebSocket
beside TCP; and 5 SASL logins during a chat.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.e2e


def run_benchmark(scenario: str, tmp_path: Path) -> dict[str, Any]:
    """``python -m benchmarks --scenarios <scenario>``; its JSON (asserting exit status 0)."""
    results = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--scenarios", scenario, "--workers", "2",
         "--no-record", "--json", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    data: dict[str, Any] = json.loads(results.read_text())
    return data


@pytest.mark.parametrize("scenario", ["smoke", "smoke-rate", "smoke-moderation"])
def test_smoke_run_delivers_every_message(scenario: str, tmp_path: Path) -> None:
    (measurement,) = run_benchmark(scenario, tmp_path)["measurements"]
    assert measurement["server"] == "triochat"
    assert measurement["failures"] == []
    assert measurement["ok"]
    # 3 clients, 1 sender, 20 messages: the two others get all 20, in order.
    assert measurement["expected"] == 2 * 20
    assert measurement["deliveries"] == measurement["expected"]
    assert measurement["missing"] == 0
    assert measurement["anomalies"] == 0
    if scenario == "smoke-moderation":
        assert measurement["values"]["bans"] == 100


def test_the_cluster_row_runs_two_nodes_beside_one(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (on Debian: apt-get install redis-server)")
    (measurement,) = run_benchmark("smoke-cluster", tmp_path)["measurements"]
    assert measurement["ok"], measurement["failures"]
    assert measurement["expected"] == 3 * 20
    assert measurement["deliveries"] == measurement["expected"]
    assert measurement["values"]["single_deliveries_per_s"] > 0


def test_the_websocket_row_measures_both_transports(tmp_path: Path) -> None:
    (measurement,) = run_benchmark("smoke-websocket", tmp_path)["measurements"]
    assert measurement["ok"], measurement["failures"]
    values = measurement["values"]
    assert values["tcp_deliveries_per_s"] > 0
    assert values["websocket_deliveries_per_s"] > 0
    assert values["ratio"] == values["websocket_deliveries_per_s"] / values["tcp_deliveries_per_s"]


def test_the_logins_row_sees_every_login_complete(tmp_path: Path) -> None:
    (measurement,) = run_benchmark("smoke-logins", tmp_path)["measurements"]
    assert measurement["ok"], measurement["failures"]
    assert measurement["values"]["completed"] == measurement["values"]["wanted"] == 5
    assert measurement["values"]["chat_p99_during_ms"] > 0

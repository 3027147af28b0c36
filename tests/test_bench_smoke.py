"""A tiny run of the benchmark harness against triochat, so the harness cannot rot.

It asserts no speed, only that the run completes and lost nothing: 3 clients,
1 sender, 20 messages, once as a burst and once at a fixed rate.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("scenario", ["smoke", "smoke-rate"])
def test_smoke_run_delivers_every_message(scenario: str, tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--scenarios",
            scenario,
            "--workers",
            "2",
            "--no-record",
            "--json",
            str(results),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    (measurement,) = json.loads(results.read_text())
    assert measurement["server"] == "triochat"
    assert measurement["failures"] == []
    assert measurement["ok"]
    # 3 clients, 1 sender, 20 messages: the two others get all 20, in order.
    assert measurement["expected"] == 2 * 20
    assert measurement["deliveries"] == measurement["expected"]
    assert measurement["missing"] == 0
    assert measurement["anomalies"] == 0

"""A tiny run of the WebSocket benchmark, so that it cannot rot: it must finish, not be fast."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.e2e


def test_the_websocket_benchmark_runs_to_the_end() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.websocket", "--clients", "3", "--messages", "20",
         "--idle", "5", "--workers", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "| websocket |" in run.stdout
    assert "WebSocket / TCP deliveries/s" in run.stdout

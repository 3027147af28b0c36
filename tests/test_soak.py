"""The soak tool still runs: a few seconds of it, on loopback (``nox -s soak`` runs minutes)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import trio
import trio.testing
from harness import ServerHarness, config

from triochat._server.stats import live_task_count, rss_kib


def test_a_short_soak_passes() -> None:
    command = [sys.executable, "-m", "benchmarks.soak", "--duration", "4", "--clients", "3"]
    command += ["--stats-interval", "0.5"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "lost: 0, reordered: 0" in done.stdout
    assert "back to baseline" in done.stdout
    assert "result: PASS" in done.stdout


@pytest.mark.parametrize("server_config", [config(stats_interval=10)])
async def test_stats_report_connections_tasks_and_memory(
    autojump_clock: trio.testing.MockClock,
    harness: ServerHarness,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="triochat.stats")
    with trio.fail_after(60):
        idle = live_task_count()
        alice = await harness.client("alice", channel="#a")
        assert live_task_count() > idle  # alice's handler
        await trio.sleep(10.5)
        stats = [r.getMessage() for r in caplog.records if r.name == "triochat.stats"]
        assert len(stats) == 1
        assert stats[0].startswith("stats: connections=1 tasks=")
        assert " rss_kib=" in stats[0]
        await alice.send("QUIT")
        await alice.wait_closed()
        await harness.wait_connections(0)
        while harness.server.open_count:  # noqa: ASYNC110 - no event for "closed"
            await trio.sleep(0.01)
        assert live_task_count() == idle
    assert rss_kib() > 0

"""The profile summary of ``python -m benchmarks --profile``: py-spy's collapsed stacks, counted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.profile import summarize

if TYPE_CHECKING:
    from pathlib import Path


def test_self_counts_the_top_frame_and_total_counts_triochat_functions_once_per_stack(
    tmp_path: Path,
) -> None:
    stacks = tmp_path / "run.txt"
    stacks.write_text(
        "main (triochat/_cli/main.py:1);read (triochat/_server/connection.py:5);"
        "read (triochat/_server/connection.py:9);recv (trio/_socket.py:3) 3\n"
        "main (triochat/_cli/main.py:1);put (/x/triochat/_server/fanout.py:7) 1\n"
        "garbage line without a count\n"
    )
    summary = summarize(stacks, "fanout5")
    assert summary.startswith("fanout5: 4 samples")
    rows = summary.splitlines()[4:]
    assert rows[0] == "| 75.0% | `recv (_socket.py)` | | 75.0% | `read (connection.py)` |"
    assert rows[1] == "| 25.0% | `put (fanout.py)` | | 25.0% | `put (fanout.py)` |"
    assert len(rows) == 2  # the command line's frames are in every sample: not listed


def test_no_samples_says_so(tmp_path: Path) -> None:
    stacks = tmp_path / "empty.txt"
    stacks.write_text("")
    assert "no samples" in summarize(stacks, "scale")

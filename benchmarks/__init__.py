"""Load generator and benchmark harness for triochat (``python -m benchmarks``).

The harness starts a fresh server per scenario, drives it with plain-socket
clients spread over several worker processes, checks that every message reached
every member of the channel, and prints one table (triochat side by side with
ngIRCd when asked). See ``benchmarks/README.md``.
"""

from __future__ import annotations

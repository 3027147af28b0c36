"""Liveness and readiness: what ``/healthz`` and ``/readyz`` answer.

Liveness only says the process still runs its event loop (an orchestrator
restarts it otherwise); readiness says whether it should get new clients: it
accepts connections, its history database takes writes and, in cluster
mode, it is linked to the other nodes. Both are cheap
(attribute reads), because probes come every few seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._server.server import ChatServer

__all__ = ["readiness_problems"]


def readiness_problems(server: ChatServer) -> list[str]:
    """Why ``server`` should not get new clients now; empty when it is ready."""
    problems: list[str] = []
    if not server.accepting:
        problems.append("not accepting connections (starting or shutting down)")
    if server.history is not None:
        trouble = server.history.trouble
        if trouble is not None:
            problems.append(f"history: {trouble}")
    if server.cluster is not None and not server.cluster.up:
        problems.append("cluster: no link to the other nodes (Redis unreachable)")
    return problems

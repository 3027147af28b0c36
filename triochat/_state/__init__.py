"""The server's pure state machine: no trio, no I/O; events in, effects out."""

from __future__ import annotations

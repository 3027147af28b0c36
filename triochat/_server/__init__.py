"""The server's trio layer: accept, connections, delivery, fan-out, flood control."""

from __future__ import annotations

"""Chat history: pure records, the SQLite store, and the trio service around it."""

from __future__ import annotations

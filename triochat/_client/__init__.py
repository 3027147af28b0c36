"""The client library: a sans-IO core under a thin trio session."""

from __future__ import annotations

"""The ``triochat`` command line: serve, connect, certs."""

from __future__ import annotations

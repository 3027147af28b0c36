"""Sans-IO IRC shared by the server and the client: the wire format, names, numerics."""

from __future__ import annotations

"""Fixtures shared by the trio tests: an in-memory server to talk to."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from harness import TEST_CONFIG, MemoryListener, ServerHarness

from triochat._server.server import ChatServer

if TYPE_CHECKING:
    import trio

    from triochat._config import ServerConfig


@pytest.fixture
def server_config() -> ServerConfig:
    """Override in a test module (or parametrize) to change the in-memory server's config."""
    return TEST_CONFIG


@pytest.fixture
async def harness(nursery: trio.Nursery, server_config: ServerConfig) -> ServerHarness:
    """A running in-memory server; cancelled when the test ends."""
    listener = MemoryListener()
    server = ChatServer(server_config)
    await nursery.start(server.serve, [listener])
    return ServerHarness(server, listener)

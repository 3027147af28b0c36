"""The open-file limit, and the connection limit that fits under it."""

from __future__ import annotations

import logging
import resource
from dataclasses import replace
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from .._config import ServerConfig

__all__ = ["SPARE_FILES", "fit_file_limit", "raise_file_limit"]

log = logging.getLogger("triochat.serve")

#: Descriptors kept for other uses than clients (listeners, the database, logs).
SPARE_FILES: Final = 64


def raise_file_limit() -> int:
    """Allow as many connections as the hard limit permits (the soft limit is often 1024).

    Return the open-file limit now in force.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError) as error:
            log.warning("could not raise the open-file limit from %d: %s", soft, error)
            return soft
        soft = hard
    log.info("open-file limit: %d (about as many clients)", soft)
    return soft


def fit_file_limit(config: ServerConfig, file_limit: int) -> ServerConfig:
    """``config`` with ``max_clients`` lowered to what the open-file limit allows.

    Past that limit the server could not even accept a connection to refuse
    it; below it, a client past the limit is told why.
    """
    room = max(1, file_limit - SPARE_FILES)
    if config.max_clients is None or config.max_clients > room:
        log.info("max clients: %d (the open-file limit is %d)", room, file_limit)
        return replace(config, max_clients=room)
    return config

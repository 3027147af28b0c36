"""The command handlers, one module per concern; :data:`GROUPS` lists them for the dispatcher."""

from __future__ import annotations

from typing import Final

from . import accounts, channels, history, info, messaging, modes, registration, services, upkeep

__all__ = ["GROUPS"]

GROUPS: Final = (
    registration.commands,
    upkeep.commands,
    channels.commands,
    modes.commands,
    messaging.commands,
    history.commands,
    info.commands,
    accounts.commands,
    services.commands,
)

"""The command handlers, one module per concern; :data:`GROUPS` lists them for the dispatcher."""

from __future__ import annotations

from typing import Final

from . import (
    accounts,
    channels,
    history,
    info,
    invite,
    listing,
    messaging,
    modes,
    oper,
    registration,
    services,
    upkeep,
)

__all__ = ["GROUPS"]

GROUPS: Final = (
    registration.commands,
    upkeep.commands,
    channels.commands,
    listing.commands,
    invite.commands,
    modes.commands,
    messaging.commands,
    history.commands,
    info.commands,
    oper.commands,
    accounts.commands,
    services.commands,
)

"""WHOX (``WHO <mask> %<fields>[,<token>]``): WHO with chosen fields, the account among them.

Clients such as WeeChat and irssi scripts ask ``WHO #room %tcnfa,123`` to
learn who is logged in where; each match gets one 354 with the fields asked
for, always in the order of the IRCv3 WHOX specification.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .channels import member_prefix

if TYPE_CHECKING:
    from ..machine import ServerState
    from ..model import Client

__all__ = ["RPL_WHOSPCRPL", "whox_reply"]

RPL_WHOSPCRPL: Final = "354"
#: The fields a client may ask for, in the order they are sent.
_ORDER: Final = "tcuihsnfdlaor"


def whox_reply(
    state: ServerState,
    client: Client,
    target: Client,
    channel: str,
    status: str,
    spec: str,
) -> None:
    """One 354 for ``target``: ``spec`` is the text after ``%`` (fields, then ``,token``)."""
    fields, _, token = spec.partition(",")
    values: list[str] = []
    for field in _ORDER:
        if field not in fields:
            continue
        match field:
            case "t":
                values.append(token[:3] if token.isdigit() else "0")
            case "c":
                values.append(channel)
            case "u":
                values.append(target.user)
            case "i":
                values.append("255.255.255.255")  # never reveal addresses here
            case "h":
                values.append(target.host)
            case "s":
                values.append(state.config.server_name)
            case "n":
                values.append(target.nick)
            case "f":
                away = "G" if target.away is not None else "H"
                values.append(away + member_prefix(client, status))
            case "d":
                values.append("0")
            case "l":
                idle = int(state.now() - (target.last_spoke or target.connected_at))
                values.append(str(max(idle, 0)))
            case "a":
                values.append(target.account or "0")
            case "o":
                values.append("n/a")
            case _:
                values.append(target.realname)  # last: it may hold spaces
    if values:
        state.replies.numeric(client, RPL_WHOSPCRPL, *values)

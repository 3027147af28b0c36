"""What the server offers, said once: capabilities, modes, limits and ISUPPORT.

The welcome (004, 005), ``CAP LS``, the mode checks and the client-facing
limits are all derived from the declarations here, so that what is
advertised is exactly what is supported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from .._irc.modes import ModeSyntax
from .._irc.names import CASEMAPPING, CHANNEL_PREFIXES, MAX_CHANNEL_LENGTH, MAX_NICK_LENGTH
from .._version import SERVER_VERSION

if TYPE_CHECKING:
    from .._config import ServerConfig

__all__ = [
    "AWAY_LENGTH",
    "CHANNEL_LISTS",
    "CHANNEL_MODES",
    "CHANNEL_SYNTAX",
    "KEY_LENGTH",
    "KICK_LENGTH",
    "MAX_KICK_TARGETS",
    "MAX_LIST",
    "MAX_TARGETS",
    "SASL_MECHANISMS",
    "TOPIC_LENGTH",
    "USER_LENGTH",
    "USER_MODES",
    "VERSION",
    "ModeRow",
    "capabilities",
    "capability_values",
    "isupport_tokens",
]


#: The version string of 002, 004 and VERSION, from the package metadata.
VERSION: Final = SERVER_VERSION

#: Capabilities offered when every feature is on; see :func:`capabilities`.
_CAPABILITIES: Final = frozenset(
    {
        "away-notify",
        "batch",
        "cap-notify",
        "draft/chathistory",
        "echo-message",
        "invite-notify",
        "message-tags",
        "multi-prefix",
        "server-time",
        "userhost-in-names",
    }
)

#: Capabilities of accounts (``config.accounts``); registration has its own switch.
_ACCOUNT_CAPABILITIES: Final = frozenset({"sasl", "account-tag", "account-notify", "extended-join"})
#: The SASL mechanisms offered (the value of the ``sasl`` capability), best first.
SASL_MECHANISMS: Final = ("SCRAM-SHA-256", "PLAIN", "EXTERNAL")

TOPIC_LENGTH: Final = 390
KICK_LENGTH: Final = 390
AWAY_LENGTH: Final = 200
USER_LENGTH: Final = 18
#: Targets of one PRIVMSG, NOTICE or TAGMSG.
MAX_TARGETS: Final = 4
#: Mode changes with a parameter applied from one MODE line (``MODES=``).
MODES_PER_LINE: Final = 4
#: Entries of each channel list (bans, exceptions, invite exceptions): ``MAXLIST=``.
MAX_LIST: Final = 100
#: The longest channel key (``KEYLEN=``); longer keys are refused, never cut.
KEY_LENGTH: Final = 23
#: Channels and nicks of one KICK (``TARGMAX=KICK:``).
MAX_KICK_TARGETS: Final = 10


@dataclass(frozen=True, slots=True)
class ModeRow:
    """One mode letter the server supports.

    ``kind`` is its ISUPPORT class: ``prefix`` (member status, shown as
    ``symbol``), ``list`` (A), ``always`` (B: a parameter both ways),
    ``when_set`` (C) or ``flag`` (D).
    """

    letter: str
    kind: Literal["prefix", "list", "always", "when_set", "flag"]
    summary: str
    symbol: str = ""


#: Channel modes, member statuses from the highest rank.
CHANNEL_MODES: Final = (
    ModeRow("o", "prefix", "channel operator", "@"),
    ModeRow("v", "prefix", "voice: may speak in a moderated channel", "+"),
    ModeRow("b", "list", "ban: masks that may not join, nor speak unless voiced"),
    ModeRow("e", "list", "ban exception: masks the bans do not apply to"),
    ModeRow("I", "list", "invite exception: masks that may join an invite-only channel"),
    ModeRow("k", "always", "key: the password to join"),
    ModeRow("l", "when_set", "limit: the most members the channel takes"),
    ModeRow("i", "flag", "invite-only: only the invited (or +I) may join"),
    ModeRow("m", "flag", "moderated: only voiced members and operators speak"),
    ModeRow("n", "flag", "no messages from outside the channel"),
    ModeRow("p", "flag", "private: hidden from LIST and from outsiders"),
    ModeRow("s", "flag", "secret: hidden from LIST, NAMES, WHO and WHOIS of outsiders"),
    ModeRow("t", "flag", "only operators change the topic"),
)
#: User modes.
USER_MODES: Final = (
    ModeRow("i", "flag", "invisible: not counted as visible in LUSERS, hidden from WHO"),
    ModeRow("o", "flag", "server operator (given by OPER, never by MODE)"),
    ModeRow("w", "flag", "wallops: receive WALLOPS"),
)


def _syntax(rows: tuple[ModeRow, ...]) -> ModeSyntax:
    def letters(kind: str) -> str:
        return "".join(row.letter for row in rows if row.kind == kind)

    prefixes = tuple((row.letter, row.symbol) for row in rows if row.kind == "prefix")
    return ModeSyntax(
        letters("list"), letters("always"), letters("when_set"), letters("flag"), prefixes
    )


#: How channel mode strings are read: what CHANMODES and PREFIX advertise.
CHANNEL_SYNTAX: Final = _syntax(CHANNEL_MODES)
#: Member statuses, highest rank first (``"ov"``).
MEMBER_MODES: Final = "".join(mode for mode, _ in CHANNEL_SYNTAX.prefixes)
#: Channel flags without a parameter.
CHANNEL_FLAGS: Final = CHANNEL_SYNTAX.flags
USER_FLAGS: Final = "".join(row.letter for row in USER_MODES)
#: Channel modes kept as lists of masks (``b``, ``e``, ``I``).
CHANNEL_LISTS: Final = CHANNEL_SYNTAX.lists
#: User modes are all flags.
USER_SYNTAX: Final = ModeSyntax("", "", "", USER_FLAGS, ())


def capabilities(config: ServerConfig) -> frozenset[str]:
    """The IRCv3 capabilities this server offers with ``config``."""
    caps = _CAPABILITIES if config.history else _CAPABILITIES - {"draft/chathistory"}
    if config.accounts:
        caps |= _ACCOUNT_CAPABILITIES
        if config.account_registration:
            caps |= {"draft/account-registration"}
    return caps


def capability_values(config: ServerConfig) -> dict[str, str]:
    """The values shown after ``=`` in ``CAP LS 302`` (and later versions)."""
    values: dict[str, str] = {}
    if config.accounts:
        values["sasl"] = ",".join(SASL_MECHANISMS)
        if config.account_registration:
            values["draft/account-registration"] = "before-connect"
    return values


def myinfo(server_name: str) -> tuple[str, ...]:
    """The parameters of 004: name, version, user modes, channel modes, modes with a parameter."""
    channel_letters = "".join(sorted(row.letter for row in CHANNEL_MODES))
    with_param = "".join(sorted(row.letter for row in CHANNEL_MODES if row.kind != "flag"))
    return (server_name, VERSION, USER_FLAGS, channel_letters, with_param)


def isupport_tokens(config: ServerConfig) -> list[str]:
    """Every ISUPPORT (005) token, sorted as sent."""
    targmax = (
        f"PRIVMSG:{MAX_TARGETS},NOTICE:{MAX_TARGETS},TAGMSG:{MAX_TARGETS},JOIN:,PART:,"
        f"KICK:{MAX_KICK_TARGETS}"
    )
    lists = "".join(row.letter for row in CHANNEL_MODES if row.kind == "list")
    history = (
        [f"CHATHISTORY={config.history_request_limit}", "MSGREFTYPES=timestamp,msgid"]
        if config.history
        else []
    )
    return [
        f"AWAYLEN={AWAY_LENGTH}",
        f"CASEMAPPING={CASEMAPPING}",
        f"CHANLIMIT={CHANNEL_PREFIXES}:{config.max_channels}",
        f"CHANMODES={CHANNEL_SYNTAX.chanmodes}",
        f"CHANNELLEN={MAX_CHANNEL_LENGTH}",
        f"CHANTYPES={CHANNEL_PREFIXES}",
        *history,
        "ELIST=CMNTU",
        "EXCEPTS=e",
        "INVEX=I",
        f"KEYLEN={KEY_LENGTH}",
        f"KICKLEN={KICK_LENGTH}",
        f"MAXLIST={lists}:{MAX_LIST}",
        f"MAXTARGETS={MAX_TARGETS}",
        f"MODES={MODES_PER_LINE}",
        f"NETWORK={config.network_name}",
        f"NICKLEN={MAX_NICK_LENGTH}",
        f"PREFIX={CHANNEL_SYNTAX.prefix}",
        f"TARGMAX={targmax}",
        f"TOPICLEN={TOPIC_LENGTH}",
        f"USERLEN={USER_LENGTH}",
        "UTF8ONLY",
        "WHOX",
    ]

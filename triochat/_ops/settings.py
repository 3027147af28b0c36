"""Every setting of ``triochat serve`` declared once: its flag, its config-file key, its check.

Flags and the config file go through the same checks (:mod:`.checks`), so a
value is refused the same way wherever it came from, and ``config example``
is printed from this table, so it cannot miss a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .._config import ServerConfig
from .checks import (
    MIN_QUEUE_BYTES,
    boolean,
    choice,
    database,
    integer,
    log_format,
    log_level,
    node_name,
    optional,
    parse_duration,
    password,
    path,
    positive,
    redis_url,
    strings,
    text,
    word,
)

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["BY_DEST", "BY_KEY", "DEFAULT_NODE_TIMEOUT", "SECTIONS", "SETTINGS", "Setting"]


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: where it lives in the file, which flag sets it, how it is checked."""

    section: str
    key: str
    #: Its argparse ``dest``, and its name in the resolved values.
    dest: str
    check: Callable[[object], object]
    default: object
    comment: str
    #: The flag that sets it, when there is one (some are file-only, some belong to other parts).
    flag: str | None = None

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"


_D = ServerConfig()
#: Seconds of silence after which a cluster node counts as lost.
DEFAULT_NODE_TIMEOUT: Final = 15.0

#: The tables of the file, in the order ``config example`` prints them.
SECTIONS: Final = {
    "server": "Who the server is.",
    "listeners": "Where it listens. Changing these needs a restart (a reload says so).",
    "listeners.web": "The browser client and WebSocket listener (off without a port).",
    "limits": "Bounds per connection and in all. A reload applies them to new connections.",
    "flood": "Flood control: IRC's 'fake lag'. A reload applies it to new connections.",
    "history": "Chat history in SQLite.",
    "logging": "Logs on stderr.",
    "metrics": "Prometheus metrics and health checks over HTTP (off without a port).",
    "operators": "Server operators: [[operators]] tables of name and hash (hash-password).",
    "accounts": "Accounts (SASL, REGISTER, NickServ), kept in the history database.",
    "cluster": "Cluster mode: one network on many nodes sharing a Redis (docs/cluster.md).",
}

_S = Setting
_ONE_LINE = f"must be at least {MIN_QUEUE_BYTES} bytes (one line)"
_NO_LIMIT = "must be 0 (no limit) or more"
_PORT = integer(0, 65535, phrase="must be between 0 and 65535")

# One setting per entry: section, key, dest (the flag's argparse dest), check, default,
# the comment in `config example`, and the flag.
# fmt: off
SETTINGS: Final[tuple[Setting, ...]] = (
    _S("server", "name", "server_name", word, _D.server_name,
       "the server's name in its replies", "--server-name"),
    _S("server", "network", "network_name", word, _D.network_name,
       "the network name shown on welcome", "--network-name"),
    _S("server", "password", "password", optional(password), None,
       "require this connection password (PASS); $TRIOCHAT_PASSWORD overrides it", "--password"),
    _S("server", "motd_file", "motd_file", optional(path), None,
       "a UTF-8 text file whose lines are the message of the day (default: a short welcome)",
       "--motd-file"),
    _S("listeners", "host", "host", text, "127.0.0.1",
       "address to listen on; 0.0.0.0 or :: for every interface", "--host"),
    _S("listeners", "port", "port", optional(_PORT), None,
       "plain-text port; 6667 unless tls is on; 0 picks a free one", "--port"),
    _S("listeners", "tls", "tls", boolean, False, "listen for TLS on tls_port", "--tls"),
    _S("listeners", "tls_port", "tls_port", _PORT, 6697, "TLS port", "--tls-port"),
    _S("listeners", "cert", "cert", path, Path("certs/server.pem"),
       "PEM certificate chain, with its key unless key is set (certbot: fullchain.pem)",
       "--cert"),
    _S("listeners", "key", "key", optional(path), None,
       "PEM private key (certbot: privkey.pem)", "--key"),
    _S("listeners", "handshake_timeout", "handshake_timeout", positive, _D.handshake_timeout,
       "seconds a TLS client has to finish its handshake", "--handshake-timeout"),
    _S("listeners.web", "port", "web_port", optional(_PORT), None,
       "serve the browser client here (HTTPS when tls is on); 0 picks a free port",
       "--web-port"),
    _S("listeners.web", "tls_port", "web_tls_port", optional(_PORT), None,
       "serve the browser client over HTTPS here, with the certificate above",
       "--web-tls-port"),
    _S("listeners.web", "host", "web_host", optional(text), None,
       "web listener address (default: listeners.host)", "--web-host"),
    _S("listeners.web", "origin", "web_origin", optional(strings), None,
       "other browser origins allowed to open the WebSocket (the page's own always is)",
       "--web-origin"),
    _S("listeners.web", "trusted_proxy", "trusted_proxy", optional(strings), None,
       "addresses or networks of reverse proxies trusted for X-Forwarded-For",
       "--trusted-proxy"),
    _S("limits", "max_clients", "max_clients", integer(0, phrase=_NO_LIMIT), _D.max_clients,
       "connections at once; 0: only the open-file limit", "--max-clients"),
    _S("limits", "max_per_ip", "max_per_ip", integer(0, phrase=_NO_LIMIT), _D.max_per_ip,
       "connections at once from one address; 0: no limit", "--max-per-ip"),
    _S("limits", "max_channels", "max_channels", integer(1), _D.max_channels,
       "channels one client may be in", "--max-channels"),
    _S("limits", "sendq", "sendq", integer(MIN_QUEUE_BYTES, phrase=_ONE_LINE), _D.sendq_bytes,
       "bytes that may wait for one client before it is disconnected", "--sendq"),
    _S("limits", "recvq", "recvq", integer(MIN_QUEUE_BYTES, phrase=_ONE_LINE), _D.recvq_bytes,
       "bytes of one client's input that may wait for flood control", "--recvq"),
    _S("limits", "registration_timeout", "registration_timeout", positive,
       _D.registration_timeout, "seconds to finish NICK/USER", "--registration-timeout"),
    _S("limits", "ping_interval", "ping_interval", positive, _D.ping_interval,
       "PING clients silent this many seconds", "--ping-interval"),
    _S("limits", "ping_timeout", "ping_timeout", positive, _D.ping_timeout,
       "drop PINGed clients silent this many seconds", "--ping-timeout"),
    _S("flood", "enabled", "flood_control", boolean, _D.flood_control,
       "false handles every command at once (trusted bots, benchmarks)", "--flood-control"),
    _S("flood", "burst", "flood_burst", integer(1), _D.flood_burst,
       "commands at once before a client is slowed", "--flood-burst"),
    _S("flood", "rate", "flood_rate", positive, _D.flood_rate,
       "commands per second after the burst", "--flood-rate"),
    _S("flood", "max_lag", "flood_max_lag", positive, _D.flood_max_lag,
       "disconnect a client whose waiting commands would take longer (seconds)",
       "--flood-max-lag"),
    _S("history", "enabled", "history", boolean, True,
       "false: store, replay and answer nothing", "--no-history"),
    _S("history", "db", "db", database, "triochat.db",
       "SQLite file; ':memory:' keeps nothing", "--db"),
    _S("history", "replay", "history_replay", integer(0), _D.history_replay,
       "messages replayed to whoever joins a channel; 0: none", "--history-replay"),
    _S("history", "max_age", "history_max_age", optional(parse_duration), None,
       'forget messages older than this: "30d", "12h", "90m", or seconds',
       "--history-max-age"),
    _S("history", "max_per_channel", "history_max_per_channel", optional(integer(1)), None,
       "keep at most this many messages per channel", "--history-max-per-channel"),
    _S("accounts", "enabled", "accounts", boolean, _D.accounts,
       "false: no accounts at all (no SASL, no NickServ)", "--no-accounts"),
    _S("accounts", "registration", "account_registration", boolean, _D.account_registration,
       "false: only the owner creates accounts (triochat account create)", "--no-registration"),
    _S("accounts", "nick_protection", "nick_protection", choice("off", "warn", "strict"),
       _D.nick_protection, "off, warn (then rename after 30 s) or strict",
       "--nick-protection"),
    _S("accounts", "multiclient", "multiclient", boolean, _D.multiclient,
       "false: one connection per account's nick", "--no-multiclient"),
    _S("accounts", "client_ca", "client_ca", optional(path), None,
       "with TLS, accept only client certificates from this CA for SASL EXTERNAL"
       " (default: any)", "--client-ca"),
    _S("logging", "level", "log_level", log_level, "INFO",
       "debug, info, warning or error", "--log-level"),
    _S("logging", "format", "log_format", log_format, "text",
       "text, or json: one object per line", "--log-format"),
    _S("logging", "stats_interval", "stats_interval", optional(positive), None,
       "log a stats line this often (seconds)", "--stats-interval"),
    _S("metrics", "port", "metrics_port", optional(_PORT), None,
       "serve /metrics, /healthz and /readyz over HTTP on this port; 0 picks a free one",
       "--metrics-port"),
    _S("metrics", "host", "metrics_host", text, "127.0.0.1",
       "address of the metrics endpoint", "--metrics-host"),
    _S("cluster", "url", "cluster", optional(redis_url), None,
       "be one node of the network whose nodes share this Redis (needs the cluster extra:"
       " pip install 'triochat[cluster]')", "--cluster"),
    _S("cluster", "node_name", "node_name", optional(node_name), None,
       "this node's name, unique in the network (default: the host name)", "--node-name"),
    _S("cluster", "node_timeout", "node_timeout", positive, DEFAULT_NODE_TIMEOUT,
       "seconds after which a silent node is lost and its users quit", "--node-timeout"),
)
# fmt: on

BY_DEST: Final = {setting.dest: setting for setting in SETTINGS}
BY_KEY: Final = {(setting.section, setting.key): setting for setting in SETTINGS}

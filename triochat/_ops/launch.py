"""From flags and a config file to one checked :class:`Launch`: what ``triochat serve`` runs.

Precedence, highest first: a flag the user typed, ``$TRIOCHAT_PASSWORD`` (for
the password), the config file, the built-in default. Only flags actually
given count: the serve parser's defaults are ``argparse.SUPPRESS``, so a flag
left out is absent from the namespace rather than equal to its default.

Checks that need the file system (the certificate, the MOTD file, the
database's folder) run here, after merging, so they report the value that
won and where it came from.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, cast

from .._config import DEFAULT_MOTD, ServerConfig
from .._opers.passwords import is_password_hash
from .._tls import server_context
from .checks import Invalid, word
from .configfile import ConfigError, Given, Operator, read_file
from .settings import BY_DEST, SETTINGS

if TYPE_CHECKING:
    import argparse
    import ssl

__all__ = ["DEFAULT_PORT", "Launch", "load", "read_motd"]

DEFAULT_PORT: Final = 6667
PASSWORD_VARIABLE: Final = "TRIOCHAT_PASSWORD"
#: A MOTD file is read up to this size; the rest is left out, with a warning.
MAX_MOTD_BYTES: Final = 16 * 1024
#: Longer MOTD lines are cut, so each fits in one IRC line (512 bytes) with its prefix.
MAX_MOTD_LINE_CHARS: Final = 300


@dataclass(frozen=True, slots=True)
class Launch:
    """Everything ``triochat serve`` was told, checked: the server's config and its surroundings."""

    server: ServerConfig
    host: str = "127.0.0.1"
    #: The plain-text port (None: no plain listener, as with ``--tls`` alone).
    port: int | None = DEFAULT_PORT
    #: The TLS port (None: no TLS).
    tls_port: int | None = None
    cert: Path = Path("certs/server.pem")
    key: Path | None = None
    motd_file: Path | None = None
    log_level: str = "INFO"
    log_format: str = "text"
    #: Where /metrics, /healthz and /readyz are served (no port: not at all).
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    #: The CA whose client certificates TLS asks for (SASL EXTERNAL), if any.
    client_ca: Path | None = None
    #: The ``listeners.web`` settings (see :class:`~.._web.cli.WebOptions`).
    web: dict[str, object] = field(default_factory=dict)
    #: The ``cluster`` settings (see :func:`~.._cli.cluster.cluster_from_settings`).
    cluster: dict[str, object] = field(default_factory=dict)
    operators: tuple[Operator, ...] = ()
    #: The config file these settings came from, re-read on reload.
    config_file: Path | None = None
    #: Things worth saying that do not stop the server (a MOTD file cut short).
    warnings: tuple[str, ...] = ()


def tls_contexts(
    launch: Launch, *, irc: bool, web: bool
) -> tuple[ssl.SSLContext | None, ssl.SSLContext | None]:
    """New server contexts for the IRC TLS port and for HTTPS web ports, those asked for.

    Only the IRC port asks clients for a certificate (SASL EXTERNAL, with
    accounts on or ``--client-ca``): a browser asked for one may prompt its
    user to pick a certificate, so the web ports never ask. At start and at
    every reload the contexts come from here, so the two never drift apart.
    """
    irc_context = None
    if irc:
        irc_context = server_context(
            launch.cert, launch.key, client_certs=launch.server.accounts, client_ca=launch.client_ca
        )
    return irc_context, server_context(launch.cert, launch.key) if web else None


def flags_given(args: argparse.Namespace) -> dict[str, Given]:
    """The settings typed on the command line (and the password from the environment)."""
    given = vars(args)
    values: dict[str, Given] = {}
    for setting in SETTINGS:
        if setting.flag is not None and setting.dest in given:
            values[setting.dest] = Given(given[setting.dest], setting.flag)
    if "password" not in values and os.environ.get(PASSWORD_VARIABLE):
        values["password"] = Given(os.environ[PASSWORD_VARIABLE], f"${PASSWORD_VARIABLE}")
    return values


def load(args: argparse.Namespace) -> Launch:
    """The launch that ``args`` (and ``args.config``, when given) describe; :class:`ConfigError`."""
    config_file: Path | None = getattr(args, "config", None)
    file_values: dict[str, Given] = {}
    operators: tuple[Operator, ...] = ()
    if config_file is not None:
        file_values, operators = read_file(config_file)
    flag_operators = getattr(args, "oper", None)
    if flag_operators is not None:  # operators on the command line replace the file's
        operators = tuple(_operator_flag(text) for text in flag_operators)
    return resolve(file_values, flags_given(args), operators, config_file)


def _operator_flag(text: str) -> Operator:
    """``--oper NAME:HASH`` as an operator; :class:`ConfigError` for a plain password."""
    name, _, hashed = text.partition(":")
    try:
        word(name)
    except Invalid:
        raise ConfigError([f"--oper needs NAME:HASH, with a one-word name: {name!r}"]) from None
    if not is_password_hash(hashed):
        why = "not a password hash; make one with 'triochat hash-password'"
        raise ConfigError([f"--oper {name}: {why}"])
    return Operator(name, hashed)


def resolve(
    file_values: dict[str, Given],
    flag_values: dict[str, Given],
    operators: tuple[Operator, ...] = (),
    config_file: Path | None = None,
) -> Launch:
    """Merge (flags win), check, and build the launch; :class:`ConfigError` lists every problem."""
    problems: list[str] = []
    merged = {**file_values}
    for dest, given in flag_values.items():
        setting = BY_DEST[dest]
        try:
            merged[dest] = Given(setting.check(given.value), given.name, given.where)
        except Invalid as error:
            problems.append(given.problem(str(error)))
    if problems:
        raise ConfigError(problems)
    values = {s.dest: merged[s.dest].value if s.dest in merged else s.default for s in SETTINGS}
    if values["cluster"] is not None and "db" not in merged:
        # Nodes started in one directory keep apart histories: triochat-NAME.db.
        values["db"] = f"triochat-{values['node_name'] or socket.gethostname()}.db"
    warnings: list[str] = []
    motd: tuple[str, ...] | None = DEFAULT_MOTD
    if values["motd_file"] is not None:
        try:
            motd = read_motd(cast("Path", values["motd_file"]), warnings)
        except Invalid as error:
            problems.append(merged["motd_file"].problem(str(error)))
    tls = bool(values["tls"])
    # Files named in the config file are checked here, to point at their line; flags and
    # defaults are checked where they are opened (the TLS context, the history store).
    in_file = {dest for dest, given in merged.items() if given.where is not None}
    if tls:
        for dest in in_file & {"cert", "key"}:
            problem = _file_problem(cast("Path", values[dest]))
            if problem is not None:
                problems.append(merged[dest].problem(problem))
    if "db" in in_file and values["history"] and values["db"] != ":memory:":
        problem = _database_problem(Path(cast("str", values["db"])))
        if problem is not None:
            problems.append(merged["db"].problem(problem))
    if problems:
        raise ConfigError(problems)
    port = cast("int | None", values["port"])
    return Launch(
        server=replace(
            _server_config(values, motd),
            opers=tuple((operator.name, operator.hash) for operator in operators),
        ),
        host=cast("str", values["host"]),
        port=DEFAULT_PORT if port is None and not tls else port,
        tls_port=cast("int", values["tls_port"]) if tls else None,
        cert=cast("Path", values["cert"]),
        key=cast("Path | None", values["key"]),
        motd_file=cast("Path | None", values["motd_file"]),
        log_level=cast("str", values["log_level"]),
        log_format=cast("str", values["log_format"]),
        metrics_port=cast("int | None", values["metrics_port"]),
        metrics_host=cast("str", values["metrics_host"]),
        client_ca=cast("Path | None", values["client_ca"]),
        web={
            key: values[key]
            for key in ("web_port", "web_tls_port", "web_host", "web_origin", "trusted_proxy")
        },
        cluster={key: values[key] for key in ("cluster", "node_name", "node_timeout")},
        operators=operators,
        config_file=config_file,
        warnings=tuple(warnings),
    )


def _server_config(values: dict[str, object], motd: tuple[str, ...] | None) -> ServerConfig:
    """The :class:`ServerConfig` part of the checked values."""
    v = values
    return ServerConfig(
        server_name=cast("str", v["server_name"]),
        network_name=cast("str", v["network_name"]),
        password=cast("str | None", v["password"]),
        motd=motd,
        handshake_timeout=cast("float", v["handshake_timeout"]),
        registration_timeout=cast("float", v["registration_timeout"]),
        ping_interval=cast("float", v["ping_interval"]),
        ping_timeout=cast("float", v["ping_timeout"]),
        sendq_bytes=cast("int", v["sendq"]),
        recvq_bytes=cast("int", v["recvq"]),
        max_channels=cast("int", v["max_channels"]),
        max_clients=cast("int", v["max_clients"]) or None,
        max_per_ip=cast("int", v["max_per_ip"]) or None,
        flood_control=cast("bool", v["flood_control"]),
        flood_burst=cast("int", v["flood_burst"]),
        flood_rate=cast("float", v["flood_rate"]),
        flood_max_lag=cast("float", v["flood_max_lag"]),
        stats_interval=cast("float | None", v["stats_interval"]),
        history=cast("bool", v["history"]),
        history_db=cast("str", v["db"]),
        history_replay=cast("int", v["history_replay"]),
        history_max_age=cast("float | None", v["history_max_age"]),
        history_max_per_channel=cast("int | None", v["history_max_per_channel"]),
        accounts=cast("bool", v["accounts"]),
        account_registration=cast("bool", v["account_registration"]),
        nick_protection=cast("Literal['off', 'warn', 'strict']", v["nick_protection"]),
        multiclient=cast("bool", v["multiclient"]),
    )


def read_motd(path: Path, warnings: list[str]) -> tuple[str, ...] | None:
    """The lines of a MOTD file, capped in size (with a warning); :class:`Invalid` if unreadable."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_MOTD_BYTES + 1)
    except IsADirectoryError:
        raise Invalid(f"cannot read the MOTD file {path}: it is a directory") from None
    except OSError as error:
        raise Invalid(f"cannot read the MOTD file {path}: {error.strerror}") from None
    if len(data) > MAX_MOTD_BYTES:
        data = data[:MAX_MOTD_BYTES].rpartition(b"\n")[0]
        warnings.append(
            f"the MOTD file {path} is larger than {MAX_MOTD_BYTES // 1024} KiB:"
            " only its first lines are shown"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Invalid(f"cannot read the MOTD file {path}: not UTF-8 ({error.reason})") from None
    lines = [line.replace("\0", "") for line in text.splitlines()]
    if any(len(line) > MAX_MOTD_LINE_CHARS for line in lines):
        warnings.append(f"MOTD lines longer than {MAX_MOTD_LINE_CHARS} characters are cut")
        lines = [line[:MAX_MOTD_LINE_CHARS] for line in lines]
    return tuple(lines) or None


def _file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file, or None."""
    if path.is_dir():
        return f"must be a file, but {path} is a directory"
    if not path.exists():
        return f"certificate file not found: {path}"
    if not os.access(path, os.R_OK):
        return f"cannot read {path}: permission denied"
    return None


def _database_problem(path: Path) -> str | None:
    """Why the history database at ``path`` cannot be opened for writing, or None."""
    if path.is_dir():
        return f"must be a file, but {path} is a directory"
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            return f"cannot read and write the database {path}: permission denied"
        return None
    folder = path.parent
    if not folder.is_dir():
        return f"cannot create the database {path}: no folder {folder}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot create the database {path}: {folder} is not writable"
    return None

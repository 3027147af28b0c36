"""The config file: every kind of error with its FILE:LINE, merging with flags, the example."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest
import trustme

from triochat._cli.main import build_parser, main
from triochat._config import DEFAULT_MOTD, ServerConfig
from triochat._ops.configfile import ConfigError, Operator, read_file
from triochat._ops.example import example_config
from triochat._ops.launch import MAX_MOTD_BYTES, Launch, load
from triochat._ops.launch import load as load_launch
from triochat._ops.settings import SETTINGS

if TYPE_CHECKING:
    from pathlib import Path

#: A real password hash (of "secret"), as `triochat hash-password` makes them.
HASH = "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5"


def _launch(tmp_path: Path, text: str, *flags: str) -> Launch:
    file = tmp_path / "triochat.toml"
    file.write_text(text, encoding="utf-8")
    return load_launch(build_parser().parse_args(["serve", "--config", str(file), *flags]))


def _problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as refused:
        _launch(tmp_path, text)
    return [problem.replace(str(tmp_path) + "/", "") for problem in refused.value.problems]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # unknown keys and sections, anywhere
        ("[limits]\nmax_client = 5\n", "triochat.toml:2: limits.max_client: unknown key"),
        ("\n[limitz]\nx = 1\n", "triochat.toml:2: limitz: unknown section"),
        ("[listeners.web]\nport = 8080\nwat = 1\n", "triochat.toml:3: listeners.web.wat: unknown"),
        ("[cluster]\nnodes = 2\n", "triochat.toml:2: cluster.nodes: unknown key"),
        ("[accounts]\nenabled = 1\n", "triochat.toml:2: accounts.enabled: must be true or false"),
        (
            "[accounts]\nnick_protection = 'loud'\n",
            "triochat.toml:2: accounts.nick_protection: must be one of off, warn, strict",
        ),
        ("[cluster]\nredis = 'x'\n", "triochat.toml:2: cluster.redis: unknown key"),
        ("[cluster]\nurl = 'http://x'\n", "triochat.toml:2: cluster.url: wants a redis:// URL"),
        ("[cluster]\nnode_name = 'a b'\n", "triochat.toml:2: cluster.node_name: no spaces"),
        (
            "[cluster]\nnode_timeout = 0\n",
            "triochat.toml:2: cluster.node_timeout: must be positive",
        ),
        # wrong types
        ('[limits]\nmax_clients = "many"\n', "limits.max_clients: must be a whole number"),
        ("[limits]\nmax_clients = true\n", "limits.max_clients: must be a whole number, not true"),
        ("[limits]\nping_interval = 'soon'\n", "limits.ping_interval: must be a number"),
        ("[flood]\nenabled = 1\n", "triochat.toml:2: flood.enabled: must be true or false"),
        ("[server]\nname = 5\n", "triochat.toml:2: server.name: must be one word"),
        ("limits = 5\n", "triochat.toml:1: limits: must be a table"),
        ("[listeners]\nweb = 5\n", "triochat.toml:2: listeners.web: must be a table"),
        ("[listeners.web]\norigin = [1]\n", "listeners.web.origin: must be a string or a list"),
        ("[listeners]\ncert = ''\n", "triochat.toml:2: listeners.cert: must be a file name"),
        # out of range
        ("[listeners]\nport = 70000\n", "listeners.port: must be between 0 and 65535, not 70000"),
        ("[listeners.web]\nport = -1\n", "listeners.web.port: must be between 0 and 65535, not -1"),
        ("[limits]\nmax_per_ip = -1\n", "limits.max_per_ip: must be 0 (no limit) or more"),
        ("[limits]\nmax_channels = 0\n", "limits.max_channels: must be positive, not 0"),
        ("[limits]\nsendq = 100\n", "limits.sendq: must be at least"),
        ("[limits]\nping_timeout = 0\n", "limits.ping_timeout: must be positive, not 0"),
        ("[flood]\nrate = -2.5\n", "flood.rate: must be positive, not -2.5"),
        ("[flood]\nrate = nan\n", "flood.rate: must be positive, not nan"),
        ("[history]\nreplay = -1\n", "history.replay: must be 0 or more, not -1"),
        ("[metrics]\nport = 65536\n", "metrics.port: must be between 0 and 65535"),
        # bad values of other kinds
        ('[history]\nmax_age = "thirty days"\n', "history.max_age: must be a positive duration"),
        ('[history]\nmax_age = "0d"\n', "history.max_age: must be a positive duration"),
        ("[history]\nmax_age = -5\n", "history.max_age: must be positive"),
        ('[server]\nname = "two words"\n', "server.name: must be one word: 'two words'"),
        ('[server]\npassword = "has space"\n', "server.password: cannot contain spaces"),
        ('[logging]\nlevel = "loud"\n', "logging.level: must be one of debug, info, warning"),
        ('[logging]\nformat = "xml"\n', "logging.format: must be one of text, json: 'xml'"),
        # operators: shape only
        ("operators = 3\n", "triochat.toml:1: operators: must be a list of tables"),
        ('[[operators]]\nname = "admin"\n', "triochat.toml:1: operators[0].hash: is missing"),
        (
            f'[[operators]]\nname = "a"\nhash = "{HASH}"\n'
            f'[[operators]]\nname = "b c"\nhash = "{HASH}"\n',
            "triochat.toml:5: operators[1].name: must be one word",
        ),
        ('[[operators]]\nname = "a"\nhash = ""\n', "triochat.toml:3: operators[0].hash: must be"),
        (
            f'[[operators]]\nname="a"\nhash="{HASH}"\nrole="x"\n',
            "triochat.toml:4: operators[0].role",
        ),
        (
            '[[operators]]\nname = "a"\nhash = "hunter2"\n',
            "triochat.toml:3: operators[0].hash: must be",
        ),
        # syntax: tomllib names the line
        ("[limits]\nmax_clients = \n", "triochat.toml:2: not valid TOML"),
        ("[limits\n", "triochat.toml:1: not valid TOML"),
        # dotted keys and comments are located too
        ("# comment\nlimits.max_clients = -1\n", "triochat.toml:2: limits.max_clients: must be 0"),
        ('[ "limits" ]  # c\n\nmax_channels = 0\n', "triochat.toml:3: limits.max_channels"),
    ],
)
def test_every_error_names_its_line_and_what_was_expected(
    tmp_path: Path, text: str, expected: str
) -> None:
    problems = _problems(tmp_path, text)
    assert len(problems) == 1, problems
    assert expected in problems[0]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    problems = _problems(tmp_path, "[limits]\nmax_clients = -1\nmax_per_ip = 'x'\n[foo]\n")
    assert [problem.split(": ")[0] for problem in problems] == [
        "triochat.toml:2",
        "triochat.toml:3",
        "triochat.toml:4",
    ]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        ("cert-missing", "listeners.cert: certificate file not found"),
        ("cert-directory", "listeners.cert: must be a file, but"),
        ("key-directory", "listeners.key: must be a file, but"),
        ("motd-directory", "server.motd_file: cannot read the MOTD file"),
        ("motd-missing", "server.motd_file: cannot read the MOTD file"),
        ("motd-binary", "server.motd_file: cannot read the MOTD file"),
        ("db-directory", "history.db: must be a file, but"),
        ("db-no-folder", "history.db: cannot create the database"),
    ],
)
def test_files_named_in_the_config_are_checked(tmp_path: Path, make: str, expected: str) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    binary = tmp_path / "motd.bin"
    binary.write_bytes(b"\xff\xfe\x00")
    lines = {
        "cert-missing": f'[listeners]\ntls = true\ncert = "{tmp_path / "absent.pem"}"\n',
        "cert-directory": f'[listeners]\ntls = true\ncert = "{folder}"\n',
        "key-directory": f'[listeners]\ntls = true\ncert = "{folder}/x"\nkey = "{folder}"\n',
        "motd-directory": f'[server]\nmotd_file = "{folder}"\n',
        "motd-missing": f'[server]\nmotd_file = "{tmp_path / "absent.txt"}"\n',
        "motd-binary": f'[server]\nmotd_file = "{binary}"\n',
        "db-directory": f'[history]\ndb = "{folder}"\n',
        "db-no-folder": f'[history]\ndb = "{tmp_path / "nowhere" / "x.db"}"\n',
    }
    problems = _problems(tmp_path, lines[make])
    assert any(expected in problem for problem in problems), problems
    assert all(problem.startswith("triochat.toml:") for problem in problems)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes any file")
def test_an_unreadable_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    db.write_bytes(b"")
    db.chmod(0)
    problems = _problems(tmp_path, f'[history]\ndb = "{db}"\n')
    assert "cannot read and write the database" in problems[0]


def test_a_database_that_is_not_one_stops_the_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "history.db"
    db.write_bytes(b"this is not a database" * 100)
    config = tmp_path / "triochat.toml"
    config.write_text(f'[history]\ndb = "{db}"\n', encoding="utf-8")
    assert main(["serve", "--config", str(config), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert f"cannot open the history database {db}" in err
    assert "Traceback" not in err


def test_a_huge_motd_file_is_capped_with_a_warning(tmp_path: Path) -> None:
    motd = tmp_path / "motd.txt"
    motd.write_text("a line of the message of the day\n" * 100_000, encoding="utf-8")
    launch = _launch(tmp_path, f'[server]\nmotd_file = "{motd}"\n')
    assert launch.server.motd is not None
    assert sum(len(line) + 1 for line in launch.server.motd) <= MAX_MOTD_BYTES
    assert launch.server.motd[-1] == "a line of the message of the day"
    assert any("larger than 16 KiB" in warning for warning in launch.warnings)


def test_long_motd_lines_are_cut_to_fit_an_irc_line(tmp_path: Path) -> None:
    motd = tmp_path / "motd.txt"
    motd.write_text("x" * 2000 + "\nshort\n", encoding="utf-8")
    launch = _launch(tmp_path, f'[server]\nmotd_file = "{motd}"\n')
    assert launch.server.motd == ("x" * 300, "short")
    assert launch.warnings


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        ("missing", "absent.toml: cannot read it: No such file or directory"),
        ("directory", "is a directory, not a config file"),
        ("binary", "not UTF-8 text"),
    ],
)
def test_an_unreadable_config_file_is_refused(tmp_path: Path, make: str, expected: str) -> None:
    file = {"missing": tmp_path / "absent.toml", "directory": tmp_path, "binary": tmp_path / "b"}[
        make
    ]
    if make == "binary":
        file.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match=expected):
        read_file(file)


def test_a_refused_config_exits_2_with_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "triochat.toml"
    file.write_text("[limits]\nmax_clients = -1\n[flood]\nburst = 0\n", encoding="utf-8")
    assert main(["serve", "--config", str(file)]) == 2
    err = capsys.readouterr().err
    assert f"{file}:2: limits.max_clients: must be 0 (no limit) or more, not -1" in err
    assert f"{file}:4: flood.burst: must be positive, not 0" in err
    assert "Traceback" not in err
    assert main(["config", "check", str(file)]) == 2
    assert f"{file}:2: limits.max_clients" in capsys.readouterr().err


# -- merging: flags the user typed win over the file, the file over defaults ----------------


def test_the_file_overrides_the_defaults(tmp_path: Path) -> None:
    launch = _launch(
        tmp_path,
        "[server]\nname = 'irc.example.org'\n[limits]\nmax_clients = 100\nmax_per_ip = 0\n"
        "[flood]\nenabled = false\n[history]\ndb = ':memory:'\nmax_age = '2w'\n"
        "[logging]\nlevel = 'debug'\nformat = 'json'\n[listeners]\nhost = '::'\nport = 7000\n"
        f"[[operators]]\nname = 'admin'\nhash = '{HASH}'\n[metrics]\nport = 9100\nhost = '::1'\n",
    )
    assert (launch.metrics_host, launch.metrics_port) == ("::1", 9100)
    server = launch.server
    assert (server.server_name, server.max_clients, server.max_per_ip) == (
        "irc.example.org",
        100,
        None,
    )
    assert not server.flood_control
    assert (server.history_db, server.history_max_age) == (":memory:", 14 * 86400)
    assert (launch.log_level, launch.log_format) == ("DEBUG", "json")
    assert (launch.host, launch.port, launch.tls_port) == ("::", 7000, None)
    assert launch.operators == (Operator("admin", HASH),)
    assert launch.server.opers == (("admin", HASH),)


def test_flags_given_win_even_when_they_equal_the_default(tmp_path: Path) -> None:
    text = "[limits]\nmax_clients = 100\nmax_channels = 9\n[flood]\nenabled = false\n"
    launch = _launch(tmp_path, text, "--max-clients", "50000", "--flood-control")
    assert launch.server.max_clients == 50_000  # typed, though it is the default
    assert launch.server.max_channels == 9  # not typed: the file's
    assert launch.server.flood_control


def test_no_history_flag_beats_the_file_and_the_file_beats_the_default(tmp_path: Path) -> None:
    assert not _launch(tmp_path, "[history]\nenabled = true\n", "--no-history").server.history
    assert not _launch(tmp_path, "[history]\nenabled = false\n").server.history
    assert _launch(tmp_path, "").server.history


def test_password_precedence_flag_then_environment_then_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "[server]\npassword = 'from-file'\n"
    monkeypatch.delenv("TRIOCHAT_PASSWORD", raising=False)
    assert _launch(tmp_path, text).server.password == "from-file"
    monkeypatch.setenv("TRIOCHAT_PASSWORD", "from-env")
    assert _launch(tmp_path, text).server.password == "from-env"
    assert _launch(tmp_path, text, "--password", "typed").server.password == "typed"


def test_a_bad_flag_is_named_as_a_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--max-clients must be 0 \(no limit\) or more"):
        _launch(tmp_path, "", "--max-clients", "-1")


def test_tls_in_the_file_uses_the_tls_port_and_no_plain_port_unless_given(tmp_path: Path) -> None:
    cert = tmp_path / "server.pem"
    cert.write_text("not checked here", encoding="utf-8")
    launch = _launch(tmp_path, f"[listeners]\ntls = true\ncert = '{cert}'\ntls_port = 7000\n")
    assert (launch.port, launch.tls_port, launch.cert) == (None, 7000, cert)
    assert _launch(tmp_path, f"[listeners]\ntls = true\ncert = '{cert}'\n", "--port", "0").port == 0


# -- the example --------------------------------------------------------------------------


def test_the_example_parses_back_into_every_default(tmp_path: Path) -> None:
    file = tmp_path / "example.toml"
    file.write_text(example_config(), encoding="utf-8")
    assert read_file(file)[1] == ()
    launch = load(argparse.Namespace(config=file))
    expected = ServerConfig(history_db="triochat.db")
    assert launch.server == expected
    assert launch.server.motd == DEFAULT_MOTD
    assert (launch.host, launch.port, launch.tls_port) == ("127.0.0.1", 6667, None)
    assert launch == replace(load(argparse.Namespace()), config_file=file)


def test_the_example_shows_every_key() -> None:
    text = example_config()
    for setting in SETTINGS:
        assert f"{setting.key} = " in text, setting.name


def test_config_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "example"]) == 0
    example = capsys.readouterr().out
    assert example == example_config()
    file = tmp_path / "triochat.toml"
    file.write_text(example, encoding="utf-8")
    assert main(["config", "check", str(file)]) == 0
    assert capsys.readouterr().out == f"{file}: OK\n"


def test_config_check_loads_the_tls_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert = tmp_path / "server.pem"
    trustme.CA().issue_cert("localhost").private_key_and_cert_chain_pem.write_to_path(str(cert))
    file = tmp_path / "triochat.toml"
    file.write_text(f'[listeners]\ntls = true\ncert = "{cert}"\n', encoding="utf-8")
    assert main(["config", "check", str(file)]) == 0
    cert.write_text("not a certificate", encoding="utf-8")
    assert main(["config", "check", str(file)]) == 2
    assert "must hold a PEM certificate and its private key" in capsys.readouterr().err


def test_web_and_metrics_settings_are_read_from_the_file(tmp_path: Path) -> None:
    launch = _launch(
        tmp_path,
        "[listeners.web]\nport = 8080\norigin = 'https://a'\n[metrics]\nport = 9100\n",
    )
    assert launch.web["web_port"] == 8080
    assert launch.web["web_origin"] == ("https://a",)
    assert launch.metrics_port == 9100
    assert launch.warnings == ()

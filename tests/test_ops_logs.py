"""Logs: levels in any case, JSON lines with connection context, no message text at INFO."""

from __future__ import annotations

import io
import json
import logging
from importlib.metadata import version
from typing import TYPE_CHECKING

import pytest
from harness import config

from triochat._cli.main import build_parser, main
from triochat._ops import logs
from triochat._ops.launch import load as load_launch
from triochat._version import SERVER_VERSION, __version__

if TYPE_CHECKING:
    from collections.abc import Iterator

    from harness import ServerHarness


@pytest.mark.parametrize(
    ("given", "level"),
    [("info", "INFO"), ("INFO", "INFO"), ("warning", "WARNING"), ("Warn", "WARNING"),
     ("debug", "DEBUG"), ("error", "ERROR")],
)  # fmt: skip
def test_log_level_in_any_case(given: str, level: str) -> None:
    assert (
        load_launch(build_parser().parse_args(["serve", "--log-level", given])).log_level == level
    )


def test_a_bad_log_level_or_format_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--log-level", "loud"]) == 2
    assert "--log-level must be one of debug, info, warning, error" in capsys.readouterr().err
    assert main(["serve", "--log-format", "xml"]) == 2
    assert "--log-format must be one of text, json" in capsys.readouterr().err


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    logs.reset()
    assert (root.handlers, root.level) == (handlers, level)


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_carry_time_level_logger_message_and_context() -> None:
    stream = io.StringIO()
    logs.configure("INFO", "json", stream)
    log = logging.getLogger("triochat.server")
    log.info(
        "connection %d: Excess Flood", 7, extra={"conn": 7, "address": "10.0.0.1", "nick": "bob"}
    )
    log.debug("not shown at INFO")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["level"] == "INFO"
    assert first["logger"] == "triochat.server"
    assert first["message"] == "connection 7: Excess Flood"
    assert (first["conn"], first["address"], first["nick"]) == (7, "10.0.0.1", "bob")
    assert first["time"].endswith("+00:00")
    assert "RuntimeError: boom" in json.loads(lines[1])["exception"]


@pytest.mark.usefixtures("restore_logging")
def test_configuring_again_replaces_only_its_own_handler() -> None:
    root = logging.getLogger()
    before = len(root.handlers)
    logs.configure("INFO", "text", io.StringIO())
    logs.configure("DEBUG", "json", io.StringIO())
    assert len(root.handlers) == before + 1
    assert root.level == logging.DEBUG


async def test_message_text_is_never_logged_at_info(
    harness: ServerHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    alice = await harness.client("alice", channel="#room")
    bob = await harness.client("bob", channel="#room")
    await alice.send("PRIVMSG #room :the secret plan", "PRIVMSG bob :whispered secret")
    await bob.expect("PRIVMSG", "bob")
    await alice.send("QUIT :secret goodbye")
    await bob.expect("QUIT")
    assert "secret" not in caplog.text


def test_version_comes_from_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"triochat {version('triochat')}\n"
    assert __version__ == version("triochat")
    assert f"triochat-{__version__}" == SERVER_VERSION


@pytest.mark.parametrize(
    "server_config", [config(flood_burst=5, flood_rate=1.0, flood_max_lag=2.0)]
)
async def test_a_connection_log_line_carries_its_context_into_json(
    harness: ServerHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    alice = await harness.client("alice")
    await alice.send(*[f"PING :flood {index}" for index in range(60)])
    await alice.wait_closed()
    (record,) = [r for r in caplog.records if "Excess Flood" in r.getMessage()]
    line = json.loads(logs.JsonFormatter().format(record))
    assert (line["nick"], line["address"]) == ("alice", record.__dict__["address"])
    assert isinstance(line["conn"], int)


def test_reset_restores_the_level_and_removes_the_handler() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    logs.configure("DEBUG", "json", io.StringIO())
    logs.configure("INFO", "text", io.StringIO())
    logs.reset()
    assert (root.handlers, root.level) == (handlers, level)

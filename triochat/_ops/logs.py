"""Logging set-up for ``triochat serve``: a level in any case, text or one JSON object per line.

JSON lines are for log collectors (journald, Loki, ...): every record carries
its time, level, logger and message, plus the connection id, address and nick
when the call passes them with ``extra={"conn": ..., "address": ..., "nick": ...}``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Final, TextIO

__all__ = ["LEVELS", "LOG_FORMATS", "JsonFormatter", "configure", "parse_level", "reset"]

LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS: Final = ("text", "json")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Record attributes copied into a JSON line when a log call passes them via ``extra=``.
CONTEXT_FIELDS: Final = ("event", "conn", "address", "nick")


def parse_level(text: str) -> str:
    """``info``, ``INFO`` or ``Warn`` as a level name; ``ValueError`` says what is allowed."""
    name = text.strip().upper()
    if name == "WARN":
        name = "WARNING"
    if name not in LEVELS:
        raise ValueError(f"one of {', '.join(level.lower() for level in LEVELS)}")
    return name


class JsonFormatter(logging.Formatter):
    """One JSON object per record and line: time (UTC, ISO 8601), level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value if isinstance(value, int | float | bool) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, log_format: str = "text", stream: TextIO | None = None) -> None:
    """Send every ``triochat`` log record at ``level`` or above to ``stream`` (stderr).

    Calling it again (a reload) replaces the handler it installed before, and
    leaves other handlers (pytest's, an embedding application's) alone.
    """
    global _installed, _level_before
    handler: logging.Handler = logging.StreamHandler(stream) if stream else _StderrHandler()
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    if _installed is not None:
        root.removeHandler(_installed)
    else:
        _level_before = root.level
    root.addHandler(handler)
    _installed = handler
    root.setLevel(level)


def reset() -> None:
    """Undo :func:`configure`: for a server run in process (tests, embedding), once it stops."""
    global _installed
    if _installed is not None:
        root = logging.getLogger()
        root.removeHandler(_installed)
        root.setLevel(_level_before)
        _installed = None


_installed: logging.Handler | None = None
_level_before = logging.WARNING


class _StderrHandler(logging.Handler):
    """Writes to ``sys.stderr`` as it is at each record (tests and embedders replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # logging must never take the server down
            self.handleError(record)

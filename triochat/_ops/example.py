"""``triochat config example``: a complete, commented config file, made from the settings table.

Made from :data:`~.settings.SETTINGS` itself, so it lists every key with its
real default and cannot drift; a test parses it back into the default config.
Settings without a default are shown commented out, with a typical value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from .settings import SECTIONS, SETTINGS

__all__ = ["example_config"]

#: Typical values for settings that are off by default, shown commented out.
_SAMPLES: Final[dict[str, object]] = {
    "password": "change-me",
    "motd_file": "/etc/triochat/motd.txt",
    "port": 6667,
    "key": "/etc/letsencrypt/live/chat.example.org/privkey.pem",
    "web_port": 8080,
    "web_tls_port": 8443,
    "web_host": "127.0.0.1",
    "web_origin": ["https://chat.example.org"],
    "trusted_proxy": ["127.0.0.1"],
    "history_max_age": "30d",
    "history_max_per_channel": 10000,
    "stats_interval": 60,
    "metrics_port": 9100,
    "client_ca": "/etc/triochat/client-ca.pem",
    "cluster": "redis://127.0.0.1:6379/0",
    "node_name": "a",
}
_HEADER: Final = """\
# triochat configuration (TOML): triochat serve --config FILE
#
# Every key is shown with its default; delete what you do not change. Flags
# given to `triochat serve` win over this file. Check a file with
# `triochat config check FILE`; apply changes to a running server with SIGHUP
# (systemctl reload triochat): what needs a restart is logged as such.
"""


def _literal(value: object) -> str:
    """``value`` spelled in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string uses JSON's escapes
    return repr(value)


def example_config() -> str:
    """The text of a config file that sets every key to its default."""
    parts = [_HEADER]
    for section, about in SECTIONS.items():
        settings = [s for s in SETTINGS if s.section == section]
        parts.append(f"\n# {about}")
        if section == "operators":
            parts.append(
                '# [[operators]]\n# name = "admin"\n'
                '# hash = "$scrypt$ln=14,r=8,p=1$..."  # from: triochat hash-password'
            )
            continue
        commented = all(s.default is None for s in settings)
        parts.append(f"{'# ' if commented else ''}[{section}]")
        for setting in settings:
            parts.append(f"# {setting.comment}")
            if setting.default is None:
                parts.append(f"# {setting.key} = {_literal(_SAMPLES[setting.dest])}")
            else:
                parts.append(f"{setting.key} = {_literal(setting.default)}")
    return "\n".join(parts) + "\n"

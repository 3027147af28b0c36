"""Live reload: SIGHUP (and later the oper command REHASH) re-reads the config and applies it.

What can change without dropping anyone is applied (MOTD, limits, flood
control, history retention, log level and format, the TLS certificate); what
cannot (listener addresses, names already sent to clients, the database) is
reported as needing a restart. An invalid file, or a certificate that does
not load, changes nothing: the server keeps its last good state and the log
says why.

A storm of signals coalesces: trio delivers a signal that arrives again
before it was handled only once, and after each reload the watcher waits
:data:`MIN_INTERVAL` before the next one, so 100 SIGHUPs in a second make a
few reloads and the server keeps serving meanwhile (the file is read and the
certificate loaded in a worker thread).
"""

from __future__ import annotations

import logging
import signal
from typing import TYPE_CHECKING, Final

import trio

from .._tls import TlsSetupError
from . import logs
from .configfile import ConfigError
from .launch import load, tls_contexts

if TYPE_CHECKING:
    import argparse
    import ssl
    from collections.abc import Callable

    from .._config import ServerConfig
    from .._server.server import ChatServer
    from .._server.tlsswap import TlsContextHolder
    from .launch import Launch

__all__ = ["MIN_INTERVAL", "Reloader", "restart_notes"]

log = logging.getLogger("triochat.reload")

#: Seconds between two reloads at most once: what turns a SIGHUP storm into a few reloads.
MIN_INTERVAL: Final = 0.25


def restart_notes(old: Launch, new: Launch) -> list[str]:
    """What changed in ``new`` that only a restart can apply (listeners first)."""
    notes: list[str] = []
    before = (old.host, old.port, old.tls_port, old.metrics_host, old.metrics_port, old.web)
    after = (new.host, new.port, new.tls_port, new.metrics_host, new.metrics_port, new.web)
    if before != after:
        notes.append("listener addresses changed: restart needed")
    if old.cluster != new.cluster:
        notes.append("cluster settings changed: restart needed")
    return notes


class Reloader:
    """Re-reads the config of a running server and applies it; :meth:`reload` is the entry point.

    ``args`` are the command line the server was started with: its flags keep
    winning over the file. ``adjust`` fits a new config to the process (the
    open-file limit).
    """

    def __init__(
        self,
        server: ChatServer,
        launch: Launch,
        args: argparse.Namespace,
        *,
        tls: TlsContextHolder | None = None,
        web_tls: TlsContextHolder | None = None,
        adjust: Callable[[ServerConfig], ServerConfig] | None = None,
    ) -> None:
        self.server = server
        #: The launch in force: the last one applied.
        self.launch = launch
        #: The launch the listeners were opened with: only a restart changes them.
        self._started = launch
        self._args = args
        #: The contexts of the IRC TLS port and of the HTTPS web ports, swapped on reload.
        self._holders = (tls, web_tls)
        self._adjust = adjust
        self._lock = trio.Lock()
        #: Reloads done (applied or refused), for tests and the curious.
        self.count = 0

    async def reload(self) -> list[str]:
        """Re-read and apply the config; the notes say what happened (logged too)."""
        async with self._lock:
            self.count += 1
            try:
                new, contexts = await trio.to_thread.run_sync(self._read)
            except (ConfigError, TlsSetupError) as error:
                why = str(error).replace("\n", "; ")
                log.error("reload refused, nothing changed: %s", why)
                return [f"reload refused, nothing changed: {why}"]
            except Exception:  # a bug must not take the running server down with it
                log.exception("reload failed, nothing changed")
                return ["reload failed, nothing changed: see the log"]
            config = new.server if self._adjust is None else self._adjust(new.server)
            notes = restart_notes(self._started, new)
            notes += self.server.reload(config)
            swapped = False
            for holder, context in zip(self._holders, contexts, strict=True):
                if holder is not None and context is not None:
                    holder.context = context
                    swapped = True
            if swapped:
                notes.append(f"TLS certificate reloaded from {new.cert}")
            if (new.log_level, new.log_format) != (self.launch.log_level, self.launch.log_format):
                logs.configure(new.log_level, new.log_format)
            for warning in new.warnings:
                log.warning("%s", warning)
            self.launch = new
            where = new.config_file or "the command line"
            log.info(
                "reloaded %s (reload %d)%s", where, self.count, "".join(f"; {n}" for n in notes)
            )
            return notes

    def _read(self) -> tuple[Launch, tuple[ssl.SSLContext | None, ssl.SSLContext | None]]:
        """The new launch, and new TLS contexts for the holders there are (in a worker thread)."""
        new = load(self._args)
        irc, web = self._holders
        # TLS switched on or off is a listener change: a restart does that.
        asked = irc is not None and new.tls_port is not None
        return new, tls_contexts(new, irc=asked, web=web is not None)

    async def watch(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Reload on every SIGHUP, coalescing bursts, until cancelled."""
        with trio.open_signal_receiver(signal.SIGHUP) as signals:
            task_status.started()
            async for _ in signals:
                log.info("SIGHUP: reloading")
                await self.reload()
                await trio.sleep(MIN_INTERVAL)

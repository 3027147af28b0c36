"""Start and stop the servers under test: triochat, and ngIRCd to compare with.

Every scenario gets a fresh server process, so one scenario's memory and
state never leak into the next, and /proc/<pid> of that process is the
server and nothing else (no shell in between).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

HOST = "127.0.0.1"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 30.0


class ServerStartError(RuntimeError):
    """The server could not be started; the message says why."""


@dataclass
class RunningServer:
    """A started server and the addresses it listens on.

    A cluster is one server made of several processes (its nodes and their
    Redis): ``ports`` has one entry per node, and its CPU and memory are the sum
    over ``processes``.
    """

    label: str
    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path
    #: Every port clients may connect to; just ``port`` for one process.
    ports: tuple[int, ...] = ()
    #: The other processes that make up this server (cluster nodes, Redis).
    helpers: tuple[tuple[subprocess.Popen[bytes], Path], ...] = ()

    def __post_init__(self) -> None:
        if not self.ports:
            self.ports = (self.port,)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def pids(self) -> tuple[int, ...]:
        """Every process whose CPU and memory count as this server's."""
        return (self.process.pid, *(helper.pid for helper, _ in self.helpers))

    def exit_code(self) -> int | None:
        """``None`` while every process runs, else the exit code of one that stopped."""
        for process in (self.process, *(helper for helper, _ in self.helpers)):
            code = process.poll()
            if code is not None:
                return code
        return None

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time; return the exit code.

        The helpers (Redis last) stop after the main process, each the same way.
        """
        code = _terminate(self.process)
        for helper, _ in self.helpers:
            _terminate(helper)
        return code

    def log_tail(self, lines: int = 15) -> str:
        """The end of the server's output, to explain a failure."""
        logs = [self.log_path, *(log for _, log in self.helpers)]
        tails = []
        for log in logs:
            try:
                text = log.read_text(errors="replace")
            except OSError:
                continue
            tails.append(f"{log.name}:\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(tails)


def _terminate(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


class ServerLauncher(Protocol):
    """Knows how to start one kind of server with extra command-line options."""

    @property
    def name(self) -> str:
        """The name used on the command line (``--compare NAME``)."""

    @property
    def label(self) -> str:
        """The name shown in the table."""

    @property
    def history_args(self) -> Mapping[str, tuple[str, ...]] | None:
        """Options for ``"on"`` and ``"off"`` message history, or None without history."""

    def start(self, workdir: Path, extra_args: Sequence[str] = ()) -> RunningServer:
        """Start a fresh server listening on 127.0.0.1 and return once it accepts."""


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now (for servers that need one given)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _spawn(command: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )


def _fail_start(label: str, process: subprocess.Popen[bytes], log_path: Path, why: str) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
    raise ServerStartError(f"{label} {why}; its output ends with:\n{tail}")


# -- triochat ---------------------------------------------------------------

LISTENING_LINE = re.compile(r"^triochat: listening on 127\.0\.0\.1:(?P<port>\d+)$", re.MULTILINE)

#: How triochat is started; ``{python}`` and ``{host}`` are filled in. Options
#: a scenario or the command line adds (``--server-arg``, history on/off) go
#: after it (the last of a repeated option wins). Like ngIRCd's configuration
#: below: no flood control (the burst senders send as fast as allowed, far
#: past a person's rate, and would be delayed and then disconnected for
#: "Excess Flood") and no per-address limit (every client comes from
#: 127.0.0.1). ``--server-arg=--flood-control`` measures with flood control on.
TRIOCHAT_COMMAND = (
    "{python}",
    "-m",
    "triochat",
    "serve",
    "--host",
    "{host}",
    "--port",
    "0",
    "--log-level",
    "WARNING",
    "--no-flood-control",
    "--max-per-ip",
    "0",
)


@dataclass(frozen=True)
class TriochatLauncher:
    """Runs ``python -m triochat serve`` and reads its "listening on" line."""

    base_args: tuple[str, ...] = ()
    name: str = "triochat"
    label: str = "triochat"
    #: History is on by default, as shipped (each run gets a fresh database in
    #: the work directory, see :meth:`start`); the "history" scenario also runs
    #: it with history off.
    history_args: Mapping[str, tuple[str, ...]] | None = field(
        default_factory=lambda: {"on": (), "off": ("--no-history",)}
    )

    def command(self, extra_args: Sequence[str]) -> list[str]:
        fields = {"python": sys.executable, "host": HOST}
        return [part.format(**fields) for part in TRIOCHAT_COMMAND] + [
            *self.base_args,
            *extra_args,
        ]

    def start(self, workdir: Path, extra_args: Sequence[str] = ()) -> RunningServer:
        run_id = time.monotonic_ns()
        log_path = workdir / f"triochat-{run_id}.log"
        if "--no-history" not in extra_args and "--db" not in extra_args:
            extra_args = (*extra_args, "--db", str(workdir / f"triochat-{run_id}.db"))
        process = _spawn(self.command(extra_args), log_path)
        port = wait_for_line(self.label, process, log_path, LISTENING_LINE)
        return RunningServer(self.label, process, HOST, int(port), log_path)


def wait_for_line(
    label: str, process: subprocess.Popen[bytes], log_path: Path, line: re.Pattern[str]
) -> str:
    """Wait until the process logs ``line`` (its ``port`` group, if any), or fail."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        match = line.search(log_path.read_text(errors="replace"))
        if match:
            return match.groupdict().get("port") or ""
        if process.poll() is not None:
            _fail_start(label, process, log_path, f"exited with {process.returncode}")
        time.sleep(0.01)
    _fail_start(label, process, log_path, f"did not log {line.pattern!r}")
    raise AssertionError("unreachable")


# -- a cluster: two triochat nodes and their Redis (issue 15) ------------------

REDIS_READY = re.compile(r"Ready to accept connections")
CLUSTER_NODES = ("a", "b")


@dataclass(frozen=True)
class ClusterLauncher:
    """A private ``redis-server`` on a free port and two ``triochat serve --cluster`` nodes.

    One :class:`RunningServer`: its ports are the nodes' and its CPU and RSS are
    the sum of the three processes, so that a row compares the whole cluster
    with one node doing the same work.
    """

    base_args: tuple[str, ...] = ()
    name: str = "cluster"
    label: str = "triochat"
    history_args: Mapping[str, tuple[str, ...]] | None = None

    def start(self, workdir: Path, extra_args: Sequence[str] = ()) -> RunningServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServerStartError("redis-server is not installed (apt-get install redis-server)")
        redis_port = free_port()
        redis_log = workdir / f"redis-{redis_port}.log"
        redis = _spawn(
            [binary, "--port", str(redis_port), "--bind", HOST, "--save", "",
             "--appendonly", "no"],
            redis_log,
        )  # fmt: skip
        started: list[RunningServer] = []
        try:
            wait_for_line("redis-server", redis, redis_log, REDIS_READY)
            url = f"redis://{HOST}:{redis_port}/0"
            for node in CLUSTER_NODES:
                cluster_args = ("--cluster", url, "--node-name", node)
                launcher = TriochatLauncher(base_args=(*self.base_args, *cluster_args))
                started.append(launcher.start(workdir, extra_args))
        except BaseException:
            for server in started:
                server.stop()
            _terminate(redis)
            raise
        first, *others = started
        helpers = (*((other.process, other.log_path) for other in others), (redis, redis_log))
        ports = tuple(server.port for server in started)
        return RunningServer(
            self.label, first.process, HOST, first.port, first.log_path, ports, helpers
        )


# -- ngIRCd -----------------------------------------------------------------

#: ngIRCd's configuration for the benchmark. Everything that would throttle or
#: drop a benchmark client and can be configured is switched off here. What
#: cannot be configured (compiled into ngIRCd 26) is documented in README.md:
#: a 2 KiB input buffer and 3 commands per client per main-loop pass (the
#: generator's PING window keeps within that), a 32 KiB output buffer per
#: client (the generator reads into large socket buffers), listen backlog 10
#: (the generator paces its handshakes).
NGIRCD_CONFIG = """\
[Global]
	Name = bench.ngircd
	Info = triochat benchmark reference
	AdminInfo1 = benchmark
	AdminInfo2 = benchmark
	AdminEMail = benchmark@localhost
	Listen = {host}
	Ports = {port}
	MotdPhrase = benchmark

[Limits]
	# All clients come from 127.0.0.1: no per-address or total limit. "0" is
	# unlimited; a large number instead would make ngIRCd preallocate a
	# connection pool of that size and scan all of it on every loop pass
	# (100000 costs it ~80 MB and most of its CPU).
	MaxConnections = 0
	MaxConnectionsIP = 0
	MaxJoins = 0
	# No flood penalties: a busy client is never delayed.
	MaxPenaltyTime = 0
	# No server PINGs during a run, no early timeout of registering clients.
	PingTimeout = 3600
	PongTimeout = 3600

[Options]
	# No resolver/IDENT/PAM subprocess per connection: connect as fast as possible.
	DNS = no
	Ident = no
	PAM = no
	RequireAuthPing = no
	NoticeBeforeRegistration = no
	# Ignore the system's /etc/ngircd/conf.d.
	IncludeDir = {include_dir}
"""


def find_ngircd() -> str | None:
    """The ngircd binary: Debian puts it in /usr/sbin, which a user's PATH may lack."""
    found = shutil.which("ngircd")
    if found:
        return found
    return "/usr/sbin/ngircd" if os.access("/usr/sbin/ngircd", os.X_OK) else None


def ensure_ngircd() -> str:
    """Return the ngircd binary, installing Debian's package when we can."""
    binary = find_ngircd()
    if binary:
        return binary
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise ServerStartError("ngircd is not installed and cannot be: not root on Debian")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("installing ngircd with apt-get ...", file=sys.stderr, flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "ngircd"], check=True, env=env)
    binary = find_ngircd()
    if not binary:
        raise ServerStartError("apt-get installed ngircd but its binary is not found")
    return binary


def _wait_until_accepting(host: str, port: int, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            time.sleep(0.02)
    return False


@dataclass(frozen=True)
class NgircdLauncher:
    """Runs ngIRCd in the foreground on a free port with a temporary config."""

    binary: str
    name: str = "ngircd"
    label: str = "ngIRCd"
    history_args: Mapping[str, tuple[str, ...]] | None = None

    def start(self, workdir: Path, extra_args: Sequence[str] = ()) -> RunningServer:
        port = free_port()
        include_dir = workdir / "ngircd.conf.d"
        include_dir.mkdir(exist_ok=True)
        config = workdir / f"ngircd-{port}.conf"
        config.write_text(NGIRCD_CONFIG.format(host=HOST, port=port, include_dir=include_dir))
        log_path = workdir / f"ngircd-{port}.log"
        command = [self.binary, "--nodaemon", "--config", str(config), *extra_args]
        process = _spawn(command, log_path)
        if not _wait_until_accepting(HOST, port, process):
            _fail_start(self.label, process, log_path, f"did not accept on port {port}")
        return RunningServer(self.label, process, HOST, port, log_path)


def launcher_for(name: str, triochat_args: Sequence[str] = ()) -> ServerLauncher:
    """The launcher behind a name given on the command line."""
    if name == "triochat":
        return TriochatLauncher(base_args=tuple(triochat_args))
    if name == "ngircd":
        return NgircdLauncher(binary=ensure_ngircd())
    raise ServerStartError(f"unknown server {name!r}: choose triochat or ngircd")

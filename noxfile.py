"""Developer sessions: ``nox`` runs lint, typecheck and tests; ``nox -s bench`` measures."""

from __future__ import annotations

import os
import shutil
import subprocess

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

PYPROJECT = nox.project.load_toml("pyproject.toml")

# Debian packages that the end-to-end tests drive: a real IRC client nobody here
# wrote (irssi) inside a real terminal (tmux), openssl's s_client for TLS, and a
# real Redis for the cluster tests (started by the tests on a free port, never as a
# service), and a real headless browser for the web client (chromium, driven by chromedriver).
E2E_DEBIAN_PACKAGES = {
    "irssi": "irssi",
    "tmux": "tmux",
    "openssl": "openssl",
    "redis-server": "redis-server",
    "weechat-headless": "weechat-headless",  # SASL SCRAM-SHA-256 from a client not ours
    "chromium": "chromium",
    "chromedriver": "chromium-driver",
}


def _group(name: str) -> list[str]:
    return list(nox.project.dependency_groups(PYPROJECT, name))


def _apt_install(session: nox.Session, commands: dict[str, str]) -> None:
    """Install the Debian packages behind any missing command, when we can.

    Tests that need a command skip with a reason when it is still missing, so a
    developer on another system can run the suite; on Debian as root (CI, our
    machines) the packages are installed and nothing skips.
    """
    missing = sorted({pkg for cmd, pkg in commands.items() if shutil.which(cmd) is None})
    if not missing:
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        session.warn(f"cannot install {missing}: not root on Debian; their tests will skip")
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """Formatting and lint rules (ruff)."""
    session.install(*_group("lint"))
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, the tests, the benchmarks and this file."""
    session.install("-e", ".", *_group("typecheck"))
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, end-to-end tests with real processes included."""
    _apt_install(session, E2E_DEBIAN_PACKAGES)
    session.install("-e", ".", *_group("test"))
    session.run("pytest", *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """The sdist and the wheel, into dist/ (``python -m build``); not a default session.

    The test suite builds and installs a wheel already (tests/test_packaging.py);
    this is for making a release.
    """
    session.install("build>=1.2")
    session.run("python", "-m", "build", "--outdir", "dist", ".")


@nox.session
def fmt(session: nox.Session) -> None:
    """Rewrite the tree into shape (ruff format + safe fixes)."""
    session.install(*_group("lint"))
    session.run("ruff", "format", ".")
    session.run("ruff", "check", "--fix", ".")


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark, one table: ``nox -s bench -- --compare ngircd [--quick] [--scenarios ..]``.

    The cluster rows need the ``cluster`` extra (coredis) and a ``redis-server`` binary;
    ``--profile DIR`` needs py-spy, installed here.
    """
    session.install("-e", ".[cluster]", "py-spy>=0.4")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def soak(session: nox.Session) -> None:
    """Hostile clients vs. well-behaved ones on loopback, ~3 min: ``nox -s soak [-- --duration S]``.

    Not a default session: it takes minutes and loads the machine.
    """
    session.install("-e", ".")
    session.run("python", "-m", "benchmarks.soak", *session.posargs)

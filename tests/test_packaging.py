"""Packaging and service files: a built wheel installs and runs; the systemd unit verifies."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONTRIB = ROOT / "contrib"


@pytest.mark.e2e
def test_a_built_wheel_installs_into_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    # Build from a copy, so the work tree gets no build/ or egg-info.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "triochat", source / "triochat", ignore=shutil.ignore_patterns("__pycache__")
    )
    dist = tmp_path / "dist"
    build = [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(source)]
    subprocess.run(build, check=True, timeout=120, capture_output=True)
    (wheel,) = dist.glob("triochat-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "triochat/py.typed" in names
    assert "triochat/_ops/settings.py" in names
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=180)
    result = subprocess.run(
        [env / "bin" / "triochat", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"triochat {version('triochat')}\n"


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (on Debian: apt-get install systemd)")
    executable = shutil.which("triochat") or shutil.which(
        "triochat", path=Path(sys.executable).parent
    )
    assert executable is not None, "triochat is installed with the package"
    unit = (CONTRIB / "triochat.service").read_text(encoding="utf-8")
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit
    # verify checks that ExecStart's program exists: point it at this install's script.
    copy = tmp_path / "triochat.service"
    copy.write_text(unit.replace("/usr/local/bin/triochat", executable), encoding="utf-8")
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == "", "systemd-analyze warned"


def test_the_example_config_in_contrib_is_the_current_one() -> None:
    from triochat._ops.example import example_config

    assert (CONTRIB / "triochat.example.toml").read_text(encoding="utf-8") == example_config()

"""scripts/bootstrap.sh on a machine that lacks what it needs: one line saying what is missing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("bash", "cat", "cut", "sha256sum", "mkdir", "dirname", "tail", "rm", "grep", "sed", "tee")


@pytest.fixture
def project_copy(tmp_path) -> Path:
    """The files bootstrap.sh reads, in a scratch checkout without .venv."""
    (tmp_path / "devtools").mkdir()
    for name in ("requirements.txt", "requirements-dev.txt", "requirements-bench.txt", "constraints.txt", "pyproject.toml",
                 "devtools/requirements.txt", "devtools/pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "bootstrap.sh", tmp_path / "scripts" / "bootstrap.sh")
    return tmp_path


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("[bootstrap]")]


def test_without_python_311_says_so_in_one_line(project_copy, tmp_path_factory):
    fake_bin = tmp_path_factory.mktemp("bin")
    for tool in TOOLS:
        os.symlink(shutil.which(tool), fake_bin / tool)
    for name in ("python3", "python3.11"):  # an interpreter of the wrong version
        script = fake_bin / name
        script.write_text("#!/bin/sh\nexit 1\n")
        script.chmod(0o755)
    proc = subprocess.run(
        [str(fake_bin / "bash"), "scripts/bootstrap.sh"],
        cwd=project_copy,
        env={"PATH": str(fake_bin), "HOME": str(project_copy)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert _errors(proc.stderr) == [
        "error: Python 3.11 is required but was not found (tried $PYTHON, python3.11, python3); "
        "install Python 3.11 or set PYTHON=/path/to/python3.11"
    ]
    assert not (project_copy / ".venv").exists()


def test_without_registry_access_says_so_in_one_line(project_copy):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    base_python = getattr(sys, "_base_executable", sys.executable)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(project_copy),
        "PYTHON": base_python,
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": f"http://127.0.0.1:{closed}/simple",
        "PIP_EXTRA_INDEX_URL": "",
        "PIP_FIND_LINKS": "",
        "PIP_NO_INDEX": "",
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "2",
    }
    proc = subprocess.run(
        ["bash", "scripts/bootstrap.sh"], cwd=project_copy, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 1
    errors = _errors(proc.stderr)
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith("error: cannot reach the Python package registry")
    assert "Traceback" not in proc.stderr


# Stands in for .venv's python: pip's answers, the dependency install printing what pip prints
# (a line per package, then a quiet install phase).
FAKE_VENV_PYTHON = """#!/bin/sh
case "$*" in
  *"-r requirements-dev.txt"*)
    i=0
    while [ $i -lt 300 ]; do echo "Collecting pkg$i==1.0"; echo "  Downloading pkg$i-1.0.whl (10 kB)"; i=$((i+1)); done
    sleep 2
    echo "Installing collected packages: pkg0, pkg1"
    sleep 4
    echo "Successfully installed pkg0-1.0 pkg1-1.0"
    ;;
  *"-c"*) echo "airflow 3 | pandas 2 | sqlalchemy 2" ;;
esac
exit 0
"""


def test_the_first_install_shows_its_phases_and_a_heartbeat_but_not_pips_lines(project_copy):
    venv_bin = project_copy / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").write_text(FAKE_VENV_PYTHON)
    (venv_bin / "python").chmod(0o755)
    base = project_copy / "base-python"
    base.write_text("#!/bin/sh\necho 3.11.9\nexit 0\n")
    base.chmod(0o755)
    proc = subprocess.run(["bash", "scripts/bootstrap.sh"], cwd=project_copy, capture_output=True, text=True,
                          timeout=120, env={"PATH": os.environ["PATH"], "HOME": str(project_copy),
                                            "PYTHON": str(base), "BOOTSTRAP_HEARTBEAT": "1"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert "[bootstrap]   resolving and downloading the pinned packages" in lines
    assert any(line.startswith("[bootstrap]   installing 300 packages into .venv") for line in lines), lines
    assert any(line.startswith("[bootstrap]   ... still installing") for line in lines), lines
    assert any(line.startswith("[bootstrap]   300 packages in") for line in lines), lines
    assert not [line for line in lines if "Collecting" in line or "Downloading" in line], "pip's lines stay in the log"
    assert len(lines) < 40, f"{len(lines)} lines: a CI log should get phases and a heartbeat, not a flood"
    log = (project_copy / ".local" / "bootstrap.log").read_text()
    assert log.count("Collecting pkg") == 300 and "Successfully installed" in log

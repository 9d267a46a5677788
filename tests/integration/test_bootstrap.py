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
    for name in ("requirements.txt", "requirements-dev.txt", "requirements-bench.txt", "constraints.txt", "pyproject.toml"):
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

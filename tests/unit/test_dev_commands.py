"""The development commands say in one line what to install when run where only the runtime is.

The image installs requirements.txt only; `sample`, `demo`, `smtp-sink` and `up` need faker,
aiosmtpd or pgserver from requirements-dev.txt. Each command runs in a fresh interpreter with
the module blocked (None in sys.modules: `import` raises ModuleNotFoundError, as when absent).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN_BLOCKED = (
    "import sys\n"
    "sys.modules[sys.argv[1]] = None\n"
    "from feedback.cli import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


def run_without(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "include")}
    return subprocess.run([sys.executable, "-c", RUN_BLOCKED, module, *args], capture_output=True, text=True,
                          env=env, timeout=120, cwd=cwd)


@pytest.mark.parametrize(("module", "command"), [
    ("faker", ["sample", "--out", "never-written"]),   # fails before writing; relative to cwd=tmp_path
    ("faker", ["demo"]),
    ("aiosmtpd", ["smtp-sink"]),
    ("aiosmtpd", ["up"]),
])
def test_a_development_command_without_its_module_is_one_line_and_exit_2(module, command, tmp_path):
    out = run_without(module, *command, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == (f"error: `feedback {command[0]}` is a development command: "
                                  f"install requirements-dev.txt (missing module {module})")
    assert "Traceback" not in out.stderr
    assert list(tmp_path.iterdir()) == []


def test_another_missing_module_is_not_blamed_on_the_development_requirements(tmp_path):
    # Only the development modules get that message: a missing standard module (the sample
    # generator compresses attachments with zlib) is a real fault and keeps its traceback.
    out = run_without("zlib", "sample", "--out", "never-written", cwd=tmp_path)
    assert out.returncode != 0 and "ModuleNotFoundError" in out.stderr
    assert "development command" not in out.stderr

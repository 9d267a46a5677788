"""The image installs requirements.txt only: the DAGs and plugins must load without the development set.

requirements-dev.txt (tests, tooling, and through devtools/requirements.txt the development
package's sample generator, embedded PostgreSQL and SMTP capture) goes into .venv but not into the image, so a module-level import of one of those
packages in DAG-reachable code would break every worker. These tests check the split and
the lock that pins both, and that the Celery executor loads with the locked Celery.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Distribution name -> top-level module, for the packages that must stay out of the image.
DEV_ONLY = {
    "faker": "faker",
    "pgserver": "pgserver",
    "aiosmtpd": "aiosmtpd",
    "pytest": "pytest",
    "pytest-timeout": "pytest_timeout",
    "hypothesis": "hypothesis",
    "time-machine": "time_machine",
    "ruff": "ruff",
    "playwright": "playwright",
    "schemathesis": "schemathesis",
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)$", line)
        if match:
            found[_norm(match.group(1))] = match.group(2)
    return found


def pins_with_includes(path: Path) -> dict[str, str]:
    """The pins of `path` and of the files it includes with `-r` (paths relative to it), as pip reads them."""
    found = pins(path)
    for included in re.findall(r"^-r\s+(\S+)$", path.read_text(), re.M):
        found.update(pins_with_includes(path.parent / included))
    return found


def test_runtime_requirements_hold_no_development_package():
    runtime = pins(ROOT / "requirements.txt")
    assert runtime, "requirements.txt pins nothing"
    leaked = sorted(set(runtime) & set(DEV_ONLY))
    assert not leaked, f"development packages in requirements.txt (they would go into the image): {leaked}"


def test_development_requirements_extend_the_runtime_set():
    text = (ROOT / "requirements-dev.txt").read_text()
    assert re.search(r"^-r requirements\.txt$", text, re.M), "requirements-dev.txt must include requirements.txt"
    assert re.search(r"^-r devtools/requirements\.txt$", text, re.M), (
        "requirements-dev.txt must include the development package's devtools/requirements.txt")
    dev = pins_with_includes(ROOT / "requirements-dev.txt")
    for name in ("faker", "pgserver", "aiosmtpd", "pytest", "ruff", "playwright"):
        assert name in dev, f"{name} is not pinned in requirements-dev.txt"
    for name in ("faker", "pgserver", "aiosmtpd"):
        assert name in pins(ROOT / "devtools/requirements.txt"), f"{name}: the development package needs it"


def test_every_direct_pin_is_the_locked_version():
    locked = pins(ROOT / "constraints.txt")
    for req in ("requirements.txt", "requirements-dev.txt", "devtools/requirements.txt", "requirements-bench.txt"):
        for name, version in pins(ROOT / req).items():
            assert locked.get(name) == version, f"{req} pins {name}=={version}, constraints.txt has {locked.get(name)}"


def test_dags_and_plugins_load_without_the_development_packages(tmp_path):
    """Every DAG file and plugin module imports in a process where the dev-only packages cannot be imported."""
    script = f"""
import glob, importlib, importlib.abc, pkgutil, runpy, sys
BLOCKED = {sorted(set(DEV_ONLY.values()))!r}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError("development-only package imported: " + name)
sys.meta_path.insert(0, Blocker())
for name in ("faker", "pgserver", "aiosmtpd"):
    sys.modules.pop(name, None)
import airflow.providers.celery.executors.celery_executor  # the locked Celery must carry what it imports
import feedback_airflow, feedback.cli, feedback.web
for info in pkgutil.walk_packages(feedback_airflow.__path__, "feedback_airflow."):
    importlib.import_module(info.name)
for path in sorted(glob.glob("dags/*.py")):
    runpy.run_path(path)
print("loaded")
"""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "PYTHONPATH": f"{ROOT / 'plugins'}:{ROOT / 'include'}",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0 and "loaded" in proc.stdout, proc.stderr[-3000:]

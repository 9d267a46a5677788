"""The product package holds the product: it imports neither Airflow nor the development package.

`include/feedback` reaches what only a deployment or a checkout provides through entry points
(feedback.extensions); `dags/` and `plugins/` may import Airflow but never the development
package (devtools/feedback_dev), which the image does not install; and the image's requirements
name no test or development package. Checked on the source (AST), so a lazy import inside a
function counts as much as one at the top.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Distributions that are tests, tooling or the development package's own dependencies.
NOT_IN_IMAGE = {"pytest", "pytest-timeout", "hypothesis", "schemathesis", "time-machine", "ruff", "mypy",
                "playwright", "faker", "pgserver", "aiosmtpd"}


def imported_roots(path: Path) -> list[tuple[int, str]]:
    """(line, top-level module) of every import in `path`, relative imports excluded."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.partition(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module.partition(".")[0]))
    return found


def offenders(folder: str, banned: set[str]) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line} imports {module}"
            for path in sorted((ROOT / folder).rglob("*.py"))
            for line, module in imported_roots(path) if module in banned]


def test_product_imports_neither_airflow_nor_the_development_package():
    assert not offenders("include/feedback", {"airflow", "feedback_airflow", "feedback_dev"})


@pytest.mark.parametrize("folder", ["dags", "plugins"])
def test_dags_and_plugins_do_not_import_the_development_package(folder):
    assert not offenders(folder, {"feedback_dev"})


def test_the_scan_sees_lazy_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from airflow.models import DAG\n    import feedback_dev.demo\n")
    assert imported_roots(probe) == [(2, "airflow"), (3, "feedback_dev")]


def test_image_requirements_name_no_test_or_development_package():
    names = {re.sub(r"[-_.]+", "-", m.group(1)).lower()
             for m in re.finditer(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==", (ROOT / "requirements.txt").read_text(),
                                  re.M)}
    assert names, "requirements.txt pins nothing"
    assert not names & NOT_IN_IMAGE, f"in the image's requirements: {sorted(names & NOT_IN_IMAGE)}"
    assert not re.search(r"^-r\s", (ROOT / "requirements.txt").read_text(), re.M), "requirements.txt includes another file"


def test_the_image_copies_and_installs_no_development_package():
    steps = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if re.match(r"\s*(COPY|ADD|RUN)\b", line)]
    assert steps, "the Dockerfile has no COPY or RUN"
    for step in steps:
        assert "devtools" not in step and "requirements-dev" not in step, f"the image gets development files: {step}"
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {"devtools", "tests", "bench"} <= ignored, ".dockerignore must keep the development files out"

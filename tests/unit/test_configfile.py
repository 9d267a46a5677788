"""The configuration base (feedback.configfile) stands alone, and only the CLI loads every area's file.

The base is what every area builds its models on; if it imported an area, that area could
not import it back (the cycle that once made rest/spec.py copy `Strict`). Checked by
importing it in a fresh interpreter, so an import hidden in a function called at import
time counts too.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASE_MAY_IMPORT = {"feedback", "feedback.configfile", "feedback.errors", "feedback.paths"}


def loaded_feedback_modules(module: str) -> set[str]:
    code = (f"import json, sys; import {module}; "
            "print(json.dumps(sorted(m for m in sys.modules if m == 'feedback' or m.startswith('feedback.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    return set(json.loads(out.stdout))


def test_the_base_imports_no_other_feedback_module():
    assert loaded_feedback_modules("feedback.configfile") <= BASE_MAY_IMPORT


def test_the_check_would_see_an_area():
    assert "feedback.channels.rest.spec" in loaded_feedback_modules("feedback.channels.config")


def test_only_the_cli_imports_the_whole_set_check():
    importers = set()
    for path in sorted((ROOT / "include" / "feedback").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "feedback.config_check":
                importers.add(path.relative_to(ROOT).as_posix())
    assert importers == {"include/feedback/cli.py"}

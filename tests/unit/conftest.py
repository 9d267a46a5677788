"""Fixtures shared by unit tests."""

from __future__ import annotations

import sys
import textwrap

import pytest


@pytest.fixture
def dist(tmp_path, monkeypatch):
    """A throw-away installed distribution (a .dist-info on sys.path) declaring entry points."""

    def make(entry_points: str, modules: dict[str, str]) -> None:
        for name, source in modules.items():
            (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        info = tmp_path / "feedback_ext_probe-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: feedback-ext-probe\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
        monkeypatch.syspath_prepend(str(tmp_path))

    yield make
    for name in [m for m in sys.modules if m.startswith("ext_probe_")]:
        del sys.modules[name]

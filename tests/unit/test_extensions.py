"""feedback.extensions.load: entry points found by group, sorted by name, a broken one named."""

from __future__ import annotations

import pytest

from feedback import extensions
from feedback.errors import ConfigError


def test_loads_every_entry_point_of_the_group_sorted_by_name(dist):
    dist(
        """
        [feedback.probe_group]
        zeta = ext_probe_mod:ZETA
        alpha = ext_probe_mod:ALPHA

        [feedback.other_probe_group]
        beta = ext_probe_mod:BETA
        """,
        {"ext_probe_mod": "ALPHA = 'a'\nBETA = 'b'\nZETA = 'z'\n"},
    )
    assert extensions.load("feedback.probe_group") == ["a", "z"]
    assert extensions.load("feedback.other_probe_group") == ["b"]


def test_a_group_nobody_declares_is_empty():
    assert extensions.load("feedback.no_such_probe_group") == []


def test_an_entry_point_that_fails_to_import_raises_config_error_naming_it(dist):
    dist(
        """
        [feedback.probe_group]
        good = ext_probe_ok:VALUE
        broken = ext_probe_broken:VALUE
        """,
        {"ext_probe_ok": "VALUE = 1\n", "ext_probe_broken": "import ext_probe_no_such_module\nVALUE = 2\n"},
    )
    with pytest.raises(ConfigError) as err:
        extensions.load("feedback.probe_group")
    assert "'broken'" in str(err.value)
    assert "feedback.probe_group" in str(err.value)
    assert "ext_probe_broken:VALUE" in str(err.value)

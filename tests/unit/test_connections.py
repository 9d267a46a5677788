"""feedback.connections: one lookup, the environment's without Airflow, the entry point's when installed."""

from __future__ import annotations

import pytest

from feedback import connections
from feedback.errors import ConfigError


def test_the_environment_lookup_reads_airflow_conn_variables_as_airflow_names_them():
    found = connections.EnvironmentConnections({"AIRFLOW_CONN_FEEDBACK_PLATFORM_X": " https://:t@x.example ",
                                                "AIRFLOW_CONN_BLANK": "  "})
    assert found.get("feedback_platform_x") == "https://:t@x.example"
    assert found.get("blank") is None
    assert found.get("feedback_platform_y") is None
    assert connections.env_name("feedback_db") == "AIRFLOW_CONN_FEEDBACK_DB"


def test_value_reads_the_environment_through_the_installed_lookup(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_PROBE_ENV", "generic://:secret-secret-secret@")
    assert connections.value("feedback_probe_env") == "generic://:secret-secret-secret@"
    monkeypatch.delenv("AIRFLOW_CONN_FEEDBACK_PROBE_ENV")
    assert connections.value("feedback_probe_env") is None


def test_the_lookup_registered_under_the_entry_point_group_wins(dist):
    dist(
        """
        [feedback.connections]
        aaa_probe = ext_probe_lookup:Stored
        """,
        {"ext_probe_lookup": """
            class Stored:
                def get(self, conn_id):
                    return "generic://:from-the-store@" if conn_id == "stored_only" else None
            """},
    )
    assert type(connections.lookup()).__name__ == "Stored"
    assert connections.value("stored_only") == "generic://:from-the-store@"


def test_a_registered_object_that_is_no_lookup_is_a_config_error(dist):
    dist(
        """
        [feedback.connections]
        aaa_probe = ext_probe_not_lookup:NOT_A_LOOKUP
        """,
        {"ext_probe_not_lookup": "NOT_A_LOOKUP = 42\n"},
    )
    with pytest.raises(ConfigError, match="feedback.connections"):
        connections.lookup()

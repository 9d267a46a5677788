"""Which register is used: the feedback_db connection (URI or JSON) wins over the embedded default."""

from __future__ import annotations

import pytest

from feedback.db.engine import display_url, libpq_url, resolve_target
from feedback.errors import ConfigError


def test_uri_connection(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_DB", "postgres://ops:s%40cret@db.internal:6543/register?sslmode=require")
    target = resolve_target()
    assert (target.url.host, target.url.port, target.url.database) == ("db.internal", 6543, "register")
    assert target.url.username == "ops" and target.url.password == "s@cret"
    assert target.url.query == {"sslmode": "require"}
    assert "s@cret" not in display_url(target.url) and "s%40cret" not in display_url(target.url)
    assert libpq_url(target.url).startswith("postgresql://ops:")


def test_json_connection(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_FEEDBACK_DB",
        '{"conn_type": "postgres", "host": "pg", "login": "a", "password": "b", "port": 5433, "schema": "reg",'
        ' "extra": {"sslmode": "verify-full"}}',
    )
    target = resolve_target()
    assert (target.url.host, target.url.port, target.url.database, target.url.query) == (
        "pg", 5433, "reg", {"sslmode": "verify-full"},
    )


def test_explicit_airflow_connection_uri_wins(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_DB", "postgres://a@env-host/x")
    assert resolve_target("postgresql://a@airflow-host/y").url.host == "airflow-host"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("mysql://x@h/db", "expected a postgres:// or postgresql:// URI"),
        ("postgres://x@h:notaport/db", "the port is not a number"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_connection_values_are_explained(monkeypatch, value, message):
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_DB", value)
    with pytest.raises(ConfigError, match=message):
        resolve_target()

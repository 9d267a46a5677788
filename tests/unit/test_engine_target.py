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


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("0", False), ("no", False)])
def test_local_mode_is_explicit_when_set(monkeypatch, value, expected):
    from feedback.paths import local_mode

    monkeypatch.setenv("FEEDBACK_LOCAL", value)
    assert local_mode() is expected


def test_a_missing_connection_outside_a_checkout_is_one_clear_error(tmp_path):
    """An image layout (no .git, FEEDBACK_LOCAL unset): the CLI names the setting and starts nothing."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in ("AIRFLOW_CONN_FEEDBACK_DB", "FEEDBACK_LOCAL")}
    env.update(FEEDBACK_PROJECT_ROOT=str(tmp_path), FEEDBACK_LOCAL_DIR=str(tmp_path / "local"),
               FEEDBACK_CONFIG_DIR=str(root / "include" / "config"), FEEDBACK_SQL_DIR=str(root / "sql"),
               PYTHONPATH=str(root / "include"))
    proc = subprocess.run([sys.executable, "-m", "feedback.cli", "status"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "AIRFLOW_CONN_FEEDBACK_DB" in lines[0] and "FEEDBACK_LOCAL=1" in lines[0], lines
    assert not (tmp_path / "local").exists()


def test_keys_are_not_invented_outside_local_mode(tmp_path, monkeypatch):
    from feedback.errors import ConfigError
    from feedback.privacy import keys

    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FEEDBACK_LOCAL", "0")
    monkeypatch.delenv("FEEDBACK_VAULT_KEYS", raising=False)
    monkeypatch.delenv("FEEDBACK_HASH_KEY", raising=False)
    with pytest.raises(ConfigError, match="FEEDBACK_VAULT_KEYS is not set"):
        keys.vault_keys()
    with pytest.raises(ConfigError, match="FEEDBACK_HASH_KEY is not set"):
        keys.hash_key()
    assert not (tmp_path / "state").exists()
    monkeypatch.setenv("FEEDBACK_LOCAL", "1")
    assert keys.vault_keys() and keys.hash_key()
    assert ((tmp_path / "state" / "vault.keys").stat().st_mode & 0o777) == 0o600

"""The embedded register from the pgserver wheel: starts, is reused, survives a taken port."""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

import psycopg2
import pytest

from feedback_dev import postgres


@pytest.fixture
def local_state(monkeypatch):
    # Not under pytest's tmp_path: under root the server runs as its own user, which must traverse
    # the parents, and every pytest session resets /tmp/pytest-of-<user> to 0700.
    state = Path(tempfile.mkdtemp(prefix="feedback-embedded-"))
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(state))
    yield state
    postgres.stop()
    shutil.rmtree(state, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_start_reuse_stop(local_state):
    port = _free_port()
    first = postgres.ensure_running(port)
    assert first.port == port and (local_state / "pgdata" / "PG_VERSION").exists()
    with psycopg2.connect(first.url) as conn, conn.cursor() as cur:
        cur.execute("SHOW listen_addresses")
        assert cur.fetchone()[0] == "127.0.0.1"
    again = postgres.ensure_running(port)
    assert again == first
    assert postgres.stop() is True
    assert postgres.running_port() is None
    assert postgres.stop() is False


def test_taken_port_moves_to_a_free_one(local_state, capfd):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    try:
        server = postgres.ensure_running(taken)
    finally:
        blocker.close()
    assert server.port != taken
    assert f"port {taken} is taken; using {server.port}" in capfd.readouterr().err
    with psycopg2.connect(server.url) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_database()")
        assert cur.fetchone()[0] == "feedback"


def test_data_survives_a_restart(local_state):
    server = postgres.ensure_running(_free_port())
    with psycopg2.connect(server.url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")
    postgres.stop()
    server = postgres.ensure_running(_free_port())
    with psycopg2.connect(server.url) as conn, conn.cursor() as cur:
        cur.execute("SELECT v FROM kept")
        assert cur.fetchone()[0] == "still here"


def test_a_password_is_required_and_kept_private(local_state):
    server = postgres.ensure_running(_free_port())
    secret = local_state / "register.password"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert server.password and server.password == secret.read_text().strip()
    assert f":{server.password}@" in server.url
    for password in (None, "wrong-password"):
        with pytest.raises(psycopg2.OperationalError, match="password"):
            psycopg2.connect(host="127.0.0.1", port=server.port, user="postgres", dbname="feedback",
                             password=password, connect_timeout=5).close()
    hba = [line.split() for line in (local_state / "pgdata" / "pg_hba.conf").read_text().splitlines()
           if line.strip() and not line.startswith("#")]
    assert hba == [["host", "all", "all", "127.0.0.1/32", "scram-sha-256"]]
    with psycopg2.connect(server.url) as conn, conn.cursor() as cur:
        cur.execute("SHOW unix_socket_directories")
        assert cur.fetchone()[0] == ""


def test_a_register_made_with_trust_is_hardened_at_its_next_start(local_state):
    server = postgres.ensure_running(_free_port())
    postgres.stop()
    pgdata = local_state / "pgdata"
    # As registers were initialised before passwords were required.
    (pgdata / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n")
    (local_state / "register.password").unlink()
    server = postgres.ensure_running(_free_port())
    assert (pgdata / "pg_hba.conf").read_text().startswith(postgres.HBA_MARKER)
    with pytest.raises(psycopg2.OperationalError, match="password"):
        psycopg2.connect(host="127.0.0.1", port=server.port, user="postgres", dbname="feedback",
                         connect_timeout=5).close()
    with psycopg2.connect(server.url) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")


def test_no_embedded_register_outside_local_mode(tmp_path, monkeypatch):
    from feedback.db.engine import resolve_target
    from feedback.errors import ConfigError, EmbeddedServerError

    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FEEDBACK_LOCAL", "0")
    monkeypatch.delenv("AIRFLOW_CONN_FEEDBACK_DB", raising=False)
    with pytest.raises(ConfigError) as err:
        resolve_target()
    message = str(err.value)
    assert "AIRFLOW_CONN_FEEDBACK_DB" in message and "\n" not in message
    with pytest.raises(EmbeddedServerError, match="only in a checkout"):
        postgres.ensure_running(_free_port())
    assert not (tmp_path / "state").exists(), "nothing may be created outside local mode"

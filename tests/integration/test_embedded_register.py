"""The embedded register from the pgserver wheel: starts, is reused, survives a taken port."""

from __future__ import annotations

import socket

import psycopg2
import pytest

from feedback.local import postgres


@pytest.fixture
def local_state(tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path))
    yield tmp_path
    postgres.stop()


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

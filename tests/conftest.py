"""Shared fixtures: a real PostgreSQL register for every test that needs one.

The server is the one configured by AIRFLOW_CONN_FEEDBACK_DB, or the embedded
one (started on demand). Tests never touch the demo's `feedback` database: the
session migrates a template database once, and each test that asks for
`register` gets its own copy (CREATE DATABASE … TEMPLATE), dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "include"), str(ROOT / "plugins")]

from feedback.db import engine as engine_mod  # noqa: E402
from feedback.db.migrations import migrate  # noqa: E402

# Every test run uses its own vault key, never a developer's .local key.
os.environ.setdefault("FEEDBACK_VAULT_KEYS", Fernet.generate_key().decode())

# Airflow reads its configuration once per process: give the whole session one scratch
# home (SQLite metadata, created only by the `airflow_db` fixture), before anything imports it.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="feedback-airflow-test-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
)


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata DB, migrated once per session (needed by dag.test())."""
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        capture_output=True, text=True, timeout=300, env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    yield _AIRFLOW_HOME
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


def _server_url() -> sa.engine.URL:
    target = engine_mod.resolve_target()
    return target.url


def _admin_engine(url: sa.engine.URL) -> sa.engine.Engine:
    return sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def _drop(admin: sa.engine.Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def server_url() -> sa.engine.URL:
    return _server_url()


@pytest.fixture(scope="session")
def template_db(server_url):
    """A database with every migration applied, used as the template for per-test copies."""
    admin = _admin_engine(server_url)
    name = f"feedback_tpl_{os.getpid()}"
    _drop(admin, name)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = sa.create_engine(server_url.set(database=name), poolclass=sa.pool.NullPool)
    migrate(engine)
    engine.dispose()
    yield name
    _drop(admin, name)
    admin.dispose()


@pytest.fixture
def register(server_url, template_db, monkeypatch):
    """An engine on a fresh, migrated register database of this test's own.

    AIRFLOW_CONN_FEEDBACK_DB points at it for the test, so code that resolves the
    register itself (CLI, DAG tasks) uses the same database.
    """
    admin = _admin_engine(server_url)
    name = f"feedback_t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"'))
    url = server_url.set(database=name)
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_DB", url.set(drivername="postgresql").render_as_string(False))
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()
    engine_mod._engine_for.cache_clear()
    _drop(admin, name)
    admin.dispose()


@pytest.fixture
def empty_db(server_url):
    """An engine on an empty database (no migrations), for migration-runner tests."""
    admin = _admin_engine(server_url)
    name = f"feedback_e_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = sa.create_engine(server_url.set(database=name), poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()
    _drop(admin, name)
    admin.dispose()


def scalar(engine: sa.engine.Engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def load_dag(file_name: str, dag_id: str):
    """One DAG parsed from dags/ the way the scheduler does, with no import errors allowed."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / file_name))
    assert bag.import_errors == {}
    return bag.dags[dag_id]


# --- a real IMAP server ------------------------------------------------------------------------
# One throwaway Dovecot per session (~0.1 s to start); `imap_user` is that server seen as a user
# of the calling test alone, so every test starts from an empty INBOX and no other test's folders.
# Without Dovecot the tests that use it are skipped, except under CI, where they fail.


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def dovecot():
    """The session's throwaway Dovecot (plain+STARTTLS and IMAPS on free loopback ports).

    Its files live in a folder of their own, not under pytest's temp root: any other pytest
    session on the machine resets that root to 0700, and Dovecot's unprivileged login process
    could then no longer read its users file ("Temporary authentication failure").
    """
    from feedback_dev.dovecot import DovecotServer, DovecotUnavailable

    base = Path(tempfile.mkdtemp(prefix="feedback-test-dovecot-"))
    try:
        server = DovecotServer.start(base)
    except DovecotUnavailable as exc:
        shutil.rmtree(base, ignore_errors=True)
        if _in_ci():
            pytest.fail(f"{exc} — CI is set, so the IMAP tests fail instead of being skipped", pytrace=False)
        pytest.skip(f"no Dovecot on this machine: {exc}")
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def imap_user(dovecot):
    """The session's server as a new user of this test alone: an empty INBOX, no other folders."""
    return dovecot.with_user(f"t{uuid.uuid4().hex[:12]}")


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def chromium():
    """Headless Debian Chromium driven by Playwright; skipped without it, but a failure under CI=true."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (install the chromium package) — the browser test cannot run"
        if _in_ci():
            pytest.fail(f"{reason}; CI is set, so this fails instead of being skipped", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def smtp_capture(tmp_path, monkeypatch):
    """The local SMTP capture on a free port, as the feedback_smtp connection; mails land in `.folder`."""
    from feedback_dev import smtp_sink

    server = smtp_sink.start(tmp_path / "outbox")
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_SMTP",
                       f"smtp://127.0.0.1:{server.port}?disable_tls=true&disable_ssl=true&from_email=ops%40example.com")
    yield server
    server.stop()


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

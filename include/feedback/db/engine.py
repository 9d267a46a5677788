"""Which register to talk to, and a checked connection to it.

The `feedback_db` Airflow connection wins when it is configured (as
`AIRFLOW_CONN_FEEDBACK_DB`, URI or JSON form, or passed in by the Airflow layer);
otherwise the embedded server under `.local/pgdata` is started and used. Callers
never build URLs themselves, so a deployment changes one setting.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, unquote, urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from feedback.errors import ConfigError, RegisterUnreachable

CONN_ENV = "AIRFLOW_CONN_FEEDBACK_DB"


@dataclass(frozen=True)
class RegisterTarget:
    """Where the register is, and which setting said so (for error messages)."""

    url: URL
    source: str

    @property
    def where(self) -> str:
        return f"{self.url.host}:{self.url.port or 5432} (database {self.url.database})"


def _from_uri(uri: str, source: str) -> RegisterTarget:
    parts = urlsplit(uri)
    if parts.scheme not in {"postgres", "postgresql", "postgresql+psycopg2"}:
        raise ConfigError(
            f"{source}: expected a postgres:// or postgresql:// URI, got scheme {parts.scheme!r}"
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{source}: the port is not a number ({exc})") from None
    query = {k: v for k, v in parse_qsl(parts.query) if not k.startswith("__extra__")}
    url = URL.create(
        "postgresql+psycopg2",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        host=parts.hostname or "localhost",
        port=port,
        database=unquote(parts.path.lstrip("/")) or "postgres",
        query=query,
    )
    return RegisterTarget(url, source)


def _from_json(text: str, source: str) -> RegisterTarget:
    try:
        conn = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(conn, dict):
        raise ConfigError(f"{source}: expected a JSON object with host, login, password, port, schema")
    extra = conn.get("extra") or {}
    if isinstance(extra, str):
        extra = json.loads(extra) if extra.strip() else {}
    query = {k: str(v) for k, v in extra.items() if k in {"sslmode", "sslrootcert", "sslcert", "sslkey"}}
    url = URL.create(
        "postgresql+psycopg2",
        username=conn.get("login"),
        password=conn.get("password"),
        host=conn.get("host") or "localhost",
        port=int(conn["port"]) if conn.get("port") else None,
        database=conn.get("schema") or "postgres",
        query=query,
    )
    return RegisterTarget(url, source)


def resolve_target(conn_uri: str | None = None) -> RegisterTarget:
    """The configured register, or the embedded one (started on demand)."""
    if conn_uri:
        return _from_uri(conn_uri, "the feedback_db Airflow connection")
    value = os.environ.get(CONN_ENV, "").strip()
    if value:
        if value.startswith("{"):
            return _from_json(value, CONN_ENV)
        return _from_uri(value, CONN_ENV)
    from feedback.local import postgres

    server = postgres.ensure_running()
    return _from_uri(server.url, "the embedded register (.local/pgdata)")


@lru_cache(maxsize=8)
def _engine_for(url: URL) -> Engine:
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        connect_args={"connect_timeout": 10, "application_name": "feedback-pipeline"},
    )


def get_engine(conn_uri: str | None = None, check: bool = True) -> Engine:
    """A pooled engine on the register; with `check`, fail fast with one clear line."""
    target = resolve_target(conn_uri)
    engine = _engine_for(target.url)
    if check:
        check_reachable(engine, target)
    return engine


def check_reachable(engine: Engine, target: RegisterTarget) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
        raise RegisterUnreachable(
            f"cannot reach the register at {target.where}, configured by {target.source}: {reason}. "
            f"Fix {CONN_ENV} (or the feedback_db connection), or unset it to use the embedded server."
        ) from None


def display_url(engine_or_url: Engine | URL) -> str:
    """The URL with the password hidden, for logs and `feedback status`."""
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else engine_or_url
    return url.render_as_string(hide_password=True)


def libpq_url(engine_or_url: Engine | URL) -> str:
    """A plain postgresql:// URL that psql and other libpq tools accept."""
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else engine_or_url
    return url.set(drivername="postgresql").render_as_string(hide_password=False)

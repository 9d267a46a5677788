"""Which register to talk to, and a checked connection to it.

The `feedback_db` Airflow connection wins when it is configured (as
`AIRFLOW_CONN_FEEDBACK_DB`, URI or JSON form, or passed in by the Airflow layer).
Without it, a checkout (local mode, see `feedback.paths.local_mode`) starts and
uses the embedded server under `.local/pgdata`, which the development package provides
through the `feedback.register` entry point group (the product never names it); anywhere
else a missing connection is one clear error, never a private database inside a worker's
container. Callers never build URLs themselves, so a deployment changes one setting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, cast

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from feedback import connections, extensions
from feedback.errors import ConfigError, RegisterUnreachable
from feedback.paths import LOCAL_ENV, local_mode

CONN_ENV = "AIRFLOW_CONN_FEEDBACK_DB"
REGISTER_GROUP = "feedback.register"


class EmbeddedRegister(Protocol):
    """A checkout's own register server, provided by the development package (`feedback.register`)."""

    source: str             # how error messages name it, e.g. "the embedded register (.local/pgdata)"

    def url(self) -> str:
        """Start the server if needed; its libpq URL."""
        ...

    def psql(self) -> str:
        """The psql binary that comes with the server, for machines without one on PATH."""
        ...


@dataclass(frozen=True)
class RegisterTarget:
    """Where the register is, and which setting said so (for error messages)."""

    url: URL
    source: str

    @property
    def where(self) -> str:
        return f"{self.url.host}:{self.url.port or 5432} (database {self.url.database})"


POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg2"}
SSL_KEYS = {"sslmode", "sslrootcert", "sslcert", "sslkey"}


def _target(value: str, source: str) -> RegisterTarget:
    conn = connections.parse(value, source, POSTGRES_SCHEMES, "a postgres:// or postgresql:// URI")
    url = URL.create(
        "postgresql+psycopg2",
        username=conn.login,
        password=conn.password,
        host=conn.host or "localhost",
        port=conn.port,
        database=conn.schema or "postgres",
        query={k: str(v) for k, v in conn.extra.items() if k in SSL_KEYS},
    )
    return RegisterTarget(url, source)


NOT_CONFIGURED = (
    f"no register configured: set {CONN_ENV} (or an Airflow connection feedback_db) to "
    "postgresql://user:password@host:5432/feedback; the embedded register starts only in a checkout "
    f"or with {LOCAL_ENV}=1"
)
NO_EMBEDDED = (
    f"no register configured and no embedded register installed: set {CONN_ENV} to "
    "postgresql://user:password@host:5432/feedback, or install the development package "
    "(scripts/bootstrap.sh, or pip install -e devtools) for a checkout's embedded register"
)


def embedded_register() -> EmbeddedRegister:
    """The checkout's embedded register; only the development package provides one."""
    providers = extensions.load(REGISTER_GROUP)
    if not providers:
        raise ConfigError(NO_EMBEDDED)
    return cast(EmbeddedRegister, providers[0])


def resolve_target(conn_uri: str | None = None) -> RegisterTarget:
    """The configured register; in local mode the embedded one (started on demand), else an error."""
    if conn_uri:
        return _target(conn_uri, "the feedback_db Airflow connection")
    value = os.environ.get(CONN_ENV, "").strip()
    if value:
        return _target(value, CONN_ENV)
    if not local_mode():
        # A deployment may keep feedback_db in Airflow's store or a secrets backend: ask the one lookup.
        stored = (connections.value("feedback_db") or "").strip()
        if stored:
            return _target(stored, "the feedback_db Airflow connection")
        raise ConfigError(NOT_CONFIGURED)
    embedded = embedded_register()
    return _target(embedded.url(), embedded.source)


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
            f"Fix {CONN_ENV} (or the feedback_db connection)"
            + (", or unset it to use the embedded server." if local_mode() else ".")
        ) from None


def display_url(engine_or_url: Engine | URL) -> str:
    """The URL with the password hidden, for logs and `feedback status`."""
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else engine_or_url
    return url.render_as_string(hide_password=True)


def libpq_url(engine_or_url: Engine | URL) -> str:
    """A plain postgresql:// URL that psql and other libpq tools accept."""
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else engine_or_url
    return url.set(drivername="postgresql").render_as_string(hide_password=False)

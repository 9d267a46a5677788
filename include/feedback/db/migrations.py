"""Forward-only migrations of the register, applied in order, each exactly once.

Files are `sql/migrations/NNN_name.sql`. Each is applied in its own transaction
and recorded with its sha256 in `feedback.schema_migrations`. An advisory lock
makes concurrent runners (two schedulers starting, a test and the demo) safe:
the second waits, then finds nothing left to do. An applied file that was edited
since is refused, because silently diverging schemas are worse than a stop.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from feedback.errors import MigrationError
from feedback.paths import migrations_dir

SCHEMA = "feedback"
# Arbitrary constant identifying "the feedback register's migration lock".
ADVISORY_LOCK_KEY = 0x66656564_6D6967  # "feedmig"
FILE_PATTERN = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path
    checksum: str

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class MigrationReport:
    applied: list[str]
    skipped: list[str]


def discover(directory: Path | None = None) -> list[Migration]:
    """The migration files in version order; misnamed or duplicate numbers are errors."""
    directory = directory or migrations_dir()
    if not directory.is_dir():
        raise MigrationError(f"migrations folder {directory} does not exist (set FEEDBACK_SQL_DIR?)")
    found: dict[str, Migration] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        match = FILE_PATTERN.match(path.name)
        if not match:
            raise MigrationError(
                f"{path.name}: migration files must be named NNN_lowercase_name.sql (e.g. 002_add_index.sql)"
            )
        version, name = match.groups()
        if version in found:
            raise MigrationError(f"two migrations share number {version}: {found[version].path.name} and {path.name}")
        checksum = hashlib.sha256(path.read_bytes()).hexdigest()
        found[version] = Migration(version, name, path, checksum)
    return [found[v] for v in sorted(found)]


def _bootstrap(conn: sa.Connection) -> None:
    conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    conn.execute(
        sa.text(
            f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_migrations (
                    version     text PRIMARY KEY,
                    name        text NOT NULL,
                    checksum    text NOT NULL,
                    applied_at  timestamptz NOT NULL DEFAULT now()
                )"""
        )
    )


def applied(engine: Engine) -> dict[str, str]:
    """version -> checksum of what the register has applied (empty for a new register)."""
    with engine.connect() as conn:
        exists = conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": f"{SCHEMA}.schema_migrations"}).scalar()
        if exists is None:
            return {}
        rows = conn.execute(sa.text(f"SELECT version, checksum FROM {SCHEMA}.schema_migrations"))  # noqa: S608 - constant schema
        return dict(rows.tuples().all())


def migrate(
    engine: Engine,
    directory: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> MigrationReport:
    """Apply every pending migration; refuse if an applied file has changed."""
    migrations = discover(directory)
    say = progress or (lambda _msg: None)
    applied_now: list[str] = []
    skipped: list[str] = []
    with engine.connect() as lock_conn:
        # Session-level lock on its own connection, held across all the per-file transactions.
        lock_conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
        lock_conn.commit()
        try:
            with engine.begin() as conn:
                _bootstrap(conn)
            done = applied(engine)
            on_disk = {m.version for m in migrations}
            missing = sorted(set(done) - on_disk)
            if missing:
                raise MigrationError(
                    f"the register has migration(s) {', '.join(missing)} applied that are not in "
                    f"{migrations[0].path.parent if migrations else 'sql/migrations'}; "
                    "this checkout is older than the database"
                )
            for mig in migrations:
                if mig.version in done:
                    if done[mig.version] != mig.checksum:
                        raise MigrationError(
                            f"{mig.path.name} was edited after it was applied (checksum "
                            f"{done[mig.version][:12]} in the register, {mig.checksum[:12]} on disk); "
                            "migrations are forward-only: restore the file and add a new numbered one"
                        )
                    skipped.append(mig.path.name)
                    continue
                say(f"applying {mig.path.name}")
                with engine.begin() as conn:
                    conn.execute(sa.text(f"SET LOCAL search_path TO {SCHEMA}, public"))
                    conn.exec_driver_sql(mig.sql.replace("%", "%%"))
                    conn.execute(
                        sa.text(
                            f"INSERT INTO {SCHEMA}.schema_migrations (version, name, checksum) "  # noqa: S608 - constant schema
                            "VALUES (:v, :n, :c)"
                        ),
                        {"v": mig.version, "n": mig.name, "c": mig.checksum},
                    )
                applied_now.append(mig.path.name)
        finally:
            lock_conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
            lock_conn.commit()
    return MigrationReport(applied_now, skipped)

"""Where the project's files and local state live.

One place decides, so the CLI, the DAGs, the tests and the Docker image agree.
Each location can be overridden by an environment variable for deployments whose
layout differs from a checkout (the image mounts include/ and sql/ under
/opt/airflow).
"""

import os
from pathlib import Path

# include/feedback/paths.py -> project root is two levels above include/.
_PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = Path(os.environ.get("FEEDBACK_PROJECT_ROOT", _PACKAGE_DIR.parent.parent))


def project_root() -> Path:
    return PROJECT_ROOT


def local_dir() -> Path:
    """Git-ignored local state: embedded register, Airflow home, outbox, archive."""
    return Path(os.environ.get("FEEDBACK_LOCAL_DIR", PROJECT_ROOT / ".local"))


def sql_dir() -> Path:
    return Path(os.environ.get("FEEDBACK_SQL_DIR", PROJECT_ROOT / "sql"))


def migrations_dir() -> Path:
    return sql_dir() / "migrations"


def config_dir() -> Path:
    return Path(os.environ.get("FEEDBACK_CONFIG_DIR", PROJECT_ROOT / "include" / "config"))


def dags_dir() -> Path:
    return PROJECT_ROOT / "dags"


def plugins_dir() -> Path:
    return PROJECT_ROOT / "plugins"

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


LOCAL_ENV = "FEEDBACK_LOCAL"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def local_mode() -> bool:
    """True in a developer's checkout (or with FEEDBACK_LOCAL=1), False in a deployment.

    The embedded register, generated keys and other conveniences exist only for a
    checkout; a worker that silently started its own database would write the
    register to a disk nobody reads. So local mode is explicit: FEEDBACK_LOCAL
    decides when it is set (compose sets 0), else a checkout is recognised by the
    `.git` next to the project's files, which an image never has.
    """
    value = os.environ.get(LOCAL_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return (PROJECT_ROOT / ".git").exists()


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) readable by its owner only (0700): local state holds secrets and mail."""
    missing = [p for p in [path, *path.parents] if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        folder.chmod(0o700)  # mkdir's mode is filtered by the umask
    mode = path.stat().st_mode & 0o777
    if mode & 0o066:
        # No one else may list or write it; a traverse bit set for the embedded server's user stays.
        path.chmod(mode & ~0o066 | 0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write `path` atomically with mode 0600 (outbox mails, report files, keys): no world-readable copies."""
    tmp = path.with_name(path.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


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

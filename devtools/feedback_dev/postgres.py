"""The embedded register: a real PostgreSQL from the `pgserver` wheel.

Used in a checkout (local mode) when no `feedback_db` connection is configured,
so `make demo` and `make test` need no database installed; outside local mode it
refuses to start. It listens on 127.0.0.1 only (no Unix socket), on a port chosen
at start (the preferred one, or the next free one when it is taken), and keeps its
data in `.local/pgdata` across runs. Every connection needs the superuser's
password (scram-sha-256), generated once into `.local/register.password` (0600):
another local user cannot walk into the register as superuser. PostgreSQL refuses
to run as root, so under root the server runs as a dedicated system user.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import pwd
import secrets
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from feedback.errors import EmbeddedServerError
from feedback.paths import LOCAL_ENV, local_dir, local_mode, private_dir

DEFAULT_PORT = 55432
DATABASE = "feedback"
SUPERUSER = "postgres"
SYSTEM_USER = "feedbackpg"
PASSWORD_FILE = "register.password"
# pg_hba.conf of the embedded register: TCP on 127.0.0.1 with a password, nothing else.
HBA_MARKER = "# feedback pipeline: embedded register, password required"
HBA = (
    f"{HBA_MARKER}\n"
    "# TYPE  DATABASE  USER  ADDRESS       METHOD\n"
    "host    all       all   127.0.0.1/32  scram-sha-256\n"
)


@dataclass(frozen=True)
class EmbeddedServer:
    port: int
    pgdata: Path
    password: str = field(default="", repr=False)

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{DATABASE}"


def pgdata_dir() -> Path:
    return local_dir() / "pgdata"


def password_path() -> Path:
    return local_dir() / PASSWORD_FILE


def superuser_password(create: bool = False) -> str:
    """The register's superuser password from `.local/register.password`, generated (0600) when asked.

    URL-safe characters only, so it can stand in a connection URI as it is.
    """
    path = password_path()
    if not path.exists():
        if not create:
            raise EmbeddedServerError(
                f"{path} is missing, so the embedded register cannot be opened; restore it, or run "
                "`make clean` to start over with a new register"
            )
        private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(24) + "\n")
    return path.read_text().strip()


def _require_local_mode() -> None:
    if not local_mode():
        raise EmbeddedServerError(
            "the embedded register starts only in a checkout (or with "
            f"{LOCAL_ENV}=1); configure AIRFLOW_CONN_FEEDBACK_DB (the feedback_db connection) instead"
        )


def bin_dir() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(
            "the pgserver package is not installed; run `make demo` or `scripts/bootstrap.sh` to install it"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _log(message: str) -> None:
    print(f"[register] {message}", file=sys.stderr, flush=True)


def _run_as() -> pwd.struct_passwd | None:
    """The account the server runs under: ourselves, or a system user under root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SYSTEM_USER)


def _open_path_for(path: Path) -> None:
    """Let the server's user traverse every parent folder of `path` (o+x)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _pg(cmd: str, args: list[str], account: pwd.struct_passwd | None, timeout: int = 120) -> str:
    kwargs: dict = {}
    if account is not None:
        kwargs = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    proc = subprocess.run(
        [str(bin_dir() / cmd), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/",
        check=False,
        **kwargs,
    )
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise EmbeddedServerError(f"{cmd} failed: {detail[-1] if detail else 'exit ' + str(proc.returncode)}")
    return proc.stdout


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def choose_port(preferred: int) -> int:
    """The preferred port if free, else the next free one above it (said on stderr)."""
    for candidate in range(preferred, preferred + 200):
        if _port_free(candidate):
            if candidate != preferred:
                _log(f"port {preferred} is taken; using {candidate} instead (set FEEDBACK_PG_PORT to choose)")
            return candidate
    raise EmbeddedServerError(
        f"no free port in {preferred}-{preferred + 199} on 127.0.0.1; set FEEDBACK_PG_PORT to a free port"
    )


def _accepting(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def running_port(pgdata: Path | None = None) -> int | None:
    """The port of a live server on `pgdata`, read from its postmaster.pid."""
    pid_file = (pgdata or pgdata_dir()) / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by the server's system user
    return port if _accepting(port) else None


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    private_dir(lock_path.parent)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _initdb(pgdata: Path, account: pwd.struct_passwd | None) -> None:
    _log(f"initialising a new register in {pgdata}")
    pgdata.mkdir(parents=True, exist_ok=True)
    if account is not None:
        os.chown(pgdata, account.pw_uid, account.pw_gid)
        _open_path_for(pgdata.parent)
        _open_path_for(bin_dir())
    pgdata.chmod(0o700)
    # initdb reads the password from a file: a private temporary one the server's user can read.
    fd, pwfile = tempfile.mkstemp(prefix="feedback-pw-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(superuser_password(create=True) + "\n")
        if account is not None:
            os.chown(pwfile, account.pw_uid, account.pw_gid)
        _pg(
            "initdb",
            ["-D", str(pgdata), "-U", SUPERUSER, "--auth=scram-sha-256", f"--pwfile={pwfile}",
             "--encoding=UTF8", "--locale=C.UTF-8"],
            account,
        )
    finally:
        os.unlink(pwfile)
    _write_hba(pgdata)
    with open(pgdata / "postgresql.conf", "a") as conf:
        conf.write(
            "\n# feedback pipeline: embedded register, loopback only\n"
            "listen_addresses = '127.0.0.1'\n"
            "unix_socket_directories = ''\n"
            "timezone = 'UTC'\n"
            "max_connections = 100\n"
        )


def _hardened(pgdata: Path) -> bool:
    try:
        return (pgdata / "pg_hba.conf").read_text().startswith(HBA_MARKER)
    except OSError:
        return False


def _write_hba(pgdata: Path) -> None:
    """Replace pg_hba.conf with ours (the file keeps the owner and mode initdb gave it)."""
    with open(pgdata / "pg_hba.conf", "w") as handle:
        handle.write(HBA)


def _harden(server: EmbeddedServer) -> None:
    """A register made before passwords were required (trust): set the password, then require it."""
    import psycopg2

    _log("requiring a password on this register (pg_hba.conf: scram-sha-256 on 127.0.0.1 only)")
    conn = psycopg2.connect(host="127.0.0.1", port=server.port, user=SUPERUSER, dbname="postgres",
                            password=server.password)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SET password_encryption = 'scram-sha-256'")
            cur.execute(f"ALTER ROLE {SUPERUSER} PASSWORD %s", (server.password,))
            _write_hba(server.pgdata)
            cur.execute("SELECT pg_reload_conf()")
    finally:
        conn.close()


def ensure_running(preferred_port: int | None = None) -> EmbeddedServer:
    """Start the embedded register if it is not running, and return where it listens.

    Safe to call from several processes at once: one starts it, the others reuse it.
    Only in local mode: a deployment names its register (AIRFLOW_CONN_FEEDBACK_DB).
    """
    _require_local_mode()
    pgdata = pgdata_dir()
    preferred = preferred_port or int(os.environ.get("FEEDBACK_PG_PORT", DEFAULT_PORT))
    with _exclusive(local_dir() / "pgdata.lock"):
        port = running_port(pgdata)
        if port is None:
            account = _run_as()
            if not (pgdata / "PG_VERSION").exists():
                _initdb(pgdata, account)
            stale = pgdata / "postmaster.pid"
            if stale.exists():
                stale.unlink()
            port = choose_port(preferred)
            logfile = pgdata / "server.log"
            _log(f"starting PostgreSQL on 127.0.0.1:{port} (data {pgdata}, log {logfile})")
            started = time.monotonic()
            _pg("pg_ctl", ["-D", str(pgdata), "-l", str(logfile), "-o", f"-p {port}", "-w", "-t", "60", "start"],
                account)
            _log(f"PostgreSQL is up after {time.monotonic() - started:.1f}s")
            hardened = _hardened(pgdata)
            server = EmbeddedServer(port=port, pgdata=pgdata, password=superuser_password(create=not hardened))
            if not hardened:
                _harden(server)
        else:
            # A server already running is left as it is: tightening it under other processes' feet
            # would break their open pools. It is hardened at its next start.
            server = EmbeddedServer(port=port, pgdata=pgdata,
                                    password=superuser_password(create=not _hardened(pgdata)))
        _ensure_database(server)
        return server


def _ensure_database(server: EmbeddedServer) -> None:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=server.port, user=SUPERUSER, dbname="postgres",
                            password=server.password)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        conn.close()


def stop() -> bool:
    """Stop the embedded register if it runs; True when it was running."""
    pgdata = pgdata_dir()
    if running_port(pgdata) is None:
        return False
    _pg("pg_ctl", ["-D", str(pgdata), "-m", "fast", "-w", "stop"], _run_as())
    return True

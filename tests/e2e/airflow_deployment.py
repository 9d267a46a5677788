"""A real Airflow deployment on this machine, the way docker-compose.yaml runs it, for the e2e tests.

Components are separate processes, each in its own process group (so stopping one takes its
children with it): api-server, scheduler, dag-processor, triggerer and one Celery worker, with
the environment of compose's `x-airflow-common` (CeleryExecutor, FAB auth manager, JWT secret,
Fernet key, result backend in the metadata DB, production mode FEEDBACK_LOCAL=0), Airflow's
metadata in a PostgreSQL database and Redis as the broker. Only the addresses differ: every
server listens on a free loopback port, and the sizes fit a small machine.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa
import yaml

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).parent / "airflow")


class ComponentUnavailable(Exception):
    """A component cannot be installed or started on this machine (the test skips, or fails under CI)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def compose_environment() -> dict[str, str]:
    """The `x-airflow-common` environment of docker-compose.yaml, as written (with ${…} unexpanded)."""
    spec = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    return {k: str(v) for k, v in spec["x-airflow-common"]["environment"].items()}


def _wait_for(check: Callable[[], bool], timeout: float, what: str, step: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class Process:
    """One component: its own process group, output in a log file."""

    name: str
    popen: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM to the process group, then SIGKILL to whatever is left of it (a task process, a server child)."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)

    def group_alive(self) -> bool:
        """Whether any process of the group is left (children outliving the leader count)."""
        try:
            os.killpg(self.popen.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def tail(self, chars: int = 6000) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return text[-chars:]


def spawn(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Process:
    log = log_dir / f"{name}.log"
    handle = open(log, "ab")  # noqa: SIM115 - the child keeps it
    try:
        popen = subprocess.Popen(argv, env=env, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True, cwd=log_dir)
    finally:
        handle.close()
    return Process(name, popen, log)


class RedisServer:
    """A throwaway redis-server on a free loopback port, no persistence (never the machine's own Redis)."""

    def __init__(self, base: Path) -> None:
        binary = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists()
                                                  else None)
        if binary is None:
            raise ComponentUnavailable("redis-server is not installed (apt-get install redis-server, or make "
                                       "system-deps as root)")
        base.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process = spawn("redis", [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "no", "--dir", str(base), "--protected-mode", "yes"],
                             dict(os.environ), base)
        _wait_for(self._ping, 20, "redis-server to answer PING", step=0.1)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _ping(self) -> bool:
        if not self.process.alive():
            raise ComponentUnavailable(f"redis-server exited at start: {self.process.tail(800)}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        self.process.stop(grace=5)


@dataclass
class Deployment:
    """Airflow with CeleryExecutor: metadata DB URL, broker, the feedback settings, and its processes."""

    base: Path
    metadata_url: sa.engine.URL
    broker_url: str
    feedback_env: dict[str, str]
    concurrency: int = 3
    api_port: int = field(default_factory=free_port)
    admin_password: str = field(default_factory=lambda: secrets.token_hex(12))
    processes: list[Process] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.home = self.base / "airflow"
        self.logs = self.base / "component-logs"
        for folder in (self.home, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        self.env = self._environment()
        self.metadata = sa.create_engine(self.metadata_url, poolclass=sa.pool.NullPool)

    # --- environment -------------------------------------------------------------------------
    def _environment(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        compose = compose_environment()
        db = self.metadata_url.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update({
            # As compose sets them (x-airflow-common) …
            "AIRFLOW__CORE__EXECUTOR": compose["AIRFLOW__CORE__EXECUTOR"],
            "AIRFLOW__CORE__AUTH_MANAGER": compose["AIRFLOW__CORE__AUTH_MANAGER"],
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": compose["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"],
            "AIRFLOW__CORE__LOAD_EXAMPLES": compose["AIRFLOW__CORE__LOAD_EXAMPLES"],
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": compose["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"],
            "FEEDBACK_CONSOLE_AUTH": compose["FEEDBACK_CONSOLE_AUTH"],
            "FEEDBACK_LOCAL": compose["FEEDBACK_LOCAL"],
            # … with this machine's addresses in place of the compose service names …
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + db.replace("postgresql+psycopg2", "postgresql", 1),
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
            # … and the secrets compose requires, generated for this run.
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.concurrency),
            # Paths of this checkout instead of /opt/airflow.
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
            "FEEDBACK_PROJECT_ROOT": str(ROOT),
            "FEEDBACK_SQL_DIR": str(ROOT / "sql"),
            "FEEDBACK_CONFIG_DIR": str(ROOT / "include" / "config"),
            "PYTHONPATH": os.pathsep.join([str(ROOT / "include"), str(ROOT / "plugins")]),
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            # Free loopback ports for the servers compose runs on fixed ports in their own containers.
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.api_port}",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            # Sized for two cores, and quick to react so the run fits in a few minutes.
            "AIRFLOW__CORE__PARALLELISM": str(self.concurrency + 1),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__PARSING_CLEANUP_INTERVAL": "30",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
            "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "120",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "90",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
            "AIRFLOW__CELERY__OPERATION_TIMEOUT": "10",
        })
        env.update(self.feedback_env)
        return env

    # --- life cycle --------------------------------------------------------------------------
    def run_cli(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
        proc = subprocess.run([AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                              cwd=self.base)
        if proc.returncode != 0:
            raise RuntimeError(f"`airflow {' '.join(args[:2])}` failed ({proc.returncode}):\n"
                               f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def migrate(self) -> None:
        """What compose's airflow-init does: migrate the metadata DB (FAB tables included)."""
        self.run_cli("db", "migrate")

    def start(self) -> None:
        for name, argv in (
            ("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(self.api_port), "--workers", "1"]),
            ("scheduler", ["scheduler"]),
            ("dag-processor", ["dag-processor"]),
            ("triggerer", ["triggerer"]),
            ("worker", ["celery", "worker", "--concurrency", str(self.concurrency), "--without-gossip",
                        "--without-mingle", "--celery-hostname", f"e2e-worker-{os.getpid()}@%h"]),
        ):
            self.processes.append(spawn(name, [AIRFLOW, *argv], self.env, self.logs))

    def create_admin(self) -> None:
        """Compose's _AIRFLOW_WWW_USER_CREATE: an Admin in the FAB auth manager."""
        self.run_cli("users", "create", "--username", "admin", "--password", self.admin_password, "--role", "Admin",
                     "--email", "admin@example.com", "--firstname", "E2E", "--lastname", "Admin")

    def check_alive(self) -> None:
        dead = [p for p in self.processes if not p.alive()]
        if dead:
            raise RuntimeError(f"{', '.join(p.name for p in dead)} exited (code "
                               f"{', '.join(str(p.popen.returncode) for p in dead)})")

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM to every component's process group at once; SIGKILL to any group still there after `grace`."""
        for proc in self.processes:
            if proc.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
        for proc in self.processes:
            proc.stop(grace=0)
        self.metadata.dispose()

    def logs_report(self, chars: int = 5000) -> str:
        parts = [f"----- {p.name} (exit {p.popen.poll()}) {p.log} -----\n{p.tail(chars)}" for p in self.processes]
        return "\n".join(parts)

    def task_logs(self) -> str:
        root = self.home / "logs"
        files = sorted(root.rglob("*.log")) if root.exists() else []
        return "\n".join(f"----- {f.relative_to(root)} -----\n{f.read_text(errors='replace')[-3000:]}"
                         for f in files)

    # --- waiting on the deployment ------------------------------------------------------------
    def wait(self, check: Callable[[], bool], timeout: float, what: str, step: float = 2.0) -> None:
        def alive_check() -> bool:
            self.check_alive()
            return check()

        _wait_for(alive_check, timeout, what, step)

    def query(self, sql: str, **params) -> list[sa.Row]:
        with self.metadata.connect() as conn:
            return list(conn.execute(sa.text(sql), params))

    def api_ready(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.api_port}/api/v2/monitor/health", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def worker_ready(self) -> bool:
        return "ready." in Path(self.logs / "worker.log").read_text(errors="replace")

    # --- REST API (what an operator or the UI does) --------------------------------------------
    def token(self) -> str:
        response = httpx.post(f"http://127.0.0.1:{self.api_port}/auth/token",
                              json={"username": "admin", "password": self.admin_password}, timeout=30)
        response.raise_for_status()
        return response.json()["access_token"]

    def api(self, method: str, path: str, token: str, body: dict | None = None) -> dict:
        response = httpx.request(method, f"http://127.0.0.1:{self.api_port}/api/v2{path}",
                                 headers={"Authorization": f"Bearer {token}"},
                                 json=body,
                                 timeout=60)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else {}

"""`make up`: a local Airflow (UI on http://127.0.0.1:8080) against the same register as the demo.

Runs `airflow standalone` (api-server, scheduler, dag-processor, triggerer) with the
local environment, the SMTP capture server alongside, and the register migrated
first, so the DAGs a user sees in the UI work immediately. Sized for one machine:
loopback only unless asked, executor and API workers from the number of cores (the
defaults start 32 task processes and 4 API workers, too many on a laptop), the
pipeline's DAGs unpaused, and every component stopped on Ctrl-C (the whole process
group: SIGTERM, then SIGKILL after a grace period), so nothing outlives the command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PIPELINE_DAGS = (
    "feedback_ingest_email", "feedback_ingest_webforms", "feedback_ingest_platforms", "feedback_triage",
    "feedback_sla_monitor", "feedback_callbacks", "feedback_report_weekly", "feedback_report_monthly",
    "feedback_retention",
)
PASSWORD_FILE = "simple_auth_manager_passwords.json.generated"
GRACE_SECONDS = 20


def one_machine_settings(cores: int | None = None, host: str = "127.0.0.1", port: int = 8080) -> dict[str, str]:
    """Airflow settings for `make up` on a machine with `cores` CPUs (default: this one's)."""
    cores = max(1, cores or os.cpu_count() or 1)
    return {
        "AIRFLOW__API__HOST": host,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://{'localhost' if host in ('127.0.0.1', '::1') else host}:{port}",
        "AIRFLOW__API__WORKERS": "1",
        # LocalExecutor: one task process per parallelism slot; ingest waits on I/O, so 2 per core.
        "AIRFLOW__CORE__PARALLELISM": str(max(2, min(8, 2 * cores))),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(max(2, min(8, 2 * cores))),
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": str(max(1, min(2, cores))),
        # The pipeline runs as soon as it is up (catchup is off, so no history is replayed).
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    }


def stop_group(proc: subprocess.Popen, grace: float = GRACE_SECONDS) -> int:
    """Stop `proc` and everything it started (its process group): SIGTERM, then SIGKILL after `grace` s."""
    pgid = proc.pid
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()
            if not _group_alive(pgid):
                break
            time.sleep(0.2)
        else:
            continue
        break
    try:
        return proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return -9


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unpause_existing(env: dict[str, str]) -> None:
    """DAGs created earlier (the demo creates them paused) are unpaused too; new ones start unpaused."""
    code = (
        "from airflow.models.dag import DagModel\n"
        "from airflow.utils.session import create_session\n"
        "with create_session() as s:\n"
        f"    for m in s.query(DagModel).filter(DagModel.dag_id.in_({list(PIPELINE_DAGS)!r})):\n"
        "        m.is_paused = False\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120, check=False)


def _wait_until_up(base_url: str, proc: subprocess.Popen, timeout: float = 180.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{base_url}/api/v2/monitor/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(1)
    return False


def admin_password(home: Path) -> str | None:
    try:
        return json.loads((home / PASSWORD_FILE).read_text()).get("admin")
    except (OSError, ValueError):
        return None


def run_local_airflow(port: int = 8080, host: str | None = None) -> int:
    from feedback.db.engine import display_url, get_engine, libpq_url
    from feedback.db.migrations import migrate
    from feedback_airflow import airflow_env
    from feedback_dev import smtp_sink

    host = host or os.environ.get("FEEDBACK_UP_HOST", "127.0.0.1")
    engine = get_engine()
    migrate(engine)
    sink = smtp_sink.start()
    env = airflow_env.airflow_env(register_url=libpq_url(engine), smtp_port=sink.port)
    env.update(one_machine_settings(host=host, port=port))
    # The SLA digests link to the supervisors' board (/feedback/console/overdue): locally, the admin may open it.
    if not os.environ.get("FEEDBACK_CONSOLE_SUPERVISORS"):
        env["FEEDBACK_CONSOLE_SUPERVISORS"] = "admin"
    full_env = {**os.environ, **env}
    home = Path(env["AIRFLOW_HOME"])
    base_url = f"http://127.0.0.1:{port}" if host in ("127.0.0.1", "0.0.0.0") else f"http://{host}:{port}"
    print(f"register: {display_url(engine)}", file=sys.stderr)
    print(f"mails are captured in {sink.folder} (SMTP 127.0.0.1:{sink.port})", file=sys.stderr)
    print(f"starting Airflow on {env['AIRFLOW__API__BASE_URL']} (listening on {host}; "
          f"{env['AIRFLOW__CORE__PARALLELISM']} task slots); Ctrl-C stops every component", file=sys.stderr)
    if (home / "airflow.db").exists():
        _unpause_existing(full_env)
    airflow = str(Path(sys.executable).parent / "airflow")
    proc = subprocess.Popen([airflow, "standalone"], env=full_env, start_new_session=True)
    # Ctrl-C (SIGINT, even when inherited as ignored) and SIGTERM both stop every component.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        if _wait_until_up(base_url, proc):
            password = admin_password(home)
            print(f"\nAirflow is up: {env['AIRFLOW__API__BASE_URL']}  user admin  password {password or '?'}"
                  f"  (kept in {home / PASSWORD_FILE}); the pipeline's DAGs are unpaused.\n",
                  file=sys.stderr, flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        print("\nstopping Airflow (every component) ...", file=sys.stderr, flush=True)
        stop_group(proc)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        if proc.poll() is None or _group_alive(proc.pid):
            stop_group(proc)
        sink.stop()

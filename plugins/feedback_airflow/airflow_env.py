"""Environment for running Airflow locally against this checkout.

`make demo`, `make up`, `feedback run` in a checkout and the DAG tests all need the same settings: Airflow's own
metadata in SQLite under `.local/airflow` (separate from the register), our dags/
and plugins/ folders, no example DAGs, and the `feedback_db` / `feedback_smtp`
connections pointing at the register and the local SMTP capture server unless
the operator configured real ones.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from feedback.business_time import business_zone
from feedback.paths import dags_dir, local_dir, plugins_dir, private_dir, project_root

CONFIGURED_ELSEWHERE = ("AIRFLOW_CONN_FEEDBACK_DB", "AIRFLOW_CONN_FEEDBACK_SMTP")


def airflow_home():
    return local_dir() / "airflow"


def airflow_env(register_url: str | None = None, smtp_port: int | None = None) -> dict[str, str]:
    """Variables to add to os.environ (or a subprocess env) before Airflow is imported."""
    home = private_dir(airflow_home())  # holds the admin password file and task logs: owner only
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_dir()),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins_dir()),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": business_zone().key,     # the UI shows business time
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "60",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "FEEDBACK_PROJECT_ROOT": str(project_root()),
    }
    # Airflow starts its components as `airflow …` subprocesses: keep this venv's bin first.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    path = [str(plugins_dir()), str(project_root() / "include")]
    if os.environ.get("PYTHONPATH"):
        path.append(os.environ["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(path)
    if register_url and not os.environ.get("AIRFLOW_CONN_FEEDBACK_DB"):
        env["AIRFLOW_CONN_FEEDBACK_DB"] = register_url
    if smtp_port and not os.environ.get("AIRFLOW_CONN_FEEDBACK_SMTP"):
        env["AIRFLOW_CONN_FEEDBACK_SMTP"] = f"smtp://127.0.0.1:{smtp_port}?disable_tls=true&disable_ssl=true"
    return env


def apply(env: dict[str, str]) -> None:
    """Put the variables into this process (before the first `import airflow`)."""
    os.environ.update(env)
    for entry in reversed(env["PYTHONPATH"].split(os.pathsep)):
        if entry not in sys.path:
            sys.path.insert(0, entry)

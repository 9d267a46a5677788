"""`feedback run DAG_ID [--at TIME]`: one run of a DAG now, through Airflow, on the configured servers.

Why it exists: after a fix and a release (`feedback quarantine release`), an operator wants
the stage to take the released rows now, not at its next tick, and through exactly the code
path the scheduler uses: the DAG file parsed from the dags folder the way the dag-processor
parses it, its tasks run by Airflow (`dag.test()`), against the configured register
(`feedback_db`) and mail server (`feedback_smtp`). Tests use it for the same reason.

On a deployment Airflow is configured already (AIRFLOW_HOME and its metadata DB); in a
checkout without AIRFLOW_HOME the local settings of `make demo` are used (SQLite metadata in
`.local/airflow`, migrated on first use). Airflow is imported only here, inside the call; the
`feedback` CLI gets the command through the `feedback.cli` entry point (feedback_airflow.cli).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from feedback.errors import FeedbackError

OK_STATES = {"success", "skipped"}


def parse_at(text: str | None, zone: str) -> datetime:
    """`--at`: ISO 8601 (`2026-10-16T10:00`, `2026-10-16 10:00+08:00`); a time without offset is business time."""
    if not text or text == "now":
        return datetime.now(UTC).replace(microsecond=0)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise FeedbackError(f"--at: not a time: {text!r} (expected e.g. 2026-10-16T10:00 or "
                            "2026-10-16T10:00+08:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(UTC)


def _prepare_airflow(say: Callable[[str], None]) -> None:
    """A configured Airflow as it is; in a bare checkout, the local settings with a migrated metadata DB."""
    from feedback.paths import plugins_dir, project_root

    if os.environ.get("AIRFLOW_HOME"):
        for entry in (str(plugins_dir()), str(project_root() / "include")):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        return
    from feedback.db.engine import get_engine, libpq_url
    from feedback_airflow import airflow_env

    env = airflow_env.airflow_env(register_url=libpq_url(get_engine()))
    airflow_env.apply(env)
    database = airflow_env.airflow_home() / "airflow.db"
    if not database.exists():
        say(f"preparing Airflow's metadata DB ({database})")
        log = airflow_env.airflow_home() / "db-migrate.log"
        with open(log, "w") as out:
            proc = subprocess.run([str(os.path.join(os.path.dirname(sys.executable), "airflow")), "db", "migrate"],
                                  env=os.environ.copy(), stdout=out, stderr=subprocess.STDOUT, check=False)
        if proc.returncode != 0:
            raise FeedbackError(f"`airflow db migrate` failed (exit {proc.returncode}); see {log}")


def run_dag(dag_id: str, at: datetime, say: Callable[[str], None]) -> dict[str, str]:
    """Run `dag_id` once at logical date `at`; returns each task's final state, raises one line on failure."""
    _prepare_airflow(say)
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    folder = conf.get("core", "dags_folder")   # the folder the dag-processor parses
    say(f"parsing {folder}")
    bag = DagBag(dag_folder=folder)
    if dag_id not in bag.dags:
        broken = ""
        if bag.import_errors:
            path, error = next(iter(bag.import_errors.items()))
            first = str(error).strip().splitlines()[-1] if str(error).strip() else "import error"
            broken = f"; {len(bag.import_errors)} DAG file(s) failed to import, first {path}: {first}"
        known = ", ".join(sorted(bag.dags)) or "none"
        raise FeedbackError(f"no DAG {dag_id!r} in {folder} (known: {known}){broken}")
    dag = bag.dags[dag_id]
    say(f"running {dag_id} at {at.isoformat()}: {len(dag.tasks)} task(s), {', '.join(t.task_id for t in dag.tasks)}")
    try:
        run = dag.test(logical_date=at)
    except Exception as error:  # noqa: BLE001 - Airflow itself could not run it: one line for the operator
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise FeedbackError(f"Airflow could not run {dag_id}: {type(error).__name__}: {first[:200]} "
                            "(is its metadata DB migrated? `airflow db migrate`)") from None
    states: dict[str, str] = {}
    for ti in sorted(run.get_task_instances(), key=lambda t: (t.task_id, t.map_index)):
        name = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        states[name] = str(ti.state)
    width = max((len(n) for n in states), default=0)
    for name, state in states.items():
        say(f"  {name:<{width}}  {state}")
    failed = [name for name, state in states.items() if state not in OK_STATES]
    if str(run.state) != "success" or failed:
        raise FeedbackError(f"{dag_id} at {at.isoformat()}: run {run.state}; "
                            f"not successful: {', '.join(failed) or 'the run'} (the task logs are above)")
    say(f"{dag_id} at {at.isoformat()}: success")
    return states

"""Every DAG file imports cleanly with no database or network, and follows the house rules."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((ROOT / "dags").glob("*.py"))
STABLE_IDS = {
    "feedback_ingest_email", "feedback_ingest_webforms", "feedback_ingest_platforms", "feedback_triage",
    "feedback_sla_monitor", "feedback_callbacks", "feedback_report_weekly", "feedback_report_monthly",
    "feedback_retention",
}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory) -> dict[str, str]:
    """Airflow settings in a scratch home; the register points at a closed port."""
    home = tmp_path_factory.mktemp("airflow-home")
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'never-created.db'}",
        "AIRFLOW_CONN_FEEDBACK_DB": f"postgresql://nobody@127.0.0.1:{_closed_port()}/nowhere",
        "FEEDBACK_LOCAL_DIR": str(home / "local"),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT / "include")]),
    }


def test_there_are_dag_files():
    assert DAG_FILES, "dags/ is empty"


@pytest.mark.parametrize("path", DAG_FILES, ids=[p.name for p in DAG_FILES])
def test_dag_file_imports_offline_without_side_effects(path, offline_env):
    """Import in a fresh interpreter: no DB, no network, nothing written to local state."""
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('dagfile', {str(path)!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
    )
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], env=offline_env, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-2000:]
    print(f"{path.name}: imported in {elapsed:.2f}s (fresh interpreter, Airflow included)")
    local = Path(offline_env["FEEDBACK_LOCAL_DIR"])
    assert not (local / "pgdata").exists(), "importing a DAG file started the embedded register"


@pytest.fixture(scope="module")
def dagbag():
    # conftest.py points Airflow at a scratch home before anything imports it.
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert len(dagbag.dags) == len(DAG_FILES), "one DAG per file"


def test_dag_ids_are_the_stable_names(dagbag):
    assert set(dagbag.dags) <= STABLE_IDS


def test_every_dag_has_owner_tags_doc_and_retries(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags and "feedback" in dag.tags, dag_id
        assert dag.doc_md and len(dag.doc_md.strip()) > 80, f"{dag_id}: doc_md should explain the DAG"
        assert dag.max_active_runs == 1 or dag.dag_id.startswith("feedback_report"), dag_id
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id}: set an owner"
            assert task.retries >= 2, f"{dag_id}.{task.task_id}: I/O tasks need retries >= 2"


def _callbacks(value) -> list:
    return [] if value is None else list(value) if isinstance(value, list | tuple) else [value]


def test_every_task_has_a_timeout_and_the_failure_alert(dagbag):
    """A hung task would hold back every later run (max_active_runs=1); a failed one must be heard of."""
    seen = 0
    for dag_id, dag in dagbag.dags.items():
        for task in dag.tasks:
            where = f"{dag_id}.{task.task_id}"
            timeout = task.execution_timeout
            assert timeout is not None, f"{where}: set an execution_timeout sized to its work"
            assert timedelta(0) < timeout <= timedelta(hours=2), f"{where}: execution_timeout {timeout}"
            names = {f"{cb.__module__}.{cb.__qualname__}" for cb in _callbacks(task.on_failure_callback)}
            assert "feedback_airflow.defaults.alert_on_failure" in names, f"{where}: no failure alert ({names})"
            seen += 1
    assert seen >= 20, "expected the tasks of every DAG"


def test_ingest_tasks_update_the_intake_asset_only_through_the_alias(dagbag):
    """Declared Asset outlets get an event on every success; the alias lets a task emit only when it stored rows."""
    from feedback_airflow.defaults import INTAKE_ALIAS, INTAKE_ASSET

    producers = []
    for dag_id, dag in dagbag.dags.items():
        for task in dag.tasks:
            outlets = list(task.outlets or [])
            assert INTAKE_ASSET not in outlets, f"{dag_id}.{task.task_id}: use INTAKE_ALIAS and announce_intake"
            if INTAKE_ALIAS in outlets:
                producers.append(f"{dag_id}.{task.task_id}")
    assert {p.split(".")[0] for p in producers} == {
        "feedback_ingest_email", "feedback_ingest_webforms", "feedback_ingest_platforms"}, producers
    for path in DAG_FILES:
        text = path.read_text()
        assert text.count("outlets=[INTAKE_ALIAS]") <= text.count("announce_intake(context,"), path.name


def test_dag_files_do_no_work_at_top_level():
    """DAG files are wiring: domain imports and register access happen inside tasks."""
    for path in DAG_FILES:
        top = [line for line in path.read_text().splitlines() if line and not line[0].isspace()]
        for line in top:
            assert not line.startswith(("from feedback.", "import feedback")), f"{path.name}: {line}"
            assert "Variable.get" not in line and "get_engine" not in line, f"{path.name}: {line}"


def _zone_name(zone) -> str:
    return getattr(zone, "name", None) or str(zone)


def _schedule_zones(dags) -> dict[str, str]:
    """dag id -> the zone of its cron timetable (an asset-or-time schedule's own timetable); interval DAGs have none."""
    zones = {}
    for dag_id, dag in dags.items():
        timetable = getattr(dag.timetable, "timetable", dag.timetable)
        if getattr(timetable, "expression", None) is not None:
            zones[dag_id] = _zone_name(timetable.timezone)
    return zones


def test_every_cron_timetable_runs_in_the_business_zone(dagbag):
    """Issue 18: settings.yaml `timezone` is the business zone; "06:00 on the 1st" means the office's 06:00."""
    from feedback.business_time import business_zone

    zone = business_zone().key
    zones = _schedule_zones(dagbag.dags)
    assert set(zones) >= {"feedback_triage", "feedback_sla_monitor", "feedback_callbacks", "feedback_retention",
                          "feedback_report_weekly", "feedback_report_monthly"}, zones
    assert {dag_id: z for dag_id, z in zones.items() if z != zone} == {}
    assert {dag_id: _zone_name(dag.timezone) for dag_id, dag in dagbag.dags.items()
            if _zone_name(dag.timezone) != zone} == {}, "start dates in another zone"


def test_the_dags_take_their_zone_from_settings(offline_env, tmp_path):
    """Another zone in settings.yaml moves every cron schedule with it (parsed in a fresh interpreter)."""
    configs = tmp_path / "config"
    shutil.copytree(ROOT / "include" / "config", configs)
    settings = configs / "settings.yaml"
    text = settings.read_text()
    assert "timezone: Asia/Shanghai" in text
    settings.write_text(text.replace("timezone: Asia/Shanghai", "timezone: Europe/Berlin"))
    code = (
        "import json, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from test_dag_integrity import _schedule_zones\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(ROOT / 'dags')!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "print(json.dumps({'cron': _schedule_zones(bag.dags),"
        " 'start': {i: str(d.timezone.name) for i, d in bag.dags.items()}}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], capture_output=True, text=True,
                          timeout=300, env={**offline_env, "FEEDBACK_CONFIG_DIR": str(configs)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(found["cron"]) >= 6 and set(found["cron"].values()) == {"Europe/Berlin"}, found
    assert set(found["start"].values()) == {"Europe/Berlin"}, found


def test_every_outbox_kind_has_one_owner_dag_that_sends_it(dagbag):
    """Issue 18: the outbox has owners. Each kind is delivered by one DAG's send task, and by no other."""
    from feedback.notify.owners import OWNERS, REPORT_OWNER, kinds_of, owner_of
    from feedback.vocabulary import OutboxKind

    assert set(OWNERS) == set(OutboxKind), "a kind without an owner would never be sent"
    senders: dict[str, set[str]] = {}           # kind -> the DAGs whose send task delivers it
    for dag_id, dag in dagbag.dags.items():
        for task in dag.tasks:
            owner = (getattr(task, "op_kwargs", None) or {}).get("outbox_owner")
            if owner is None:
                continue
            assert owner == owner_of(dag_id), f"{dag_id}.{task.task_id} sends the kinds of {owner}"
            for kind in kinds_of(owner):
                senders.setdefault(kind, set()).add(dag_id)
    expected = {kind.value: ({"feedback_report_weekly", "feedback_report_monthly"} if owner == REPORT_OWNER
                             else {owner}) for kind, owner in OWNERS.items()}
    assert senders == expected
    # Nothing sends unfiltered: the DAGs and the plugin reach the sender only through send_outbox(owner).
    for path in [*DAG_FILES, *sorted((ROOT / "plugins").rglob("*.py"))]:
        text = path.read_text()
        assert text.count("send_pending(") == text.count("kinds=kinds_of(outbox_owner)"), path.name
        assert text.count("send_outbox(") <= text.count("send_outbox(outbox_owner,") + (path.name == "defaults.py")

"""The pipeline under a real Airflow deployment: scheduler, CeleryExecutor, Redis, PostgreSQL.

What `docker-compose.yaml` runs, as separate processes on this machine (tests/e2e/airflow_deployment.py):
api-server, scheduler, dag-processor, triggerer and one Celery worker, with compose's environment
(CeleryExecutor, FAB auth manager, JWT secret, Fernet key, FEEDBACK_LOCAL=0), Airflow's metadata in a
throwaway PostgreSQL database, the register in another (the `register` fixture), Redis as broker (a
throwaway `redis-server` on a free loopback port), the SMTP capture as `feedback_smtp`, and the Zendesk and
Trustpilot simulators as the platforms. The demo's sample (mail into the Maildirs, web-form exports into the
drop folder, platform records into the simulators) is delivered, then the DAGs are unpaused through the REST
API, as an operator would.

How "on schedule" is shown without changing any DAG's schedule or adding a test timetable: every DAG has
`catchup=False`, and for those Airflow creates, when a DAG is unpaused, a *scheduled* run for its most recent
slot (the last 5-minute mark for the ingest DAGs and the SLA monitor, the last full hour for the callbacks, the
month just closed for the monthly report), then one per slot. So the test switches the DAGs on through the REST
API in pipeline order and checks that the scheduler created and ran a `scheduled` run of each on the worker:
no waiting an hour, and exactly the runs a deployment switched on at that moment gets. The SLA monitor's slot
is earlier than the items, yet their deadlines (in the sample's month) have passed, so it records breaches and
mails digests. The callbacks' slot is earlier than the resolutions the test feeds (as the handlers' CRM would),
and a run handles only events up to its instant, so an operator's manual run (queued behind the scheduled one)
schedules the calls. Triage must start from the intake asset (a run of type `asset_triggered`). The monthly
report is switched on last (its scheduled run renders the month just closed) and the sample's month is asked
for through the `month` param: the same figures twice, so one archived version, mailed once.

The counts of the register after ingest and triage are compared with a `dag.test()` run of the same DAGs
over the same sample in a separate register (the way `make demo` runs them), and no task instance may fail.
Each component's log is printed when something fails. Without `redis-server` the test is skipped with a
message (under CI=true it fails instead, like the Dovecot tests).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from airflow_deployment import ComponentUnavailable, Deployment, RedisServer
from conftest import _admin_engine, _drop, _in_ci
from reference_run import INGEST, counts, deliver_sample

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(480)]

HERE = Path(__file__).resolve().parent
ZONE = ZoneInfo("Asia/Shanghai")
SEED, VOLUME = 20261001, 60
HASH_KEY = "e2e-hash-key-" + uuid.uuid4().hex


def sample_month(now: datetime) -> str:
    """The calendar month before `now` (Asia/Shanghai): a closed month, so its report can be rendered."""
    first = now.astimezone(ZONE).replace(day=1)
    return f"{first - timedelta(days=1):%Y-%m}"


@contextlib.contextmanager
def scratch_database(server_url: sa.engine.URL, prefix: str, template: str | None = None):
    """A throwaway database on the test server (a copy of `template` when given), dropped afterwards."""
    admin = _admin_engine(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    try:
        yield server_url.set(database=name)
    finally:
        _drop(admin, name)
        admin.dispose()


@contextlib.contextmanager
def reference_process(url: sa.engine.URL, month: str, base: Path):
    """tests/e2e/reference_run.py in the background; yields a function that waits for its counts."""
    env = {**os.environ, "AIRFLOW_CONN_FEEDBACK_DB": url.set(drivername="postgresql").render_as_string(False),
           "FEEDBACK_LOCAL_DIR": str(base / "local"), "FEEDBACK_HASH_KEY": HASH_KEY}
    base.mkdir(parents=True, exist_ok=True)
    log = base / "reference.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(HERE / "reference_run.py"), "--seed", str(SEED),
                                 "--volume", str(VOLUME), "--month", month],
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def result(timeout: float) -> dict:
        code = proc.wait(timeout)
        text = log.read_text(errors="replace")
        found = [line for line in text.splitlines() if line.startswith("REFERENCE-COUNTS ")]
        assert code == 0 and found, f"the reference run failed (exit {code}):\n{text[-6000:]}"
        return json.loads(found[-1].split(" ", 1)[1])

    try:
        yield result
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait(10)


# --- what the deployment's metadata says -----------------------------------------------------------


def runs(dep: Deployment, dag_id: str) -> list[sa.Row]:
    return dep.query("SELECT run_id, run_type, state, conf FROM dag_run WHERE dag_id = :d ORDER BY id", d=dag_id)


def succeeded(dep: Deployment, dag_id: str, run_type: str | None = None) -> bool:
    return any(r.state == "success" and (run_type is None or r.run_type == run_type) for r in runs(dep, dag_id))


def idle(dep: Deployment, dag_id: str) -> bool:
    return not any(r.state in ("queued", "running") for r in runs(dep, dag_id))


def failures(dep: Deployment) -> list[sa.Row]:
    return dep.query("SELECT dag_id, run_id, task_id, map_index, state FROM task_instance "
                     "WHERE state IN ('failed', 'upstream_failed', 'up_for_retry') "
                     "UNION ALL SELECT dag_id, run_id, NULL, NULL, state FROM dag_run WHERE state = 'failed'")


def timeline(dep: Deployment) -> str:
    """Every task instance: run type, state, seconds queued and running, and its return value (counts only)."""
    rows = dep.query(
        """SELECT ti.dag_id, ti.task_id, ti.map_index, r.run_type, ti.state,
                  extract(epoch FROM ti.start_date - ti.queued_dttm) AS waited,
                  extract(epoch FROM ti.end_date - ti.start_date) AS took, x.value
             FROM task_instance ti JOIN dag_run r ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id
             LEFT JOIN xcom x ON x.dag_id = ti.dag_id AND x.run_id = ti.run_id AND x.task_id = ti.task_id
                              AND x.map_index = ti.map_index AND x.key = 'return_value'
            ORDER BY ti.start_date NULLS LAST""")
    return "\n".join(f"{r.dag_id:<26} {r.task_id:<28} {r.map_index:>2} {r.run_type:<15} {r.state or '-':<8} "
                     f"queued {r.waited or 0:5.1f}s ran {r.took or 0:5.1f}s {str(r.value)[:160]}" for r in rows)


def outbox_summary(register) -> list:
    with register.connect() as conn:
        return conn.execute(sa.text("SELECT kind, sent_at IS NOT NULL AS sent, count(*) FROM feedback.outbox "
                                    "GROUP BY 1, 2 ORDER BY 1, 2")).all()


@pytest.fixture
def redis_server(tmp_path):
    try:
        server = RedisServer(tmp_path / "redis")
    except ComponentUnavailable as exc:
        if _in_ci():
            pytest.fail(f"{exc} — CI is set, so the Celery deployment test fails instead of being skipped",
                        pytrace=False)
        pytest.skip(f"no Redis for the Celery broker: {exc}")
    yield server
    server.stop()


def test_pipeline_runs_under_the_scheduler_with_celery(register, server_url, template_db, airflow_db, smtp_capture,
                                                       redis_server, tmp_path, monkeypatch):
    from feedback_dev.demo import register_vips
    from feedback_dev.sample import generate

    started = time.monotonic()
    monkeypatch.setenv("FEEDBACK_HASH_KEY", HASH_KEY)
    register_url = os.environ["AIRFLOW_CONN_FEEDBACK_DB"]
    month = sample_month(datetime.now(UTC))
    sample = generate(seed=SEED, volume=VOLUME, month=month)

    # The deployment's sample, delivered where its DAGs read it (Maildirs, drop folder, platform simulators).
    local = tmp_path / "deployment-local"
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(local))
    platforms, platform_connections = deliver_sample(sample, month)
    register_vips(register)

    with (scratch_database(server_url, "feedback_ref", template_db) as reference_url,
          reference_process(reference_url, month, tmp_path / "reference") as reference,
          scratch_database(server_url, "airflow_e2e") as metadata_url):
        dep = Deployment(
            base=tmp_path / "deployment",
            metadata_url=metadata_url,
            broker_url=redis_server.url,
            concurrency=3,
            feedback_env={
                "AIRFLOW_CONN_FEEDBACK_DB": register_url,
                "AIRFLOW_CONN_FEEDBACK_SMTP": os.environ["AIRFLOW_CONN_FEEDBACK_SMTP"],
                "FEEDBACK_VAULT_KEYS": os.environ["FEEDBACK_VAULT_KEYS"],
                "FEEDBACK_HASH_KEY": HASH_KEY,
                "FEEDBACK_LOCAL_DIR": str(local),
                **platform_connections,
            },
        )
        try:
            run_deployment(dep, register, month, reference, smtp_capture)
        except BaseException:
            print(dep.logs_report())
            print(dep.task_logs()[-30000:])
            with contextlib.suppress(Exception):
                print(timeline(dep))
                print("outbox:", outbox_summary(register))
            raise
        finally:
            dep.stop()
            platforms.stop()
        left = [p.name for p in dep.processes if p.group_alive()]
        assert not left, f"processes of {left} still running after stop"
    print(f"[e2e] whole test {time.monotonic() - started:.0f}s")


def run_deployment(dep: Deployment, register, month: str, reference, smtp_capture) -> None:
    from feedback_dev.demo import simulate_handlers

    phase = time.monotonic()

    def mark(what: str) -> None:
        nonlocal phase
        print(f"[e2e] {what}: {time.monotonic() - phase:.0f}s", flush=True)
        phase = time.monotonic()

    # What compose's airflow-init does, then every component as its own process.
    # The admin is created before the components start, as compose's airflow-init finishes before they do:
    # `users create` and the api-server's start both sync FAB's roles, and at the same time they collide.
    dep.migrate()
    dep.create_admin()
    mark("metadata DB migrated, admin created")
    dep.start()
    dep.wait(dep.api_ready, 120, "the api-server's health endpoint")
    dep.wait(dep.worker_ready, 120, "the Celery worker to be ready")
    dag_ids = (*INGEST, "feedback_triage", "feedback_sla_monitor", "feedback_callbacks", "feedback_report_monthly")
    dep.wait(lambda: {r.dag_id for r in dep.query("SELECT dag_id FROM dag WHERE NOT is_stale")} >= set(dag_ids),
             150, "the dag-processor to parse the DAGs")
    assert dep.query("SELECT filename, stacktrace FROM import_error") == []
    mark("components up, DAGs parsed")
    token = dep.token()

    # Triage first (its time slot runs at once, on an empty intake), then the ingest DAGs.
    for dag_id in ("feedback_triage", *INGEST):
        assert dep.api("PATCH", f"/dags/{dag_id}", token, {"is_paused": False})["is_paused"] is False
    dep.wait(lambda: all(succeeded(dep, d) for d in INGEST), 180, "a successful run of every ingest DAG")
    mark("ingest done")

    def triage_settled() -> bool:
        with register.connect() as conn:
            pending = conn.execute(sa.text("SELECT count(*) FROM feedback.intake WHERE status = 'new'")).scalar_one()
        return (pending == 0 and succeeded(dep, "feedback_triage", "asset_triggered")
                and idle(dep, "feedback_triage") and all(idle(dep, d) for d in INGEST))

    dep.wait(triage_settled, 180, "triage to start from the intake asset and register every item")
    mark("triage settled")
    expected = reference(60)
    assert counts(register) == expected, "the deployment's register differs from dag.test() over the same sample"
    assert sum(expected["feedback"].values()) > 0
    mark("reference compared")

    # The handling teams' CRM resolves items. The SLA monitor and the callbacks are switched on: the scheduler runs
    # each one's latest slot at once. Those slots precede the items, so an operator's manual run of the callbacks
    # (queued behind the scheduled one) is what schedules the calls for the resolutions just fed.
    assert simulate_handlers(register, datetime.now(UTC)) > 0
    for dag_id in ("feedback_sla_monitor", "feedback_callbacks"):
        assert dep.api("PATCH", f"/dags/{dag_id}", token, {"is_paused": False})["is_paused"] is False
    dep.api("POST", "/dags/feedback_callbacks/dagRuns", token, {"logical_date": None})
    dep.wait(lambda: succeeded(dep, "feedback_sla_monitor", "scheduled") and idle(dep, "feedback_sla_monitor")
             and succeeded(dep, "feedback_callbacks", "scheduled") and succeeded(dep, "feedback_callbacks", "manual")
             and idle(dep, "feedback_callbacks"), 180, "scheduled runs of the SLA monitor and the callbacks")
    mark("SLA monitor and callbacks done")

    # Month end: the report DAG is switched on (the scheduler runs its latest interval, the month just closed) and
    # the sample's month is asked for through the `month` param; same figures, so one version, mailed once.
    assert dep.api("PATCH", "/dags/feedback_report_monthly", token, {"is_paused": False})["is_paused"] is False
    dep.api("POST", "/dags/feedback_report_monthly/dagRuns", token, {"logical_date": None, "conf": {"month": month}})
    dep.wait(lambda: any(r.state == "success" and (r.conf or {}).get("month") == month
                         for r in runs(dep, "feedback_report_monthly"))
             and idle(dep, "feedback_report_monthly"), 180, "the monthly report run for the sample's month")
    mark("monthly report done")
    print(timeline(dep))

    # No task failed (nor needed a retry), anywhere.
    assert failures(dep) == []

    # Every task ran on the Celery worker: queued by the scheduler's job, sent as a Celery task (its id kept on
    # the task instance), and the worker stored that task's result (SUCCESS) in the result backend.
    tis = dep.query("SELECT ti.dag_id, ti.task_id, ti.external_executor_id, ti.hostname, j.job_type, "
                    "j.executor_class FROM task_instance ti LEFT JOIN job j ON j.id = ti.queued_by_job_id "
                    "WHERE ti.state = 'success'")
    assert {t.dag_id for t in tis} >= set(dag_ids), {t.dag_id for t in tis}
    assert all(t.job_type == "SchedulerJob" and t.external_executor_id and t.hostname for t in tis), tis
    executors = {t.executor_class for t in tis}
    assert all(e is None or "CeleryExecutor" in e for e in executors), executors

    def without_result() -> list[tuple[str, str]]:
        results = {r.task_id: r.status for r in dep.query("SELECT task_id, status FROM celery_taskmeta")}
        return [(t.dag_id, t.task_id) for t in tis if results.get(t.external_executor_id) != "SUCCESS"]

    # A task reports its state to the API server before the worker stores the Celery result: allow a moment.
    with contextlib.suppress(TimeoutError):
        dep.wait(lambda: not without_result(), 30, "the Celery results of the last tasks")
    assert not without_result(), f"task instances without a Celery result: {without_result()}"

    # The SLA monitor recorded breaches and mailed its digests; the callbacks scheduled calls for resolved items;
    # the month's report is archived once (workbook and PDF) and mailed once with both attached.
    with register.connect() as conn:
        def count(sql: str) -> int:
            return conn.execute(sa.text(sql)).scalar_one()

        assert count("SELECT count(*) FROM feedback.sla_breach") > 0
        assert count("SELECT count(*) FROM feedback.callback_task") > 0
        archived = conn.execute(sa.text(
            "SELECT version, file_name FROM feedback.report_archive WHERE report_kind = 'monthly' "
            "AND period_start = CAST(:start AS date)"), {"start": f"{month}-01"}).all()
    assert archived and {a.version for a in archived} == {1}, archived
    assert {Path(a.file_name).suffix for a in archived} >= {".xlsx", ".pdf"}, archived
    mails = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
             for p in smtp_capture.folder.glob("*.eml")]
    kinds = sorted({m["X-Feedback-Outbox"] for m in mails})
    assert {"ack", "sla_digest"} <= set(kinds), (kinds, outbox_summary(register))
    reports = [m for m in mails if m["X-Feedback-Outbox"] == "report"
               and any(month in (a.get_filename() or "") for a in m.iter_attachments())]
    assert len(reports) == 1, [m["Subject"] for m in mails if m["X-Feedback-Outbox"] == "report"]
    attached = {Path(a.get_filename() or "").suffix for a in reports[0].iter_attachments()}
    assert attached >= {".xlsx", ".pdf"}, attached
    dep.check_alive()

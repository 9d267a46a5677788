"""The pipeline tells someone when it fails, and tells triage only about new data (runs through dag.test)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from conftest import ROOT, load_dag, scalar

PHONE = "13812345678"


def failing_dag(monkeypatch):
    """feedback_ingest_webforms with two of its tasks made to fail (one with personal data in its message).

    A real pipeline DAG, so the callback under test is the one its shared defaults give every task.
    """
    dag = load_dag("feedback_ingest_webforms.py", "feedback_ingest_webforms")

    def leaky(**_):
        raise ValueError(f"row for customer {PHONE} could not be stored")

    def also_fails(**_):
        raise RuntimeError("second failure in the same run")

    for task in dag.tasks:
        monkeypatch.setattr(task, "retries", 0)
    monkeypatch.setattr(dag.get_task("ingest_drop_folders"), "python_callable", leaky)
    monkeypatch.setattr(dag.get_task("move_landed_submissions"), "python_callable", also_fails)
    return dag


def alert_rows(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT kind, dedup_key, recipient, subject, body, payload::text AS payload "
                                    "FROM feedback.outbox ORDER BY id")).all()


def test_a_failed_run_sends_exactly_one_alert_without_personal_data(airflow_db, register, smtp_capture,
                                                                     drop_folder, monkeypatch):
    dag = failing_dag(monkeypatch)
    run = dag.test(logical_date=datetime(2026, 10, 5, 2, 0, tzinfo=UTC))
    assert run.state == "failed"
    failed = {ti.task_id for ti in run.get_task_instances() if ti.state == "failed"}
    assert failed == {"ingest_drop_folders", "move_landed_submissions"}, failed

    rows = alert_rows(register)
    assert len(rows) == 1, [r.dedup_key for r in rows]  # two failed tasks, one run: one alert
    row = rows[0]
    assert row.kind == "pipeline_failure"
    assert row.recipient == "cs-duty@example.com"          # escalation.yaml groups.default (no `pipeline` role)
    assert row.dedup_key == f"pipeline_failure:cs-duty@example.com:feedback_ingest_webforms:{run.run_id}"
    assert "feedback_ingest_webforms" in row.subject and run.run_id in row.body
    assert "ValueError" in row.body or "RuntimeError" in row.body
    for text in (row.subject, row.body, row.payload):
        assert PHONE not in text and "could not be stored" not in text, "the exception message leaked"

    again = dag.test(logical_date=datetime(2026, 10, 6, 2, 0, tzinfo=UTC))   # another failed run: its own alert
    assert again.state == "failed"
    assert len(alert_rows(register)) == 2

    # Delivered on the same road as the SLA digests.
    from feedback.notify.sender import send_pending
    from feedback_airflow.register import smtp_settings

    sent = send_pending(register, smtp=smtp_settings(), now=datetime(2026, 10, 6, 3, 0, tzinfo=UTC))
    assert sent["sent"] == 2, sent
    mails = sorted(smtp_capture.folder.glob("*.eml"))
    assert len(mails) == 2
    assert all(PHONE.encode() not in m.read_bytes() for m in mails)
    assert scalar(register, "SELECT count(*) FROM feedback.outbox WHERE sent_at IS NULL") == 0


def test_the_alert_failing_does_not_hide_the_task_failure(airflow_db, drop_folder, monkeypatch, capfd, caplog):
    """With the register unreachable the alert cannot be written: logged in one line, the run still fails."""
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_DB", "postgresql://nobody@127.0.0.1:9/nowhere")
    dag = load_dag("feedback_ingest_webforms.py", "feedback_ingest_webforms")
    for task in dag.tasks:
        monkeypatch.setattr(task, "retries", 0)
    run = dag.test(logical_date=datetime(2026, 10, 5, tzinfo=UTC))
    assert run.state == "failed"
    text = "".join(capfd.readouterr()) + caplog.text   # where the log ends up depends on Airflow's logging setup
    assert "could not write the pipeline failure alert for feedback_ingest_webforms: RegisterUnreachable" in text


# --- the intake asset means new data -------------------------------------------------------------------


def intake_events() -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.execute(
            sa.select(AssetEvent.extra, AssetEvent.source_dag_id, AssetEvent.source_task_id)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == "feedback://register/intake")
        ).all()
    return [{"extra": r.extra, "dag": r.source_dag_id, "task": r.source_task_id} for r in rows]


@pytest.fixture
def drop_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path))
    folder = tmp_path / "landing" / "webforms"  # channels.yaml: drops[site_export].path
    folder.mkdir(parents=True)
    return folder


def test_ingest_updates_the_intake_asset_only_when_it_stored_rows(airflow_db, register, drop_folder):
    dag = load_dag("feedback_ingest_webforms.py", "feedback_ingest_webforms")
    before = len(intake_events())

    empty = dag.test(logical_date=datetime(2026, 10, 20, tzinfo=UTC))      # nothing to read
    assert empty.state == "success"
    assert len(intake_events()) == before, "a run that stored nothing must not trigger triage"

    for n in range(3):
        (drop_folder / f"2026102{n}T100000-wf-asset-{n}.json").write_text(json.dumps({
            "submission_id": f"wf-asset-{n}", "form": "contact_zh", "submitted_at": f"2026-10-2{n}T10:00:00+08:00",
            "fields": {"name": "王五", "message": f"第{n}条反馈"}}, ensure_ascii=False), encoding="utf-8")
    stored = dag.test(logical_date=datetime(2026, 10, 21, tzinfo=UTC))
    assert stored.state == "success"
    assert scalar(register, "SELECT count(*) FROM feedback.intake WHERE channel = 'webform'") == 3
    events = intake_events()[before:]
    assert len(events) == 1, events
    assert events[0]["task"] == "ingest_drop_folders" and events[0]["extra"] == {"rows": 3}

    rerun = dag.test(logical_date=datetime(2026, 10, 22, tzinfo=UTC))      # the same files: duplicates only
    assert rerun.state == "success"
    assert len(intake_events()) == before + 1


def test_rows_stored_counts_every_inserted_figure():
    from feedback_airflow.defaults import rows_stored

    mail = {"mailbox": "support", "folders": [{"folder": "INBOX", "inserted": 2}, {"folder": "Sent", "inserted": 1}]}
    assert rows_stored(mail) == 3
    assert rows_stored({"site_export": {"inserted": 0, "duplicates": 4}}) == 0
    assert rows_stored({"pages": 2, "inserted": 5, "edits": 1}) == 5
    assert (ROOT / "dags").is_dir()

"""feedback_ingest_webforms run through Airflow (dag.test) against a real register."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import load_dag, scalar

ROOT = Path(__file__).resolve().parents[2]
PHONE, EMAIL, NAME = "13912345678", "li.si.private@example.cn", "李四"


def _submission(n: int) -> bytes:
    return json.dumps(
        {
            "submission_id": f"wf-run-{n}",
            "form": "contact_zh",
            "submitted_at": f"2026-10-0{1 + n % 9}T10:00:00+08:00",
            "fields": {"name": NAME, "phone": PHONE, "email": EMAIL, "message": f"请联系{EMAIL}，电话{PHONE}"},
        },
        ensure_ascii=False,
    ).encode()


@pytest.fixture
def dag(airflow_db):
    return load_dag("feedback_ingest_webforms.py", "feedback_ingest_webforms")


@pytest.fixture
def drop_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path))
    folder = tmp_path / "landing" / "webforms"  # channels.yaml: drops[site_export].path
    folder.mkdir(parents=True)
    return folder


def test_run_stores_each_submission_once_and_logs_no_contacts(dag, register, drop_folder, capfd):
    for n in range(5):
        (drop_folder / f"2026100{n}T100000-wf-run-{n}.json").write_bytes(_submission(n))
    (drop_folder / "20261009T000000-broken.json").write_bytes(b"{broken")

    first = dag.test(logical_date=datetime(2026, 10, 10, tzinfo=UTC))
    assert first.state == "success"
    assert scalar(register, "SELECT count(*) FROM feedback.intake WHERE channel = 'webform'") == 5
    assert scalar(register, "SELECT count(*) FROM feedback.quarantine WHERE reason = 'invalid_json'") == 1

    second = dag.test(logical_date=datetime(2026, 10, 11, tzinfo=UTC))
    assert second.state == "success"
    assert scalar(register, "SELECT count(*) FROM feedback.intake") == 5
    assert scalar(register, "SELECT count(*) FROM feedback.quarantine") == 1

    logs = capfd.readouterr()
    text = logs.out + logs.err
    assert "ingest_drop_folders" in text, "expected the task's log output to be captured"
    for secret in (PHONE, EMAIL, NAME):
        assert secret not in text, "personal data appeared in the task logs"


def test_run_without_a_logical_date_uses_the_run_after_instant(dag, register, drop_folder):
    """A manual run (no data interval) still stamps rows with the run's time, not NULL or the wall clock."""
    (drop_folder / "20261001T100000-bad.json").write_bytes(b"not json")
    run = dag.test(run_after=datetime(2026, 10, 15, 8, 0, tzinfo=UTC), logical_date=None)
    assert run.state == "success"
    assert scalar(register, "SELECT parked_at FROM feedback.quarantine") == datetime(2026, 10, 15, 8, 0, tzinfo=UTC)
    assert scalar(register, "SELECT updated_at FROM feedback.channel_cursor") == datetime(
        2026, 10, 15, 8, 0, tzinfo=UTC
    )


def test_unreachable_register_fails_the_task_with_one_clear_line(dag, drop_folder, monkeypatch, capfd):
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_DB", "postgresql://nobody@127.0.0.1:9/nowhere")
    for task in dag.tasks:  # the retries are real (with back-off); this test is about the message
        monkeypatch.setattr(task, "retries", 0)
    run = dag.test(logical_date=datetime(2026, 10, 12, tzinfo=UTC))
    assert run.state == "failed"
    text = "".join(capfd.readouterr())
    assert "cannot reach the register at 127.0.0.1:9" in text

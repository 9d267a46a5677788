"""feedback_triage run through Airflow (dag.test): items registered, task logs free of planted contacts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import load_dag, scalar

ROOT = Path(__file__).resolve().parents[2]
PHONE, EMAIL, NAME = "13987654321", "wang.private@163.com", "王小明"


@pytest.fixture
def dag(airflow_db):
    return load_dag("feedback_triage.py", "feedback_triage")


def test_triage_dag_registers_items_and_logs_no_contacts(dag, register, smtp_capture, capfd):
    with register.begin() as conn:
        for n in range(4):
            payload = {"subject": "支付失败", "body": f"支付失败！请回电{PHONE}或发邮件{EMAIL}。{NAME}",
                       "contact": {"name": NAME, "phone": PHONE, "email": EMAIL}}
            conn.execute(
                sa.text("INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, "
                        "content_sha256) VALUES ('webform', 'contact_zh', :e, :t, CAST(:p AS jsonb), :h)"),
                {"e": f"wf-dag{n:06d}", "t": datetime(2026, 10, 9, 2, n, tzinfo=UTC),
                 "p": json.dumps(payload, ensure_ascii=False), "h": "0" * 64},
            )
    run = dag.test(logical_date=datetime(2026, 10, 9, 4, 0, tzinfo=UTC))
    assert run.state == "success"
    assert scalar(register, "SELECT count(*) FROM feedback.feedback") == 4
    assert scalar(register, "SELECT count(*) FROM feedback.feedback WHERE priority = 'urgent'") == 4
    # Web-form customers who left an address get the receipt (at most 3 an hour per address), sent by the DAG.
    assert scalar(register, "SELECT count(*) FROM feedback.outbox WHERE kind = 'ack' AND sent_at IS NOT NULL") == 3
    assert len(list(smtp_capture.folder.glob("*.eml"))) == 3
    out = "".join(capfd.readouterr())
    assert "triage_new_intake" in out and "registered" in out
    for secret in (PHONE, EMAIL, NAME, "139 8765 4321"):
        assert secret not in out, "a planted contact reached the task log"


def test_a_poison_row_is_held_and_the_run_succeeds(dag, register, capfd):
    poison = "14087654321"   # the masker does not know 140 as a mobile prefix; the gate does
    with register.begin() as conn:
        for n, body in enumerate([f"请回电{poison}", "物流太慢了", "支付失败，扣款未到账"]):
            payload = {"subject": "反馈", "body": body, "contact": {}}
            conn.execute(
                sa.text("INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, "
                        "content_sha256) VALUES ('webform', 'contact_zh', :e, :t, CAST(:p AS jsonb), :h)"),
                {"e": f"wf-poison{n:06d}", "t": datetime(2026, 10, 9, 2, n, tzinfo=UTC),
                 "p": json.dumps(payload, ensure_ascii=False), "h": "0" * 64},
            )
    run = dag.test(logical_date=datetime(2026, 10, 9, 4, 0, tzinfo=UTC))
    assert run.state == "success"
    assert scalar(register, "SELECT count(*) FROM feedback.feedback") == 2
    assert scalar(register, "SELECT status_reason FROM feedback.intake WHERE status = 'held'") \
        == "leak_gate: feedback.description phone"
    out = "".join(capfd.readouterr())
    assert "held" in out and poison not in out

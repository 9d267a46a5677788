"""feedback_callbacks through Airflow (dag.test): resolved items get their callbacks, surveys arrive once by SMTP."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from conftest import load_dag, scalar

from feedback.triage import run as triage

ITEMS = [
    ("支付失败，扣了钱订单没成功", {"email": "li.lei@example.com", "phone": "13712345678"}),
    ("app频繁闪退，用不了", {"email": "han.meimei@example.org"}),
    ("希望增加夜间模式", {"phone": "13612345678"}),                 # no e-mail: phone callback only
]
RECEIVED = datetime(2026, 10, 13, 2, 0, tzinfo=UTC)
RESOLVED = datetime(2026, 10, 14, 3, 0, tzinfo=UTC)


@pytest.fixture
def dag(airflow_db):
    return load_dag("feedback_callbacks.py", "feedback_callbacks")




@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "callbacks-dag-test-hash-key-01234")
    monkeypatch.setenv("FEEDBACK_SURVEY_KEY", "callbacks-dag-test-survey-key-0123")


def test_callbacks_dag_schedules_and_mails_each_survey_once(dag, register, smtp_capture, capfd):
    with register.begin() as conn:
        for n, (text, contact) in enumerate(ITEMS):
            conn.execute(
                sa.text("INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, "
                        "content_sha256) VALUES ('webform', 'contact_zh', :e, :t, CAST(:p AS jsonb), :h)"),
                {"e": f"wf-cb{n:06d}", "t": RECEIVED,
                 "p": json.dumps({"body": text, "contact": contact}, ensure_ascii=False), "h": "0" * 64},
            )
    triage.triage_pending(register, RECEIVED, triage.load_context(gate=False))
    with register.begin() as conn:                    # the handlers' CRM resolves all three
        conn.execute(sa.text("INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor) "
                             "SELECT id, 'resolved', :t, 'crm' FROM feedback.feedback"), {"t": RESOLVED})

    run = dag.test(logical_date=datetime(2026, 10, 14, 4, 0, tzinfo=UTC))
    assert run.state == "success"
    assert scalar(register, "SELECT count(*) FROM feedback.feedback WHERE status = 'resolved'") == 3
    assert scalar(register, "SELECT count(*) FROM feedback.callback_task WHERE status = 'pending'") == 3
    assert scalar(register, "SELECT count(*) FROM feedback.callback_agent WHERE active") >= 1
    assert scalar(register, "SELECT count(*) FROM feedback.callback_task WHERE assigned_to IS NULL") == 0
    mails = sorted(smtp_capture.folder.glob("*.eml"))
    assert len(mails) == 2, "one survey per item with an e-mail address"
    assert scalar(register, "SELECT count(*) FROM feedback.outbox WHERE kind = 'survey' AND sent_at IS NOT NULL") == 2
    recipients = set()
    for path in mails:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        recipients.add(message["To"])
        assert message["X-Feedback-Outbox"] == "survey"
        assert "/feedback/survey/" in message.get_body(("plain",)).get_content()
    assert recipients == {"li.lei@example.com", "han.meimei@example.org"}   # revealed only at sending
    assert scalar(register, "SELECT count(*) FROM feedback.contact_reveal WHERE actor = 'outbox'") == 2

    again = dag.test(logical_date=datetime(2026, 10, 14, 5, 0, tzinfo=UTC))
    assert again.state == "success"
    assert len(sorted(smtp_capture.folder.glob("*.eml"))) == 2, "a survey was sent twice"
    assert scalar(register, "SELECT count(*) FROM feedback.callback_task") == 3

    logs = "".join(capfd.readouterr())
    assert "schedule_callbacks" in logs
    for secret in ("li.lei@example.com", "han.meimei", "13712345678", "13612345678"):
        assert secret not in logs
    with register.connect() as conn:
        outbox = "\n".join(conn.execute(sa.text("SELECT row_to_json(o)::text FROM feedback.outbox o")).scalars())
    assert "li.lei" not in outbox and "han.meimei" not in outbox

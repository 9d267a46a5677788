"""feedback_sla_monitor through Airflow (dag.test): breaches recorded once, digests delivered once by SMTP."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import load_dag, scalar

from feedback.triage import run as triage

ROOT = Path(__file__).resolve().parents[2]
PHONE = "13712345678"


@pytest.fixture
def dag(airflow_db):
    return load_dag("feedback_sla_monitor.py", "feedback_sla_monitor")




def test_monitor_dag_records_breaches_and_mails_one_digest_per_recipient(dag, register, smtp_capture, capfd):
    with register.begin() as conn:
        for n, text in enumerate(["支付失败，扣了钱订单没成功", "app频繁闪退", "希望增加夜间模式"]):
            conn.execute(
                sa.text("INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, "
                        "content_sha256) VALUES ('webform', 'contact_zh', :e, :t, CAST(:p AS jsonb), :h)"),
                {"e": f"wf-mon{n:06d}", "t": datetime(2026, 10, 14, 2, 0, tzinfo=UTC),
                 "p": json.dumps({"body": f"{text}，电话{PHONE}"}, ensure_ascii=False), "h": "0" * 64},
            )
    triage.triage_pending(register, datetime(2026, 10, 14, 2, 5, tzinfo=UTC), triage.load_context())
    # Kinds other DAGs own wait for them (notify.owners): the monitor sends only its own.
    from feedback.notify.outbox import OutboxRow, write_rows

    with register.begin() as conn:
        write_rows(conn, [OutboxRow(kind=kind, dedup_key=f"owned-elsewhere:{kind}", recipient="someone@example.com",
                                    created_at=datetime(2026, 10, 15, 2, 0, tzinfo=UTC), subject=kind, body=kind)
                          for kind in ("ack", "survey", "report")])

    # Two days later every first-response deadline has passed.
    run = dag.test(logical_date=datetime(2026, 10, 16, 2, 0, tzinfo=UTC))
    assert run.state == "success"
    assert scalar(register, "SELECT count(*) FROM feedback.outbox WHERE dedup_key LIKE 'owned-elsewhere:%' "
                            "AND sent_at IS NULL") == 3
    breaches = scalar(register, "SELECT count(*) FROM feedback.sla_breach WHERE kind = 'breach'")
    assert breaches >= 3
    mails = sorted(smtp_capture.folder.glob("*.eml"))
    assert mails, "no digest was delivered"
    sent = scalar(register, "SELECT count(*) FROM feedback.outbox WHERE sent_at IS NOT NULL")
    assert len(mails) == sent
    message = email.message_from_bytes(mails[0].read_bytes(), policy=email.policy.default)
    assert "[SLA]" in message["Subject"]
    assert message["Message-ID"] in {r for (r,) in register.connect().execute(
        sa.text("SELECT message_id FROM feedback.outbox"))}

    again = dag.test(logical_date=datetime(2026, 10, 16, 2, 5, tzinfo=UTC))
    assert again.state == "success"
    assert scalar(register, "SELECT count(*) FROM feedback.sla_breach WHERE kind = 'breach'") == breaches
    assert len(sorted(smtp_capture.folder.glob("*.eml"))) == len(mails), "a digest was sent twice"

    logs = "".join(capfd.readouterr())
    assert "watch_deadlines" in logs and PHONE not in logs
    for mail in mails:
        assert PHONE not in mail.read_text(errors="replace")


def test_one_poison_item_does_not_stall_the_monitor_under_airflow(dag, register, smtp_capture):
    """An item whose deadlines were counted on a calendar since removed: held; the others breach and are mailed."""
    from feedback import holds
    from feedback.sla.deadlines import COLUMNS, deadline_rows
    from feedback.sla.monitor import load_setup

    setup = load_setup()
    received = datetime(2026, 10, 14, 2, 0, tzinfo=UTC)
    ids = []
    with register.begin() as conn:
        for n in range(3):
            fid = conn.execute(sa.text(
                """INSERT INTO feedback.feedback (feedback_no, channel, source, received_at, registered_at, description,
                                                  priority, status, department, handler_group, subject, language)
                   VALUES (:no, 'webform', 'contact_zh', :t, :t, 'app频繁闪退', 'high', 'assigned',
                           'product_engineering', 'pe-oncall', '闪退', 'zh') RETURNING id"""),
                {"no": f"20261014-{900 + n}", "t": received}).scalar_one()
            for row in deadline_rows(setup.policy(None), setup.calendars, "high", "normal", received):
                conn.execute(sa.text(f"INSERT INTO feedback.feedback_deadline ({', '.join(COLUMNS)}) "  # noqa: S608
                                     f"VALUES ({', '.join(':' + c for c in COLUMNS)})"),
                             dict(zip(COLUMNS, row.values(fid, 1), strict=True)))
            conn.execute(sa.text("INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, "
                                 "to_status) VALUES (:f, 'status_changed', :t, 'crm', 'in_progress')"),
                         {"f": fid, "t": received})
            ids.append(fid)
        conn.execute(sa.text("UPDATE feedback.feedback_deadline SET calendar = 'retired_2025' WHERE feedback_id = :f"),
                     {"f": ids[1]})
        conn.execute(sa.text("UPDATE feedback.feedback_deadline SET warn_at = NULL WHERE feedback_id = :f"),
                     {"f": ids[1]})

    run = dag.test(logical_date=datetime(2026, 10, 16, 2, 0, tzinfo=UTC))
    assert run.state == "success"
    with register.connect() as conn:
        breached = set(conn.execute(sa.text("SELECT DISTINCT feedback_id FROM feedback.sla_breach "
                                            "WHERE kind = 'breach'")).scalars())
    assert breached == {ids[0], ids[2]}
    assert sorted(smtp_capture.folder.glob("*.eml")), "the good items' digest was not delivered"
    # Its two deadlines (first response, resolution) are held: their warning instants cannot be computed.
    held = holds.list_held(register, stage="sla_monitor")
    assert {(h.table_name, h.reason) for h in held} == {("feedback.feedback_deadline", "key_error")}
    with register.connect() as conn:
        owners = set(conn.execute(sa.text("SELECT feedback_id FROM feedback.feedback_deadline WHERE id = ANY(:d)"),
                                  {"d": [int(h.row_ref) for h in held]}).scalars())
    assert owners == {ids[1]} and len(held) == 2

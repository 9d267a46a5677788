"""POST /feedback/api/events over real HTTP (uvicorn on 127.0.0.1) against a real register.

The CRM's server sends status changes and overdue reasons with the password of the Airflow
connection `feedback_crm` as its bearer token; what it sends becomes feedback_event rows that
the SLA monitor applies. Refusals name fields and never echo what was sent.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from conftest import scalar
from fastapi import FastAPI
from web_server import serve

from feedback.sla import monitor
from feedback.triage import run as triage
from feedback.web.app import create_app

TOKEN = "crm-token-0123456789abcdef"
NOW = datetime(2026, 10, 14, 9, 0, tzinfo=UTC)          # 17:00 in Shanghai
RECEIVED = datetime(2026, 10, 14, 2, 0, tzinfo=UTC)     # 10:00 in Shanghai: first response due 15:30 (07:30 UTC)
PHONE = "13912345678"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def connections(conn_id: str) -> str | None:
    return {"feedback_crm": f"generic://:{TOKEN}@"}.get(conn_id)


@pytest.fixture
def server(register, monkeypatch):
    """Starts the app under /feedback with a connection lookup (default: feedback_crm set); yields its base URL."""
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "crm-events-hash-key-0123456789")
    started = []

    def start(lookup=connections, now=lambda: NOW) -> str:
        root = FastAPI()
        root.mount("/feedback", create_app(engine=lambda: register, now=now, connection_lookup=lookup))
        ctx = serve(root)
        started.append(ctx)
        return ctx.__enter__() + "/feedback/api/events"

    yield start
    for ctx in reversed(started):
        ctx.__exit__(None, None, None)


@pytest.fixture
def number(register) -> str:
    """One triaged high-priority item (频繁闪退), received at 10:00 Shanghai time."""
    with register.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, content_sha256)"
                    " VALUES ('webform', 'contact_zh', 'wf-crmapi000001', :t, CAST(:p AS jsonb), :h)"),
            {"t": RECEIVED, "p": json.dumps({"body": "app频繁闪退，用不了几分钟就退出"}, ensure_ascii=False),
             "h": "0" * 64},
        )
    triage.triage_pending(register, RECEIVED, triage.load_context(gate=False))
    return scalar(register, "SELECT feedback_no FROM feedback.feedback")


def events(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(
            "SELECT event_type, occurred_at, actor, to_status, reason, reason_text, dedup_key "
            "FROM feedback.feedback_event WHERE actor = 'crm' ORDER BY id")).mappings()]


def reason_event(number: str, key: str, reason: str = "spare_parts", at: str = "2026-10-14T16:00:00+08:00",
                 **extra) -> dict:
    return {"feedback_no": number, "event_type": "overdue_reason", "occurred_at": at, "reason": reason,
            "dedup_key": key, **extra}


def test_a_missing_connection_is_a_503_naming_it(server, register, number):
    url = server(lookup=lambda conn_id: None)
    reply = httpx.post(url, json=reason_event(number, "k1"), headers=AUTH)
    assert reply.status_code == 503
    assert "feedback_crm" in reply.json()["reason"] and "AIRFLOW_CONN_FEEDBACK_CRM" in reply.json()["reason"]
    passwordless = server(lookup=lambda conn_id: "generic://crm@")
    reply = httpx.post(passwordless, json=reason_event(number, "k1"), headers=AUTH)
    assert reply.status_code == 503 and "feedback_crm has no password" in reply.json()["reason"]
    assert events(register) == []


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-the-token"}, {"Authorization": TOKEN},
                                     {"Authorization": f"Basic {TOKEN}"}])
def test_a_request_without_the_token_is_a_401(server, register, number, headers):
    reply = httpx.post(server(), json=reason_event(number, "k1"), headers=headers)
    assert reply.status_code == 401 and reply.json()["error"] == "unauthorized"
    assert reply.headers["WWW-Authenticate"] == "Bearer"
    assert events(register) == []


def test_invalid_events_are_a_422_naming_fields_never_values(server, register, number, caplog):
    caplog.set_level(logging.INFO)
    url = server()
    future = (NOW + timedelta(hours=1)).isoformat()
    batch = [
        reason_event(number, "ok-1"),                                                   # fine, but not stored
        {"feedback_no": PHONE, "event_type": "created", "occurred_at": "2026-10-14 16:00", "dedup_key": "a b"},
        reason_event(number, "k3", reason=PHONE),
        {"feedback_no": number, "event_type": "status_changed", "occurred_at": future, "dedup_key": "k4"},
        {"feedback_no": number, "event_type": "resolved", "occurred_at": "2026-10-14T16:00:00+08:00",
         "dedup_key": "k5", "reason": "spare_parts", "to_status": "done", "contact": PHONE},
    ]
    reply = httpx.post(url, json=batch, headers=AUTH)
    assert reply.status_code == 422, reply.text
    fields = reply.json()["fields"]
    assert set(fields) == {"[1].feedback_no", "[1].event_type", "[1].occurred_at", "[1].dedup_key", "[2].reason",
                           "[3].occurred_at", "[3].to_status", "[4]", "[4].reason", "[4].to_status"}
    assert "UTC offset" in fields["[1].occurred_at"] and "future" in fields["[3].occurred_at"]
    assert "spare_parts" in fields["[2].reason"] and "required" in fields["[3].to_status"]
    assert PHONE not in reply.text and "contact" not in reply.text and PHONE not in caplog.text
    assert events(register) == []
    # A single object names its fields without an index; a body that is not an event is named as such.
    reply = httpx.post(url, json={"feedback_no": number, "event_type": "overdue_reason",
                                  "occurred_at": "2026-10-14T16:00:00+08:00", "dedup_key": "k6"}, headers=AUTH)
    assert reply.status_code == 422 and set(reply.json()["fields"]) == {"reason"}
    assert httpx.post(url, json=[], headers=AUTH).json()["fields"] == {
        "(body)": "expected an event object or a non-empty list of them"}
    assert httpx.post(url, content=b"{not json", headers={**AUTH, "Content-Type": "application/json"}
                      ).status_code == 400
    assert httpx.post(url, data={"feedback_no": number}, headers=AUTH).status_code == 415


def test_events_are_idempotent_by_dedup_key(server, register, number):
    url = server()
    status = {"feedback_no": number, "event_type": "status_changed", "to_status": "in_progress",
              "occurred_at": "2026-10-14T11:00:00+08:00", "dedup_key": "crm-4711-inprogress"}
    first = httpx.post(url, json=[status, reason_event(number, "crm-4711-reason")], headers=AUTH)
    assert first.status_code == 202, first.text
    assert first.json() == {"stored": 2, "duplicate": 0, "unknown_item": 0,
                            "events": [{"index": 0, "outcome": "stored"}, {"index": 1, "outcome": "stored"}]}
    again = httpx.post(url, json=[status, status, reason_event(number, "crm-4711-reason")], headers=AUTH)
    assert again.status_code == 202
    assert (again.json()["stored"], again.json()["duplicate"]) == (0, 3)
    rows = events(register)
    assert [(r["event_type"], r["dedup_key"]) for r in rows] == [
        ("status_changed", "crm:crm-4711-inprogress"), ("overdue_reason", "crm:crm-4711-reason")]
    assert rows[0]["occurred_at"] == datetime(2026, 10, 14, 3, 0, tzinfo=UTC) and rows[0]["to_status"] == "in_progress"
    # The same key written by SQL (crm:<key>, docs/operating.md) is the same event.
    with register.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, dedup_key) "
            "SELECT id, 'responded', now(), 'crm', 'crm:crm-4712' FROM feedback.feedback"))
    reply = httpx.post(url, json={"feedback_no": number, "event_type": "responded",
                                  "occurred_at": "2026-10-14T12:00:00+08:00", "dedup_key": "crm-4712"}, headers=AUTH)
    assert reply.json()["duplicate"] == 1


def test_an_unknown_number_is_refused_alone(server, register, number):
    reply = httpx.post(server(), json=[reason_event("20990101-001", "x1"), reason_event(number, "x2")], headers=AUTH)
    assert reply.status_code == 202
    assert [e["outcome"] for e in reply.json()["events"]] == ["unknown_item", "stored"]
    assert [r["dedup_key"] for r in events(register)] == ["crm:x2"]


def test_a_reason_sent_by_the_crm_lands_on_the_breach(server, register, number):
    setup = monitor.load_setup()
    assert monitor.run_monitor(register, datetime(2026, 10, 14, 7, 31, tzinfo=UTC), setup).breaches == 1
    url = server()
    reply = httpx.post(url, json=[reason_event(number, "r1", reason="other", reason_text=f"客户{PHONE}要求改期"),
                                  {"feedback_no": number, "event_type": "responded",
                                   "occurred_at": "2026-10-14T16:10:00+08:00", "dedup_key": "r2"}], headers=AUTH)
    assert reply.status_code == 202 and reply.json()["stored"] == 2
    stored = events(register)[0]
    assert stored["reason"] == "other" and PHONE not in stored["reason_text"]     # masked before it is stored
    monitor.run_monitor(register, datetime(2026, 10, 14, 8, 15, tzinfo=UTC), setup)
    with register.connect() as conn:
        breach = conn.execute(sa.text("SELECT reason, reason_text, reason_by, reason_at FROM feedback.sla_breach "
                                      "WHERE kind = 'breach'")).one()
        met = conn.execute(sa.text("SELECT met_at FROM feedback.feedback_deadline WHERE stage = 'first_response'")
                           ).scalar_one()
    assert (breach.reason, breach.reason_by) == ("other", "crm")
    assert breach.reason_text == stored["reason_text"] and breach.reason_at == datetime(2026, 10, 14, 8, 0, tzinfo=UTC)
    assert met == datetime(2026, 10, 14, 8, 10, tzinfo=UTC)                     # the status event applied too
    # A later reason from the CRM replaces it at the next run.
    httpx.post(url, json=reason_event(number, "r3", reason="spare_parts", at="2026-10-14T16:20:00+08:00"),
               headers=AUTH)
    monitor.run_monitor(register, datetime(2026, 10, 14, 8, 25, tzinfo=UTC), setup)
    assert scalar(register, "SELECT reason FROM feedback.sla_breach WHERE kind = 'breach'") == "spare_parts"

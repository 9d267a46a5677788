"""A web-form customer who leaves an e-mail address gets the receipt with the case number, as mail customers do.

The form is posted over real HTTP to the intake endpoint (uvicorn on 127.0.0.1), moved
into intake, triaged with the shipped configuration, and the receipt is delivered to the
local SMTP capture: the case number (20261020-nnn) in subject, text and HTML, the customer
addressed as `vault:<id>` in the outbox (never the address), at most
`mail.ack_per_sender_per_hour` receipts per address and hour, whichever channel they came by.
"""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta
from email.policy import default

import httpx
import pytest
import sqlalchemy as sa
from conftest import scalar
from fastapi import FastAPI
from web_server import serve

from feedback.channels.config import Channels, Mailbox, Platform, WebForm, WebForms
from feedback.channels.webform.landing import move_landed
from feedback.notify.acknowledge import acknowledged_sources
from feedback.notify.sender import send_pending
from feedback.triage.run import load_context, triage_pending
from feedback.web.app import create_app

NOW = datetime(2026, 10, 20, 2, 0, 30, tzinfo=UTC)          # 10:00 in Shanghai
EMAIL, PHONE = "wang.wu.private@example.cn", "13812345678"


@pytest.fixture
def local(tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path))
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "a-hash-key-for-the-receipt-tests")
    return tmp_path


@pytest.fixture
def site(register, local):
    """The real app (shipped channels.yaml forms) under /feedback on a free loopback port."""
    root = FastAPI()
    root.mount("/feedback", create_app(engine=lambda: register, now=lambda: NOW))
    with serve(root) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield client


def submit(client: httpx.Client, form: str = "contact_zh", **fields) -> dict:
    answer = client.post(f"/feedback/intake/{form}", json={"fields": {"message": "支付失败，扣款两次", **fields}})
    assert answer.status_code == 202, answer.text
    return answer.json()


def triage(engine, at: datetime = NOW + timedelta(minutes=5)):
    move_landed(engine, at)
    return triage_pending(engine, at, load_context(engine=engine))


def acks(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT o.*, f.feedback_no FROM feedback.outbox o "
                                    "JOIN feedback.feedback f ON f.id = o.feedback_id "
                                    "WHERE o.kind = 'ack' ORDER BY o.id")).all()


def test_a_web_form_customer_with_an_address_gets_the_case_number_by_mail(register, site, smtp_capture):
    given = submit(site, name="王五", phone=PHONE, email=EMAIL, subject="扣款两次")
    assert given["case_number_by_mail"] is True and given["receipt_id"].startswith("wf-")
    without = submit(site, phone=PHONE)                        # no address: nothing to mail
    assert without["case_number_by_mail"] is False

    summary = triage(register)
    assert (summary.registered, summary.acknowledgements, summary.acks_held) == (2, 1, 0)
    [row] = acks(register)
    number = row.feedback_no
    assert number.startswith("20261020-")
    vault_id = scalar(register, "SELECT CAST(contact_refs ->> 'email' AS bigint) FROM feedback.feedback "
                                "WHERE feedback_no = :n", n=number)
    assert (row.recipient, row.recipient_vault_id) == (f"vault:{vault_id}", vault_id)
    assert number in row.subject and number in row.payload["text"] and number in row.payload["html"]
    assert row.payload["via"] == "webform" and "网页表单" in row.payload["text"]
    assert "2026-10-20 10:00" in row.payload["text"], "received time in business time"
    stored = json.dumps(row._asdict(), ensure_ascii=False, default=str)
    assert EMAIL not in stored and "wang.wu" not in stored and PHONE not in stored

    assert send_pending(register, now=NOW + timedelta(minutes=6), kinds=["ack"])["sent"] == 1
    [eml] = smtp_capture.folder.glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=default)
    assert message["To"] == EMAIL and number in str(message["Subject"])
    assert message["Auto-Submitted"] == "auto-replied"
    assert number in message.get_body(("plain",)).get_content()
    assert number in message.get_body(("html",)).get_content()
    # the receipt is sent once: a second triage and sender run add nothing
    assert triage(register, NOW + timedelta(minutes=10)).acknowledgements == 0
    assert send_pending(register, now=NOW + timedelta(minutes=11), kinds=["ack"])["sent"] == 0


def test_receipts_are_rate_limited_per_address_across_channels(register, site):
    for n in range(3):
        submit(site, email=EMAIL, message=f"第{n}次提交：支付失败")
    with register.begin() as conn:     # the same customer on a platform, in the same hour
        payload = {"subject": "Refund", "body": "Refund still missing", "contact": {"email": EMAIL}}
        conn.execute(sa.text("INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, "
                             "content_sha256) VALUES ('platform', 'zendesk', 'zd-1', :t, CAST(:p AS jsonb), :h)"),
                     {"t": NOW + timedelta(minutes=1), "p": json.dumps(payload), "h": "0" * 64})
    summary = triage(register)
    assert (summary.registered, summary.acknowledgements, summary.acks_held) == (4, 3, 1)
    assert [r.payload["via"] for r in acks(register)] == ["webform"] * 3, "the platform item came fourth"
    submit(site, email=EMAIL)                                  # a fifth, received in the same hour, triaged later
    later = triage(register, NOW + timedelta(hours=1, minutes=30))
    assert (later.acknowledgements, later.acks_held) == (0, 1), "the hour counts by arrival, not by triage"


def test_a_platform_item_with_an_address_gets_a_receipt_in_english(register, local):
    with register.begin() as conn:
        payload = {"subject": "Order never arrived", "body": "My order never arrived.", "language": "en",
                   "contact": {"name": "Carol Lopez", "email": EMAIL}}
        conn.execute(sa.text("INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, "
                             "content_sha256) VALUES ('platform', 'zendesk', 'zd-2', :t, CAST(:p AS jsonb), :h)"),
                     {"t": NOW, "p": json.dumps(payload), "h": "0" * 64})
    assert triage(register).acknowledgements == 1
    [row] = acks(register)
    assert row.payload["locale"] == "en" and row.subject == f"[{row.feedback_no}] We have received your feedback"
    assert "through a platform" in row.payload["text"] and row.feedback_no in row.payload["html"]


def test_the_acknowledge_flag_switches_a_source_off():
    chans = Channels(
        mailboxes=[Mailbox(name="support"), Mailbox(name="noreply", acknowledge=False)],
        webforms=WebForms(forms=[WebForm(name="contact_zh"), WebForm(name="internal", acknowledge=False)]),
        platforms=[Platform(name="zendesk", base_url="https://x.zendesk.com", acknowledge=False,
                            request={"path": "/t"}, records="tickets",
                            mapping={"external_id": "id", "received_at": "created_at", "body": "description"})],
    )
    assert acknowledged_sources(chans) == {("email", "support"), ("webform", "contact_zh")}

"""E-mail intake from drop folders (Maildir and .eml) into a real register, then triage on top.

The IMAP-specific behaviour (UIDs, UIDVALIDITY, dropped connections) is in
test_mail_imap.py against Dovecot; here is what every mail source shares:
identity, not-feedback mail, quarantine, threading, the Sent folder and receipts.
"""

from __future__ import annotations

import email
import email.policy
import logging
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from conftest import scalar
from mail_samples import auto_reply, bounce, mail, reply

from feedback.channels import quarantine
from feedback.channels.base import Rejected
from feedback.channels.config import load_channels
from feedback.channels.mail.ingest import Budget, ingest_folder, ingest_mailbox
from feedback.channels.mail.items import MailRules
from feedback.channels.mail.sources import DropFolder
from feedback.channels.store import store_batch
from feedback.notify.sender import SmtpSettings, send_pending
from feedback.paths import config_dir
from feedback.settings import load_settings
from feedback.triage import run as triage
from feedback_dev import smtp_sink

RUN = datetime(2026, 10, 12, 6, 0, tzinfo=UTC)
DELIVERED = int(datetime(2026, 10, 12, 1, 0, 5, tzinfo=UTC).timestamp())   # a Maildir name's delivery stamp
LATER = datetime(2026, 10, 12, 9, 0, tzinfo=UTC)


@pytest.fixture
def local(tmp_path, monkeypatch):
    """A local state folder of the test's own: the configured mailboxes' drop folders live under it."""
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path))
    return tmp_path


def maildir(local, mailbox="support", folder=None):
    root = local / "landing" / "mail" / mailbox
    if folder:
        root = root / f".{folder}"
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def deliver(root, name: str, raw: bytes) -> None:
    (root / "tmp" / name).write_bytes(raw)
    (root / "tmp" / name).rename(root / "new" / name)


def intake(engine, where="true"):
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT * FROM feedback.intake WHERE {where} ORDER BY id")).mappings().all()  # noqa: S608


@pytest.fixture(scope="module")
def ctx():
    return triage.load_context()


def test_maildir_mail_is_stored_once_and_moved_to_cur(register, local):
    box = maildir(local)
    for n in range(1, 6):
        deliver(box, f"{DELIVERED + n * 60}.M1P1.mx", mail(n))   # delivered 5 s after its Date
    first = ingest_mailbox(register, "support", None, RUN)
    inbox = first["folders"][0]
    assert first["via"] == "drop"
    assert (inbox["fetched"], inbox["inserted"], inbox["duplicates"], inbox["quarantined"]) == (5, 5, 0, 0)
    assert sorted(p.name for p in (box / "cur").iterdir()) == [f"{DELIVERED + n * 60}.M1P1.mx:2,"
                                                              for n in range(1, 6)]
    assert list((box / "new").iterdir()) == []
    again = ingest_mailbox(register, "support", None, RUN)
    assert again["folders"][0]["fetched"] == 0
    rows = intake(register)
    assert [r["external_id"] for r in rows] == [f"<m{n}.test@example.net>" for n in range(1, 6)]
    first_row = rows[0]
    assert first_row["source"] == "support" and first_row["status"] == "new"
    assert first_row["payload"]["subject"] == "订单 1 支付失败"
    assert "未支付" in first_row["payload"]["body"]
    assert first_row["payload"]["contact"]["email"] == "zhangsan@example.net"
    # Our side of the wire: the Maildir delivery stamp, not the sender's Date (kept beside it).
    assert first_row["received_at"] == datetime(2026, 10, 12, 1, 1, 5, tzinfo=UTC)
    assert first_row["payload"]["sender_date"] == "2026-10-12T01:01:00+00:00"
    assert "sender_date_flag" not in first_row["payload"]
    assert first_row["raw_ref"] == f"file://{box}/cur/{DELIVERED + 60}.M1P1.mx:2,"


def test_the_same_message_delivered_twice_or_to_two_mailboxes_is_one_item(register, local):
    once = mail(1, received="from mx1.example.net by mx.example.com; Mon, 12 Oct 2026 09:01:05 +0800")
    twice = mail(1, received="from mx2.example.net by mx.example.com; Mon, 12 Oct 2026 09:03:44 +0800")
    no_id = mail(2, msgid=None, received="from a by b; Mon, 12 Oct 2026 09:02:00 +0800")
    no_id_again = mail(2, msgid=None, received="from c by d; Mon, 12 Oct 2026 09:05:00 +0800")
    support, complaints = maildir(local), maildir(local, "complaints")
    deliver(support, "a1", once)
    deliver(support, "a2", twice)
    deliver(support, "a3", no_id)
    deliver(complaints, "b1", twice)
    deliver(complaints, "b2", no_id_again.replace(b"\n", b"\r\n"))
    ingest_mailbox(register, "support", None, RUN)
    ingest_mailbox(register, "complaints", None, RUN)
    rows = intake(register)
    assert len(rows) == 2
    assert rows[0]["external_id"] == "<m1.test@example.net>"
    assert rows[1]["external_id"].startswith("sha256:")


def test_a_message_id_reused_for_different_content_is_kept_apart(register, local):
    box = maildir(local)
    deliver(box, "a1", mail(1, msgid="<template@shop.example>"))
    ingest_mailbox(register, "support", None, RUN)
    deliver(box, "a2", mail(2, msgid="<template@shop.example>", body="另一个问题：发票开错了。"))
    deliver(box, "a3", mail(3, msgid="<template@shop.example>", body="第三封：退款没到账。"))
    ingest_mailbox(register, "support", None, RUN)
    ids = [r["external_id"] for r in intake(register)]
    assert len(ids) == 3 and len(set(ids)) == 3
    assert ids[0] == "<template@shop.example>"
    assert all(i.startswith("sha256:") for i in ids[1:])
    # Reading all of it again (a resynchronised folder) adds nothing.
    for n, path in enumerate(sorted((box / "cur").iterdir())):
        deliver(box, f"again{n}", path.read_bytes())
    assert ingest_mailbox(register, "support", None, RUN)["folders"][0]["inserted"] == 0


def test_bounces_auto_replies_and_our_own_mail_are_recorded_but_never_items(register, local, ctx):
    box = maildir(local)
    deliver(box, "a1", bounce(1))
    deliver(box, "a2", auto_reply(2))
    deliver(box, "a3", mail(3, sender="Support <support@example.com>", subject="[20261012-001] 我们已收到您的反馈"))
    deliver(box, "a4", mail(4, headers={"X-Feedback-Outbox": "ack"}, sender="noreply@feedback.local"))
    deliver(box, "a5", mail(5))
    summary = ingest_mailbox(register, "support", None, RUN)["folders"][0]
    assert (summary["inserted"], summary["skipped"]) == (5, 4)
    reasons = {r["external_id"]: r["status_reason"] for r in intake(register, "status = 'skipped'")}
    assert reasons["<bounce1@mx.example.net>"].startswith("bounce")
    assert reasons["<m2.test@example.net>"].startswith("auto_reply")
    assert reasons["<m3.test@example.net>"].startswith("own")
    assert reasons["<m4.test@example.net>"].startswith("own")
    result = triage.triage_pending(register, LATER, ctx)
    assert (result.registered, result.acknowledgements) == (1, 1)
    assert scalar(register, "SELECT count(*) FROM feedback.feedback") == 1
    assert scalar(register, "SELECT count(*) FROM feedback.intake WHERE status = 'skipped'") == 4


def test_unusable_mail_is_parked_once_and_the_batch_goes_on(register, local):
    box = maildir(local)
    deliver(box, "a1", mail(1))
    deliver(box, "a2", b"")
    deliver(box, "a3", b"\x00\x01\x02 not a mail \xff\xfe")
    deliver(box, "a4", mail(4))
    summary = ingest_mailbox(register, "support", None, RUN)["folders"][0]
    assert (summary["inserted"], summary["quarantined"]) == (2, 2)
    with register.connect() as conn:
        parked = conn.execute(sa.text("SELECT source, external_ref, reason, detail FROM feedback.quarantine "
                                      "ORDER BY external_ref")).all()
    assert [(p.source, p.external_ref) for p in parked] == [("support/INBOX", "a2"), ("support/INBOX", "a3")]
    assert all(p.reason and p.detail for p in parked)
    # The same broken bytes delivered again are not parked twice.
    deliver(box, "a5", b"")
    assert ingest_mailbox(register, "support", None, RUN)["folders"][0]["quarantined"] == 0
    assert scalar(register, "SELECT count(*) FROM feedback.quarantine") == 2


def test_quarantine_retry_takes_a_mail_the_parser_now_reads(register, local):
    # As if an earlier parser version had choked on this mail: parked with the raw bytes.
    raw = mail(7)
    store_batch(register, "email", "support/INBOX", [],
                [Rejected("email", "support/INBOX", "uid:7", "parser_error", "ValueError in the parser", raw),
                 Rejected("email", "support/INBOX", "uid:8", "not_a_mail", "no header block", b"garbage")],
                {"uidvalidity": 1, "last_uid": 8}, RUN)
    listed = quarantine.list_parked(register, channel="email")
    assert [r["external_ref"] for r in listed] == ["uid:7", "uid:8"]
    assert "raw_encrypted" not in listed[0]
    result = quarantine.retry(register, LATER, channel="email")
    assert (result.resolved, result.still_parked) == (1, 1)
    assert [r["external_id"] for r in intake(register)] == ["<m7.test@example.net>"]
    assert scalar(register, "SELECT status FROM feedback.quarantine WHERE external_ref = 'uid:7'") == "resolved"
    assert scalar(register, "SELECT retry_count FROM feedback.quarantine WHERE external_ref = 'uid:8'") == 1
    # A second retry of everything parked creates nothing twice.
    quarantine.retry(register, LATER, channel="email")
    assert len(intake(register)) == 1


def test_a_retried_mail_keeps_the_time_we_received_it_not_the_retry_time(register, local):
    # Parked at RUN by an older parser, retried at LATER: received_at is our MTA's top Received: header
    # (before the park), or the time we parked it when the mail has none; never the retry's time.
    relayed = mail(11, received="from mx1 by mx.example.com; Mon, 12 Oct 2026 09:30:00 +0800")
    bare = mail(12)
    store_batch(register, "email", "support/INBOX", [],
                [Rejected("email", "support/INBOX", "uid:11", "parser_error", "ValueError in the parser", relayed),
                 Rejected("email", "support/INBOX", "uid:12", "parser_error", "ValueError in the parser", bare)],
                {"uidvalidity": 1, "last_uid": 12}, RUN)
    assert quarantine.retry(register, LATER, channel="email").resolved == 2
    got = {r["external_id"]: r["received_at"] for r in intake(register)}
    assert got["<m11.test@example.net>"] == datetime(2026, 10, 12, 1, 30, tzinfo=UTC)
    assert got["<m12.test@example.net>"] == RUN


def test_replies_thread_onto_their_item_by_header_number_or_our_receipt(register, local, ctx):
    box = maildir(local)
    deliver(box, "a1", mail(1))
    ingest_mailbox(register, "support", None, RUN)
    triage.triage_pending(register, LATER, ctx)
    number, item_id = register.connect().execute(sa.text("SELECT feedback_no, id FROM feedback.feedback")).one()
    ack_id = scalar(register, "SELECT message_id FROM feedback.outbox WHERE kind = 'ack'")
    assert ack_id
    deliver(box, "a2", reply(2, "<m1.test@example.net>"))
    deliver(box, "a3", mail(3, subject=f"关于 [{number}] 的补充", msgid="<m3.other@example.net>"))
    deliver(box, "a4", reply(4, ack_id, subject="Re: 我们已收到您的反馈"))
    deliver(box, "a5", reply(5, "<m2.test@example.net>", subject="再次催办"))   # answers a reply
    ingest_mailbox(register, "support", None, LATER)
    result = triage.triage_pending(register, LATER, ctx)
    assert (result.registered, result.replies) == (0, 4)
    assert scalar(register, "SELECT count(*) FROM feedback.feedback") == 1
    assert scalar(register, "SELECT count(*) FROM feedback.feedback_event WHERE event_type = 'customer_replied' "
                            "AND feedback_id = :f", f=item_id) == 4
    assert scalar(register, "SELECT count(*) FROM feedback.outbox WHERE kind = 'ack'") == 1


def test_our_reply_in_the_sent_folder_is_the_first_response(register, local, ctx):
    inbox, sent = maildir(local), maildir(local, folder="Sent")
    deliver(inbox, "a1", mail(1))
    ours = reply(50, "<m1.test@example.net>", sender="Support <support@example.com>", to="zhangsan@example.net",
                 subject="Re: 订单 1 支付失败", body="您好，已为您处理，请查收。", msgid="<r50@example.com>")
    deliver(sent, "s1", ours)
    deliver(sent, "s2", mail(51, sender="support@example.com", subject="内部通知", msgid="<r51@example.com>"))
    summary = ingest_mailbox(register, "support", None, RUN)
    assert [f["folder"] for f in summary["folders"]] == ["support/INBOX", "support/Sent"]
    result = triage.triage_pending(register, LATER, ctx)
    assert (result.registered, result.responses) == (1, 1)
    with register.connect() as conn:
        event = conn.execute(sa.text("SELECT occurred_at, actor FROM feedback.feedback_event "
                                     "WHERE event_type = 'responded'")).one()
    assert event.occurred_at == datetime(2026, 10, 12, 1, 50, tzinfo=UTC)   # when we sent it, not when read
    assert event.actor == "mailbox:support"
    assert scalar(register, "SELECT status_reason FROM feedback.intake WHERE external_id = '<r51@example.com>'") \
        == "our own mail, not answering a registered item"


def test_receipts_are_rate_limited_per_sender_and_delivered_once(register, local, ctx, tmp_path):
    box = maildir(local)
    for n in range(1, 6):   # five mails within the hour from one sender: a loop, or an angry customer
        deliver(box, f"a{n}", mail(n))
    deliver(box, "b1", mail(9, sender="李四 <lisi@example.org>"))
    ingest_mailbox(register, "support", None, RUN)
    result = triage.triage_pending(register, LATER, ctx)
    assert (result.registered, result.acknowledgements, result.acks_held) == (6, 4, 2)
    with register.connect() as conn:
        rows = conn.execute(sa.text("SELECT recipient, subject, body, feedback_id FROM feedback.outbox "
                                    "WHERE kind = 'ack' ORDER BY id")).all()
    assert all(r.recipient.startswith("vault:") for r in rows)
    assert all("example.net" not in (r.body + r.subject) and "example.org" not in r.body for r in rows)
    numbers = dict(register.connect().execute(sa.text("SELECT id, feedback_no FROM feedback.feedback")).all())
    assert all(f"[{numbers[r.feedback_id]}]" in r.subject for r in rows)
    server = smtp_sink.start(tmp_path / "sent-mail")
    try:
        settings = SmtpSettings.from_uri(f"smtp://127.0.0.1:{server.port}?disable_ssl=true&disable_tls=true",
                                         "test smtp")
        assert send_pending(register, settings, now=LATER, kinds=["ack"])["sent"] == 4
        assert send_pending(register, settings, now=LATER, kinds=["ack"])["sent"] == 0
    finally:
        server.stop()
    received = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in sorted((tmp_path / "sent-mail").glob("*.eml"))]
    assert sorted(str(m["To"]) for m in received) == ["lisi@example.org"] + ["zhangsan@example.net"] * 3
    assert all(m["Auto-Submitted"] == "auto-replied" and m["X-Feedback-Outbox"] == "ack" for m in received)
    first = next(m for m in received if m["In-Reply-To"] == "<m1.test@example.net>")
    assert "我们已收到您的反馈" in str(first["Subject"])
    # Our receipt landing back in the mailbox (a customer's forward rule, a BCC) is our own mail, not feedback.
    deliver(box, "loop", received[0].as_bytes())
    ingest_mailbox(register, "support", None, LATER)
    assert triage.triage_pending(register, LATER, ctx).registered == 0


def test_oversize_mail_and_attachments_follow_the_limits(register, local):
    from email.message import EmailMessage

    msg = email.message_from_bytes(mail(1), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    msg.add_attachment(b"\x89PNG small screenshot", maintype="image", subtype="png", filename="截图.png")
    msg.add_attachment(b"x" * 5000, maintype="application", subtype="pdf", filename="big.pdf")
    rules = MailRules(mailbox="support", own_addresses=frozenset(), own_message_id_domains=frozenset(),
                      attachments_dir=local / "attachments", max_message_bytes=20_000, max_attachment_bytes=1000)
    folder = local / "eml"
    folder.mkdir()
    (folder / "001.eml").write_bytes(bytes(msg))
    (folder / "002.eml").write_bytes(mail(2, body="很长的邮件。" * 4000))
    source = DropFolder("support", "INBOX", folder, RUN)
    summary = ingest_folder(register, source, rules, outbound=False, run_time=RUN, batch_size=10,
                            budget=Budget.start(100, 60))
    assert (summary.inserted, summary.quarantined) == (1, 1)
    stored = intake(register)[0]["payload"]["attachments"]
    assert [(a["filename"], a["stored"]) for a in stored] == [("截图.png", True), ("big.pdf", False)]
    assert (local / "attachments" / stored[0]["ref"]).read_bytes() == b"\x89PNG small screenshot"
    assert scalar(register, "SELECT reason FROM feedback.quarantine") == "oversize"
    assert "limit 20000" in scalar(register, "SELECT detail FROM feedback.quarantine")
    assert quarantine.retry(register, LATER, channel="email").not_retryable == 1


def test_a_backlog_is_caught_up_in_bounded_committed_batches(register, local):
    folder = local / "eml"
    folder.mkdir()
    for n in range(1, 24):
        (folder / f"{n:04d}.eml").write_bytes(mail(n))
    rules = MailRules.for_mailbox(load_channels().mailboxes[0], load_settings(), local)
    runs = []
    while True:
        source = DropFolder("support", "INBOX", folder, RUN)
        summary = ingest_folder(register, source, rules, outbound=False, run_time=RUN, batch_size=4,
                                budget=Budget.start(10, 60))
        runs.append((summary.fetched, summary.batches, summary.backlog))
        if not summary.backlog:
            break
    assert runs == [(10, 3, True), (10, 3, True), (3, 1, False)]
    assert scalar(register, "SELECT count(*) FROM feedback.intake") == 23
    assert scalar(register, "SELECT position->>'last_file' FROM feedback.channel_cursor") == "0023.eml"


def test_no_contact_data_in_logs_or_the_task_result(register, local, caplog):
    box = maildir(local)
    deliver(box, "a1", mail(1, body="请回电 13812345678 或写信 zhangsan@example.net"))
    deliver(box, "a2", b"broken \xff from zhangsan@example.net")
    with caplog.at_level(logging.DEBUG):
        result = ingest_mailbox(register, "support", None, RUN)
    text = caplog.text + repr(result) + repr(quarantine.list_parked(register))
    for secret in ("13812345678", "zhangsan@example.net", "张三"):
        assert secret not in text


def test_a_mailbox_with_neither_connection_nor_drop_folder_says_how_to_fix(register, local, tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    conf.mkdir()
    for path in config_dir().glob("*.yaml"):
        (conf / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (conf / "channels.yaml").write_text("mailboxes:\n  - name: sales\n", encoding="utf-8")
    monkeypatch.setenv("FEEDBACK_CONFIG_DIR", str(conf))
    with pytest.raises(Exception, match="AIRFLOW_CONN_FEEDBACK_IMAP_SALES"):
        ingest_mailbox(register, "sales", None, RUN)


def test_a_folder_being_read_elsewhere_is_skipped_not_read_twice(register, local):
    box = maildir(local)
    deliver(box, "a1", mail(1))
    with register.connect().execution_options(isolation_level="AUTOCOMMIT") as other:
        other.execute(sa.text("SELECT pg_advisory_lock(hashtext('email:support/INBOX'))"))
        busy = ingest_mailbox(register, "support", None, RUN)["folders"][0]
        assert (busy["busy"], busy["fetched"]) == (True, 0)
        other.execute(sa.text("SELECT pg_advisory_unlock(hashtext('email:support/INBOX'))"))
    assert ingest_mailbox(register, "support", None, RUN)["folders"][0]["inserted"] == 1


def test_an_oversize_file_in_a_drop_folder_is_parked_without_reading_it_whole(register, local):
    folder = local / "eml"
    folder.mkdir()
    (folder / "001.eml").write_bytes(mail(1, body="大附件" * 20_000))
    rules = MailRules.for_mailbox(load_channels().mailboxes[0], load_settings(), local)
    rules = MailRules(**{**rules.__dict__, "max_message_bytes": 10_000})
    source = DropFolder("support", "INBOX", folder, RUN, max_message_bytes=10_000)
    ingest_folder(register, source, rules, outbound=False, run_time=RUN, batch_size=10, budget=Budget.start(10, 60))
    with register.connect() as conn:
        reason, ref = conn.execute(sa.text("SELECT reason, external_ref FROM feedback.quarantine")).one()
    assert (reason, ref) == ("oversize", "001.eml")
    assert scalar(register, "SELECT count(*) FROM feedback.intake") == 0
    from feedback.privacy import keys

    kept = keys.decrypt(scalar(register, "SELECT raw_encrypted FROM feedback.quarantine"))
    assert kept.startswith(b"From:") and b"Message-ID: <m1.test@example.net>" in kept and len(kept) < 1000


def test_received_at_is_the_maildir_delivery_time_never_the_senders_clock(register, local, ctx):
    """Name stamp first, else the file's time; a 1993 or 2099 Date is kept, flagged, and numbers nothing."""
    import os

    from feedback.channels.mail.items import MailRules, to_intake

    box = maildir(local)
    deliver(box, f"{DELIVERED}.M1P1.mx", mail(1, when=datetime(1993, 2, 6, 10, 0, tzinfo=UTC)))
    deliver(box, "no-stamp-here", mail(2, when=datetime(2099, 1, 1, tzinfo=UTC)))
    file_time = datetime(2026, 10, 12, 2, 30, tzinfo=UTC).timestamp()
    os.utime(box / "new" / "no-stamp-here", (file_time, file_time))
    ingest_mailbox(register, "support", None, RUN)
    rows = {r["external_id"]: r for r in intake(register)}
    first, second = rows["<m1.test@example.net>"], rows["<m2.test@example.net>"]
    assert first["received_at"] == datetime(2026, 10, 12, 1, 0, 5, tzinfo=UTC)
    assert (first["payload"]["sender_date"], first["payload"]["sender_date_flag"]) == (
        "1993-02-06T10:00:00+00:00", "implausible")
    assert second["received_at"] == datetime(2026, 10, 12, 2, 30, tzinfo=UTC)
    assert second["payload"]["sender_date_flag"] == "implausible"
    result = triage.triage_pending(register, LATER, ctx)
    assert result.registered == 2
    numbers = [r[0] for r in register.connect().execute(sa.text("SELECT feedback_no FROM feedback.feedback")).all()]
    assert all(n.startswith("20261012-") for n in numbers), numbers
    # No arrival known (a mail re-read from elsewhere): the topmost Received: header, our MTA's.
    rules = MailRules.for_mailbox(load_channels().mailboxes[0], load_settings(), local)
    raw = mail(3, received="from mx1 by mx.example.com; Mon, 12 Oct 2026 09:30:00 +0800",
               when=datetime(1993, 2, 6, tzinfo=UTC))
    item = to_intake(raw, rules, raw_ref="x", outbound=False, arrived_at=None, run_time=LATER)
    assert item.received_at == datetime(2026, 10, 12, 1, 30, tzinfo=UTC)


def test_spam_feedback_reports_and_list_mail_are_skipped_with_no_receipt(register, local, ctx):
    box = maildir(local)
    deliver(box, "a1", mail(1, headers={"X-Spam-Flag": "YES"}))
    deliver(box, "a2", mail(2, headers={"X-Spam-Status": "Yes, score=18.9 required=5"}))
    deliver(box, "a3", mail(3, headers={"List-Id": "Shop news <news.shop.example>"}))
    deliver(box, "a4", mail(4, headers={"List-Unsubscribe": "<mailto:leave@shop.example>"}))
    arf = (b"From: abuse@isp.example\nTo: support@example.com\nSubject: abuse report\n"
           b"Date: Mon, 12 Oct 2026 09:05:00 +0800\nMessage-ID: <arf1@isp.example>\nMIME-Version: 1.0\n"
           b'Content-Type: multipart/report; report-type=feedback-report; boundary="arf"\n\n'
           b"--arf\nContent-Type: text/plain\n\nThis is an abuse report.\n"
           b"--arf\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nVersion: 1\n"
           b"--arf\nContent-Type: message/rfc822\n\nFrom: support@example.com\nSubject: s\n\nour mail\n--arf--\n")
    deliver(box, "a5", arf)
    deliver(box, "a6", mail(6))
    summary = ingest_mailbox(register, "support", None, RUN)["folders"][0]
    assert (summary["inserted"], summary["skipped"], summary["quarantined"]) == (6, 5, 0)
    reasons = {r["external_id"]: r["status_reason"] for r in intake(register, "status = 'skipped'")}
    assert reasons == {
        "<m1.test@example.net>": "spam: x-spam-flag: yes",
        "<m2.test@example.net>": "spam: x-spam-status: yes",
        "<m3.test@example.net>": "list: List-Id header present",
        "<m4.test@example.net>": "list: List-Unsubscribe header present",
        "<arf1@isp.example>": "report: ARF feedback report",
    }
    result = triage.triage_pending(register, LATER, ctx)
    assert (result.registered, result.acknowledgements) == (1, 1)   # no backscatter to spammers or lists
    assert scalar(register, "SELECT count(*) FROM feedback.outbox") == 1


def test_raw_ref_still_finds_the_mail_after_the_maildir_move_and_a_flag_change(register, local):
    from feedback.channels.mail.sources import locate

    box = maildir(local)
    deliver(box, f"{DELIVERED}.M7P7.mx", mail(1))
    ingest_mailbox(register, "support", None, RUN)
    ref = intake(register)[0]["raw_ref"]
    assert locate(ref) == box / "cur" / f"{DELIVERED}.M7P7.mx:2,"
    (box / "cur" / f"{DELIVERED}.M7P7.mx:2,").rename(box / "cur" / f"{DELIVERED}.M7P7.mx:2,RS")  # read, replied
    assert locate(ref) == box / "cur" / f"{DELIVERED}.M7P7.mx:2,RS"
    assert locate(ref).read_bytes() == mail(1)

"""E-mail intake over IMAP against a real Dovecot: position by UID, faults, resync, oddities, loops.

Every fault test ends with the same check: each appended message is in intake
exactly once or parked in quarantine with a reason, and the folder's cursor
stands at the last UID.
"""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import yaml
from conftest import ROOT, scalar
from mail_samples import auto_reply, bounce, mail, reply

from feedback.channels.mail import imap
from feedback.channels.mail.imap import MailboxError
from feedback.channels.mail.ingest import ingest_mailbox
from feedback.notify.sender import SmtpSettings, send_pending
from feedback.paths import config_dir
from feedback.triage import run as triage
from feedback_dev import smtp_sink

RUN = datetime(2026, 10, 12, 6, 0, tzinfo=UTC)
LATER = datetime(2026, 10, 12, 9, 0, tzinfo=UTC)


@pytest.fixture
def configure(tmp_path, monkeypatch):
    """Copy the shipped configuration, apply overrides, and point the pipeline (and its local state) at it."""
    conf = tmp_path / "config"
    conf.mkdir()
    for path in config_dir().glob("*.yaml"):
        (conf / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("FEEDBACK_CONFIG_DIR", str(conf))
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path / "local"))

    def apply(settings: dict | None = None, mailbox: dict | None = None) -> None:
        data = yaml.safe_load((conf / "settings.yaml").read_text(encoding="utf-8"))
        for section, values in (settings or {}).items():
            data.setdefault(section, {}).update(values)
        (conf / "settings.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        channels = yaml.safe_load((conf / "channels.yaml").read_text(encoding="utf-8"))
        channels["mailboxes"][0].update(mailbox or {})
        (conf / "channels.yaml").write_text(yaml.safe_dump(channels, allow_unicode=True), encoding="utf-8")

    apply(mailbox={"sent_folder": None})   # test users start with an INBOX only
    return apply


def accounted(engine) -> tuple[int, int]:
    return (scalar(engine, "SELECT count(*) FROM feedback.intake WHERE channel = 'email'"),
            scalar(engine, "SELECT count(*) FROM feedback.quarantine WHERE channel = 'email'"))


def cursor(engine, folder="support/INBOX") -> dict:
    return scalar(engine, "SELECT position FROM feedback.channel_cursor WHERE source = :s", s=folder)


def seen_flags(server, folder="INBOX") -> list[bytes]:
    client = server.client()
    try:
        client.select(folder, readonly=True)
        _, data = client.uid("FETCH", "1:*", "(FLAGS)")
        return [d for d in data if d and b"\\Seen" in d]
    finally:
        client.logout()


def test_messages_are_read_by_uid_once_and_never_marked_seen(register, configure, imap_user):
    for n in range(1, 8):
        imap_user.append("INBOX", mail(n))
    summary = ingest_mailbox(register, "support", imap_user.uri("plain"), RUN)
    inbox = summary["folders"][0]
    assert summary["via"] == "imap"
    assert (inbox["fetched"], inbox["inserted"]) == (7, 7)
    assert cursor(register) == {"uidvalidity": imap_user.uidvalidity("INBOX"), "last_uid": 7}
    assert seen_flags(imap_user) == []
    imap_user.append("INBOX", mail(8))
    again = ingest_mailbox(register, "support", imap_user.uri("plain"), RUN)["folders"][0]
    assert (again["fetched"], again["inserted"]) == (1, 1)
    assert accounted(register) == (8, 0)
    row = register.connect().execute(sa.text("SELECT raw_ref, payload FROM feedback.intake ORDER BY id")).first()
    assert row.raw_ref.startswith("imap://support/INBOX;UIDVALIDITY=") and row.raw_ref.endswith(";UID=1")
    assert row.payload["subject"] == "订单 1 支付失败"


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_connections(register, configure, imap_user, security):
    imap_user.append("INBOX", mail(1))
    assert ingest_mailbox(register, "support", imap_user.uri(security), RUN)["folders"][0]["inserted"] == 1


ODDITIES = {
    "nested": b"""From: a@example.net\r\nSubject: nested\r\nMessage-ID: <odd1@x>\r\nMIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary="A"\r\n\r\n--A\r\nContent-Type: multipart/related; boundary="B"\r\n\r
--B\r\nContent-Type: multipart/alternative; boundary="C"\r\n\r\n--C\r\nContent-Type: text/plain; charset=utf-8\r
\r\n\xe8\xae\xa2\xe5\x8d\x95\xe6\xb2\xa1\xe5\x88\xb0\r\n--C\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--C--\r
--B--\r\n--A--\r\n""",
    "missing_boundary": b"From: a@example.net\nSubject: no boundary\nMessage-ID: <odd2@x>\nMIME-Version: 1.0\n"
                        b"Content-Type: multipart/mixed\n\n--zz\nContent-Type: text/plain\n\nbody text\n--zz--\n",
    "dashed_boundary": b"From: a@example.net\nSubject: dashes\nMessage-ID: <odd3@x>\nMIME-Version: 1.0\n"
                       b"Content-Type: multipart/mixed; boundary=\"----=_NextPart_000\"\n\n------=_NextPart_000\n"
                       b"Content-Type: text/plain\n\ndashed body\n------=_NextPart_000--\n",
    "no_blank_line": b"From: a@example.net\nSubject: glued\nMessage-ID: <odd4@x>\nthis line starts the body\n",
    "eight_bit_header": "From: 张三 <a@example.net>\nSubject: 发票开错了\nMessage-ID: <odd5@x>\n\n请重开发票\n"
                        .encode("gbk"),
    "wrong_charset": "From: a@example.net\nSubject: x\nMessage-ID: <odd6@x>\nContent-Type: text/plain; "
                     "charset=gb2312\n\n王喆的订单没到\n".encode("gbk"),
    "empty_body": b"From: a@example.net\nSubject: only a subject\nMessage-ID: <odd7@x>\n\n",
    "nothing_at_all": b"From: a@example.net\nMessage-ID: <odd8@x>\n\n",
    "not_a_mail": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR binary junk",
}


def test_a_corpus_of_mime_oddities_is_each_ingested_or_parked_with_a_reason(register, configure, imap_user):
    configure(settings={"mail": {"max_message_bytes": 300_000, "max_attachment_bytes": 50_000}})
    for raw in ODDITIES.values():
        imap_user.append("INBOX", raw)
    msg = email.message_from_bytes(mail(20), policy=email.policy.default)
    msg.add_attachment(os.urandom(120_000), maintype="application", subtype="zip", filename="logs.zip")
    imap_user.append("INBOX", bytes(msg))        # an attachment over the limit: recorded, not stored
    msg.add_attachment(os.urandom(400_000), maintype="application", subtype="zip", filename="more.zip")
    imap_user.append("INBOX", bytes(msg).replace(b"<m20.test@example.net>", b"<m21.test@example.net>"))
    ingest_mailbox(register, "support", imap_user.uri("plain"), RUN)
    assert sum(accounted(register)) == len(ODDITIES) + 2
    with register.connect() as conn:
        stored = dict(conn.execute(sa.text("SELECT external_id, payload FROM feedback.intake")).all())
        parked = conn.execute(sa.text("SELECT external_ref, reason, detail FROM feedback.quarantine")).all()
    assert "订单没到" in stored["<odd1@x>"]["body"]
    assert "body text" in stored["<odd2@x>"]["body"]
    assert "dashed body" in stored["<odd3@x>"]["body"]
    assert stored["<odd5@x>"]["subject"] == "发票开错了"
    assert "王喆" in stored["<odd6@x>"]["body"]
    assert stored["<odd7@x>"]["subject"] == "only a subject"
    attachments = stored["<m20.test@example.net>"]["attachments"]
    assert [(a["filename"], a["stored"]) for a in attachments] == [("logs.zip", False)]
    assert {p.reason for p in parked} >= {"oversize"}
    assert all(p.reason and p.detail for p in parked)
    assert cursor(register)["last_uid"] == len(ODDITIES) + 2


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from datetime import datetime, timezone
    sys.path[:0] = [{include!r}]
    from feedback.channels import store
    from feedback.channels.mail import ingest
    point, uri = sys.argv[1], sys.argv[2]
    calls = {{"n": 0}}
    real_store, real_upsert = ingest.store_batch, store.upsert

    def store_batch(*args, **kwargs):          # called after a batch was fetched and parsed
        calls["n"] += 1
        if point == "after_fetch" and calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_store(*args, **kwargs)

    def upsert(conn, table, *args, **kwargs):  # inside the open transaction
        written = real_upsert(conn, table, *args, **kwargs)
        if point == "in_transaction" and table == "feedback.intake" and calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return written

    ingest.store_batch, store.upsert = store_batch, upsert
    from feedback.db.engine import get_engine
    ingest.ingest_mailbox(get_engine(), "support", uri, datetime(2026, 10, 12, 6, tzinfo=timezone.utc))
""")


@pytest.mark.parametrize("point", ["after_fetch", "in_transaction"])
def test_a_task_killed_before_commit_loses_and_duplicates_nothing(register, configure, imap_user, point):
    configure(settings={"intake": {"batch_size": 4}})
    for n in range(1, 11):
        imap_user.append("INBOX", mail(n))
    script = KILL_SCRIPT.format(include=str(ROOT / "include"))
    proc = subprocess.run([sys.executable, "-c", script, point, imap_user.uri("plain")], env=os.environ.copy(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert accounted(register) == (4, 0)            # the first batch committed, the second died with its rows
    assert cursor(register)["last_uid"] == 4
    ingest_mailbox(register, "support", imap_user.uri("plain"), RUN)   # the retry
    assert accounted(register) == (10, 0)
    assert scalar(register, "SELECT count(DISTINCT external_id) FROM feedback.intake") == 10
    assert cursor(register)["last_uid"] == 10


def test_the_server_dropping_the_connection_mid_batch_loses_nothing(register, configure, imap_user, monkeypatch):
    configure(settings={"intake": {"batch_size": 3}})
    for n in range(1, 9):
        imap_user.append("INBOX", mail(n))
    real_fetch = imap.ImapReader.fetch
    calls = {"n": 0}

    def fetch(self, uids, max_bytes):
        calls["n"] += 1
        if calls["n"] == 2:
            imap_user.kick()      # the server goes away while we are about to fetch batch 2
        return real_fetch(self, uids, max_bytes)

    monkeypatch.setattr(imap.ImapReader, "fetch", fetch)
    with pytest.raises(MailboxError) as failure:
        ingest_mailbox(register, "support", imap_user.uri("plain"), RUN)
    assert imap_user.password not in str(failure.value)
    assert accounted(register) == (3, 0)
    assert cursor(register)["last_uid"] == 3
    monkeypatch.setattr(imap.ImapReader, "fetch", real_fetch)
    ingest_mailbox(register, "support", imap_user.uri("plain"), RUN)
    assert accounted(register) == (8, 0)
    assert cursor(register)["last_uid"] == 8


def test_a_uidvalidity_reset_rereads_the_folder_without_duplicates(register, configure, imap_user):
    for n in range(1, 6):
        imap_user.append("INBOX", mail(n))
    imap_user.append("INBOX", mail(6, msgid=None))          # identity by content hash
    imap_user.append("INBOX", b"\x00\x01\x02 not a mail \xff")    # parked
    ingest_mailbox(register, "support", imap_user.uri("plain"), RUN)
    assert accounted(register) == (6, 1)
    old = cursor(register)["uidvalidity"]
    imap_user.set_uidvalidity("INBOX", old + 1000)
    imap_user.append("INBOX", mail(7))
    summary = ingest_mailbox(register, "support", imap_user.uri("plain"), RUN)["folders"][0]
    assert summary["resynced"] is True
    assert (summary["fetched"], summary["inserted"], summary["duplicates"]) == (8, 1, 6)
    assert accounted(register) == (7, 1)
    assert cursor(register) == {"uidvalidity": old + 1000, "last_uid": 8}


def test_duplicate_delivery_and_two_folders_store_one_item(register, configure, imap_user):
    configure(mailbox={"folders": ["INBOX", "Archive"]})
    imap_user.create_folder("Archive")
    imap_user.append("INBOX", mail(1))
    imap_user.append("INBOX", mail(1))
    imap_user.append("Archive", mail(1).replace(b"\n", b"\r\n"))
    summary = ingest_mailbox(register, "support", imap_user.uri("plain"), RUN)
    assert [(f["folder"], f["inserted"], f["duplicates"]) for f in summary["folders"]] == [
        ("support/INBOX", 1, 1), ("support/Archive", 0, 1)]
    assert accounted(register) == (1, 0)


def test_move_after_commit_only_when_configured(register, configure, imap_user):
    configure(mailbox={"after_commit": "move", "move_to": "Processed"})
    imap_user.create_folder("Processed")
    for n in range(1, 4):
        imap_user.append("INBOX", mail(n))
    ingest_mailbox(register, "support", imap_user.uri("plain"), RUN)
    client = imap_user.client()
    try:
        assert client.select("INBOX", readonly=True)[1] == [b"0"]
        assert client.select("Processed", readonly=True)[1] == [b"3"]
    finally:
        client.logout()
    assert accounted(register) == (3, 0)


def test_a_backlog_is_taken_over_successive_bounded_runs(register, configure, imap_user):
    configure(settings={"intake": {"batch_size": 50}, "mail": {"max_messages_per_run": 120}})
    imap_user.append_many("INBOX", (mail(n) for n in range(1, 301)))
    runs = []
    while True:
        summary = ingest_mailbox(register, "support", imap_user.uri("plain"), RUN)
        runs.append((summary["folders"][0]["fetched"], summary["folders"][0]["batches"], summary["backlog"]))
        if not summary["backlog"]:
            break
    assert runs == [(120, 3, True), (120, 3, True), (60, 2, False)]
    assert accounted(register) == (300, 0)


def test_bounces_and_auto_reply_loops_never_create_items_or_receipts(register, configure, imap_user, tmp_path):
    configure(mailbox={"sent_folder": "Sent"})
    ctx = triage.load_context()
    imap_user.create_folder("Sent")
    imap_user.append("INBOX", mail(1))
    ingest_mailbox(register, "support", imap_user.uri("plain"), RUN)
    assert triage.triage_pending(register, LATER, ctx).acknowledgements == 1
    sink = smtp_sink.start(tmp_path / "smtp")
    try:
        smtp = SmtpSettings.from_uri(f"smtp://127.0.0.1:{sink.port}?disable_ssl=true&disable_tls=true", "test")
        send_pending(register, smtp, now=LATER, kinds=["ack"])
    finally:
        sink.stop()
    ack = next((tmp_path / "smtp").glob("*.eml")).read_bytes()
    ack_id = scalar(register, "SELECT message_id FROM feedback.outbox WHERE kind = 'ack'")
    # The customer's auto-responder answers our receipt, the receipt bounces elsewhere, and a copy of our
    # own receipt comes back: three rounds of a potential loop.
    imap_user.append("INBOX", auto_reply(2).replace(b"Subject:", f"In-Reply-To: {ack_id}\nSubject:".encode(), 1))
    imap_user.append("INBOX", bounce(3))
    imap_user.append("INBOX", ack)
    # And the customer's real reply threads onto the item.
    imap_user.append("INBOX", reply(4, "<m1.test@example.net>"))
    # Our answer from the Sent folder is the first response.
    imap_user.append("Sent", reply(5, "<m1.test@example.net>", sender="support@example.com", msgid="<r5@example.com>"))
    ingest_mailbox(register, "support", imap_user.uri("plain"), LATER)
    result = triage.triage_pending(register, LATER, ctx)
    assert (result.registered, result.replies, result.responses, result.acknowledgements) == (0, 1, 1, 0)
    assert scalar(register, "SELECT count(*) FROM feedback.intake WHERE status = 'skipped'") == 3
    assert scalar(register, "SELECT count(*) FROM feedback.outbox WHERE kind = 'ack'") == 1
    assert scalar(register, "SELECT count(*) FROM feedback.feedback") == 1


def test_received_at_is_the_servers_internaldate_and_the_sender_date_is_only_kept(register, configure, imap_user,
                                                                                  ctx_for_numbers):
    """A customer's clock said 1993: the item is numbered by when our server received it."""
    arrived = datetime(2026, 10, 12, 1, 2, 3, tzinfo=UTC)
    imap_user.append("INBOX", mail(1, when=datetime(1993, 2, 6, 10, 0, tzinfo=UTC)), when=arrived)
    imap_user.append("INBOX", mail(2, when=datetime(2099, 1, 1, tzinfo=UTC)), when=arrived)
    imap_user.append("INBOX", mail(3), when=arrived)
    ingest_mailbox(register, "support", imap_user.uri("plain"), RUN)
    with register.connect() as conn:
        rows = conn.execute(sa.text("SELECT external_id, received_at, payload FROM feedback.intake "
                                    "ORDER BY external_id")).all()
    assert [r.received_at for r in rows] == [arrived] * 3
    flags = {r.external_id: (r.payload["sender_date"], r.payload.get("sender_date_flag")) for r in rows}
    assert flags["<m1.test@example.net>"] == ("1993-02-06T10:00:00+00:00", "implausible")
    assert flags["<m2.test@example.net>"] == ("2099-01-01T00:00:00+00:00", "implausible")
    assert flags["<m3.test@example.net>"] == ("2026-10-12T01:03:00+00:00", None)
    result = triage.triage_pending(register, LATER, ctx_for_numbers)
    assert result.registered == 3
    with register.connect() as conn:
        numbers = conn.execute(sa.text("SELECT feedback_no FROM feedback.feedback")).scalars().all()
    assert all(n.startswith("20261012-") for n in numbers), numbers


@pytest.fixture(scope="module")
def ctx_for_numbers():
    return triage.load_context()

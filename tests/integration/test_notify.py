"""SLA notifications end to end: outbox rows in PostgreSQL, delivery to a real SMTP server and HTTP robot."""

from __future__ import annotations

import email
import json
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from conftest import scalar

from feedback.errors import FeedbackError
from feedback.notify.digest import AlertEntry
from feedback.notify.escalation import load_ladder
from feedback.notify.outbox import OutboxRow, enqueue_alert_digests, write_rows
from feedback.notify.sender import SmtpSettings, send_pending
from feedback.privacy import vault
from feedback_dev import smtp_sink

RUN = datetime(2026, 10, 5, 10, 0, tzinfo=UTC)
CUSTOMER = "zhang.san@qq.com"

LADDER = """\
groups:
  default: [{{email: duty@example.com}}]
  pe-oncall: [{{email: pe-oncall@example.com}}]
  cs-complaints: [{{email: complaints@example.com, locale: en}}]
{hooks}
supervisors:
  default: [{{email: supervisor@example.com}}]
  product_engineering: [{{email: pe-lead@example.com}}]
director: [{{email: director@example.com}}]
levels:
  - {{after: 4h, add: [director]}}
"""


def ladder_at(tmp_path, hook_url=None, fmt="wecom"):
    hooks = f"  po-backlog: [{{webhook: {{url: '{hook_url}', format: {fmt}}}}}]" if hook_url else ""
    path = tmp_path / "escalation.yaml"
    path.write_text(LADDER.format(hooks=hooks), encoding="utf-8")
    return load_ladder(path)


def entry(n, kind="warning", priority="high", group="pe-oncall", dept="product_engineering", level=0):
    return AlertEntry(
        feedback_id=n, feedback_no=f"20261005-{n:03d}", priority=priority, department=dept, handler_group=group,
        stage="first_response", kind=kind, due_at=RUN - timedelta(hours=1) if kind == "breach" else RUN,
        detected_at=RUN, used_share=1.1 if kind == "breach" else 0.85, escalation_level=level,
        subject=f"支付失败 {n} 号，手机 138****5678",
    )


ENTRIES = [entry(1), entry(2, "breach", "urgent"), entry(3, group="cs-complaints")]


def outbox(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM feedback.outbox ORDER BY id")).all()


def plain_smtp(port, sender="sla@example.com"):
    return SmtpSettings.from_uri(f"smtp://127.0.0.1:{port}?disable_tls=true&disable_ssl=true&from_email={sender}")


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mails(folder):
    return [email.message_from_bytes(p.read_bytes(), policy=default) for p in sorted(folder.glob("*.eml"))]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def sink(tmp_path):
    server = smtp_sink.start(tmp_path / "mail")
    yield server
    server.stop()


class Robot:
    """A chat robot on 127.0.0.1 answering the scripted statuses in turn (then 200), recording every POST."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = robot.statuses.pop(0) if robot.statuses else 200
                robot.requests.append({"status": status, "body": json.loads(body), "headers": dict(self.headers),
                                       "path": self.path})
                reply = b'{"errcode":0,"errmsg":"ok"}' if status == 200 else b'{"errcode":-1}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/webhook/send?key=robot-secret"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def robot():
    robots = []

    def start(statuses):
        robots.append(Robot(statuses))
        return robots[-1]

    yield start
    for r in robots:
        r.stop()


# --- enqueue -----------------------------------------------------------------------------------


def test_enqueue_writes_one_row_per_recipient_once(register, tmp_path):
    ladder = ladder_at(tmp_path)
    with register.begin() as conn:
        assert enqueue_alert_digests(conn, RUN, ENTRIES, ladder) == 4
    with register.begin() as conn:
        assert enqueue_alert_digests(conn, RUN, list(reversed(ENTRIES)), ladder) == 0
    rows = outbox(register)
    assert sorted(r.recipient for r in rows) == [
        "complaints@example.com", "director@example.com", "pe-lead@example.com", "pe-oncall@example.com"]
    assert {r.kind for r in rows} == {"sla_digest"}
    assert len({r.message_id for r in rows}) == 4 and all(r.message_id.startswith("<sla-") for r in rows)
    assert all(r.created_at == RUN and r.sent_at is None and r.attempts == 0 for r in rows)
    lead = next(r for r in rows if r.recipient == "pe-lead@example.com")
    assert lead.subject == "[SLA] 1 项超时 — 2026-10-05 18:00"
    assert "20261005-002" in lead.payload["html"] and "20261005-001" not in lead.payload["text"]
    english = next(r for r in rows if r.recipient == "complaints@example.com")
    assert english.subject == "[SLA] 1 at risk — 2026-10-05 18:00" and english.payload["locale"] == "en"


def test_enqueue_is_part_of_the_callers_transaction(register, tmp_path):
    ladder = ladder_at(tmp_path)
    with pytest.raises(RuntimeError), register.begin() as conn:
        assert enqueue_alert_digests(conn, RUN, ENTRIES, ladder) == 4
        raise RuntimeError("the monitor run failed")
    assert scalar(register, "SELECT count(*) FROM feedback.outbox") == 0
    with register.begin() as conn:  # a later run with a new alert writes new digests
        enqueue_alert_digests(conn, RUN, ENTRIES, ladder)
        assert enqueue_alert_digests(conn, RUN + timedelta(minutes=10), [entry(4)], ladder) == 1


# --- mail --------------------------------------------------------------------------------------


def test_mail_is_delivered_once_with_the_stored_message_id(register, tmp_path, sink):
    with register.begin() as conn:
        enqueue_alert_digests(conn, RUN, ENTRIES, ladder_at(tmp_path))
    assert send_pending(register, smtp=plain_smtp(sink.port), now=RUN) == {"sent": 4, "failed": 0, "gave_up": 0}
    rows = {r.message_id: r for r in outbox(register)}
    received = mails(sink.folder)
    assert len(received) == 4
    for msg in received:
        row = rows[msg["Message-ID"]]
        assert msg["To"] == row.recipient and msg["From"] == "sla@example.com"
        assert msg["Subject"] == row.subject and "项" in msg["Subject"] or "at risk" in msg["Subject"]
        assert msg.get_content_type() == "multipart/alternative"
        text, html = msg.get_body(("plain",)), msg.get_body(("html",))
        assert text.get_content().replace("\r\n", "\n") == row.payload["text"]
        assert html.get_content().replace("\r\n", "\n") == row.payload["html"]
        assert text.get_content_charset() == "utf-8"
    raw = (sorted(sink.folder.glob("*.eml"))[0]).read_bytes()
    assert b"=?utf-8?" in raw.lower() and "超时".encode() not in raw.split(b"\r\n\r\n")[0]
    zh = next(m for m in received if m["To"] == "pe-lead@example.com")
    assert zh["Subject"] == "[SLA] 1 项超时 — 2026-10-05 18:00"
    assert all(r.sent_at == RUN for r in rows.values())

    assert send_pending(register, smtp=plain_smtp(sink.port), now=RUN + timedelta(hours=1)) == {
        "sent": 0, "failed": 0, "gave_up": 0}
    assert len(mails(sink.folder)) == 4


def test_smtp_down_counts_an_attempt_and_names_no_address(register, tmp_path):
    with register.begin() as conn:
        enqueue_alert_digests(conn, RUN, ENTRIES, ladder_at(tmp_path))
    down = plain_smtp(closed_port())
    assert send_pending(register, smtp=down, now=RUN) == {"sent": 0, "failed": 4, "gave_up": 0}
    rows = outbox(register)
    assert all(r.attempts == 1 and r.sent_at is None and r.not_before == RUN + timedelta(minutes=1) for r in rows)
    for row in rows:
        assert "cannot connect" in row.last_error and "\n" not in row.last_error
        assert "@" not in row.last_error and row.recipient not in row.last_error
    assert send_pending(register, smtp=down, now=RUN + timedelta(seconds=30)) == {
        "sent": 0, "failed": 0, "gave_up": 0}
    assert send_pending(register, smtp=down, now=RUN + timedelta(minutes=1), max_attempts=2) == {
        "sent": 0, "failed": 0, "gave_up": 4}
    assert {r.attempts for r in outbox(register)} == {2}
    assert send_pending(register, smtp=down, now=RUN + timedelta(days=1), max_attempts=2)["gave_up"] == 0


def test_missing_smtp_connection_is_one_line_and_touches_nothing(register, tmp_path, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_FEEDBACK_SMTP", raising=False)
    with register.begin() as conn:
        enqueue_alert_digests(conn, RUN, ENTRIES, ladder_at(tmp_path))
    with pytest.raises(FeedbackError, match="AIRFLOW_CONN_FEEDBACK_SMTP"):
        send_pending(register, now=RUN)
    assert {(r.attempts, r.last_error) for r in outbox(register)} == {(0, None)}


def test_a_vault_recipient_is_resolved_at_send_time_and_audited(register, sink):
    with register.begin() as conn:
        vid, purged = vault.store_contacts(conn, [("email", CUSTOMER), ("email", "li.si@163.com")], RUN)
        conn.execute(sa.text("UPDATE feedback.contact_vault SET ciphertext = NULL, purged_at = :t WHERE id = :i"),
                     {"t": RUN, "i": purged})
        write_rows(conn, [
            OutboxRow("ack", f"ack:{n}", f"vault:{v}", RUN, subject="我们已收到您的反馈 20261005-001",
                      body="您好，我们已收到您的反馈，编号 20261005-001。", message_id=f"<ack-{n}@feedback.local>",
                      recipient_vault_id=v)
            for n, v in ((1, vid), (2, purged))
        ])
    assert send_pending(register, smtp=plain_smtp(sink.port), now=RUN) == {"sent": 1, "failed": 0, "gave_up": 1}
    (msg,) = mails(sink.folder)
    assert msg["To"] == CUSTOMER and msg["Message-ID"] == "<ack-1@feedback.local>"
    assert msg.get_content().strip() == "您好，我们已收到您的反馈，编号 20261005-001。"
    rows = outbox(register)
    assert [r.recipient for r in rows] == [f"vault:{vid}", f"vault:{purged}"]
    assert rows[0].sent_at == RUN and rows[1].sent_at is None and rows[1].attempts == 5
    assert "purged" in rows[1].last_error and "@" not in rows[1].last_error
    with register.connect() as conn:
        audit = conn.execute(sa.text("SELECT vault_id, actor, purpose, revealed_at FROM feedback.contact_reveal")).all()
    assert [tuple(a) for a in audit] == [(vid, "outbox", "send ack", RUN)]
    assert CUSTOMER not in json.dumps([str(tuple(r)) for r in rows], ensure_ascii=False)


def _self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(RUN - timedelta(days=1))
            .not_valid_after(datetime(2099, 1, 1, tzinfo=UTC)).sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_mail_over_starttls_and_ssl_with_login(register, tmp_path, mode):
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=True)

    context = _self_signed(tmp_path)
    port = closed_port()
    tls = {"tls_context": context, "require_starttls": True} if mode == "starttls" else {
        "ssl_context": context, "auth_require_tls": False}  # aiosmtpd cannot tell implicit TLS
    controller = Controller(smtp_sink._StoreHandler(tmp_path), hostname="127.0.0.1", port=port,
                            authenticator=authenticator, auth_required=True, **tls)
    controller.start()
    try:
        with register.begin() as conn:
            enqueue_alert_digests(conn, RUN, ENTRIES[:1], ladder_at(tmp_path))
        flags = "disable_ssl=true" if mode == "starttls" else "disable_tls=true"
        settings = SmtpSettings.from_uri(f"smtp://bot:s3cret@127.0.0.1:{port}?{flags}&ssl_context=none")
        assert settings.mode == mode
        assert send_pending(register, smtp=settings, now=RUN)["sent"] == 1
    finally:
        controller.stop()
    assert logins == [(b"bot", b"s3cret")]
    (msg,) = mails(tmp_path)
    assert msg["Subject"] == "[SLA] 1 项即将超时 — 2026-10-05 18:00"


class _Refuser:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd API
        return f"550 5.1.1 <{address}>: Recipient address rejected"


def test_a_refused_customer_address_gives_up_without_naming_it(register):
    controller = Controller(_Refuser(), hostname="127.0.0.1", port=closed_port())
    controller.start()
    try:
        with register.begin() as conn:
            (vid,) = vault.store_contacts(conn, [("email", CUSTOMER)], RUN)
            write_rows(conn, [OutboxRow("survey", "survey:1", f"vault:{vid}", RUN, subject="满意度回访",
                                        body="请为本次服务打分。", recipient_vault_id=vid)])
        assert send_pending(register, smtp=plain_smtp(controller.port), now=RUN)["gave_up"] == 1
    finally:
        controller.stop()
    (row,) = outbox(register)
    assert "recipient refused (550)" in row.last_error
    assert CUSTOMER not in row.last_error and "zhang" not in row.last_error


# --- webhooks ----------------------------------------------------------------------------------


def test_webhook_is_retried_with_backoff_until_sent_once(register, tmp_path, robot):
    hook = robot([500, 500, 200])
    with register.begin() as conn:
        assert enqueue_alert_digests(conn, RUN, [entry(1, group="po-backlog")], ladder_at(tmp_path, hook.url)) == 1
    (row,) = outbox(register)
    assert row.kind == "sla_webhook" and row.recipient == hook.url

    def send(at):
        return send_pending(register, now=at, kinds=["sla_webhook"])

    assert send(RUN) == {"sent": 0, "failed": 1, "gave_up": 0}
    (row,) = outbox(register)
    assert (row.attempts, row.not_before) == (1, RUN + timedelta(minutes=1))
    assert row.last_error == "webhook 127.0.0.1: HTTP 500" and "robot-secret" not in row.last_error
    assert send(RUN + timedelta(seconds=59))["failed"] == 0 and len(hook.requests) == 1
    assert send(RUN + timedelta(minutes=1)) == {"sent": 0, "failed": 1, "gave_up": 0}
    (row,) = outbox(register)
    assert (row.attempts, row.not_before) == (2, RUN + timedelta(minutes=3))
    assert send(RUN + timedelta(minutes=2)) == {"sent": 0, "failed": 0, "gave_up": 0}
    assert send(RUN + timedelta(minutes=3)) == {"sent": 1, "failed": 0, "gave_up": 0}
    assert send(RUN + timedelta(hours=2)) == {"sent": 0, "failed": 0, "gave_up": 0}
    (row,) = outbox(register)
    assert row.sent_at == RUN + timedelta(minutes=3)
    assert [r["status"] for r in hook.requests] == [500, 500, 200]
    success = hook.requests[-1]
    assert success["body"] == row.payload["json"] and success["body"]["msgtype"] == "markdown"
    assert success["body"]["markdown"]["content"].startswith("**[SLA] 1 项即将超时")
    assert success["headers"]["X-Feedback-Message-Id"] == row.message_id
    assert "138＊＊＊＊5678" in success["body"]["markdown"]["content"]  # masked, and not markdown emphasis


def test_webhook_client_error_gives_up_at_once(register, tmp_path, robot):
    hook = robot([400])
    with register.begin() as conn:
        enqueue_alert_digests(conn, RUN, [entry(1, group="po-backlog")], ladder_at(tmp_path, hook.url, "generic"))
    assert send_pending(register, now=RUN, kinds=["sla_webhook"], max_attempts=5) == {
        "sent": 0, "failed": 0, "gave_up": 1}
    (row,) = outbox(register)
    assert row.attempts == 5 and row.sent_at is None and "HTTP 400" in row.last_error
    assert send_pending(register, now=RUN + timedelta(days=1), kinds=["sla_webhook"])["gave_up"] == 0
    assert len(hook.requests) == 1 and hook.requests[0]["body"]["kind"] == "sla_digest"


def test_rate_limited_webhook_is_retried(register, tmp_path, robot):
    hook = robot([429])
    with register.begin() as conn:
        enqueue_alert_digests(conn, RUN, [entry(1, group="po-backlog")], ladder_at(tmp_path, hook.url))
    assert send_pending(register, now=RUN, kinds=["sla_webhook"])["failed"] == 1
    assert send_pending(register, now=RUN + timedelta(minutes=1), kinds=["sla_webhook"])["sent"] == 1
    assert [r["status"] for r in hook.requests] == [429, 200]


# --- concurrency -------------------------------------------------------------------------------


def test_concurrent_senders_never_send_a_row_twice(register, sink):
    total = 30
    with register.begin() as conn:
        write_rows(conn, [
            OutboxRow("sla_digest", f"c:{n}", f"ops{n}@example.com", RUN, subject=f"[SLA] 摘要 {n}",
                      body=f"第 {n} 封", message_id=f"<c-{n}@feedback.local>")
            for n in range(total)
        ])
    start = threading.Barrier(3)
    results, errors = [], []

    def worker():
        start.wait()
        try:
            results.append(send_pending(register, smtp=plain_smtp(sink.port), now=RUN))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sum(r["sent"] for r in results) == total
    ids = [m["Message-ID"] for m in mails(sink.folder)]
    assert len(ids) == total and len(set(ids)) == total
    assert scalar(register, "SELECT count(*) FROM feedback.outbox WHERE sent_at IS NULL") == 0

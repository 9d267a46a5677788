"""The web-form intake endpoint over real HTTP (uvicorn on 127.0.0.1) against a real register.

Each test runs the app on a free port and talks to it with httpx, the way a website
(or its server) would: what is accepted lands once in feedback.webform_submission,
what is refused stores nothing and is answered without echoing what was sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from conftest import ROOT, scalar
from fastapi import FastAPI
from web_server import serve

from feedback.channels.config import Channels, WebForm, WebForms
from feedback.web.app import create_app, standalone_app
from feedback.web.schema import PHONE_REASON

NOW = datetime(2026, 10, 20, 2, 0, 30, tzinfo=UTC)
PHONE, EMAIL, NAME = "13812345678", "zhang.san.private@example.cn", "张三"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
SECRET = "s3cret-token-for-tests"
FIELDS = {"name": NAME, "phone": PHONE, "email": EMAIL, "category": "function_problem",
          "message": "支付失败，扣款两次，请尽快处理"}




def channels(**overrides) -> Channels:
    forms = [
        WebForm(name="contact_zh", **overrides),
        WebForm(name="contact_en", locale="en"),
        WebForm(name="signed", verify="hmac"),
        WebForm(name="tokened", verify="token"),
    ]
    return Channels(webforms=WebForms(forms=forms))


@pytest.fixture
def local(tmp_path, monkeypatch):
    """Local state of the test's own (attachments land under it) and a fixed hash key."""
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path))
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "a-hash-key-for-the-webform-tests")
    return tmp_path


@pytest.fixture
def server(register, local):
    """A function starting the app (mounted at /feedback) with the given forms; yields base URLs."""
    started = []

    def start(chans: Channels | None = None, **kwargs) -> str:
        root = FastAPI()
        root.mount("/feedback", create_app(engine=lambda: register, channels=chans or channels(),
                                           now=kwargs.pop("now", lambda: NOW), **kwargs))
        ctx = serve(root)
        started.append(ctx)
        return ctx.__enter__()

    yield start
    for ctx in reversed(started):
        ctx.__exit__(None, None, None)


def landed(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            sa.text("SELECT * FROM feedback.webform_submission ORDER BY id")).mappings()]


def stored_files(local) -> list:
    folder = local / "attachments"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def assert_nothing_stored(engine, local) -> None:
    assert scalar(engine, "SELECT count(*) FROM feedback.webform_submission") == 0
    assert stored_files(local) == []


# --- accepted submissions ------------------------------------------------------------------------


def test_json_submission_lands_once_with_a_receipt(server, register, caplog):
    base = server()
    caplog.set_level(logging.INFO)
    reply = httpx.post(f"{base}/feedback/intake/contact_zh", json={"fields": FIELDS, "locale": "zh-CN"})
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert body["status"] == "received" and body["receipt_id"].startswith("wf-") and len(body["receipt_id"]) == 29
    [row] = landed(register)
    assert row["receipt_id"] == body["receipt_id"]
    assert (row["form"], row["locale"], row["received_at"], row["moved_at"]) == ("contact_zh", "zh-CN", NOW, None)
    assert row["fields"] == FIELDS and row["attachments"] == [] and row["idempotency_key"] is None
    assert len(row["client_hash"]) == 64 and "127.0.0.1" not in row["client_hash"]
    assert body["receipt_id"] in caplog.text
    for secret in (PHONE, EMAIL, NAME):
        assert secret not in caplog.text


def test_urlencoded_submission_lands(server, register):
    base = server()
    reply = httpx.post(f"{base}/feedback/intake/contact_en", data={**FIELDS, "category": "praise", "locale": "en",
                                                                   "website": ""})
    assert reply.status_code == 202, reply.text
    [row] = landed(register)
    assert row["form"] == "contact_en" and row["locale"] == "en"
    assert row["fields"] == {**FIELDS, "category": "praise"}


def test_multipart_with_a_file_lands_and_stores_the_file_privately(server, register, local):
    base = server()
    reply = httpx.post(f"{base}/feedback/intake/contact_zh", data=FIELDS,
                       files=[("attachments", ("screen shot.png", PNG, "image/png")),
                              ("attachments", ("log.txt", "错误码 E42\n".encode(), "text/plain"))])
    assert reply.status_code == 202, reply.text
    [row] = landed(register)
    sha = hashlib.sha256(PNG).hexdigest()
    assert row["attachments"][0] == {"name": "screen shot.png", "content_type": "image/png", "size": len(PNG),
                                     "sha256": sha}
    assert row["attachments"][1]["content_type"] == "text/plain"
    path = local / "attachments" / sha[:2] / sha
    assert path.read_bytes() == PNG
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert len(stored_files(local)) == 2


def test_an_empty_file_input_is_not_an_attachment(server, register):
    base = server()
    reply = httpx.post(f"{base}/feedback/intake/contact_zh", data={"message": "没有附件"},
                       files={"attachments": ("", b"", "application/octet-stream")})
    assert reply.status_code == 202, reply.text
    assert landed(register)[0]["attachments"] == []


def test_a_retry_with_the_same_idempotency_key_gets_the_same_receipt(server, register):
    base = server()
    headers = {"Idempotency-Key": "4b1e0c9e-retry-1"}
    first = httpx.post(f"{base}/feedback/intake/contact_zh", json={"fields": FIELDS}, headers=headers)
    again = httpx.post(f"{base}/feedback/intake/contact_zh", json={"fields": FIELDS}, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json()["receipt_id"] == again.json()["receipt_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert scalar(register, "SELECT count(*) FROM feedback.webform_submission") == 1
    other = httpx.post(f"{base}/feedback/intake/contact_zh", json={"fields": FIELDS},
                       headers={"Idempotency-Key": "another-key"})
    assert other.json()["receipt_id"] != first.json()["receipt_id"]
    assert scalar(register, "SELECT count(*) FROM feedback.webform_submission") == 2


def test_concurrent_retries_on_two_workers_store_one_row(server, register):
    """Two API-server workers (two servers on one register) receive the same retry at once."""
    bases = [server(), server()]
    barrier = threading.Barrier(2)
    receipts: list[str] = []

    def post(base: str) -> None:
        barrier.wait()
        reply = httpx.post(f"{base}/feedback/intake/contact_zh", json={"fields": FIELDS},
                           headers={"Idempotency-Key": "same-click"})
        receipts.append(reply.json()["receipt_id"])

    threads = [threading.Thread(target=post, args=(b,)) for b in bases]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(receipts) == 2 and receipts[0] == receipts[1]
    assert scalar(register, "SELECT count(*) FROM feedback.webform_submission") == 1


# --- refused submissions store nothing -----------------------------------------------------------


def test_unknown_form_is_404(server, register, local):
    base = server()
    reply = httpx.post(f"{base}/feedback/intake/no_such_form", json={"fields": FIELDS})
    assert reply.status_code == 404 and reply.json() == {"error": "unknown_form"}
    assert_nothing_stored(register, local)


def test_oversize_by_content_length_is_413_and_stores_nothing(server, register, local):
    base = server(channels(max_bytes=1024))
    reply = httpx.post(f"{base}/feedback/intake/contact_zh", json={"fields": {**FIELDS, "message": "长" * 800}})
    assert reply.status_code == 413 and reply.json()["error"] == "too_large"
    assert_nothing_stored(register, local)


def test_oversize_without_content_length_is_413_from_the_bytes_read(server, register, local):
    """A chunked body declares no length: the limit applies to what is actually read."""
    base = server(channels(max_bytes=1024))
    body = json.dumps({"fields": {**FIELDS, "message": "x" * 3000}}).encode()

    def chunks():
        for start in range(0, len(body), 256):
            yield body[start:start + 256]

    reply = httpx.post(f"{base}/feedback/intake/contact_zh", content=chunks(),
                       headers={"Content-Type": "application/json"})
    assert reply.status_code == 413
    assert_nothing_stored(register, local)


def test_multipart_may_carry_attachments_beyond_max_bytes_but_not_beyond_their_limit(server, register, local):
    base = server(channels(max_bytes=1024, max_attachment_bytes=4096, max_attachments=1))
    ok = httpx.post(f"{base}/feedback/intake/contact_zh", data={"message": "见附件"},
                    files={"attachments": ("a.png", PNG + bytes(3000), "image/png")})
    assert ok.status_code == 202, ok.text
    too_big = httpx.post(f"{base}/feedback/intake/contact_zh", data={"message": "见附件"},
                         files={"attachments": ("a.png", PNG + bytes(4100), "image/png")})
    assert too_big.status_code == 413
    too_many = httpx.post(f"{base}/feedback/intake/contact_zh", data={"message": "见附件"},
                          files=[("attachments", ("a.png", PNG, "image/png")),
                                 ("attachments", ("b.png", PNG[:-1], "image/png"))])
    assert too_many.status_code == 413 and "too many attachments" in too_many.json()["reason"]
    assert scalar(register, "SELECT count(*) FROM feedback.webform_submission") == 1
    assert len(stored_files(local)) == 1


@pytest.mark.parametrize(
    ("name", "data", "declared"),
    [("tool.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00", "application/octet-stream"),
     ("fake.png", b"just text pretending", "image/png"),
     ("page.html", b"<html>hi</html>", "text/html")],
)
def test_attachments_of_other_kinds_are_422(server, register, local, name, data, declared):
    base = server()
    reply = httpx.post(f"{base}/feedback/intake/contact_zh", data={"message": "见附件"},
                       files={"attachments": (name, data, declared)})
    assert reply.status_code == 422
    assert reply.json() == {"error": "invalid", "fields": {"attachments": "type not allowed (images, PDF or plain text)"}}
    assert_nothing_stored(register, local)


def test_bad_fields_are_422_naming_each_field_without_echoing_values(server, register, local):
    base = server()
    bad_phone = "1381234567890123456789"
    reply = httpx.post(f"{base}/feedback/intake/contact_zh",
                       json={"fields": {"name": NAME, "phone": bad_phone, "email": "not-an-address",
                                        "category": "lottery", "expected_resolution": "尽快"}})
    assert reply.status_code == 422
    assert reply.json() == {"error": "invalid", "fields": {
        "phone": PHONE_REASON, "email": "not an e-mail address", "category": "not one of the choices",
        "expected_resolution": "not a date (YYYY-MM-DD)", "message": "required"}}
    for value in (bad_phone, "not-an-address", "lottery", NAME):
        assert value not in reply.text
    assert_nothing_stored(register, local)


def test_too_long_and_non_text_fields_are_named(server, register, local):
    base = server()
    reply = httpx.post(f"{base}/feedback/intake/contact_zh",
                       json={"fields": {"message": "长" * 10_001, "order_no": 12345}})
    assert reply.status_code == 422
    assert reply.json()["fields"] == {"message": "longer than 10000 characters", "order_no": "must be text"}
    assert_nothing_stored(register, local)


def test_unknown_fields_are_422_naming_them(server, register, local):
    base = server()
    reply = httpx.post(f"{base}/feedback/intake/contact_zh",
                       data={**FIELDS, "favourite_colour": "blue", PHONE: "x"})
    assert reply.status_code == 422
    assert reply.json()["fields"] == {"favourite_colour": "unknown field", "_unknown": "1 unknown field name(s)"}
    assert PHONE not in reply.text
    assert_nothing_stored(register, local)


def test_a_filled_honeypot_is_422_without_saying_why(server, register, local):
    base = server()
    reply = httpx.post(f"{base}/feedback/intake/contact_zh", data={**FIELDS, "website": "http://spam.example"})
    assert reply.status_code == 422 and reply.json() == {"error": "invalid"}
    assert_nothing_stored(register, local)


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [(b'{"fields": ', "application/json", 400), (b'["a list"]', "application/json", 422),
     (b'{"fields": {}, "extra": 1}', "application/json", 422), (b"message=hi", "text/plain", 415)],
)
def test_unreadable_bodies_are_refused(server, register, local, content, content_type, status):
    base = server()
    reply = httpx.post(f"{base}/feedback/intake/contact_zh", content=content, headers={"Content-Type": content_type})
    assert reply.status_code == status
    assert_nothing_stored(register, local)


# --- verification --------------------------------------------------------------------------------


def test_token_verification(server, register, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_WEBFORM_TOKENED", f"generic://:{SECRET}@")
    base = server()
    url = f"{base}/feedback/intake/tokened"
    missing = httpx.post(url, json={"fields": FIELDS})
    wrong = httpx.post(url, json={"fields": FIELDS}, headers={"Authorization": "Bearer not-the-token"})
    ok = httpx.post(url, json={"fields": FIELDS}, headers={"Authorization": f"Bearer {SECRET}"})
    assert (missing.status_code, missing.json()["reason"]) == (401, "missing token")
    assert (wrong.status_code, wrong.json()["reason"]) == (401, "invalid token")
    assert ok.status_code == 202
    assert scalar(register, "SELECT count(*) FROM feedback.webform_submission") == 1


def _signed(body: bytes, timestamp: int, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Feedback-Timestamp": str(timestamp), "X-Feedback-Signature": f"sha256={digest}",
            "Content-Type": "application/json"}


def test_hmac_verification(server, register, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_WEBFORM_SIGNED", json.dumps({"conn_type": "generic", "password": SECRET}))
    base = server()
    url = f"{base}/feedback/intake/signed"
    body = json.dumps({"fields": FIELDS}, ensure_ascii=False).encode()
    now = int(NOW.timestamp())
    ok = httpx.post(url, content=body, headers=_signed(body, now - 30))
    unsigned = httpx.post(url, content=body, headers={"Content-Type": "application/json"})
    tampered = httpx.post(url, content=body.replace(b"function_problem", b"praise"), headers=_signed(body, now))
    wrong_key = httpx.post(url, content=body, headers=_signed(body, now, "another-secret"))
    expired = httpx.post(url, content=body, headers=_signed(body, now - 301))
    assert ok.status_code == 202, ok.text
    assert [(r.status_code, r.json()["reason"]) for r in (unsigned, tampered, wrong_key, expired)] == [
        (401, "missing signature"), (401, "invalid signature"), (401, "invalid signature"),
        (401, "expired signature")]
    assert scalar(register, "SELECT count(*) FROM feedback.webform_submission") == 1


def test_missing_secret_connection_is_503_naming_it(server, register, local, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_FEEDBACK_WEBFORM_SIGNED", raising=False)
    base = server()
    reply = httpx.post(f"{base}/feedback/intake/signed", json={"fields": FIELDS})
    assert reply.status_code == 503
    assert "feedback_webform_signed" in reply.json()["reason"]
    assert "\n" not in reply.json()["reason"]
    assert_nothing_stored(register, local)


def test_a_connection_without_password_is_503(server, register, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_WEBFORM_TOKENED", "generic://someone@host")
    base = server()
    reply = httpx.post(f"{base}/feedback/intake/tokened", json={"fields": FIELDS},
                       headers={"Authorization": "Bearer x"})
    assert reply.status_code == 503 and "has no password" in reply.json()["reason"]


# --- rate limit and CORS -------------------------------------------------------------------------


def test_rate_limit_is_shared_by_workers_and_answers_retry_after(server, register):
    """Three per minute, counted in the register: two servers together allow three, not six."""
    first, second = server(channels(rate_limit_per_minute=3)), server(channels(rate_limit_per_minute=3))
    codes = [httpx.post(f"{base}/feedback/intake/contact_zh", json={"fields": FIELDS}).status_code
             for base in (first, second, first)]
    assert codes == [202, 202, 202]
    limited = httpx.post(f"{second}/feedback/intake/contact_zh", json={"fields": FIELDS})
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "30"  # NOW is 30 s into its minute
    assert scalar(register, "SELECT count(*) FROM feedback.webform_submission") == 3
    other_form = httpx.post(f"{first}/feedback/intake/contact_en", json={"fields": FIELDS})
    assert other_form.status_code == 202


def test_the_next_minute_opens_a_new_window(server, register):
    clock = [NOW]
    base = server(channels(rate_limit_per_minute=1), now=lambda: clock[0])
    url = f"{base}/feedback/intake/contact_zh"
    assert [httpx.post(url, json={"fields": FIELDS}).status_code for _ in range(2)] == [202, 429]
    clock[0] = NOW.replace(minute=1)
    assert httpx.post(url, json={"fields": FIELDS}).status_code == 202


def test_cors_only_for_the_forms_allowed_origins(server):
    base = server(channels(allowed_origins=["https://www.example.com"]))
    url = f"{base}/feedback/intake/contact_zh"
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type, idempotency-key"}
    allowed = httpx.options(url, headers={"Origin": "https://www.example.com", **preflight})
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://www.example.com"
    assert "Idempotency-Key" in allowed.headers["Access-Control-Allow-Headers"]
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    denied = httpx.options(url, headers={"Origin": "https://evil.example", **preflight})
    assert denied.status_code == 403 and "Access-Control-Allow-Origin" not in denied.headers
    other_form = httpx.options(f"{base}/feedback/intake/contact_en",
                               headers={"Origin": "https://www.example.com", **preflight})
    assert "Access-Control-Allow-Origin" not in other_form.headers

    posted = httpx.post(url, json={"fields": FIELDS}, headers={"Origin": "https://www.example.com"})
    assert posted.status_code == 202
    assert posted.headers["Access-Control-Allow-Origin"] == "https://www.example.com"
    refused = httpx.post(url, json={"fields": {}}, headers={"Origin": "https://www.example.com"})
    assert refused.status_code == 422 and refused.headers["Access-Control-Allow-Origin"] == "https://www.example.com"
    foreign = httpx.post(url, json={"fields": FIELDS}, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in foreign.headers


# --- pages, the standalone app, the plugin, the register's roles -----------------------------------


def test_standalone_app_serves_page_script_and_intake_with_the_shipped_config(register, local):
    """`uvicorn --factory feedback.web.app:standalone_app`: channels.yaml and AIRFLOW_CONN_FEEDBACK_DB."""
    with serve(standalone_app()) as base:
        page = httpx.get(f"{base}/feedback/forms/contact_zh")
        assert page.status_code == 200 and 'lang="zh-CN"' in page.text
        assert 'data-form="contact_zh"' in page.text and 'data-endpoint="../intake/contact_zh"' in page.text
        assert 'lang="en"' in httpx.get(f"{base}/feedback/forms/contact_zh?lang=en").text
        assert 'lang="en"' in httpx.get(f"{base}/feedback/forms/contact_en").text
        assert httpx.get(f"{base}/feedback/forms/nope").status_code == 404
        script = httpx.get(f"{base}/feedback/static/feedback-form.js")
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        assert 'data-form="contact_zh"' in script.text  # the embedding comment
        assert httpx.get(f"{base}/feedback/static/feedback-form.css").status_code == 200
        assert httpx.get(f"{base}/feedback/static/..%2Fapp.py").status_code == 404
        assert httpx.get(f"{base}/feedback/static/app.py").status_code == 404
        assert httpx.get(f"{base}/feedback/healthz").json() == {"status": "ok"}
        reply = httpx.post(f"{base}/feedback/intake/contact_zh", json={"fields": FIELDS})
        assert reply.status_code == 202, reply.text
    assert scalar(register, "SELECT receipt_id FROM feedback.webform_submission") == reply.json()["receipt_id"]


def test_an_unreachable_register_is_503_not_a_traceback(local):
    def unreachable():
        from feedback.errors import RegisterUnreachable

        raise RegisterUnreachable("cannot reach the register at 127.0.0.1:9")

    root = FastAPI()
    root.mount("/feedback", create_app(engine=unreachable, channels=channels(), now=lambda: NOW))
    with serve(root) as base:
        reply = httpx.post(f"{base}/feedback/intake/contact_zh", json={"fields": FIELDS})
    assert reply.status_code == 503 and reply.json()["error"] == "unavailable"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_plugin_mounts_the_app_at_feedback_without_touching_the_register(tmp_path):
    """Import the plugin the way Airflow's API server does (init_plugins), with the register unreachable."""
    home = tmp_path / "airflow-home"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'never-created.db'}",
        "AIRFLOW_CONN_FEEDBACK_DB": f"postgresql://nobody@127.0.0.1:{_closed_port()}/nowhere",
        "FEEDBACK_LOCAL_DIR": str(tmp_path / "local"),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT / "include")]),
    }
    code = f"""
import importlib.util
spec = importlib.util.spec_from_file_location("web_plugin", {str(ROOT / "plugins/feedback_airflow/web_plugin.py")!r})
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
plugin = mod.FeedbackWebPlugin
assert plugin.name == "feedback_web", plugin.name
[entry] = plugin.fastapi_apps
assert entry["url_prefix"] == "/feedback" and entry["name"].startswith("Feedback")
from fastapi import FastAPI
from airflow.api_fastapi.app import init_plugins
from starlette.testclient import TestClient
host = FastAPI()
init_plugins(host)
client = TestClient(host)
assert client.get("/feedback/healthz").json() == {{"status": "ok"}}
assert 'data-form="contact_zh"' in client.get("/feedback/forms/contact_zh").text
reply = client.post("/feedback/intake/contact_zh", json={{"fields": {{"message": "hi"}}}})
assert reply.status_code == 503, reply.status_code
# The survey page and the callback console are served by the same app.
assert client.get("/feedback/console/login").status_code != 404
assert any(getattr(r, "path", "").startswith("/survey/") for r in host.routes[-1].app.routes)
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stdout[-2000:] + proc.stderr[-3000:]
    assert not (tmp_path / "local" / "pgdata").exists(), "the plugin started the embedded register"


def test_the_reporting_role_cannot_read_the_landing_tables(register):
    if not scalar(register, "SELECT count(*) FROM pg_roles WHERE rolname = 'feedback_reporting'"):
        pytest.skip("role feedback_reporting does not exist on this server")
    for table in ("feedback.webform_submission", "feedback.webform_rate", "feedback.webform_signature"):
        assert scalar(register, "SELECT has_table_privilege('feedback_reporting', :t, 'SELECT')", t=table) is False

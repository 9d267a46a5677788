"""Hostile bodies at the web-form endpoint: every one is a 4xx, nothing is stored, nothing is left behind.

Real HTTP (uvicorn on 127.0.0.1) against a real register. Between the app and uvicorn
sits a recorder of the status codes the app itself starts to send, so a 5xx the client
never sees (it hung up) still fails the test; uvicorn's "Exception in ASGI application"
in the log fails it too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest
from conftest import scalar
from fastapi import FastAPI
from web_server import StatusRecorder, serve

from feedback.channels.config import Channels, WebForm, WebForms
from feedback.web.app import create_app

NOW = datetime(2026, 10, 20, 2, 0, 30, tzinfo=UTC)
SECRET = "s3cret-for-the-hostile-tests"
FIELDS = {"name": "张三", "phone": "13812345678", "message": "支付失败，扣款两次"}



def _channels() -> Channels:
    return Channels(webforms=WebForms(forms=[WebForm(name="contact_zh"), WebForm(name="signed", verify="hmac")]))


@pytest.fixture
def site(register, tmp_path, monkeypatch, caplog):
    """(base URL, recorder) of the app mounted at /feedback, with the signed form's secret set."""
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path))
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "a-hash-key-for-the-hostile-tests")
    monkeypatch.setenv("AIRFLOW_CONN_FEEDBACK_WEBFORM_SIGNED", json.dumps({"conn_type": "generic", "password": SECRET}))
    caplog.set_level(logging.INFO)
    root = FastAPI()
    root.mount("/feedback", create_app(engine=lambda: register, channels=_channels(), now=lambda: NOW))
    recorder = StatusRecorder(root)
    with serve(recorder) as base:
        yield base, recorder
    assert "Exception in ASGI application" not in caplog.text
    assert all(status < 500 for status in recorder.statuses), recorder.statuses


def nothing_stored(engine, tmp_path) -> bool:
    folder = tmp_path / "attachments"
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    return scalar(engine, "SELECT count(*) FROM feedback.webform_submission") == 0 and not files


DEEP = 20_000
HOSTILE_JSON = {
    "nested arrays": b'{"fields": {"message": ' + b"[" * DEEP + b"]" * DEEP + b"}}",
    "nested objects": b'{"fields": ' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}",
    "lone surrogate in a value": b'{"fields": {"message": "\\ud800 hi"}}',
    "lone low surrogate": b'{"fields": {"message": "x\\udfff"}}',
    "lone surrogate in a name": b'{"fields": {"\\ud800": "x"}}',
    "lone surrogate as locale": b'{"fields": {"message": "hi"}, "locale": "\\udbff"}',
    "5000-digit number": b'{"fields": {"message": ' + b"9" * 5000 + b"}}",
    "5000-digit number as locale": b'{"fields": {"message": "hi"}, "locale": -' + b"1" * 5000 + b"}",
    "huge exponent": b'{"fields": {"message": 1e999999}}',
    "NaN": b'{"fields": {"message": NaN}}',
    "Infinity": b'{"fields": {"message": -Infinity}}',
    "NUL in a value": b'{"fields": {"message": "a\\u0000b"}}',
    "invalid UTF-8": b'{"fields": {"message": "\xff\xfe"}}',
    "UTF-16": json.dumps({"fields": {"message": "hi"}}).encode("utf-16"),
    "BOM": b"\xef\xbb\xbf" + json.dumps({"fields": {"message": "hi"}}).encode(),
    "not an object": b"12345",
    "empty": b"",
}


@pytest.mark.parametrize("body", list(HOSTILE_JSON.values()), ids=list(HOSTILE_JSON))
def test_hostile_json_is_4xx_and_stores_nothing(site, register, tmp_path, body):
    base, _ = site
    reply = httpx.post(f"{base}/feedback/intake/contact_zh", content=body,
                       headers={"Content-Type": "application/json"}, timeout=30)
    assert 400 <= reply.status_code < 500, (reply.status_code, reply.text[:200])
    assert nothing_stored(register, tmp_path)


def _multipart(parts: list[tuple[bytes, bytes]], boundary: bytes = b"XyZzY") -> tuple[bytes, str]:
    """A hand-built multipart body: (headers-line bytes, content) per part, so bytes stay as given."""
    out = b""
    for disposition, content in parts:
        out += b"--" + boundary + b"\r\n" + disposition + b"\r\n\r\n" + content + b"\r\n"
    return out + b"--" + boundary + b"--\r\n", f"multipart/form-data; boundary={boundary.decode()}"


HOSTILE_FORMS = {
    "multipart field with invalid UTF-8": _multipart([(b'Content-Disposition: form-data; name="message"',
                                                       b"\xff\xfe\xc3(")]),
    "multipart field with an encoded surrogate": _multipart([(b'Content-Disposition: form-data; name="message"',
                                                              b"\xed\xa0\x80")]),
    "multipart field name with invalid UTF-8": _multipart([(b'Content-Disposition: form-data; name="mess\xffage"',
                                                            b"hi")]),
    "multipart file name with invalid UTF-8": _multipart([(
        b'Content-Disposition: form-data; name="attachments"; filename="\xff\xfe.txt"\r\nContent-Type: text/plain',
        b"log line")]),
    "multipart without a boundary": (b"--x\r\n\r\n", "multipart/form-data"),
    "multipart with an empty boundary": (b"--\r\n\r\n", "multipart/form-data; boundary="),
    "multipart cut short": (b'--XyZzY\r\nContent-Disposition: form-data; name="message"\r\n\r\nhi',
                            "multipart/form-data; boundary=XyZzY"),
    "multipart with a bad charset": (_multipart([(b'Content-Disposition: form-data; name="message"', b"hi")])[0],
                                     "multipart/form-data; boundary=XyZzY; charset=no-such-charset"),
    "urlencoded with invalid UTF-8": (b"message=\xff\xfe", "application/x-www-form-urlencoded"),
    "urlencoded with an escaped invalid UTF-8": (b"message=%ff%fe", "application/x-www-form-urlencoded"),
    "urlencoded with an escaped surrogate": (b"message=%ed%a0%80", "application/x-www-form-urlencoded"),
    "urlencoded with too many fields": (b"&".join(b"f%d=1" % i for i in range(500)),
                                        "application/x-www-form-urlencoded"),
}


@pytest.mark.parametrize("case", list(HOSTILE_FORMS.values()), ids=list(HOSTILE_FORMS))
def test_hostile_forms_are_4xx_and_store_nothing(site, register, tmp_path, case):
    base, _ = site
    body, content_type = case
    reply = httpx.post(f"{base}/feedback/intake/contact_zh", content=body, headers={"Content-Type": content_type})
    assert 400 <= reply.status_code < 500, (reply.status_code, reply.text[:200])
    assert nothing_stored(register, tmp_path)


def _signed_headers(body: bytes, timestamp: str, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Feedback-Timestamp": timestamp, "X-Feedback-Signature": f"sha256={digest}",
            "Content-Type": "application/json"}


@pytest.mark.parametrize("timestamp", [
    "9" * 5000,                 # more digits than int() takes
    "1" + "0" * 400,            # an int too large for a float
    "99999999999999999999",     # the year 3 trillion
    "0", "-1", "1.5", "1e9", "१२३",  # the epoch, negative, a fraction, an exponent, Devanagari digits
    "\u00b2",                   # a superscript two: str.isdigit() says yes, int() says no
])
def test_absurd_signature_timestamps_are_401(site, register, tmp_path, timestamp):
    base, _ = site
    body = json.dumps({"fields": FIELDS}, ensure_ascii=False).encode()
    headers = _signed_headers(body, timestamp)
    raw = [(k.encode(), v.encode("utf-8")) for k, v in headers.items()]
    reply = httpx.post(f"{base}/feedback/intake/signed", content=body, headers=raw)
    assert reply.status_code in (400, 401), (reply.status_code, reply.text[:200])
    assert nothing_stored(register, tmp_path)


@pytest.mark.parametrize("length", ["\u00b2", "1" * 30, "-5", "12 34"])
def test_absurd_content_lengths_are_4xx(site, register, tmp_path, length):
    base, _ = site
    host, port = base.removeprefix("http://").split(":")
    request = (f"POST /feedback/intake/contact_zh HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {length}\r\nConnection: close\r\n\r\n").encode("latin-1") + b'{"fields": {}}'
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = sock.recv(4096)
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 400
    assert 400 <= status < 500, answer[:200]
    assert nothing_stored(register, tmp_path)


def _wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data; boundary=XyZzY",
                                          "application/x-www-form-urlencoded"])
def test_a_client_that_hangs_up_mid_body_leaves_nothing(site, register, tmp_path, content_type):
    base, recorder = site
    host, port = base.removeprefix("http://").split(":")
    head = (f"POST /feedback/intake/contact_zh HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: 5000\r\n\r\n").encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + b'{"fields": {"message": "half of it')
        time.sleep(0.2)                 # the app is now waiting for the rest of the body
    _wait_for(lambda: recorder.statuses)  # the app finished with the request it lost
    assert all(status < 500 for status in recorder.statuses), recorder.statuses
    assert nothing_stored(register, tmp_path)
    assert scalar(register, "SELECT count(*) FROM feedback.webform_rate") == 0
    # The endpoint still serves the next client.
    assert httpx.post(f"{base}/feedback/intake/contact_zh", json={"fields": FIELDS}).status_code == 202


# --- a signed request replayed inside its window --------------------------------------------------


def test_a_signed_request_replayed_inside_its_window_is_stored_once(site, register):
    base, _ = site
    body = json.dumps({"fields": FIELDS}, ensure_ascii=False).encode()
    headers = _signed_headers(body, str(int(NOW.timestamp()) - 30))
    first = httpx.post(f"{base}/feedback/intake/signed", content=body, headers=headers)
    replay = httpx.post(f"{base}/feedback/intake/signed", content=body, headers=headers)
    assert (first.status_code, replay.status_code) == (202, 202), (first.text, replay.text)
    assert replay.json()["receipt_id"] == first.json()["receipt_id"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert scalar(register, "SELECT count(*) FROM feedback.webform_submission") == 1
    # The same submission signed again (a new timestamp) is a new request: the site sent it twice.
    again = httpx.post(f"{base}/feedback/intake/signed", content=body,
                       headers=_signed_headers(body, str(int(NOW.timestamp()) - 10)))
    assert again.status_code == 202 and again.json()["receipt_id"] != first.json()["receipt_id"]
    assert scalar(register, "SELECT count(*) FROM feedback.webform_submission") == 2


def test_concurrent_replays_on_two_workers_store_one_row(site, register):
    """The same signed request reaches two API-server workers (two servers, one register) at once."""
    base, _ = site
    root = FastAPI()
    root.mount("/feedback", create_app(engine=lambda: register, channels=_channels(), now=lambda: NOW))
    body = json.dumps({"fields": FIELDS}, ensure_ascii=False).encode()
    headers = _signed_headers(body, str(int(NOW.timestamp())))
    barrier = threading.Barrier(4)
    answers: list[httpx.Response] = []
    with serve(root) as other:
        def post(url: str) -> None:
            barrier.wait()
            answers.append(httpx.post(f"{url}/feedback/intake/signed", content=body, headers=headers, timeout=30))

        threads = [threading.Thread(target=post, args=(url,)) for url in (base, other, base, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert sorted(a.status_code for a in answers) == [202] * 4
    assert len({a.json()["receipt_id"] for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 3
    assert scalar(register, "SELECT count(*) FROM feedback.webform_submission") == 1


def test_seen_signatures_expire_and_are_purged(site, register):
    """A signature is remembered for its window only: once the window is over the table forgets it."""
    base, _ = site
    body = json.dumps({"fields": FIELDS}, ensure_ascii=False).encode()
    old = str(int(NOW.timestamp()) - 290)
    assert httpx.post(f"{base}/feedback/intake/signed", content=body, headers=_signed_headers(body, old)
                      ).status_code == 202
    assert scalar(register, "SELECT count(*) FROM feedback.webform_signature") == 1
    # Ten minutes later the same request is expired (401) and its memory is gone after the next signed post.
    later = FastAPI()
    later.mount("/feedback", create_app(engine=lambda: register, channels=_channels(),
                                        now=lambda: NOW.replace(minute=12)))
    with serve(later) as url:
        expired = httpx.post(f"{url}/feedback/intake/signed", content=body, headers=_signed_headers(body, old))
        assert expired.status_code == 401 and expired.json()["reason"] == "expired signature"
        fresh = str(int(NOW.replace(minute=12).timestamp()))
        assert httpx.post(f"{url}/feedback/intake/signed", content=body,
                          headers=_signed_headers(body, fresh)).status_code == 202
    assert scalar(register, "SELECT count(*) FROM feedback.webform_signature") == 1
    assert scalar(register, "SELECT count(*) FROM feedback.webform_submission") == 2

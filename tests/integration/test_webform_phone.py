"""The form endpoint takes phone numbers someone can call back, and names the expected shapes otherwise."""

from __future__ import annotations

import httpx
import pytest
from conftest import scalar
from fastapi import FastAPI
from web_server import serve

from feedback.web.app import create_app
from feedback.web.schema import PHONE_REASON

CALLABLE = ["13812345678", "138-1234-5678", "+86 138 1234 5678", "010-12345678", "(0571) 8888888",
            "0755 8888 8888", "400-123-4567", "+44 20 7946 0958", "+1 (415) 555-0100", "010-12345678转123"]
NOT_CALLABLE = ["12345", "88886666", "+86 12345", "1381234567890123456789", "12ab", "0012345", "+0 123456789"]


@pytest.fixture
def base(register, tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path))
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "a-hash-key-for-the-phone-tests")
    root = FastAPI()
    root.mount("/feedback", create_app(engine=lambda: register))
    with serve(root) as url:
        yield url


def test_numbers_that_cannot_be_called_back_are_422_with_the_expected_shapes(base, register):
    with httpx.Client(base_url=base, timeout=30) as client:
        for phone in NOT_CALLABLE:
            reply = client.post("/feedback/intake/contact_zh", json={"fields": {"phone": phone, "message": "支付失败"}})
            assert reply.status_code == 422, phone
            assert reply.json() == {"error": "invalid", "fields": {"phone": PHONE_REASON}}, phone
            assert phone not in reply.text
    assert "010-65529988" in PHONE_REASON and "+" in PHONE_REASON
    assert scalar(register, "SELECT count(*) FROM feedback.webform_submission") == 0


def test_mobiles_landlines_and_international_numbers_are_taken(base, register):
    with httpx.Client(base_url=base, timeout=30) as client:
        for n, phone in enumerate(CALLABLE):
            reply = client.post("/feedback/intake/contact_zh",
                                json={"fields": {"phone": phone, "message": f"支付失败 {n}"}},
                                headers={"X-Forwarded-For": f"198.51.100.{n + 1}"})
            assert reply.status_code in (200, 201, 202), (phone, reply.text)
    assert scalar(register, "SELECT count(*) FROM feedback.webform_submission") == len(CALLABLE)

"""The embeddable form on a 390 px phone screen: nothing wider than the screen, before and after errors and
the receipt; and the phone check in the page names the shapes it takes ("12345" is refused)."""

from __future__ import annotations

import pytest
from conftest import scalar
from web_server import serve

from feedback.web.app import standalone_app

WIDTH = 390


@pytest.fixture
def local(tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path))
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "a-hash-key-for-the-mobile-browser-test")
    return tmp_path


def overflow(page) -> int:
    """How far the page is wider than the screen (0: no horizontal scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth") - WIDTH


@pytest.mark.parametrize(("form", "phone_label", "message_label", "refused", "submit_ok"), [
    ("contact_zh", "手机号码", "留言内容", "请输入有效的电话号码：11 位手机号", "回执编号"),
    ("contact_en", "Phone", "Message", "Please enter a valid phone number: a mobile number", "receipt number"),
])
def test_the_form_fits_a_390px_screen_and_refuses_12345(chromium, local, register, form, phone_label, message_label,
                                                        refused, submit_ok):
    with serve(standalone_app()) as base:
        page = chromium.new_page(viewport={"width": WIDTH, "height": 844}, device_scale_factor=3, is_mobile=True,
                                 has_touch=True)
        page.goto(f"{base}/feedback/forms/{form}")
        page.locator("#feedback-form form").wait_for()
        assert overflow(page) <= 0

        # Checked in the page: the shapes it takes, nothing sent.
        page.get_by_label(phone_label).fill("12345")
        page.locator("button.ff-submit").click()
        assert page.locator('[data-error-for="phone"]').inner_text().startswith(refused)
        assert overflow(page) <= 0, "the error messages wrap inside the screen"
        assert scalar(register, "SELECT count(*) FROM feedback.webform_submission") == 0

        # Checked by the server, the page's own checks off: the same reason, from the 422.
        page.eval_on_selector("#feedback-form form", "f => { f.dataset.clientChecks = 'off'; }")
        page.get_by_label(message_label).fill("支付失败 / payment failed")
        page.locator("button.ff-submit").click()
        error = page.locator('[data-error-for="phone"]')
        error.filter(has_text=refused).wait_for(timeout=20_000)
        assert overflow(page) <= 0
        assert scalar(register, "SELECT count(*) FROM feedback.webform_submission") == 0

        page.get_by_label(phone_label).fill("+86 138 1234 5678")
        page.locator("button.ff-submit").click()
        page.locator(".ff-receipt").wait_for(timeout=20_000)
        assert submit_ok in page.locator(".ff-status").inner_text()
        assert overflow(page) <= 0, "the receipt line fits too"
        assert scalar(register, "SELECT count(*) FROM feedback.webform_submission") == 1
        page.close()

"""The callback console in a real browser, in Chinese: log in, claim, reveal, record 满意 → the item closes.

Headless Chromium (Playwright) works the main path the way an agent of the callback
team would, against the app Airflow mounts (`create_app(routers=[console.router])`
under /feedback) on a free loopback port and a real register. The outcome's `closed`
event is then applied to the item the way the callbacks DAG does
(`outcomes.apply_item_status`). Without /usr/bin/chromium the test is skipped, except
under CI, where it fails.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from conftest import scalar
from fastapi import FastAPI
from web_server import serve

from feedback.callbacks import outcomes, queue
from feedback.triage import run as triage
from feedback.web import console, console_auth
from feedback.web.app import create_app

PHONE, MASKED = "13812345678", "138****5678"
TOKEN = "li-browser-token-0123456789abcdef"






@pytest.fixture
def console_env(monkeypatch):
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "console-browser-hash-key-0123456789")
    monkeypatch.setenv(console_auth.AUTH_ENV, "token")
    monkeypatch.setenv(console_auth.TOKENS_ENV, f"cb-li:{TOKEN}")
    monkeypatch.setenv(console_auth.SECRET_ENV, "console-browser-session-secret-0123")


def resolved_item_with_callback(engine: sa.Engine, now: datetime) -> int:
    """One web-form item, triaged three days ago and resolved an hour ago, with its callback task scheduled."""
    received = now - timedelta(days=3)
    payload = {"subject": "支付失败", "body": f"支付失败，钱扣了订单没生成，请回电{PHONE}。",
               "contact": {"phone": PHONE, "name": "张伟"}}
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, content_sha256)"
                    " VALUES ('webform', 'contact_zh', 'wf-console-browser1', :t, CAST(:p AS jsonb), :h)"),
            {"t": received, "p": json.dumps(payload, ensure_ascii=False), "h": "0" * 64},
        )
    triage.triage_pending(engine, received + timedelta(minutes=1), triage.load_context(gate=False))
    item = scalar(engine, "SELECT id FROM feedback.feedback")
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, to_status) "
                    "VALUES (:f, 'resolved', :t, 'crm', 'resolved')"),
            {"f": item, "t": now - timedelta(hours=1)},
        )
    outcomes.apply_item_status(engine, now)
    queue.schedule_callbacks(engine, now)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE feedback.callback_task SET assigned_to = 'cb-li'"))
    return item


def test_an_agent_closes_the_loop_in_chinese(chromium, register, console_env):
    now = datetime.now(UTC)
    item = resolved_item_with_callback(register, now)
    number = scalar(register, "SELECT feedback_no FROM feedback.feedback WHERE id = :i", i=item)
    root = FastAPI()
    root.mount("/feedback", create_app(engine=lambda: register, routers=[console.router]))
    with serve(root) as base:
        page = chromium.new_page()
        page.goto(f"{base}/feedback/console/")
        assert "/feedback/console/login" in page.url                   # not logged in: the login form
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        page.get_by_label("访问令牌").fill(TOKEN)
        page.get_by_role("button", name="登录").click()

        page.get_by_role("heading", name="我的回访队列").wait_for()
        assert number in page.content() and PHONE not in page.content()
        page.get_by_role("button", name="领取下一条").click()

        page.get_by_role("button", name="查看客户联系方式").wait_for()
        assert MASKED in page.content() and PHONE not in page.content()
        page.get_by_role("button", name="查看客户联系方式").click()
        page.locator("#contact").get_by_text(PHONE).wait_for()

        page.get_by_label("满意", exact=True).check()
        page.get_by_label("客户意见").fill("处理很及时，非常满意")
        page.get_by_role("button", name="提交").click()
        page.get_by_text("回访结果已记录").wait_for()
        assert PHONE not in page.content()
        page.close()

    with register.connect() as conn:
        task = conn.execute(sa.text("SELECT status, outcome, rating, comment, answered_by FROM feedback.callback_task "
                                    "WHERE feedback_id = :f"), {"f": item}).one()
    assert tuple(task) == ("done", "satisfied", "满意", "处理很及时，非常满意", "cb-li")
    assert scalar(register, "SELECT count(*) FROM feedback.contact_reveal WHERE actor = 'cb-li'") == 1
    outcomes.apply_item_status(register, datetime.now(UTC))
    assert scalar(register, "SELECT status FROM feedback.feedback WHERE id = :i", i=item) == "closed"


SUPERVISOR_TOKEN = "wu-browser-token-0123456789abcdef"
UNSURE_PHONE = "13600002222"


@pytest.fixture
def review_env(monkeypatch):
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "console-browser-hash-key-0123456789")
    monkeypatch.setenv(console_auth.AUTH_ENV, "token")
    monkeypatch.setenv(console_auth.TOKENS_ENV, f"sup-wu:{SUPERVISOR_TOKEN}")
    monkeypatch.setenv(console_auth.SUPERVISORS_ENV, "sup-wu")
    monkeypatch.setenv(console_auth.SECRET_ENV, "console-browser-session-secret-0123")


def unsure_items(engine: sa.Engine, now: datetime) -> list[str]:
    """Two items no classification rule understands: triage sends both to review."""
    texts = [("wf-review-browser1", f"zorblat 柜台 quux 的情况，请回电{UNSURE_PHONE}。"),
             ("wf-review-browser2", "flimflam 模块 snark 又出状况了。")]
    with engine.begin() as conn:
        for n, (external_id, body) in enumerate(texts):
            conn.execute(
                sa.text("INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, "
                        "content_sha256) VALUES ('webform', 'contact_zh', :e, :t, CAST(:p AS jsonb), :h)"),
                {"e": external_id, "t": now - timedelta(hours=1, minutes=n),
                 "p": json.dumps({"body": body, "contact": {"phone": UNSURE_PHONE}}, ensure_ascii=False),
                 "h": "0" * 64},
            )
    triage.triage_pending(engine, now - timedelta(minutes=30), triage.load_context(gate=False))
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT feedback_no FROM feedback.feedback WHERE needs_review "
                                         "ORDER BY received_at DESC")).scalars())


def test_a_supervisor_corrects_an_item_in_the_review_queue(chromium, register, review_env):
    now = datetime.now(UTC)
    numbers = unsure_items(register, now)
    assert len(numbers) == 2, numbers
    corrected, other = numbers
    root = FastAPI()
    root.mount("/feedback", create_app(engine=lambda: register, routers=[console.router]))
    with serve(root) as base:
        page = chromium.new_page()
        page.goto(f"{base}/feedback/console/login")
        page.get_by_label("访问令牌").fill(SUPERVISOR_TOKEN)
        page.get_by_role("button", name="登录").click()
        page.get_by_role("link", name="复核队列").click()

        page.get_by_role("heading", name="复核队列").wait_for()
        assert corrected in page.content() and other in page.content()
        assert UNSURE_PHONE not in page.content()
        item = page.locator(f"#review-{corrected}")
        item.get_by_label("分类").select_option(label="服务投诉")
        item.get_by_label("处理部门").select_option(label="客服部")
        item.get_by_label("优先级").select_option(label="高")
        item.get_by_role("button", name="确认并保存").click()

        page.get_by_text("复核结果已保存").wait_for()
        assert page.locator(f"#review-{corrected}").count() == 0          # it left the queue
        assert page.locator(f"#review-{other}").count() == 1
        page.get_by_role("link", name="时效看板").click()
        page.locator("#review-summary").get_by_text("1", exact=True).wait_for()   # one left to review
        page.close()

    with register.connect() as conn:
        item_row = conn.execute(sa.text("SELECT category, department, priority, needs_review FROM feedback.feedback "
                                        "WHERE feedback_no = :n"), {"n": corrected}).one()
        event = conn.execute(sa.text("SELECT e.actor, e.details FROM feedback.feedback_event e JOIN feedback.feedback f"
                                     " ON f.id = e.feedback_id WHERE f.feedback_no = :n AND "
                                     "e.event_type = 'reclassified'"), {"n": corrected}).one()
        label = conn.execute(sa.text("SELECT source, category, priority, actor, text FROM feedback.training_label")
                             ).one()
    assert tuple(item_row) == (["service_complaint"], "customer_service", "high", False)
    assert event.actor == "sup-wu" and event.details["to"] == ["service_complaint"]
    assert event.details["review"] == "corrected" and event.details["priority"]["to"] == "high"
    assert (label.source, label.category, label.priority, label.actor) == ("review", "service_complaint", "high",
                                                                          "sup-wu")
    assert UNSURE_PHONE not in label.text

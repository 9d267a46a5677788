"""HTML mails in a real browser: the SLA digest's groups, the survey mail's buttons, the form's promise.

Headless Chromium (Playwright) opens the HTML part of real outbox rows, written to a temp
file as a mail client would show it. The survey mail's button opens the survey page served
by uvicorn on 127.0.0.1 with the choice preselected, and nothing is recorded until the
customer presses Submit (a mail scanner's GET answers nothing). The web form promises the
case number by mail when an address was given. Without /usr/bin/chromium the tests are
skipped, except under CI, where they fail.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from conftest import scalar
from fastapi import FastAPI
from web_server import serve

from feedback.callbacks import queue, survey
from feedback.callbacks.policy import AgentSpec, TeamPolicy, load_policy
from feedback.notify.digest import AlertEntry, render_digest
from feedback.notify.escalation import load_ladder
from feedback.privacy import vault
from feedback.sla.monitor import load_setup
from feedback.web import deps
from feedback.web import survey as survey_web
from feedback.web.app import create_app

SH = ZoneInfo("Asia/Shanghai")
RUN = datetime(2026, 10, 5, 10, 0, tzinfo=UTC)
RESOLVED = datetime(2026, 10, 12, 10, 0, tzinfo=SH)
SENT = datetime(2026, 10, 12, 11, 0, tzinfo=SH)
EMAIL = "li.lei.private@example.com"


@pytest.fixture
def keys(monkeypatch, tmp_path):
    monkeypatch.setenv("FEEDBACK_LOCAL_DIR", str(tmp_path))
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "mail-browser-hash-key-0123456789ab")
    monkeypatch.setenv("FEEDBACK_SURVEY_KEY", "mail-browser-link-key-0123456789ab")


def open_html(chromium, tmp_path, name: str, html: str):
    path = tmp_path / f"{name}.html"
    path.write_text(html, encoding="utf-8")
    page = chromium.new_page(viewport={"width": 390, "height": 844})   # a phone, where most mail is read
    page.goto(path.as_uri())
    return page


# --- the SLA digest --------------------------------------------------------------------------------


def alert(n, kind, priority, dept, due, stage="first_response"):
    return AlertEntry(feedback_id=n, feedback_no=f"20261005-{n:03d}", priority=priority, department=dept,
                      handler_group=None, stage=stage, kind=kind, due_at=due, detected_at=RUN,
                      used_share=48.58 if kind == "breach" else 0.8, escalation_level=0, subject=f"主题 {n}")


def test_digest_reads_by_priority_then_department_with_how_late(chromium, tmp_path):
    entries = [
        alert(1, "breach", "low", "finance", RUN - timedelta(days=3, hours=4)),
        alert(2, "breach", "urgent", "cs_management", RUN - timedelta(hours=2)),
        alert(3, "warning", "urgent", "product_engineering", RUN + timedelta(minutes=30)),
        alert(4, "breach", "urgent", "product_engineering", RUN - timedelta(days=1, hours=1)),
        alert(5, "breach", "high", "finance", RUN - timedelta(hours=5), stage="resolution"),
    ]
    digest = render_digest(entries, RUN, "zh-CN", SH, console_url=load_ladder().console_url)
    page = open_html(chromium, tmp_path, "digest", digest.html)
    priorities = page.locator("h2[data-priority]")
    assert [priorities.nth(i).get_attribute("data-priority") for i in range(priorities.count())] == [
        "urgent", "high", "low"]
    assert priorities.first.inner_text().startswith("优先级：紧急")
    # under 紧急: the department with the worst breach first, each with its own table
    urgent_departments = page.locator("h2[data-priority=urgent] ~ h3[data-department]")
    assert urgent_departments.first.inner_text().startswith("产品技术部")
    assert "客服管理部" in page.locator("h3[data-department]").all_inner_texts()[1]
    body = page.locator("body").inner_text()
    assert "超时 3天4小时" in body and "超时 1天1小时" in body and "剩余 30分钟" in body
    assert "%" not in body and "cs_management" not in body and "product_engineering" not in body
    assert body.index("20261005-004") < body.index("20261005-003") < body.index("20261005-002") \
        < body.index("20261005-005") < body.index("20261005-001")
    link = page.locator("a[data-part=overdue-link]")
    assert link.get_attribute("href") == "http://localhost:8080/feedback/console/overdue"
    assert link.inner_text() == "登记超时原因" and link.is_visible()
    page.close()


# --- the survey mail ---------------------------------------------------------------------------------


def resolved_item(engine) -> int:
    with engine.begin() as conn:
        ids = vault.store_contacts(conn, [("email", EMAIL)], RESOLVED)
        return conn.execute(
            sa.text("""INSERT INTO feedback.feedback (feedback_no, channel, source, received_at, registered_at,
                              description, subject, priority, department, status, handling_cycle, resolved_at,
                              updated_at, contact_refs, contact_vault_id, contact_masked, language, sla_preset)
                       VALUES ('20261012-001', 'webform', 'contact_zh', :rec, :rec, '退款一直没到账', '退款没到账',
                               'medium', 'finance', 'resolved', 1, :res, :res, CAST(:refs AS jsonb), :v,
                               'li****@example.com', 'zh', 'A')
                       RETURNING id"""),
            {"rec": RESOLVED - timedelta(days=1), "res": RESOLVED, "refs": json.dumps({"email": ids[0]}),
             "v": ids[0]},
        ).scalar_one()


def recorded(engine, feedback_id: int) -> tuple:
    with engine.connect() as conn:
        task = conn.execute(sa.text("SELECT status, outcome FROM feedback.callback_task WHERE feedback_id = :f"),
                            {"f": feedback_id}).one()
        events = conn.execute(sa.text("SELECT count(*) FROM feedback.feedback_event WHERE feedback_id = :f"),
                              {"f": feedback_id}).scalar()
    return tuple(task), events


def test_a_survey_button_preselects_the_answer_and_only_submit_records_it(chromium, tmp_path, keys, register):
    app = FastAPI()
    app.include_router(survey_web.router, prefix="/feedback")
    app.dependency_overrides[deps.get_engine] = lambda: register
    app.dependency_overrides[deps.clock] = lambda: SENT + timedelta(hours=1)
    with serve(app) as base:
        base_policy = load_policy()
        policy = base_policy.replace(team=TeamPolicy(agents=[AgentSpec(id="a1", name="A1")]),
                                     survey=base_policy.survey.model_copy(update={"base_url": f"{base}/feedback/survey"}))
        app.dependency_overrides[survey_web.survey_policy] = lambda: policy
        item = resolved_item(register)
        queue.schedule_callbacks(register, SENT, policy, load_setup())
        assert survey.send_surveys(register, SENT, policy)["surveys"] == 1
        html = scalar(register, "SELECT payload ->> 'html' FROM feedback.outbox WHERE kind = 'survey'")
        before = recorded(register, item)
        assert before[0] == ("pending", None)

        mail = open_html(chromium, tmp_path, "survey", html)
        buttons = mail.locator("a[data-choice]")
        assert buttons.all_inner_texts() == ["满意", "一般", "不满意"]
        for i in range(3):
            box = buttons.nth(i).bounding_box()
            assert box and box["height"] >= 36 and box["width"] >= 180, "buttons big enough for a thumb"
        assert buttons.first.evaluate("a => getComputedStyle(a.parentElement).backgroundColor") == "rgb(46, 161, 33)"
        buttons.nth(2).click()                      # 不满意
        mail.wait_for_url("**/feedback/survey/**?choice=dissatisfied")
        assert mail.locator("input[name=rating][value=不满意]").is_checked()
        assert not mail.locator("input[name=rating][value=满意]").is_checked()
        assert recorded(register, item) == before, "opening the page from the mail recorded an answer"

        mail.go_back()
        buttons = mail.locator("a[data-choice]")
        buttons.first.click()                       # changed their mind: 满意
        mail.wait_for_url("**?choice=satisfied")
        assert mail.locator("input[name=rating][value=满意]").is_checked()
        assert recorded(register, item) == before
        mail.fill("textarea[name=comment]", "退款已到账，谢谢")
        mail.locator("button[type=submit]").click()
        mail.get_by_text("您的评价已记录").wait_for(timeout=20_000)
        (status, outcome), events = recorded(register, item)
        assert (status, outcome) == ("done", "satisfied") and events > before[1]
        mail.close()


# --- the web form's promise --------------------------------------------------------------------------


@pytest.mark.parametrize(("form", "label", "promise"), [
    ("contact_zh", "电子邮箱", "受理编号将通过邮件发送到您留下的邮箱"),
    ("contact_en", "Email", "Your case number will follow by e-mail"),
])
def test_the_form_says_the_case_number_follows_by_mail(chromium, keys, register, form, label, promise):
    root = FastAPI()
    root.mount("/feedback", create_app(engine=lambda: register))
    with serve(root) as base:
        page = chromium.new_page()
        page.goto(f"{base}/feedback/forms/{form}")
        page.locator("textarea[name=message]").fill("支付失败，扣款两次" if form == "contact_zh" else "Paid twice.")
        page.locator("button.ff-submit").click()
        page.locator(".ff-receipt").wait_for(timeout=20_000)
        assert page.locator(".ff-by-mail").count() == 0, "no address given, no promise"

        page.locator("textarea[name=message]").fill("再次提交" if form == "contact_zh" else "Again.")
        page.get_by_label(label).fill(EMAIL)
        page.locator("button.ff-submit").click()
        page.locator(".ff-by-mail").wait_for(timeout=20_000)
        assert promise in page.locator(".ff-status").inner_text()
        page.close()

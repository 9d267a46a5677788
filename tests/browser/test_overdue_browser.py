"""A supervisor records why an item went overdue in a real browser, and the next monthly report counts it.

Headless Chromium (Playwright) against the app Airflow mounts (`create_app(routers=[console.router])`
under /feedback) on a free loopback port and a real register, like test_console_browser.py. Two
high-priority items (频繁闪退) received Wed 2026-10-14 10:00 Shanghai time both miss their 15:30
first-response deadline; the SLA monitor records the breaches. The supervisor opens the SLA board,
follows its link to the overdue list, gives one item 跨部门协作 with a note, and the October report
counts that breach under 跨部门协作 (Cross-department coordination in English) and the other as 未填写.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from conftest import scalar
from fastapi import FastAPI
from web_server import serve

from feedback.reports.sections import Period, monthly_sections
from feedback.sla import monitor
from feedback.triage import run as triage
from feedback.web import console, console_auth
from feedback.web.app import create_app

SH = ZoneInfo("Asia/Shanghai")
SUPERVISOR_TOKEN = "wu-overdue-token-0123456789abcdef"
PHONE = "13700001111"
CONSOLE_NOW = datetime(2026, 10, 15, 9, 0, tzinfo=SH)


@pytest.fixture
def supervisor_env(monkeypatch):
    monkeypatch.setenv("FEEDBACK_HASH_KEY", "console-browser-hash-key-0123456789")
    monkeypatch.setenv(console_auth.AUTH_ENV, "token")
    monkeypatch.setenv(console_auth.TOKENS_ENV, f"sup-wu:{SUPERVISOR_TOKEN}")
    monkeypatch.setenv(console_auth.SUPERVISORS_ENV, "sup-wu")
    monkeypatch.setenv(console_auth.SECRET_ENV, "console-browser-session-secret-0123")


def overdue_items(engine: sa.Engine) -> list[str]:
    """Two items past their first-response deadline, breaches recorded by the monitor; their numbers."""
    received = datetime(2026, 10, 14, 10, 0, tzinfo=SH)
    with engine.begin() as conn:
        for n in range(2):
            conn.execute(
                sa.text("INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, "
                        "content_sha256) VALUES ('webform', 'contact_zh', :e, :t, CAST(:p AS jsonb), :h)"),
                {"e": f"wf-overdue-browser{n}", "t": received,
                 "p": json.dumps({"body": "app频繁闪退，用不了几分钟就退出"}, ensure_ascii=False), "h": "0" * 64},
            )
    triage.triage_pending(engine, received, triage.load_context(gate=False))
    summary = monitor.run_monitor(engine, datetime(2026, 10, 14, 15, 31, tzinfo=SH), monitor.load_setup())
    assert summary.breaches == 2
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT feedback_no FROM feedback.feedback ORDER BY feedback_no")).scalars())


def reasons_in_report(engine: sa.Engine) -> list[tuple[str, str, int]]:
    with engine.connect() as conn:
        _, sections = monthly_sections(conn, Period.month("2026-10"))
    section = next(s for s in sections if s.key == "overdue_reasons")
    return [(r["label"].zh, r["label"].en, r["breaches"]) for r in section.rows]


def test_a_supervisor_records_an_overdue_reason_and_the_report_counts_it(chromium, register, supervisor_env):
    explained, other = overdue_items(register)
    assert reasons_in_report(register) == [("未填写", "Not given", 2)]
    root = FastAPI()
    root.mount("/feedback", create_app(engine=lambda: register, routers=[console.router], now=lambda: CONSOLE_NOW))
    with serve(root) as base:
        page = chromium.new_page()
        page.goto(f"{base}/feedback/console/login")
        page.get_by_label("访问令牌").fill(SUPERVISOR_TOKEN)
        page.get_by_role("button", name="登录").click()
        page.get_by_role("link", name="时效看板").click()
        page.get_by_role("link", name="待填写超时原因").click()

        page.get_by_role("heading", name="超时原因登记").wait_for()
        page.locator("#overdue-summary").get_by_text("2", exact=True).wait_for()
        card = page.locator(f"#overdue-{explained}-1")
        assert card.get_by_text("首次响应").count() == 1
        reason = card.get_by_label("超时原因")
        assert [o.strip() for o in reason.locator("option").all_inner_texts()] == [
            "请选择原因", "备件短缺", "等待客户", "跨部门协作", "系统故障", "其他"]
        reason.select_option(label="跨部门协作")
        card.get_by_label("补充说明（可选）").fill(f"等待物流部确认，联系{PHONE}")
        card.get_by_role("button", name="保存原因").click()

        page.get_by_text("超时原因已登记").wait_for()
        assert page.locator(f"#overdue-{explained}-1").count() == 0          # it left the list
        assert page.locator(f"#overdue-{other}-1").count() == 1
        page.locator("#overdue-summary").get_by_text("1", exact=True).wait_for()

        page.goto(f"{base}/feedback/console/overdue?lang=en")               # the same page in English
        page.get_by_role("heading", name="Overdue reasons").wait_for()
        assert page.locator(f"#overdue-{other}-1").get_by_label("Overdue reason").locator("option").all_inner_texts(
        )[1:] == ["Spare parts shortage", "Waiting for the customer", "Cross-department coordination",
                  "System failure", "Other"]
        page.close()

    with register.connect() as conn:
        breach = conn.execute(sa.text(
            "SELECT b.reason, b.reason_text, b.reason_by, b.reason_at FROM feedback.sla_breach b "
            "JOIN feedback.feedback f ON f.id = b.feedback_id WHERE f.feedback_no = :n"), {"n": explained}).one()
        event = conn.execute(sa.text(
            "SELECT e.actor, e.reason, e.details FROM feedback.feedback_event e JOIN feedback.feedback f "
            "ON f.id = e.feedback_id WHERE f.feedback_no = :n AND e.event_type = 'overdue_reason'"),
            {"n": explained}).one()
    assert (breach.reason, breach.reason_by, breach.reason_at) == ("cross_department", "sup-wu", CONSOLE_NOW)
    assert breach.reason_text.startswith("等待物流部确认") and PHONE not in breach.reason_text
    assert tuple(event) == ("sup-wu", "cross_department", {"handling_cycle": 1})
    # The monitor reads the supervisor's event later and keeps what it says.
    monitor.run_monitor(register, datetime(2026, 10, 15, 9, 5, tzinfo=SH), monitor.load_setup())
    assert scalar(register, "SELECT count(*) FROM feedback.sla_breach WHERE reason = 'cross_department'") == 1
    assert reasons_in_report(register) == [("跨部门协作", "Cross-department coordination", 1),
                                           ("未填写", "Not given", 1)]
    # A recorded reason also shows in the month's list of overdue items, by name.
    with register.connect() as conn:
        _, sections = monthly_sections(conn, Period.month("2026-10"))
    rows = next(s for s in sections if s.key == "overdue_items").rows
    assert {r["feedback_no"]: r["reason"].zh for r in rows} == {explained: "跨部门协作", other: "未填写"}

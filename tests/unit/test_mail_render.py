"""Every mail people read, rendered in both locales: both parts present, the sections there, names not codes.

Receipt, survey, survey reminder, the supervisor's escalation, the report mail and the SLA
digest, each as the code that writes its outbox row renders it. A snake_case word in what a
reader sees (the text part, or the HTML part's visible text) is a code that leaked.
"""

from __future__ import annotations

import re
from collections import namedtuple
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from feedback.callbacks import survey
from feedback.callbacks.outcomes import escalation_rows
from feedback.callbacks.policy import Judgement, load_policy
from feedback.notify.acknowledge import AckCandidate, render_receipt
from feedback.notify.digest import AlertEntry, render_digest
from feedback.notify.escalation import load_ladder
from feedback.notify.mails import span
from feedback.notify.outbox import digest_rows
from feedback.notify.report_mail import highlights, report_mail
from feedback.notify.sender import build_message
from feedback.reports.model import Headline, Label, QualityCheck, Report, Section

SH = ZoneInfo("Asia/Shanghai")
RUN = datetime(2026, 10, 5, 10, 0, tzinfo=UTC)      # 18:00 in Shanghai
LOCALES = ("zh-CN", "en")
CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")          # function_problem, cs_management, first_response …
URL = re.compile(r"https?://\S+")


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("style", "script", "head")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "script", "head")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def no_codes(text: str) -> None:
    leaked = CODE.findall(URL.sub("", text))
    assert not leaked, f"codes shown to a reader: {leaked}"


def check_parts(text: str, html: str, locale: str) -> str:
    """Both parts exist and say it in the locale's language, without codes; returns the HTML's visible text."""
    assert text.strip() and html.lstrip().startswith("<!DOCTYPE html>")
    assert f'<html lang="{locale}">' in html
    shown = visible(html)
    no_codes(text)
    no_codes(shown)
    assert "+00:00" not in text + shown and "T01:00" not in text + shown, "a UTC ISO time instead of business time"
    if locale == "zh-CN":
        assert re.search(r"[\u4e00-\u9fff]{4}", shown), "a Chinese mail in Chinese"
    else:
        assert re.search(r"\b(the|your|and|in)\b", shown, re.I), "an English mail in English"
    return shown


def as_message(subject: str, text: str, html: str) -> EmailMessage:
    row = SimpleNamespace(payload={"text": text, "html": html}, body=text, subject=subject, message_id="<t@x>",
                          dedup_key="t", kind="test", attachments=[])
    return build_message(row, "someone@example.com", "ops@example.com", RUN)


# --- receipts ------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("channel", ["email", "webform", "platform"])
def test_receipt_names_the_case_number_in_business_time(locale, channel):
    candidate = AckCandidate(7, "20261005-003", 11, datetime(2026, 10, 5, 1, 0, tzinfo=UTC),
                             "zh" if locale == "zh-CN" else "en", "App 闪退", None, channel)
    subject, text, html = render_receipt(candidate, SH)
    shown = check_parts(text, html, locale)
    for part in (subject, text, shown):
        assert "20261005-003" in part
    assert "2026-10-05 09:00" in text and "2026-10-05 09:00" in shown
    assert {"webform": "网页表单" if locale == "zh-CN" else "web form",
            "platform": "第三方平台" if locale == "zh-CN" else "platform",
            "email": "邮件" if locale == "zh-CN" else "e-mail"}[channel] in text
    message = as_message(subject, text, html)
    assert message.get_body(("plain",)) is not None and message.get_body(("html",)) is not None


# --- surveys ---------------------------------------------------------------------------------------

Task = namedtuple("Task", "id feedback_id survey_vault_id feedback_no subject language survey_expires_at")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", [survey.SURVEY_KIND, survey.REMINDER_KIND])
def test_survey_mails_offer_each_choice_as_a_button(monkeypatch, locale, kind):
    monkeypatch.setenv("FEEDBACK_SURVEY_KEY", "mail-render-test-link-key-0123456789")
    policy = load_policy()
    policy = policy.replace(survey=policy.survey.model_copy(update={"base_url": "https://cx.example.com/survey"}))
    task = Task(41, 9, 12, "20261012-001", "退款没到账", "zh" if locale == "zh-CN" else "en", None)
    expires = datetime(2026, 10, 19, 3, 0, tzinfo=UTC)
    row = survey._row(kind, task, expires, RUN, policy, b"k" * 32, SH)
    text, html = row.payload["text"], row.payload["html"]
    shown = check_parts(text, html, locale)
    assert "20261012-001" in text and "20261012-001" in shown
    assert "2026-10-19 11:00" in text and "2026-10-19 11:00" in shown
    link = next(w for w in text.split() if w.startswith("https://cx.example.com/survey/"))
    buttons = re.findall(r'<a href="([^"]+)" data-choice="([^"]+)"[^>]*>([^<]+)</a>', html)
    assert [(choice, label) for _, choice, label in buttons] == [
        (outcome, label if locale == "zh-CN" else en) for label, en, outcome in policy.scale.options()]
    assert [url for url, _, _ in buttons] == [f"{link}?choice={c}" for _, c, _ in buttons]
    assert f'href="{link}"' in html          # the plain link too, for clients that break buttons
    assert row.recipient.startswith("vault:") and "@" not in row.recipient


def test_a_score_scale_shows_its_bands_as_buttons():
    buttons = survey.choice_buttons(load_policy().with_scale("score_100"), "https://x/survey/t", "zh-CN")
    assert [(b["label"], b["url"]) for b in buttons] == [
        ("满意（90–100 分）", "https://x/survey/t?choice=satisfied"),
        ("基本满意（70–89 分）", "https://x/survey/t?choice=neutral"),
        ("不满意（1–69 分）", "https://x/survey/t?choice=dissatisfied")]
    assert [b["colour"] for b in buttons] == ["#2ea121", "#646a73", "#d83931"]


# --- the supervisor's escalation -----------------------------------------------------------------

LADDER = """\
version: 1
groups:
  default: [{email: duty@example.com}]
supervisors:
  default: [{email: supervisor@example.com}]
  cs_management: [{email: cs-zh@example.com}, {email: cs-en@example.com, locale: en}]
director: [{email: director@example.com}]
"""


@pytest.fixture
def ladder(tmp_path):
    path = tmp_path / "escalation.yaml"
    path.write_text(LADDER, encoding="utf-8")
    return load_ladder(path)


def test_escalation_names_the_department_and_rating_in_each_locale(ladder):
    task = SimpleNamespace(id=5, feedback_id=9, feedback_no="20261012-004", department="cs_management",
                           priority="urgent", handling_cycle=1)
    rows = escalation_rows(task, Judgement("dissatisfied", "不满意", None, "three_level_a"),
                           datetime(2026, 10, 14, 2, 30, tzinfo=UTC), ladder)
    by_locale = {r.payload["locale"]: r for r in rows}
    assert set(by_locale) == set(LOCALES)
    zh, en = by_locale["zh-CN"], by_locale["en"]
    zh_shown = check_parts(zh.payload["text"], zh.payload["html"], "zh-CN")
    en_shown = check_parts(en.payload["text"], en.payload["html"], "en")
    assert "责任部门：客服管理部" in zh.payload["text"] and "客服管理部" in zh_shown
    assert "Department: Customer Service Management" in en.payload["text"]
    assert "cs_management" not in zh.payload["text"] + zh.payload["html"] + en.payload["text"] + en.payload["html"]
    assert "紧急" in zh_shown and "不满意" in zh_shown and "2026-10-14 10:30" in zh_shown
    assert "Urgent" in en_shown and "Dissatisfied" in en_shown and "不满意" not in en_shown
    assert "2026-10-14 10:30" in en.payload["text"]


# --- the report mail ------------------------------------------------------------------------------


def report(locale: str, **overrides) -> Report:
    zh = locale == "zh-CN"
    sections = {
        "satisfaction_trend": Section("satisfaction_trend", Label("满意度趋势", "Satisfaction trend"), (), (
            {"key": "current", "label": "本期" if zh else "This period", "satisfied_share": 0.62},
            {"key": "previous", "label": "上期" if zh else "Previous period", "satisfied_share": 0.70},
            {"key": "year_ago", "label": "去年同期" if zh else "Last year", "satisfied_share": None})),
        "satisfaction": Section("satisfaction", Label("满意度分布", "Satisfaction"), (), (
            {"key": "satisfied", "label": "满意" if zh else "Satisfied", "share": 0.55, "prev_share": 0.60},
            {"key": "dissatisfied", "label": "不满意" if zh else "Dissatisfied", "share": 0.25, "prev_share": 0.10},
            {"key": "unreachable", "label": "未联系上" if zh else "Unreachable", "share": 0.20, "prev_share": 0.30})),
        "sla_attainment": Section("sla_attainment", Label("达标率", "SLA"), (), (
            {"priority": "urgent", "priority_label": "紧急" if zh else "Urgent", "stage": "first_response",
             "stage_label": "首次响应" if zh else "First response", "due": 55, "on_time": 7, "late": 48,
             "attainment": 7 / 55},
            {"priority": "high", "priority_label": "高" if zh else "High", "stage": "resolution",
             "stage_label": "解决" if zh else "Resolution", "due": 10, "on_time": 9, "late": 1, "attainment": 0.9},
            {"priority": "low", "priority_label": "低" if zh else "Low", "stage": "resolution",
             "stage_label": "解决" if zh else "Resolution", "due": 0, "on_time": 0, "late": 0, "attainment": None})),
        "dissatisfaction_causes": Section("dissatisfaction_causes", Label("不满意原因", "Causes"), (), (
            {"rank": 1, "key": "function_problem", "label": "功能问题" if zh else "Function problem", "callbacks": 12,
             "share": 0.4},
            {"rank": 2, "key": "service_complaint", "label": "服务投诉" if zh else "Service complaint", "callbacks": 9,
             "share": 0.3})),
    }
    sections.update(overrides)
    return Report("monthly", date(2026, 10, 1), date(2026, 10, 31), locale, datetime(2026, 11, 1, 0, 30, tzinfo=UTC),
                  (Headline(Label("反馈总量", "Items received"), 1234), Headline(Label("满意率", "Satisfied share"),
                                                                                 0.62, "pct")),
                  tuple(sections.values()), (QualityCheck(Label("无重复编号", "No duplicate numbers"), True),))


@pytest.mark.parametrize("locale", LOCALES)
def test_report_mail_leads_with_three_highlights(locale):
    body = "客户反馈月度报告 2026-10-01 – 2026-10-31（第 2 版）\n\n- 反馈总量: 1,234\n" if locale == "zh-CN" else \
        "Customer feedback monthly report 2026-10-01 – 2026-10-31 (version 2)\n\n- Items received: 1,234\n"
    mail = report_mail(report(locale), 2, {}, body, zone=SH, attached=["feedback-report-2026-10.xlsx",
                                                                       "feedback-report-2026-10.pdf"])
    shown = check_parts(mail.text, mail.html, locale)
    zh = locale == "zh-CN"
    # the biggest move is the dissatisfied share, +15 points (satisfied share −8, unreachable −10)
    change = "不满意占比 +15.0 个百分点" if zh else "Share dissatisfied +15.0 points"
    worst = "紧急 · 首次响应" if zh else "Urgent · First response"
    cause = "功能问题" if zh else "Function problem"
    for needle in (change, worst, "12.7%", cause, "40.0%"):
        assert needle in mail.text and needle in shown, needle
    lines = mail.text.splitlines()
    assert lines[0] == body.splitlines()[0], "the title stays first"
    assert mail.text.index(change) < mail.text.index(worst) < mail.text.index(cause) < mail.text.index("1,234")
    assert re.findall(r'data-highlight="(\w+)"', mail.html) == ["change", "sla", "cause"]
    assert "2026-11-01 08:30" in shown and "feedback-report-2026-10.pdf" in shown


def test_report_highlights_say_when_there_is_nothing_to_show():
    empty = report("en", sla_attainment=Section("sla_attainment", Label("a", "a"), (), ()),
                   dissatisfaction_causes=Section("dissatisfaction_causes", Label("c", "c"), (), ()),
                   satisfaction=Section("satisfaction", Label("s", "s"), (), (), unavailable=True),
                   satisfaction_trend=Section("satisfaction_trend", Label("t", "t"), (), (), unavailable=True))
    texts = {h.key: h.text for h in highlights(empty)}
    assert texts["sla"] == "no deadlines fell due in the period"
    assert texts["cause"] == "no dissatisfied callbacks in the period"
    assert "could not be computed" in texts["change"]


# --- the SLA digest -------------------------------------------------------------------------------


def alert(n, kind, priority, dept, due, stage="first_response", level=0):
    return AlertEntry(feedback_id=n, feedback_no=f"20261005-{n:03d}", priority=priority, department=dept,
                      handler_group=None, stage=stage, kind=kind, due_at=due, detected_at=RUN,
                      used_share=48.58 if kind == "breach" else 0.85, escalation_level=level, subject=f"主题 {n}")


ALERTS = [
    alert(1, "breach", "low", "finance", RUN - timedelta(days=3, hours=4, minutes=20)),
    alert(2, "warning", "urgent", "product_engineering", RUN + timedelta(minutes=40)),
    alert(3, "breach", "urgent", "cs_management", RUN - timedelta(hours=2, minutes=5), level=1),
    alert(4, "breach", "urgent", "product_engineering", RUN - timedelta(hours=6)),
    alert(5, "breach", "medium", "product_engineering", RUN - timedelta(days=1), stage="resolution"),
]


def test_span_reads_like_speech():
    assert span(timedelta(days=3, hours=4, minutes=20), "zh-CN") == "3天4小时"
    assert span(timedelta(days=3, hours=4, minutes=20), "en") == "3 days 4 h"
    assert span(timedelta(days=1), "en") == "1 day" and span(timedelta(hours=2, minutes=5), "zh-CN") == "2小时5分钟"
    assert span(timedelta(minutes=25), "en") == "25 min" and span(timedelta(seconds=20), "zh-CN") == "不到1分钟"


@pytest.mark.parametrize("locale", LOCALES)
def test_digest_groups_by_priority_then_department_and_says_how_late(locale, ladder):
    rows = digest_rows(RUN, ALERTS, ladder)
    assert rows and rows[0].payload["html"] and rows[0].payload["text"]
    digest = render_digest(ALERTS, RUN, locale, SH, console_url="https://cx.example.com/feedback/console")
    shown = check_parts(digest.text, digest.html, locale)
    zh = locale == "zh-CN"
    assert re.findall(r'data-priority="(\w+)"', digest.html) == ["urgent", "medium", "low"]
    for part in (digest.text, shown):
        assert ("超时 3天4小时" if zh else "overdue by 3 days 4 h") in part
        assert ("超时 2小时5分钟" if zh else "overdue by 2 h 5 min") in part
        assert ("剩余 40分钟" if zh else "due in 40 min") in part
        assert "4858%" not in part and "%" not in part
        assert ("客服管理部" if zh else "Customer Service Management") in part
        assert ("产品技术部" if zh else "Product & Engineering") in part
        # urgent first; within urgent the department with the worst (earliest due) breach first
        order = [part.index(n) for n in ("20261005-004", "20261005-002", "20261005-003", "20261005-005",
                                         "20261005-001")]
        assert order == sorted(order)
    assert 'href="https://cx.example.com/feedback/console/overdue"' in digest.html
    assert "https://cx.example.com/feedback/console/overdue" in digest.text
    assert "2026-10-05 18:00" in digest.subject


def test_the_shipped_ladder_links_to_the_local_console():
    assert load_ladder().console_url == "http://localhost:8080/feedback/console"

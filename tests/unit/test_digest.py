"""SLA notifications without a database: ladder routing, digest content, chat payloads, config errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from feedback.errors import ConfigError, FeedbackError
from feedback.notify.digest import AlertEntry, render_digest, subject_line, webhook_payload
from feedback.notify.escalation import load_ladder
from feedback.notify.outbox import digest_rows
from feedback.notify.sender import SmtpSettings, backoff_delay
from feedback.triage.taxonomy import load_taxonomy

RUN = datetime(2026, 10, 5, 10, 0, tzinfo=UTC)  # 18:00 in Asia/Shanghai

LADDER = """\
version: 1
groups:
  default: [{email: duty@example.com}]
  pe-oncall:
    - email: pe-oncall@example.com
    - webhook: {url: "https://chat.example.com/hook?key=s3cret", format: wecom}
  cs-complaints: [{email: complaints@example.com, locale: en}]
  po-backlog:
    - {email: po-off@example.com, enabled: false}
supervisors:
  default: [{email: supervisor@example.com}]
  product_engineering: [{email: pe-lead@example.com}]
  cs_management: [{email: director@example.com}]
director: [{email: director@example.com}]
vp: [{email: vp@example.com, locale: en}]
roles:
  gm: [{email: gm@example.com}]
urgent_breach: [director]
levels:
  - {after: 4h, add: [director]}
  - {after: 12h, add: [vp]}
  - {after: 2d, add: [gm]}
"""


def entry(n=1, kind="warning", priority="high", group="pe-oncall", dept="product_engineering", level=0,
          subject="App 闪退", due=RUN + timedelta(hours=1), share=0.85, stage="first_response"):
    return AlertEntry(
        feedback_id=n, feedback_no=f"20261005-{n:03d}", priority=priority, department=dept, handler_group=group,
        stage=stage, kind=kind, due_at=due, detected_at=RUN, used_share=share, escalation_level=level,
        subject=subject,
    )


@pytest.fixture
def ladder(tmp_path):
    path = tmp_path / "escalation.yaml"
    path.write_text(LADDER, encoding="utf-8")
    return load_ladder(path)


def addresses(ladder, e):
    return [r.address for r in ladder.recipients_for(e)]


# --- the ladder --------------------------------------------------------------------------------


def test_warning_goes_to_the_handler_group_or_the_default(ladder):
    assert addresses(ladder, entry(group="pe-oncall")) == [
        "pe-oncall@example.com", "https://chat.example.com/hook?key=s3cret"]
    assert addresses(ladder, entry(group="unknown-group")) == ["duty@example.com"]
    assert addresses(ladder, entry(group=None)) == ["duty@example.com"]
    # a group whose only recipient is disabled falls back rather than alerting nobody
    assert addresses(ladder, entry(group="po-backlog")) == ["duty@example.com"]
    # warnings never climb, even for urgent items or a raised level
    assert addresses(ladder, entry(priority="urgent", level=3, group="cs-complaints")) == ["complaints@example.com"]


def test_breach_goes_to_the_supervisor_and_climbs_the_ladder(ladder):
    assert addresses(ladder, entry(kind="breach")) == ["pe-lead@example.com"]
    assert addresses(ladder, entry(kind="breach", dept="legal")) == ["supervisor@example.com"]
    assert addresses(ladder, entry(kind="breach", dept=None)) == ["supervisor@example.com"]
    assert addresses(ladder, entry(kind="breach", priority="urgent")) == ["pe-lead@example.com",
                                                                          "director@example.com"]
    assert addresses(ladder, entry(kind="breach", level=1)) == ["pe-lead@example.com", "director@example.com"]
    assert addresses(ladder, entry(kind="breach", level=2)) == [
        "pe-lead@example.com", "director@example.com", "vp@example.com"]
    assert addresses(ladder, entry(kind="breach", level=9)) == [
        "pe-lead@example.com", "director@example.com", "vp@example.com", "gm@example.com"]
    # the director supervising cs_management gets one digest, not two
    assert addresses(ladder, entry(kind="breach", dept="cs_management", priority="urgent", level=1)) == [
        "director@example.com"]
    assert ladder.roles_for(entry(kind="breach", priority="urgent", level=2)) == [
        "supervisor:product_engineering", "director", "vp"]


def test_ladder_timing_for_the_monitor(ladder):
    assert ladder.director_after == timedelta(hours=4)
    assert ladder.vp_after == timedelta(hours=12)
    assert ladder.escalation_after == (timedelta(hours=4), timedelta(hours=12), timedelta(days=2))
    assert [ladder.level_for(timedelta(hours=h)) for h in (0, 3, 4, 11, 12, 47, 48)] == [0, 0, 1, 1, 2, 2, 3]


def test_the_monitors_notifier_escalates_on_the_ladders_waits(ladder):
    from feedback.sla.alerts import DigestNotifier, notifier

    notify = notifier(ladder)
    assert isinstance(notify, DigestNotifier) and notify.ladder is ladder
    assert notify.escalation_after == (timedelta(hours=4), timedelta(hours=12), timedelta(days=2))


def test_recipients_carry_channel_locale_and_format(ladder):
    hook = ladder.recipients_for(entry())[1]
    assert (hook.channel, hook.format, hook.locale) == ("webhook", "wecom", "zh-CN")
    assert "s3cret" not in hook.key and str(hook) == hook.key
    assert ladder.recipients_for(entry(group="cs-complaints"))[0].locale == "en"


def test_shipped_ladder_covers_the_taxonomy_and_needs_no_network():
    ladder = load_ladder()
    taxonomy = load_taxonomy()
    groups = {c.handler_group for p in taxonomy.presets.values() for c in p.classes.values() if c.handler_group}
    assert groups and groups <= set(ladder.groups), groups - set(ladder.groups)
    assert set(taxonomy.departments) <= set(ladder.supervisors)
    assert all(r.channel == "email" and r.address.endswith("@example.com") for r in ladder.all_recipients())
    assert ladder.director_after == timedelta(hours=4) and ladder.vp_after == timedelta(hours=12)
    urgent = entry(kind="breach", priority="urgent")
    assert "cs-director@example.com" in addresses(ladder, urgent)


def test_alert_entry_from_a_monitor_row_ignores_extra_columns():
    from decimal import Decimal

    row = {**entry(9, "breach").__dict__, "id": 77, "used_share": Decimal("1.250")}
    made = AlertEntry.from_row(row)
    assert made.feedback_no == "20261005-009" and made.identity == "9:first_response:breach:0"
    assert "125%" in render_digest([made], RUN).text


# --- digests -----------------------------------------------------------------------------------

ENTRIES = [
    entry(1, "warning", subject="退款迟迟不到"),
    entry(2, "breach", "urgent", due=RUN - timedelta(hours=2), share=1.5, subject="支付失败"),
    entry(3, "warning", "low", stage="engaged", subject=None, share=None),
    entry(4, "breach", "medium", due=RUN - timedelta(hours=5), share=1.2, stage="resolution", level=1),
    entry(5, "warning", "medium", stage="closed"),
]


def test_digest_subject_counts_in_both_languages():
    assert subject_line(ENTRIES, RUN, "zh-CN") == "[SLA] 2 项超时，3 项即将超时 — 2026-10-05 18:00"
    assert subject_line(ENTRIES, RUN, "en") == "[SLA] 2 breached, 3 at risk — 2026-10-05 18:00"
    assert subject_line(ENTRIES[:1], RUN, "zh-CN") == "[SLA] 1 项即将超时 — 2026-10-05 18:00"
    assert subject_line(ENTRIES[1:2], RUN, "en") == "[SLA] 1 breached — 2026-10-05 18:00"


def test_digest_groups_by_priority_then_department_in_local_time_with_chinese_labels():
    # Issue 16 changed this digest: grouped by priority (urgent first), then department, breaches first
    # within each; a breach says how long it is overdue ("超时 2小时") instead of the share of time used.
    digest = render_digest(ENTRIES, RUN, "zh-CN")
    text = digest.text
    assert text.splitlines()[0] == digest.subject
    order = [text.index(no) for no in ("20261005-002", "20261005-001", "20261005-004", "20261005-005",
                                       "20261005-003")]
    assert order == sorted(order), "urgent, high, medium (breach before warning), low"
    assert text.index("超时（2 项）") < text.index("即将超时（3 项）") < text.index("20261005-001")
    assert text.index("优先级：紧急") < text.index("优先级：高") < text.index("优先级：中") < text.index("优先级：低")
    line = next(x for x in text.splitlines() if "20261005-002" in x)
    assert "首次响应" in line and "截止 2026-10-05 16:00" in line and "超时 2小时" in line and "%" not in line
    assert text.index("[产品技术部]") < text.index("20261005-002")
    assert "技术支持介入" in text and "问题关闭" in text and "解决" in text and "升级 1 级" in text
    assert digest.counts == {"breach": 2, "warning": 3}
    assert "紧急" in digest.html and "<table" in digest.html and 'style="' in digest.html


def test_digest_in_english():
    digest = render_digest(ENTRIES, RUN, "en")
    assert "Breached (2)" in digest.text and "At risk (3)" in digest.text
    assert "Urgent" in digest.html and "Support engaged" in digest.html and "Product &amp; Engineering" in digest.html
    assert "紧急" not in digest.text


def test_html_escapes_a_hostile_masked_subject():
    hostile = entry(7, "breach", subject='<script>alert("x")</script> & <b>')
    digest = render_digest([hostile], RUN, "zh-CN")
    assert "<script>" not in digest.html and "<b>" not in digest.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;" in digest.html
    assert '<script>alert("x")</script> & <b>' in digest.text  # plain text shows it as written


def test_webhook_payload_shapes():
    hostile = [*ENTRIES, entry(8, "breach", subject="[点我](http://evil.example) <at>")]
    wecom = webhook_payload("wecom", hostile, RUN)
    assert wecom["msgtype"] == "markdown" and set(wecom["markdown"]) == {"content"}
    assert wecom["markdown"]["content"].startswith("**[SLA] 3 项超时，3 项即将超时")
    assert "](http" not in wecom["markdown"]["content"] and "<at>" not in wecom["markdown"]["content"]
    ding = webhook_payload("dingtalk", hostile, RUN, "en")
    assert ding["msgtype"] == "markdown" and set(ding["markdown"]) == {"title", "text"}
    assert ding["markdown"]["title"] == "[SLA] 3 breached, 3 at risk — 2026-10-05 18:00"
    slack = webhook_payload("slack", hostile, RUN, "en")
    assert slack["text"].startswith("[SLA]") and slack["blocks"][0]["type"] == "header"
    assert all(b["type"] == "section" and len(b["text"]["text"]) <= 3000 for b in slack["blocks"][1:])
    assert "<" not in json.dumps(slack["blocks"][1:])
    generic = webhook_payload("generic", ENTRIES, RUN)
    assert generic["kind"] == "sla_digest" and generic["counts"] == {"breach": 2, "warning": 3}
    assert [e["feedback_no"] for e in generic["entries"]][:2] == ["20261005-004", "20261005-002"]
    assert set(generic["entries"][0]) == {
        "feedback_id", "feedback_no", "priority", "department", "handler_group", "stage", "kind", "due_at",
        "detected_at", "used_share", "escalation_level", "subject"}
    json.dumps(generic)
    with pytest.raises(ValueError, match="unknown webhook format"):
        webhook_payload("teams", ENTRIES, RUN)


def test_chat_payloads_stay_short_for_big_runs():
    many = [entry(n, "warning", subject="很长的主题" * 30) for n in range(1, 200)]
    content = webhook_payload("wecom", many, RUN)["markdown"]["content"]
    assert len(content.encode("utf-8")) < 4096 and "20261005-001" in content
    shown = content.count("\n- ")
    assert 5 <= shown <= 20 and content.endswith(f"另有 {199 - shown} 项，见邮件摘要")


def test_digest_rows_are_one_per_recipient_with_stable_keys(ladder):
    entries = [entry(1, "warning"), entry(2, "breach", "urgent"), entry(3, "warning", group="cs-complaints")]
    rows = digest_rows(RUN, entries, ladder)
    assert [(r.kind, r.recipient) for r in rows] == [
        ("sla_digest", "pe-oncall@example.com"), ("sla_webhook", "https://chat.example.com/hook?key=s3cret"),
        ("sla_digest", "pe-lead@example.com"), ("sla_digest", "director@example.com"),
        ("sla_digest", "complaints@example.com")]
    again = digest_rows(RUN, list(reversed(entries)), ladder)
    assert sorted(r.dedup_key for r in again) == sorted(r.dedup_key for r in rows)
    assert sorted(r.message_id for r in again) == sorted(r.message_id for r in rows)
    assert all(r.message_id.startswith("<sla-") and r.message_id.endswith("@feedback.local>") for r in rows)
    assert all(r.dedup_key.startswith(f"{r.kind}:") and "2026-10-05T10:00:00+00:00" in r.dedup_key for r in rows)
    assert "s3cret" not in rows[1].dedup_key
    assert rows[1].payload["json"]["msgtype"] == "markdown" and rows[1].payload["format"] == "wecom"
    assert rows[4].subject.startswith("[SLA] 1 at risk") and rows[4].payload["locale"] == "en"
    assert rows[0].payload["html"] and rows[0].body == rows[0].payload["text"]
    later = digest_rows(RUN + timedelta(minutes=10), entries, ladder)
    assert not {r.dedup_key for r in later} & {r.dedup_key for r in rows}


# --- configuration errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("pe-oncall@example.com", "not-an-address"),
         "escalation.yaml: groups.pe-oncall[0].email: expected an e-mail address such as ops@example.com, "
         "got 'not-an-address'"),
        (("format: wecom", "format: teams"),
         "escalation.yaml: groups.pe-oncall[1].webhook.format: expected one of 'wecom', 'dingtalk', 'slack' or "
         "'generic', got 'teams'"),
        (("{email: supervisor@example.com}", "{email: a@example.com, webhook: {url: 'https://x.example'}}"),
         "escalation.yaml: supervisors.default[0]: give exactly one of email"),
        (("  default: [{email: duty@example.com}]\n", ""), "escalation.yaml: groups: needs a 'default' entry"),
        (("add: [vp]", "add: [vpp]"), "escalation.yaml: levels[1].add[0]: unknown role 'vpp'"),
        (("after: 12h", "after: 12 hours"), "escalation.yaml: levels[1].after: expected a duration such as 30m"),
        (("after: 12h", "after: 3h"), "escalation.yaml: levels[1].after: must be longer than levels[0].after"),
        (("urgent_breach: [director]", "urgent_breach: [ceo]"), "escalation.yaml: urgent_breach[0]: unknown role"),
        (("vp: [{email: vp@example.com, locale: en}]", "vp: []"),
         "escalation.yaml: levels[1].add[0]: role 'vp' has no enabled recipient"),
        (("complaints@example.com, locale: en", "complaints@example.com, locale: fr"),
         "escalation.yaml: groups.cs-complaints[0].locale: expected one of 'zh-CN' or 'en', got 'fr'"),
        (("version: 1\n", "version: 1\nescalate: yes\n"), "escalation.yaml: escalate: unknown key"),
        (("groups:\n", "groups: [\n"), "escalation.yaml line"),
    ],
)
def test_bad_ladder_is_one_line_naming_file_and_key_path(tmp_path, change, message):
    old, new = change
    assert old in LADDER
    path = tmp_path / "escalation.yaml"
    path.write_text(LADDER.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_ladder(path)
    text = str(err.value)
    assert "\n" not in text
    assert message in text, text
    assert text.startswith(str(path))


# --- SMTP settings -----------------------------------------------------------------------------


def test_smtp_connection_uris_follow_airflow():
    plain = SmtpSettings.from_uri("smtp://127.0.0.1:2525?disable_tls=true&disable_ssl=true")
    assert (plain.host, plain.port, plain.mode, plain.user, plain.from_email) == (
        "127.0.0.1", 2525, "plain", None, "noreply@feedback.local")
    tls = SmtpSettings.from_uri("smtp://bot%40example.com:p%40ss@mail.example.com:587?disable_ssl=true"
                                "&from_email=feedback%40example.com&timeout=5")
    assert (tls.mode, tls.user, tls.password, tls.from_email, tls.timeout) == (
        "starttls", "bot@example.com", "p@ss", "feedback@example.com", 5.0)
    assert "p@ss" not in repr(tls)
    ssl = SmtpSettings.from_uri("smtp://mail.example.com")
    assert (ssl.mode, ssl.port) == ("ssl", 465)
    as_json = SmtpSettings.from_env({"AIRFLOW_CONN_FEEDBACK_SMTP": json.dumps(
        {"conn_type": "smtp", "host": "m.example.com", "port": 25,
         "extra": {"disable_ssl": True, "disable_tls": True}})})
    assert (as_json.mode, as_json.port) == ("plain", 25)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "the feedback_smtp connection is not configured: set AIRFLOW_CONN_FEEDBACK_SMTP"),
        ("http://mail.example.com", "expected an smtp:// URI"),
        ("smtp://mail.example.com:abc", "the port is not a number"),
        ("smtp://mail.example.com?disable_ssl=maybe", "disable_ssl must be true or false, got 'maybe'"),
        ("smtp://:25", "no host given"),
        ("{not json", "not valid JSON"),
    ],
)
def test_smtp_connection_errors_are_one_line(value, message):
    with pytest.raises(FeedbackError) as err:
        SmtpSettings.from_env({"AIRFLOW_CONN_FEEDBACK_SMTP": value})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_backoff_doubles_and_is_capped():
    base, cap = timedelta(minutes=1), timedelta(minutes=10)
    assert [backoff_delay(n, base, cap) for n in (1, 2, 3, 4, 5, 9)] == [
        timedelta(minutes=m) for m in (1, 2, 4, 8, 10, 10)]


def test_a_huge_digest_lists_a_bounded_number_of_rows_and_counts_the_rest():
    from datetime import UTC, datetime, timedelta

    from feedback.notify.digest import MAX_ROWS_PER_GROUP, AlertEntry, render_digest

    now = datetime(2026, 10, 20, 6, 0, tzinfo=UTC)
    entries = [
        AlertEntry(feedback_id=i, feedback_no=f"20261020-{i:04d}", priority="medium", department="finance",
                   handler_group="fin-billing", stage="first_response", kind="breach", due_at=now - timedelta(hours=1),
                   detected_at=now, used_share=1.2, escalation_level=0, subject="账单疑问")
        for i in range(MAX_ROWS_PER_GROUP + 37)
    ]
    for locale, phrase in (("en", "and 37 more"), ("zh-CN", "另有 37 项未列出")):
        digest = render_digest(entries, now, locale=locale)
        assert phrase in digest.text and phrase in digest.html
        assert digest.text.count("20261020-") == MAX_ROWS_PER_GROUP
        assert f"({MAX_ROWS_PER_GROUP + 37}" in digest.text or f"（{MAX_ROWS_PER_GROUP + 37}" in digest.text

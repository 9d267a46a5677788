"""Triage against a real register: masked, vaulted, classified, numbered, deadlines, exactly once."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from conftest import scalar

from feedback.privacy import leak_gate, vault
from feedback.triage import run as triage
from feedback.triage.tiers import set_tier

RUN = datetime(2026, 10, 20, 10, 0, tzinfo=UTC)
PHONE, EMAIL, NAME = "13812345678", "zhangsan.private@qq.com", "张三丰"


@pytest.fixture(scope="module")
def ctx():
    return triage.load_context()


def add_intake(engine, n: int, body: str, *, channel="webform", received=None, **payload_extra) -> int:
    payload = {
        "form": "contact_zh", "subject": payload_extra.pop("subject", f"反馈{n}"), "body": body,
        "contact": payload_extra.pop("contact", {"name": NAME, "phone": PHONE, "email": EMAIL}), **payload_extra,
    }
    with engine.begin() as conn:
        return conn.execute(
            sa.text(
                "INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, content_sha256) "
                "VALUES (:c, 'contact_zh', :e, :t, CAST(:p AS jsonb), :h) RETURNING id"
            ),
            {"c": channel, "e": payload_extra.get("external_id", f"wf-test{n:06d}"),
             "t": received or RUN - timedelta(hours=1), "p": json.dumps(payload, ensure_ascii=False), "h": "0" * 64},
        ).scalar_one()


def rows(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def test_an_item_is_registered_masked_routed_and_given_deadlines(register, ctx):
    intake_id = add_intake(register, 1, f"支付失败了！扣了钱订单没成功，订单号DD20261003123456，请联系{PHONE}或{EMAIL}")
    summary = triage.triage_pending(register, RUN, ctx)
    assert (summary.registered, summary.batches) == (1, 1)

    (item,) = rows(register, "SELECT * FROM feedback.feedback")
    assert re.fullmatch(r"20261020-001", item.feedback_no)
    assert item.intake_id == intake_id and item.status == "assigned"
    assert PHONE not in item.description and EMAIL not in item.description
    assert "138****5678" in item.description and "DD20261003123456" in item.description
    assert item.contact_masked == "138****5678"
    assert item.customer_name and NAME not in item.customer_name
    assert item.priority == "urgent" and item.department and item.category
    assert item.rule_ids and item.taxonomy_preset == "A"
    # Contacts are in the vault, encrypted, and come back through the audited door.
    assert set(item.contact_refs) == {"phone", "email", "name"}
    with register.begin() as conn:
        assert vault.reveal(conn, item.contact_vault_id, actor="test", purpose="check") == "+86" + PHONE
    # One deadline per stage of the policy; the earliest is mirrored on the item.
    deadlines = rows(register, "SELECT stage, due_at FROM feedback.feedback_deadline ORDER BY due_at")
    assert [d.stage for d in deadlines] == [s for s in ctx.policy.stages if s in {d.stage for d in deadlines}]
    assert len(deadlines) == len(ctx.policy.stages)
    assert item.next_deadline_at == deadlines[0].due_at and item.next_deadline_stage == deadlines[0].stage
    events = [e.event_type for e in rows(register, "SELECT event_type FROM feedback.feedback_event ORDER BY id")]
    assert events == ["created", "assigned"]
    assert scalar(register, "SELECT status FROM feedback.intake") == "triaged"


def test_rerun_registers_nothing_twice(register, ctx):
    for n in range(3):
        add_intake(register, n, "app闪退，无法登录")
    assert triage.triage_pending(register, RUN, ctx).registered == 3
    assert triage.triage_pending(register, RUN, ctx).registered == 0
    assert scalar(register, "SELECT count(*) FROM feedback.feedback") == 3
    assert scalar(register, "SELECT count(*) FROM feedback.feedback_event") == 6


def test_batches_are_bounded_and_numbers_follow_the_business_date(register, ctx):
    # 2026-10-19 23:30 Shanghai is 15:30 UTC: the business date is the 19th.
    for n in range(5):
        add_intake(register, n, "希望增加夜间模式", received=datetime(2026, 10, 19, 15, 30 + n, tzinfo=UTC))
    summary = triage.triage_pending(register, RUN, ctx, batch_size=2)
    assert (summary.batches, summary.registered) == (3, 5)
    numbers = [r.feedback_no for r in rows(register, "SELECT feedback_no FROM feedback.feedback ORDER BY feedback_no")]
    assert numbers == [f"20261019-00{i}" for i in range(1, 6)]


def test_a_reply_becomes_an_event_on_the_existing_item(register, ctx):
    add_intake(register, 1, "退款一直没到账")
    triage.triage_pending(register, RUN, ctx)
    number = scalar(register, "SELECT feedback_no FROM feedback.feedback")
    add_intake(register, 2, f"关于{number}，还是没有收到退款，电话{PHONE}", subject=f"Re: [{number}] 退款")
    summary = triage.triage_pending(register, RUN + timedelta(hours=1), ctx)
    assert (summary.registered, summary.replies) == (0, 1)
    assert scalar(register, "SELECT count(*) FROM feedback.feedback") == 1
    (event,) = rows(register, "SELECT * FROM feedback.feedback_event WHERE event_type = 'customer_replied'")
    assert PHONE not in json.dumps(event.details, ensure_ascii=False)
    assert scalar(register, "SELECT status_reason FROM feedback.intake WHERE external_id = 'wf-test000002'") \
        == "reply to an existing item"


def test_a_reply_to_an_item_in_the_same_batch_is_linked(register, ctx):
    add_intake(register, 1, "无法登录", channel="email", external_id="<orig@mail.example.cn>",
               received=RUN - timedelta(hours=3))
    add_intake(register, 2, "请尽快处理", channel="email", external_id="<re@mail.example.cn>",
               in_reply_to="<orig@mail.example.cn>", received=RUN - timedelta(hours=2))
    summary = triage.triage_pending(register, RUN, ctx)
    assert (summary.registered, summary.replies) == (1, 1)


def test_vip_customers_are_recognised_by_keyed_hash(register, ctx):
    with register.begin() as conn:
        set_tier(conn, [f"+86 {PHONE[:3]} {PHONE[3:7]} {PHONE[7:]}"], "vip")
    add_intake(register, 1, "希望增加导出功能")
    add_intake(register, 2, "希望增加导出功能", contact={"phone": "13900001111"})
    triage.triage_pending(register, RUN, ctx)
    tiers = dict(rows(register, "SELECT intake_id, customer_tier FROM feedback.feedback"))
    assert sorted(tiers.values()) == ["normal", "vip"]
    assert not rows(register, "SELECT 1 FROM feedback.customer_tier WHERE identity_hash LIKE '%1381234%'")


def test_contact_written_only_in_the_text_is_vaulted(register, ctx):
    add_intake(register, 1, f"请联系{EMAIL}谢谢", contact={})
    triage.triage_pending(register, RUN, ctx)
    (item,) = rows(register, "SELECT contact_masked, contact_vault_id, description FROM feedback.feedback")
    assert item.contact_vault_id is not None and EMAIL not in item.description
    assert item.contact_masked.startswith("zhangsan.private")


def test_overlapping_runs_register_each_item_once(register, ctx):
    for n in range(120):
        add_intake(register, n, "物流太慢了，一周还没到")
    results = []
    no_gate = triage.TriageContext(**{**ctx.__dict__, "gate": False})  # the gate is not what this tests

    def run():
        results.append(triage.triage_pending(register, RUN, no_gate, batch_size=7))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sum(r.registered for r in results) == 120
    assert scalar(register, "SELECT count(DISTINCT intake_id) FROM feedback.feedback") == 120
    numbers = sorted(r.feedback_no for r in rows(register, "SELECT feedback_no FROM feedback.feedback"))
    assert numbers == [f"20261020-{i:03d}" for i in range(1, 121)]


def test_the_leak_gate_stops_a_masking_failure_and_nothing_is_stored(register, ctx, monkeypatch, caplog):
    class Broken:
        """A masker that forgets to mask: the gate must catch it."""

        def __init__(self, real):
            self.real = real

        def mask(self, text):
            result = self.real.mask(text)
            return type(result)(text=text, findings=result.findings)

        def mask_contact(self, kind, value):
            return self.real.mask_contact(kind, value)

    add_intake(register, 1, f"我的电话{PHONE}")
    broken = triage.TriageContext(**{**ctx.__dict__, "masker": Broken(ctx.masker)})
    # Issue 13: the leaking item is held (not retried forever, not failing the run for everyone).
    summary = triage.triage_pending(register, RUN, broken)
    assert (summary.registered, summary.held) == (0, 1)
    warned = " ".join(r.getMessage() for r in caplog.records if r.name == "feedback.triage.run")
    assert "feedback.description" in warned and PHONE not in warned and "release" in warned
    assert scalar(register, "SELECT count(*) FROM feedback.feedback") == 0
    assert scalar(register, "SELECT count(*) FROM feedback.contact_vault") == 0
    assert scalar(register, "SELECT status FROM feedback.intake") == "held"
    reason = scalar(register, "SELECT status_reason FROM feedback.intake")
    assert reason == "leak_gate: feedback.description phone" and PHONE not in reason
    assert PHONE not in json.dumps(summary.as_dict(), ensure_ascii=False)
    assert issubclass(triage._BatchLeak, leak_gate.LeakDetected)


def test_the_customers_signed_name_is_masked_in_the_text(register, ctx):
    add_intake(register, 1, f"客服态度太差了。\n\n{NAME}")
    add_intake(register, 2, "The courier never came.\n\nBest regards,\nCAROL LOPEZ",
               contact={"name": "Carol Lopez", "email": "carol@example.com"})
    triage.triage_pending(register, RUN, ctx)
    texts = " ".join(r.description for r in rows(register, "SELECT description FROM feedback.feedback"))
    assert NAME not in texts and "carol lopez" not in texts.lower()


def test_a_one_word_sender_name_is_masked_as_a_name_not_as_a_substring(register, ctx):
    # A sender whose display name is "test" wrote the subject "test multipart": a substring masker made
    # it "t*** multipart". The name is masked where it is used as one; the full name signed in the body
    # is masked wherever it stands.
    add_intake(register, 1, "My parcel never came; the order is for Carol Lopez. Regards, test\n\n"
               "Best regards,\nCarol Lopez",
               channel="email", subject="test multipart", contact={"name": "test", "email": "test@example.com"})
    triage.triage_pending(register, RUN, ctx)
    (item,) = rows(register, "SELECT subject, description FROM feedback.feedback")
    assert item.subject == "test multipart"
    assert "Regards, t***" in item.description
    assert "Carol Lopez" not in item.description and "C*** L***" in item.description


def test_no_raw_contact_outside_intake_and_the_vault(register, ctx):
    for n, body in enumerate([f"电话 {PHONE[:3]}-{PHONE[3:7]}-{PHONE[7:]}", f"mail me: {EMAIL}", "身份证11010519491231002X"]):
        add_intake(register, n, body)
    triage.triage_pending(register, RUN, ctx)
    for table in ("feedback", "feedback_event", "feedback_deadline"):
        dump = "\n".join(r[0] for r in rows(register, f"SELECT row_to_json(t)::text FROM feedback.{table} t"))
        for secret in (PHONE, EMAIL, NAME, "11010519491231002X"):
            assert secret not in dump, f"{table} holds a raw contact"


def test_a_low_star_rating_bumps_a_platform_item_and_five_stars_do_not(register, ctx):
    # The same calm report of a minor fault (medium by itself), on a public platform: one star makes it a
    # negative public item (one level up, reason low_rating); five stars, or no readable rating, do not.
    text = "App在订单页偶尔闪退，重新打开就好了"
    add_intake(register, 1, text, channel="platform", rating=1, external_id="tp-1")
    add_intake(register, 2, text, channel="platform", rating=5, external_id="tp-5")
    add_intake(register, 3, text, channel="platform", rating="2/5", external_id="tp-2of5")
    add_intake(register, 4, text, channel="platform", rating="great", external_id="tp-text")
    triage.triage_pending(register, RUN, ctx)
    got = {r.external_id: r for r in rows(
        register, "SELECT i.external_id, f.priority, f.priority_reasons FROM feedback.feedback f "
                  "JOIN feedback.intake i ON i.id = f.intake_id")}
    assert got["tp-1"].priority == "high" and "low_rating" in got["tp-1"].priority_reasons
    assert got["tp-2of5"].priority == "high" and "low_rating" in got["tp-2of5"].priority_reasons
    assert got["tp-5"].priority == "medium" and "low_rating" not in got["tp-5"].priority_reasons
    assert got["tp-text"].priority == "medium"


@pytest.mark.parametrize(
    ("value", "stars"),
    [(1, 1.0), (4.5, 4.5), ("2", 2.0), ("2/5", 2.0), ("8/10", 4.0), ("3 stars", 3.0),
     (True, None), (None, None), ("great", None), (7, None), ("1/0", None)],
)
def test_platform_ratings_are_read_as_stars(value, stars):
    from feedback.triage.prepare import rating_of

    assert rating_of(value) == stars

"""Triage poison isolation (issue 13): one row the gate or the register refuses never stalls triage.

Real register (the `register` fixture), real leak gate, real masker: the poison rows are
ones the pipeline really meets (a number the masker does not know as a phone but the gate
does, a date no deadline can be computed for), planted among good rows.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from conftest import scalar

from feedback import holds
from feedback.triage import run as triage

RUN = datetime(2026, 10, 20, 10, 0, tzinfo=UTC)
# 140 is not a mobile prefix the masker knows (it leaves the number), but the gate's own, broader
# pattern reads it as one: the disagreement the gate exists for. Nobody's number.
POISON = "14012345678"


@pytest.fixture(scope="module")
def ctx():
    return triage.load_context()


class FixedMasker:
    """The masker after the operator's fix: also masks the 140 numbers."""

    def __init__(self, real):
        self.real = real

    def mask(self, text):
        result = self.real.mask(text)
        return type(result)(text=re.sub(r"1\d{10}", "1**********", result.text), findings=result.findings)

    def mask_contact(self, kind, value):
        return self.real.mask_contact(kind, value)


def add(engine, key: str, body: str, *, channel="webform", received=None, **payload) -> int:
    data = {"subject": payload.pop("subject", "反馈"), "body": body, "contact": payload.pop("contact", {}), **payload}
    with engine.begin() as conn:
        return conn.execute(
            sa.text("INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, content_sha256) "
                    "VALUES (:c, 'contact_zh', :e, :t, CAST(:p AS jsonb), repeat('0', 64)) RETURNING id"),
            {"c": channel, "e": key, "t": received or RUN - timedelta(hours=1),
             "p": json.dumps(data, ensure_ascii=False)},
        ).scalar_one()


def status(engine, intake_id: int) -> tuple[str, str | None]:
    with engine.connect() as conn:
        return tuple(conn.execute(sa.text("SELECT status, status_reason FROM feedback.intake WHERE id = :i"),
                                  {"i": intake_id}).one())


def test_a_leak_is_held_the_good_rows_go_through_and_a_release_after_the_fix_registers_it(register, ctx):
    good = [add(register, f"wf-good{n:04d}", "物流太慢了，一周还没到", received=RUN - timedelta(hours=3, minutes=-n))
            for n in range(3)]
    # The poison is the OLDEST row: claimed first, every run, which is what used to stall triage.
    bad = add(register, "wf-poison01", f"请回电{POISON}，谢谢", received=RUN - timedelta(hours=5))
    good += [add(register, f"wf-good{n:04d}", "支付失败了，扣款未到账", received=RUN - timedelta(hours=2, minutes=-n))
             for n in range(3, 6)]

    first = triage.triage_pending(register, RUN, ctx)
    assert (first.registered, first.held) == (6, 1)
    assert first.as_dict()["held"] == 1
    assert first.as_dict()["held_reasons"] == {"leak_gate: feedback.description phone": 1}
    assert POISON not in json.dumps(first.as_dict(), ensure_ascii=False)
    assert {status(register, i)[0] for i in good} == {"triaged"}
    assert status(register, bad) == ("held", "leak_gate: feedback.description phone")
    assert scalar(register, "SELECT count(*) FROM feedback.feedback") == 6
    dump = "\n".join(r[0] for r in register.connect().execute(
        sa.text("SELECT row_to_json(t)::text FROM feedback.feedback t")))
    assert POISON not in dump

    # Not claimed again: a second run has nothing to do and holds nothing new.
    second = triage.triage_pending(register, RUN + timedelta(minutes=10), ctx)
    assert (second.batches, second.registered, second.held) == (0, 0, 0)

    # The operator sees it (where and why, no value) and releases it after fixing the masking.
    (listed,) = [h for h in holds.list_held(register) if h.id == f"intake:{bad}"]
    assert (listed.stage, listed.reason) == ("triage", "leak_gate")
    assert POISON not in listed.detail
    assert holds.release(register, [listed.id], RUN + timedelta(hours=1)) == 1
    fixed = triage.TriageContext(**{**ctx.__dict__, "masker": FixedMasker(ctx.masker)})
    third = triage.triage_pending(register, RUN + timedelta(hours=1), fixed)
    assert (third.registered, third.held) == (1, 0)
    assert status(register, bad)[0] == "triaged"
    assert scalar(register, "SELECT description FROM feedback.feedback WHERE intake_id = :i", i=bad) \
        == "请回电1**********，谢谢"


def test_a_row_that_breaks_the_batch_is_held_alone(register, ctx):
    for n in range(4):
        add(register, f"wf-ok{n:04d}", "希望增加夜间模式", received=RUN - timedelta(hours=1, minutes=n))
    # A date at the end of the calendar: no deadline can be computed after it (the batch fails on it).
    odd = add(register, "wf-odd0001", "app闪退，无法登录", received=datetime(9999, 12, 30, tzinfo=UTC))
    summary = triage.triage_pending(register, RUN, ctx)
    assert (summary.registered, summary.held) == (4, 1)
    state, reason = status(register, odd)
    assert state == "held" and reason and "registering" in reason
    assert scalar(register, "SELECT count(*) FROM feedback.feedback") == 4
    assert scalar(register, "SELECT count(*) FROM feedback.intake WHERE status = 'new'") == 0


def test_a_reply_to_a_held_item_waits_with_it_and_joins_it_after_release(register, ctx):
    original = add(register, "<orig@mail.example.cn>", f"电话{POISON}，退款没到账", channel="email",
                   received=RUN - timedelta(hours=3))
    reply = add(register, "<re@mail.example.cn>", "请尽快处理", channel="email", in_reply_to="<orig@mail.example.cn>",
                received=RUN - timedelta(hours=2))
    other = add(register, "wf-other001", "客服态度太差了", received=RUN - timedelta(hours=1))
    summary = triage.triage_pending(register, RUN, ctx)
    assert (summary.registered, summary.held, summary.replies) == (1, 2, 0)
    assert status(register, original)[0] == "held"
    assert status(register, reply) == ("held", f"reply_to_held: answers held intake:{original}; release them together")
    assert status(register, other)[0] == "triaged"

    holds.release(register, [f"intake:{original}", f"intake:{reply}"], RUN)
    fixed = triage.TriageContext(**{**ctx.__dict__, "masker": FixedMasker(ctx.masker)})
    again = triage.triage_pending(register, RUN + timedelta(hours=1), fixed)
    assert (again.registered, again.replies, again.held) == (1, 1, 0)
    assert scalar(register, """SELECT f.intake_id FROM feedback.feedback_event e JOIN feedback.feedback f
                               ON f.id = e.feedback_id WHERE e.dedup_key = :k""", k=f"reply:{reply}") == original


def test_the_reply_is_held_also_when_its_original_was_held_in_an_earlier_run(register, ctx):
    original = add(register, "<o2@mail.example.cn>", f"电话{POISON}", channel="email", received=RUN - timedelta(hours=3))
    triage.triage_pending(register, RUN, ctx)
    reply = add(register, "<r2@mail.example.cn>", "还没处理吗", channel="email", in_reply_to="<o2@mail.example.cn>")
    summary = triage.triage_pending(register, RUN + timedelta(hours=1), ctx)
    assert (summary.registered, summary.held) == (0, 1)
    assert status(register, reply)[1] == f"reply_to_held: answers held intake:{original}; release them together"


def test_our_numbers_order_numbers_and_old_dates_do_not_trip_the_gate(register, ctx):
    # A mail whose clock says 1993: its number is 19930206-001, which once read as a mobile number.
    old = add(register, "wf-old00001", "关于19930206-001的投诉，一直没有回复", received=datetime(1993, 2, 6, 2, 0, tzinfo=UTC))
    order = add(register, "wf-order001", "同一笔订单202610207312138192被重复扣费两次")
    intl = add(register, "wf-intl0001", "Please call me back on +3670/977-8379 or (+1) 415-555-2671")
    summary = triage.triage_pending(register, RUN, ctx)
    assert (summary.registered, summary.held) == (3, 0)
    assert scalar(register, "SELECT feedback_no FROM feedback.feedback WHERE intake_id = :i", i=old) == "19930206-001"
    assert "202610207312138192" in scalar(register, "SELECT description FROM feedback.feedback WHERE intake_id = :i",
                                          i=order)
    text = scalar(register, "SELECT description FROM feedback.feedback WHERE intake_id = :i", i=intl)
    assert "977-8379" not in text and "555-2671" not in text and "+36****8379" in text and "+1****2671" in text
    assert scalar(register, "SELECT contact_masked FROM feedback.feedback WHERE intake_id = :i", i=intl) == "+36****8379"


def test_a_date_python_cannot_hold_is_held_not_a_failed_claim(register, ctx):
    add(register, "wf-fine0001", "希望增加导出功能")
    with register.begin() as conn:
        conn.execute(sa.text("INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, "
                             "content_sha256) VALUES ('webform', 'contact_zh', 'wf-inf00001', 'infinity', "
                             "CAST(:p AS jsonb), repeat('0', 64))"), {"p": json.dumps({"body": "无法登录"})})
    summary = triage.triage_pending(register, RUN, ctx)
    assert (summary.registered, summary.held) == (1, 1)
    assert scalar(register, "SELECT status_reason FROM feedback.intake WHERE external_id = 'wf-inf00001'") \
        == "invalid_datetime: feedback.intake.received_at out of range"

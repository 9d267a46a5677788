"""The report's data-quality suite (Great Expectations on the month's suspect rows) catches every defect it names.

The suite validates only the rows that break a rule (one SQL pass over the month), so these tests
check that each rule still fails on exactly its own rows, with the count of the whole month, and
that rows outside the month or clean rows never count.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from feedback.reports.quality import check_period

START, END = datetime(2026, 9, 30, 16, tzinfo=UTC), datetime(2026, 10, 31, 16, tzinfo=UTC)
PHONE, EMAIL = "13812345678", "zhang.san@example.com"


def add(engine, no: str, *, received: datetime | None = None, description: str = "订单未到账（已脱敏）",
        subject: str | None = None, contact: str | None = None, due_in: timedelta = timedelta(hours=2)) -> None:
    received = received or datetime(2026, 10, 10, 2, tzinfo=UTC)
    with engine.begin() as conn:
        fid = conn.execute(sa.text(
            """INSERT INTO feedback.feedback (feedback_no, channel, source, received_at, registered_at, description,
                                              subject, contact_masked, priority, status)
               VALUES (:no, 'email', 'test', :t, :t, :d, :s, :c, 'medium', 'assigned') RETURNING id"""),
            {"no": no, "t": received, "d": description, "s": subject, "c": contact}).scalar_one()
        conn.execute(sa.text(
            """INSERT INTO feedback.feedback_deadline (feedback_id, stage, handling_cycle, starts_at, due_at,
                                                       allowance, calendar, rule)
               VALUES (:f, 'first_response', 1, :t, :d, interval '2 hours', 'default', 'test')"""),
            {"f": fid, "t": min(received, received + due_in), "d": received + due_in})   # a clock may start early


def verdicts(engine) -> dict[str, tuple[bool, str]]:
    return {c.name.en: (c.passed, c.detail) for c in check_period(engine, START, END)}


def test_a_clean_month_passes_every_check(register):
    for n in range(1, 6):
        add(register, f"20261010-{n:03d}")
    result = verdicts(register)
    assert len(result) == 11 and all(passed for passed, _ in result.values())


def test_each_defect_fails_its_own_check_with_the_months_count_and_no_values(register):
    for n in range(1, 6):
        add(register, f"20261010-{n:03d}")
    add(register, "20261011-001", subject=f"回电 {PHONE}")
    add(register, "20261011-002", description=f"请发到 {EMAIL}")
    add(register, "20261011-003", description=f"邮箱 {EMAIL} 电话 {PHONE}")
    add(register, "20261011-004", contact=EMAIL)
    add(register, "20261011-005", due_in=timedelta(hours=-1))       # a deadline before the receipt
    add(register, "20261011-006", due_in=timedelta(0))               # not after it either
    # Outside the month: never counted, whatever they hold.
    add(register, "20261101-001", received=END + timedelta(hours=1), description=f"{PHONE} {EMAIL}")
    add(register, "20260929-001", received=START - timedelta(days=1), subject=PHONE, due_in=timedelta(hours=-3))
    result = verdicts(register)
    failed = {name: detail for name, (passed, detail) in result.items() if not passed}
    assert failed == {
        "no unmasked phone number in texts": "1 row(s) fail",
        "no unmasked phone number in subjects": "1 row(s) fail",
        "no unmasked e-mail address in texts": "2 row(s) fail",
        "no unmasked e-mail address in contact fields": "1 row(s) fail",
        "every deadline is after receipt": "2 row(s) fail",
    }
    assert not any(PHONE in d or EMAIL in d or "zhang" in d for _, d in result.values())


def test_a_masked_number_or_a_longer_digit_run_is_not_a_phone_number(register):
    add(register, "20261010-001", description="客户 138****5678 来电")
    add(register, "20261010-002", description="订单号 9913812345678001")
    add(register, "20261010-003", subject="工单 *13812345678")
    assert all(passed for passed, _ in verdicts(register).values())


def test_a_number_used_twice_is_caught_once_the_unique_index_is_gone(register):
    with register.begin() as conn:
        conn.execute(sa.text("ALTER TABLE feedback.feedback DROP CONSTRAINT feedback_feedback_no_key"))
    add(register, "20261010-001")
    add(register, "20261010-001")
    add(register, "20261010-002")
    result = verdicts(register)
    assert result["one number per item"] == (False, "2 row(s) fail")
    assert [name for name, (passed, _) in result.items() if not passed] == ["one number per item"]

"""Feedback numbers from our receipt time: always eight date digits, never a failure on an odd instant."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from feedback.privacy.leak_gate import check
from feedback.triage.numbering import business_day, format_no

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_the_business_date_is_the_calendar_zones():
    assert business_day(datetime(2026, 10, 19, 15, 30, tzinfo=UTC), SHANGHAI) == date(2026, 10, 19)
    assert business_day(datetime(2026, 10, 19, 16, 30, tzinfo=UTC), SHANGHAI) == date(2026, 10, 20)


@pytest.mark.parametrize(
    "instant",
    [datetime(9999, 12, 31, 23, 0, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC),
     datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))), datetime(1993, 2, 6, 2, 0)],
)
def test_odd_instants_never_fail(instant):
    day = business_day(instant, SHANGHAI)
    assert isinstance(day, date)
    assert len(format_no(day, 1)) == len("20261122-001")


def test_numbers_always_have_eight_date_digits():
    assert format_no(date(2026, 11, 22), 1) == "20261122-001"
    assert format_no(date(993, 2, 6), 12) == "09930206-012"
    assert format_no(date(2026, 1, 2), 1234) == "20260102-1234"


@pytest.mark.parametrize("day", [date(1993, 2, 6), date(1999, 12, 31), date(2026, 10, 20), date(1, 1, 1)])
def test_our_numbers_never_trip_the_leak_gate_wherever_they_are_quoted(day):
    number = format_no(day, 1)
    rows = [{"feedback_no": number, "description": f"关于{number}的投诉", "details": {"excerpt": f"Re: [{number}]"}}]
    assert check({"feedback": rows, "feedback_event": rows}) == []

"""Business calendar: hand-computed 2026 examples, config errors, and properties (hypothesis).

The 2026 facts used below, from chinese_calendar 1.11.0 (checked, not assumed):
  - 中秋 Mid-autumn Festival: Fri 2026-09-25 .. Sun 2026-09-27 are public holidays;
  - 国庆 National Day: Thu 2026-10-01 .. Wed 2026-10-07 are public holidays;
  - adjusted working days (调休) around them: Sun 2026-09-20 and Sat 2026-10-10.
Default calendar: Asia/Shanghai, 09:00-12:00 + 13:30-18:00 (7.5 business hours a day), Mon-Fri.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from feedback.errors import ConfigError
from feedback.sla.calendar import BusinessCalendar, always_calendar, load_calendars

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
H = timedelta(hours=1)
M = timedelta(minutes=1)
ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

CALS = load_calendars()
DEFAULT = CALS["default"]
DESK = CALS["support_7x12"]
ALWAYS = CALS["always"]
BERLIN_CAL = BusinessCalendar.of("berlin", zone="Europe/Berlin", periods=["09:00-17:00"], weekdays=ALL_DAYS,
                                 public_holidays="none")
NY_CAL = BusinessCalendar.of("new_york", zone="America/New_York", periods=["09:00-12:00", "13:00-18:00"],
                             weekdays=ALL_DAYS, public_holidays="none")

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


# --- the shipped file --------------------------------------------------------------------------


def test_shipped_calendars():
    assert set(CALS) == {"default", "support_7x12", "always"}
    assert DEFAULT.zone == SH and DEFAULT.kind == "business"
    assert DEFAULT.day_length == timedelta(hours=7, minutes=30)
    assert DESK.day_length == 12 * H
    assert ALWAYS.kind == "24x7" and ALWAYS.day_length == 24 * H and ALWAYS.coverage is None


def test_the_2026_facts_the_examples_rely_on():
    # If chinese_calendar ever changes its 2026 data, the hand-computed examples below must be redone.
    assert chinese_calendar.get_holiday_detail(date(2026, 9, 25)) == (True, "Mid-autumn Festival")
    assert all(chinese_calendar.is_holiday(date(2026, 10, d)) for d in range(1, 8))
    assert chinese_calendar.is_workday(date(2026, 10, 8))
    assert date(2026, 9, 20).weekday() == 6 and chinese_calendar.is_workday(date(2026, 9, 20))
    assert date(2026, 10, 10).weekday() == 5 and chinese_calendar.is_workday(date(2026, 10, 10))


# --- working days ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 9, 24), True),    # Thu, ordinary
        (date(2026, 9, 25), False),   # Fri, 中秋 public holiday
        (date(2026, 9, 19), False),   # Sat, ordinary weekend
        (date(2026, 9, 20), True),    # Sun, 调休 adjusted working day
        (date(2026, 10, 5), False),   # Mon, 国庆
        (date(2026, 10, 8), True),    # Thu, first working day after 国庆
        (date(2026, 10, 10), True),   # Sat, 调休
        (date(2026, 10, 11), False),  # Sun, ordinary weekend
    ],
)
def test_default_working_days(day, working):
    assert DEFAULT.is_working_day(day) is working


def test_support_desk_works_weekends_but_not_public_holidays():
    assert DESK.is_working_day(date(2026, 9, 19))        # ordinary Saturday
    assert not DESK.is_working_day(date(2026, 10, 3))    # Saturday inside 国庆
    assert not DESK.is_working_day(date(2026, 9, 25))    # 中秋
    # Fri 2026-09-18 19:00 + 2h: 1h until 20:00, then Sat 08:00 + 1h.
    assert DESK.add(sh(2026, 9, 18, 19), 2 * H) == sh(2026, 9, 19, 9)


def test_company_days_override_public_calendar():
    cal = BusinessCalendar.of("company", days_off=[date(2026, 9, 29)], extra_working_days=[date(2026, 10, 2)])
    assert not cal.is_working_day(date(2026, 9, 29))     # a Tuesday the company closes
    assert cal.is_working_day(date(2026, 10, 2))         # inside 国庆, but the company works
    # Mon 2026-09-28 17:00 + 2h: 1h Monday, Tuesday closed, Wed 09:00 + 1h.
    assert cal.add(sh(2026, 9, 28, 17), 2 * H) == sh(2026, 9, 30, 10)
    # Wed 2026-09-30 17:00 + 2h: 1h Wednesday, then the extra working day Fri 10-02 09:00 + 1h.
    assert cal.add(sh(2026, 9, 30, 17), 2 * H) == sh(2026, 10, 2, 10)


def test_coverage_and_fallback_outside_known_years(caplog):
    first, last = DEFAULT.coverage
    assert first <= date(2004, 1, 1) and last >= date(2026, 12, 31)
    assert DEFAULT.covers(date(2026, 10, 1)) and not DEFAULT.covers(date(2099, 1, 1))
    cal = BusinessCalendar.of("fallback_probe", days_off=[date(2099, 1, 2)])
    with caplog.at_level(logging.WARNING, logger="feedback.sla.calendar"):
        assert cal.is_working_day(date(2099, 1, 1))          # a Thursday: weekly pattern, no exception
        assert not cal.is_working_day(date(2099, 1, 2))      # days_off still apply
        assert not cal.is_working_day(date(2099, 1, 3))      # Saturday
        assert cal.add(datetime(2099, 1, 1, 17, tzinfo=SH), 2 * H) == datetime(2099, 1, 5, 10, tzinfo=SH)
    warnings = [r for r in caplog.records if "fallback_probe" in r.getMessage()]
    assert len(warnings) == 1                               # once per calendar and year
    assert "2099" in warnings[0].getMessage() and "days_off" in warnings[0].getMessage()


# --- add: hand-computed examples ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        # Fri 2026-09-25 is 中秋 (not a working day), so nothing counts until Mon 09-28 09:00: 11:00.
        (sh(2026, 9, 25, 17), 2 * H, sh(2026, 9, 28, 11)),
        # An ordinary Friday 2026-09-18 17:00 + 2h: 1h Friday, Sat off, Sun 09-20 is 调休: 10:00.
        (sh(2026, 9, 18, 17), 2 * H, sh(2026, 9, 20, 10)),
        # Wed 2026-09-30 17:00 + 4h: 1h, 国庆 10-01..07, Thu 10-08 09:00 + 3h = 12:00 (end of the morning).
        (sh(2026, 9, 30, 17), 4 * H, sh(2026, 10, 8, 12)),
        # ... + 4.5h: the lunch break 12:00-13:30 is skipped: 14:00.
        (sh(2026, 9, 30, 17), 4.5 * H, sh(2026, 10, 8, 14)),
        # Mon 2026-09-28 11:00 + 2h: 1h before lunch, 13:30 + 1h = 14:30.
        (sh(2026, 9, 28, 11), 2 * H, sh(2026, 9, 28, 14, 30)),
        # Fri 2026-10-09 17:30 + 1h: 30 min Friday, Sat 10-10 is 调休: 09:30.
        (sh(2026, 10, 9, 17, 30), H, sh(2026, 10, 10, 9, 30)),
        # Received on a holiday night (Sat 09-26 22:00) + 1h: Mon 09-28 10:00.
        (sh(2026, 9, 26, 22), H, sh(2026, 9, 28, 10)),
        # Received during lunch + 30 min: 13:30 + 30 min.
        (sh(2026, 9, 28, 12, 15), 30 * M, sh(2026, 9, 28, 14)),
        # 15 full working days (112.5 h) from Mon 09-28 09:00: 09-28, 09-29, 09-30, 10-08, 10-09, 10-10,
        # 10-12..10-16, 10-19..10-22 = 15 days; the last one ends Thu 10-22 18:00.
        (sh(2026, 9, 28, 9), 15 * 7.5 * H, sh(2026, 10, 22, 18)),
        # Zero duration is the start itself, even outside working time.
        (sh(2026, 10, 3, 3), timedelta(0), sh(2026, 10, 3, 3)),
    ],
)
def test_add_examples(start, duration, expected):
    result = DEFAULT.add(start, duration)
    assert result == expected
    assert result.tzinfo is UTC
    assert DEFAULT.between(start, result) == duration      # round trip


def test_add_accepts_any_zone_and_returns_utc():
    # 2026-09-30 09:00 UTC is 17:00 in Shanghai: same as the National Day example.
    result = DEFAULT.add(datetime(2026, 9, 30, 9, tzinfo=UTC), 4 * H)
    assert result == datetime(2026, 10, 8, 4, tzinfo=UTC) and result.tzinfo is UTC


def test_naive_and_negative_inputs_are_refused():
    with pytest.raises(ValueError, match="naive datetime"):
        DEFAULT.add(datetime(2026, 9, 28, 10), H)
    with pytest.raises(ValueError, match="negative"):
        DEFAULT.add(sh(2026, 9, 28, 10), -H)
    with pytest.raises(ValueError, match="negative"):
        DEFAULT.add_working_days(sh(2026, 9, 28, 10), -1)


# --- add_working_days --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        # Mon 09-28 10:00 + 3 wd: 09-29 (1), 09-30 (2), 10-08 (3) → Thu 10-08 10:00.
        (sh(2026, 9, 28, 10), 3, sh(2026, 10, 8, 10)),
        # + 7 wd: ..., 10-09 (4), Sat 10-10 调休 (5), 10-12 (6), 10-13 (7) → Tue 10-13 10:00.
        (sh(2026, 9, 28, 10), 7, sh(2026, 10, 13, 10)),
        # Outside office hours (Wed 09-30 20:00): counting starts Thu 10-08 09:00, + 1 wd → Fri 10-09 09:00.
        (sh(2026, 9, 30, 20), 1, sh(2026, 10, 9, 9)),
        # During lunch: counting starts at 13:30 the same day.
        (sh(2026, 9, 28, 12, 30), 1, sh(2026, 9, 29, 13, 30)),
        # Exactly at the end of the day (18:00 is outside [13:30, 18:00)): next morning, + 1 wd.
        (sh(2026, 9, 29, 18), 1, sh(2026, 10, 8, 9)),
        # Fri 09-18 15:00 + 1 wd is Sun 09-20 (调休), not Monday.
        (sh(2026, 9, 18, 15), 1, sh(2026, 9, 20, 15)),
        # 0 wd: the start aligned to business time.
        (sh(2026, 9, 26, 10), 0, sh(2026, 9, 28, 9)),
    ],
)
def test_add_working_days_examples(start, days, expected):
    assert DEFAULT.add_working_days(start, days) == expected


def test_always_calendar_working_days_are_calendar_days():
    assert ALWAYS.add_working_days(sh(2026, 10, 1, 3), 2) == sh(2026, 10, 3, 3)
    berlin_always = always_calendar("Europe/Berlin")
    # Sat 2026-03-28 12:00 CET + 1 day = Sun 12:00 CEST: only 23 real hours (clocks went forward).
    start = datetime(2026, 3, 28, 12, tzinfo=BERLIN)
    assert berlin_always.add_working_days(start, 1) == datetime(2026, 3, 29, 12, tzinfo=BERLIN)
    assert berlin_always.add_working_days(start, 1) - start == 23 * H


# --- between -----------------------------------------------------------------------------------


def test_between_examples():
    assert DEFAULT.between(sh(2026, 9, 30, 17), sh(2026, 10, 8, 12)) == 4 * H
    assert DEFAULT.between(sh(2026, 9, 28, 12), sh(2026, 9, 28, 13, 30)) == timedelta(0)   # lunch
    assert DEFAULT.between(sh(2026, 10, 1), sh(2026, 10, 8)) == timedelta(0)              # 国庆
    assert DEFAULT.between(sh(2026, 9, 28, 10), sh(2026, 9, 28, 9)) == timedelta(0)       # b < a
    # Mon 09-28 09:00 .. Tue 09-29 18:00 = 2 working days = 15h.
    a, b = sh(2026, 9, 28, 9), sh(2026, 9, 29, 18)
    assert DEFAULT.between(a, b) == 15 * H
    # Pauses Mon 10:00-14:00 and 13:00-15:00 overlap: merged 10:00-15:00 = 2h + 1.5h of business time.
    pauses = [(sh(2026, 9, 28, 10), sh(2026, 9, 28, 14)), (sh(2026, 9, 28, 13), sh(2026, 9, 28, 15))]
    assert DEFAULT.between(a, b, pauses) == 15 * H - 3.5 * H
    # An open pause (still waiting for the customer) since Tue 17:00 removes the last hour as well.
    assert DEFAULT.between(a, b, [*pauses, (sh(2026, 9, 29, 17), None)]) == 10.5 * H
    # A pause outside [a, b) changes nothing.
    assert DEFAULT.between(a, b, [(sh(2026, 9, 20), sh(2026, 9, 21))]) == 15 * H


def test_a_quarter_of_business_time():
    # Q4 2026 (Oct 1 .. Dec 31): 92 days - 26 weekend days - 5 国庆 weekdays (10-01,02,05,06,07)
    # + 1 调休 Saturday (10-10) = 62 working days = 465 business hours.
    assert DEFAULT.between(sh(2026, 10, 1), sh(2027, 1, 1)) == 62 * 7.5 * H


# --- DST ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cal", "zone", "day", "hours"),
    [
        (BERLIN_CAL, BERLIN, date(2026, 3, 29), 8),      # clocks go forward at 02:00
        (BERLIN_CAL, BERLIN, date(2026, 10, 25), 8),     # clocks go back at 03:00
        (NY_CAL, NEW_YORK, date(2026, 3, 8), 8),
        (NY_CAL, NEW_YORK, date(2026, 11, 1), 8),
    ],
)
def test_working_day_keeps_its_length_on_dst_transition_days(cal, zone, day, hours):
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    next_midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    assert cal.between(midnight, next_midnight) == hours * H
    (first_start, _), *_ = cal.working_periods(day)
    assert first_start == datetime.combine(day, datetime.min.time(), tzinfo=zone).replace(hour=9)


def test_add_across_dst_uses_wall_clock_periods():
    # Sat 2026-03-28 16:00 CET + 2h: 1h Saturday, then Sunday (CEST) 09:00 + 1h = 10:00 local = 08:00 UTC.
    result = BERLIN_CAL.add(datetime(2026, 3, 28, 16, tzinfo=BERLIN), 2 * H)
    assert result == datetime(2026, 3, 29, 10, tzinfo=BERLIN) == datetime(2026, 3, 29, 8, tzinfo=UTC)
    # Sat 2026-10-24 16:00 CEST + 2h: Sunday (CET) 10:00 local = 09:00 UTC.
    result = BERLIN_CAL.add(datetime(2026, 10, 24, 16, tzinfo=BERLIN), 2 * H)
    assert result == datetime(2026, 10, 25, 9, tzinfo=UTC)
    # Same clock time one working day later, across the transition.
    assert BERLIN_CAL.add_working_days(datetime(2026, 3, 28, 11, tzinfo=BERLIN), 1) == \
        datetime(2026, 3, 29, 11, tzinfo=BERLIN)


def test_a_period_spanning_the_transition_is_real_time():
    night = BusinessCalendar.of("night", zone="Europe/Berlin", periods=["00:00-24:00"], weekdays=ALL_DAYS,
                                public_holidays="none")
    day = date(2026, 3, 29)
    assert night.between(datetime(2026, 3, 29, tzinfo=BERLIN), datetime(2026, 3, 30, tzinfo=BERLIN)) == 23 * H
    assert night.working_periods(day)[0][1] == datetime(2026, 3, 30, tzinfo=BERLIN)


def _transition_days(zone: ZoneInfo, years: range) -> list[date]:
    """Days whose UTC offset changes between midnight and the next midnight."""
    out, day = [], date(years.start, 1, 1)
    while day.year < years.stop:
        a = datetime.combine(day, datetime.min.time(), tzinfo=zone)
        b = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
        if a.utcoffset() != b.utcoffset():
            out.append(day)
        day += timedelta(days=1)
    return out


BERLIN_TRANSITIONS = _transition_days(BERLIN, range(2024, 2031))


def test_transition_days_are_found():
    assert date(2026, 3, 29) in BERLIN_TRANSITIONS and date(2026, 10, 25) in BERLIN_TRANSITIONS
    assert len(BERLIN_TRANSITIONS) == 14


@FAST
@given(st.one_of(st.sampled_from(BERLIN_TRANSITIONS), st.dates(min_value=date(2024, 1, 1),
                                                                 max_value=date(2030, 12, 31))))
def test_property_every_berlin_day_is_eight_business_hours(day):
    nine = datetime.combine(day, datetime.min.time(), tzinfo=BERLIN).replace(hour=9)
    midnight = nine.replace(hour=0)
    assert BERLIN_CAL.between(midnight, midnight.replace(hour=23, minute=59) + M) == 8 * H
    assert BERLIN_CAL.add(nine, 8 * H) == nine.replace(hour=17)


# --- configuration errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("calendars:\n  default:\n    periods: ['13:00-12:00']\n",
         "calendars.yaml: calendars.default.periods[0]: '13:00-12:00': a period must start before it ends"),
        ("calendars:\n  default:\n    periods: ['9:00-12:00']\n",
         "calendars.default.periods[0]: expected a working period 'HH:MM-HH:MM'"),
        ("calendars:\n  default:\n    periods: ['09:00-25:00']\n",
         "calendars.default.periods[0]: '09:00-25:00': not a valid time of day"),
        ("calendars:\n  default:\n    periods: ['09:00-12:00', '11:30-13:00']\n",
         "calendars.default.periods: working periods '09:00-12:00' and '11:30-13:00' overlap"),
        ("calendars:\n  default:\n    periods: []\n", "calendars.default.periods: a business calendar needs"),
        ("calendars:\n  default:\n    zone: Mars/Olympus\n",
         "calendars.default.zone: unknown time zone 'Mars/Olympus'"),
        ("calendars:\n  default:\n    weekdays: [mon, funday]\n",
         "calendars.default.weekdays[1]: expected one of"),
        ("calendars:\n  default:\n    weekdays: [mon, mon]\n", "calendars.default.weekdays: a weekday is listed twice"),
        ("calendars:\n  default:\n    days_off: [2026-10-09]\n    extra_working_days: [2026-10-09]\n",
         "calendars.default: 2026-10-09 is listed both under days_off and extra_working_days"),
        ("calendars:\n  always:\n    kind: 24x7\n    periods: ['09:00-18:00']\n",
         "calendars.always: periods: not used by a 24x7 calendar"),
        ("calendars:\n  default:\n    kind: 7x24\n", "calendars.default.kind: expected one of"),
        ("calendars:\n  Default Office: {}\n", "calendars: calendar name 'Default Office': expected a lowercase"),
        ("calendars:\n  default:\n    holidays: china\n", "calendars.default.holidays: unknown key"),
        ("calendars: {}\n", "calendars: at least one calendar is needed"),
    ],
)
def test_invalid_calendars_file_is_explained(tmp_path, text, message):
    (tmp_path / "calendars.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_calendars(tmp_path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_period_may_end_at_midnight(tmp_path):
    (tmp_path / "calendars.yaml").write_text("calendars:\n  late:\n    periods: ['18:00-24:00']\n")
    late = load_calendars(tmp_path)["late"]
    assert late.add(sh(2026, 9, 28, 23), 2 * H) == sh(2026, 9, 29, 19)


# --- properties --------------------------------------------------------------------------------

# Starts in years chinese_calendar covers, anywhere in the day (seconds and microseconds included).
starts = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 11, 30), timezones=st.just(SH))
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=120))
business_cals = st.sampled_from([DEFAULT, DESK, BERLIN_CAL])


def _in_or_at_end_of_period(cal: BusinessCalendar, t: datetime) -> bool:
    day = t.astimezone(cal.zone).date()
    spans = cal.working_periods(day) + cal.working_periods(day - timedelta(days=1))
    return any(s <= t <= e for s, e in spans)


@FAST
@given(business_cals, starts, durations, durations)
def test_property_add_is_monotonic_in_duration(cal, start, d1, d2):
    lo, hi = sorted((d1, d2))
    assert cal.add(start, lo) <= cal.add(start, hi)


@FAST
@given(business_cals, starts, starts, durations)
def test_property_add_is_monotonic_in_start(cal, s1, s2, d):
    lo, hi = sorted((s1, s2))
    assert cal.add(lo, d) <= cal.add(hi, d)


@FAST
@given(business_cals, starts, durations, durations)
def test_property_add_is_additive(cal, start, a, b):
    # Precondition: none. The brief expected one (business-aligned starts), but with our conventions
    # (add(s, 0) == s; a used-up duration stops at the period end) the identity holds for any start.
    assert cal.add(cal.add(start, a), b) == cal.add(start, a + b)


@FAST
@given(business_cals, starts, durations)
def test_property_between_inverts_add(cal, start, d):
    end = cal.add(start, d)
    assert cal.between(start, end) == d
    if d:
        assert _in_or_at_end_of_period(cal, end)
        assert cal.is_working_day(end.astimezone(cal.zone).date()) or \
            cal.is_working_day(end.astimezone(cal.zone).date() - timedelta(days=1))


@FAST
@given(business_cals, starts, st.integers(min_value=0, max_value=20))
def test_property_working_days_are_whole_days_of_business_time(cal, start, n):
    # With the same periods every working day, N working days are N day-lengths of business time.
    result = cal.add_working_days(start, n)
    assert cal.between(start, result) == n * cal.day_length
    assert result.astimezone(cal.zone).date() == start.astimezone(cal.zone).date() or \
        cal.is_working_day(result.astimezone(cal.zone).date())


@FAST
@given(st.sampled_from([ALWAYS, always_calendar("Europe/Berlin")]), starts, starts, durations,
       st.lists(st.tuples(starts, starts), max_size=3))
def test_property_24x7_is_plain_arithmetic(cal, a, b, d, raw_pauses):
    assert cal.add(a, d) == a + d
    assert cal.add_working_days(a, 0) == a
    if a < b:
        pauses = [tuple(sorted(p)) for p in raw_pauses]
        expected = timedelta(0)
        t = a
        # plain set arithmetic: walk the sorted, clipped pauses
        for ps, pe in sorted((max(ps, a), min(pe, b)) for ps, pe in pauses):
            if pe > ps:
                expected += max(ps - t, timedelta(0))
                t = max(t, pe)
        expected += max(b - t, timedelta(0))
        assert cal.between(a, b, pauses) == expected
        assert cal.between(a, b) == b - a


def _reference_is_business(t: datetime) -> bool:
    """Independent oracle for the default calendar: chinese_calendar + the wall clock, minute by minute."""
    local = t.astimezone(SH)
    if not chinese_calendar.is_workday(local.date()):
        return False
    minute = local.hour * 60 + local.minute
    return 9 * 60 <= minute < 12 * 60 or 13 * 60 + 30 <= minute < 18 * 60


minute_starts = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 25),
                             timezones=st.just(SH)).map(lambda t: t.replace(second=0, microsecond=0))


@SLOW
@given(minute_starts, st.integers(min_value=0, max_value=4 * 24 * 60))
def test_property_between_never_counts_holidays_or_breaks(a, minutes):
    b = a + minutes * M
    expected = sum(1 for i in range(minutes) if _reference_is_business(a + i * M))
    assert DEFAULT.between(a, b) == expected * M


@SLOW
@given(minute_starts, st.integers(min_value=0, max_value=16 * 60))
def test_property_add_matches_minute_by_minute_reference(start, minutes):
    t, remaining = start, minutes
    while remaining:
        if _reference_is_business(t):
            remaining -= 1
        t += M
    assert DEFAULT.add(start, minutes * M) == t


@FAST
@given(st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 12, 31)),
       st.integers(min_value=0, max_value=24 * 60 - 1), st.integers(min_value=0, max_value=24 * 60))
def test_property_non_working_days_contribute_nothing(day, offset, length):
    assume(not chinese_calendar.is_workday(day))
    a = datetime.combine(day, datetime.min.time(), tzinfo=SH) + offset * M
    b = min(a + length * M, datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=SH))
    assert DEFAULT.between(a, b) == timedelta(0)
    lunch = datetime.combine(day, datetime.min.time(), tzinfo=SH).replace(hour=12)
    assert DEFAULT.between(lunch, lunch + 90 * M) == timedelta(0)

"""Business hours in SQL: each calendar's working periods around a report period, passed to the
queries as sorted arrays so the business time between two instants is two binary searches.

They agree with `BusinessCalendar.between` (tested); business time more than
`CALENDAR_LOOKBACK_DAYS` before the period is not counted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from feedback.reports.sections.periods import Period
from feedback.sla.calendar import BusinessCalendar, load_calendars

# Business time this far before the period start is not counted (arrays stay small: about
# 500 working periods a year per calendar).
CALENDAR_LOOKBACK_DAYS = 731


def _local_instant(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    naive = datetime.combine(day, time()) + timedelta(minutes=minutes)
    return naive.replace(tzinfo=zone).astimezone(UTC)


def calendar_spans(calendar: BusinessCalendar, first: date, last: date) -> dict[str, Any]:
    """One calendar's working periods on local days `first`..`last`, as report_sql expects them.

    `s`: period starts (epoch seconds, sorted), `l`: their lengths, `c`: business seconds in
    all earlier periods. A 24x7 calendar is `{"always": true}`. Built from the calendar's
    public attributes with the same wall-clock rules as `BusinessCalendar` (periods in the
    calendar's zone on each working day; a period inside a DST gap vanishes).
    """
    if calendar.always:
        return {"always": True}
    starts: list[float] = []
    lengths: list[float] = []
    before: list[float] = []
    total = 0.0
    day = first
    while day <= last:
        if calendar.is_working_day(day):
            for lo, hi in calendar.periods:
                s, e = _local_instant(day, lo, calendar.zone), _local_instant(day, hi, calendar.zone)
                if e > s:
                    starts.append(s.timestamp())
                    lengths.append((e - s).total_seconds())
                    before.append(total)
                    total += lengths[-1]
        day += timedelta(days=1)
    return {"s": starts, "l": lengths, "c": before}


def calendars_param(calendars: Mapping[str, Any], period: Period) -> str:
    """The `:calendars` parameter (jsonb text) for the business-hours queries of `period`."""
    first = period.start - timedelta(days=CALENDAR_LOOKBACK_DAYS)
    last = period.end + timedelta(days=1)
    return json.dumps({name: calendar_spans(cal, first, last) for name, cal in sorted(calendars.items())})


def configured_calendars() -> dict[str, Any]:
    return load_calendars()

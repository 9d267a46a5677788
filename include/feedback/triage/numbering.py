"""Feedback numbers: business date plus a daily serial, e.g. 20261122-001.

Operators quote these numbers to customers, so they must be unique, readable and
gap-free per day. The counter row for a day is incremented in the same
transaction that inserts the items: a rolled-back batch gives its serials back,
and two overlapping triage runs queue on the row lock instead of colliding.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, tzinfo

import sqlalchemy as sa

WIDTH = 3


def format_no(day: date, serial: int) -> str:
    """`20261122-001`; always eight date digits (strftime would not pad a year before 1000)."""
    return f"{day.year:04d}{day.month:02d}{day.day:02d}-{serial:0{WIDTH}d}"


def business_day(instant: datetime, zone: tzinfo) -> date:
    """The business date of an instant (our receipt time) in the calendar's zone.

    Never fails on an odd instant: a naive value is read as UTC, and one at the very edge of
    the representable range (year 1 or 9999, where converting the zone overflows) keeps its
    UTC date. Whether such a date is plausible is the intake's business, not numbering's.
    """
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    for target in (zone, UTC):
        try:
            return instant.astimezone(target).date()
        except (OverflowError, ValueError):
            continue
    return instant.date()


def allocate(conn: sa.Connection, days: Sequence[date]) -> list[str]:
    """One new number per entry of `days` (in order), within the caller's transaction.

    All the batch's days move in one statement, their counter rows locked in date order (as
    every run does, so two runs queue instead of deadlocking).
    """
    wanted = Counter(days)
    if not wanted:
        return []
    ordered = sorted(wanted)
    last: dict[date, int] = dict(
        conn.execute(
            sa.text(
                """INSERT INTO feedback.feedback_no_counter AS c (day, last_serial)
                   SELECT d, n FROM unnest(CAST(:d AS date[]), CAST(:n AS integer[])) WITH ORDINALITY AS u(d, n, o)
                   ORDER BY o
                   ON CONFLICT (day) DO UPDATE SET last_serial = c.last_serial + EXCLUDED.last_serial
                   RETURNING day, last_serial"""
            ),
            {"d": ordered, "n": [wanted[day] for day in ordered]},
        ).all()
    )
    next_serial = {day: last[day] - wanted[day] + 1 for day in wanted}
    numbers = []
    for day in days:
        numbers.append(format_no(day, next_serial[day]))
        next_serial[day] += 1
    return numbers

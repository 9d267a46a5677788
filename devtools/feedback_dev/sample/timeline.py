"""When feedback arrives: spread over one month, weighted to Shanghai office hours.

Every instant lies inside the month both in Shanghai time and in UTC, so a test or
report can use either reading of "the month" without edge effects.
"""

from __future__ import annotations

import calendar
import random
import re
from datetime import UTC, datetime, timedelta

from feedback_dev.sample.model import SHANGHAI

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
# Relative arrival rate per local hour: quiet nights, office-hour peaks, an evening tail.
_HOUR_WEIGHTS = (0.15, 0.1, 0.08, 0.05, 0.05, 0.08, 0.2, 0.5, 1.2, 2.6, 2.8, 2.5,
                 1.6, 1.8, 2.6, 2.7, 2.5, 2.0, 1.4, 1.2, 1.2, 1.0, 0.7, 0.4)
_WEEKEND_FACTOR = 0.45


def parse_month(month: str) -> tuple[int, int]:
    """Validate ``YYYY-MM`` and return (year, month); a clear ValueError otherwise."""
    match = _MONTH.match(month) if isinstance(month, str) else None
    if not match:
        raise ValueError(f"month must look like 2026-10, got {month!r}")
    return int(match.group(1)), int(match.group(2))


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The [start, end) of the month as UTC instants where it is the month in Shanghai and in UTC."""
    year, mon = parse_month(month)
    days = calendar.monthrange(year, mon)[1]
    local_start = datetime(year, mon, 1, tzinfo=SHANGHAI)
    start = max(local_start.astimezone(UTC), datetime(year, mon, 1, tzinfo=UTC))
    end = (datetime(year, mon, days, tzinfo=UTC) + timedelta(days=1))
    end = min(end, (local_start + timedelta(days=days)).astimezone(UTC))
    return start, end


def timestamps(rng: random.Random, month: str, count: int) -> list[datetime]:
    """``count`` arrival instants (UTC, second precision), sorted ascending."""
    year, mon = parse_month(month)
    start, end = month_bounds(month)
    days = calendar.monthrange(year, mon)[1]
    slots = [(d, h) for d in range(1, days + 1) for h in range(24)]
    weights = [
        _HOUR_WEIGHTS[h] * (_WEEKEND_FACTOR if calendar.weekday(year, mon, d) >= 5 else 1.0)
        for d, h in slots
    ]
    out: list[datetime] = []
    while len(out) < count:
        for d, h in rng.choices(slots, weights=weights, k=count - len(out)):
            sec = rng.randrange(3600)
            local = datetime(year, mon, d, h, sec // 60, sec % 60, tzinfo=SHANGHAI)
            instant = local.astimezone(UTC)
            if start <= instant < end:
                out.append(instant)
    out.sort()
    return out

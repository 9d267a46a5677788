"""Report periods: calendar months and Monday..Sunday weeks as whole local days of the business zone,
with the month before (环比) and a year before (同比) to compare with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from feedback.business_time import business_zone

_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


def _month_end(year: int, month: int) -> date:
    first_next = date(year + month // 12, month % 12 + 1, 1)
    return first_next - timedelta(days=1)


@dataclass(frozen=True)
class Period:
    """A report period: whole local days `start`..`end` (inclusive) in the business zone."""

    kind: str            # "monthly" | "weekly"
    start: date          # inclusive, in the business zone
    end: date            # inclusive
    zone: str = field(default_factory=lambda: business_zone().key)   # settings.yaml `timezone`

    def __post_init__(self) -> None:
        if self.kind not in ("monthly", "weekly"):
            raise ValueError(f"period kind must be 'monthly' or 'weekly', got {self.kind!r}")
        if self.end < self.start:
            raise ValueError(f"period ends ({self.end}) before it starts ({self.start})")
        ZoneInfo(self.zone)  # an unknown zone fails here, not in the middle of a report

    @classmethod
    def month(cls, ym: str, zone: str | None = None) -> Period:
        """The calendar month `"2026-10"` (in the business zone unless `zone` is given)."""
        match = _MONTH_RE.match(ym.strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise ValueError(f"expected a month as YYYY-MM such as '2026-10', got {ym!r}")
        year, month = int(match.group(1)), int(match.group(2))
        return cls("monthly", date(year, month, 1), _month_end(year, month), zone or business_zone().key)

    @classmethod
    def week_before(cls, day: date, zone: str | None = None) -> Period:
        """The Monday..Sunday week before the week of `day` (a datetime is taken in `zone`, default the business zone)."""
        zone = zone or business_zone().key
        if isinstance(day, datetime):
            day = day.astimezone(ZoneInfo(zone)).date() if day.tzinfo else day.date()
        monday = day - timedelta(days=day.weekday())
        start = monday - timedelta(days=7)
        return cls("weekly", start, start + timedelta(days=6), zone)

    def bounds(self) -> tuple[datetime, datetime]:
        """UTC instants [start 00:00 local, the day after end 00:00 local)."""
        tz = ZoneInfo(self.zone)
        lo = datetime.combine(self.start, time(), tzinfo=tz).astimezone(UTC)
        hi = datetime.combine(self.end + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
        return lo, hi

    def previous(self) -> Period:
        """The month before (monthly) or the week before (weekly): 环比."""
        if self.kind == "monthly":
            last = self.start - timedelta(days=1)
            return Period("monthly", last.replace(day=1), last, self.zone)
        return Period(self.kind, self.start - timedelta(days=7), self.end - timedelta(days=7), self.zone)

    def year_ago(self) -> Period:
        """The same month a year earlier (monthly) or the week 52 weeks earlier (weekly): 同比."""
        if self.kind == "monthly":
            year = self.start.year - 1
            return Period("monthly", date(year, self.start.month, 1), _month_end(year, self.start.month), self.zone)
        return Period(self.kind, self.start - timedelta(weeks=52), self.end - timedelta(weeks=52), self.zone)

    @property
    def name(self) -> str:
        """`2026-10` for a calendar month, `2026-10-12~2026-10-18` otherwise."""
        if self.kind == "monthly" and self.start.day == 1 and self.end == _month_end(self.start.year, self.start.month):
            return f"{self.start:%Y-%m}"
        return f"{self.start.isoformat()}~{self.end.isoformat()}"

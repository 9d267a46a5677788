"""Business calendars: which instants count as business time, and arithmetic on it.

Deadlines such as "respond within 4 hours" or "resolve within 7 working days"
only mean something on a company calendar (domain.md section 3): working periods
of the day (default 09:00–12:00 and 13:30–18:00 in the business time zone), a weekly
pattern (Mon–Fri), Chinese public holidays, the adjusted working days (调休, a
Saturday or Sunday that is a working day) and the company's own days off and
extra working days. Several calendars live side by side in
`include/config/calendars.yaml` (per team, per customer tier); a `24x7` calendar
makes every instant business time (urgent items, doc 001's 7×24 service).

Semantics, precisely:

- **Working day** (`is_working_day`), first rule that applies wins:
  1. listed in `extra_working_days` → working;
  2. listed in `days_off` → not working;
  3. `public_holidays: china` and chinese_calendar knows the year: a public holiday
     (the whole block, including a Saturday/Sunday inside it) → not working; an
     adjusted working day (调休) → working;
  4. the weekly pattern (`weekdays`).
  A year chinese_calendar does not ship (see `coverage`) falls back to rules 1, 2
  and 4 and logs one warning per calendar and year, never an exception.
- **Working periods** are wall-clock times in the calendar's zone, half-open
  `[start, end)`, `24:00` allowed as an end. Their instants are computed in the
  zone for each day, so a calendar in a zone with daylight saving keeps its
  09:00–17:00 on the transition day; business time is real elapsed time, so only a
  period that itself spans a transition is an hour shorter or longer.
- **add(start, duration)** walks forward from `start`, counting only time inside
  working periods, and returns the instant where `duration` is used up. When it is
  used up exactly at the end of a period the result is that end (e.g. 12:00, not
  13:30), so `add(s, 0) == s` and `add(add(s, a), b) == add(s, a + b)` for *every*
  start, and `between(s, add(s, d)) == d`.
- **add_working_days(start, n)**: let `s` be `start` if it lies inside a working
  period, otherwise the start of the next working period; the result is the same
  wall-clock time as `s` on the n-th working day after the day of `s` (n = 0 gives
  `s`). Friday 10:00 + 1 working day = Monday 10:00; Saturday 20:00 + 1 working day =
  Tuesday 09:00 (counting starts Monday 09:00). With identical periods every
  working day this is the same business instant as `add(s, n * day_length)`.
- **between(a, b, pauses)**: business time inside `[a, b)` that is not inside any
  pause (pauses may overlap each other; an open pause has end `None`). Zero when
  `b <= a`.
- A `24x7` calendar is plain arithmetic: `add` is `start + duration`, `between` is
  `b - a` minus pauses, and a working day is a calendar day (same clock time n days
  later in its zone).

All inputs must be timezone-aware (any zone); every returned datetime is in UTC.
Per-day working periods are computed once per calendar and day (functools.lru_cache),
and the arithmetic steps per period and skips whole days, never per minute.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, field_validator, model_validator

from feedback.business_time import business_zone
from feedback.configfile import Strict, known_zone, load_file, parse_model
from feedback.paths import config_dir

log = logging.getLogger(__name__)

CALENDARS_FILE = "calendars.yaml"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_PERIOD_RE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
# A calendar whose next working instant is further away than this is broken (e.g. every
# weekday listed under days_off); fail loudly instead of looping for ever.
_MAX_IDLE_DAYS = 3 * 366
_ZERO = timedelta(0)
_WORKWEEK: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")
_DAY = timedelta(days=1)


# --- configuration models --------------------------------------------------------------------


def parse_period(text: str) -> tuple[int, int]:
    """`"09:00-12:00"` → (540, 720) minutes after midnight; `24:00` is allowed as an end.

    Kept as minutes so a period can end at midnight (`24:00`) without a special time value.
    """
    match = _PERIOD_RE.match(text.replace(" ", ""))
    if not match:
        raise ValueError(f"expected a working period 'HH:MM-HH:MM' such as '09:00-12:00', got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"{text!r}: not a valid time of day (00:00 to 23:59; 24:00 only as an end)")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start >= end:
        raise ValueError(f"{text!r}: a period must start before it ends and cannot cross midnight "
                         "(split it at 24:00)")
    return start, end


def _check_period(text: str) -> str:
    parse_period(text)
    return text


Period = Annotated[str, AfterValidator(_check_period)]
Zone = Annotated[str, AfterValidator(known_zone)]

_BUSINESS_ONLY = ("periods", "weekdays", "public_holidays", "days_off", "extra_working_days")


class CalendarSpec(Strict):
    """One calendar of calendars.yaml; see the module docstring for the semantics."""

    kind: Literal["business", "24x7"] = "business"
    description: str = ""
    zone: Zone | None = None              # None: the business time zone (settings.yaml `timezone`)
    periods: list[Period] = Field(default_factory=lambda: ["09:00-12:00", "13:30-18:00"])
    weekdays: list[Weekday] = Field(default_factory=lambda: list(_WORKWEEK))
    public_holidays: Literal["china", "none"] = "china"
    days_off: list[date] = []
    extra_working_days: list[date] = []

    @field_validator("periods")
    @classmethod
    def _periods_disjoint(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("a business calendar needs at least one working period such as '09:00-18:00'")
        spans = sorted((parse_period(p), p) for p in value)
        for (prev, prev_text), (cur, cur_text) in zip(spans, spans[1:], strict=False):
            if cur[0] < prev[1]:
                raise ValueError(f"working periods {prev_text!r} and {cur_text!r} overlap")
        return value

    @field_validator("weekdays")
    @classmethod
    def _weekdays_unique(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one weekday is needed (e.g. [mon, tue, wed, thu, fri])")
        if len(set(value)) != len(value):
            raise ValueError(f"a weekday is listed twice in {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CalendarSpec:
        if self.kind == "24x7":
            given = [key for key in _BUSINESS_ONLY if key in self.model_fields_set]
            if given:
                raise ValueError(f"{given[0]}: not used by a 24x7 calendar (every instant is business time); "
                                 "remove it or use kind: business")
        both = sorted(set(self.days_off) & set(self.extra_working_days))
        if both:
            raise ValueError(f"{both[0].isoformat()} is listed both under days_off and extra_working_days")
        return self


class CalendarsFile(Strict):
    """calendars.yaml: named calendars."""

    calendars: dict[str, CalendarSpec]

    @field_validator("calendars")
    @classmethod
    def _names(cls, value: dict[str, CalendarSpec]) -> dict[str, CalendarSpec]:
        if not value:
            raise ValueError("at least one calendar is needed (ship `default`)")
        for name in value:
            if not _NAME_RE.match(name):
                raise ValueError(f"calendar name {name!r}: expected a lowercase name (letters, digits, _)")
        return value


# --- China public holidays -------------------------------------------------------------------


@functools.cache
def china_coverage() -> tuple[date, date]:
    """First and last date for which the installed chinese_calendar knows holidays and 调休.

    The package only ships the years whose arrangements the State Council has announced
    (chinese-calendar 1.11.0: 2004–2026); later years must fall back, visibly.
    """
    from chinese_calendar import constants

    years = [d.year for d in constants.holidays]
    return date(min(years), 1, 1), date(max(years), 12, 31)


def _china_day(day: date) -> bool | None:
    """True for an adjusted working day, False for a public holiday, None for an ordinary day.

    Raises NotImplementedError for a year the package does not ship.
    """
    import chinese_calendar

    is_holiday, name = chinese_calendar.get_holiday_detail(day)
    if name is None:
        return None
    return not is_holiday


_warned: set[tuple[str, int]] = set()


def _warn_uncovered(calendar: str, year: int) -> None:
    if (calendar, year) in _warned:
        return
    _warned.add((calendar, year))
    first, last = china_coverage()
    log.warning(
        "calendar %r: chinese_calendar has no public holidays or adjusted working days for %d "
        "(it covers %d-%d); using the weekly pattern plus days_off/extra_working_days for that year. "
        "Upgrade chinese-calendar or list the holidays under days_off in calendars.yaml.",
        calendar, year, first.year, last.year,
    )


# --- the calendar ------------------------------------------------------------------------------


def _utc(value: datetime, what: str = "datetime") -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{what}: expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what}: naive datetime {value.isoformat()}; pass a timezone-aware datetime "
                         "(times are stored in UTC)")
    return value.astimezone(UTC)


class _Day:
    """The working periods of one local day as UTC instants, and their total length."""

    __slots__ = ("periods", "total", "first", "last")

    def __init__(self, periods: tuple[tuple[datetime, datetime], ...]) -> None:
        self.periods = periods
        self.total = sum((e - s for s, e in periods), _ZERO)
        self.first = periods[0][0] if periods else None
        self.last = periods[-1][1] if periods else None


class BusinessCalendar:
    """A named business calendar built from a validated `CalendarSpec`.

    Build one per run (or use `load_calendars()`) and reuse it for every item: the
    per-day periods are cached on the instance.
    """

    def __init__(self, name: str, spec: CalendarSpec | None = None) -> None:
        spec = spec or CalendarSpec()
        self.name = name
        self.spec = spec
        self.kind = spec.kind
        self.zone = ZoneInfo(spec.zone) if spec.zone else business_zone()
        self.always = spec.kind == "24x7"
        self.periods: tuple[tuple[int, int], ...] = tuple(sorted(parse_period(p) for p in spec.periods))
        self.weekdays = frozenset(WEEKDAYS.index(w) for w in spec.weekdays)
        self.public_holidays = None if self.always or spec.public_holidays == "none" else spec.public_holidays
        self.days_off = frozenset(spec.days_off)
        self.extra_working_days = frozenset(spec.extra_working_days)
        # Per-instance caches: a calendar object lives for a run and serves thousands of items.
        self._day = functools.lru_cache(maxsize=8192)(self._compute_day)
        self._working = functools.lru_cache(maxsize=8192)(self._compute_working)

    @classmethod
    def of(cls, name: str, **fields: Any) -> BusinessCalendar:
        """Build a calendar from keyword fields (as in calendars.yaml), validated the same way."""
        return cls(name, parse_model(fields, CalendarSpec, f"calendar {name!r}"))

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.name!r}, kind={self.kind!r}, zone={self.zone.key!r})"

    # -- days --------------------------------------------------------------------------------

    @property
    def coverage(self) -> tuple[date, date] | None:
        """Dates for which the public-holiday source is known, or None if there is none.

        None means the calendar needs no external data (24x7, or `public_holidays: none`)
        and is complete for every date. Outside the range, days follow the weekly pattern.
        """
        return china_coverage() if self.public_holidays == "china" else None

    def covers(self, day: date) -> bool:
        """Whether working days on `day` are fully known (public holidays included)."""
        cov = self.coverage
        return cov is None or cov[0] <= day <= cov[1]

    @property
    def day_length(self) -> timedelta:
        """Nominal business time of one working day (sum of the periods; 24 h for 24x7).

        Used to express working days as business time (e.g. a VIP factor on "7wd").
        """
        if self.always:
            return _DAY
        return timedelta(minutes=sum(e - s for s, e in self.periods))

    def is_working_day(self, day: date) -> bool:
        """Whether `day` (a local date in the calendar's zone) has working periods.

        Callers with a datetime should pass `dt.astimezone(cal.zone).date()`.
        """
        if isinstance(day, datetime):
            day = _utc(day, "day").astimezone(self.zone).date()
        return self._working(day)

    def _compute_working(self, day: date) -> bool:
        if self.always or day in self.extra_working_days:
            return True
        if day in self.days_off:
            return False
        if self.public_holidays == "china":
            try:
                special = _china_day(day)
            except NotImplementedError:
                _warn_uncovered(self.name, day.year)
                special = None
            if special is not None:
                return special
        return day.weekday() in self.weekdays

    def _local(self, day: date, minutes: int) -> datetime:
        naive = datetime.combine(day, time()) + timedelta(minutes=minutes)
        return naive.replace(tzinfo=self.zone).astimezone(UTC)

    def _compute_day(self, day: date) -> _Day:
        if self.always:
            return _Day(((self._local(day, 0), self._local(day, 1440)),))
        if not self._working(day):
            return _Day(())
        spans = []
        for start, end in self.periods:
            s, e = self._local(day, start), self._local(day, end)
            if e > s:  # a period wholly inside a DST gap vanishes
                spans.append((s, e))
        return _Day(tuple(spans))

    def working_periods(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The working periods of local date `day` as UTC `[start, end)` pairs (empty if not working)."""
        return self._day(day).periods

    def _local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()

    # -- instants ----------------------------------------------------------------------------

    def is_business_time(self, instant: datetime) -> bool:
        """Whether `instant` lies inside a working period (start inclusive, end exclusive)."""
        t = _utc(instant, "instant")
        if self.always:
            return True
        return any(s <= t < e for s, e in self._day(self._local_date(t)).periods)

    def next_business_instant(self, instant: datetime) -> datetime:
        """`instant` itself if it is business time, else the start of the next working period."""
        t = _utc(instant, "instant")
        if self.always:
            return t
        day = self._local_date(t)
        for _ in range(_MAX_IDLE_DAYS):
            for s, e in self._day(day).periods:
                if e > t:
                    return max(s, t)
            day += _DAY
        raise self._idle_error(t)

    def _idle_error(self, t: datetime) -> ValueError:
        return ValueError(f"calendar {self.name!r} has no working time within {_MAX_IDLE_DAYS} days after "
                          f"{t.isoformat()}; check weekdays and days_off in calendars.yaml")

    # -- arithmetic --------------------------------------------------------------------------

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which `duration` of business time after `start` is used up (UTC).

        This is how a deadline in business hours is set: time outside working periods
        (nights, lunch, weekends, holidays) does not count. See the module docstring
        for the exact conventions (period ends, zero durations).
        """
        t = _utc(start, "start")
        if duration < _ZERO:
            raise ValueError(f"duration must not be negative, got {duration}")
        if self.always or not duration:
            return t + duration
        remaining = duration
        day = self._local_date(t)
        idle = 0
        while True:
            info = self._day(day)
            if not info.periods:
                idle += 1
                if idle > _MAX_IDLE_DAYS:
                    raise self._idle_error(t)
                day += _DAY
                continue
            idle = 0
            if info.first is not None and t <= info.first and remaining > info.total:  # the whole day is used: skip it
                remaining -= info.total
            elif info.last is not None and t < info.last:
                for s, e in info.periods:
                    if e <= t:
                        continue
                    s = max(s, t)
                    available = e - s
                    if remaining <= available:
                        return s + remaining
                    remaining -= available
            day += _DAY

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The same wall-clock time `days` working days later (UTC), counted from business time.

        This is how "within N working days" (工作日) is set. If `start` is outside
        working periods, counting starts at the next working period's start; `days=0`
        returns that instant. See the module docstring.
        """
        t = _utc(start, "start")
        if days < 0:
            raise ValueError(f"days must not be negative, got {days}")
        s = self.next_business_instant(t)
        local = s.astimezone(self.zone)
        day, clock = local.date(), local.time()
        counted = idle = 0
        while counted < days:
            day += _DAY
            if self._working(day):
                counted += 1
                idle = 0
            else:
                idle += 1
                if idle > _MAX_IDLE_DAYS:
                    raise self._idle_error(t)
        if day == local.date():
            return s
        return datetime.combine(day, clock, tzinfo=self.zone).astimezone(UTC)

    def between(
        self,
        a: datetime,
        b: datetime,
        pauses: Iterable[tuple[datetime, datetime | None]] = (),
    ) -> timedelta:
        """Business time inside `[a, b)` minus the pauses (zero if `b <= a`).

        This is how the SLA monitor measures elapsed handling time: pauses are the
        intervals an item waited for the customer; they may overlap (merged first)
        and an open pause has `None` as its end.
        """
        start, end = _utc(a, "a"), _utc(b, "b")
        if end <= start:
            return _ZERO
        total = _ZERO
        for x, y in _subtract(start, end, pauses):
            total += self._business(x, y)
        return total

    def _business(self, x: datetime, y: datetime) -> timedelta:
        if self.always:
            return y - x
        total = _ZERO
        day, last_day = self._local_date(x), self._local_date(y)
        while day <= last_day:
            info = self._day(day)
            if info.periods:
                if info.first is not None and info.last is not None and x <= info.first and info.last <= y:
                    total += info.total
                else:
                    for s, e in info.periods:
                        lo, hi = max(s, x), min(e, y)
                        if hi > lo:
                            total += hi - lo
            day += _DAY
        return total


def _subtract(
    start: datetime, end: datetime, pauses: Iterable[tuple[datetime, datetime | None]]
) -> list[tuple[datetime, datetime]]:
    """`[start, end)` minus the union of the pauses, as sorted disjoint intervals."""
    cut = []
    for i, (p, q) in enumerate(pauses):
        ps = _utc(p, f"pauses[{i}] start")
        pe = end if q is None else _utc(q, f"pauses[{i}] end")
        ps, pe = max(ps, start), min(pe, end)
        if pe > ps:
            cut.append((ps, pe))
    cut.sort()
    out, cursor = [], start
    for ps, pe in cut:
        if ps > cursor:
            out.append((cursor, ps))
        cursor = max(cursor, pe)
    if cursor < end:
        out.append((cursor, end))
    return out


# --- loading -----------------------------------------------------------------------------------


def load_calendars(directory: Path | None = None) -> dict[str, BusinessCalendar]:
    """All calendars of calendars.yaml, by name; a bad file is a one-line ConfigError.

    Load once per run and pass the dict around: each calendar caches its days.
    """
    spec = load_file((directory or config_dir()) / CALENDARS_FILE, CalendarsFile)
    return {name: BusinessCalendar(name, cal) for name, cal in spec.calendars.items()}


def always_calendar(zone: str = "UTC", name: str = "always") -> BusinessCalendar:
    """A 24x7 calendar without reading any file (tests, fallbacks)."""
    return BusinessCalendar(name, CalendarSpec(kind="24x7", zone=zone))


__all__ = [
    "BusinessCalendar", "CalendarSpec", "CalendarsFile", "always_calendar", "china_coverage",
    "load_calendars", "parse_period",
]

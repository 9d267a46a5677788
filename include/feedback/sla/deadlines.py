"""SLA deadlines: when each stage of an item is due, and the rows that store them with their warning instant.

`stage_deadlines` reads an item's priority and customer tier against an SLA policy
(`feedback.sla.policy`, sla_policies.yaml) and counts each stage's allowance on the
stage's business calendar from the start of the handling cycle. A customer tier's
factor scales the allowance (never below its `minimum`, never above the normal
allowance); working days scaled by a factor become business time: `n wd × f` =
`n × f × calendar.day_length`, the same business instant `add_working_days` gives
when `n × f` is whole.

Triage (first cycle) and the SLA monitor (a reopened item's next cycle, a
recompute) build the rows the same way, through `deadline_rows`. The warning
instant is computed here, once, on the stage's business calendar, so the monitor's
periodic check is a plain comparison of timestamps in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from feedback.sla.calendar import BusinessCalendar
from feedback.sla.policy import TIERS, Allowance, SlaPolicy, Tier, TierSpec

_TIER_ALIASES = {"vip": "vip", "normal": "normal", "普通": "normal", "": "normal"}

COLUMNS = ("feedback_id", "stage", "handling_cycle", "starts_at", "due_at", "allowance", "calendar", "rule",
           "warn_at")


@dataclass(frozen=True)
class Deadline:
    """When one SLA stage of an item is due.

    `allowance` is the business time allowed on `calendar` (for working days the
    nominal `n × day_length`), so `calendar.between(start, due_at) == allowance` and the
    SLA monitor can warn at `warning_share` of it; None is reserved for a stage without
    a measurable allowance (no shipped rule produces it). `rule` names the policy row,
    e.g. `A/urgent/first_response` or `A/high/resolution/vip x0.5`.
    """

    stage: str
    due_at: datetime
    allowance: timedelta | None
    calendar: str
    rule: str


def stage_deadlines(policy: SlaPolicy, priority: str, customer_tier: str | None, start: datetime,
                    calendars: dict[str, BusinessCalendar]) -> list[Deadline]:
    """The deadline of every stage, in stage order, for an item whose clock starts at `start`.

    Pass the item's received time (or its reopening), timezone-aware, never the clock, so
    a re-run gives the same deadlines. The earliest `due_at` is the item's next deadline.
    """
    cal_name = policy.calendar_for(priority)         # refuses an unknown priority
    tier = _tier(customer_tier)
    if cal_name not in calendars:
        policy.check_calendars(calendars)
    cal = calendars[cal_name]
    level = policy.level(priority)
    tier_spec = policy.spec.tiers.get(cast(Tier, tier))   # another tier just misses
    out = []
    for stage in policy.stages:
        rule = f"{policy.name}/{level}/{stage}"
        own = tier_spec.allowances.get(level, {}).get(stage) if tier_spec else None
        if own is not None:
            due, allowance = _apply(cal, start, own)
            rule += f"/{tier} table"
        else:
            base = policy.spec.allowances[level][stage]
            if tier_spec is None or tier_spec.factor == 1:
                due, allowance = _apply(cal, start, base)
            else:
                due, allowance, note = _scaled(cal, start, base, tier_spec)
                rule += f"/{tier} x{tier_spec.factor:g}{note}"
        out.append(Deadline(stage=stage, due_at=due, allowance=allowance, calendar=cal_name, rule=rule))
    return out


def _tier(value: str | None) -> str:
    tier = _TIER_ALIASES.get((value or "").strip().lower())
    if tier is None:
        raise ValueError(f"unknown customer tier {value!r} (expected one of {', '.join(TIERS)})")
    return tier


def _apply(cal: BusinessCalendar, start: datetime, allowance: Allowance) -> tuple[datetime, timedelta]:
    if allowance.working_days is not None:
        return cal.add_working_days(start, allowance.working_days), allowance.working_days * cal.day_length
    assert allowance.business is not None
    return cal.add(start, allowance.business), allowance.business


def _scaled(cal: BusinessCalendar, start: datetime, base: Allowance,
            tier: TierSpec) -> tuple[datetime, timedelta, str]:
    """Apply a tier factor: never below the tier's minimum, never above the normal allowance."""
    full = base.business if base.business is not None else (base.working_days or 0) * cal.day_length
    wanted = full * tier.factor
    note = ""
    floor = tier.minimum
    if floor is not None and floor.business is not None and floor.business > wanted:
        wanted = floor.business
        note = f" min {floor.text}"
    wanted = min(wanted, full)
    day = cal.day_length
    if base.working_days is not None and wanted % day == timedelta(0):
        return cal.add_working_days(start, wanted // day), wanted, note
    return cal.add(start, wanted), wanted, note


@dataclass(frozen=True)
class DeadlineRow:
    stage: str
    starts_at: datetime
    due_at: datetime
    allowance: timedelta | None
    calendar: str
    rule: str
    warn_at: datetime

    def values(self, feedback_id: int, cycle: int) -> tuple[object, ...]:
        return (feedback_id, self.stage, cycle, self.starts_at, self.due_at, self.allowance, self.calendar,
                self.rule, self.warn_at)


def warn_instant(calendar: BusinessCalendar, start: datetime, due: datetime, allowance: timedelta | None, share: float) -> datetime:
    """When `share` of the allowance is used, in business time; never after the deadline itself."""
    if not allowance:
        return due
    return min(calendar.add(start, allowance * share), due)


def deadline_rows(policy: SlaPolicy, calendars: dict[str, BusinessCalendar], priority: str, tier: str | None,
                  start: datetime) -> list[DeadlineRow]:
    """Every stage's deadline for an item whose clock starts at `start` (receipt, or a reopen)."""
    rows = []
    for d in stage_deadlines(policy, priority, tier, start, calendars):
        warn = warn_instant(calendars[d.calendar], start, d.due_at, d.allowance, policy.warning_share)
        rows.append(DeadlineRow(d.stage, start, d.due_at, d.allowance, d.calendar, d.rule, warn))
    return rows

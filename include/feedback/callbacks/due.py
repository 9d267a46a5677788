"""When a callback is due: the earliest applicable rule of callbacks.yaml, on a business calendar.

"Within 3 working days" only means something on the item's own calendar (the one its
SLA policy counts its priority on: office hours with China's holidays and 调休 for
most items, 24x7 for urgent ones); "within 24 h" for urgent items and VIP customers
is plain elapsed time when its rule names the `always` calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from feedback.callbacks.policy import CallbackPolicy, DueRule
from feedback.errors import ConfigError

if TYPE_CHECKING:
    from feedback.sla.calendar import BusinessCalendar
    from feedback.sla.monitor import SlaSetup


@dataclass(frozen=True)
class Due:
    at: datetime
    rule: str        # e.g. "default 3wd on default", for the event and the console


def _apply(rule: DueRule, calendar: BusinessCalendar, start: datetime) -> datetime:
    allowance = rule.within
    if allowance.working_days is not None:
        return calendar.add_working_days(start, allowance.working_days)
    assert allowance.business is not None
    return calendar.add(start, allowance.business)


def callback_due(resolved_at: datetime, priority: str, customer_tier: str | None, sla_preset: str | None,
                 policy: CallbackPolicy, setup: SlaSetup) -> Due:
    """The due time of a callback for a resolution at `resolved_at` (the earliest applicable rule).

    `setup` is the SLA monitor's `SlaSetup` (policies and calendars), so the item's
    calendar is exactly the one its deadlines were counted on.
    """
    item_calendar = setup.policy(sla_preset).calendar_for(priority)
    rules: list[tuple[str, DueRule]] = [("default", policy.due.default)]
    if priority == "urgent" and policy.due.urgent is not None:
        rules.append(("urgent", policy.due.urgent))
    if (customer_tier or "").lower() == "vip" and policy.due.vip is not None:
        rules.append(("vip", policy.due.vip))
    best: Due | None = None
    for name, rule in rules:
        cal_name = rule.calendar or item_calendar
        calendar = setup.calendars.get(cal_name)
        if calendar is None:
            raise ConfigError(f"callbacks.yaml: due.{name}: calendar {cal_name!r} is not defined in calendars.yaml")
        at = _apply(rule, calendar, resolved_at)
        if best is None or at < best.at:
            best = Due(at, f"{name} {rule.within.text} on {cal_name}")
    assert best is not None
    return best

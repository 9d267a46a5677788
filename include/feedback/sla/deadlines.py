"""Deadline rows for one item and handling cycle, with the instant its warning is due.

Triage (first cycle) and the SLA monitor (a reopened item's next cycle, a
recompute) build them the same way. The warning instant is computed here, once,
on the stage's business calendar, so the monitor's periodic check is a plain
comparison of timestamps in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

COLUMNS = ("feedback_id", "stage", "handling_cycle", "starts_at", "due_at", "allowance", "calendar", "rule",
           "warn_at")


@dataclass(frozen=True)
class DeadlineRow:
    stage: str
    starts_at: datetime
    due_at: datetime
    allowance: timedelta | None
    calendar: str
    rule: str
    warn_at: datetime

    def values(self, feedback_id: int, cycle: int) -> tuple:
        return (feedback_id, self.stage, cycle, self.starts_at, self.due_at, self.allowance, self.calendar,
                self.rule, self.warn_at)


def warn_instant(calendar: Any, start: datetime, due: datetime, allowance: timedelta | None, share: float) -> datetime:
    """When `share` of the allowance is used, in business time; never after the deadline itself."""
    if not allowance:
        return due
    return min(calendar.add(start, allowance * share), due)


def deadline_rows(policy: Any, calendars: dict[str, Any], priority: str, tier: str, start: datetime) -> list[DeadlineRow]:
    """Every stage's deadline for an item whose clock starts at `start` (receipt, or a reopen)."""
    rows = []
    for d in policy.deadlines(priority, tier, start, calendars):
        warn = warn_instant(calendars[d.calendar], start, d.due_at, d.allowance, policy.warning_share)
        rows.append(DeadlineRow(d.stage, start, d.due_at, d.allowance, d.calendar, d.rule, warn))
    return rows

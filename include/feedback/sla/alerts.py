"""From the monitor's alert rows to the notification digests (glue to `feedback.notify`).

Kept separate so the monitor runs without any notifier (tests, benchmarks) and the
notifier knows nothing about how breaches are detected.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def notifier(ladder: Any = None):
    """A callable for `run_monitor(notify=…)` that enqueues one digest per recipient in its transaction."""
    from feedback.notify.digest import AlertEntry
    from feedback.notify.escalation import load_ladder
    from feedback.notify.outbox import enqueue_alert_digests

    ladder = ladder or load_ladder()

    def notify(conn, run_time: datetime, alerts: list[Any]) -> int:
        return enqueue_alert_digests(conn, run_time, [AlertEntry.from_row(a) for a in alerts], ladder)

    notify.escalation_after = escalation_steps(ladder)
    return notify


def escalation_steps(ladder: Any) -> list:
    """How long a breach stays unmet before each escalation level, from the ladder."""
    steps = getattr(ladder, "escalation_after", None)
    if steps:
        return list(steps)
    after = getattr(ladder, "director_after", None)
    return [after] if after else []

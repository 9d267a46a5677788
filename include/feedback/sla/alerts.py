"""From the monitor's alert rows to the notification digests (glue to `feedback.notify`).

Kept separate so the monitor runs without any notifier (tests, benchmarks) and the
notifier knows nothing about how breaches are detected.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlalchemy as sa

    from feedback.db.rows import TextRow
    from feedback.notify.escalation import Ladder


class DigestNotifier:
    """The monitor's `Notifier` (feedback.sla.monitor): one digest per recipient, in the monitor's transaction.

    `escalation_after` tells the monitor how long a breach stays unmet before each escalation
    level, so the ladder in escalation.yaml is the one place those waits are set.
    """

    def __init__(self, ladder: Ladder) -> None:
        self.ladder = ladder
        self.escalation_after: tuple[timedelta, ...] = ladder.escalation_after

    def __call__(self, conn: sa.Connection, run_time: datetime, alerts: list[TextRow], /) -> int:
        from feedback.notify.digest import AlertEntry
        from feedback.notify.outbox import enqueue_alert_digests

        return enqueue_alert_digests(conn, run_time, [AlertEntry.from_row(a) for a in alerts], self.ladder)


def notifier(ladder: Ladder | None = None) -> DigestNotifier:
    """The notifier for `run_monitor(notify=…)`, on the configured escalation ladder unless one is given."""
    from feedback.notify.escalation import load_ladder

    return DigestNotifier(ladder or load_ladder())

"""Open items with the deadlines triage would write, for the SLA monitor's tests on a real register.

Shared by the tests of what a later run looks at (test_sla_incremental, test_sla_rescan), so the
items they build stay the same: an item on policy A, priority high, deadlines of handling cycle 1.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from feedback.sla import monitor
from feedback.sla.deadlines import COLUMNS, deadline_rows

T0 = datetime(2026, 10, 20, 2, 0, tzinfo=UTC)  # Tue 10:00 in Shanghai


@pytest.fixture(scope="module")
def setup() -> monitor.SlaSetup:
    """The shipped policies and calendars, loaded once per test module."""
    return monitor.load_setup()


def new_item(engine: sa.Engine, setup: monitor.SlaSetup, received: datetime, n: int) -> int:
    """An open item with the deadlines triage would write (policy A, high)."""
    with engine.begin() as conn:
        fid = conn.execute(sa.text(
            """INSERT INTO feedback.feedback (feedback_no, channel, source, received_at, registered_at, description,
                                              priority, status, sla_preset, customer_tier)
               VALUES (:no, 'webform', 'test', :t, :t, '(masked)', 'high', 'assigned', 'A', 'normal') RETURNING id"""),
            {"no": f"20261020-{n:07d}", "t": received}).scalar_one()
        for row in deadline_rows(setup.policy("A"), setup.calendars, "high", "normal", received):
            conn.execute(sa.text(f"INSERT INTO feedback.feedback_deadline ({', '.join(COLUMNS)}) "  # noqa: S608
                                 f"VALUES ({', '.join(':' + c for c in COLUMNS)})"),
                         dict(zip(COLUMNS, row.values(fid, 1), strict=True)))
    return int(fid)

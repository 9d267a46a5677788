"""The SLA monitor after its first run looks only at what changed (migration 021), and still misses nothing.

A later run reads the deadlines whose instants fell since the last run, those written or moved by
other transactions, those of items whose events it applied and those whose hold was released.
Each test makes a deadline cross in a way the time window alone would not see.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sla_items
import sqlalchemy as sa
from conftest import scalar
from sla_items import T0, new_item

from feedback.sla import monitor

# The shipped policies and calendars: the fixture the tests below take as `setup`.
setup = sla_items.setup


def breaches(engine, fid: int) -> list[str]:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT stage FROM feedback.sla_breach WHERE feedback_id = :f AND kind = 'breach' "
                                    "ORDER BY stage"), {"f": fid}).scalars().all()


def first_response_due(engine, fid: int) -> datetime:
    return scalar(engine, "SELECT due_at FROM feedback.feedback_deadline WHERE feedback_id = :f "
                          "AND stage = 'first_response'", f=fid)


def test_a_run_after_the_first_records_nothing_twice_and_only_what_crossed_since(register, setup):
    old = new_item(register, setup, T0 - timedelta(days=10), 1)
    fresh = new_item(register, setup, T0, 2)
    first = monitor.run_monitor(register, T0, setup)
    assert first.breaches == len(breaches(register, old)) >= 1 and breaches(register, fresh) == []
    assert monitor.run_monitor(register, T0, setup).breaches == 0  # the same instant again: nothing new
    due = first_response_due(register, fresh)
    assert monitor.run_monitor(register, due - timedelta(seconds=1), setup).breaches == 0
    later = monitor.run_monitor(register, due + timedelta(minutes=1), setup)
    assert later.breaches == 1 and breaches(register, fresh) == ["first_response"]
    assert len(breaches(register, old)) == first.breaches  # not recorded again


def test_an_item_written_late_whose_deadline_already_passed_is_flagged_by_the_next_run(register, setup):
    new_item(register, setup, T0 - timedelta(days=10), 1)
    monitor.run_monitor(register, T0, setup)
    monitor.run_monitor(register, T0 + timedelta(minutes=5), setup)
    # A mail received two days ago is triaged only now: its deadlines lie before the monitor's window.
    late = new_item(register, setup, T0 - timedelta(days=2), 2)
    assert first_response_due(register, late) < T0
    summary = monitor.run_monitor(register, T0 + timedelta(minutes=10), setup)
    assert "first_response" in breaches(register, late)
    assert summary.breaches == len(breaches(register, late))


def test_a_deadline_moved_earlier_by_another_transaction_is_flagged(register, setup):
    fid = new_item(register, setup, T0, 1)
    monitor.run_monitor(register, T0 + timedelta(minutes=5), setup)
    assert breaches(register, fid) == []
    # A recompute or reclassification (any writer) moves the deadline to before the last run.
    with register.begin() as conn:
        conn.execute(sa.text("UPDATE feedback.feedback_deadline SET due_at = :d, warn_at = :d "
                             "WHERE feedback_id = :f AND stage = 'first_response'"),
                     {"d": T0 + timedelta(minutes=1), "f": fid})
    assert monitor.run_monitor(register, T0 + timedelta(minutes=10), setup).breaches == 1
    assert breaches(register, fid) == ["first_response"]


def test_a_released_deadline_hold_is_looked_at_again(register, setup):
    from feedback.holds import list_held, release

    fid = new_item(register, setup, T0 - timedelta(days=10), 1)
    with register.begin() as conn:
        deadline = conn.execute(sa.text("SELECT id FROM feedback.feedback_deadline WHERE feedback_id = :f "
                                        "AND stage = 'first_response'"), {"f": fid}).scalar_one()
        conn.execute(sa.text(
            """INSERT INTO feedback.held_row (stage, table_name, row_ref, reason, detail, held_at)
               VALUES ('sla_monitor', 'feedback.feedback_deadline', :r, 'test', 'held by the test', :t)"""),
            {"r": str(deadline), "t": T0})
    monitor.run_monitor(register, T0, setup)
    assert "first_response" not in breaches(register, fid)
    monitor.run_monitor(register, T0 + timedelta(minutes=5), setup)
    [hold] = list_held(register, stage="sla_monitor")
    release(register, [hold.id], datetime.now(UTC))
    monitor.run_monitor(register, T0 + timedelta(minutes=10), setup)
    assert "first_response" in breaches(register, fid)


def test_the_monitor_state_records_how_far_it_looked(register, setup):
    monitor.run_monitor(register, T0, setup)
    with register.connect() as conn:
        state = conn.execute(sa.text("SELECT detected_upto, recheck_from_xid FROM feedback.sla_monitor_state")).one()
    assert state.detected_upto == T0 and state.recheck_from_xid is not None
    # A run at an older instant (a re-run of an earlier DAG run) does not move the window back.
    monitor.run_monitor(register, T0 - timedelta(hours=1), setup)
    assert scalar(register, "SELECT detected_upto FROM feedback.sla_monitor_state") == T0

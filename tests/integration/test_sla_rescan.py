"""What a run after the first looks at again, and how it records both kinds in one pass (issue 17).

A status event sends an item's deadlines back to detection only when it can make them count again:
out of closed or unsolvable, or into a new handling cycle. Warnings and breaches come from one
statement; the rows a run writes reach the register as array literals.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sla_items
import sqlalchemy as sa
from conftest import scalar
from sla_items import T0, new_item

from feedback.sla import monitor

# The shipped policies and calendars: the fixture the tests below take as `setup`.
setup = sla_items.setup


def status_event(engine, fid: int, to_status: str, at: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, "
                             "to_status) VALUES (:f, 'status_changed', :t, 'crm', :s)"),
                     {"f": fid, "t": at, "s": to_status})


def recorded(engine, fid: int) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT kind, stage FROM feedback.sla_breach WHERE feedback_id = :f ORDER BY id"), {"f": fid})]


def first_response(engine, fid: int) -> tuple[datetime, datetime]:
    with engine.connect() as conn:
        return tuple(conn.execute(sa.text("SELECT warn_at, due_at FROM feedback.feedback_deadline "
                                          "WHERE feedback_id = :f AND stage = 'first_response'"), {"f": fid}).one())


def test_an_item_taken_out_of_closed_is_watched_again(register, setup):
    fid = new_item(register, setup, T0, 1)
    monitor.run_monitor(register, T0, setup)
    status_event(register, fid, "closed", T0 + timedelta(minutes=1))
    monitor.run_monitor(register, T0 + timedelta(minutes=5), setup)
    _, due = first_response(register, fid)
    # Closed when its first response fell due: nothing recorded, and the window moves past the due time.
    assert monitor.run_monitor(register, due + timedelta(minutes=1), setup).breaches == 0
    assert recorded(register, fid) == []
    # Back in progress: the deadline counts again although no deadline row was written.
    status_event(register, fid, "in_progress", due + timedelta(minutes=2))
    summary = monitor.run_monitor(register, due + timedelta(minutes=5), setup)
    assert summary.breaches == 1 and recorded(register, fid) == [("breach", "first_response")]


def test_a_status_change_between_open_statuses_records_nothing_twice(register, setup):
    fid = new_item(register, setup, T0 - timedelta(days=10), 1)
    first = monitor.run_monitor(register, T0, setup)
    assert first.breaches == len(recorded(register, fid)) >= 1
    status_event(register, fid, "in_progress", T0 + timedelta(minutes=1))
    later = monitor.run_monitor(register, T0 + timedelta(minutes=5), setup)
    assert later.events == 1 and later.breaches == later.warnings == 0
    assert len(recorded(register, fid)) == first.breaches
    assert scalar(register, "SELECT status FROM feedback.feedback WHERE id = :f", f=fid) == "in_progress"


def test_a_warning_and_then_a_breach_from_the_same_statement(register, setup):
    fid = new_item(register, setup, T0, 1)
    monitor.run_monitor(register, T0, setup)
    warn, due = first_response(register, fid)
    between = monitor.run_monitor(register, warn + (due - warn) / 2, setup)
    assert (between.warnings, between.breaches) == (1, 0)
    assert between.by_stage == {"warning:first_response": 1}
    after = monitor.run_monitor(register, due + timedelta(minutes=1), setup)
    assert (after.warnings, after.breaches) == (0, 1)
    assert recorded(register, fid) == [("warning", "first_response"), ("breach", "first_response")]
    with register.connect() as conn:
        shares = dict(conn.execute(sa.text("SELECT kind, used_share FROM feedback.sla_breach WHERE feedback_id = :f"),
                                   {"f": fid}).all())
    assert 0.8 <= shares["warning"] < 1 <= shares["breach"]


def test_a_deadline_past_both_instants_in_one_window_is_recorded_once_as_a_breach(register, setup):
    fid = new_item(register, setup, T0, 1)
    monitor.run_monitor(register, T0, setup)
    _, due = first_response(register, fid)
    summary = monitor.run_monitor(register, due + timedelta(minutes=1), setup)
    assert (summary.warnings, summary.breaches) == (0, 1)
    assert recorded(register, fid) == [("breach", "first_response")]


def test_rows_reach_the_register_as_array_literals_unchanged(register):
    texts = [None, "", 'a "quoted" word', "back\\slash", "comma, {braces}", "NULL", "  spaced  ", "中文\ttab\nline"]
    times = [datetime(2026, 10, 20, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8))), None, T0]
    spans = [timedelta(days=2, seconds=5, microseconds=7), timedelta(0), timedelta(seconds=-5),
             timedelta(microseconds=-500_000)]
    ids = [1, 2**40, 7]
    with register.connect() as conn:
        got = conn.execute(sa.text(
            "SELECT CAST(:t AS text[]), CAST(:ts AS timestamptz[]), CAST(:i AS interval[]), CAST(:n AS bigint[]), "
            "CAST(:plain AS text[]), CAST(:empty AS bigint[])"),
            {"t": monitor._array(texts), "ts": monitor._array(times), "i": monitor._array(spans),
             "n": monitor._array(ids), "plain": monitor._array(["first_response", "resolution"]),
             "empty": monitor._array([])}).one()
    assert list(got) == [texts, times, spans, ids, ["first_response", "resolution"], []]


def test_a_first_run_over_a_register_vacuumed_while_empty_leaves_the_planner_as_it_found_it(register, setup):
    """A first run turns nested loops off for its own statement only (see `monitor._record`)."""
    fid = new_item(register, setup, T0 - timedelta(days=10), 1)
    with register.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE feedback.sla_breach")  # the planner now believes it empty
    with register.begin() as conn:
        warnings, breaches, _ = monitor.detect(conn, T0)
        assert conn.execute(sa.text("SELECT current_setting('enable_nestloop')")).scalar_one() == "on"
    assert breaches == len(recorded(register, fid)) >= 1 and warnings == 0

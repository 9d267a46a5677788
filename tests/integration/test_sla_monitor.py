"""The SLA monitor over real items, with the clock moved by time-machine (times in Asia/Shanghai).

Item: priority high (频繁闪退), preset A: first response within 4 business hours, warning at 80%,
office hours 09:00-12:00 and 13:30-18:00, China's public holidays and adjusted working days.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import time_machine
from conftest import scalar

from feedback.sla import monitor
from feedback.triage import run as triage

SH = ZoneInfo("Asia/Shanghai")
HIGH = "app频繁闪退，用不了几分钟就退出"


@pytest.fixture(scope="module")
def setup():
    return monitor.load_setup()


@pytest.fixture(scope="module")
def ctx():
    return triage.load_context(gate=False)


def item(engine, ctx, received: datetime, text: str = HIGH, n: int = 1) -> int:
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, content_sha256)"
                    " VALUES ('webform', 'contact_zh', :e, :t, CAST(:p AS jsonb), :h)"),
            {"e": f"wf-sla{n:06d}", "t": received, "p": json.dumps({"body": text}, ensure_ascii=False),
             "h": "0" * 64},
        )
    triage.triage_pending(engine, received, ctx)
    return scalar(engine, "SELECT id FROM feedback.feedback WHERE intake_id = "
                          "(SELECT id FROM feedback.intake WHERE external_id = :e)", e=f"wf-sla{n:06d}")


def event(engine, feedback_id: int, kind: str, at: datetime, to_status: str | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, to_status) "
                    "VALUES (:f, :k, :t, 'crm', :s)"),
            {"f": feedback_id, "k": kind, "t": at, "s": to_status},
        )


def run_at(engine, setup, local: datetime):
    """Travel to `local` and run the monitor at 'now', as the scheduled DAG would."""
    with time_machine.travel(local, tick=False):
        return monitor.run_monitor(engine, datetime.now(UTC), setup)


def recorded(engine, feedback_id: int) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.text("SELECT kind, stage FROM feedback.sla_breach WHERE feedback_id = :f ORDER BY id"),
            {"f": feedback_id})]


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


def test_a_working_day_with_a_lunch_break(register, ctx, setup):
    # Wed 2026-10-14 10:00: 2h before lunch + 2h after → due 15:30; 80% (3h12m) → warning at 14:42.
    fid = item(register, ctx, local(2026, 10, 14, 10, 0))
    due = scalar(register, "SELECT due_at FROM feedback.feedback_deadline WHERE feedback_id = :f "
                           "AND stage = 'first_response'", f=fid)
    assert due == local(2026, 10, 14, 15, 30)
    assert run_at(register, setup, local(2026, 10, 14, 14, 40)).warnings == 0
    assert run_at(register, setup, local(2026, 10, 14, 14, 45)).warnings == 1
    assert run_at(register, setup, local(2026, 10, 14, 15, 29)).breaches == 0
    assert run_at(register, setup, local(2026, 10, 14, 15, 31)).breaches == 1
    again = run_at(register, setup, local(2026, 10, 14, 15, 31))
    assert (again.warnings, again.breaches) == (0, 0)
    assert recorded(register, fid) == [("warning", "first_response"), ("breach", "first_response")]


def test_waiting_on_the_customer_pauses_the_clock(register, ctx, setup):
    fid = item(register, ctx, local(2026, 10, 14, 10, 0))
    event(register, fid, "status_changed", local(2026, 10, 14, 11, 0), "waiting_customer")
    run_at(register, setup, local(2026, 10, 14, 11, 5))
    assert scalar(register, "SELECT status FROM feedback.feedback WHERE id = :f", f=fid) == "waiting_customer"
    # Paused from 11:00 to 14:00: 1h before lunch + 30 min after it → the deadline moves 1h30 later.
    event(register, fid, "status_changed", local(2026, 10, 14, 14, 0), "in_progress")
    assert run_at(register, setup, local(2026, 10, 14, 15, 31)).breaches == 0
    due = scalar(register, "SELECT due_at FROM feedback.feedback_deadline WHERE feedback_id = :f "
                           "AND stage = 'first_response'", f=fid)
    assert due == local(2026, 10, 14, 17, 0)
    assert run_at(register, setup, local(2026, 10, 14, 17, 1)).breaches == 1
    paused = scalar(register, "SELECT paused_total FROM feedback.feedback_deadline WHERE feedback_id = :f "
                              "AND stage = 'first_response'", f=fid)
    assert paused == timedelta(hours=1, minutes=30)


def test_national_day_holiday_is_skipped(register, ctx, setup):
    # Wed 2026-09-30 17:00: 1h that day, then 国庆 1-7 Oct, then 3h on Thu 8 Oct → due 12:00.
    fid = item(register, ctx, local(2026, 9, 30, 17, 0))
    assert run_at(register, setup, local(2026, 10, 5, 12, 0)).breaches == 0
    assert run_at(register, setup, local(2026, 10, 8, 11, 59)).breaches == 0
    assert run_at(register, setup, local(2026, 10, 8, 12, 1)).breaches == 1
    assert recorded(register, fid)[-1] == ("breach", "first_response")


def test_an_adjusted_working_saturday_counts(register, ctx, setup):
    # Fri 2026-10-09 17:00: 1h that day; Sat 10 Oct is a working day (调休) → due Sat 12:00.
    item(register, ctx, local(2026, 10, 9, 17, 0))
    assert run_at(register, setup, local(2026, 10, 10, 11, 59)).breaches == 0
    assert run_at(register, setup, local(2026, 10, 10, 12, 1)).breaches == 1


def test_a_reply_meets_the_first_response_stage(register, ctx, setup):
    fid = item(register, ctx, local(2026, 10, 14, 10, 0))
    event(register, fid, "responded", local(2026, 10, 14, 11, 0))
    summary = run_at(register, setup, local(2026, 10, 14, 16, 0))
    assert summary.breaches == 0 and summary.events >= 1
    assert scalar(register, "SELECT next_deadline_stage FROM feedback.feedback WHERE id = :f", f=fid) == "resolution"


def test_breaches_escalate_once_after_the_configured_time(register, ctx, setup):
    fid = item(register, ctx, local(2026, 10, 14, 10, 0))
    run_at(register, setup, local(2026, 10, 14, 15, 31))
    assert run_at(register, setup, local(2026, 10, 14, 19, 0)).escalations == 0
    assert run_at(register, setup, local(2026, 10, 14, 19, 40)).escalations == 1
    assert run_at(register, setup, local(2026, 10, 14, 20, 0)).escalations == 0
    assert scalar(register, "SELECT count(*) FROM feedback.feedback_event WHERE feedback_id = :f "
                            "AND event_type = 'escalated'", f=fid) == 1


def test_a_reopened_item_gets_a_new_cycle_of_deadlines(register, ctx, setup):
    fid = item(register, ctx, local(2026, 10, 14, 10, 0))
    event(register, fid, "resolved", local(2026, 10, 14, 11, 0))
    run_at(register, setup, local(2026, 10, 14, 11, 30))
    assert scalar(register, "SELECT status FROM feedback.feedback WHERE id = :f", f=fid) == "resolved"
    event(register, fid, "reopened", local(2026, 10, 15, 9, 0))
    run_at(register, setup, local(2026, 10, 15, 9, 30))
    assert scalar(register, "SELECT handling_cycle FROM feedback.feedback WHERE id = :f", f=fid) == 2
    assert scalar(register, "SELECT count(*) FROM feedback.feedback_deadline WHERE feedback_id = :f "
                            "AND handling_cycle = 2", f=fid) == 2
    # Second cycle: 4 business hours from Thu 09:00 → 14:30.
    assert run_at(register, setup, local(2026, 10, 15, 14, 31)).breaches == 1


def test_events_dated_after_the_run_wait_for_a_later_run(register, ctx, setup):
    fid = item(register, ctx, local(2026, 10, 14, 10, 0))
    event(register, fid, "responded", local(2026, 10, 14, 16, 0))  # after the 15:30 deadline
    assert run_at(register, setup, local(2026, 10, 14, 15, 31)).breaches == 1
    assert run_at(register, setup, local(2026, 10, 14, 16, 5)).events >= 1
    assert scalar(register, "SELECT met_at FROM feedback.feedback_deadline WHERE feedback_id = :f "
                            "AND stage = 'first_response'", f=fid) == local(2026, 10, 14, 16, 0)


def test_closed_items_are_not_watched(register, ctx, setup):
    fid = item(register, ctx, local(2026, 10, 14, 10, 0))
    event(register, fid, "status_changed", local(2026, 10, 14, 10, 30), "closed")
    assert run_at(register, setup, local(2026, 10, 20, 10, 0)).breaches == 0


def test_recompute_follows_a_new_company_day_off(register, ctx, setup, tmp_path):
    import shutil

    from feedback.paths import config_dir
    from feedback.sla.calendar import load_calendars
    from feedback.sla.recompute import recompute_open_items

    fid = item(register, ctx, local(2026, 10, 14, 17, 0))  # 1h Wed, 3h Thu → due Thu 15 Oct 12:00
    assert scalar(register, "SELECT next_deadline_at FROM feedback.feedback WHERE id = :f", f=fid) \
        == local(2026, 10, 15, 12, 0)
    # The company declares Thursday 15 Oct a day off: the deadline moves to Friday 12:00.
    shutil.copy(config_dir() / "calendars.yaml", tmp_path / "calendars.yaml")
    text = (tmp_path / "calendars.yaml").read_text()
    assert "    days_off: []" in text
    text = text.replace("    days_off: []", "    days_off: [2026-10-15]", 1)
    (tmp_path / "calendars.yaml").write_text(text)
    changed = monitor.SlaSetup(setup.policies, setup.default, load_calendars(tmp_path))
    counts = recompute_open_items(register, changed, local(2026, 10, 14, 18, 0), reason="day off 2026-10-15")
    assert counts["items_changed"] == 1
    assert scalar(register, "SELECT next_deadline_at FROM feedback.feedback WHERE id = :f", f=fid) \
        == local(2026, 10, 16, 12, 0)
    assert scalar(register, "SELECT details->>'reason' FROM feedback.feedback_event WHERE feedback_id = :f "
                            "AND event_type = 'sla_recomputed'", f=fid) == "day off 2026-10-15"
    again = recompute_open_items(register, changed, local(2026, 10, 14, 18, 0))
    assert again["items_changed"] == 0


def test_pause_resume_and_pause_again_within_one_run(register, ctx, setup):
    fid = item(register, ctx, local(2026, 10, 14, 10, 0))
    event(register, fid, "status_changed", local(2026, 10, 14, 10, 30), "waiting_customer")
    event(register, fid, "status_changed", local(2026, 10, 14, 11, 0), "in_progress")
    event(register, fid, "status_changed", local(2026, 10, 14, 11, 30), "waiting_customer")
    run_at(register, setup, local(2026, 10, 14, 11, 45))
    with register.connect() as conn:
        row = conn.execute(sa.text("SELECT due_at, paused_at, paused_total FROM feedback.feedback_deadline "
                                   "WHERE feedback_id = :f AND stage = 'first_response'"), {"f": fid}).one()
    # The first pause lasted 30 business minutes (due 15:30 → 16:00); the second is still running.
    assert row.due_at == local(2026, 10, 14, 16, 0)
    assert row.paused_at == local(2026, 10, 14, 11, 30)
    assert row.paused_total == timedelta(minutes=30)
    assert run_at(register, setup, local(2026, 10, 16, 18, 0)).breaches == 0  # still waiting: no breach

"""Held rows: recorded with a reason, listed without values, released for the next run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from feedback import holds
from feedback.errors import FeedbackError

NOW = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)


def _intake(conn, external_id: str) -> int:
    return conn.execute(
        sa.text("""INSERT INTO feedback.intake (channel, source, external_id, received_at, payload, content_sha256)
                   VALUES ('webform', 'contact', :e, :t, '{}', repeat('0', 64)) RETURNING id"""),
        {"e": external_id, "t": NOW},
    ).scalar_one()


def test_isolate_holds_only_the_poison_row_and_commits_the_rest(register):
    with register.begin() as conn:
        conn.execute(sa.text("CREATE TABLE feedback.t_sink (v numeric(4, 1))"))

    def process(conn, values):
        for v in values:
            conn.execute(sa.text("INSERT INTO feedback.t_sink VALUES (:v)"), {"v": v})

    def on_poison(conn, value, error):
        reason, detail = holds.describe_error(error)
        holds.hold_row(conn, "sla_monitor", "feedback.t_sink", value, reason, detail, NOW)

    held = holds.isolate(register, [1, 2, 99999, 3], process, on_poison)
    assert held == 1
    with register.connect() as conn:
        assert sorted(conn.execute(sa.text("SELECT v FROM feedback.t_sink")).scalars()) == [1, 2, 3]
        assert holds.held_refs(conn, "sla_monitor", "feedback.t_sink") == ["99999"]
    [h] = holds.list_held(register, stage="sla_monitor")
    assert h.reason == "value_out_of_range"
    assert "99999" not in h.detail          # the statement's parameters never reach the detail

    # Held twice: counted, not duplicated; released: gone from the list and from the skip set.
    with register.begin() as conn:
        holds.hold_row(conn, "sla_monitor", "feedback.t_sink", 99999, h.reason, h.detail, NOW)
    [h] = holds.list_held(register, stage="sla_monitor")
    assert h.hold_count == 2
    assert holds.release(register, [h.id], NOW) == 1
    assert holds.list_held(register) == []
    with register.connect() as conn:
        assert holds.held_refs(conn, "sla_monitor", "feedback.t_sink") == []


def test_held_intake_rows_are_listed_and_released_back_to_new(register):
    with register.begin() as conn:
        good, bad = _intake(conn, "a"), _intake(conn, "b")
        holds.hold_intake(conn, bad, "leak_gate", "feedback.description: phone", NOW)
    [h] = holds.list_held(register)
    assert (h.id, h.stage, h.reason) == (f"intake:{bad}", "triage", "leak_gate")
    assert holds.release(register, [h.id], NOW) == 1
    with register.connect() as conn:
        status = dict(conn.execute(sa.text("SELECT id, status FROM feedback.intake")).all())
    assert status == {good: "new", bad: "new"}


def test_release_rejects_ids_that_are_not_hold_ids(register):
    with pytest.raises(FeedbackError, match="intake:<n> or held:<n>"):
        holds.release(register, ["42"], NOW)


def test_used_share_has_no_upper_bound(register):
    with register.begin() as conn:
        assert conn.execute(sa.text("SELECT CAST(1234567.891 AS numeric)")).scalar() > 1000
        typ = conn.execute(sa.text(
            """SELECT numeric_precision FROM information_schema.columns
               WHERE table_schema = 'feedback' AND table_name = 'sla_breach' AND column_name = 'used_share'"""
        )).scalar()
    assert typ is None

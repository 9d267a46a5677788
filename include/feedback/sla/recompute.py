"""Recomputing open items' deadlines after a calendar or policy change.

Holidays get announced, policies get revised each quarter (流程迭代): the open
items must follow. Deadlines already met, breached or paused keep their history;
every other stage of the current handling cycle is recomputed from the cycle's
start, and each item that changed gets an `sla_recomputed` event saying when and why.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from feedback.db.rows import TextRow
from feedback.sla.deadlines import deadline_rows
from feedback.sla.monitor import BREACHED, SlaSetup, _refresh_next_deadline

BATCH = 5_000
# An item's open deadlines and what they are derived from: the current cycle's start, priority, tier and preset.
ITEM_BASIS = """SELECT f.id, f.priority, f.customer_tier, f.sla_preset, f.handling_cycle, min(d.starts_at) AS starts_at
                FROM feedback.feedback f JOIN feedback.feedback_deadline d
                  ON d.feedback_id = f.id AND d.handling_cycle = f.handling_cycle"""


def rederive_open_deadlines(conn: sa.Connection, setup: SlaSetup, item: TextRow) -> int:
    """The rule for "recompute": unmet, unbreached, unpaused stages of the current cycle take the policy's deadlines.

    Met, breached and paused deadlines keep their history. Shared by the configuration-change
    recompute and a supervisor's priority correction, so both move the same deadlines.
    `item` has the columns of ITEM_BASIS; returns how many deadlines changed.
    """
    fresh = {r.stage: r for r in deadline_rows(setup.policy(item.sla_preset), setup.calendars, item.priority,
                                                  item.customer_tier, item.starts_at)}
    current = conn.execute(
        sa.text("SELECT d.id, d.stage, d.due_at, d.warn_at FROM feedback.feedback_deadline d "  # noqa: S608
                "WHERE d.feedback_id = :f AND d.handling_cycle = :c AND d.met_at IS NULL "
                "AND d.paused_at IS NULL AND NOT " + BREACHED),
        {"f": item.id, "c": item.handling_cycle},
    ).all()
    changed = 0
    for row in current:
        new = fresh.get(row.stage)
        if new is None or (new.due_at == row.due_at and new.warn_at == row.warn_at):
            continue
        conn.execute(
            sa.text("UPDATE feedback.feedback_deadline SET due_at = :d, warn_at = :w, allowance = :a, "
                    "calendar = :c, rule = :r WHERE id = :i"),
            {"d": new.due_at, "w": new.warn_at, "a": new.allowance, "c": new.calendar, "r": new.rule, "i": row.id},
        )
        changed += 1
    return changed


def recompute_open_items(engine: Engine, setup: SlaSetup, at: datetime, reason: str = "configuration changed",
                         progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Recompute unmet, unbreached, unpaused deadlines of open items; returns counts."""
    counts = {"items": 0, "deadlines_changed": 0, "items_changed": 0}
    last_id = 0
    while True:
        with engine.begin() as conn:
            items = conn.execute(
                sa.text(ITEM_BASIS + """ WHERE f.id > :last AND f.status NOT IN ('closed', 'unsolvable')
                       GROUP BY f.id ORDER BY f.id LIMIT :n"""),  # noqa: S608 - constant text
                {"last": last_id, "n": BATCH},
            ).all()
            if not items:
                break
            changed_items = set()
            for item in items:
                changed = rederive_open_deadlines(conn, setup, item)
                if changed:
                    counts["deadlines_changed"] += changed
                    changed_items.add(item.id)
            for feedback_id in changed_items:
                conn.execute(
                    sa.text("INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, details,"
                            " dedup_key) VALUES (:f, 'sla_recomputed', :t, 'sla_recompute', CAST(:d AS jsonb), :k)"
                            " ON CONFLICT (dedup_key) DO NOTHING"),
                    {"f": feedback_id, "t": at, "d": json.dumps({"reason": reason}, ensure_ascii=False),
                     "k": f"sla_recomputed:{feedback_id}:{at.isoformat()}"},
                )
            if changed_items:
                _refresh_next_deadline(conn, changed_items)
            counts["items"] += len(items)
            counts["items_changed"] += len(changed_items)
            last_id = items[-1].id
        if progress:
            progress(f"recompute: {counts['items']} open items checked, {counts['items_changed']} changed")
    return counts


def describe(counts: dict[str, Any]) -> str:
    return (f"{counts['items']} open item(s) checked, {counts['items_changed']} changed "
            f"({counts['deadlines_changed']} deadline(s))")

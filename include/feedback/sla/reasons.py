"""Overdue reasons (超时原因): why an item went past a deadline, from the event to the breach and the report.

Whoever knows the cause records it as an `overdue_reason` event (`feedback_event.reason`, a
code of sla_policies.yaml `overdue_reasons`, plus optional free text in `reason_text`): a
supervisor in the console, the CRM through `POST /feedback/api/events` or by SQL. The events
table stays append-only, so a changed mind is a new event. One rule decides what a breach
shows, whichever way and in whatever order the events arrive:

    a breach carries the latest overdue_reason event of its item and handling cycle
    (latest by occurred_at, then by event id), whether that event came before or after it.

The SLA monitor applies the events it reads in order (`apply`, set-based through a staged
table); breaches it records later pick up the latest reason already given for their cycle
(`apply_to_new_breaches`). Each write compares (occurred_at, event id) with what the breach
already carries, so re-applying or applying out of order never puts an older reason back.
An event may pin its cycle with `details.handling_cycle` (the console does: the supervisor
chose a breach of that cycle); otherwise it belongs to the item's cycle when it is applied.
A code that is not (or no longer) configured counts as `other`; free text is masked as
triage masks descriptions before it reaches a breach, whoever wrote the event.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING

import sqlalchemy as sa

from feedback.db.bulk import copy_into
from feedback.sla.policy import OTHER_REASON, OverdueReason

if TYPE_CHECKING:
    from feedback.privacy.masking import Masker

log = logging.getLogger(__name__)

EVENT_TYPE = "overdue_reason"
MAX_TEXT = 2000   # as feedback_event_reason_chk allows


@dataclass(frozen=True)
class ReasonEvent:
    """One overdue_reason event as applied to the breaches of (feedback_id, handling_cycle)."""

    feedback_id: int
    handling_cycle: int
    event_id: int
    occurred_at: datetime
    actor: str | None
    reason: str
    reason_text: str | None


class UnknownReason(ValueError):
    """A reason code that sla_policies.yaml does not list (the message names the code, which is never personal)."""


@lru_cache(maxsize=1)
def _masker() -> Masker:
    from feedback.privacy.masking import Masker, load_mask_config

    return Masker(load_mask_config())


def mask_reason_text(text: str | None) -> str | None:
    """Free text as it may be stored: trimmed, at most MAX_TEXT characters, phone numbers and addresses masked."""
    if text is None:
        return None
    text = text.strip()[:MAX_TEXT]
    return _masker().mask(text).text[:MAX_TEXT] if text else None


def known_code(code: str | None, codes: Collection[str]) -> str:
    """The code as counted: itself when configured, else `other` (a code removed from the list stays countable)."""
    return code if code is not None and code in codes else OTHER_REASON


def labels(reasons: Iterable[OverdueReason], lang: str) -> dict[str, str]:
    """Code -> name in `lang` ("zh" or "en"), in configured order."""
    return {r.code: (r.zh if lang == "zh" else r.en) for r in reasons}


def event_cycle(details: object, current: int) -> int:
    """The handling cycle an event belongs to: its pinned `details.handling_cycle`, else the item's current one."""
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except ValueError:
            details = None
    pinned = details.get("handling_cycle") if isinstance(details, dict) else None
    if isinstance(pinned, int) and not isinstance(pinned, bool) and pinned >= 1:
        return pinned
    if isinstance(pinned, str) and pinned.isascii() and pinned.isdigit() and 1 <= int(pinned) <= 1_000_000:
        return int(pinned)
    return current


# --- onto the breaches ----------------------------------------------------------------------------

_STAGED = "sla_reason"
_APPLY = """
UPDATE feedback.sla_breach b
SET reason = r.reason, reason_text = r.reason_text, reason_at = r.occurred_at, reason_by = r.actor,
    reason_event_id = r.event_id
FROM (SELECT DISTINCT ON (feedback_id, handling_cycle) *
      FROM sla_reason ORDER BY feedback_id, handling_cycle, occurred_at DESC, event_id DESC) r
WHERE b.feedback_id = r.feedback_id AND b.handling_cycle = r.handling_cycle AND b.kind = 'breach'
  AND (b.reason_at IS NULL OR (r.occurred_at, r.event_id) > (b.reason_at, coalesce(b.reason_event_id, 0)))
"""


def apply(conn: sa.Connection, events: Sequence[ReasonEvent], codes: Collection[str]) -> int:
    """Set the reason of the breaches the events belong to, latest event winning; returns the breaches changed.

    One staged table and one UPDATE, whatever the number of events; unknown codes count as
    `other` and free text is masked here, so a row written by hand cannot carry a raw number.
    """
    if not events:
        return 0
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {_STAGED} (feedback_id bigint, handling_cycle int, event_id bigint, "
        "occurred_at timestamptz, actor text, reason text, reason_text text) ON COMMIT DROP"
    )
    conn.exec_driver_sql(f"TRUNCATE {_STAGED}")
    copy_into(conn, _STAGED, ["feedback_id", "handling_cycle", "event_id", "occurred_at", "actor", "reason",
                              "reason_text"],
              [(e.feedback_id, e.handling_cycle, e.event_id, e.occurred_at, e.actor, known_code(e.reason, codes),
                mask_reason_text(e.reason_text)) for e in events])
    return conn.exec_driver_sql(_APPLY).rowcount


# The latest reason already given (and already read by the monitor: id up to its cursor, not set
# aside for a held item) for each (item, cycle) that has a new breach without one. The cycle began
# when its first deadline started; a pinned event counts for its own cycle only.
_LATEST_FOR_NEW = """
SELECT DISTINCT ON (n.feedback_id, n.handling_cycle)
       n.feedback_id, n.handling_cycle, e.id, e.occurred_at, e.actor, e.reason, e.reason_text
FROM (SELECT DISTINCT b.feedback_id, b.handling_cycle FROM feedback.sla_breach b
      WHERE b.detected_at = :now AND b.kind = 'breach' AND b.reason IS NULL
        AND EXISTS (SELECT 1 FROM feedback.feedback_event r
                    WHERE r.feedback_id = b.feedback_id AND r.event_type = 'overdue_reason')) n
JOIN LATERAL (SELECT min(d.starts_at) AS began FROM feedback.feedback_deadline d
              WHERE d.feedback_id = n.feedback_id AND d.handling_cycle = n.handling_cycle) c ON true
JOIN feedback.feedback_event e
  ON e.feedback_id = n.feedback_id AND e.event_type = 'overdue_reason' AND e.occurred_at <= :now
 AND e.occurred_at >= coalesce(c.began, '-infinity') AND e.id <= :cursor
 AND coalesce(e.details->>'handling_cycle', n.handling_cycle::text) = n.handling_cycle::text
WHERE NOT EXISTS (SELECT 1 FROM feedback.sla_deferred_event s WHERE s.event_id = e.id)
ORDER BY n.feedback_id, n.handling_cycle, e.occurred_at DESC, e.id DESC
"""


def apply_to_new_breaches(conn: sa.Connection, run_time: datetime, codes: Collection[str]) -> int:
    """Breaches recorded at `run_time` take the latest reason their cycle already has; returns those changed."""
    cursor = conn.execute(sa.text("SELECT last_event_id FROM feedback.sla_monitor_state")).scalar_one()
    rows = conn.execute(sa.text(_LATEST_FOR_NEW), {"now": run_time, "cursor": cursor}).all()
    return apply(conn, [ReasonEvent(r.feedback_id, r.handling_cycle, r.id, r.occurred_at, r.actor, r.reason,
                                    r.reason_text) for r in rows], codes)


# --- recording one (the console) ------------------------------------------------------------------


def record(conn: sa.Connection, feedback_id: int, handling_cycle: int, reason: str, reason_text: str | None,
           actor: str, at: datetime, codes: Collection[str]) -> int:
    """Write an overdue_reason event pinned to `handling_cycle` and apply it at once; returns the breaches changed.

    The supervisor sees the result immediately; the monitor reads the same event later and,
    finding it already applied (or a later one), changes nothing.
    """
    if reason not in codes:
        raise UnknownReason(f"unknown overdue reason {reason!r} (known: {', '.join(codes)})")
    text = mask_reason_text(reason_text)
    event_id = conn.execute(
        sa.text("""INSERT INTO feedback.feedback_event (feedback_id, event_type, occurred_at, actor, details,
                                                        reason, reason_text, dedup_key)
                   VALUES (:f, 'overdue_reason', :t, :a, CAST(:d AS jsonb), :r, :x, :k)
                   ON CONFLICT (dedup_key) DO NOTHING RETURNING id"""),
        {"f": feedback_id, "t": at, "a": actor, "d": json.dumps({"handling_cycle": handling_cycle}), "r": reason,
         "x": text, "k": f"console:overdue_reason:{feedback_id}:{handling_cycle}:{actor}:{at.isoformat()}"},
    ).scalar()
    if event_id is None:   # the same post twice in the same instant: already recorded
        return 0
    return apply(conn, [ReasonEvent(feedback_id, handling_cycle, event_id, at, actor, reason, text)], codes)


# --- what is still missing (the console's list) ---------------------------------------------------


@dataclass(frozen=True)
class Missing:
    """An item's breaches of one handling cycle that nobody has given a reason for yet (masked fields only)."""

    feedback_id: int
    feedback_no: str
    subject: str | None
    priority: str | None
    department: str | None
    status: str | None
    handling_cycle: int
    stages: tuple[str, ...]
    first_deadline: datetime
    last_reason: str | None      # the item's most recent reason elsewhere, offered first


_MISSING = """
SELECT b.feedback_id, f.feedback_no, f.subject, f.priority, f.department, f.status, b.handling_cycle,
       array_agg(b.stage ORDER BY b.deadline_at, b.stage) AS stages, min(b.deadline_at) AS first_deadline,
       (SELECT o.reason FROM feedback.sla_breach o WHERE o.feedback_id = b.feedback_id AND o.reason IS NOT NULL
        ORDER BY o.reason_at DESC NULLS LAST, o.id DESC LIMIT 1) AS last_reason
FROM feedback.sla_breach b JOIN feedback.v_feedback f ON f.id = b.feedback_id
WHERE b.kind = 'breach' AND b.reason IS NULL AND (CAST(:department AS text) IS NULL OR f.department = :department)
GROUP BY b.feedback_id, f.feedback_no, f.subject, f.priority, f.department, f.status, b.handling_cycle
ORDER BY min(b.deadline_at) DESC, b.feedback_id, b.handling_cycle
LIMIT :n
"""
_MISSING_TOTAL = """
SELECT count(DISTINCT (b.feedback_id, b.handling_cycle))
FROM feedback.sla_breach b JOIN feedback.feedback f ON f.id = b.feedback_id
WHERE b.kind = 'breach' AND b.reason IS NULL AND (CAST(:department AS text) IS NULL OR f.department = :department)
"""


def missing(engine: sa.Engine, *, department: str | None = None, limit: int = 200) -> tuple[list[Missing], int]:
    """(The latest-deadline-first items whose breaches lack a reason, at most `limit`; how many there are in all)."""
    params = {"department": department, "n": limit}
    with engine.connect() as conn:
        rows = conn.execute(sa.text(_MISSING), params).all()
        total = conn.execute(sa.text(_MISSING_TOTAL), params).scalar_one()
    return [Missing(r.feedback_id, r.feedback_no, r.subject, r.priority, r.department, r.status, r.handling_cycle,
                    tuple(r.stages), r.first_deadline, r.last_reason) for r in rows], int(total)

"""What the callback console shows: an agent's queue, and the items near or past their deadlines.

Read models only, built from masked columns (feedback number, masked subject,
priority, department, due times): a screen built on these cannot show a contact,
because it never receives one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from feedback.callbacks.tasks import SELECT_TASK, ClaimedTask, to_task


def agent_queue(engine: Engine, agent: str, now: datetime, limit: int = 50) -> list[ClaimedTask]:
    """The agent's view: claims they hold, then pending tasks assigned to them, then unassigned ones.

    Due first within each group. Tasks not workable yet (`not_before` in the future:
    a survey's grace period, a retry after an unanswered call) are listed with it.
    """
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(SELECT_TASK + """
                WHERE (t.status = 'claimed' AND t.claimed_by = :a AND t.claim_expires_at > :now)
                   OR (t.status = 'pending' AND (t.assigned_to = :a OR t.assigned_to IS NULL))
                ORDER BY CASE WHEN t.status = 'claimed' THEN 0 WHEN t.assigned_to = :a THEN 1 ELSE 2 END,
                         t.due_at, t.id
                LIMIT :n"""),
            {"a": agent, "now": now, "n": limit},
        ).all()
    return [to_task(r) for r in rows]


@dataclass(frozen=True)
class BoardEntry:
    kind: str                        # deadline (an SLA stage of an open item) or callback (a callback task)
    feedback_id: int
    feedback_no: str
    subject: str | None              # masked
    priority: str
    department: str | None
    status: str                      # the item's status (deadline) or the task's status (callback)
    handling_cycle: int
    stage: str                       # the SLA stage, or "callback"
    due_at: datetime
    overdue: bool
    minutes_left: int                # negative when overdue
    task_id: int | None = None
    assigned_to: str | None = None
    claimed_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


BOARD = """
SELECT 'deadline' AS kind, f.id AS feedback_id, f.feedback_no, f.subject, f.priority, f.department, f.status,
       f.handling_cycle, coalesce(f.next_deadline_stage, '') AS stage, f.next_deadline_at AS due_at,
       CAST(NULL AS bigint) AS task_id, CAST(NULL AS text) AS assigned_to, CAST(NULL AS text) AS claimed_by
FROM feedback.feedback f
WHERE f.status NOT IN ('closed', 'unsolvable') AND f.next_deadline_at <= :horizon
  AND (CAST(:dept AS text) IS NULL OR f.department = :dept)
UNION ALL
SELECT 'callback', f.id, f.feedback_no, f.subject, f.priority, f.department, t.status, t.handling_cycle,
       'callback', t.due_at, t.id, t.assigned_to, t.claimed_by
FROM feedback.callback_task t JOIN feedback.feedback f ON f.id = t.feedback_id
WHERE t.status IN ('pending', 'claimed') AND t.due_at <= :horizon
  AND (CAST(:dept AS text) IS NULL OR f.department = :dept)
ORDER BY due_at, feedback_id
LIMIT :n
"""


def sla_board(engine: Engine, now: datetime, department: str | None = None, window_hours: float = 24,
              limit: int = 500) -> list[BoardEntry]:
    """Open items whose next SLA deadline, and callbacks whose due time, is past or within the window.

    For supervisors' "超时预警" screen: overdue first (earliest due), each with the
    minutes left (negative when overdue). Masked fields only.
    """
    horizon = now + timedelta(hours=window_hours)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(BOARD), {"horizon": horizon, "dept": department, "n": limit}).all()
    out = []
    for r in rows:
        left = int((r.due_at - now).total_seconds() // 60)
        out.append(BoardEntry(r.kind, r.feedback_id, r.feedback_no, r.subject, r.priority, r.department, r.status,
                              r.handling_cycle, r.stage, r.due_at, r.due_at <= now, left, r.task_id, r.assigned_to,
                              r.claimed_by))
    return out

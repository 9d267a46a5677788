"""A callback task as the console and the CLI see it: masked fields and a vault reference, never a contact.

The raw phone number or address is only ever obtained through `queue.reveal_contact`,
by the agent holding the claim, and each reveal is audited in `contact_reveal`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from feedback.db.rows import TextRow


@dataclass(frozen=True)
class ClaimedTask:
    task_id: int
    feedback_id: int
    feedback_no: str
    subject: str | None                  # masked
    priority: str
    department: str | None
    due_at: datetime
    attempts: int
    claimed_by: str | None
    claim_expires_at: datetime | None
    contact_vault_id: int | None         # reveal through queue.reveal_contact, never read directly
    status: str = "pending"
    handling_cycle: int = 1
    purpose: str = "satisfaction"        # or final_opinion (an unsolvable item)
    assigned_to: str | None = None
    not_before: datetime | None = None   # when it may be worked (survey grace, retry after no answer)
    contact_masked: str | None = None    # 138****5678, for the agent to recognise the number
    customer_tier: str = "normal"
    unreachable_count: int = 0
    survey_sent_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


SELECT_TASK = """
SELECT t.id AS task_id, t.feedback_id, f.feedback_no, f.subject, f.priority, f.department, t.due_at, t.attempts,
       t.claimed_by, t.claim_expires_at, t.contact_vault_id, t.status, t.handling_cycle, t.purpose, t.assigned_to,
       t.not_before, f.contact_masked, f.customer_tier, t.unreachable_count, t.survey_sent_at
FROM feedback.callback_task t JOIN feedback.feedback f ON f.id = t.feedback_id
"""


def to_task(row: TextRow) -> ClaimedTask:
    return ClaimedTask(**row._asdict())


def load_task(conn: sa.Connection, task_id: int) -> ClaimedTask | None:
    row = conn.execute(sa.text(SELECT_TASK + " WHERE t.id = :id"), {"id": task_id}).one_or_none()
    return to_task(row) if row else None

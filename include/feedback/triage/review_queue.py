"""The supervisors' review queue (待复核): items triage was unsure about, worked most urgent and newest first.

Triage flags an item `needs_review` when neither the rules nor the learned model were
confident. A supervisor confirms or corrects its category, department and priority in one
action (`review`); that goes through `corrections.reclassify`, so it is audited as a
`reclassified` event and kept as a training label, and the item leaves the queue. The SLA
board shows the queue's size and the age of its oldest item (`summary`), so a queue nobody
works is seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from feedback.triage.corrections import reclassify
from feedback.vocabulary import Priority, codes

if TYPE_CHECKING:
    from feedback.triage.classify import Classifier

EXCERPT = 280
PRIORITY_ORDER = codes(Priority)   # most urgent first


@dataclass(frozen=True)
class ReviewItem:
    feedback_no: str
    received_at: datetime
    registered_at: datetime
    channel: str
    subject: str | None
    excerpt: str               # masked
    category: str | None
    department: str | None
    priority: str
    confidence: float | None
    rule_ids: list[str]
    preset: str


@dataclass(frozen=True)
class ReviewSummary:
    waiting: int
    oldest_registered_at: datetime | None
    urgent: int

    def age_minutes(self, now: datetime) -> int | None:
        if self.oldest_registered_at is None:
            return None
        return max(0, int((now - self.oldest_registered_at).total_seconds() // 60))


def pending(engine: sa.Engine, limit: int = 100) -> list[ReviewItem]:
    """Open items flagged for review: most urgent first, then newest (masked fields only)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("""SELECT feedback_no, received_at, registered_at, channel, subject, description, category,
                              department, priority, confidence, rule_ids, coalesce(taxonomy_preset, 'A') AS preset
                       FROM feedback.feedback WHERE needs_review AND status NOT IN ('closed', 'unsolvable')
                       ORDER BY coalesce(array_position(CAST(:order AS text[]), priority), :last),
                                received_at DESC, id DESC LIMIT :n"""),
            {"n": limit, "order": list(PRIORITY_ORDER), "last": len(PRIORITY_ORDER)},
        ).mappings().all()
    return [ReviewItem(
        feedback_no=r["feedback_no"], received_at=r["received_at"], registered_at=r["registered_at"],
        channel=r["channel"], subject=r["subject"],
        excerpt=r["description"] if len(r["description"]) <= EXCERPT else r["description"][: EXCERPT - 1] + "…",
        category=(r["category"] or [None])[0], department=r["department"], priority=r["priority"],
        confidence=float(r["confidence"]) if r["confidence"] is not None else None, rule_ids=list(r["rule_ids"]),
        preset=r["preset"],
    ) for r in rows]


def summary(engine: sa.Engine) -> ReviewSummary:
    """How many items wait for review, the oldest one's registration time, and how many of them are urgent."""
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT count(*), min(registered_at), count(*) FILTER (WHERE priority = :urgent) "
            "FROM feedback.feedback WHERE needs_review AND status NOT IN ('closed', 'unsolvable')"),
            {"urgent": Priority.URGENT.value}).one()
    return ReviewSummary(waiting=row[0], oldest_registered_at=row[1], urgent=row[2])


def review(engine: sa.Engine, feedback_no: str, *, category: str, department: str | None, priority: str | None,
           classifier: Classifier, actor: str, at: datetime) -> dict[str, Any]:
    """Confirm or correct one item in one transaction (audited, kept as a training label; it leaves the queue)."""
    with engine.begin() as conn:
        return reclassify(conn, feedback_no, category, classifier=classifier, actor=actor, at=at,
                          department=department, priority=priority, source="review")

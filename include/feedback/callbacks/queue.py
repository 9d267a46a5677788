"""The callback queue as agents work it: claim, call, record; the contact only for the claim holder.

Why it is shaped this way:
- **One task, one agent.** `claim_next` takes a row with `FOR UPDATE SKIP LOCKED`, so
  agents pressing "next" at the same moment get different tasks and never wait on
  each other. A claim lapses after `queue.claim_minutes`; the task then returns to the
  queue (`release_expired`, or the next `claim_next` takes it over).
- **An agent's own tasks first**, then unassigned ones, then those of agents who left
  the team, then (with `share_overdue`) anyone's overdue task; a supervisor may take any.
- **Everything that touches the customer needs the claim.** Revealing the contact,
  recording an attempt or an outcome is refused (`NotClaimHolder`) unless the agent
  holds an unexpired claim; the reveal goes through `vault.reveal`, audited.
- **Unanswered calls end.** After `max_unreachable_attempts` (no answer, busy, wrong
  number, voicemail) the task ends `unreachable`, with a `callback_outcome` event.
- **Time is given.** `now` comes from the caller (the console's request, the CLI, a test).

The scheduler and the console's read models live in `schedule` and `board`; they are
re-exported here so the console imports one module.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from feedback.callbacks.agents import active_agent
from feedback.callbacks.board import BoardEntry, agent_queue, sla_board
from feedback.callbacks.claims import holds_claim, locked_task
from feedback.callbacks.errors import (
    BadAnswer,
    NoContact,
    NotClaimHolder,
    TaskClosed,
    UnknownAgent,
    UnknownTask,
)
from feedback.callbacks.outcomes import (
    OPEN_STATUSES,
    OutcomeResult,
    finish_unreachable,
    record_answer,
    unreachable_action,
)
from feedback.callbacks.policy import CallbackPolicy, load_policy
from feedback.callbacks.schedule import schedule_callbacks
from feedback.callbacks.tasks import SELECT_TASK, ClaimedTask, load_task, to_task

if TYPE_CHECKING:
    from feedback.notify.escalation import Ladder

ATTEMPT_RESULTS = ("reached", "no_answer", "busy", "wrong_number", "voicemail")
UNREACHABLE_RESULTS = ("no_answer", "busy", "wrong_number", "voicemail")

CLAIMABLE = """((t.status = 'pending') OR (t.status = 'claimed' AND t.claim_expires_at <= :now))
   AND (t.not_before IS NULL OR t.not_before <= :now)"""
# In order of preference; each is tried with FOR UPDATE SKIP LOCKED until one yields a task.
PREFERENCES = {
    "own": "t.assigned_to = :agent",
    "unassigned": "t.assigned_to IS NULL",
    "orphaned": """t.assigned_to IS NOT NULL AND NOT EXISTS (
                      SELECT 1 FROM feedback.callback_agent a WHERE a.agent_id = t.assigned_to AND a.active)""",
    "overdue": "t.due_at <= :now",
    "any": "true",
}


def _require_now(now: datetime | None) -> datetime:
    if now is None or now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime (the request's or the run's instant)")
    return now


def claim_next(engine: Engine, agent: str, now: datetime, policy: CallbackPolicy | None = None) -> ClaimedTask | None:
    """Claim the agent's next task (due first), or give back the one they hold; None when nothing is due.

    An agent holds at most `queue.max_open_claims` claims: at that limit the oldest
    claim they hold is returned again rather than a new task taken.
    """
    now = _require_now(now)
    policy = policy or load_policy()
    with engine.begin() as conn:
        who = active_agent(conn, agent)
        if who is None:
            raise UnknownAgent(agent)
        held = conn.execute(
            sa.text("SELECT id FROM feedback.callback_task WHERE status = 'claimed' AND claimed_by = :a "
                    "AND claim_expires_at > :now ORDER BY claimed_at, id"),
            {"a": agent, "now": now},
        ).scalars().all()
        if len(held) >= policy.queue.max_open_claims:
            return load_task(conn, held[0])
        order = ["own", "unassigned", "orphaned"]
        if policy.queue.share_overdue:
            order.append("overdue")
        if who.supervisor:
            order.append("any")
        for name in order:
            task_id = conn.execute(
                sa.text(f"SELECT t.id FROM feedback.callback_task t WHERE {CLAIMABLE} "  # noqa: S608 - fixed text
                        f"AND {PREFERENCES[name]} ORDER BY t.due_at, t.id LIMIT 1 FOR UPDATE OF t SKIP LOCKED"),
                {"now": now, "agent": agent},
            ).scalar()
            if task_id is None:
                continue
            conn.execute(
                sa.text("UPDATE feedback.callback_task SET status = 'claimed', claimed_by = :a, claimed_at = :now, "
                        "claim_expires_at = :until WHERE id = :id"),
                {"a": agent, "now": now, "until": now + timedelta(minutes=policy.queue.claim_minutes),
                 "id": task_id},
            )
            return load_task(conn, task_id)
    return None


def release_expired(engine: Engine, now: datetime) -> int:
    """Return lapsed claims to the queue; returns how many."""
    now = _require_now(now)
    with engine.begin() as conn:
        return conn.execute(
            sa.text("UPDATE feedback.callback_task SET status = 'pending', claimed_by = NULL, claim_expires_at = NULL "
                    "WHERE status = 'claimed' AND claim_expires_at <= :now"),
            {"now": now},
        ).rowcount


def release_claim(engine: Engine, task_id: int, agent: str, now: datetime) -> None:
    """Put a claimed task back untouched (the agent cannot call now); refused unless they hold the claim."""
    now = _require_now(now)
    with engine.begin() as conn:
        released = conn.execute(
            sa.text("UPDATE feedback.callback_task SET status = 'pending', claimed_by = NULL, claim_expires_at = NULL "
                    "WHERE id = :id AND status = 'claimed' AND claimed_by = :a AND claim_expires_at > :now"),
            {"id": task_id, "a": agent, "now": now},
        ).rowcount
        if not released:
            if load_task(conn, task_id) is None:
                raise UnknownTask(task_id)
            raise NotClaimHolder(task_id, agent)


def reveal_contact(engine: Engine, task_id: int, agent: str, now: datetime) -> str:
    """The customer's raw contact, for the agent holding the claim only; the reveal is audited.

    Goes through `vault.reveal(actor=agent, purpose="callback:<task_id>")`, the one
    door to raw contacts, so `contact_reveal` shows who looked at which number and why.
    """
    from feedback.privacy import vault

    now = _require_now(now)
    with engine.begin() as conn:
        task = locked_task(conn, task_id, "share")
        if not holds_claim(task, agent, now):
            raise NotClaimHolder(task_id, agent)
        if task.contact_vault_id is None:
            raise NoContact(task_id)
        try:
            return vault.reveal(conn, task.contact_vault_id, actor=agent, purpose=f"callback:{task_id}", at=now)
        except LookupError:
            raise NoContact(task_id) from None


@dataclass(frozen=True)
class AttemptResult:
    task_id: int
    result: str
    attempts: int
    unreachable_count: int
    status: str                     # pending (try again from not_before) or unreachable
    not_before: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def record_attempt(engine: Engine, task_id: int, agent: str, result: str, now: datetime,
                   policy: CallbackPolicy | None = None) -> AttemptResult:
    """Record a call that gave no answer to rate (or a customer who asked to be called later).

    The claim is released: the task is tried again after `queue.retry_after_minutes`,
    unless this was the last of `max_unreachable_attempts` unanswered calls, which
    ends it `unreachable` (item kept resolved, or closed, per `unreachable.action`).
    """
    now = _require_now(now)
    policy = policy or load_policy()
    if result not in ATTEMPT_RESULTS:
        raise BadAnswer(f"unknown call result {result!r}; expected one of {', '.join(ATTEMPT_RESULTS)}")
    with engine.begin() as conn:
        task = locked_task(conn, task_id)
        if task.status not in OPEN_STATUSES:
            raise TaskClosed(task_id, task.status)
        if not holds_claim(task, agent, now):
            raise NotClaimHolder(task_id, agent)
        attempts = task.attempts + 1
        missed = task.unreachable_count + (1 if result in UNREACHABLE_RESULTS else 0)
        conn.execute(
            sa.text("INSERT INTO feedback.callback_attempt (task_id, agent, attempted_at, result) "
                    "VALUES (:t, :a, :now, :r)"),
            {"t": task_id, "a": agent, "now": now, "r": result},
        )
        if result in UNREACHABLE_RESULTS and missed >= policy.queue.max_unreachable_attempts:
            same_cycle = task.item_cycle == task.handling_cycle
            if not same_cycle:
                action = "none"
            elif task.item_status == "resolved":
                action = unreachable_action(policy)
            else:
                action = "kept"
            conn.execute(
                sa.text("""UPDATE feedback.callback_task
                           SET status = 'unreachable', outcome = 'unreachable', completed_at = :now, attempts = :n,
                               unreachable_count = :m, claimed_by = NULL, claim_expires_at = NULL, action = :action
                           WHERE id = :id"""),
                {"now": now, "n": attempts, "m": missed, "action": action, "id": task_id},
            )
            finish_unreachable(conn, [task_id], now, policy, reason=f"{missed} unanswered calls")
            return AttemptResult(task_id, result, attempts, missed, "unreachable", None)
        retry = now + timedelta(minutes=policy.queue.retry_after_minutes)
        conn.execute(
            sa.text("""UPDATE feedback.callback_task
                       SET status = 'pending', attempts = :n, unreachable_count = :m, claimed_by = NULL,
                           claim_expires_at = NULL, not_before = :retry
                       WHERE id = :id"""),
            {"n": attempts, "m": missed, "retry": retry, "id": task_id},
        )
        return AttemptResult(task_id, result, attempts, missed, "pending", retry)


def record_outcome(engine: Engine, task_id: int, agent: str, rating: str | int | None = None,
                   comment: str | None = None, now: datetime | None = None, final_opinion: str | None = None,
                   *, score: int | None = None, policy: CallbackPolicy | None = None,
                   ladder: Ladder | None = None) -> OutcomeResult:
    """Record the customer's answer to the agent's call (claim required) and apply the outcome rules.

    `rating` is a label of the active scale (满意, 基本满意 …), its English label or
    the outcome code; on a score scale pass `score` (or the number as `rating`).
    Comments and final opinions are masked before storage.
    """
    now = _require_now(now)
    policy = policy or load_policy()
    if isinstance(rating, int):
        rating, score = None, rating
    with engine.begin() as conn:
        return record_answer(conn, task_id, actor=agent, via="phone", now=now, policy=policy, rating=rating,
                             score=score, comment=comment, final_opinion=final_opinion, require_claim=True,
                             ladder=ladder)


def queued_tasks(engine: Engine, status: str = "pending", limit: int = 100) -> list[ClaimedTask]:
    """Tasks in one status, due first (operators' overview; masked fields only)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(SELECT_TASK + " WHERE t.status = :s ORDER BY t.due_at, t.id LIMIT :n"),
                            {"s": status, "n": limit}).all()
    return [to_task(r) for r in rows]


__all__ = [
    "ATTEMPT_RESULTS", "AttemptResult", "BoardEntry", "ClaimedTask", "NotClaimHolder", "OutcomeResult",
    "agent_queue", "claim_next", "queued_tasks", "record_attempt", "record_outcome", "release_claim",
    "release_expired", "reveal_contact", "schedule_callbacks", "sla_board",
]
